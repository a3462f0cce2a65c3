"""Scenarios: one lead, its events and what the policy must do to it.

The format (scenarios.json written by the fixtures target, and the files users keep next to a
policy as `NAME.scenarios.json` or `NAME.scenarios/*.json`):

    {"scenarios": [
      {"id": "lead.to.mql",
       "description": "…",                                   # optional
       "lead": {"id": "S001", "created": "2026-04-01T10:00:00+09:00", "stage": "lead",
                "properties": {…}, "events": {"pricing_page_view": 1}, "owner": "…"},
       "timeline": [{"at": "…", "type": "property_changed", "properties": {…}}, …],
       "until": "2026-04-02T10:00:00+09:00",                 # optional: judge deadlines as of then
       "expect": {"final_stage": "mql", "stages": [...], "deadlines": [...], …}}]}

Timeline events are the events of an events file without `lead` (it is the scenario's lead).
`expect` holds any subset of the keys of a simulated lead (see `report.lead_to_json`); each
key present is compared in full, the others are not checked.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..diagnostics import Diagnostic, Listing, Message
from ..ir import Policy
from ..source import Span
from .rules import INVALID_SCENARIO_FILE

FORMAT = "sla-scenarios/1"
MAX_SCENARIO_FILE_BYTES = 256 * 1024 * 1024  # generated for 1,000 stages: tens of MB
EXPECT_KEYS = ("final_stage", "owner", "stages", "deadlines", "follow_ups", "cadences", "escalations", "records",
               "handoffs", "scores", "priority", "created", "lead")


def scenario_events(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    """The scenario as events-file events: `lead_created` from its `lead`, then its timeline."""
    lead = scenario["lead"]
    lead_id = str(lead["id"])
    created: dict[str, Any] = {"at": lead["created"], "lead": lead_id, "type": "lead_created"}
    for key in ("stage", "properties", "events", "owner"):
        if lead.get(key) is not None:
            created[key] = lead[key]
    events = [created]
    for event in scenario.get("timeline", []):
        events.append({**event, "lead": lead_id} if isinstance(event, dict) else event)
    return events


def replay(policy: Policy, scenario: dict[str, Any], plan=None, path: str = "<scenario>", events=None):
    """The scenario's events (`scenario_events`, or `events` when already made from it) simulated."""
    from . import simulate_events
    from .engine import Plan, parse_timestamp

    plan = plan or Plan(policy)
    until = scenario.get("until")
    until_at = parse_timestamp(until, plan.zone) if isinstance(until, str) else None
    return simulate_events(policy, scenario_events(scenario) if events is None else events, path, until=until_at,
                           plan=plan)


class CarriedKpis:
    """The KPIs of scenarios replayed together (`targets.fixtures.replay_summary`), from the
    replay of each scenario on its own (`replay`) that `sla test` makes anyway.

    Leads never affect one another, and a scenario's replay is of one lead: finished at the end
    of the combined replay, it is that lead's part of it (firing a lead's timers up to its
    `until` and then up to a later moment fires the same ones as going there at once), reduced
    to its KPI contributions and added in the order the combined replay creates the leads (by
    the moment of creation, then scenario order: sums of floats depend on it). The
    generator's KPI summary is made the same way (`Generator._continue`). The end is the one the
    summary records, and is checked: `kpis()` is None where the result could differ from the
    combined replay (a lead id in two scenarios, an event not applied or out of time order, a
    scenario ending after that end, or the latest moment of all not being that end); the
    scenarios are then replayed together."""

    def __init__(self, policy: Policy, plan, end: Any) -> None:
        from .engine import parse_timestamp
        from .kpis import KpiTally

        self.zone = plan.zone
        self.end = parse_timestamp(end, plan.zone) if isinstance(end, str) else None
        self.tally = KpiTally(policy, plan) if self.end is not None else None
        self.kept: list[tuple[datetime, int, list]] = []  # (creation, scenario order, contributions)
        self.leads: set[str] = set()
        self.first: datetime | None = None
        self.latest: datetime | None = None

    def add(self, scenario: dict[str, Any], run, events=None) -> None:
        """The scenario (as read) and its replay, which this finishes at the end (`events`: its
        `scenario_events`, when already made)."""
        if self.tally is None:
            return
        from .engine import parse_timestamp

        lead_id = str(scenario["lead"]["id"])
        lead = run.sim.leads.get(lead_id)
        moments = []
        for event in scenario_events(scenario) if events is None else events:
            at = event.get("at") if isinstance(event, dict) else None
            moments.append(parse_timestamp(at, self.zone) if isinstance(at, str) else None)
        if (lead is None or lead_id in self.leads or len(run.sim.leads) != 1 or run.feed.skipped
                or None in moments or any(b < a for a, b in itertools.pairwise(moments))
                or run.end is None or run.end > self.end):
            self.tally = None  # replay them together
            self.kept = []
            return
        self.leads.add(lead_id)
        if run.first is not None and (self.first is None or run.first < self.first):
            self.first = run.first
        if self.latest is None or run.end > self.latest:
            self.latest = run.end
        run.sim.finish(self.end)
        self.kept.append((moments[0], len(self.kept), self.tally.contributions(lead)))

    def kpis(self) -> list[dict[str, Any]] | None:
        """`kpis_to_json` of the KPIs of all the scenarios added, or None (see the class)."""
        from .report import kpis_to_json

        if self.tally is None or self.latest != self.end:
            return None
        self.kept.sort(key=lambda item: item[:2])
        for *_, contributions in self.kept:
            self.tally.add_contributions(contributions)
        kpis = kpis_to_json(self.tally.results(self.first, self.end))
        self.tally = None  # added once
        return kpis


