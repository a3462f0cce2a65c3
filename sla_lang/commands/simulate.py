"""`sla simulate` (lead events through a policy) and `sla test` (replay fixture scenarios)."""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import click

from ..render.terminal import terminal_lines, terminal_safe
from . import resolve_config, use_color


class TimestampParam(click.ParamType):
    name = "TIMESTAMP"

    def convert(self, value, param, ctx):
        from datetime import datetime

        try:
            return datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 timestamp (2026-04-30T18:00:00+09:00)", param, ctx)


def _compile_policy(path: str, config_path: str | None, isolated: bool, colored: bool, *, with_config: bool = False):
    """Compile one policy; print its errors. Returns the Compilation (with `with_config`, and
    the configuration read) or exits 1."""
    from ..compile import compile_path
    from ..render.text import render_diagnostic

    config, config_diagnostics = resolve_config(config_path, isolated)
    for d in config_diagnostics:
        click.echo(render_diagnostic(d, None, color=colored), err=True)
    policy_path = Path(path)
    if not policy_path.is_file():
        raise click.UsageError(f"no such policy file: {path}")
    result = compile_path(policy_path, config=config)
    errors = [d for d in result.diagnostics if d.severity.value == "error"]
    for d in errors:
        click.echo(render_diagnostic(d, result.source, color=colored), err=True)
    if result.policy is None or errors:
        click.echo(f"{terminal_safe(result.path)}: not simulated because of the errors above", err=True)
        click.get_current_context().exit(1)
    return (result, config) if with_config else result


def _show_diagnostics(diagnostics, sources: dict, colored: bool, hidden: dict[str, int] | None = None) -> None:
    from ..diagnostics import sort_diagnostics
    from ..render.text import render_diagnostic

    for d in sort_diagnostics(diagnostics):
        click.echo(render_diagnostic(d, sources.get(d.span.path), color=colored), err=True)
    for code, count in (hidden or {}).items():
        click.echo(f"… and {count} more {code} diagnostic{'s' * (count != 1)} (use --all-diagnostics to see them)",
                   err=True)


@contextmanager
def _output(path: str | None):
    """stdout, or a file written atomically (a temporary file renamed into place when complete)."""
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    if target.exists() and not target.is_file() and not target.is_dir():
        # /dev/null, a FIFO: renaming over it would replace the device with a file (as root)
        with open(target, "w", encoding="utf-8", newline="") as handle:
            yield handle
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


