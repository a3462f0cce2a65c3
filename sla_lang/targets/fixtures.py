"""The `fixtures` target: lead scenarios with expected outcomes, their coverage, a HubSpot import.

- `scenarios.json`: every generated scenario (see sla_lang/simulate/generate.py for how they are
  built, and the README for the format): the clauses and graph edges it covers, the initial
  lead, its events and the outcome the reference simulator gives. `sla test` replays it.
- `coverage.json`: transitions, boundaries and clauses covered, each with the scenarios that
  cover it, or why nothing can.
- `contacts.csv` (`contacts-001.csv` … for more than 1,000 scenarios): the scenarios' leads as
  a HubSpot contact import, with the expected final stage, so an admin can load them into a
  sandbox and compare.

The coverage summary is returned as an info diagnostic (SLA865), anything uncovered as a
warning (SLA866) at the clause it is about.
"""

from __future__ import annotations

import gc
import os
import tempfile
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from .. import ir
from ..diagnostics import INTERNAL_ERROR, Diagnostic, Listing, Message
from ..ir import Policy
from ..irjson import dumps, dumps_bytes, fingerprint, loads_json
from ..output import Pieces, as_bytes
from ..source import Span
from . import BuildOptions, BuildResult, FileSink, collected

NAME = "fixtures"
FORMATS: tuple[str, ...] = ()
DEFAULT_FORMATS: tuple[str, ...] = ()

from ..simulate.rules import FIXTURE_COVERAGE, UNCOVERED


def build_into(policy: Policy, options: BuildOptions, sink: FileSink) -> BuildResult:
    """The fixtures, each file handed to `sink` as it is made; scenarios.json in pieces, read
    from the scenarios' texts (it is 500 MB for 10,000 stages: never held whole)."""
    # The cyclic collector stays off until everything is written (see generate_fixtures):
    # turned on while coverage.json's document was alive, its first collection walked it all
    # (a sixth of the whole build at 1,000 stages).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build_into(policy, options, sink)
    finally:  # (the document and everything else of the build freed by now)
        if collecting:
            gc.enable()


def _build_into(policy: Policy, options: BuildOptions, sink: FileSink) -> BuildResult:
    try:
        fixtures = generate_fixtures(policy, options.lang)
    except Exception as exc:  # a bug in the generator must not take the other targets down
        if os.environ.get("SLA_DEBUG"):
            traceback.print_exc()
        return BuildResult(diagnostics=[Diagnostic(
            INTERNAL_ERROR, Message('internal error in the fixtures target: {exc}: {exc2}', exc=type(exc).__name__, exc2=exc),
            Span.point(policy.path), help=Message('please report this with the policy; set SLA_DEBUG=1 for the traceback'),
        )])
    try:
        for name in sorted(fixtures.contacts):
            sink(name, fixtures.contacts.pop(name).encode("utf-8"))
        coverage = dumps_bytes(fixtures.coverage)
        fixtures.coverage = None
        sink("coverage.json", coverage)
        del coverage
        sink("scenarios.json", fixtures.scenarios_pieces())
    finally:
        fixtures.texts.close()
    return BuildResult(diagnostics=fixtures.diagnostics)


build = collected(build_into)


