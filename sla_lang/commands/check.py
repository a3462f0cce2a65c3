"""`sla check`, `sla explain`, `sla rules`."""

from __future__ import annotations

import difflib
import gc
import json
from pathlib import Path

import click

from ..checks import CheckOptions
from ..compile import Compilation, compile_paths
from ..diagnostics import Severity, all_rules, find_rule
from ..message import LANGUAGES, Message, choose_language, localize
from ..render.terminal import terminal_lines, terminal_safe
from ..source import Span
from . import DATE, collect_policy_files, default_paths, has_errors, override_selection, resolve_config, use_color

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
_SEVERITY_WORDS = {Severity.ERROR: Message("error"), Severity.WARNING: Message("warning"), Severity.INFO: Message("info")}
_CATEGORY_WORDS = {"input": Message("input"), "syntax": Message("syntax"), "graph": Message("graph"),
                   "names": Message("names"), "ownership": Message("ownership"), "timing": Message("timing"),
                   "scoring": Message("scoring"), "completeness": Message("completeness"),
                   "targets": Message("targets"), "internal": Message("internal")}


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]), default="text", show_default=True,
              help="Report format. sarif is for code scanning, github prints workflow annotations.")
@click.option("--output-file", "-o", type=click.Path(dir_okay=False), help="Write the report to this file instead of stdout.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1 on any warning).")
@click.option("--select", metavar="CODES", help="Comma-separated codes or prefixes to report (replaces the configured list).")
@click.option("--ignore", metavar="CODES", help="Comma-separated codes or prefixes to leave out (added to the configured list).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Read [tool.sla] from this pyproject.toml.")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--today", type=DATE, help="The date to judge review deadlines by (default: today), for reproducible CI.")
@click.option("--stats", is_flag=True, help="Also print statistics: stage counts, worst-case time to a terminal stage.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N",
              help="Check files in N processes (default: one per CPU when there are 8 files or more).")
@click.option("--lang", type=click.Choice(LANGUAGES),
              help="Language of the messages (default: the policy's `language`, else the locale).")
def check(paths, fmt, output_file, strict, select, ignore, config_path, isolated, today, stats, color, jobs, lang):
    """Check policy files (or folders of them; default: policies/).

    Exit status: 0 when there are no errors, 1 when there are errors (or warnings with
    --strict), 2 for usage errors and files that cannot be read.
    """
    config, config_diagnostics = resolve_config(config_path, isolated)
    config = override_selection(config, select, ignore)
    files, missing = collect_policy_files(default_paths(paths), config)
    options = CheckOptions(today=today, stats=stats)
    results: list[Compilation] = []
    if config_diagnostics:
        results.append(Compilation(config_diagnostics[0].span.path, diagnostics=config_diagnostics))
    for path in missing:
        from ..diagnostics import Diagnostic
        from ..source import UNREADABLE_FILE

        results.append(Compilation(str(path), diagnostics=[
            Diagnostic(UNREADABLE_FILE, Message('no such file or folder'), Span.point(path.as_posix()))
        ]))
    # `sla check` is one short process that exits without tearing its heap down (cli._exit_now):
    # the cyclic collector would only walk the IR again and again (reference counting frees the
    # rest), and freeing the IR of the one file checked would be wasted work (3 % of checking a
    # 10,000-stage policy each)
    gc.disable()
    results.extend(compile_paths(files, config=config, options=options, strict=strict, jobs=jobs,
                                 keep_policy=stats or len(files) == 1))
    if not files and not missing:
        raise click.UsageError("no .sla files found in " + ", ".join(default_paths(paths)))

    report = _render(results, fmt, use_color(color) and not output_file, lang)
    if stats and fmt == "text":
        report += _render_stats(results, lang)
    if output_file:
        from ..output import OutputError, write_file

        try:
            write_file(Path(output_file), report.encode("utf-8"))
        except OutputError as exc:
            raise click.ClickException(terminal_safe(str(exc)))
        if fmt != "text":
            click.echo(_render(results, "text", use_color(color), lang), nl=False)
    else:
        click.echo(report, nl=False)

    diagnostics = [d for r in results for d in r.diagnostics]
    ctx = click.get_current_context()
    if any(d.code == "SLA001" for d in diagnostics):
        ctx.exit(EXIT_USAGE)
    failing = has_errors(diagnostics) or (strict and any(d.severity is Severity.WARNING for d in diagnostics))
    ctx.exit(EXIT_PROBLEMS if failing else EXIT_OK)