def simulated_lead(run, lead_id: str) -> dict[str, Any] | None:
    from .report import lead_to_json

    lead = run.sim.leads.get(str(lead_id))
    return lead_to_json(run.sim, lead) if lead is not None else None


def compare(expected: dict[str, Any], actual: dict[str, Any] | None) -> list[str]:
    """Differences between an `expect` block and a simulated lead, one line each."""
    if actual is None:
        return ["the lead was never created (see the diagnostics above)"]
    if expected == actual:  # what a generated scenario's expectation is: no walk to find nothing
        return []
    out: list[str] = []
    order = {key: i for i, key in enumerate(EXPECT_KEYS)}
    for key in sorted(expected, key=lambda k: (order.get(k, len(order)), k)):  # the telling ones first
        if key not in actual:
            out.append(f"{key}: expected {_short(expected[key])}, but the simulation has no `{key}`")
            continue
        _diff(key, expected[key], actual[key], out)
    if len(out) > MAX_DIFFERENCES:
        out = out[:MAX_DIFFERENCES] + ["… and more differences (each is shown once the ones above are fixed)"]
    return out


MAX_DIFFERENCES = 8


def _diff(path: str, want: Any, got: Any, out: list[str]) -> None:
    if len(out) > MAX_DIFFERENCES:
        return
    if isinstance(want, dict) and isinstance(got, dict):
        if path == "scores":  # a lead's JSON leaves out groups with 0 points
            want = {k: v for k, v in want.items() if v != 0 or k in got}
            got = {k: v for k, v in got.items() if v != 0 or k in want}
        for key in sorted(set(want) | set(got)):
            if key not in got:
                out.append(f"{path}.{key}: expected {_short(want[key])}, got nothing")
            elif key not in want:
                out.append(f"{path}.{key}: not expected, got {_short(got[key])}")
            else:
                _diff(f"{path}.{key}", want[key], got[key], out)
        return
    if isinstance(want, list) and isinstance(got, list):
        for i, (a, b) in enumerate(zip(want, got)):
            _diff(f"{path}[{i}]", a, b, out)
        if len(want) > len(got):
            for i in range(len(got), len(want)):
                out.append(f"{path}[{i}]: expected {_short(want[i])}, got nothing")
        elif len(got) > len(want):
            for i in range(len(want), len(got)):
                out.append(f"{path}[{i}]: not expected, got {_short(got[i])}")
        return
    if want != got:
        out.append(f"{path}: expected {_short(want)}, got {_short(got)}")


