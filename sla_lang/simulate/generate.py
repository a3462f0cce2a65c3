"""Generating fixture scenarios from a policy, and measuring what they cover.

For every transition, every recycle loop and both sides of every boundary (numeric thresholds
of transitions, score rules and priorities; group caps; deadlines and internal targets, also
across a weekend or holiday when they are in business time; escalations; follow-up steps;
timeouts; recycle records), the generator builds a lead:

1. it brings the lead into the stage concerned: a lead in an entry stage is created there; a
   lead for any other stage is created in the stage one transition before it, with data that
   keeps it there, and then takes that transition. Whether any data keeps a lead in a stage
   is decided by `checks.liveness.lead_can_wait`, the same decision SLA209/SLA211 make; an
   entry stage that no lead can wait in (its conditions cover every lead) creates the lead with
   data that takes the wanted transition at once (its data changes so that the condition
   becomes true — the solver finds the data), timed so the lead enters the stage at a chosen
   moment (the start of working hours, or just before a break). The stage before must itself
   be reachable that way from an entry stage, transition by transition. So a scenario is a few
   events long wherever the stage lies in the funnel and the fixtures grow linearly with the
   policy (see `Generator.canonical`);
2. it adds the events that exercise the item (a call exactly at the due time, one a minute
   later, …);
3. it runs the result through the simulator, checks that the intended thing happened (else
   the item is reported uncovered, with what happened instead), and stores the simulator's
   outcome as the expectation.

Timestamps come from the policy only (its effective date and calendars), never the clock, so
the output is the same on every run.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from .. import ir
from ..businesstime import BusinessCalendar, NoWorkingTime, add_duration
from ..source import Span
from . import Run
from .engine import Lead, Plan, Simulator, StagePlan, TransitionPlan, lead_view, moment_text, next_period, period_start
from .events import EventFeed
from .model import View, condition_text, value_to_json
from .report import lead_to_json, short_time
from .solver import Frozen, Holds, QuantityIs, Solver, leaves, shift, step_of

DELTA = timedelta(minutes=10)
_FIXTURE_PERSON = "fixture.rep"  # the person a scenario assigns a lead to (`owner_changed`)
MINUTE = timedelta(minutes=1)
MAX_LOOPS = 20
MAX_NEAREST = 60
# lead departures `leave` remembers (the most recent; a stage's boundaries ask for the same ones:
# `escalate … after 10bd on decide` leaves where `decide within 10bd` did)
LEAVES_KEPT = 64


# ------------------------------------------------------------------ results


@dataclass
class Scenario:
    id: str
    kind: str
    description: str
    events: list[dict[str, Any]]
    until: datetime | None
    sides: list[str] = field(default_factory=list)  # "boundary id:side" covered
    lead_id: str = ""
    expect: dict[str, Any] | None = None
    clauses: list[str] = field(default_factory=list)
    edges: list[dict[str, str]] = field(default_factory=list)
    final_stage: str | None = None  # where the lead is at the end (also in `expect`)
    kpi: tuple | None = None  # see Generator._continue
    packed: Any = None  # where `Generator.finished` put the scenario's encoded form, if it did


class _NoStage(Exception):
    """A scenario needs a lead, and the policy has no stage to put one in."""


@dataclass
class Boundary:
    id: str
    clause: str
    kind: str
    description: str
    span: Span
    sides: dict[str, str | None]  # side → scenario id (None: not covered)
    reason: str | None = None

    @property
    def covered(self) -> bool:
        return all(v is not None for v in self.sides.values()) and bool(self.sides)


class Builder:
    """A scenario under construction: one lead's events, simulated as they are added.

    `lead()` answers "what does the lead look like at `clock`" on a copy, so adding an event at
    the same moment afterwards still comes before the timers due then (as in a replay).
    """

    def __init__(self, gen: Generator, lead_id: str = "LEAD") -> None:
        self.gen = gen
        self.lead_id = lead_id
        self.events: list[dict[str, Any]] = []
        self.clock: datetime | None = None
        self.sim = Simulator(gen.policy, gen.plan)
        self.feed = EventFeed(self.sim, "<scenario>", None)
        self._view: tuple[int, datetime | None, Lead | None] | None = None

    def copy(self) -> Builder:
        other = Builder(self.gen, self.lead_id)
        other.events = list(self.events)  # event dicts are not changed after they are added
        other.clock = self.clock
        for lead_id, lead in self.sim.leads.items():
            other.sim.leads[lead_id] = lead.clone()
        other.sim.first_at, other.sim.last_at = self.sim.first_at, self.sim.last_at
        return other

    def add(self, at: datetime, kind: str, **fields: Any) -> None:
        event = {"at": self.gen.iso(at), "lead": self.lead_id, "type": kind, **fields}
        self.events.append(event)
        self.clock = at if self.clock is None or at > self.clock else self.clock
        self.feed.apply(event, len(self.events), "")

    def advance(self, at: datetime) -> None:
        self.clock = at if self.clock is None or at > self.clock else self.clock

    def lead(self) -> Lead:
        key = (len(self.events), self.clock)
        if self._view is None or self._view[:2] != key:
            live = self.sim.leads.get(self.lead_id)
            view = live.clone() if live is not None else None
            if view is not None:
                self.sim.advance(view, self.clock, inclusive=True)
            self._view = (key[0], key[1], view)
        return self._view[2]

    def shifted(self, delta: timedelta) -> Builder:
        """The same events, `delta` later (simulated afresh: business time may differ)."""
        other = Builder(self.gen, self.lead_id)
        for event in self.events:
            at = datetime.fromisoformat(event["at"]) + delta
            fields = {k: v for k, v in event.items() if k not in ("at", "lead", "type")}
            other.add(at, event["type"], **fields)
        other.advance(self.clock + delta)
        return other


def load_words(lang: str) -> dict[str, str]:
    from ..resources import target_dir

    with open(target_dir("fixtures") / "descriptions.toml", "rb") as handle:
        data = tomllib.load(handle)
    return data.get(lang) or data["en"]


# ------------------------------------------------------------------ the generator


class Generator:
    def __init__(self, policy: ir.Policy, lang: str | None = None) -> None:
        self.policy = policy
        self.plan = Plan(policy)
        self.model = self.plan.model
        self.solver = Solver(policy)
        from ..checks import CheckContext

        self._checks = CheckContext(policy)  # the facts the checks derive, shared with them
        self.lang = lang if lang in ir.LANGUAGES else policy.language
        self.words = load_words(self.lang)
        self.zone = self.plan.zone
        self.scenarios: list[Scenario] = []
        self._by_events: dict[bytes, Scenario] = {}
        self._ids: set[str] = set()
        self.boundaries: list[Boundary] = []
        self.transition_reasons: dict[str, str] = {}
        self.loops: list[dict[str, Any]] = []  # {"loop": "a>b>a", "covered_by": [...]} or {"loop", "reason"}
        self._routes: dict[str, list[TransitionPlan] | str] = {}
        self._offsets: dict[str, timedelta] = {}
        self._canonical: dict[str, Builder | str] = {}
        self._starts: dict[str, Builder | str] = {}
        self._filler: dict[str, Any] | None = None
        self._reached: dict[tuple[str, datetime], Builder | str] = {}
        self._left: dict[tuple, tuple[tuple, str | None, Builder | None, int]] = {}  # see leave
        self._names: dict[str, str] = {}  # see _finish_one
        self._business: dict[str, bool] = {}  # stage id → whether it counts business time (see _finish_one)
        self._breaks: dict[tuple[int, date], tuple[date, tuple[date, ...]] | None] = {}  # see break_entry
        self._dist = self._distances()
        self._order = {s.id: i for i, s in enumerate(policy.stages)}
        self._incoming = self._incoming_transitions()
        self._bfs = sorted(self._dist, key=lambda s: (self._dist[s], self._order[s]))  # the order of `canonical`
        self._next = 0
        self._sources = {t.clause: s.id for s in self.plan.stages.values() for t in s.transitions}
        self.effective = (policy.agreement.effective.value
                          if policy.agreement is not None and policy.agreement.effective is not None
                          else date(2026, 1, 1))
        self._canon_start = datetime.combine(self.effective, time(), tzinfo=self.zone)
        # called with each scenario once it is complete (its expectation, clauses and edges no
        # longer change): the fixtures target encodes it then and lets go of what only the
        # encoded text needs (expectation, description, sides)
        self.finished: Callable[[Scenario], None] | None = None
        # False: a finished scenario keeps only its first event (contacts.csv reads it); the
        # fixtures target does so once `finished` has written the scenario's text
        self.keep_events = True
        # set (to an empty KpiTally) to have `kpi_replay` without replaying the scenarios
        self.kpi_tally = None
        self._horizon: datetime | None = None

    # ------------------------------------------------------------------ small helpers
    def iso(self, at: datetime) -> str:
        return moment_text(self.plan, at)  # (self.zone is the plan's)

    def local(self, at: datetime) -> str:
        return short_time(self.iso(at))

    def w(self, key: str, **values: Any) -> str:
        return self.words[key].format(**values)

    def label(self, stage_id: str) -> str:
        stage = self.policy.stage_by_id.get(stage_id)
        return stage.label if stage is not None else stage_id

    def view(self, values: dict[str, Any]) -> View:
        return View(values, self.model)

    def holds(self, condition: ir.Condition, values: dict[str, Any]) -> bool:
        return self.model.compile(condition)(self.view(values))

    def _distances(self) -> dict[str, int]:
        entries = [s.id for s in self.policy.stages if s.is_entry] or (
            [self.plan.default_entry] if self.plan.default_entry else [])
        dist = {e: 0 for e in entries}
        frontier = list(entries)
        while frontier:
            nxt = []
            for stage_id in frontier:
                for t in self.plan.stages[stage_id].transitions:
                    if t.target not in dist:
                        dist[t.target] = dist[stage_id] + 1
                        nxt.append(t.target)
            frontier = nxt
        return dist

    def _incoming_transitions(self) -> dict[str, list[TransitionPlan]]:
        """Per stage, the transitions into it from stages nearer an entry stage, nearest first."""
        dist, order = self._dist, self._order
        out: dict[str, list[TransitionPlan]] = {}
        for s in self.plan.stages.values():
            if s.id not in dist:
                continue
            for t in s.transitions:
                if t.target in dist and dist[s.id] < dist[t.target]:
                    out.setdefault(t.target, []).append(t)
        for items in out.values():
            items.sort(key=lambda t: (dist[t.transition.source], order[t.transition.source], t.index))
        return out

    def calendar_of(self, stage_id: str) -> BusinessCalendar | None:
        return self.plan.stages[stage_id].calendar

    def working_start(self, calendar: BusinessCalendar | None, day: date) -> datetime:
        """An hour after the first opening on or after `day` (10:00 for 09:00–18:00)."""
        if calendar is None or not calendar.periods or not calendar.weekdays:
            return datetime.combine(day, time(10, 0), tzinfo=self.zone)
        for _ in range(400):
            periods = calendar.working_periods_on(day)
            if periods:
                start, end = periods[0]
                return start + min(timedelta(hours=1), (end - start) / 2)
            day += timedelta(days=1)
        return datetime.combine(day, time(10, 0), tzinfo=self.zone)

    def route_offset(self, stage_id: str) -> timedelta:
        """How long the route from creation to entering `stage_id` takes (so leads are created on or
        after the agreement's effective date)."""
        if stage_id not in self._offsets:
            self._offsets[stage_id] = timedelta()
            canon = self.canonical(stage_id)
            if isinstance(canon, Builder):
                lead = canon.lead()
                self._offsets[stage_id] = max(_entry(lead, stage_id) - lead.created, timedelta())
        return self._offsets[stage_id]

    def ordinary_entry(self, stage_id: str) -> datetime:
        earliest = datetime.combine(self.effective, time(), tzinfo=self.zone) + self.route_offset(stage_id)
        return self.working_start(self.calendar_of(stage_id), earliest.date())

    def break_entry(self, stage_id: str) -> tuple[datetime, str] | None:
        """Thirty working minutes before the first break with a day off (else a weekend)."""
        calendar = self.calendar_of(stage_id)
        if calendar is None:
            return None
        earliest = (datetime.combine(self.effective, time(), tzinfo=self.zone) + self.route_offset(stage_id)).date()
        # the same for every stage of a calendar whose route takes as long (a search of up to
        # a year of days per call: remembered)
        key = (id(calendar), earliest)
        if key not in self._breaks:
            self._breaks[key] = calendar.next_break(earliest) or calendar.next_break(earliest, with_day_off=False)
        found = self._breaks[key]
        if found is None:
            return None
        day, off = found
        periods = calendar.working_periods_on(day)
        start, end = periods[-1]
        entry = end - min(timedelta(minutes=30), (end - start) / 2)
        return entry, self._pause_text(calendar, off)

    def _pause_text(self, calendar: BusinessCalendar, off: tuple[date, ...]) -> str:
        for day in off:
            reason = calendar.closed_reason(day)
            if reason == "holiday":
                name = calendar.holiday_name(day, self.lang) or ""
                return self.w("pause_holiday", name=name, day=day.isoformat())
            if reason == "closed":
                return self.w("pause_closed", day=day.isoformat())
        return self.w("pause_weekend")

    # ------------------------------------------------------------------ lead data
    def sample_value(self, name: str) -> Any:
        prop = self.policy.property_by_id.get(name)
        if prop is None:
            return None
        if prop.type == "enum":
            return prop.options[0].value if prop.options else None
        if prop.type == "bool":
            return True
        if prop.type == "number":
            return 1
        if prop.type == "date":
            return self.effective
        if prop.type == "datetime":
            return datetime.combine(self.effective, time(9, 0), tzinfo=self.zone)
        return "fixture"

    def json_value(self, name: str, value: Any) -> Any:
        prop = self.policy.property_by_id.get(name)
        if prop is not None and prop.type == "datetime" and isinstance(value, date) and not isinstance(value, datetime):
            value = datetime.combine(value, time(), tzinfo=self.zone)
        return value_to_json(value)

    def filler_values(self) -> dict[str, Any]:
        """Text properties that hand-offs include but no condition reads: filled, so hand-offs are complete.
        (Worked out once per policy: it reads every stage and condition.)"""
        if self._filler is None:
            self._filler = self._filler_values()
        return dict(self._filler)

    def _filler_values(self) -> dict[str, Any]:
        read = set(self.solver.domains) & {r.name for c, _ in self.policy.conditions() for r in ir.condition_refs(c)}
        out = {}
        for stage in self.policy.stages:
            if stage.handoff is None:
                continue
            for name in stage.handoff.include:
                prop = self.policy.property_by_id.get(name.name)
                if prop is not None and prop.type == "text" and prop.id not in read:
                    out[prop.id] = "fixture"
        return out

    def idle_values(self, stage_id: str, extra: list | None = None,
                    like: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Data for a new lead that stays in `stage_id` (no transition fires at creation), as close to
        `like` as it can be."""
        constraints = [Holds(t.transition.condition, False) for t in self.plan.stages[stage_id].transitions
                       if t.condition is not None]
        constraints += extra or []
        values = self.solver.solve({**self.filler_values(), **(like or {})}, constraints)
        return values

    def create(self, b: Builder, stage_id: str, values: dict[str, Any], at: datetime) -> None:
        properties = {k: self.json_value(k, v) for k, v in sorted(values.items()) if k in self.policy.property_by_id}
        events = {k: v for k, v in sorted(values.items()) if k in self.policy.event_by_id and v}
        fields: dict[str, Any] = {"stage": stage_id}
        if properties:
            fields["properties"] = properties
        if events:
            fields["events"] = events
        b.add(at, "lead_created", **fields)

    def emit(self, b: Builder, before: dict[str, Any], after: dict[str, Any], at: datetime,
             also: dict[str, Any] | None = None) -> None:
        """Events that turn the lead's data `before` into `after` (properties first, then events)."""
        props: dict[str, Any] = {}
        for name in sorted(set(before) | set(after)):
            if name in self.policy.property_by_id and before.get(name) != after.get(name):
                props[name] = self.json_value(name, after.get(name))
        for name, value in (also or {}).items():
            props[name] = self.json_value(name, value)
        if props:
            b.add(at, "property_changed", properties=dict(sorted(props.items())))
        for name in sorted(after):
            if name in self.policy.event_by_id:
                increase = after.get(name, 0) - before.get(name, 0)
                if increase > 0:
                    b.add(at, "event_occurred", event=name, count=increase)
        events = self.policy.event_by_id
        if not props and not any(after.get(n, 0) != before.get(n, 0) for n in (*before, *after) if n in events):
            b.advance(at)

    def solve_change(self, before: dict[str, Any], constraints: list, fixed: dict[str, Any],
                     soft: list | None = None) -> dict[str, Any] | None:
        """New lead data meeting `constraints`: changing properties only if possible, else one event, else both."""
        return self.solver.change(before, constraints, fixed, soft)

    def guards(self, stage: StagePlan, values: dict[str, Any], at: datetime, lead: Lead, skip: int | None = None,
               only_before: int | None = None) -> list[Holds]:
        """Constraints that keep the stage's other transitions from becoming true at `at`."""
        out = []
        for u in stage.transitions:
            if u.condition is None or u.index == skip:
                continue
            if only_before is not None and u.index > only_before:
                continue
            due = lead.timeout_due.get(u.index)
            if u.after is not None and (due is None or at < due):
                continue
            if self.holds(u.transition.condition, values):
                continue
            out.append(Holds(u.transition.condition, False))
        return out

    def chain_guards(self, target: str, values: dict[str, Any]) -> list[Holds]:
        return [Holds(w.transition.condition, False) for w in self.plan.stages[target].transitions
                if w.condition is not None and not self.holds(w.transition.condition, values)]

    # ------------------------------------------------------------------ moving a lead
    def respond_first(self, b: Builder, before: datetime | None = None) -> None:
        """Log a call in the current stage when it has a respond deadline or a follow-up (a tidy route)."""
        lead = b.lead()
        stage = self.plan.stages[lead.stage].stage
        respond = stage.deadline("respond")
        if respond is None and stage.follow_up is None:
            return
        visit = lead.visits[-1]
        at = max(b.clock, visit.entered) + timedelta(minutes=5)
        if before is not None and at >= before:
            return
        # a response of the kind the deadline asks for (`via email`), a call otherwise
        # (`via call when …, email otherwise`: the kind chosen for this lead as it entered the stage)
        record = next((r for r in lead.open_deadlines if r.kind == "respond"), None)
        meets = [k for k in respond.meets if k in record.meets] if respond is not None and record is not None else []
        if respond is not None and record is not None and not meets:
            meets = [k for k in ir.ACTIVITY_KINDS if k in record.meets]
        b.add(at, "activity_logged", activity=meets[0] if meets else respond.meets[0] if respond is not None else "call")

    def take(self, b: Builder, tp: TransitionPlan, *, at: datetime | None = None, with_record: bool = True,
             extra: list | None = None, fixed: dict[str, Any] | None = None, respond: bool = True) -> str | None:
        """Make the lead take `tp` (at `at`, or as soon as possible). Returns why not, or None."""
        lead = b.lead()
        if tp.condition is None and tp.after is None:
            # no condition: taken the moment the lead entered the source stage, or never
            if lead.visits[-1].via == tp.clause or any(
                    v.via == tp.clause and v.entered == lead.visits[-1].entered for v in lead.visits):
                return None
            return f"`{tp.clause}` is taken as soon as the lead enters `{tp.transition.source}`"
        if lead.stage != tp.transition.source:
            return f"the lead is in `{lead.stage}`, not in `{tp.transition.source}`"
        stage = self.plan.stages[lead.stage]
        visits_before = len(lead.visits)
        due = lead.timeout_due.get(tp.index)
        if respond:
            self.respond_first(b, before=at if at is not None else (due if tp.condition is None else None))
            lead = b.lead()
        if tp.condition is None:
            if tp.after is None:
                return "it is taken as soon as the lead enters the stage"
            if due is None:
                return f"its timeout ({tp.after.text}) cannot be computed"
            b.advance(due)
        else:
            when = at if at is not None else b.clock + DELTA
            if due is not None and when < due:
                if at is not None:
                    return f"`{tp.clause}` cannot fire before its `after {tp.after.text}`"
                when = due
            before = dict(lead.values)
            record = {n: self.sample_value(n) for n in tp.record} if with_record else {}
            fixed = {**record, **(fixed or {})}
            flipped = self.make_false(b, tp, before, when, fixed)
            if isinstance(flipped, str):
                return flipped
            before, when = flipped
            constraints = [Holds(tp.transition.condition, True)]
            constraints += self.guards(stage, before, when, lead, skip=tp.index, only_before=tp.index)
            constraints += extra or []
            after = self.solve_change(before, constraints, fixed, soft=self.chain_guards(tp.target, before))
            if after is None:
                return (f"no lead data makes `{condition_text(tp.transition.condition)}` true while the earlier "
                        f"transitions of `{tp.transition.source}` stay false")
            self.emit(b, before, after, when, also=record)
        return self.took(b, tp, visits_before)

    def make_false(self, b: Builder, tp: TransitionPlan, before: dict[str, Any], when: datetime,
                   fixed: dict[str, Any] | None = None) -> tuple[dict[str, Any], datetime] | str:
        """A condition that is already true cannot *become* true: make it false first (by a property
        change that moves the lead nowhere), one minute before the change that makes it true."""
        condition = tp.transition.condition
        if not self.holds(condition, {**before, **(fixed or {})}):
            return before, when
        lead = b.lead()
        stage = self.plan.stages[lead.stage]
        flip = self.solver.solve(before, [Holds(condition, False)] + self.guards(stage, before, when, lead),
                                 frozen=Frozen(self.policy, set(fixed or ()), events=True))
        if flip is None:
            return f"`{condition_text(condition)}` is already true and cannot be made false first"
        self.emit(b, before, flip, when)
        return flip, when + MINUTE

    def took(self, b: Builder, tp: TransitionPlan, visits_before: int) -> str | None:
        lead = b.lead()
        for visit in lead.visits[visits_before:]:
            if visit.via == tp.clause:
                return None
        moved = [v.via or v.stage for v in lead.visits[visits_before:]]
        if moved:
            return f"the simulated lead took `{moved[0]}` instead"
        return f"the simulated lead stayed in `{lead.stage}`"

    def can_wait(self, stage_id: str) -> bool:
        """Whether some lead data keeps a lead in `stage_id`: the decision the checks make."""
        from ..checks.liveness import lead_can_wait

        return lead_can_wait(self._checks, self.policy.stage_by_id[stage_id])

    def covered(self, stage_id: str) -> bool:
        """No lead waits in `stage_id` because its conditions cover every lead (a stage left through
        a transition without condition is passed through as before: the lead moves on by itself)."""
        stage = self.plan.stages[stage_id]
        return not self.can_wait(stage_id) and not any(t.condition is None and t.after is None for t in stage.transitions)

    def through_values(self, tp: TransitionPlan) -> dict[str, Any] | None:
        """Data for a new lead in `tp`'s source that takes `tp` the moment it is created: `tp`'s
        condition true, the conditions of the transitions before it false."""
        if tp.after is not None or tp.condition is None:
            return None
        stage = self.plan.stages[tp.transition.source]
        constraints = [Holds(tp.transition.condition, True)]
        constraints += [Holds(u.transition.condition, False) for u in stage.transitions
                        if u.index < tp.index and u.condition is not None and u.after is None]
        return self.solver.solve(self.filler_values(), constraints)

    def start(self, stage_id: str) -> Builder | str:
        """A lead created in `stage_id` with data that keeps it there, at the start of the effective
        date: where every route begins (see `canonical`). Built once; copy it to add events.
        Past the entry stages it is only used once `stage_id` itself has been reached."""
        found = self._starts.get(stage_id)
        if found is None and self.covered(stage_id):
            found = self._starts[stage_id] = f"every lead leaves `{stage_id}` at once: its transitions cover every lead"
        if found is None:
            # past the entry stages: the data of a lead that came into the stage (a lead created
            # in the SQL stage has the score of an SQL), changed only where that would move it on
            arrived = self._canonical.get(stage_id) if self._dist.get(stage_id) else None
            like = arrived.lead().values if isinstance(arrived, Builder) and arrived.lead().stage == stage_id else None
            values = self.idle_values(stage_id, like=like)
            if values is None:
                found = f"no lead data keeps a new lead in `{stage_id}`"
            else:
                found = Builder(self)
                self.create(found, stage_id, values, self._canon_start)
            self._starts[stage_id] = found
        return found

    def canonical(self, stage_id: str) -> Builder | str:
        """A lead that has just entered `stage_id` (built once, shifted in time by `reach`), or why
        there is none. The lead may have moved on at once through a transition without condition
        (see `passing`).

        An entry stage: the lead is created there. Any other stage: the lead is created in the
        stage one transition before it and takes that transition, so it enters the stage the way
        the policy says (hand-off, owner, records) while every scenario stays a few events long
        however deep the stage lies in the funnel. The stage before must itself be reachable from
        an entry stage in the same way, so a stage counts as reachable only when a chain of
        workable transitions leads there. Only when no new lead can wait in the stage before (or
        the transition cannot be taken from a new one) does the lead come from further back: along
        the route that reached the stage before."""
        if stage_id not in self._canonical:
            if stage_id not in self._dist:
                return "no entry stage leads to it"
            # every stage nearer an entry stage first, in order (iteratively: a policy may have
            # thousands of stages in a row, too many for recursion)
            limit = self._dist[stage_id]
            while self._next < len(self._bfs) and self._dist[self._bfs[self._next]] <= limit:
                other = self._bfs[self._next]
                self._next += 1
                if other not in self._canonical:
                    self._canonical[other] = self._canonical_one(other)
        return self._canonical[stage_id]

    def _canonical_one(self, stage_id: str) -> Builder | str:
        if self._dist[stage_id] == 0:
            found = self.start(stage_id)
            if isinstance(found, Builder):
                self._routes[stage_id] = []
            return found
        reasons = []
        incoming = self._incoming.get(stage_id, [])
        for tp in incoming:
            source = tp.transition.source
            reached = self._canonical[source]
            if isinstance(reached, str) and self._dist.get(source) == 0 and self.covered(source):
                # no lead waits in this entry stage: one is created there taking `tp` at once
                through = self.build([tp], self._canon_start)
                if isinstance(through, Builder) and _entry(through.lead(), stage_id) is not None:
                    self._routes[stage_id] = [tp]
                    return through
                reasons.append(f"via `{tp.clause}`: {through if isinstance(through, str) else 'not taken at creation'}")
                continue
            if isinstance(reached, str):
                reasons.append(f"`{source}` cannot be reached ({reached})")
                continue
            attempts: list[tuple[list[TransitionPlan], Builder]] = []
            fresh = self.start(source)
            if isinstance(fresh, Builder):
                attempts.append(([], fresh))
            if reached is not fresh:
                attempts.append((self._routes[source], reached))
            problem = None
            for route, there in attempts:
                b = there.copy()
                lead = b.lead()
                if any(v.via == tp.clause for v in lead.visits) and _entry(lead, stage_id) is not None:
                    problem = None  # taken automatically on the way
                elif lead.stage != source:
                    problem = f"the lead does not stay in `{source}`"
                else:
                    problem = self.take(b, tp)
                if problem is None:
                    self._routes[stage_id] = route + [tp]
                    return b
            reasons.append(f"via `{tp.clause}`: {problem}")
        return "; ".join(reasons) or "no transition leads to it"

    def passing(self, stage_id: str) -> bool:
        """The lead leaves `stage_id` the moment it enters (a transition without condition)."""
        canon = self.canonical(stage_id)
        return isinstance(canon, Builder) and canon.lead().stage != stage_id

    def route(self, stage_id: str) -> list[TransitionPlan] | str:
        """The transitions a scenario's lead takes to enter `stage_id`: none for an entry stage,
        usually one (from the stage before, where the lead is created)."""
        built = self.canonical(stage_id)
        return built if isinstance(built, str) else self._routes[stage_id]

    def build(self, route: list[TransitionPlan], start: datetime, first: str | None = None) -> Builder | str:
        stage_id = route[0].transition.source if route else first
        through = False
        b = Builder(self)
        covered = self.covered(stage_id)
        values = None if covered else self.idle_values(stage_id)
        if values is None and route and covered:
            # nobody waits here: the lead is created with data that takes the route's first step
            values = self.through_values(route[0])
            if values is None:
                return f"no lead data takes `{route[0].clause}` the moment a lead is created in `{stage_id}`"
            self.create(b, stage_id, values, start)
            if not any(v.via == route[0].clause for v in b.lead().visits):
                return self.took(b, route[0], 0) or f"`{route[0].clause}` is not taken at creation"
            route, through = route[1:], True
        elif values is None:
            return f"no lead data keeps a new lead in `{stage_id}`"
        else:
            self.create(b, stage_id, values, start)
        if not route and not through and b.lead().stage != stage_id:
            return f"a new lead in `{stage_id}` moves on at once"
        for tp in route:
            lead = b.lead()
            if any(v.via == tp.clause for v in lead.visits[1:]) and lead.stage == tp.target:
                continue  # already taken automatically
            problem = self.take(b, tp)
            if problem:
                return problem
        return b

    def reach(self, stage_id: str, at: datetime, stay: bool = True) -> Builder | str:
        """A lead that enters `stage_id` at `at` (as near as business time allows). A copy: add freely.

        With `stay`, the lead must still be in the stage (not moved on through a transition
        without condition)."""
        if stay and self.passing(stage_id):
            moved = next((t.clause for t in self.plan.stages[stage_id].transitions
                          if t.condition is None and t.after is None), "")
            return f"a lead never stays in `{stage_id}`: `{moved}` moves it on at once"
        key = (stage_id, at)
        if key not in self._reached:
            found = self._reached[key] = self._reach(stage_id, at)
            if isinstance(found, Builder):
                found._view = None  # only copied from now on: a second lead per kept builder is not needed
        found = self._reached[key]
        return found.copy() if isinstance(found, Builder) else found

    def _reach(self, stage_id: str, at: datetime) -> Builder | str:
        canon = self.canonical(stage_id)
        if isinstance(canon, str):
            return canon
        shifted = canon.shifted(at - _entry(canon.lead(), stage_id))
        if _entry(shifted.lead(), stage_id) == at:
            return shifted
        # business time inside the route made the shift inexact: build it again from the start
        route = self._routes[stage_id]
        built = self.build(route, self._creation_for(route, stage_id, at))
        if isinstance(built, str):
            return built
        if _entry(built.lead(), stage_id) is None:
            return f"the lead does not reach `{stage_id}`"
        return built

    def _creation_for(self, route: list[TransitionPlan], stage_id: str, at: datetime) -> datetime:
        dry = self.build(route, at)
        entered = _entry(dry.lead(), stage_id) if isinstance(dry, Builder) else None
        return at if entered is None else at - (entered - at)

    # ------------------------------------------------------------------ registering scenarios
    def register(self, kind: str, sid: str, description: str, b: Builder, sides: list[str]) -> Scenario:
        # the same events twice are one scenario; kept as a digest of their JSON (the JSON of
        # every scenario's events would be a second copy of them)
        key = hashlib.blake2b(_events_key([b.events, self.iso(b.clock) if b.clock else None]), digest_size=16).digest()
        existing = self._by_events.get(key)
        if existing is not None:
            existing.sides.extend(s for s in sides if s not in existing.sides)
            return existing
        unique = sid
        n = 2
        while unique in self._ids:
            unique = f"{sid}~{n}"
            n += 1
        self._ids.add(unique)
        scenario = Scenario(unique, kind, description, [dict(e) for e in b.events], b.clock, list(sides))
        self.scenarios.append(scenario)
        self._by_events[key] = scenario
        return scenario

    def side(self, boundary: Boundary, name: str, scenario: Scenario | None, reason: str | None = None) -> None:
        if scenario is not None:
            boundary.sides[name] = scenario.id
            tag = f"{boundary.id}:{name}"
            if tag not in scenario.sides:
                scenario.sides.append(tag)
        else:
            boundary.sides[name] = None
            if self.solver.exhausted is not None:
                reason = "the search for lead data used up its budget (SLA879)"
            if reason and boundary.reason is None:
                boundary.reason = reason

    # ------------------------------------------------------------------ generation
    def generate(self) -> None:
        for stage in self.policy.stages:
            for t in self.plan.stages[stage.id].transitions if stage.id in self.plan.stages else ():
                self.transition_scenario(t)
        self.loop_scenarios()
        for stage in self.policy.stages:
            if stage.id not in self.plan.stages:
                continue
            plan = self.plan.stages[stage.id]
            for t in plan.transitions:
                if t.condition is not None:
                    for leaf in leaves(t.transition.condition):
                        if _numeric_leaf(leaf, self.policy):
                            self.threshold_boundary(t, leaf)
                if t.after is not None:
                    self.timeout_boundary(t)
                if t.record:
                    self.record_boundary(t)
            if stage.handoff is not None and stage.handoff.within is not None:
                self.handoff_boundaries(plan, stage.handoff)
            for d in stage.deadlines:
                self.deadline_boundaries(plan, d)
                if d.via_when or (d.via and len(d.meets) < len(ir.ACTIVITY_KINDS)):
                    self.via_boundary(plan, d)
            for step in stage.steps if stage.deadline("respond") is not None else ():
                self.step_boundaries(plan, step)
            for e in stage.escalations:
                self.escalation_boundaries(plan, e)
            if stage.follow_up is not None:
                self.follow_up_boundaries(plan, stage.follow_up)
            for c in stage.cadences:
                self.cadence_boundaries(plan, c)
        for model in self.policy.scores:
            for group in model.groups:
                for n, rule in enumerate(group.rules):
                    for leaf in leaves(rule.condition):
                        if _numeric_leaf(leaf, self.policy) and leaf.left.name not in self.policy.score_by_id:
                            self._with_a_stage(self.score_rule_boundary, model, group, rule, leaf)
                self._with_a_stage(self.cap_boundary, model, group)
        for priority in self.policy.priorities:
            if priority.condition is not None:
                for leaf in leaves(priority.condition):
                    if _numeric_leaf(leaf, self.policy):
                        self._with_a_stage(self.priority_boundary, priority, leaf)
        for block in self.policy.information:
            for item in block.items:
                if item.anchor is not None and item.within is not None and item.recorded_in is not None:
                    self.duty_boundaries(item)
        self.entry_scenarios()
        self.finish()
        self.fill_clauses()

    def _with_a_stage(self, method, *args) -> None:
        """Run a boundary method that creates new leads; a policy without stages has nowhere
        to create them, and its boundaries are reported as not covered, with the reason."""
        first = len(self.boundaries)
        try:
            method(*args)
        except _NoStage:
            for boundary in self.boundaries[first:]:
                boundary.reason = boundary.reason or "the policy has no stage a lead can be in"
                if not boundary.sides:
                    boundary.sides["inside"] = None

    # ---- transitions and loops
    def transition_scenario(self, tp: TransitionPlan) -> None:
        t = tp.transition
        source = t.source
        if self._dist.get(source) == 0 and self.covered(source) and tp.condition is not None:
            # an entry stage no lead waits in: create the lead with data that takes `tp` at once
            b = self.build([tp], self.ordinary_entry(source))
            if isinstance(b, str):
                self.transition_reasons[tp.clause] = b
                return
            self.register("transition", tp.clause, self.transition_text(tp), b, [])
            return
        route = self.route(source)
        if isinstance(route, str):
            self.transition_reasons[tp.clause] = f"`{source}` cannot be reached: {route}"
            return
        automatic = tp.condition is None and tp.after is None
        b = self.reach(source, self.ordinary_entry(source), stay=not automatic)
        if isinstance(b, str):
            self.transition_reasons[tp.clause] = b
            return
        if automatic:
            if not any(v.via == tp.clause for v in b.lead().visits):
                self.transition_reasons[tp.clause] = self.took(b, tp, 0) or "an earlier transition wins"
                return
            self.register("transition", tp.clause, self.transition_text(tp), b, [])
            return
        problem = self.take(b, tp)
        if problem:
            self.transition_reasons[tp.clause] = problem
            return
        self.register("transition", tp.clause, self.transition_text(tp), b, [])

    def chained_scenario(self, into: str, out: str) -> Scenario | str:
        """A lead whose data meets `into` and, in the stage it moves the lead into, `out` at the
        same moment, so that the agreement moves it through both at once (the chained move the
        HubSpot target reports as SLA841 where its workflows cannot follow it): a lead waiting in
        `into`'s source changed by one update that makes both conditions true, else — when one
        update cannot (a score that only events raise, and an event changes nothing else) — a
        lead created there with such data (at creation every condition that holds has just become
        true). Registered as a scenario of kind `chain`; the reason as text when neither works."""
        first, second = self._plan_of(into), self._plan_of(out)
        if first is None or second is None or first.condition is None or second.condition is None:
            return f"`{into}` and `{out}` are not two transitions with conditions"
        if second.transition.source != first.target:
            return f"`{out}` does not leave `{first.target}`, the stage `{into}` moves a lead into"
        both = [Holds(first.transition.condition, True), Holds(second.transition.condition, True)]
        # the exits of the stage in between that come before `out` must not be taken instead
        between = [Holds(u.transition.condition, False) for u in self.plan.stages[first.target].transitions
                   if u.index < second.index and u.condition is not None and u.after is None]
        record = {n: self.sample_value(n) for n in (*first.record, *second.record)}
        reasons = []
        for attempt in (self._chained_by_update, self._chained_at_creation):
            b = attempt(first, both + between, record)
            if isinstance(b, str):
                reasons.append(b)
                continue
            lead = b.lead()
            moment = lead.visits[-1].entered
            moved = [v.via for v in lead.visits if v.entered == moment and v.via]
            if [into, out] != moved[-2:] or moved.index(into) != len(moved) - 2:
                reasons.append(f"the simulated lead took {', '.join(f'`{m}`' for m in moved) or 'nothing'}")
                continue
            b.advance(moment + timedelta(days=1))
            return self.register("chain", f"chain:{into}+{out}",
                                 f"{self.transition_text(first)} {self.transition_text(second)}", b, [])
        return "; ".join(reasons)

    def _chained_by_update(self, first: TransitionPlan, constraints: list, record: dict[str, Any]) -> Builder | str:
        source = first.transition.source
        b = self.reach(source, self.ordinary_entry(source))
        if isinstance(b, str):
            return b
        lead = b.lead()
        stage = self.plan.stages[source]
        when = b.clock + DELTA
        before = dict(lead.values)
        conditions = [c.condition for c in constraints[:2]]
        if any(self.holds(c, before) for c in conditions):
            # both conditions must *become* true with the change: false first, the lead staying put
            flip = self.solver.solve(before, [Holds(c, False) for c in conditions] + self.guards(stage, before, when, lead),
                                     frozen=Frozen(self.policy, set(), events=True))
            if flip is None:
                return f"the conditions cannot be made false first in `{source}`"
            self.emit(b, before, flip, when)
            before, when = flip, when + MINUTE
        guards = self.guards(stage, before, when, b.lead(), skip=first.index, only_before=first.index)
        after = self.solve_change(before, constraints + guards, record)
        if after is None:
            return "no one update of the lead's data makes both conditions true"
        events = len(b.events)
        self.emit(b, before, after, when, also=record)
        if len(b.events) != events + 1:  # properties and an event: two changes, not one
            return "no one update of the lead's data makes both conditions true"
        return b

    def _chained_at_creation(self, first: TransitionPlan, constraints: list, record: dict[str, Any]) -> Builder | str:
        source = first.transition.source
        if self._dist.get(source) != 0:
            return f"`{source}` is not an entry stage"
        stage = self.plan.stages[source]
        earlier = [Holds(u.transition.condition, False) for u in stage.transitions
                   if u.index < first.index and u.condition is not None and u.after is None]
        values = self.solver.solve({**self.filler_values(), **record}, constraints + earlier, frozen=set(record))
        if values is None:
            return f"no new lead in `{source}` meets both conditions"
        b = Builder(self)
        self.create(b, source, values, self.ordinary_entry(source))
        return b

    def _plan_of(self, clause: str) -> TransitionPlan | None:
        return next((t for plan in self.plan.stages.values() for t in plan.transitions if t.clause == clause), None)

    def transition_text(self, tp: TransitionPlan) -> str:
        t = tp.transition
        if t.condition is not None and t.after is not None:
            rule = self.w("rule_when_after", condition=condition_text(t.condition), after=t.after.text)
        elif t.condition is not None:
            rule = self.w("rule_when", condition=condition_text(t.condition))
        elif t.after is not None:
            rule = self.w("rule_after", after=t.after.text)
        else:
            rule = self.w("rule_entry")
        label = self.w("label", label=t.label) if t.label else ""
        return self.w("transition", source=self.label(t.source), target=self.label(tp.target), label=label, rule=rule)

    def loop_scenarios(self) -> None:
        import networkx as nx

        graph = nx.DiGraph()
        order = {s.id: i for i, s in enumerate(self.policy.stages)}
        for stage in self.policy.stages:
            graph.add_node(stage.id)
        for plan in self.plan.stages.values():
            for t in plan.transitions:
                graph.add_edge(plan.id, t.target)
        cycles = []
        for cycle in nx.simple_cycles(graph):
            if any(self.policy.stage_by_id[n].is_recycle for n in cycle):
                cycles.append(cycle)
            if len(cycles) >= 10 * MAX_LOOPS:
                break
        normal = []
        for cycle in cycles:
            start = min(range(len(cycle)), key=lambda i: (self.passing(cycle[i]), self._dist.get(cycle[i], 10**6),
                                                          order[cycle[i]]))
            normal.append(cycle[start:] + cycle[:start])
        normal.sort(key=lambda c: (len(c), [order[n] for n in c]))
        for cycle in normal[:MAX_LOOPS]:
            self.loop_scenario(cycle)

    def loop_scenario(self, cycle: list[str]) -> None:
        start = cycle[0]
        path = ">".join(cycle + [start])
        b = self.reach(start, self.ordinary_entry(start))
        names = " → ".join(f"“{self.label(s)}”" if self.lang == "en" else f"「{self.label(s)}」" for s in cycle + [start])
        if isinstance(b, str):
            self.loops.append({"loop": path, "reason": b})
            return
        current = start
        for target in cycle[1:] + [start]:
            options = [t for t in self.plan.stages[current].transitions if t.target == target]
            done = False
            for tp in options:
                trial = b.copy()
                if self.take(trial, tp) is None:
                    b = trial
                    done = True
                    break
            if not done:
                self.loops.append({"loop": path, "reason": f"the loop cannot go from `{current}` to `{target}`"})
                return
            current = target
        scenario = self.register("loop", f"loop:{path}", self.w("loop", path=names, start=self.label(start)), b, [])
        self.loops.append({"loop": path, "covered_by": [scenario.id]})

    # ---- numeric thresholds in transitions
    def edge_values(self, leaf: ir.Comparison) -> list[tuple[str, Any, bool]]:
        """(side, value, leaf is true) pairs on each side of a comparison's edge."""
        v = leaf.right.value
        op = leaf.op
        if op == ">=":
            return [("inside", v, True), ("outside", shift(v, -1), False)]
        if op == ">":
            return [("inside", shift(v, 1), True), ("outside", v, False)]
        if op == "<=":
            return [("inside", v, True), ("outside", shift(v, 1), False)]
        if op == "<":
            return [("inside", shift(v, -1), True), ("outside", v, False)]
        if op == "==":
            return [("inside", v, True), ("below", shift(v, -1), False), ("above", shift(v, 1), False)]
        return [("inside", shift(v, -1), True), ("outside", v, False)]

    def quantity_constraint(self, leaf: ir.Comparison, value: Any) -> tuple[list, dict[str, Any]]:
        """Constraints (for a score) or a fixed value (for a property or event) putting the leaf's quantity at `value`."""
        ref = leaf.left
        if ref.name in self.policy.score_by_id:
            return [QuantityIs(ref, value)], {}
        return [], {ref.name: value}

    def nearest_score(self, leaf: ir.Comparison, wanted: Any, truth: bool, build: Callable[[Any], Any]) -> tuple[Any, Any]:
        """Try `wanted`, then (for scores) the values a score can really take, moving away from the edge."""
        ref = leaf.left
        if ref.name not in self.policy.score_by_id:
            result = build(wanted)
            return (wanted, result) if result is not None else (None, None)
        possible = self.solver.reachable_sorted(ref)
        direction = 1 if (truth == (leaf.op in (">=", ">"))) else -1
        if leaf.op in ("==", "!="):
            direction = 1 if wanted > leaf.right.value else -1
        if possible is not None:
            # the reachable values from `wanted` on, nearest first (a score of thousands of
            # groups can take thousands of values: found by bisection, not by sorting them all)
            if direction > 0:
                start = bisect.bisect_left(possible, wanted)
                candidates = possible[start:start + MAX_NEAREST]
            else:
                stop = bisect.bisect_right(possible, wanted)
                candidates = possible[max(0, stop - MAX_NEAREST):stop][::-1]
        else:
            candidates = [shift(wanted, direction * i) for i in range(MAX_NEAREST)]
        for value in candidates[:MAX_NEAREST]:
            result = build(value)
            if result is not None:
                return value, result
        return None, None

    def threshold_boundary(self, tp: TransitionPlan, leaf: ir.Comparison) -> None:
        t = tp.transition
        boundary = Boundary(f"{tp.clause}@{_leaf_id(leaf)}", tp.clause, "threshold",
                            f"`{condition_text(leaf)}` in `{condition_text(t.condition)}`", leaf.span, {})
        self.boundaries.append(boundary)
        base = self.reach(t.source, self.ordinary_entry(t.source))
        if isinstance(base, str):
            for side, _, _ in self.edge_values(leaf):
                self.side(boundary, side, None, f"`{t.source}` cannot be reached: {base}")
            return
        lead = base.lead()
        stage = self.plan.stages[t.source]
        when = base.clock + DELTA
        due = lead.timeout_due.get(tp.index)
        if due is not None and when < due:
            when = due
        flipped = self.make_false(base, tp, dict(lead.values), when)
        if isinstance(flipped, str):
            for side, _, _ in self.edge_values(leaf):
                self.side(boundary, side, None, flipped)
            return
        before, when = flipped
        lead = base.lead()
        guards = self.guards(stage, before, when, lead, skip=tp.index)
        for side, wanted, truth in self.edge_values(leaf):
            moves = truth
            decisive = Holds(t.condition, not moves, forced=((id(leaf), not truth),))

            def attempt(value, moves=moves, decisive=decisive):
                quantity, fixed = self.quantity_constraint(leaf, value)
                constraints = [Holds(t.condition, moves), decisive, *quantity, *guards]
                if self.holds(t.condition, before):
                    return None
                return self.solve_change(before, constraints, fixed, soft=self.chain_guards(tp.target, before))

            value, after = self.nearest_score(leaf, wanted, truth, attempt)
            if after is None:
                beyond = " (or beyond, on that side)" if leaf.left.name in self.policy.score_by_id else ""
                self.side(boundary, side, None, f"no lead data gives `{leaf.left.text}` the value {_fmt(wanted)}{beyond} "
                          f"while that decides `{condition_text(t.condition)}`")
                continue
            b = base.copy()
            record = {n: self.sample_value(n) for n in tp.record}
            self.emit(b, before, after, when, also=record)
            lead_after = b.lead()
            took = any(v.via == tp.clause for v in lead_after.visits[len(lead.visits):])
            if took != moves:
                self.side(boundary, side, None, self.took(b, tp, len(lead.visits)) if moves else
                          f"the lead left `{t.source}` anyway")
                continue
            note = self.w("nearest", wanted=wanted, value=value) if value != wanted else ""
            text = self.w("threshold_moves" if moves else "threshold_stays", leaf=condition_text(leaf),
                          source=self.label(t.source), target=self.label(tp.target), quantity=leaf.left.text,
                          value=_fmt(value), note=note)
            self.side(boundary, side, self.register("threshold", f"{boundary.id}:{side}", text, b, []))

    # ---- timeouts and records
    def timeout_boundary(self, tp: TransitionPlan) -> None:
        t = tp.transition
        variants = [("", self.ordinary_entry(t.source), "")]
        if t.after.business:
            found = self.break_entry(t.source)
            if found:
                variants.append(("-break", found[0], found[1]))
        for suffix, entry, pause in variants:
            boundary = Boundary(f"{tp.clause}@after{suffix}", tp.clause, "timeout",
                                f"`after {t.after.text}`" + (f" across {pause}" if pause else ""), t.span, {})
            self.boundaries.append(boundary)
            b = self.reach(t.source, entry)
            if isinstance(b, str):
                self.side(boundary, "before", None, b)
                self.side(boundary, "at", None, b)
                continue
            lead = b.lead()
            if t.condition is not None:
                before = dict(lead.values)
                stage = self.plan.stages[t.source]
                when = b.clock + DELTA
                after = self.solve_change(before, [Holds(t.condition, True)] + self.guards(stage, before, when, lead,
                                                                                          skip=tp.index), {})
                if after is None:
                    self.side(boundary, "before", None, f"no lead data makes `{condition_text(t.condition)}` true")
                    self.side(boundary, "at", None, None)
                    continue
                if not self.holds(t.condition, before):
                    self.emit(b, before, after, when)
                lead = b.lead()
            due = lead.timeout_due.get(tp.index)
            if due is None or lead.stage != t.source:
                self.side(boundary, "before", None, "the lead does not wait in the stage for the timeout")
                self.side(boundary, "at", None, None)
                continue
            variant = self.w("variant_break", entered=self.local(lead.visits[-1].entered), pause=pause) if pause else ""
            for side, at in (("before", due - MINUTE), ("at", due)):
                trial = b.copy()
                trial.advance(at)
                result = trial.lead()
                moved = any(v.via == tp.clause for v in result.visits)
                if moved != (side == "at"):
                    self.side(boundary, side, None, self.took(trial, tp, len(lead.visits)) if side == "at"
                              else "the lead left the stage before its timeout")
                    continue
                text = self.w("timeout_at" if side == "at" else "timeout_before", source=self.label(t.source),
                              target=self.label(tp.target), after=t.after.text, variant=variant, when=self.local(at))
                self.side(boundary, side, self.register("timeout", f"{boundary.id}:{side}", text, trial, []))

    def record_boundary(self, tp: TransitionPlan) -> None:
        t = tp.transition
        props = ", ".join(f"`{n}`" for n in tp.record)
        boundary = Boundary(f"{tp.clause}@record", tp.clause, "record", f"`record {', '.join(tp.record)}`",
                            t.span, {})
        self.boundaries.append(boundary)
        for side, with_record in (("recorded", True), ("missing", False)):
            b = self.reach(t.source, self.ordinary_entry(t.source))
            if isinstance(b, str):
                self.side(boundary, side, None, b)
                continue
            problem = self.take(b, tp, with_record=with_record)
            if problem:
                self.side(boundary, side, None, problem)
                continue
            record = next((r for r in reversed(b.lead().records) if r["clause"] == tp.clause), None)
            if record is None or bool(record["missing"]) == with_record:
                self.side(boundary, side, None, "the simulator did not report the record as intended")
                continue
            key = "record_given" if with_record else "record_missing"
            text = self.w(key, source=self.label(t.source), target=self.label(tp.target), props=props)
            kind = "transition" if with_record else "record"
            sid = tp.clause if with_record else f"{boundary.id}:{side}"
            self.side(boundary, side, self.register(kind, sid, text if not with_record else self.transition_text(tp),
                                                   b, []))

    # ---- deadlines, escalations, follow-ups
    def leave(self, b: Builder, at: datetime, into: frozenset[str] | None = None,
              avoid: frozenset[str] = frozenset()) -> str | None:
        """Make the lead leave its stage at exactly `at` through the first workable transition
        (into one of `into` when given, never into one of `avoid`).

        Remembered by the events the lead had (the same event objects: a copy of one `reach`
        gives them) and the arguments: the deadline and the escalation of a stage ask for the
        same departure. Taken from memory only when the searches it made fit in what is left of
        the work budget (they would not have run out of it), which they then use up."""
        solver = self.solver
        events = tuple(b.events)
        key = (tuple(map(id, events)), b.clock, b.lead_id, at, into, avoid)
        known = self._left.get(key)
        if known is not None and solver.exhausted is None and solver.work + known[3] <= solver.work_limit:
            _, problem, after, cost = known
            solver.work += cost
            if after is not None:
                b.__dict__.update(after.copy().__dict__)
            return problem
        work = solver.work
        problem = self._leave(b, at, into, avoid)
        if solver.exhausted is None:
            if len(self._left) >= LEAVES_KEPT:
                self._left.clear()
            # (the events are kept with their ids, which no other object can then take)
            self._left[key] = (events, problem, b.copy() if problem is None else None, solver.work - work)
        return problem

    def _leave(self, b: Builder, at: datetime, into: frozenset[str] | None, avoid: frozenset[str]) -> str | None:
        lead = b.lead()
        reasons = []
        for tp in self.plan.stages[lead.stage].transitions:
            if tp.condition is None or tp.target in avoid or (into is not None and tp.target not in into):
                continue
            trial = b.copy()
            problem = self.take(trial, tp, at=at, respond=False)
            if problem is None and trial.lead().visits[-1].entered == at:
                b.__dict__.update(trial.__dict__)
                return None
            reasons.append(problem or "the lead did not leave at that moment")
        return "; ".join(reasons) or f"`{lead.stage}` has no transition with a condition to leave by"

    def variants(self, stage_id: str, business: bool) -> list[tuple[str, datetime, str]]:
        out = [("", self.ordinary_entry(stage_id), "")]
        if business:
            found = self.break_entry(stage_id)
            if found:
                out.append(("-break", found[0], found[1]))
        return out

    def deadline_boundaries(self, stage: StagePlan, d: ir.Deadline) -> None:
        levels = [("sla", d.within)] + ([("slo", d.target)] if d.target is not None else [])
        for level, duration in levels:
            for suffix, entry, pause in self.variants(stage.id, duration.business):
                boundary = Boundary(f"{d.clause_id}@{level}{suffix}", d.clause_id, "deadline",
                                    f"`{d.kind} within {d.within.text}`" + (f" target {d.target.text}" if level == "slo"
                                                                            else "")
                                    + (f" across {pause}" if pause else ""), d.span, {})
                self.boundaries.append(boundary)
                base = self.reach(stage.id, entry)
                if isinstance(base, str):
                    self.side(boundary, "inside", None, base)
                    self.side(boundary, "outside", None, None)
                    continue
                lead = base.lead()
                record = next((r for r in lead.open_deadlines if r.kind == d.kind), None)
                if record is None:
                    self.side(boundary, "inside", None, "the deadline cannot be computed")
                    self.side(boundary, "outside", None, None)
                    continue
                due = record.due if level == "sla" else record.slo_due
                variant = self.w("variant_break", entered=self.local(lead.visits[-1].entered), pause=pause) if pause else ""
                inside = "at_risk" if level == "sla" and record.slo_due is not None else "met"
                for side, at, wanted in (("inside", due, inside),
                                         ("outside", due + MINUTE, "breached" if level == "sla" else "at_risk")):
                    b = base.copy()
                    if d.kind == "respond":
                        b.add(at, "activity_logged", activity=d.meets[0])
                        action = self.w(f"action_{d.meets[0]}")
                    elif d.through:
                        # a decision spanning stages: on into the next stage of the span five
                        # minutes after entering, then out of the span at the moment
                        span = frozenset(n.name for n in d.through)
                        problem = (self.leave(b, record.entered + timedelta(minutes=5), into=span)
                                   or self.leave(b, at, avoid=span | {stage.id}))
                        if problem:
                            self.side(boundary, side, None, f"the lead cannot be moved through and out at "
                                                            f"{self.local(at)}: {problem}")
                            continue
                        visits = b.lead().visits
                        action = self.w("action_leave_via", via=self.label(visits[-2].stage),
                                        target=self.label(visits[-1].stage))
                    else:
                        problem = self.leave(b, at)
                        if problem:
                            self.side(boundary, side, None, f"the lead cannot be moved out at {self.local(at)}: {problem}")
                            continue
                        action = self.w("action_leave", target=self.label(b.lead().visits[-1].stage))
                    got = next((r for r in b.lead().deadlines if r.clause == d.clause_id and r.entered == record.entered),
                               None)
                    if got is None or got.status != wanted:
                        self.side(boundary, side, None, f"the deadline came out {got.status if got else 'missing'}, "
                                  f"not {wanted}")
                        continue
                    offset = self.w("at_due" if side == "inside" else "after_due", when=self.local(at))
                    text = self.w("deadline", stage=self.label(stage.id), what=self.w(d.kind), within=duration.text,
                                  slo=self.w("slo") if level == "slo" else "", variant=variant, action=action,
                                  offset=offset, outcome=self.w(f"status_{wanted}"))
                    self.side(boundary, side, self.register("deadline", f"{boundary.id}:{side}", text, b, []))

    def via_boundary(self, stage: StagePlan, d: ir.Deadline) -> None:
        """`respond within D via call`: a call a minute after entering meets the deadline; an
        activity of another kind at that minute does not, and the deadline is breached when due.

        `via call when …, email otherwise`: the same for every branch — the lead of the stage's
        ordinary route takes one branch (`…@via`); each other branch gets a lead whose data meets
        its condition (and not the conditions before it) as it enters (`…@via:N`, N counted from 1,
        `…@via:otherwise`), so every channel the clause can require is exercised."""
        base = self.reach(stage.id, self.ordinary_entry(stage.id))
        taken = self._via_sides(stage, d, f"{d.clause_id}@via", base)
        if not d.via_when or taken is None:
            return
        names = [str(n) for n in range(1, len(d.via_when) + 1)] + ["otherwise"]
        for n, name in enumerate(names):
            if n == taken:
                continue
            wanted = [Holds(c.condition, False) for c in d.via_when[:n]]
            if n < len(d.via_when):
                wanted.append(Holds(d.via_when[n].condition, True))
            self._via_sides(stage, d, f"{d.clause_id}@via:{name}", self.entry_meeting(stage.id, wanted), n)

    def entry_meeting(self, stage_id: str, constraints: list) -> Builder | str:
        """A lead whose data meets `constraints` as it enters `stage_id` along its ordinary route
        (created there, for an entry stage; else taking the route's last transition with them)."""
        route = self.route(stage_id)
        if isinstance(route, str):
            return route
        if not route:
            values = self.idle_values(stage_id, extra=constraints)
            if values is None:
                return f"no lead data created in `{stage_id}` meets the branch's condition"
            b = Builder(self)
            self.create(b, stage_id, values, self.ordinary_entry(stage_id))
            return b
        last = route[-1]
        source = last.transition.source
        b = self.reach(source, self.ordinary_entry(source))
        if isinstance(b, str):
            return b
        problem = self.take(b, last, extra=constraints)
        return problem if problem is not None else b

    def _via_sides(self, stage: StagePlan, d: ir.Deadline, bid: str, base: Builder | str,
                   branch: int | None = None) -> int | None:
        """The inside (the required kind a minute after entering) and outside (another kind) sides
        of one channel requirement; returns the `via … when` branch the lead took (the `otherwise`
        is len(d.via_when)), or None when there was no lead to take one."""
        record = None if isinstance(base, str) else next(
            (r for r in base.lead().open_deadlines if r.kind == d.kind), None)
        # `via call when …, email otherwise`: the kinds chosen for this lead by its data at entry
        meets = [] if record is None else [k for k in ir.ACTIVITY_KINDS if k in record.meets]
        # the lead has just entered: its data now is its data at entry, which chose the branch
        took = None if record is None else next(
            (n for n, c in enumerate(d.via_when) if self.holds(c.condition, base.lead().values)), len(d.via_when))
        described = branch if branch is not None else took
        via = ", ".join(d.meets)
        if d.via_when and described is not None:
            condition, kinds = d.channel_choices[described]
            via = f"{', '.join(kinds)} when {condition}" if condition is not None else f"{', '.join(kinds)} otherwise"
        boundary = Boundary(bid, d.clause_id, "deadline", f"`{d.kind} within {d.within.text} via {via}`", d.span, {})
        self.boundaries.append(boundary)
        if branch is not None and took is not None and took != branch:
            self.side(boundary, "inside", None, "the lead reached took another branch of the channel rule")
            self.side(boundary, "outside", None, None)
            return took
        if isinstance(base, str) or record is None or len(meets) == len(ir.ACTIVITY_KINDS):
            why = base if isinstance(base, str) else ("the deadline cannot be computed" if record is None
                                                      else "the lead reached may respond by any activity")
            self.side(boundary, "inside", None, why)
            self.side(boundary, "outside", None, None)
            return took
        first = next((k for k in d.meets if k in meets), meets[0])
        other = next(k for k in ir.ACTIVITY_KINDS if k not in meets)
        at = record.entered + MINUTE
        met = "at_risk" if record.slo_due is not None and at > record.slo_due else "met"
        for side, kind, wanted in (("inside", first, met), ("outside", other, "breached")):
            b = base.copy()
            b.add(at, "activity_logged", activity=kind)
            b.advance(record.due + MINUTE)  # past the due time, so that a deadline left open is judged
            got = next((r for r in b.lead().deadlines if r.clause == d.clause_id and r.entered == record.entered), None)
            if got is None or got.status != wanted:
                self.side(boundary, side, None, f"the deadline came out {got.status if got else 'missing'}, not {wanted}")
                continue
            text = self.w("via", stage=self.label(stage.id), within=d.within.text,
                          required=", ".join(self.w(f"action_{k}") for k in meets),
                          action=self.w(f"action_{kind}"), when=self.local(at), outcome=self.w(f"status_{wanted}"))
            self.side(boundary, side, self.register("deadline", f"{boundary.id}:{side}", text, b, []))
        return took

    def do_steps(self, b: Builder, upto: int, late: bool) -> str | None:
        """Do steps 1 … `upto` of the lead's sequence, each a minute after it started (step 1: a
        minute after entering) — the last one a minute after it was due when `late`. Returns why
        not, or None."""
        for number in range(1, upto + 1):
            lead = b.lead()
            record = lead.sequence.waiting if lead.sequence is not None else None
            if record is None or (number > 1 and getattr(record, "step", None) is None):
                return f"step {number} of the sequence did not start"
            kind = next(iter(sorted(record.meets, key=ir.ACTIVITY_KINDS.index)), "call")
            at = record.due + MINUTE if late and number == upto else record.entered + MINUTE
            required = record.step.required if number > 1 else 1
            for n in range(required):
                b.add(at - (required - 1 - n) * MINUTE if late and number == upto else at + n * MINUTE,
                      "activity_logged", activity=kind)
        return None

    def complete_step(self, b, step: ir.Step, record, at: int) -> tuple[str | None, str | None]:
        """Do a started step at `at` on the lead of `b`: a `then decide` step by moving the lead out,
        another by its attempts (the earlier ones a minute apart after the step's start, the last at
        `at`). Returns the action's wording and None, or None and why it could not be done."""
        if step.kind == "decide":
            problem = self.leave(b, at)
            if problem:
                return None, f"the lead cannot be moved out at {self.local(at)}: {problem}"
            return self.w("action_leave", target=self.label(b.lead().visits[-1].stage)), None
        kind = next(iter(sorted(record.meets, key=ir.ACTIVITY_KINDS.index)), "call")
        for n in range(step.required - 1):
            b.add(record.entered + (n + 1) * MINUTE, "activity_logged", activity=kind)
        b.add(at, "activity_logged", activity=kind)
        return self.w("step_attempts", n=step.required, action=self.w(f"action_{kind}")), None

    def step_boundaries(self, stage: StagePlan, step: ir.Step) -> None:
        """A step of a sequence (`then …`): done exactly when due and a minute late, counted from the
        moment the step before it was done (`@sla`, each earlier step done a minute after it
        started) — and the same after the step before it was done a minute *late* (`@after-late`):
        its clock starts at that late moment, with its whole time."""
        for variant in ("sla", "after-late"):
            late = variant == "after-late"
            boundary = Boundary(f"{step.clause_id}@{variant}", step.clause_id, "deadline",
                                f"step {step.number} (`then {_step_words(step)} within {step.within.text}`)"
                                + (f" after step {step.number - 1} was late" if late else ""), step.span, {})
            self.boundaries.append(boundary)
            base = self.reach(stage.id, self.ordinary_entry(stage.id))
            problem = base if isinstance(base, str) else None
            if problem is None:
                base = base.copy()
                problem = self.do_steps(base, step.number - 1, late)
            record = None if problem else next((r for r in base.lead().open_deadlines if r.clause == step.clause_id), None)
            if record is None:
                self.side(boundary, "inside", None, problem or f"step {step.number} did not start")
                self.side(boundary, "outside", None, None)
                continue
            inside = "at_risk" if record.slo_due is not None else "met"
            for side, at, wanted in (("inside", record.due, inside), ("outside", record.due + MINUTE, "breached")):
                b = base.copy()
                action, problem = self.complete_step(b, step, record, at)
                if problem:
                    self.side(boundary, side, None, problem)
                    continue
                b.advance(at + MINUTE)
                got = next((r for r in b.lead().deadlines if r.clause == step.clause_id and r.entered == record.entered),
                           None)
                if got is None or got.status != wanted:
                    self.side(boundary, side, None, f"step {step.number} came out {got.status if got else 'missing'}, "
                              f"not {wanted}")
                    continue
                offset = self.w("at_due" if side == "inside" else "after_due", when=self.local(at))
                text = self.w("step", stage=self.label(stage.id), number=step.number, within=step.within.text,
                              started=self.local(record.entered),
                              before=self.w("step_before_late" if late else "step_before", n=step.number - 1),
                              action=action, offset=offset, outcome=self.w(f"status_{wanted}"))
                self.side(boundary, side, self.register("deadline", f"{boundary.id}:{side}", text, b, []))

    def step_escalation_boundary(self, stage: StagePlan, e: ir.Escalation, step: ir.Step) -> None:
        """`escalate … after D on step N`: D counts from the step's start (the step before it done a
        minute after it started). The step done exactly then prevents the escalation; a minute
        later it has fired."""
        boundary = Boundary(f"{e.clause_id}@after", e.clause_id, "escalation",
                            f"`escalate to {e.to.name} after {e.after.text} on step {step.number}`", e.span, {})
        self.boundaries.append(boundary)
        base = self.reach(stage.id, self.ordinary_entry(stage.id))
        problem = base if isinstance(base, str) else None
        if problem is None:
            base = base.copy()
            problem = self.do_steps(base, step.number - 1, late=False)
        record = None if problem else next((r for r in base.lead().open_deadlines if r.clause == step.clause_id), None)
        fires = None
        if record is not None:
            try:
                fires = add_duration(record.entered, e.after, stage.calendar)
            except NoWorkingTime as exc:
                problem = str(exc)
        if record is None or fires is None:
            self.side(boundary, "inside", None, problem or f"step {step.number} did not start")
            self.side(boundary, "outside", None, None)
            return
        for side, at, wanted in (("inside", fires, False), ("outside", fires + MINUTE, True)):
            b = base.copy()
            action, problem = self.complete_step(b, step, record, at)
            if problem:
                self.side(boundary, side, None, problem)
                continue
            b.advance(at + MINUTE)
            fired = any(x["clause"] == e.clause_id and x["at"] == fires for x in b.lead().escalations)
            if fired != wanted:
                self.side(boundary, side, None, "the escalation " + ("did not fire" if wanted else "fired anyway"))
                continue
            offset = self.w("at_escalation" if side == "inside" else "after_escalation", when=self.local(at))
            text = self.w("escalation", stage=self.label(stage.id), to=e.to.name, after=e.after.text, variant="",
                          what=self.w("step_guard", n=step.number, started=self.local(record.entered)), action=action,
                          offset=offset, outcome=self.w("escalated" if wanted else "no_escalation"))
            self.side(boundary, side, self.register("escalation", f"{boundary.id}:{side}", text, b, []))

    def handoff_boundaries(self, stage: StagePlan, h: ir.Handoff) -> None:
        """`handoff … within D`: a person is assigned the lead exactly at the due time (met) and a
        minute later (breached)."""
        boundary = Boundary(f"{h.clause_id}@sla", h.clause_id, "deadline", f"`handoff from {h.sender.name} within "
                            f"{h.within.text}`", h.span, {})
        self.boundaries.append(boundary)
        base = self.reach(stage.id, self.ordinary_entry(stage.id))
        record = None if isinstance(base, str) else next(
            (r for r in base.lead().open_deadlines if r.kind == "handoff"), None)
        if isinstance(base, str) or record is None:
            self.side(boundary, "inside", None, base if isinstance(base, str) else "the deadline cannot be computed")
            self.side(boundary, "outside", None, None)
            return
        for side, at, wanted in (("inside", record.due, "met"), ("outside", record.due + MINUTE, "breached")):
            b = base.copy()
            b.add(at, "owner_changed", owner=_FIXTURE_PERSON)
            got = next((r for r in b.lead().deadlines if r.clause == h.clause_id and r.entered == record.entered), None)
            if got is None or got.status != wanted:
                self.side(boundary, side, None, f"the hand-off came out {got.status if got else 'missing'}, not {wanted}")
                continue
            text = self.w("deadline", stage=self.label(stage.id), what=self.w("handoff"), within=h.within.text, slo="",
                          variant="", action=self.w("action_assign"),
                          offset=self.w("at_due" if side == "inside" else "after_due", when=self.local(at)),
                          outcome=self.w(f"status_{wanted}"))
            self.side(boundary, side, self.register("deadline", f"{boundary.id}:{side}", text, b, []))

    def duty_boundaries(self, item: ir.InformationItem) -> None:
        """`"…" within D after entering|leaving S recorded in P`: P is given a value exactly at the due
        time (met) and a minute later (breached)."""
        anchor = item.anchor
        assert anchor is not None and item.within is not None and item.recorded_in is not None
        boundary = Boundary(f"{item.clause_id}@sla", item.clause_id, "deadline",
                            f"`within {item.within.text} after {anchor.event} {anchor.stage.name}`", item.span, {})
        self.boundaries.append(boundary)
        stage_id = anchor.stage.name
        if stage_id not in self.plan.stages:
            self.side(boundary, "inside", None, f"stage `{stage_id}` is not declared")
            self.side(boundary, "outside", None, None)
            return
        base = self.reach(stage_id, self.ordinary_entry(stage_id))
        if isinstance(base, str):
            self.side(boundary, "inside", None, base)
            self.side(boundary, "outside", None, None)
            return
        if anchor.event == "leaving":
            problem = self.leave(base, self.ordinary_entry(stage_id) + DELTA)
            if problem:
                self.side(boundary, "inside", None, f"the lead cannot leave `{stage_id}`: {problem}")
                self.side(boundary, "outside", None, None)
                return
        record = next((r for r in reversed(base.lead().deadlines) if r.clause == item.clause_id), None)
        if record is None or record.status != "open":
            self.side(boundary, "inside", None, "the duty is not open once it starts (already recorded)"
                      if record is not None else "the duty cannot be computed")
            self.side(boundary, "outside", None, None)
            return
        prop = item.recorded_in.name
        value = self.json_value(prop, self.sample_value(prop))
        for side, at, wanted in (("inside", record.due, "met"), ("outside", record.due + MINUTE, "breached")):
            b = base.copy()
            b.add(at, "property_changed", properties={prop: value})
            got = next((r for r in b.lead().deadlines if r.clause == item.clause_id and r.entered == record.entered),
                       None)
            if got is None or got.status != wanted:
                self.side(boundary, side, None, f"the duty came out {got.status if got else 'missing'}, not {wanted}")
                continue
            text = self.w("duty", text=item.text, within=item.within.text, stage=self.label(stage_id),
                          event=self.w(f"anchor_{anchor.event}"), property=prop, when=self.local(at),
                          outcome=self.w(f"status_{wanted}"))
            self.side(boundary, side, self.register("deadline", f"{boundary.id}:{side}", text, b, []))

    def entry_scenarios(self) -> None:
        """`entry when …`: a new lead created without a stage starts in the first entry stage whose
        condition it meets — one lead per conditional entry stage, and one that meets none."""
        conditional = [s for s in self.policy.stages if s.is_entry and s.entry_condition is not None]
        if not conditional:
            return
        cases: list[tuple[str, list]] = [
            (s.id, [Holds(x.entry_condition, False) for x in conditional[:i]] + [Holds(s.entry_condition, True)])
            for i, s in enumerate(conditional)]
        if self.plan.fallback_entry is not None:
            cases.append((self.plan.fallback_entry, [Holds(x.entry_condition, False) for x in conditional]))
        for stage_id, constraints in cases:
            values = self.solver.solve(self.filler_values(), constraints)
            if values is None:
                continue
            b = Builder(self)
            at = self.ordinary_entry(stage_id or conditional[0].id)
            fields: dict[str, Any] = {}
            properties = {k: self.json_value(k, v) for k, v in sorted(values.items()) if k in self.policy.property_by_id}
            events = {k: v for k, v in sorted(values.items()) if k in self.policy.event_by_id and v}
            if properties:
                fields["properties"] = properties
            if events:
                fields["events"] = events
            b.add(at, "lead_created", **fields)
            lead = b.sim.leads.get(b.lead_id)
            started = lead.visits[0].stage if lead is not None and lead.visits else None
            if started != stage_id:
                continue
            default = stage_id == self.plan.fallback_entry
            text = self.w("entry_default" if default else "entry", stage=self.label(stage_id))
            self.register("entry", f"{self.policy.stage_by_id[stage_id].clause_id}:entry", text, b, [])

    def escalation_boundaries(self, stage: StagePlan, e: ir.Escalation) -> None:
        if e.on is not None and e.on.startswith("step"):
            step = stage.stage.step(e.on)
            if step is not None and stage.stage.deadline("respond") is not None:
                self.step_escalation_boundary(stage, e, step)
            return
        guard = stage.stage.deadline(e.on) if e.on else None
        for suffix, entry, pause in self.variants(stage.id, e.after.business):
            boundary = Boundary(f"{e.clause_id}@after{suffix}", e.clause_id, "escalation",
                                f"`escalate to {e.to.name} after {e.after.text}`" + (f" across {pause}" if pause else ""),
                                e.span, {})
            self.boundaries.append(boundary)
            base = self.reach(stage.id, entry)
            if isinstance(base, str):
                self.side(boundary, "inside", None, base)
                self.side(boundary, "outside", None, None)
                continue
            lead = base.lead()
            entered = lead.visits[-1].entered
            if e.idle:  # `without activity` counts from the last activity of this stay, if any
                entered = max([a for a, s, _k, _o in lead.activity_log if a >= entered and s == stage.id] + [entered])
            try:
                fires = add_duration(entered, e.after, stage.calendar)
            except NoWorkingTime as exc:
                self.side(boundary, "inside", None, str(exc))
                self.side(boundary, "outside", None, None)
                continue
            variant = self.w("variant_break", entered=self.local(entered), pause=pause) if pause else ""
            for side, at, wanted in (("inside", fires, False), ("outside", fires + MINUTE, True)):
                b = base.copy()
                if e.idle:  # a call just in time restarts the count; a minute late, the escalation fired
                    b.add(at, "activity_logged", activity="call")
                    action = self.w("action_call")
                elif guard is not None and guard.kind == "respond":
                    b.add(at, "activity_logged", activity=guard.meets[0])
                    action = self.w(f"action_{guard.meets[0]}")
                else:
                    problem = self.leave(b, at)
                    if problem:
                        self.side(boundary, side, None, f"the lead cannot be moved out at {self.local(at)}: {problem}")
                        continue
                    action = self.w("action_leave", target=self.label(b.lead().visits[-1].stage))
                fired = any(x["clause"] == e.clause_id and x["at"] == fires for x in b.lead().escalations)
                if fired != wanted:
                    self.side(boundary, side, None, "the escalation " + ("did not fire" if wanted else "fired anyway"))
                    continue
                what = self.w("idle") if e.idle else self.w(guard.kind) if guard is not None else self.w("decide")
                offset = self.w("at_escalation" if side == "inside" else "after_escalation", when=self.local(at))
                text = self.w("escalation", stage=self.label(stage.id), to=e.to.name, after=e.after.text, variant=variant,
                              what=what, action=action, offset=offset,
                              outcome=self.w("escalated" if wanted else "no_escalation"))
                self.side(boundary, side, self.register("escalation", f"{boundary.id}:{side}", text, b, []))

    def follow_up_boundaries(self, stage: StagePlan, f: ir.FollowUp) -> None:
        steps = len(f.offsets)
        kind = next((c.kind for c in f.channels if c.kind in ("call", "email", "meeting")), "call")
        base = self.reach(stage.id, self.ordinary_entry(stage.id))
        first_is_attempt = False
        if f.from_first_contact and not isinstance(base, str):
            # the cadence starts with the first contact: one of a kind that is not an attempt if there
            # is one (so that step 1 is decided by the attempts alone), five minutes after entering
            lead = base.lead()
            waiting = lead.follow_up
            if waiting is not None and waiting.waiting is not None:
                first = next((k for k in ir.ACTIVITY_KINDS if k not in waiting.kinds), kind)
                first_is_attempt = first in waiting.kinds and f.offsets[0].amount == 0
                base = base.copy()
                base.add(max(base.clock, lead.visits[-1].entered) + timedelta(minutes=5), "activity_logged",
                         activity=first)
        for n in range(1, steps + 1):
            boundary = Boundary(f"{f.clause_id}@step{n}", f.clause_id, "follow-up",
                                f"step {n} of `follow up {steps} times at {', '.join(o.text for o in f.offsets)}`",
                                f.span, {})
            self.boundaries.append(boundary)
            if isinstance(base, str):
                self.side(boundary, "inside", None, base)
                self.side(boundary, "outside", None, None)
                continue
            record = base.lead().follow_up
            if record is None or len(record.steps) < n:
                self.side(boundary, "inside", None, "the follow-up windows cannot be computed")
                self.side(boundary, "outside", None, None)
                continue
            opens, closes = record.steps[n - 1][0], record.steps[n - 1][1]
            for side, at, wanted in (("inside", closes - MINUTE, "met"), ("outside", closes, "missed")):
                if side == "outside" and n == 1 and first_is_attempt:
                    self.side(boundary, side, None, "the first contact is itself the attempt of step 1")
                    continue
                b = base.copy()
                for j in range(n - 1):
                    b.add(record.steps[j][0], "activity_logged", activity=kind)
                b.add(at, "activity_logged", activity=kind)
                got = b.lead().follow_ups
                mine = next((x for x in got if x.entered == record.entered), None)
                status = mine.steps[n - 1][2] if mine is not None else "missing"
                if status != wanted:
                    self.side(boundary, side, None, f"step {n} came out {status}, not {wanted}")
                    continue
                text = self.w("follow_up", step=n, steps=steps, stage=self.label(stage.id), opens=self.local(opens),
                              closes=self.local(closes), when=self.local(at), outcome=self.w(f"status_{wanted}"))
                self.side(boundary, side, self.register("follow-up", f"{boundary.id}:{side}", text, b, []))

    def cadence_boundaries(self, stage: StagePlan, c: ir.StageCadence) -> None:
        """`cadence at least N E per month`: the first whole period after entering the stage holds
        N occurrences of E (met) or N - 1 (missed); the scenario ends when that period does."""
        n = c.minimum.value
        boundary = Boundary(f"{c.clause_id}@{c.period}", c.clause_id, "cadence",
                            f"a whole {c.period} of `cadence at least {n} {c.event.name} per {c.period}`", c.span, {})
        self.boundaries.append(boundary)
        base = self.reach(stage.id, self.ordinary_entry(stage.id))
        if isinstance(base, str):
            self.side(boundary, "inside", None, base)
            self.side(boundary, "outside", None, None)
            return
        entered = base.lead().visits[-1].entered
        zone = stage.calendar.zone if stage.calendar is not None else self.plan.zone
        opens = next_period(period_start(entered, c.period, zone), c.period, zone)
        closes = next_period(opens, c.period, zone)
        for side, count, wanted in (("inside", n, "met"), ("outside", n - 1, "missed")):
            b = base.copy()
            for k in range(count):  # spread over the period, one occurrence each
                b.add(opens + (closes - opens) * (k + 1) / (n + 1), "event_occurred", event=c.event.name, count=1)
            b.advance(closes)
            lead = b.lead()
            if lead is None or lead.visits[-1].entered != entered or lead.visits[-1].left is not None:
                self.side(boundary, side, None, f"the lead does not stay in the stage for a whole {c.period}")
                continue
            period = next((p for p in b.sim.cadences(lead, closes)
                           if p["clause"] == c.clause_id and p["from"] == opens), None)
            status = period["status"] if period is not None else "missing"
            if status != wanted:
                self.side(boundary, side, None, f"the {c.period} came out {status}, not {wanted}")
                continue
            text = self.w("cadence", stage=self.label(stage.id), count=count, event=c.event.name, n=n,
                          opens=self.local(opens), closes=self.local(closes), outcome=self.w(f"status_{wanted}"))
            self.side(boundary, side, self.register("cadence", f"{boundary.id}:{side}", text, b, []))

    # ---- scores and priorities
    def new_lead(self, values: dict[str, Any]) -> Builder:
        b = Builder(self)
        stage = self.plan.default_entry
        if stage is None:
            raise _NoStage()
        self.create(b, stage, {**self.filler_values(), **values}, self.ordinary_entry(stage))
        return b

    def score_rule_boundary(self, model: ir.ScoreModel, group: ir.ScoreGroup, rule: ir.ScoreRule,
                            leaf: ir.Comparison) -> None:
        boundary = Boundary(f"{rule.clause_id}@{_leaf_id(leaf)}", rule.clause_id, "score-rule",
                            f"`{condition_text(leaf)}` of “{rule.label}”", leaf.span, {})
        self.boundaries.append(boundary)
        name = leaf.left.name
        sides = self.edge_values(leaf)
        inside_value = sides[0][1]
        # Best: a pair that also decides a transition reading this score.
        for tp in self._score_transitions(model.id, group.id):
            t = tp.transition
            base = self.reach(t.source, self.ordinary_entry(t.source))
            if isinstance(base, str):
                continue
            lead = base.lead()
            before = dict(lead.values)
            stage = self.plan.stages[t.source]
            when = base.clock + DELTA
            if self.holds(t.condition, before):
                continue
            guards = self.guards(stage, before, when, lead, skip=tp.index)
            overrides = [Holds(t.condition, False, overrides=((name, v),)) for _, v, _ in sides[1:]]
            after = self.solve_change(before, [Holds(t.condition, True), Holds(rule.condition, True), *overrides,
                                               *guards], {name: inside_value}, soft=self.chain_guards(tp.target, before))
            if after is None:
                continue
            ok = True
            built = []
            for side, value, truth in sides:
                b = base.copy()
                values = dict(after)
                values[name] = value
                self.emit(b, before, values, when, also={n: self.sample_value(n) for n in tp.record})
                took = any(v.via == tp.clause for v in b.lead().visits[len(lead.visits):])
                if took != truth:
                    ok = False
                    break
                decides = self.w("decides", source=self.label(t.source), target=self.label(tp.target))
                text = self.w("rule_counts" if truth else "rule_not_counted", rule=rule.label,
                              leaf=condition_text(leaf), quantity=name, value=_fmt(value), points=rule.points,
                              decides=decides)
                built.append((side, b, text))
            if ok:
                for side, b, text in built:
                    self.side(boundary, side, self.register("score-rule", f"{boundary.id}:{side}", text, b, []))
                return
        # Otherwise: the score itself shows the difference.
        values = self.solver.solve({}, [Holds(rule.condition, True)], frozen=set(), prefer={name: inside_value})
        if values is None:
            for side, _, _ in sides:
                self.side(boundary, side, None, f"no lead data makes “{rule.label}” apply")
            return
        totals = []
        for side, value, truth in sides:
            data = dict(values)
            data[name] = value
            b = self.new_lead(data)
            scores = self.model.compute_scores(self.view(b.lead().values))
            totals.append(scores.get(f"{model.id}.{group.id}"))
            text = self.w("rule_counts" if truth else "rule_not_counted", rule=rule.label, leaf=condition_text(leaf),
                          quantity=name, value=_fmt(value), points=rule.points, decides="")
            self.side(boundary, side, self.register("score-rule", f"{boundary.id}:{side}", text, b, []))
        if len(set(totals)) == 1:
            for side, _, _ in sides:
                self.side(boundary, side, None, f"the group `{group.id}` is at its cap either way")

    def _score_transitions(self, model_id: str, group_id: str) -> list[TransitionPlan]:
        out = []
        for plan in self.plan.stages.values():
            for tp in plan.transitions:
                if tp.condition is None:
                    continue
                for ref in ir.condition_refs(tp.transition.condition):
                    if ref.name == model_id and ref.member in (None, group_id):
                        out.append(tp)
                        break
        return out

    def cap_boundary(self, model: ir.ScoreModel, group: ir.ScoreGroup) -> None:
        if group.cap is None:
            return
        cap = group.cap.value
        if sum(r.highest for r in group.rules) <= cap:
            return
        ref = ir.Ref(model.id, group.id, group.span)
        boundary = Boundary(f"{group.clause_id}@cap", group.clause_id, "cap", f"`max {_fmt(cap)}`", group.cap.span, {})
        self.boundaries.append(boundary)
        for side, compare, start, direction in (("under", "==", cap, -1), ("over", ">", cap, 0)):
            values = None
            raw = start
            for _ in range(MAX_NEAREST if direction else 1):
                values = self.solver.solve({}, [QuantityIs(ref, raw, raw=True, compare=compare)])
                if values is not None or not direction:
                    break
                raw += direction
            if values is None:
                self.side(boundary, side, None, "no lead data reaches that many points")
                continue
            b = self.new_lead(values)
            values_now = b.lead().values
            raw_points = sum((r.points if r.per is None else r.points_for(values_now.get(r.per.name, 0)))
                             for r in group.rules if self.holds(r.condition, values_now))
            points = self.model.compute_scores(self.view(b.lead().values))[f"{model.id}.{group.id}"]
            text = self.w("cap_under" if side == "under" else "cap_over", group=group.label, cap=_fmt(cap),
                          raw=_fmt(raw_points), points=_fmt(points))
            self.side(boundary, side, self.register("cap", f"{boundary.id}:{side}", text, b, []))

    def priority_boundary(self, priority: ir.Priority, leaf: ir.Comparison) -> None:
        boundary = Boundary(f"{priority.clause_id}@{_leaf_id(leaf)}", priority.clause_id, "priority",
                            f"`{condition_text(leaf)}` of priority `{priority.id}`", leaf.span, {})
        self.boundaries.append(boundary)
        earlier = []
        for p in self.policy.priorities:
            if p is priority:
                break
            if p.condition is not None:
                earlier.append(Holds(p.condition, False))
        for side, wanted, truth in self.edge_values(leaf):
            decisive = Holds(priority.condition, not truth, forced=((id(leaf), not truth),))

            def attempt(value, truth=truth, decisive=decisive):
                quantity, fixed = self.quantity_constraint(leaf, value)
                return self.solver.solve(dict(fixed), [Holds(priority.condition, truth), decisive, *quantity, *earlier],
                                         frozen=set(fixed))

            value, values = self.nearest_score(leaf, wanted, truth, attempt)
            if values is None:
                self.side(boundary, side, None, f"no lead data puts `{leaf.left.text}` at {wanted}")
                continue
            b = self.new_lead(values)
            got = self.model.priority(self.view(b.lead().values))
            if (got == priority.id) != truth:
                self.side(boundary, side, None, f"the lead got priority `{got}`")
                continue
            note = self.w("nearest", wanted=wanted, value=value) if value != wanted else ""
            text = self.w("priority_edge", priority=priority.label, leaf=condition_text(leaf), quantity=leaf.left.text,
                          value=_fmt(value), note=note, result=got or self.w("no_priority"))
            self.side(boundary, side, self.register("priority", f"{boundary.id}:{side}", text, b, []))

    # ------------------------------------------------------------------ results and coverage
    def finish(self) -> None:
        """Give every scenario its lead id, expectation and covered clauses and edges."""
        if self.kpi_tally is not None:
            # where the replay of all scenarios together ends: every lead is finished there
            # (see `_continue`); scenarios added later that end later make `kpi_replay` None
            moments = [datetime.fromisoformat(e["at"]) for s in self.scenarios for e in s.events]
            moments += [s.until for s in self.scenarios if s.until is not None]
            self._horizon = max(moments) if moments else None
        for n, scenario in enumerate(self.scenarios, 1):
            self._finish_one(scenario, f"S{n:03d}")

    def _continue(self, scenario: Scenario, run, lead: Lead) -> None:
        """The scenario's lead as the replay of all scenarios together leaves it: `run` goes on
        to the end of that replay (leads never affect one another, and firing a lead's timers up
        to one moment and then up to a later one fires the same ones as going there at once),
        reduced to its KPI contributions. Only for a lead created by the scenario's first event,
        with its events in time order (the replay sorts them) and ending by then; else None,
        and `kpi_replay` replays everything."""
        scenario.kpi = None
        horizon = self._horizon
        moments = [datetime.fromisoformat(e["at"]) for e in scenario.events]
        if (horizon is None or run.end is None or run.end > horizon or not moments
                or scenario.events[0].get("type") != "lead_created"
                or any(later < earlier for earlier, later in itertools.pairwise(moments))):
            return
        run.sim.observer = None
        run.sim.finish(horizon)
        scenario.kpi = (moments[0], run.first, run.end, self.kpi_tally.contributions(lead))

    def kpi_replay(self) -> tuple[int, datetime | None, datetime | None, list] | None:
        """(leads, first moment, end, KPI results) of all scenarios replayed together, from what
        `_continue` kept of each; None when that is not the same (then replay them)."""
        if self.kpi_tally is None or not self.scenarios:
            return None
        kept = [s.kpi for s in self.scenarios]
        if any(k is None for k in kept) or max(k[2] for k in kept) != self._horizon:
            return None
        firsts = [k[1] for k in kept if k[1] is not None]
        first = min(firsts) if firsts else None
        tally = self.kpi_tally
        # in the order the leads are created in the replay: by their first event, then by scenario
        for k in sorted(range(len(kept)), key=lambda k: (kept[k][0], k)):
            tally.add_contributions(kept[k][3])
        self.kpi_tally = None  # added once
        return len(kept), first, self._horizon, tally.results(first, self._horizon)

    def _finish_one(self, scenario: Scenario, lead_id: str) -> None:
        scenario.lead_id = lead_id
        for event in scenario.events:
            event["lead"] = lead_id
        seen_rules: dict[str, None] = {}  # ordered: outputs must not depend on hash order
        seen_priorities: dict[str, None] = {}

        def observe(lead: Lead) -> None:
            view = lead_view(lead, self.model)  # (the one the simulator's conditions read: scores computed once)
            seen_rules.update(dict.fromkeys(self.model.true_rules(view)))
            p = self.model.priority(view)
            if p is not None:
                seen_priorities[p] = None

        # simulate_events without the text of each event (json.dumps, a tenth of finishing):
        # it only places diagnostics, and a generated scenario's are not shown
        sim = Simulator(self.policy, self.plan)
        sim.observer = observe
        feed = EventFeed(sim, "<scenario>", None)
        for number, event in enumerate(scenario.events, 1):
            feed.apply(event, number, "")
        run = Run(sim, feed, sim.first_at, sim.finish(scenario.until))
        lead = run.sim.leads[lead_id]
        scenario.expect = lead_to_json(run.sim, lead)
        scenario.final_stage = scenario.expect["final_stage"]
        clauses: list[str] = []
        for visit in lead.visits:
            clauses.append(f"stage.{visit.stage}")
            if visit.via:
                clauses.append(visit.via)
                scenario.edges.append({"from": self._sources.get(visit.via, ""), "to": visit.stage, "clause": visit.via})
        for d in lead.deadlines:
            if d.status in ("met", "at_risk", "breached"):
                clauses.append(d.clause)
        for f in lead.follow_ups:
            if any(step[2] in ("met", "missed") for step in f.steps):
                clauses.append(f.clause)
        clauses += [e["clause"] for e in lead.escalations]
        clauses += [h["clause"] for h in lead.handoffs]
        for rule in seen_rules:
            clauses.append(rule)
            group = rule.rsplit(".", 1)[0]
            clauses += [group, group.rsplit(".", 1)[0]]
        clauses += [f"priority.{p}" for p in seen_priorities]
        business = self._business
        for visit in lead.visits:
            cal = self.plan.stages[visit.stage].calendar
            if cal is not None:
                uses = business.get(visit.stage)
                if uses is None:
                    uses = business[visit.stage] = _uses_business_time(self.plan.stages[visit.stage].stage)
                if uses:
                    clauses.append(cal.calendar.clause_id)
        # one string per clause id for all scenarios (90,000 scenarios name the same few ids)
        names = self._names
        scenario.clauses = [names.setdefault(c, c) for c in dict.fromkeys(clauses)]  # (in first-seen order)
        unique_edges = []
        for edge in scenario.edges:
            if edge not in unique_edges:
                unique_edges.append({k: names.setdefault(v, v) for k, v in edge.items()})
        scenario.edges = unique_edges
        if self.finished is not None:
            self.finished(scenario)
        if self.kpi_tally is not None:
            self._continue(scenario, run, lead)
        if not self.keep_events:
            scenario.events = scenario.events[:1]

    def fill_clauses(self) -> None:
        """Extra scenarios for score rules and priorities no other scenario exercises."""
        covered = {c for s in self.scenarios for c in s.clauses}
        if self.plan.default_entry is None:  # no stage to create a lead in: nothing to exercise them with
            self._name_scenarios()
            return
        for model in self.policy.scores:
            for group in model.groups:
                for rule in group.rules:
                    if rule.clause_id in covered:
                        continue
                    values = self.solver.solve({}, [Holds(rule.condition, True)])
                    if values is None:
                        continue
                    b = self.new_lead(values)
                    text = self.w("rule_applies", rule=rule.label, points=rule.points)
                    self.register("score-rule", f"{rule.clause_id}:applies", text, b, [])
        for i, priority in enumerate(self.policy.priorities):
            if priority.clause_id in covered:
                continue
            constraints = [Holds(p.condition, False) for p in self.policy.priorities[:i] if p.condition is not None]
            if priority.condition is not None:
                constraints.append(Holds(priority.condition, True))
            values = self.solver.solve({}, constraints)
            if values is None:
                continue
            b = self.new_lead(values)
            self.register("priority", f"{priority.clause_id}:reached",
                          self.w("priority_reached", priority=priority.label), b, [])
        self._name_scenarios()

    def _name_scenarios(self) -> None:
        for n, scenario in enumerate(self.scenarios, 1):
            if not scenario.lead_id:
                self._finish_one(scenario, f"S{n:03d}")

    def release(self) -> None:
        """Let go of the leads kept to build scenarios from (once every scenario is finished).
        They refer back to the generator: a cycle that only the cyclic collector would free,
        which walks every object alive to find it (the generator's state at 10,000 stages is
        hundreds of MB); without them, reference counting frees the generator."""
        self._canonical.clear()
        self._starts.clear()
        self._reached.clear()
        self._left.clear()
        self.finished = None


def _events_key(data: Any) -> bytes:
    """A text of `data` (events: JSON data) that is the same for data whose sorted JSON is the
    same, and different otherwise. orjson's where it is (5 times faster than json.dumps):
    without a null in it, as orjson writes NaN and infinities as null, and as long as orjson
    writes the data at all (not integers beyond 64 bits, keys that are not text). The two kinds
    of text start differently, so that neither can be the other."""
    import orjson

    try:
        text = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        text = b"null"
    if b"null" not in text:
        return b"o" + text
    return b"j" + json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")


def _step_words(step: ir.Step) -> str:
    return f"follow up {step.required} times" if step.kind == "follow_up" else step.kind


def _entry(lead: Lead, stage_id: str) -> datetime | None:
    """When the lead last entered `stage_id` (None: never)."""
    return next((v.entered for v in reversed(lead.visits) if v.stage == stage_id), None)


def _uses_business_time(stage: ir.Stage) -> bool:
    durations = [d.within for d in stage.deadlines] + [d.target for d in stage.deadlines if d.target]
    durations += [e.after for e in stage.escalations] + [t.after for t in stage.transitions if t.after]
    if stage.follow_up is not None:
        durations += list(stage.follow_up.offsets)
    return any(d.business for d in durations)


def _numeric_leaf(leaf: ir.Condition, policy: ir.Policy) -> bool:
    if not isinstance(leaf, ir.Comparison):
        return False
    value = leaf.right
    if isinstance(value, ir.Number):
        return True
    return isinstance(value, ir.DateValue) and leaf.op != "=="


def _leaf_id(leaf: ir.Comparison) -> str:
    return condition_text(leaf).replace(" ", "")


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


__all__ = ["Boundary", "Generator", "Scenario", "step_of"]