class ScenarioTexts:
    """Each finished scenario's text in scenarios.json, one after another in an unnamed temporary
    file, with the separators scenarios.json has between them: the fixtures of a 10,000-stage
    policy are 90,000 scenarios, 500 MB of JSON, which are written once and read back once (as
    scenarios.json, in pieces, or one at a time by `sla test`)."""

    SEPARATOR = b",\n    "
    PIECE = 1 << 20  # bytes read at a time by `joined`

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the fixtures are (close())
        self._spans: list[tuple[int, int]] = []  # (offset, length) of each text, in order
        self.size = 0
        self._flushed = True

    def __len__(self) -> int:
        return len(self._spans)

    def add(self, text: bytes) -> None:
        if self._spans:
            self._file.write(self.SEPARATOR)
            self.size += len(self.SEPARATOR)
        self._file.write(text)
        self._spans.append((self.size, len(text)))
        self.size += len(text)
        self._flushed = False

    def _fd(self) -> int:
        if not self._flushed:
            self._file.flush()
            self._flushed = True
        return self._file.fileno()

    def __iter__(self) -> Iterator[bytes]:
        fd = self._fd()
        for offset, length in self._spans:
            yield os.pread(fd, length, offset)

    def joined(self) -> Iterator[bytes]:
        """Every text with the separators between them, a megabyte at a time."""
        fd = self._fd()
        offset = 0
        while offset < self.size:
            piece = os.pread(fd, min(self.size - offset, self.PIECE), offset)
            if not piece:
                raise OSError(f"the scenarios' temporary file ends at {offset} of {self.size} bytes")
            offset += len(piece)
            yield piece

    def close(self) -> None:
        self._file.close()
        self._spans = []


class Fixtures:
    """The generated fixtures. Each scenario is kept as its JSON text (`ScenarioTexts`):
    `scenario_data()` reads them back one at a time, `scenarios_json()` writes scenarios.json,
    `scenarios` is the whole document as data."""

    def __init__(self, header: dict[str, Any] | Callable[[], dict[str, Any]], texts: ScenarioTexts,
                 summary: dict[str, Any], coverage: dict, contacts: dict[str, str], diagnostics: list[Diagnostic]) -> None:
        self._header = header  # scenarios.json without its scenarios and summary (or what makes it)
        self.texts = texts
        self.summary = summary
        self.coverage = coverage
        self.contacts = contacts
        self.diagnostics = diagnostics

    @property
    def header(self) -> dict[str, Any]:
        if callable(self._header):
            self._header = self._header()
        return self._header

    def __len__(self) -> int:
        return len(self.texts)

    def scenario_data(self) -> Iterator[dict[str, Any]]:
        for text in self.texts:
            yield loads_json(text)

    @property
    def scenarios(self) -> dict[str, Any]:
        return {**self.header, "scenarios": list(self.scenario_data()), "summary": self.summary}

    def scenarios_json(self) -> bytes:
        """scenarios.json: `dumps` of `scenarios`, byte for byte."""
        return as_bytes(self.scenarios_pieces())

    def scenarios_pieces(self) -> Pieces | bytes:
        """scenarios.json as pieces read from the scenarios' texts (valid while they are open):
        never the whole document as data, nor its text in memory."""
        if not self.texts:
            return dumps(self.scenarios).encode("utf-8")
        head, tail = _split_document({**self.header, "summary": self.summary})
        head += b"    "
        texts = self.texts

        def pieces() -> Iterator[bytes]:
            yield head
            yield from texts.joined()
            yield tail

        return Pieces(len(head) + texts.size + len(tail), pieces)


def generate_fixtures(policy: Policy, lang: str | None = None, *, scenarios_only: bool = False) -> Fixtures:
    """The fixtures of `policy`; with `scenarios_only` (`sla test`), without coverage.json and the
    contact import (`coverage` and `contacts` empty, no diagnostics)."""
    # The generator makes millions of short-lived dicts, lists and simulator objects and no
    # reference cycles (the solver breaks the one its search made); with the cyclic collector
    # on, its collections walked them all, a fifth of the time for 3,000 stages. Reference
    # counting frees everything here.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _generate_fixtures(policy, lang, scenarios_only)
    finally:
        if collecting:
            gc.enable()