def _render(results: list[Compilation], fmt: str, color: bool, lang: str | None = None) -> str:
    if fmt == "json":
        from ..render import json as renderer
    elif fmt == "sarif":
        from ..render import sarif as renderer
    elif fmt == "github":
        from ..render import github as renderer
    else:
        from ..render import text

        return text.render(results, color=color, lang=lang)
    return renderer.render(results, lang=lang)


def _render_stats(results: list[Compilation], lang: str) -> str:
    lines = []
    for result in results:
        if result.policy is None:
            continue
        policy = result.policy
        shown_in = lang or result.language  # as its diagnostics: --lang, else the policy's, else the locale
        lines.append(f"{terminal_safe(result.path)}:")
        counts = Message("stages: {stages}, transitions: {transitions}, teams: {teams}, KPIs: {kpis}, reviews: {reviews}",
                         stages=len(policy.stages), transitions=len(policy.transitions()), teams=len(policy.teams),
                         kpis=len(policy.kpis), reviews=len(policy.reviews))
        lines.append(f"  {localize(counts, shown_in)}")
        for key in sorted(result.stats):  # in English order, whatever the language shown
            shown = localize(key, shown_in), localize(result.stats[key], shown_in)
            lines.append(f"  {terminal_safe(shown[0])}: {terminal_safe(shown[1])}")
    return ("\n".join(lines) + "\n") if lines else ""


@click.command()
@click.argument("code")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(LANGUAGES), help="Language of the explanation (default: the locale's).")
def explain(code, fmt, lang):
    """Explain a rule: CODE is its code (SLA201) or name (unreachable-stage)."""
    lang = choose_language(lang)
    rule = find_rule(code)
    if rule is None:
        names = [r.code for r in all_rules()] + [r.name for r in all_rules()]
        guess = difflib.get_close_matches(code, names, n=1, cutoff=0.5)
        message = (Message("unknown rule {code!r}. Did you mean {guess}? `sla rules` lists them all.", code=code,
                           guess=guess[0]) if guess else
                   Message("unknown rule {code!r}. `sla rules` lists them all.", code=code))
        raise click.UsageError(localize(message, lang))
    rule = rule.localized(lang)
    if fmt == "json":
        click.echo(json.dumps(rule.to_json(), indent=2, ensure_ascii=False, sort_keys=True))
        return
    # the examples show invisible characters on purpose (SLA005's bad example holds a
    # RIGHT-TO-LEFT OVERRIDE): shown as codes, never obeyed by the terminal
    severity, category = localize(_SEVERITY_WORDS[rule.severity], lang), localize(_CATEGORY_WORDS[rule.category], lang)
    click.echo(localize(Message("{code} ({name}) — {severity}, {category}", code=rule.code, name=rule.name,
                                severity=severity, category=category), lang) + "\n")
    click.echo(terminal_lines(rule.summary) + "\n")
    click.echo(terminal_lines(_wrap(rule.explanation, lang)) + "\n")
    click.echo(localize(Message("Bad:"), lang))
    click.echo(terminal_lines(_indent(rule.bad)))
    click.echo("\n" + localize(Message("Good:"), lang))
    click.echo(terminal_lines(_indent(rule.good)))


def _wrap(text: str, lang: str) -> str:
    if lang == "ja":  # Japanese has no spaces to break at; a terminal wraps it by itself
        return text
    return click.wrap_text(text, width=88, preserve_paragraphs=True)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(LANGUAGES), help="Language of the summaries (default: the locale's).")
def rules(fmt, lang):
    """List every rule with its code, name, default severity and summary."""
    lang = choose_language(lang)
    table = [rule.localized(lang) for rule in all_rules()]
    if fmt == "json":
        click.echo(json.dumps([r.to_json() for r in table], indent=2, ensure_ascii=False, sort_keys=True))
        return
    if fmt == "markdown":
        click.echo(localize(Message("| Code | Name | Severity | Summary |"), lang) + "\n|---|---|---|---|")
        for r in table:
            click.echo(f"| {r.code} | `{r.name}` | {localize(_SEVERITY_WORDS[r.severity], lang)} | {r.summary} |")
        return
    width = max(len(r.name) for r in table)
    category = None
    for r in table:
        if r.category != category:
            category = r.category
            click.echo(f"\n{localize(_CATEGORY_WORDS[category], lang)}")
        severity = localize(_SEVERITY_WORDS[r.severity], lang)
        click.echo(f"  {r.code}  {r.name:<{width}}  {severity:<7}  {r.summary}")
