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
              help="Check that the PDF is this policy's agreement (same fingerprint, one field per party) "
              "and that each party's lead signed its field.")
@click.option("--require-all", is_flag=True,
              help="Every party must have signed, and nothing may be left unchecked (warnings fail too).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
def verify(pdf, trust, policy_path, require_all, fmt, color):
    """Verify the signatures of an agreement PDF (offline).

    Reports each signature field: who signed it, whether the signature is intact, what was
    changed after it, whether the signer is trusted (with --trust) and is the party's lead
    (with --policy), and whether the signed fingerprint is the policy's (with --policy).
    Exit status: 0 all good, 1 a problem (with --require-all also a warning), 2 unreadable input.
    """
    _need_pyhanko()
    from ..agreement.signatures import SigningError, verify_pdf

    colored = use_color(color)
    expectation = None
    if policy_path:
        expectation = _policy_expectation(policy_path, colored)
    try:
        report = verify_pdf(Path(pdf), [Path(t) for t in trust], expectation, require_all)
    except SigningError as exc:
        _show([exc.diagnostic], colored)
        click.get_current_context().exit(2)
    if fmt == "json":
        click.echo(_safe_json(report.to_json()))
    else:
        from ..render.terminal import terminal_lines

        click.echo(terminal_lines(_text_report(report)))
        _show(report.diagnostics, colored)
    click.get_current_context().exit(0 if report.ok else 1)


def _policy_expectation(policy_path: str, colored: bool):
    """The fingerprint and the parties' signer identities of the policy, or exit 2."""
    from ..agreement.signatures import PartyIdentity, PolicyExpectation
    from ..compile import compile_path
    from ..irjson import fingerprint
    from ..render.text import render_diagnostic

    result = compile_path(Path(policy_path), checks=False)
    if not result.ok:
        for d in result.errors:
            click.echo(render_diagnostic(d, result.source, color=colored), err=True, nl=False)
        click.echo(f"{result.path}: cannot compute the fingerprint because of the errors above", err=True)
        click.get_current_context().exit(2)
    policy = result.policy
    parties = tuple(
        PartyIdentity(party.id, party.label, party.lead.name if party.lead else None,
                      party.lead.email if party.lead else None, party.lead.certificate if party.lead else None)
        for party in policy.parties
    )
    return PolicyExpectation(policy_path, fingerprint(policy), parties)


def _safe_json(data) -> str:
    """Pretty JSON whose text cannot move a terminal's cursor: the few characters `json.dumps`
    leaves raw (C1 controls, bidi and other format characters, line separators) are escaped
    as well — the parsed values are unchanged."""
    from ..render.terminal import terminal_safe

    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
    if text.isascii():
        return text
    return "".join(ch if ch.isascii() or terminal_safe(ch) == ch else f"\\u{ord(ch):04x}" if ord(ch) < 0x10000
                   else "".join(f"\\u{u:04x}" for u in _utf16(ch)) for ch in text)


def _utf16(ch: str) -> tuple[int, int]:
    code = ord(ch) - 0x10000
    return 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)


def _yes_no(value: bool | None) -> str:
    return "yes" if value else "no"


def _change(level: str | None) -> str:
    from ..agreement.signatures import CHANGE_WORDS

    if level is None:
        return "unknown"
    return f"{CHANGE_WORDS.get(level, level.lower())} (pyHanko: {level})"


def _text_report(report) -> str:
    from ..render.terminal import terminal_safe

    lines = [terminal_safe(report.path)]
    fields = [s for s in report.signatures if s.kind == "signature"]
    signed = [s for s in fields if s.signed]
    recorded = terminal_safe(report.fingerprint) if report.fingerprint else "none recorded"
    lines.append(f"  fingerprint: {recorded}{' (as signed)' if any(s.revision is not None for s in signed) else ''}")
    if report.version is not None:
        lines.append(f"  version: {terminal_safe(report.version)}")
    if report.policy is not None:
        same = report.policy_fingerprint == report.fingerprint
        lines.append(f"  policy: {terminal_safe(report.policy)} "
                     f"({'matches' if same else 'does NOT match: ' + str(report.policy_fingerprint)})")
    revisions = f"  revisions: {report.revisions}"
    if report.stray_bytes:
        revisions += f", and {report.stray_bytes} bytes that belong to none"
    lines.append(revisions)
    if not fields:
        lines.append("  no signature fields")
    for s in report.signatures:
        if s.kind == "timestamp":
            by = terminal_safe(s.signer or "(unreadable)")
            lines.append(f"  document timestamp {terminal_safe(s.field)}: by {by} at {s.signed_at or 'unknown'}")
            lines.append(f"    intact: {_yes_no(s.intact)}   revision: "
                         f"{'unknown' if s.revision is None else s.revision + 1} of {report.revisions}"
                         + (f"   problem: {s.problem}" if s.problem else ""))
            continue
        party = f" ({terminal_safe(s.party)})" if s.party else ""
        if not s.signed:
            lines.append(f"  field {terminal_safe(s.field)}{party}: not signed"
                         + (f"; to be signed by {s.expected}" if s.expected else ""))
            continue
        who = terminal_safe(s.signer) if s.signer else "(unreadable)"
        if s.signer_emails:
            who += f" <{', '.join(terminal_safe(e) for e in s.signer_emails)}>"
        lines.append(f"  field {terminal_safe(s.field)}{party}: signed by {who}")
        trusted = _yes_no(s.trusted) if report.trust_given else "not judged (no --trust)"
        party_check = ("not checked (no --policy)" if report.policy is None
                       else "no: not a party of the policy" if s.party is None
                       else "not checked (no email or certificate in the policy)" if s.signer_is_party is None
                       else _yes_no(s.signer_is_party))
        lines.append(f"    intact: {_yes_no(s.intact)}   trusted: {trusted}   the party's lead: {party_check}")
        if s.problem:
            lines.append(f"    problem: {s.problem}")
        lines.append(f"    signed at: {s.signed_at or 'unknown'}   revision: "
                     f"{'unknown' if s.revision is None else s.revision + 1} of {report.revisions}")
        if s.certificate_sha256:
            lines.append(f"    certificate SHA-256: {s.certificate_sha256}")
        lines.append(f"    changed after this signature: {_change(s.modified_after)}")
    verdict = "OK" if report.ok else "PROBLEMS FOUND"
    lines.append(f"{verdict}: {len(signed)} of {len(fields)} signature fields signed.")
    return "\n".join(lines)