def _generate_fixtures(policy: Policy, lang: str | None, scenarios_only: bool) -> Fixtures:
    from ..simulate.generate import Generator
    from ..simulate.kpis import KpiTally

    gen = Generator(policy, lang)
    texts = ScenarioTexts()
    gen.finished = lambda scenario: _pack(gen, scenario, texts)
    gen.kpi_tally = KpiTally(policy, gen.plan)
    gen.keep_events = False  # each scenario's events are in its text: 150 MB fewer at 10,000 stages
    gen.generate()
    gen.release()
    summary, kpi_clauses = replay_all(gen, texts)
    zone = str(gen.zone.key)

    def header(described: dict[str, Any]) -> dict[str, Any]:
        return {"format": "sla-scenarios/1", "policy": described, "time_zone": zone}

    if [s.packed for s in gen.scenarios] != list(range(len(gen.scenarios))):
        raise AssertionError("the scenarios were not finished in their order")
    if scenarios_only:  # made if asked for: `sla test` reads none (the fingerprint encodes the whole IR)
        return Fixtures(lambda: header(policy_header(policy)), texts, summary, {}, {}, [])
    described = policy_header(gen.policy)  # (once)
    coverage, diagnostics = coverage_document(gen, kpi_clauses, described)
    if gen.solver.exhausted is not None:
        diagnostics.insert(0, search_budget_warning(gen))
    return Fixtures(header(described), texts, summary, coverage, contacts_csv(gen), diagnostics)


def _pack(gen, scenario, texts: ScenarioTexts) -> None:
    """A finished scenario → its text in scenarios.json, kept in `texts`; the expectation, the
    largest part of it, is not kept otherwise."""
    # `dumps` of the scenario, indented as an item of the list in scenarios.json (a JSON text
    # has no line break but between its tokens); made by orjson, 5x faster than `pretty_into`
    text = dumps_bytes(scenario_to_json(gen, scenario))
    scenario.packed = len(texts)
    texts.add(text[:-1].replace(b"\n", b"\n    "))
    scenario.expect = None
    scenario.description = ""
    scenario.sides = []


def search_budget_warning(gen) -> Diagnostic:
    from ..simulate.rules import SEARCH_BUDGET

    policy, solver = gen.policy, gen.solver
    culprits = solver.exhausted or ()
    scores = [policy.score_by_id[name] for name in culprits if name in policy.score_by_id]
    if scores:
        what = Listing((Message("score `{score}` ({rules} rules)", score=s.id, rules=sum(len(g.rules) for g in s.groups))
                        for s in scores), limit=len(scores), quote=False)
        span = scores[0].name_span
    else:
        what = Message("the data {names}", names=Listing(culprits, limit=len(culprits)))
        span = Span.point(policy.path)
    left = sum(1 for b in gen.boundaries if not b.covered)
    return Diagnostic(
        SEARCH_BUDGET,
        Message('fixtures: the search for lead data stopped after {work:,} constraint evaluations (the budget of one build) on {what}; {left} boundaries are not covered', work=solver.work, what=what, left=left),
        span,
        help=Message('fewer rules or coarser points in that score make every boundary coverable; coverage.json lists what is not covered'),
    )


# ------------------------------------------------------------------ scenarios.json


def policy_header(policy: Policy) -> dict[str, Any]:
    a = policy.agreement
    return {
        "title": a.title if a else None,
        "version": a.version.value if a and a.version else None,
        "language": policy.language,
        "fingerprint": fingerprint(policy),
    }


def scenario_to_json(gen, scenario) -> dict[str, Any]:
    events = scenario.events
    created = events[0]
    lead: dict[str, Any] = {"id": scenario.lead_id, "created": created["at"], "stage": created.get("stage")}
    if created.get("properties"):
        lead["properties"] = created["properties"]
    if created.get("events"):
        lead["events"] = created["events"]
    timeline = [{k: v for k, v in e.items() if k != "lead"} for e in events[1:]]
    return {
        "id": scenario.id,
        "kind": scenario.kind,
        "description": scenario.description,
        "covers": {
            "clauses": scenario.clauses,
            "edges": scenario.edges,
            "boundaries": sorted(scenario.sides),
        },
        "lead": lead,
        "timeline": timeline,
        "until": gen.iso(scenario.until) if scenario.until else None,
        "expect": scenario.expect,
    }


_PLACEHOLDER = "\u0000sla-lang scenarios\u0000"