def _short(value: Any) -> str:
    """The whole value, as JSON on one line: a user copies it into a scenario, so it is never cut."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# ------------------------------------------------------------------ files


@dataclass
class ScenarioFile:
    path: str
    data: dict[str, Any] | None = None
    scenarios: list[dict[str, Any]] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # scenario id → line of its "id"
    diagnostics: list[Diagnostic] = field(default_factory=list)


def user_scenario_files(policy_path: Path) -> list[Path]:
    """Scenarios a user keeps next to a policy: NAME.scenarios.json and NAME.scenarios/*.json."""
    out = []
    single = policy_path.with_name(policy_path.stem + ".scenarios.json")
    if single.is_file():
        out.append(single)
    folder = policy_path.with_name(policy_path.stem + ".scenarios")
    if folder.is_dir():
        out.extend(sorted(p for p in folder.glob("*.json") if p.is_file()))
    return out


def load_scenario_file(path: Path, shown: str | None = None) -> ScenarioFile:
    shown = shown or path.as_posix()
    result = ScenarioFile(shown)

    def problem(message: str, line: int = 1, column: int = 1, help: str | None = None) -> None:
        result.diagnostics.append(Diagnostic(INVALID_SCENARIO_FILE, message, Span.point(shown, line, column), help=help))

    from ..source import TooLarge, read_limited

    try:
        text = read_limited(path, MAX_SCENARIO_FILE_BYTES).decode("utf-8-sig")
    except TooLarge as exc:
        problem(Message('the scenario file is too large: {describe}', describe=exc.describe()))
        return result
    except OSError as exc:
        problem(Message('cannot read the scenario file: {value}', value=exc.strerror or exc))
        return result
    except UnicodeDecodeError:
        problem(Message('the scenario file is not UTF-8 text'))
        return result
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem(Message('not JSON: {lower}', lower=exc.msg.lower()), exc.lineno, exc.colno)
        return result
    if isinstance(data, list):
        data = {"scenarios": data}
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), list):
        problem(Message('expected an object with a `scenarios` list (or a list of scenarios)'),
                help=Message('see targets/fixtures/scenarios.schema.json'))
        return result
    result.data = data
    lines = text.split("\n")
    index_of_ids = _id_lines(lines)
    seen: set[str] = set()
    for index, scenario in enumerate(data["scenarios"]):
        line = _line_of_scenario(lines, scenario, index, index_of_ids)
        where = f"scenario {index + 1}"
        if not isinstance(scenario, dict):
            problem(Message('{where} is not an object', where=where), line)
            continue
        sid = scenario.get("id")
        if not isinstance(sid, str) or not sid:
            problem(Message('{where} has no `id`', where=where), line, help=Message('give it a name: "id": "hot-lead-goes-to-mql"'))
            continue
        if sid in seen:
            problem(Message('two scenarios are called `{sid}`', sid=sid), line)
            continue
        seen.add(sid)
        errors = _shape_errors(scenario)
        if errors:
            for message in errors:
                problem(Message('scenario `{sid}`: {message}', sid=sid, message=message), line)
            continue
        result.scenarios.append(scenario)
        result.lines[sid] = line
    return result


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _id_lines(lines: list[str]) -> dict[str, int]:
    """Every JSON string on a line that has an `"id"`, as written → the first such line (one pass:
    looking each scenario up in the whole text would take time growing with the square of its size)."""
    out: dict[str, int] = {}
    for number, text in enumerate(lines, 1):
        if '"id"' in text:
            for token in _STRING.findall(text):
                out.setdefault(token, number)
    return out


def _line_of_scenario(lines: list[str], scenario: Any, index: int, id_lines: dict[str, int] | None = None) -> int:
    if isinstance(scenario, dict) and isinstance(scenario.get("id"), str):
        needle = json.dumps(scenario["id"], ensure_ascii=False)
        if id_lines is not None and needle in id_lines:
            return id_lines[needle]
        for number, text in enumerate(lines, 1):  # an id written differently (escapes): search
            if '"id"' in text and needle in text:
                return number
    return 1


def _shape_errors(scenario: dict[str, Any]) -> list[Message]:
    out = []
    lead = scenario.get("lead")
    if not isinstance(lead, dict):
        out.append(Message("`lead` must be an object with `id` and `created`"))
    else:
        if not isinstance(lead.get("id"), (str, int)) or isinstance(lead.get("id"), bool):
            out.append(Message("`lead.id` is missing"))
        if not isinstance(lead.get("created"), str) or _timestamp(lead["created"]) is None:
            out.append(Message("`lead.created` must be an ISO 8601 timestamp"))
        for key in ("properties", "events"):
            if key in lead and not isinstance(lead[key], dict):
                out.append(Message("`lead.{key}` must be an object", key=key))
    timeline = scenario.get("timeline", [])
    if not isinstance(timeline, list):
        out.append(Message("`timeline` must be a list of events"))
    if "until" in scenario and (not isinstance(scenario["until"], str) or _timestamp(scenario["until"]) is None):
        out.append(Message("`until` must be an ISO 8601 timestamp"))
    expect = scenario.get("expect")
    if not isinstance(expect, dict) or not expect:
        out.append(Message("`expect` must be an object naming what to check (e.g. `final_stage`)"))
    else:
        unknown = sorted(set(expect) - set(EXPECT_KEYS))
        if unknown:
            out.append(Message("unknown `expect` keys {unknown}; known: {known}", unknown=Listing(unknown, limit=len(unknown)),
                               known=Listing(EXPECT_KEYS, limit=len(EXPECT_KEYS), quote=False)))
    return out


def _timestamp(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
