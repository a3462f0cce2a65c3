"""`sla sign` and `sla verify`: PAdES signatures on the agreement PDF, offline (pyHanko)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from . import use_color


def _show(diagnostics, colored: bool) -> None:
    from ..render.text import render_diagnostic

    for d in diagnostics:
        click.echo(render_diagnostic(d, None, color=colored), err=True, nl=False)


def _need_pyhanko() -> None:
    try:
        import pyhanko  # noqa: F401
    except ImportError:
        raise click.ClickException("signing needs the PDF extra: pip install 'sla-lang[pdf]'") from None


@click.command()
@click.argument("pdf", type=click.Path(dir_okay=False))
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False),
              help="The signer's private key (PEM or DER; if encrypted, the passphrase is read from "
              "SLA_KEY_PASSPHRASE or asked for).")
@click.option("--cert", "cert_path", required=True, type=click.Path(dir_okay=False),
              help="The signer's certificate (PEM or DER).")
@click.option("--field", "field_name", required=True, metavar="PARTY",
              help="The signature field to sign: the party's identifier in the policy (e.g. sales).")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False),
              help="Write the signed PDF here (default: replace PDF, atomically).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
def sign(pdf, key_path, cert_path, field_name, output, color):
    """Sign the agreement PDF for one party (PAdES, no network).

    The signature is added as an incremental update, so earlier signatures stay valid.
    Exit status: 0 signed, 1 the PDF, key or field cannot be used.
    """
    _need_pyhanko()
    from ..agreement.signatures import SigningError, sign_pdf
    from ..output import OutputError, write_file

    def passphrase() -> str | None:
        return os.environ.get("SLA_KEY_PASSPHRASE") or click.prompt(
            f"Passphrase for {key_path}", hide_input=True, default="", show_default=False)

    try:
        signed = sign_pdf(Path(pdf), field_name, Path(key_path), Path(cert_path), passphrase)
    except SigningError as exc:
        _show([exc.diagnostic], use_color(color))
        click.get_current_context().exit(1)
    target = Path(output) if output else Path(pdf)
    try:
        write_file(target, signed)
    except OutputError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{target.as_posix()}: signed the field `{field_name}`")


@click.command()
@click.argument("pdf", type=click.Path(dir_okay=False))
@click.option("--trust", "trust", multiple=True, type=click.Path(dir_okay=False), metavar="CERT",
              help="A trusted certificate (root or issuing CA, PEM or DER); repeatable. Every signer must chain to one.")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Check that the PDF was built from this policy (same fingerprint).")
@click.option("--require-all", is_flag=True, help="Every party's signature field must be signed.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
def verify(pdf, trust, policy_path, require_all, fmt, color):
    """Verify the signatures of an agreement PDF (offline).

    Reports each signature field: who signed it, whether the signature is intact (the PDF is
    unchanged since) and whether the signer is trusted (with --trust), and whether the PDF's
    fingerprint matches a policy (with --policy). Exit status: 0 all good, 1 a problem,
    2 unreadable input.
    """
    _need_pyhanko()
    from ..agreement.signatures import SigningError, verify_pdf
    from ..irjson import fingerprint

    colored = use_color(color)
    policy_fingerprint = None
    if policy_path:
        from ..compile import compile_path
        from ..render.text import render_diagnostic

        result = compile_path(Path(policy_path), checks=False)
        if not result.ok:
            for d in result.errors:
                click.echo(render_diagnostic(d, result.source, color=colored), err=True, nl=False)
            click.echo(f"{result.path}: cannot compute the fingerprint because of the errors above", err=True)
            click.get_current_context().exit(2)
        policy_fingerprint = fingerprint(result.policy)
    try:
        report = verify_pdf(Path(pdf), [Path(t) for t in trust], policy_fingerprint, policy_path, require_all)
    except SigningError as exc:
        _show([exc.diagnostic], colored)
        click.get_current_context().exit(2)
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False, sort_keys=True))
    else:
        from ..render.terminal import terminal_lines

        click.echo(terminal_lines(_text_report(report)))
        _show(report.diagnostics, colored)
    click.get_current_context().exit(0 if report.ok else 1)


def _yes_no(value: bool | None) -> str:
    return "yes" if value else "no"


def _text_report(report) -> str:
    lines = [report.path, f"  fingerprint: {report.fingerprint or 'none recorded'}"]
    if report.policy is not None:
        same = report.policy_fingerprint == report.fingerprint
        lines.append(f"  policy: {report.policy} ({'matches' if same else 'does NOT match: ' + str(report.policy_fingerprint)})")
    if not report.signatures:
        lines.append("  no signature fields")
    for s in report.signatures:
        if not s.signed:
            lines.append(f"  field {s.field}: not signed")
            continue
        trusted = _yes_no(s.trusted) if report.trust_given else "not judged (no --trust)"
        lines.append(f"  field {s.field}: signed by {s.signer}")
        lines.append(f"    intact: {_yes_no(s.intact)}   trusted: {trusted}   signed at: {s.signed_at or 'unknown'}")
    signed = sum(s.signed for s in report.signatures)
    verdict = "OK" if report.ok else "PROBLEMS FOUND"
    lines.append(f"{verdict}: {signed} of {len(report.signatures)} signature fields signed.")
    return "\n".join(lines)