def _split_document(document: dict[str, Any]) -> tuple[bytes, bytes]:
    """`dumps` of `document` with a list of scenarios, as the text before the first scenario and
    the text after the last one."""
    import json

    marker = json.dumps(_PLACEHOLDER, ensure_ascii=False)
    head, tail = dumps({**document, "scenarios": [_PLACEHOLDER]}).split("    " + marker, 1)
    return head.encode("utf-8"), tail.encode("utf-8")


def replay_all(gen, texts: ScenarioTexts | None = None) -> tuple[dict[str, Any], set[str]]:
    """Every scenario's lead in one simulation: the KPI values the whole set must produce.
    (`texts`: the scenarios' texts, where their events are read back from when the generator
    did not keep them.)"""
    import json

    from ..simulate import KpiReplay, replay_kpis
    from ..simulate.scenarios import scenario_events

    kept = gen.kpi_replay()
    if kept is not None:
        return _kpi_summary(gen, KpiReplay(*kept))
    if gen.keep_events:
        timelines = (scenario.events for scenario in gen.scenarios)
    else:
        timelines = (scenario_events(json.loads(text)) for text in texts)
    stream = []
    for order, events in enumerate(timelines):
        for index, event in enumerate(events):
            stream.append((datetime.fromisoformat(event["at"]), order, index, event))
    stream.sort(key=lambda item: item[:3])
    untils = [s.until for s in gen.scenarios if s.until is not None]
    return _kpi_summary(gen, replay_kpis(gen.policy, [e for *_, e in stream], until=max(untils) if untils else None,
                                         plan=gen.plan))


def _kpi_summary(gen, run) -> tuple[dict[str, Any], set[str]]:
    from ..simulate.report import kpis_to_json

    kpis = kpis_to_json(run.kpis)
    covered = {k["clause"] for k in kpis if any(row["value"] is not None for row in k["rows"])}
    return {"leads": run.leads, "until": gen.iso(run.end) if run.end else None, "kpis": kpis}, covered


def replay_summary(policy: Policy, scenarios: list[dict[str, Any]], plan=None) -> dict[str, Any]:
    """The same combined replay, from scenarios.json data (for `sla test`)."""
    from ..simulate import replay_kpis
    from ..simulate.engine import Plan, parse_timestamp
    from ..simulate.report import kpis_to_json
    from ..simulate.scenarios import scenario_events

    plan = plan or Plan(policy)
    stream = []
    untils = []
    for order, scenario in enumerate(scenarios):
        for index, event in enumerate(scenario_events(scenario)):
            at = parse_timestamp(event.get("at"), plan.zone) if isinstance(event.get("at"), str) else None
            stream.append((at or datetime.min.replace(tzinfo=plan.zone), order, index, event))
        until = scenario.get("until")
        if isinstance(until, str) and parse_timestamp(until, plan.zone) is not None:
            untils.append(parse_timestamp(until, plan.zone))
    stream.sort(key=lambda item: item[:3])
    run = replay_kpis(policy, [e for *_, e in stream], until=max(untils) if untils else None, plan=plan)
    return {"leads": run.leads, "until": run.end.astimezone(plan.zone).isoformat() if run.end else None,
            "kpis": kpis_to_json(run.kpis)}


# ------------------------------------------------------------------ coverage.json

_NOT_LEAD_BEHAVIOUR = {
    "agreement": "the agreement's header: the document covers it, lead events cannot",
    "party": "who signs or takes part: not something a lead does",
    "information": "what each side tells the other: checked in reviews, not by lead events",
    "responsibilities": "who does what (RACI): not something a lead does",
    "review": "a meeting: not something a lead does",
    "cancellation": "when the agreement must be rewritten: not something a lead does",
}


