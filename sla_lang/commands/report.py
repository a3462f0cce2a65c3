"""`sla report`: the SLA review of a period, from the CRM's real history."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .history import source_options
from .simulate import TimestampParam, _compile_policy, _show_diagnostics, use_color

FORMATS = ("md", "html", "pdf", "json", "csv")


@click.command()
@click.argument("policy", type=click.Path(dir_okay=False))
@click.option("--events", "events_path", metavar="FILE",
              help="The history as JSON Lines events (what `sla import` writes; `-` for standard input).")
@source_options
@click.option("--period", metavar="PERIOD",
              help="The period to review: 2026-11 (month), 2026-Q4, 2026-W47, 2026-11-30 or 2026. "
              "Default: the last whole month before the latest event.")
@click.option("--as-of", "as_of", type=TimestampParam(),
              help="Judge deadlines as of this moment (default: the latest event in the history).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option("--lang", type=click.Choice(["en", "ja"]), help="Language of the report (default: the policy's).")
@click.option("-o", "--output", "output_file", type=click.Path(dir_okay=False),
              help="Write the report to this file (atomically). Required for pdf.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N",
              help="Replay on N processes (default: one per core for a history over 200,000 lines).")
@click.option("--all-diagnostics", is_flag=True, help="Show every problem in the history (default: 20 of each code).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Read [tool.sla] from this pyproject.toml.")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
def report(policy, events_path, source, csv_path, since, until, api_url, portal_zone, period, as_of, fmt, lang, output_file, jobs, all_diagnostics,
           config_path, isolated, color):
    """Review how POLICY was kept: compliance, breaches, KPIs and meetings of one period.

    Replays the history through the reference simulator (the same verdicts as `sla simulate`)
    and reports, for the period and per team: every deadline's compliance against its SLA and
    SLO, the breaches (lead, clause, how late), escalations fired, follow-up completion, the
    funnel with conversion rates, time to first touch, recycle reasons, each KPI against its
    target and alert, and the review meetings that are due or overdue. Exit status 1 when the
    policy or the history has errors (bad lines are reported and skipped; the rest is counted).
    """
    from ..irjson import fingerprint
    from ..report.document import build_document, default_period, parse_period
    from ..report.replay import open_events, replay_into
    from ..report.tally import ReportTally
    from ..simulate.engine import Plan

    if (events_path is None) == (source is None):
        raise click.UsageError("give the history with --events FILE, or import it with --from hubspot|csv")
    if fmt == "pdf" and output_file is None:
        raise click.UsageError("a PDF is written to a file: add -o FILE")
    window = None
    if period is not None:
        window = parse_period(period)
        if window is None:
            raise click.UsageError(f"{period!r} is not a period (2026-11, 2026-Q4, 2026-W47, 2026-11-30 or 2026)")
    colored = use_color(color)
    result = _compile_policy(policy, config_path, isolated, colored)
    compiled = result.policy
    plan = Plan(compiled)
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=plan.zone)

    import_problems = 0
    left_out = None
    if source is not None:
        from .history import import_to_temporary

        handle, shown_path, import_problems, left_out = import_to_temporary(compiled, source, csv_path, since, until, api_url,
                                                                  portal_zone, colored, config_path, isolated)
    else:
        if events_path != "-" and not Path(events_path).is_file():
            raise click.UsageError(f"no such events file: {events_path}")
        handle = open_events(events_path)
        shown_path = "<stdin>" if events_path == "-" else events_path

    def make_tally(earliest, end):
        unit, start, stop = window if window is not None else default_period(end, plan.zone, earliest=earliest)
        return ReportTally(compiled, plan, unit, (start, stop), end)

    with handle:
        replay, tally = replay_into(compiled, handle, shown_path, make_tally, as_of=as_of,
                                    shown_per_code=None if all_diagnostics else 20, plan=plan, jobs=jobs)
    feed = replay.feed
    _show_diagnostics(feed.diagnostics + replay.sim.diagnostics, {shown_path: feed.source, result.path: result.source},
                      colored, feed.hidden)
    language = lang or compiled.language
    problems = {code: n for code, n in feed.counts.items()}
    doc = build_document(compiled, tally, replay, fingerprint=fingerprint(compiled), language=language,
                         diagnostics=problems)
    if left_out is not None:  # what the import could not map, per reason (the places are in its summary)
        doc["history"]["import_left_out"] = dict(sorted(left_out.counts.items()))
    data = _render(compiled, doc, fmt)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if output_file is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        from ..output import OutputError, write_file

        try:
            write_file(Path(output_file), data)
        except (OutputError, OSError) as exc:
            click.echo(f"error: cannot write {output_file}: {exc}", err=True)
            click.get_current_context().exit(2)
    errors = feed.error_count + sum(1 for d in replay.sim.diagnostics if d.severity.value == "error") + import_problems
    click.get_current_context().exit(1 if errors else 0)


def _render(policy, doc: dict, fmt: str) -> str | bytes:
    from ..report import render

    if fmt == "json":
        return render.render_json(doc)
    if fmt == "csv":
        return render.render_csv(doc)
    if fmt == "md":
        return render.render_markdown(doc)
    from ..report.charts import draw_charts

    charts, problem = draw_charts(doc)
    if problem is not None:
        click.echo(f"warning: {problem}", err=True)
    if fmt == "html":
        return render.render_html(doc, charts)
    from ..agreement.pdf import PdfProblem
    from ..render.text import render_diagnostic

    try:
        return render.render_pdf(policy, doc, charts)
    except PdfProblem as exc:
        click.echo(render_diagnostic(exc.diagnostic, None), err=True)
        click.get_current_context().exit(1)
