"""`sla diff`: what a change does to the agreement, for each party, and who must approve it."""

from __future__ import annotations

from pathlib import Path

import click

from ..render.terminal import terminal_lines, terminal_safe
from . import resolve_config, use_color

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


@click.command()
@click.argument("args", nargs=-1, metavar="[OLD NEW | PATH ...]")
@click.option("--base", metavar="REV", help="Compare every policy changed since REV (its merge base with HEAD) "
              "with the working tree; the arguments are then folders or files to limit the search to.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True,
              help="markdown is meant for a pull-request comment: summary table first, then details.")
@click.option("--lang", type=click.Choice(["en", "ja"]), help="Language of the report (default: each policy's own).")
@click.option("--approvers", "show_approvers", is_flag=True,
              help="Also list the teams that must approve: every party whose obligations get stricter, and the "
              "document owner for any change, with their declared reviewers.")
@click.option("--approved-by", metavar="HANDLES",
              help="Comma- or space-separated handles that approved (e.g. the PR's approving reviewers); exit 1 "
              "unless every required team has an approval from one of its reviewers. Implies --approvers.")
@click.option("--author", metavar="HANDLE",
              help="The pull request's author: their own approval never counts (GitHub forbids it anyway), so "
              "every required team needs another reviewer.")
@click.option("--output-file", "-o", type=click.Path(dir_okay=False), help="Write the report to this file.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Read [tool.sla] from this pyproject.toml.")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
def diff(args, base, fmt, lang, show_approvers, approved_by, author, output_file, config_path, isolated, color):
    """Explain what changed in the agreement between two versions of a policy.

    OLD and NEW are files or REV:path (read with git, path from the repository root), e.g.
    `sla diff origin/main:policies/acme.sla policies/acme.sla`. With --base REV, every policy
    changed since REV is compared, added and deleted ones included.

    Exit status: 0 (with --approved-by: and every required approval is there), 1 when a side
    has syntax errors or approvals are missing, 2 for usage errors and unreadable revisions.
    """
    from ..compile import compile_bytes
    from ..render.text import render_diagnostic
    from ..semdiff import diff_policies, parse_handles, required_approvals
    from ..semdiff.render import render_json, render_markdown, render_text
    from ..semdiff.revisions import UNCOMPARABLE_POLICY, RevisionError, Side, changed_policies, read_side

    colored = use_color(color)
    ctx = click.get_current_context()
    config, config_diagnostics = resolve_config(config_path, isolated)

    def fail(diagnostic, code=EXIT_USAGE):
        click.echo(render_diagnostic(diagnostic, None, color=colored), err=True)
        ctx.exit(code)

    for d in config_diagnostics:
        click.echo(render_diagnostic(d, None, color=colored), err=True)
    pairs: list[tuple[Side, Side]] = []
    try:
        if base is not None:
            start, found = changed_policies(base, list(args), config.is_excluded)
            pairs = [(c.old, c.new) for c in found]
            click.echo(terminal_safe(f"Comparing with {start[:12]} (merge base of {base} and HEAD): "
                                     f"{len(pairs)} changed polic{'y' if len(pairs) == 1 else 'ies'}."), err=True)
        elif len(args) == 2:
            pairs = [(read_side(args[0]), read_side(args[1]))]
        else:
            raise click.UsageError("give OLD and NEW (files or REV:path), or --base REV [PATH ...]")
    except RevisionError as exc:
        fail(exc.diagnostic)

    from ..diagnostics import Diagnostic, Message, Severity
    from ..source import Span

    results, approvals = [], []
    broken = False
    for old_side, new_side in pairs:
        compiled = []
        for side in (old_side, new_side):
            if side.data is None:
                compiled.append(None)
                continue
            result = compile_bytes(side.data, side.name, config=config, checks=False)
            errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
            if result.policy is None:
                for d in errors:
                    click.echo(render_diagnostic(d, result.source, color=colored), err=True)
                click.echo(render_diagnostic(Diagnostic(
                    UNCOMPARABLE_POLICY, Message('cannot compare {side}: it does not parse', side=side.name),
                    errors[0].span if errors else Span.point(side.name),
                    help=Message('fix the syntax errors above (`sla check` lists them)')), result.source, color=colored), err=True)
                broken = True
                compiled = None
                break
            compiled.append(result.policy)
        if compiled is None or compiled == [None, None]:
            continue
        old, new = compiled
        changes = diff_policies(old, new, old_side.name or None, new_side.name or None)
        results.append(changes)
        approvals += required_approvals(changes, old, new, author=author)

    want_approvers = show_approvers or approved_by is not None
    if fmt == "json":
        report = render_json(results, approvals, lang)
    elif fmt == "markdown":
        report = render_markdown(results, approvals if want_approvers else None, lang)
    else:
        report = terminal_lines(render_text(results, approvals if want_approvers else None, lang))
    if output_file:
        from ..output import OutputError, write_file

        try:
            write_file(Path(output_file), report.encode("utf-8"))
        except OutputError as exc:
            raise click.ClickException(str(exc))
    else:
        click.echo(report, nl=False)

    missing = []
    unversioned = []
    if approved_by is not None:
        approved = parse_handles(approved_by)
        missing = [a for a in approvals if not a.satisfied_by(approved)]
        for a in missing:
            if a.eligible:
                who = "one of " + ", ".join(a.eligible)
            elif a.reviewers:
                who = (f"nobody but the author {author} can approve for it: add a second reviewer to the "
                       "team (README: \"the owner-deadlock rule\"; `sla check` warns with SLA409)")
            else:
                who = "nobody (declare `reviewers` in its party block)"
            click.echo(terminal_safe(f"sla: {a.policy}: approval missing from {a.team} ({a.label}): {who}"), err=True)
        # version discipline: obligation changes under an unchanged (or too small) version fail CI
        for pc in results:
            v = pc.version
            if v is not None and not v.ok:
                unversioned.append(pc)
                click.echo(render_diagnostic(version_diagnostic(pc), None, color=colored), err=True)
        if not missing and not unversioned:
            click.echo("All required approvals are present.", err=True)
    ctx.exit(EXIT_PROBLEMS if broken or missing or unversioned else EXIT_OK)


def version_diagnostic(pc):
    """SLA884 for a policy whose `version` does not move as far as its changes require."""
    from ..diagnostics import Diagnostic, Message
    from ..semdiff.revisions import VERSION_NOT_BUMPED
    from ..source import Span

    v = pc.version
    why = {"major": Message("an obligation gets looser (or is removed, or changes in a way that cannot be told) for a party"),
           "minor": Message("obligations get stricter or are added"),
           "patch": Message("the agreement's text changes")}[v.level]
    level = {"major": Message("major"), "minor": Message("minor"), "patch": Message("patch")}[v.level]
    proposal = (Message('set `version "{version}"` in the `agreement` block', version=v.proposed) if v.proposed
                else Message("give the agreement a new `version` in the `agreement` block"))
    message = (Message("{path}: the agreement's version is unchanged, but the change needs a {level} version: {why}",
                       path=pc.path, level=level, why=why) if v.old == v.new else
               Message("{path}: the agreement's version moves from {old!r} to {new!r} only, but the change needs a "
                       "{level} version: {why}", path=pc.path, old=v.old, new=v.new, level=level, why=why))
    return Diagnostic(VERSION_NOT_BUMPED, message, Span.point(pc.path), help=proposal)