def clause_catalogue(policy: Policy) -> list[tuple[str, Span, str | None]]:
    """Every clause of the policy: (clause id, where, why lead scenarios cannot cover it or None)."""
    out: list[tuple[str, Span, str | None]] = []
    if policy.agreement is not None:
        a = policy.agreement
        out.append((a.clause_id, a.span, _NOT_LEAD_BEHAVIOUR["agreement"]))
        for part in (a.term, a.amendment):
            if part is not None:
                out.append((part.clause_id, part.span, _NOT_LEAD_BEHAVIOUR["agreement"]))
    for team in policy.teams:
        out.append((team.clause_id, team.name_span, _NOT_LEAD_BEHAVIOUR["party"]))
    used_calendars = set()
    for stage in policy.stages:
        cal = policy.calendar_for(stage)
        if cal is not None and _uses_business_time(stage):
            used_calendars.add(cal.id)
    for cal in policy.calendars:
        out.append((cal.clause_id, cal.name_span, None if cal.id in used_calendars else
                    "no business-time duration counts in this calendar"))
    for model in policy.scores:
        out.append((model.clause_id, model.name_span, None))
        for group in model.groups:
            out.append((group.clause_id, group.name_span, None if group.rules else "the group has no rules"))
            for rule in group.rules:
                out.append((rule.clause_id, rule.span, None))
    for priority in policy.priorities:
        out.append((priority.clause_id, priority.name_span, None))
    for stage in policy.stages:
        out.append((stage.clause_id, stage.name_span, None))
        if stage.handoff is not None:
            out.append((stage.handoff.clause_id, stage.handoff.span, None))
        for d in stage.deadlines:
            out.append((d.clause_id, d.span, None))
        if stage.follow_up is not None:
            out.append((stage.follow_up.clause_id, stage.follow_up.span, None))
        for e in stage.escalations:
            out.append((e.clause_id, e.span, None))
        for t in stage.transitions:
            out.append((t.clause_id, t.span, None))
    for kpi in policy.kpis:
        out.append((kpi.clause_id, kpi.name_span, None if kpi.measure is not None else "the KPI has no measure"))
    for info in policy.information:
        out.append((info.clause_id, info.span, _NOT_LEAD_BEHAVIOUR["information"]))
        for item in info.items:
            simulated = item.anchor is not None and item.within is not None and item.recorded_in is not None
            out.append((item.clause_id, item.span, None if simulated else _NOT_LEAD_BEHAVIOUR["information"]))
    for row in policy.responsibilities:
        out.append((row.clause_id, row.span, _NOT_LEAD_BEHAVIOUR["responsibilities"]))
    for review in policy.reviews:
        out.append((review.clause_id, review.name_span, _NOT_LEAD_BEHAVIOUR["review"]))
    for c in policy.cancellations:
        out.append((c.clause_id, c.span, _NOT_LEAD_BEHAVIOUR["cancellation"]))
    seen = set()
    unique = []
    for item in out:
        if item[0] not in seen:
            seen.add(item[0])
            unique.append(item)
    return unique


def _uses_business_time(stage: ir.Stage) -> bool:
    from ..simulate.generate import _uses_business_time as uses

    return uses(stage)


def _percent(covered: int, total: int) -> float:
    return round(100.0 * covered / total, 1) if total else 100.0