@click.command()
@click.argument("policy", type=click.Path(dir_okay=False))
@click.option("--events", "events_path", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="JSON Lines file of lead events (- for standard input).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True)
@click.option("--until", type=TimestampParam(),
              help="Judge deadlines as of this moment (default, and at the earliest: the time of the last event).")
@click.option("--summary", "summary_only", is_flag=True, help="Only the summary and KPIs, not every lead.")
@click.option("--lang", type=click.Choice(["en", "ja"]), help="Language of the text output (default: the policy's).")
@click.option("--output", "-o", "output_file", type=click.Path(dir_okay=False), help="Write the result to this file.")
@click.option("--all-diagnostics", is_flag=True, help="Show every problem in the events file, not the first 20 of each kind.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Read [tool.sla] from this pyproject.toml.")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
def simulate(policy, events_path, fmt, until, summary_only, lang, output_file, all_diagnostics, config_path, isolated,
             color):
    """Run lead events (JSON Lines) through POLICY and report what the agreement did to each lead.

    Per lead: stage history with owners, every deadline with its due time and outcome (met, at
    risk, breached), follow-up attempts, escalations, recorded recycle reasons and hand-offs.
    Then a summary with the policy's KPIs per period. Exit status 1 when the policy or the
    events file has errors (bad lines are reported and skipped).
    """
    from ..simulate import simulate as run_events

    colored = use_color(color)
    result = _compile_policy(policy, config_path, isolated, colored)
    compiled = result.policy
    if events_path != "-" and not Path(events_path).is_file():
        raise click.UsageError(f"no such events file: {events_path}")
    shown = None if all_diagnostics else 20
    shown_path = "<stdin>" if events_path == "-" else events_path
    if until is not None and until.tzinfo is None:
        from ..simulate.engine import Plan

        until = until.replace(tzinfo=Plan(compiled).zone)
    if events_path == "-":
        run = run_events(compiled, sys.stdin.buffer, shown_path, until=until, shown_per_code=shown, binary=True)
    else:
        with open(events_path, "rb") as handle:
            run = run_events(compiled, handle, shown_path, until=until, shown_per_code=shown, binary=True)
    _show_diagnostics(run.diagnostics, {shown_path: run.feed.source, result.path: result.source}, colored,
                      run.feed.hidden)
    language = lang or compiled.language
    summary = run.summary_json()
    with _output(output_file) as out:
        if fmt == "json":
            _write_json(out, run, summary, summary_only)
        elif fmt == "csv":
            from ..simulate.report import CSV_HEADER, kpi_csv_rows, lead_csv_rows, write_csv

            rows = []
            if not summary_only:
                for data in run.leads_json():
                    rows.extend(lead_csv_rows(data))
            rows.extend(kpi_csv_rows(summary))
            out.write(write_csv(CSV_HEADER, rows))
        else:
            from ..simulate.report import render_lead_text, render_summary_text

            if not summary_only:
                for lead in run.sim.leads.values():
                    from ..simulate.report import lead_to_json

                    out.write(terminal_lines(render_lead_text(run.sim, lead_to_json(run.sim, lead), language)))
                    out.write("\n")
            out.write(terminal_lines(render_summary_text(run.sim, summary, language)))
    errors = run.feed.error_count + sum(1 for d in run.sim.diagnostics if d.severity.value == "error")
    click.get_current_context().exit(1 if errors else 0)


def _write_json(out, run, summary, summary_only: bool) -> None:
    """One JSON document, written lead by lead so large simulations need not be built in memory twice."""
    from ..irjson import fingerprint
    from ..simulate.report import lead_to_json

    sim = run.sim
    head = {
        "format": "sla-simulation/1",
        "policy": {"title": sim.policy.agreement.title if sim.policy.agreement else None,
                   "fingerprint": fingerprint(sim.policy)},
        "diagnostics": [d.to_json() for d in run.diagnostics],
        "summary": summary,
    }
    if summary_only:
        out.write(json.dumps(head, sort_keys=True, indent=2, ensure_ascii=False) + "\n")
        return

    def members(*keys: str) -> str:  # `"key": value` lines of the top-level object, indented
        return json.dumps({k: head[k] for k in keys}, sort_keys=True, indent=2, ensure_ascii=False)[2:-2]

    # keys in sorted order, like every other JSON output: diagnostics, format, leads, policy, summary
    out.write("{\n" + members("diagnostics", "format") + ',\n  "leads": [')
    first = True
    for lead in sim.leads.values():
        item = json.dumps(lead_to_json(sim, lead), sort_keys=True, indent=2, ensure_ascii=False)
        out.write(("\n" if first else ",\n") + "\n".join("    " + line for line in item.split("\n")))
        first = False
    out.write("],\n" if first else "\n  ],\n")
    out.write(members("policy", "summary") + "\n}\n")


def scenario_clause(scenario: dict) -> str | None:
    """The clause a scenario is about: the last move it makes, else its first clause."""
    covers = scenario.get("covers") or {}
    edges = covers.get("edges") or []
    if edges and isinstance(edges[-1], dict) and edges[-1].get("clause"):
        return edges[-1]["clause"]
    clauses = covers.get("clauses") or []
    return clauses[0] if clauses else None


class GeneratedScenarios:
    """The scenarios of `generate_fixtures` as `sla test` goes through them: counted, and read
    back from their compressed text each time they are iterated, never all at once."""

    def __init__(self, fixtures) -> None:
        self.fixtures = fixtures

    def __len__(self) -> int:
        return len(self.fixtures)

    def __iter__(self):
        return self.fixtures.scenario_data()


@click.command()
@click.argument("policy", type=click.Path(dir_okay=False))
@click.argument("hubspot_dir", required=False, metavar="[DIR]", type=click.Path())
@click.option("--against", type=click.Choice(["hubspot"]),
              help="Replay the scenarios through the HubSpot workflows (built in DIR, or built now) in the model of "
              "HubSpot's workflow engine and compare them with the agreement.")
@click.option("--portal-timezone", metavar="ZONE", help="With --against hubspot: the HubSpot account's time zone "
              "(default: the agreement calendar's).")
@click.option("--fixtures", "fixtures_dir", type=click.Path(), help="Folder with scenarios.json written by "
              "`sla build --target fixtures` (or the file itself). Default: generate the scenarios from POLICY now.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="Only list the scenarios that fail.")
@click.option("--lang", type=click.Choice(["en", "ja"]), help="Language of generated descriptions (default: the policy's).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Read [tool.sla] from this pyproject.toml.")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
def test(policy, hubspot_dir, against, portal_timezone, fixtures_dir, fmt, quiet, lang, config_path, isolated, color):
    """Replay scenarios through POLICY and report pass/fail for each.

    Scenarios come from --fixtures (a build of the fixtures target, e.g. from before a policy
    change) or are generated from POLICY, plus your own scenarios kept next to the policy:
    NAME.scenarios.json and NAME.scenarios/*.json. Exit status 1 when a scenario fails or a
    scenario file is invalid.

    With --against hubspot, each scenario is run through the HubSpot workflows (DIR: what `sla
    build POLICY --target hubspot` wrote; default: built now) in an executable model of
    HubSpot's workflow engine and through the reference simulator, and fails where HubSpot would
    not do what the agreement says (stage path, deadline verdicts and breach moments,
    escalation recipients, tasks and their owners).
    """
    if hubspot_dir is not None and against is None:
        raise click.UsageError("DIR is the HubSpot build to test: give it with --against hubspot")
    from ..irjson import fingerprint
    from ..simulate.engine import Plan
    from ..simulate.rules import STALE_FIXTURES
    from ..simulate.scenarios import load_scenario_file, user_scenario_files
    from ..source import Span

    colored = use_color(color)
    result, config = _compile_policy(policy, config_path, isolated, colored, with_config=True)
    compiled = result.policy
    plan = Plan(compiled)
    # The cyclic collector is off from generation to the end of the replays. A replay leaves no
    # reference cycles (reference counting frees it) and neither does generation; with it on, the
    # first allocation after generation walked every object the generator left (its last
    # collection), and the replays walked every outcome kept (90,000 for 10,000 stages) again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        problems = []
        sources: list[tuple[str, list[dict], dict | None, dict[str, int]]] = []  # (label, scenarios, summary, lines)
        if fixtures_dir:
            path = Path(fixtures_dir)
            if path.is_dir():
                path = path / "scenarios.json"
            if not path.exists():
                raise click.UsageError(f"no scenarios.json in {fixtures_dir} (build it with `sla build {policy} "
                                       f"--target fixtures -o {fixtures_dir}`)")
            loaded = load_scenario_file(path)
            problems += loaded.diagnostics
            if loaded.data is not None:
                recorded = (loaded.data.get("policy") or {}).get("fingerprint")
                if recorded and recorded != fingerprint(compiled):
                    from ..diagnostics import Diagnostic, Message

                    problems.append(Diagnostic(
                        STALE_FIXTURES, Message('{path} was generated from another version of {path2}; expectations that no longer hold fail below', path=loaded.path, path2=result.path), Span.point(loaded.path),
                        help=Message('rebuild the fixtures once the policy change is intended')))
                sources.append((loaded.path, loaded.scenarios, loaded.data.get("summary"), loaded.lines))
        else:
            from ..targets.fixtures import generate_fixtures

            generated = generate_fixtures(compiled, lang, scenarios_only=True)
            # read back one at a time as they are replayed (90,000 of them for 10,000 stages)
            sources.append(("generated from the policy", GeneratedScenarios(generated), generated.summary, {}))
        for extra in user_scenario_files(Path(policy)):
            loaded = load_scenario_file(extra)
            problems += loaded.diagnostics
            sources.append((loaded.path, loaded.scenarios, None, loaded.lines))

        if against == "hubspot":
            from .against_hubspot import load_hubspot, outcomes_against_hubspot, portal_zone

            zone = portal_zone(portal_timezone)
            bundle, built_label, build_problems = load_hubspot(compiled, result.path, hubspot_dir, config.hubspot)
            problems += build_problems
        _show_diagnostics(problems, {}, colored)
        outcomes = []
        shown = sources
        if against == "hubspot":
            outcomes = outcomes_against_hubspot(compiled, bundle, sources, zone)
            sources = []  # compared with a fresh simulation above, not with the recorded expectations
        _replay_sources(compiled, plan, sources, outcomes)
    finally:
        if collecting:
            gc.enable()
    passed = sum(1 for o in outcomes if o["passed"])
    failed = len(outcomes) - passed
    invalid = sum(1 for d in problems if d.severity.value == "error")
    if fmt == "json":
        click.echo(json.dumps({"policy": result.path, "results": outcomes,
                               "summary": {"passed": passed, "failed": failed, "invalid_files": invalid}},
                              sort_keys=True, indent=2, ensure_ascii=False))
    else:
        def style(text, **kw):
            return click.style(text, **kw) if colored else text

        against_text = f" against HubSpot ({built_label})" if against == "hubspot" else ""
        # ids, descriptions and differences quote scenario files and policy labels: terminal_safe
        click.echo(terminal_safe(f"{result.path}: {len(outcomes)} scenario{'s' * (len(outcomes) != 1)}{against_text} ("
                   + "; ".join(f"{len(s)} {label if label.startswith('generated') else 'from ' + label}"
                               for label, s, _, _ in shown) + ")"))
        if not quiet:
            for o in outcomes:
                if o["passed"]:
                    description = f" — {o['description']}" if o["description"] else ""
                    click.echo(f"  {style('PASS', fg='green', bold=True)}  {terminal_safe(str(o['id']) + description)}")
        # failures grouped by the clause each scenario is about: one policy change usually breaks
        # every scenario that crosses one clause, and the group says which clause to look at
        # (--against hubspot reports its divergences per scenario, with both timelines)
        groups: dict[str, list[dict]] = {}
        for o in outcomes:
            if not o["passed"] and "clause" in o:
                groups.setdefault(o["clause"] or "(no clause)", []).append(o)
        for o in outcomes:
            if not o["passed"] and "clause" not in o:
                description = f" — {o['description']}" if o["description"] else ""
                click.echo(f"  {style('FAIL', fg='red', bold=True)}  {terminal_safe(str(o['id']) + description)}")
                click.echo(f"        at {terminal_safe(str(o['source']))}")
                for line in o["differences"]:
                    click.echo(f"        {terminal_safe(str(line))}")
                if against == "hubspot":
                    from .against_hubspot import timeline_lines

                    for line in timeline_lines(o):
                        click.echo(f"        {terminal_safe(str(line))}")
        for clause, failed_here in groups.items():
            click.echo(style(terminal_safe(f"  {clause}: {len(failed_here)} failing scenario{'s' * (len(failed_here) != 1)}"),
                             bold=True))
            for o in failed_here:
                description = f" — {o['description']}" if o["description"] else ""
                click.echo(f"    {style('FAIL', fg='red', bold=True)}  {terminal_safe(str(o['id']) + description)}")
                click.echo(f"          at {terminal_safe(str(o['source']))}")
                for line in o["differences"]:
                    click.echo(f"          {terminal_safe(str(line))}")
        if groups:
            click.echo(terminal_safe("Failures by clause: " + ", ".join(f"{c} ({len(g)})" for c, g in groups.items())))
        verdict = f"{passed} passed, {failed} failed" + (f", {invalid} invalid scenario file problem(s)" if invalid else "")
        click.echo(style(verdict + ".", bold=True))
    click.get_current_context().exit(0 if failed == 0 and invalid == 0 else 1)


def _replay_sources(compiled, plan, sources, outcomes: list) -> None:
    """Replay each scenario of `sources` and add its outcome (and each summary's KPI outcome) to `outcomes`."""
    from ..simulate.scenarios import CarriedKpis, compare, replay, scenario_events, simulated_lead

    for label, scenarios, summary, lines in sources:
        kpis = summary is not None and summary.get("kpis") is not None
        # each scenario's replay, carried on, is its lead's part of the KPI replay as well
        carried = CarriedKpis(compiled, plan, summary.get("until")) if kpis else None
        for scenario in scenarios:
            events = scenario_events(scenario)  # (made once for the replay and the KPIs)
            run = replay(compiled, scenario, plan=plan, path=f"{label} ({scenario['id']})", events=events)
            differences = [f"timeline event {d.span.line}: {d.message}" for d in run.diagnostics
                           if d.severity.value == "error"]
            differences += compare(scenario["expect"], simulated_lead(run, scenario["lead"]["id"]))
            where = f"{label}:{lines[scenario['id']]}" if scenario["id"] in lines else label
            outcomes.append({"id": scenario["id"], "source": where, "description": scenario.get("description", ""),
                             "clause": scenario_clause(scenario), "passed": not differences,
                             "differences": differences})
            if carried is not None:
                carried.add(scenario, run, events)
        if kpis:
            from ..targets.fixtures import replay_summary

            got = carried.kpis()
            if got is None:  # not the same as replaying them together: replay them together
                got = replay_summary(compiled, scenarios, plan)["kpis"]
            differences = compare({"kpis": summary["kpis"]}, {"kpis": got})
            outcomes.append({"id": "(KPI summary)", "source": label, "clause": "kpis",
                             "description": f"KPIs of all {len(scenarios)} scenarios replayed together",
                             "passed": not differences, "differences": differences})