def coverage_document(gen, kpi_clauses: set[str], described: dict[str, Any]) -> tuple[dict[str, Any], list[Diagnostic]]:
    """coverage.json and its diagnostics; `described`: the policy's `policy_header`, made once
    for both documents."""
    policy = gen.policy
    diagnostics: list[Diagnostic] = []
    by_clause: dict[str, list[str]] = {}
    by_edge: dict[str, list[str]] = {}
    for s in gen.scenarios:
        for c in s.clauses:
            by_clause.setdefault(c, []).append(s.id)
        for e in s.edges:
            by_edge.setdefault(e["clause"], []).append(s.id)
    for k in kpi_clauses:
        by_clause.setdefault(k, []).append("(all scenarios together)")

    transitions = []
    for t in policy.transitions():
        item: dict[str, Any] = {"clause": t.clause_id, "from": t.source, "to": t.target.name}
        ids = by_edge.get(t.clause_id, [])
        if ids:
            item["covered_by"] = ids
        else:
            reason = gen.transition_reasons.get(t.clause_id, "no generated scenario takes it")
            item["reason"] = reason
            diagnostics.append(Diagnostic(UNCOVERED, Message('no fixture scenario takes transition `{clause}`: {reason}', clause=t.clause_id, reason=reason),
                                          t.span, help=Message('see coverage.json; often the transition can never fire')))
        transitions.append(item)

    loops = list(gen.loops)
    for item in loops:
        if "reason" in item:
            diagnostics.append(Diagnostic(UNCOVERED, Message('no fixture scenario goes round the recycle loop `{loop}`: {reason}', loop=item['loop'].replace('>', ' -> '), reason=item['reason']),
                                          policy.stage_by_id[item["loop"].split(">")[0]].name_span,
                                          help=Message('see coverage.json')))

    boundaries = []
    for b in gen.boundaries:
        item = {"id": b.id, "clause": b.clause, "kind": b.kind, "description": b.description,
                "sides": {k: v for k, v in b.sides.items()}}
        if not b.covered:
            missing = [k for k, v in b.sides.items() if v is None]
            item["reason"] = b.reason or "not generated"
            diagnostics.append(Diagnostic(UNCOVERED, Message('boundary `{boundary}` ({missing}) is not covered: {reason}', boundary=b.id, missing=Listing(missing, limit=len(missing), quote=False), reason=item['reason']), b.span, help=Message('see coverage.json')))
        boundaries.append(item)

    clauses = []
    coverable = covered_clauses = 0
    not_coverable = 0
    for clause, span, reason in clause_catalogue(policy):
        item = {"clause": clause}
        if reason is not None:
            item["not_coverable"] = reason
            not_coverable += 1
        else:
            coverable += 1
            ids = by_clause.get(clause, [])
            if ids:
                covered_clauses += 1
                item["covered_by"] = ids
            else:
                item["reason"] = "no generated scenario exercises it"
                diagnostics.append(Diagnostic(UNCOVERED, Message('no fixture scenario exercises clause `{clause}`', clause=clause), span,
                                              help=Message('see coverage.json')))
        clauses.append(item)

    t_covered = sum(1 for t in transitions if "covered_by" in t)
    b_covered = sum(1 for b in gen.boundaries if b.covered)
    summary = {
        "scenarios": len(gen.scenarios),
        "transitions": {"covered": t_covered, "total": len(transitions), "percent": _percent(t_covered, len(transitions))},
        "boundaries": {"covered": b_covered, "total": len(gen.boundaries),
                       "percent": _percent(b_covered, len(gen.boundaries))},
        "clauses": {"covered": covered_clauses, "total": coverable, "percent": _percent(covered_clauses, coverable),
                    "not_coverable": not_coverable},
        "loops": {"covered": sum(1 for item in loops if "covered_by" in item), "total": len(loops)},
    }
    counts = dict(scenarios=len(gen.scenarios), transitions=t_covered, transitions_total=len(transitions),
                  transitions_percent=summary["transitions"]["percent"], boundaries=b_covered,
                  boundaries_total=len(gen.boundaries), boundaries_percent=summary["boundaries"]["percent"],
                  clauses=covered_clauses, clauses_total=coverable, clauses_percent=summary["clauses"]["percent"])
    text = Message("fixtures: {scenarios} scenarios; transitions {transitions}/{transitions_total} "
                   "({transitions_percent:g}%), boundaries {boundaries}/{boundaries_total} ({boundaries_percent:g}%), "
                   "clauses {clauses}/{clauses_total} ({clauses_percent:g}%)", **counts)
    if not_coverable:
        text = Message("fixtures: {scenarios} scenarios; transitions {transitions}/{transitions_total} "
                       "({transitions_percent:g}%), boundaries {boundaries}/{boundaries_total} ({boundaries_percent:g}%), "
                       "clauses {clauses}/{clauses_total} ({clauses_percent:g}%); {not_coverable} clauses are not lead "
                       "behaviour (listed in coverage.json)", not_coverable=not_coverable, **counts)
    where = policy.agreement.span if policy.agreement is not None else Span.point(policy.path)
    diagnostics.insert(0, Diagnostic(FIXTURE_COVERAGE, text, Span(where.path, where.line, where.column, where.line,
                                                                  where.column + len("agreement"))))
    document = {
        "format": "sla-coverage/1",
        "policy": described,
        "summary": summary,
        "transitions": transitions,
        "loops": loops,
        "boundaries": boundaries,
        "clauses": clauses,
    }
    return document, diagnostics


# ------------------------------------------------------------------ contacts.csv


CONTACTS_PER_FILE = 1000  # rows; more scenarios than this are imported from several files


def contacts_csv(gen) -> dict[str, str]:
    """The scenarios' leads as a HubSpot contact import (one row per scenario, initial data):
    `contacts.csv`, with a column for every property and event of the policy; or, for more than
    CONTACTS_PER_FILE scenarios, `contacts-001.csv`, `contacts-002.csv` … of that many rows
    each, each with the columns of the properties and events its rows have a value for (a column
    for every event of a large policy in every row would grow with the square of its size)."""
    from ..simulate.report import write_csv

    policy = gen.policy
    first = ["email", "firstname", "lastname", "lifecyclestage", "sla_stage"]
    last = ["sla_scenario_id", "sla_expected_stage", "sla_expected_lifecyclestage"]
    data_columns: list[str] = []  # in the policy's order
    source: dict[str, tuple[str, str]] = {}  # column → (kind, id) whose value it shows: the last one named so
    for kind, items in (("property", policy.properties), ("event", policy.events)):
        for item in items:
            column = item.hubspot or item.id
            if column not in first and column not in source:
                data_columns.append(column)
            source[column] = (kind, item.id)
    column_of = {owner: column for column, owner in source.items()}
    position = {column: i for i, column in enumerate(data_columns)}
    rows: list[tuple[dict[str, Any], set[str]]] = []
    for scenario in gen.scenarios:
        created = scenario.events[0]
        stage = policy.stage_by_id.get(created.get("stage") or "")
        final = policy.stage_by_id.get(scenario.final_stage) if scenario.final_stage else None
        row: dict[str, Any] = {
            "email": f"sla-fixture-{scenario.lead_id.lower()}@example.com",
            "firstname": "Fixture",
            "lastname": scenario.lead_id,
            "lifecyclestage": stage.hubspot.name if stage is not None and stage.hubspot else "",
            # a lead that starts past the entry stages (one transition before the stage under
            # test), or in an `entry when` stage by choice rather than by its data: the HubSpot
            # target's `sla_stage` must be imported too, as its entry workflows place new contacts
            # by lifecycle stage and entry condition only
            "sla_stage": stage.id if stage is not None and (not stage.is_entry or stage.entry_condition is not None)
            else "",
            "sla_scenario_id": scenario.id,
            "sla_expected_stage": final.id if final else "",
            "sla_expected_lifecyclestage": final.hubspot.name if final is not None and final.hubspot else "",
        }
        used: set[str] = set()
        for kind, values in (("property", created.get("properties", {})), ("event", created.get("events", {}))):
            for name, value in values.items():
                column = column_of.get((kind, name))
                if column is not None and value is not None:
                    row[column] = value
                    if column in position:
                        used.add(column)
        rows.append((row, used))
    if len(rows) <= CONTACTS_PER_FILE:
        columns = first + data_columns + last
        return {"contacts.csv": write_csv(columns, [[row.get(c, "") for c in columns] for row, _ in rows])}
    files = {}
    for k, start in enumerate(range(0, len(rows), CONTACTS_PER_FILE), 1):
        chunk = rows[start:start + CONTACTS_PER_FILE]
        used = sorted(set().union(*(u for _, u in chunk)), key=position.__getitem__)
        columns = first + used + last
        files[f"contacts-{k:03d}.csv"] = write_csv(columns, [[row.get(c, "") for c in columns] for row, _ in chunk])
    return files
