"""The reference simulator: what a policy does to leads, event by event.

This module *is* the meaning of a policy; the README's "Simulation semantics" section states
the same rules in prose. In short, for one lead:

- Events are applied in file order; before an event at time T, every timer due strictly
  before T fires (in time order). Timers due exactly at T fire after all events at T, so an
  activity logged at the very minute a deadline is due still meets it.
- Timers at the same moment fire in this order: deadlines, escalations, follow-up windows,
  then timeouts (`-> X after D`) in source order.
- A transition is taken when, while the lead is in its source stage,
  (a) its `when` condition *becomes* true through a change of the lead's data (creating the
      lead counts as a change of everything) and its `after`, if any, has elapsed; or
  (b) its `after` elapses and its `when`, if any, holds at that moment; or
  (c) it has neither `when` nor `after`: as soon as the lead enters the stage.
  When several qualify at once, the first in source order wins. A condition that is already
  true when the lead enters a stage does not move it (it must become true again): a lead sent
  back to nurture does not bounce straight back to MQL.
- After a move the new stage is checked at once (chained moves) with the same change; a chain
  never enters the same stage twice at one moment (SLA860).
- `respond` is met by the first activity (call, email, meeting; with `via call` only a call) at
  or after entering the stage and no later than the due time; `decide` by leaving the stage by
  the due time (with `through S`, by leaving this stage and then S for a stage outside them:
  the decision spans them, and going back to this stage cancels it). With a
  `target` (SLO), meeting the SLA but not the SLO is `at_risk`. Leaving before a response was
  due cancels the `respond` deadline.
- `escalate … after D` fires D after entering the stage when the deadline it guards is not met
  by then (a stage without that deadline: when the lead is still there). `escalate … after D
  without activity` fires once per stay, when D has passed since the last activity logged in
  the stage (since entering it when there is none).
- `follow up N times at o1, …` opens step k at entry + o_k for one unit of o_k's unit
  (`3d` → the fourth day); the first attempt (an activity of a `via` kind) in the window meets
  the step; a window that closes without one is missed. `… from first contact` counts the
  offsets from the first activity (any kind) logged in the stage instead — itself the attempt
  of a `0d` step when of a `via` kind; before it no step is open.
- `cadence at least N E per month|week` holds for each calendar month (Monday-to-Sunday week)
  in the zone of the stage's calendar that a stay in the stage overlaps: the occurrences of the
  event E during the stay and in that period must number at least N × the share of the period
  spent in the stage, rounded down (a whole month: N; half of it: N/2 rounded down; a stay of
  less than 1/N of it: none owed). A period still running when the simulation ends is `open`.
  Occurrences given with `lead_created` are the lead's history and are not counted.
- `record P` on a transition requires P to have been given a value while the lead was in the
  source stage (or by the event that triggers the move); a move without it is reported as a
  missing record.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .. import ir
from ..businesstime import BusinessCalendar, NoWorkingTime, add_duration, calendar_for
from ..diagnostics import Diagnostic, Message
from ..source import Span
from .model import DataModel, View
from .rules import DEADLINE_NOT_COMPUTABLE, TRANSITION_LOOP

ACTIVITIES = ir.ACTIVITY_KINDS

# timer kinds, in the order they fire at the same moment
_DEADLINE, _ESCALATION, _FOLLOW_UP, _TIMEOUT = 0, 1, 2, 3
_BUSINESS_SUMS_KEPT = 50_000
_FORMATTED_KEPT = 100_000


# ------------------------------------------------------------------ the compiled policy


@dataclass(frozen=True)
class TransitionPlan:
    index: int
    transition: ir.Transition
    clause: str
    target: str
    condition: Callable[[View], bool] | None
    after: ir.Duration | None
    record: tuple[str, ...]
    recycle: bool


@dataclass(frozen=True)
class StagePlan:
    stage: ir.Stage
    id: str
    owner: str | None
    calendar: BusinessCalendar | None
    transitions: tuple[TransitionPlan, ...]
    reads: Reads  # data the conditions of its transitions read (through scores too)
    snapshot: tuple[ir.Ref, ...]  # quantities KPIs average at entry


class Reads:
    """Data names some conditions read: the names they read themselves, and the (shared) sets of
    the scores they read, so a stage reading a score of thousands of rules keeps no copy of its
    names (a policy of 10,000 stages would hold millions)."""

    __slots__ = ("names", "scores")

    def __init__(self, names: frozenset[str], scores: tuple[frozenset[str], ...]) -> None:
        self.names = names
        self.scores = scores

    def isdisjoint(self, changed: set[str]) -> bool:
        return self.names.isdisjoint(changed) and all(score.isdisjoint(changed) for score in self.scores)

    def __contains__(self, name: str) -> bool:
        return name in self.names or any(name in score for score in self.scores)


class Plan:
    """A policy made ready for simulation (built once, shared by every lead)."""

    def __init__(self, policy: ir.Policy) -> None:
        self.policy = policy
        self._score_read_sets: dict[tuple[str, str | None], frozenset[str]] = {}
        self.model = DataModel(policy)
        # (calendar, start, amount, unit) → end of a business-time duration (Simulator._add)
        self.business_sums: dict[tuple, datetime] = {}
        self.lengths: dict[int, tuple[ir.Duration, timedelta | None]] = {}  # see remember_length
        # moment → its text in the policy's zone (Simulator.format_time): converting to a ZoneInfo
        # zone is slow, and the same few moments are written again and again (every scenario's
        # expectation, each replay's), so they are remembered, a bounded number of them
        self.formatted: dict[datetime | tuple[datetime, int], str] = {}
        default = calendar_for(policy, None)
        self.zone = default.zone if default is not None else ZoneInfo("UTC")
        self.default_calendar = default
        calendars: dict[str, BusinessCalendar] = {}
        stage_ids = policy.stage_by_id
        snapshots: dict[str, list[ir.Ref]] = {}
        for kpi in policy.kpis:
            measure = kpi.measure
            if isinstance(measure, (ir.AverageMeasure, ir.SumMeasure)):
                snapshots.setdefault(measure.stage.name, []).append(measure.quantity)
            if kpi.by is not None and kpi.by.name != "owner" and kpi.by.name in policy.property_by_id:
                # a breakdown by a property reads it as it was when the lead entered the measured stage
                for stage_name in _measured_stages(measure):
                    snapshots.setdefault(stage_name, []).append(ir.Ref(kpi.by.name, None, kpi.by.span))
        self.stages: dict[str, StagePlan] = {}
        for stage in policy.stages:
            if stage.id in self.stages:
                continue
            cal_ir = policy.calendar_for(stage)
            cal = None
            if cal_ir is not None:
                cal = calendars.setdefault(cal_ir.id, BusinessCalendar(cal_ir))
            plans = []
            reads: set[str] = set()
            score_reads: dict[tuple[str, str | None], frozenset[str]] = {}
            for i, t in enumerate(stage.transitions):
                if t.target.name not in stage_ids:
                    continue
                target = stage_ids[t.target.name]
                plans.append(TransitionPlan(
                    i, t, t.clause_id, target.id,
                    self.model.compile(t.condition) if t.condition is not None else None,
                    t.after, tuple(n.name for n in t.record), target.is_recycle,
                ))
                if t.condition is not None:
                    for ref in ir.condition_refs(t.condition):
                        if ref.name in policy.score_by_id:
                            score_reads[(ref.name, ref.member)] = self._score_reads(ref.name, ref.member)
                        else:
                            reads.add(ref.name)
            self.stages[stage.id] = StagePlan(
                stage, stage.id, stage.owner.name if stage.owner else None, cal, tuple(plans),
                Reads(frozenset(reads), tuple(score_reads.values())), tuple(snapshots.get(stage.id, ())),
            )
        entries = [s for s in policy.stages if s.is_entry]
        # `entry when …`: a new lead starts in the first such stage whose condition its data meets,
        # else in the first entry stage without a condition (the default), else nowhere
        self.conditional_entries = [(s.id, self.model.compile(s.entry_condition))
                                    for s in entries if s.entry_condition is not None]
        unconditional = [s.id for s in entries if s.entry_condition is None]
        self.fallback_entry = unconditional[0] if unconditional else None
        self.default_entry = (unconditional or [s.id for s in entries] or [s.id for s in policy.stages] or [None])[0]
        # information duties that start when a lead enters or leaves a stage and that the lead's
        # data shows done (`"…" within 2bd after leaving mql recorded in lead_quality`)
        self.duties_on: dict[tuple[str, str], list[tuple[ir.Information, ir.InformationItem]]] = {}
        self.duty_items: dict[str, ir.InformationItem] = {}
        # events some stage's `cadence` counts: only their occurrences are logged per lead (memory)
        self.cadence_events = frozenset(c.event.name for s in policy.stages for c in s.cadences)
        # `via call when …`: the conditions choosing a respond deadline's channels, compiled once
        self.channel_conditions = {id(c.condition): self.model.compile(c.condition)
                                   for s in policy.stages for d in s.deadlines for c in d.via_when}
        # IR nodes made once, not at every entry (a node is slow to make): what a hand-off
        # includes, as references; each follow-up offset with the one a unit longer (its window)
        self.handoff_refs = {id(s.handoff): tuple(ir.Ref(n.name, None, n.span) for n in s.handoff.include)
                             for s in policy.stages if s.handoff is not None}
        self.follow_up_windows = {id(s.follow_up): tuple((o, ir.Duration(o.amount + 1, o.unit, o.span))
                                                        for o in s.follow_up.offsets)
                                  for s in policy.stages if s.follow_up is not None}
        for block in policy.information:
            for item in block.items:
                if item.anchor is not None and item.within is not None and item.recorded_in is not None:
                    key = (item.anchor.event, item.anchor.stage.name)
                    self.duties_on.setdefault(key, []).append((block, item))
                    self.duty_items[item.clause_id] = item

    def remember_length(self, duration: ir.Duration) -> tuple[ir.Duration, timedelta | None]:
        """(`duration`, its length when in calendar units, else None), remembered by identity with
        the duration itself kept (so that no other can have its id meanwhile)."""
        if len(self.lengths) >= 10_000:
            self.lengths.clear()
        length = None if duration.business else timedelta(minutes=duration.minutes or 0)
        known = self.lengths[id(duration)] = (duration, length)
        return known

    def entry_for(self, values: dict[str, Any]) -> str | None:
        """The stage a new lead with `values` starts in when no stage is given (None: none admits it)."""
        if self.conditional_entries:
            view = View(values, self.model)
            for stage_id, condition in self.conditional_entries:
                if condition(view):
                    return stage_id
            return self.fallback_entry
        return self.default_entry

    def reads_of(self, condition: ir.Condition) -> set[str]:
        out: set[str] = set()
        for ref in ir.condition_refs(condition):
            if ref.name in self.policy.score_by_id:
                out |= self._score_reads(ref.name, ref.member)
            else:
                out.add(ref.name)
        return out

    def _score_reads(self, score: str, member: str | None) -> frozenset[str]:
        """The data a score (or one of its groups) reads, worked out once and shared."""
        cache = self._score_read_sets
        key = (score, member)
        if key not in cache:
            out: set[str] = set()
            for group in self.policy.score_by_id[score].groups:
                if member is not None and group.id != member:
                    continue
                for rule in group.rules:
                    out.update(r.name for r in ir.condition_refs(rule.condition))
            cache[key] = frozenset(out)
        return cache[key]


# ------------------------------------------------------------------ what happens to one lead


class Visit:
    """One stay of a lead in a stage."""

    __slots__ = ("by", "entered", "how", "left", "owner", "owner_changes", "snapshot", "stage", "via")

    def __init__(self, stage: str, entered: datetime, via: str | None, how: str, owner: str | None,
                 by: str | None = None) -> None:
        self.stage = stage
        self.entered = entered
        self.left: datetime | None = None
        self.via = via  # clause id of the transition that brought the lead here
        self.how = how  # created | condition | timeout | entry | manual | off_policy
        self.owner = owner
        self.owner_changes: list[tuple[datetime, str]] = []
        self.by = by
        self.snapshot: dict[str, Any] | None = None


class DeadlineRecord:
    __slots__ = ("at", "clause", "due", "entered", "kind", "meets", "owner", "slo_due", "stage", "status", "through")

    def __init__(self, clause, stage, kind, entered, due, slo_due, owner, meets=frozenset(ACTIVITIES),
                 through=frozenset()) -> None:
        self.clause = clause
        self.stage = stage
        self.kind = kind
        self.entered = entered
        self.due = due
        self.slo_due = slo_due
        self.status = "open"  # open | met | at_risk | breached | cancelled
        self.at: datetime | None = None  # when it was met, or the late response / decision
        self.owner = owner
        self.meets = meets  # the activity kinds that meet a `respond` deadline (`via call`)
        self.through = through  # the later stages a `decide` deadline spans (`through sal`)

    def settle(self, at: datetime) -> None:
        """The response or decision happened at `at` (before the due timer fired)."""
        self.at = at
        self.status = "at_risk" if self.slo_due is not None and at > self.slo_due else "met"


    def copy(self) -> DeadlineRecord:
        other = DeadlineRecord.__new__(DeadlineRecord)
        other.clause, other.stage, other.kind, other.entered = self.clause, self.stage, self.kind, self.entered
        other.due, other.slo_due, other.owner, other.meets = self.due, self.slo_due, self.owner, self.meets
        other.through, other.status, other.at = self.through, self.status, self.at
        return other


class StepRecord(DeadlineRecord):
    """A step of a stage's sequence (`then follow up 5 times within 10d`): a deadline whose clock
    (`entered`) started when the step before it was done. Kind `step`; `count` activities of its
    kinds so far (it is done at `step.required`; a `decide` step by leaving the stage)."""

    __slots__ = ("count", "step")

    def __init__(self, step: ir.Step, started, due, slo_due, owner) -> None:
        super().__init__(step.clause_id, step.stage, "step", started, due, slo_due, owner, frozenset(step.meets))
        self.step = step
        self.count = 0

    def copy(self) -> StepRecord:
        other = StepRecord(self.step, self.entered, self.due, self.slo_due, self.owner)
        other.status, other.at, other.count = self.status, self.at, self.count
        return other


class Sequence:
    """Where a lead is in its stage's sequence: the record whose completion starts the next step
    (`waiting`: step 1's `respond` record, then each started step's) and the next step to start."""

    __slots__ = ("next", "steps", "waiting")

    def __init__(self, steps: tuple[ir.Step, ...], waiting: DeadlineRecord | None, next: int = 0) -> None:
        self.steps = steps
        self.waiting = waiting
        self.next = next


class FollowUpRecord:
    __slots__ = ("anchored", "attempts", "clause", "entered", "kinds", "required", "stage", "started", "steps",
                 "waiting")

    def __init__(self, clause, stage, entered, kinds, required=0, waiting=None) -> None:
        self.clause = clause
        self.stage = stage
        self.entered = entered
        self.kinds = kinds
        self.steps: list[list] = []  # [opens, closes, status, at]
        self.attempts: list[datetime] = []
        self.required = required
        # `from first contact`: the follow-up waiting for its first contact (steps not scheduled yet)
        self.waiting: ir.FollowUp | None = waiting
        self.anchored = waiting is not None
        self.started: datetime | None = None  # when the steps started counting (first contact)


class Lead:
    __slots__ = (
        "activities",
        "activity_log",
        "carried",
        "created",
        "deadlines",
        "escalations",
        "event_log",
        "follow_up",
        "follow_ups",
        "handoffs",
        "id",
        "last_at",
        "open_deadlines",
        "owner",
        "records",
        "seq",
        "sequence",
        "set_at",
        "stage",
        "timeout_due",
        "timers",
        "values",
        "view",
        "visits",
    )

    def __init__(self, lead_id: str, created: datetime) -> None:
        self.id = lead_id
        self.created = created
        self.stage: str | None = None
        self.owner: str | None = None
        self.values: dict[str, Any] = {}
        # a View of `values` (Simulator.view_of), so that its scores are computed once per data
        # (`values` is replaced on a change, never changed in place)
        self.view: View | None = None
        self.set_at: dict[str, datetime] = {}
        self.visits: list[Visit] = []
        self.deadlines: list[DeadlineRecord] = []
        self.follow_ups: list[FollowUpRecord] = []
        self.escalations: list[dict] = []
        self.records: list[dict] = []
        self.handoffs: list[dict] = []
        self.timers: list[tuple] = []
        self.seq = 0
        self.last_at = created
        self.open_deadlines: list[DeadlineRecord] = []
        self.follow_up: FollowUpRecord | None = None
        self.sequence: Sequence | None = None  # the steps of the current stay (`then …`)
        self.activities = 0
        self.activity_log: list[tuple[datetime, str | None, str, str | None]] = []  # (at, stage, kind, outcome)
        # occurrences of events after creation, for cadences: (at, index of the visit, event, count)
        self.event_log: list[tuple[datetime, int, str, int]] = []
        self.timeout_due: dict[int, datetime] = {}
        # open obligations that outlive the stage they started in (information duties): their
        # timers are pushed again when leaving a stage clears the others
        self.carried: list[DeadlineRecord] = []

    def clone(self) -> Lead:
        """An independent copy (the fixtures generator explores "what if" from one lead's state).

        Records the simulator still changes are copied and the pending timers re-pointed at the
        copies: the current stay, the deadlines it can still settle (open, carried, the step a
        sequence waits for, those a timer fires), the current follow-up. The others are over and
        never changed again, so both leads share them: earlier stays, deadlines no longer
        reachable but through `deadlines`, earlier follow-ups, escalations, records, hand-offs.
        """
        other = Lead.__new__(Lead)
        other.id, other.created, other.stage, other.owner = self.id, self.created, self.stage, self.owner
        # (the simulator replaces a lead's values on a change, never changes them in place: shared,
        # and so is their View, with the scores computed for them)
        other.values, other.set_at = self.values, dict(self.set_at)
        other.view = self.view
        visits = self.visits
        other.visits = visits[:-1]
        if visits:
            v = visits[-1]
            copy = Visit(v.stage, v.entered, v.via, v.how, v.owner, v.by)
            copy.left, copy.owner_changes = v.left, list(v.owner_changes)
            copy.snapshot = dict(v.snapshot) if v.snapshot is not None else None
            other.visits.append(copy)
        live = set(map(id, self.open_deadlines))
        live.update(map(id, self.carried))
        if self.sequence is not None and self.sequence.waiting is not None:
            live.add(id(self.sequence.waiting))
        for timer in self.timers:
            if timer[1] == _DEADLINE:
                live.add(id(timer[4]))
        mapping: dict[int, Any] = {}
        other.deadlines = []
        for d in self.deadlines:
            if id(d) in live:
                copy = d.copy()
                mapping[id(d)] = copy
                other.deadlines.append(copy)
            else:
                other.deadlines.append(d)
        other.open_deadlines = [mapping[id(d)] for d in self.open_deadlines]
        other.carried = [mapping[id(d)] for d in self.carried]
        other.follow_ups = []
        for f in self.follow_ups:
            if f is not self.follow_up:
                other.follow_ups.append(f)
                continue
            copy = FollowUpRecord(f.clause, f.stage, f.entered, f.kinds, f.required, f.waiting)
            copy.started, copy.anchored = f.started, f.anchored
            copy.attempts = list(f.attempts)
            for step in f.steps:
                new_step = list(step)
                mapping[id(step)] = new_step
                copy.steps.append(new_step)
            mapping[id(f)] = copy
            other.follow_ups.append(copy)
        other.follow_up = mapping[id(self.follow_up)] if self.follow_up is not None else None
        sequence = self.sequence
        other.sequence = None if sequence is None else Sequence(
            sequence.steps, mapping[id(sequence.waiting)] if sequence.waiting is not None else None, sequence.next)
        other.escalations, other.records, other.handoffs = list(self.escalations), list(self.records), list(self.handoffs)
        # (a timer whose payload is not copied is kept as it is: tuples are not changed)
        other.timers = [timer if (moved := mapping.get(id(timer[4]))) is None else
                        (timer[0], timer[1], timer[2], timer[3], moved) for timer in self.timers]
        other.seq, other.last_at, other.activities = self.seq, self.last_at, self.activities
        other.activity_log = list(self.activity_log)
        other.event_log = list(self.event_log)
        other.timeout_due = dict(self.timeout_due)
        return other


class Simulator:
    """Applies events to leads. Never raises for bad data: problems become diagnostics."""

    def __init__(self, policy: ir.Policy, plan: Plan | None = None) -> None:
        self.policy = policy
        self.plan = plan or Plan(policy)
        self.model = self.plan.model
        self.leads: dict[str, Lead] = {}
        self.diagnostics: list[Diagnostic] = []
        self._reported: set[tuple[str, str]] = set()
        self.first_at: datetime | None = None
        self.last_at: datetime | None = None
        # called with the lead after every change of its data (the fixtures generator uses it
        # to see which score rules and priorities a scenario exercises)
        self.observer: Callable[[Lead], None] | None = None

    # ------------------------------------------------------------------ time
    def _add(self, start: datetime, duration: ir.Duration, stage: StagePlan, clause: str, span: Span) -> datetime | None:
        # a duration in calendar units is a fixed length (`add_duration`): its timedelta, made once
        known = self.plan.lengths.get(id(duration))
        if known is None or known[0] is not duration:
            known = self.plan.remember_length(duration)
        if known[1] is not None:
            return start + known[1]
        calendar = stage.calendar
        if duration.business and calendar is not None:
            # business time is slow to count and the same sums recur (every lead entering a stage
            # at the same moment): remembered per plan, a bounded number of them
            # (by identity: the plan owns its calendars, and hashing one hashes its whole IR)
            memo = (id(calendar), start, duration.amount, duration.unit)
            due = self.plan.business_sums.get(memo)
            if due is not None:
                return due
        try:
            due = add_duration(start, duration, calendar)
        except NoWorkingTime as exc:
            key = (DEADLINE_NOT_COMPUTABLE.code, clause)
            if key not in self._reported:
                self._reported.add(key)
                self.diagnostics.append(Diagnostic(
                    DEADLINE_NOT_COMPUTABLE, Message('`{clause}`: {exc}; left out of the simulation', clause=clause, exc=exc), span,
                    help=Message('give the stage or the agreement a calendar with working days and hours'),
                ))
            return None
        if duration.business and calendar is not None:
            sums = self.plan.business_sums
            if len(sums) >= _BUSINESS_SUMS_KEPT:
                sums.clear()
            sums[memo] = due
        return due

    def _push(self, lead: Lead, at: datetime, kind: int, index: int, payload) -> None:
        lead.seq += 1
        heapq.heappush(lead.timers, (at, kind, index, lead.seq, payload))

    def advance(self, lead: Lead, until: datetime, inclusive: bool) -> None:
        """Fire the lead's timers due before `until` (or at it, when inclusive)."""
        timers = lead.timers
        while timers and (timers[0][0] < until or (inclusive and timers[0][0] == until)):
            at, kind, index, _, payload = heapq.heappop(timers)
            if kind == _DEADLINE:
                if payload.status == "open":
                    payload.status = "breached"
            elif kind == _ESCALATION:
                if payload.idle:
                    again = self._idle_until(lead, payload)
                    if again is not None and again > at:  # an activity since: wait `after` from it
                        self._push(lead, again, _ESCALATION, index, payload)
                        continue
                self._escalate(lead, at, payload)
            elif kind == _FOLLOW_UP:
                step = payload
                if step[2] == "open":
                    step[2] = "missed"
            else:
                plan: TransitionPlan = payload
                if plan.condition is None or plan.condition(self.view_of(lead)):
                    self._chain(lead, at, plan, "timeout", None)

    def _schedule_steps(self, lead: Lead, record: FollowUpRecord, f: ir.FollowUp, start: datetime) -> bool:
        """Open the follow-up's step windows counted from `start`; False when they cannot be computed."""
        plan = self.plan.stages[record.stage]
        record.waiting = None
        record.started = start
        windows = self.plan.follow_up_windows.get(id(f))
        if windows is None:  # (a follow-up not of the plan's policy)
            windows = tuple((o, ir.Duration(o.amount + 1, o.unit, o.span)) for o in f.offsets)
        for offset, after_window in windows:
            opens = self._add(start, offset, plan, f.clause_id, f.span)
            closes = self._add(start, after_window, plan, f.clause_id, f.span)
            if opens is None or closes is None:
                record.steps.clear()
                return False
            step = [opens, closes, "open", None]
            record.steps.append(step)
            self._push(lead, closes, _FOLLOW_UP, len(record.steps), step)
        return True

    def _idle_until(self, lead: Lead, escalation: ir.Escalation) -> datetime | None:
        """When `escalate … after D without activity` is due: D after the last activity logged in
        this stay in the stage, or after entering it when there is none."""
        entered = lead.visits[-1].entered
        last = entered
        for when, stage, _kind, _outcome in reversed(lead.activity_log):
            if when < entered:
                break
            if stage == lead.stage:
                last = max(last, when)
                break
        return self._add(last, escalation.after, self.plan.stages[lead.stage], escalation.clause_id, escalation.span)

    def _escalate(self, lead: Lead, at: datetime, escalation: ir.Escalation) -> None:
        guard = next((d for d in lead.open_deadlines if d.kind == escalation.on or (
            isinstance(d, StepRecord) and d.step.guard == escalation.on)), None)
        if guard is not None and guard.status in ("met", "at_risk"):
            return
        lead.escalations.append({
            "clause": escalation.clause_id,
            "stage": escalation.stage,
            "at": at,
            "to": escalation.to.name,
            "deadline": escalation.on,
            "channels": channel_names(escalation.channels),
        })

    def _next_step(self, lead: Lead, at: datetime) -> None:
        """The step the sequence waited for was done at `at`: start the next one, counted from `at`
        in the stage's calendar, with its escalations (`escalate … on step N`: `after` from `at`)."""
        sequence = lead.sequence
        if sequence is None or sequence.next >= len(sequence.steps):
            if sequence is not None:
                sequence.waiting = None
            return
        step = sequence.steps[sequence.next]
        sequence.next += 1
        plan = self.plan.stages[step.stage]
        due = self._add(at, step.within, plan, step.clause_id, step.span)
        if due is None:
            lead.sequence = None
            return
        slo = self._add(at, step.target, plan, step.clause_id, step.span) if step.target is not None else None
        record = StepRecord(step, at, due, slo, step.owner.name if step.owner else lead.owner)
        lead.deadlines.append(record)
        lead.open_deadlines.append(record)
        self._push(lead, due, _DEADLINE, 0, record)
        sequence.waiting = record
        for i, e in enumerate(plan.stage.escalations):
            if e.on == step.guard:
                when = self._add(at, e.after, plan, e.clause_id, e.span)
                if when is not None:
                    self._push(lead, when, _ESCALATION, i, e)

    def _duty_property(self, record: DeadlineRecord) -> str | None:
        item = self.plan.duty_items.get(record.clause)
        return item.recorded_in.name if item is not None and item.recorded_in is not None else None

    # ------------------------------------------------------------------ moves
    def _enter(self, lead: Lead, stage_id: str, at: datetime, via: TransitionPlan | None, how: str,
               by: str | None = None) -> None:
        plan = self.plan.stages[stage_id]
        previous = self.plan.stages.get(lead.stage) if lead.stage is not None else None
        if lead.visits:
            self._leave(lead, at, stage_id)
        if via is not None and via.record:
            self._check_record(lead, via, at)
        if plan.owner is not None and (previous is None or previous.owner != plan.owner):
            lead.owner = plan.owner
        visit = Visit(stage_id, at, via.clause if via else None, how, lead.owner, by)
        lead.visits.append(visit)
        lead.stage = stage_id
        stage = plan.stage
        if plan.snapshot:
            view = self.view_of(lead)
            visit.snapshot = {ref.text: self.model.quantity(view, ref) for ref in plan.snapshot}
        if stage.handoff is not None:
            handoff = stage.handoff
            fields = {}
            view = self.view_of(lead)
            for ref in self.plan.handoff_refs[id(handoff)]:
                fields[ref.name] = self.model.quantity(view, ref)
            lead.handoffs.append({
                "clause": handoff.clause_id, "stage": stage_id, "at": at, "from": handoff.sender.name,
                "to": lead.owner, "channels": channel_names(handoff.channels),
                "fields": fields, "missing": [k for k, v in fields.items() if v is None],
            })
        lead.open_deadlines = []
        if stage.handoff is not None and stage.handoff.within is not None:
            # the sender's deadline: met when a person takes the lead over (an owner assignment)
            handoff = stage.handoff
            due = self._add(at, handoff.within, plan, handoff.clause_id, handoff.span)
            if due is not None:
                record = DeadlineRecord(handoff.clause_id, stage_id, "handoff", at, due, None, handoff.sender.name)
                lead.deadlines.append(record)
                lead.open_deadlines.append(record)
                self._push(lead, due, _DEADLINE, 0, record)
        if self.plan.duties_on:
            self._start_duties(lead, "entering", stage_id, at, plan)
        for d in stage.deadlines:
            due = self._add(at, d.within, plan, d.clause_id, d.span)
            if due is None:
                continue
            slo = self._add(at, d.target, plan, d.clause_id, d.span) if d.target is not None else None
            owner = d.owner.name if d.owner else lead.owner
            # `via call when pricing_page_view, email otherwise`: the lead's data as it enters decides
            if d.via_when:
                view = self.view_of(lead)
                meets = d.meets_for(lambda c, view=view: bool(self.plan.channel_conditions[id(c)](view)))
            else:
                meets = d.meets
            record = DeadlineRecord(d.clause_id, stage_id, d.kind, at, due, slo, owner, frozenset(meets),
                                    frozenset(n.name for n in d.through))
            lead.deadlines.append(record)
            lead.open_deadlines.append(record)
            self._push(lead, due, _DEADLINE, 0, record)
        # `respond` is step 1 of the sequence; its being done (met or late) starts step 2
        respond = next((r for r in lead.open_deadlines if r.kind == "respond"), None) if stage.steps else None
        lead.sequence = Sequence(stage.steps, respond) if respond is not None else None
        for i, e in enumerate(stage.escalations):
            if e.on is not None and e.on.startswith("step"):
                continue  # counted from the step's start (`_next_step`)
            when = self._add(at, e.after, plan, e.clause_id, e.span)
            if when is not None:
                self._push(lead, when, _ESCALATION, i, e)
        lead.follow_up = None
        if stage.follow_up is not None:
            f = stage.follow_up
            kinds = frozenset(c.kind for c in f.channels if c.kind in ACTIVITIES) or frozenset(ACTIVITIES)
            record = FollowUpRecord(f.clause_id, stage_id, at, kinds, len(f.offsets),
                                    waiting=f if f.from_first_contact else None)
            if f.from_first_contact or self._schedule_steps(lead, record, f, at):
                lead.follow_ups.append(record)
                lead.follow_up = record
        lead.timeout_due = {}
        for t in plan.transitions:
            if t.after is not None:
                due = self._add(at, t.after, plan, t.clause, t.transition.span)
                if due is not None:
                    lead.timeout_due[t.index] = due
                    self._push(lead, due, _TIMEOUT, t.index, t)

    def _start_duties(self, lead: Lead, event: str, stage_id: str, at: datetime, plan: StagePlan,
                      since: datetime | None = None) -> None:
        """Information duties that start now; one already recorded (while the lead was in the stage
        it is now leaving, or by the event that moves it) is met at once."""
        for block, item in self.plan.duties_on.get((event, stage_id), ()):
            due = self._add(at, item.within, plan, item.clause_id, item.span)
            if due is None:
                continue
            record = DeadlineRecord(item.clause_id, stage_id, "information", at, due, None, block.sender.name)
            prop = item.recorded_in.name
            set_at = lead.set_at.get(prop)
            if lead.values.get(prop) is not None and set_at is not None and set_at >= (since or at):
                record.settle(at)
            lead.deadlines.append(record)
            if record.status == "open":
                lead.carried.append(record)
                self._push(lead, due, _DEADLINE, 0, record)

    def _leave(self, lead: Lead, at: datetime, next_stage: str | None = None) -> None:
        lead.visits[-1].left = at
        # decisions spanning stages (`decide … through S`) carried here from an earlier stage: still
        # running when the lead goes on to another stage of the span, made when it leaves the span,
        # cancelled when it goes back to where the decision started (a new one starts there)
        ended: list[DeadlineRecord] = []
        for d in lead.carried:
            if d.kind != "decide" or next_stage in d.through:
                continue
            ended.append(d)
            if next_stage == d.stage:
                if d.status == "open":
                    d.status, d.at = "cancelled", at
            elif d.status == "open":
                d.settle(at)
            elif d.status == "breached" and d.at is None:
                d.at = at
        for d in lead.open_deadlines:
            if d.kind == "decide" and next_stage is not None and next_stage in d.through:
                lead.carried.append(d)  # the decision goes on in the next stage of its span
                continue
            if d.kind == "decide" or (isinstance(d, StepRecord) and d.step.kind == "decide"):
                if d.status == "open":
                    d.settle(at)
                elif d.status == "breached" and d.at is None:
                    d.at = at
            elif d.status == "open":
                d.status = "cancelled"
                d.at = at
        if lead.follow_up is not None:
            for step in lead.follow_up.steps:
                if step[2] == "open":
                    step[2] = "cancelled"
        lead.timers.clear()  # in place: advance() may be iterating over this very list
        # kept: what is still running, and spanning decisions already late but not made yet
        lead.carried = [d for d in lead.carried if d.status == "open" or (
            d.kind == "decide" and d.status == "breached" and d.at is None and d not in ended)]
        for d in lead.carried:
            if d.status == "open":
                self._push(lead, d.due, _DEADLINE, 0, d)
        if self.plan.duties_on:
            left = lead.visits[-1]
            self._start_duties(lead, "leaving", left.stage, at, self.plan.stages[left.stage], since=left.entered)

    def _check_record(self, lead: Lead, via: TransitionPlan, at: datetime) -> None:
        since = lead.visits[-1].entered if lead.visits else at
        values = {}
        missing = []
        for name in via.record:
            value = lead.values.get(name)
            when = lead.set_at.get(name)
            if value is None or when is None or when < since:
                missing.append(name)
            values[name] = value
        lead.records.append({
            "clause": via.clause, "at": at, "from": via.transition.source, "to": via.target,
            "recycle": via.recycle, "label": via.transition.label, "values": values, "missing": missing,
        })

    def _chain(self, lead: Lead, at: datetime, first: TransitionPlan, how: str,
               became: Callable[[Callable[[View], bool]], bool] | None) -> None:
        """Take `first`, then keep checking each new stage at the same moment."""
        # stages entered at this moment; the current one only if it, too, was entered now (a lead
        # that timed out of `triage` into a stage that sends it straight back may re-enter it)
        entered = {lead.stage} if lead.visits and lead.visits[-1].entered == at else set()
        step: TransitionPlan | None = first
        step_how = how
        while step is not None:
            if step.target in entered:
                self._report_loop(lead, at, step)
                return
            self._enter(lead, step.target, at, step, step_how)
            entered.add(step.target)
            step = self._pick(lead, at, became, on_entry=True)
            step_how = "entry" if step is not None and step.condition is None and step.after is None else "condition"

    def _pick(self, lead: Lead, at: datetime, became, on_entry: bool) -> TransitionPlan | None:
        plan = self.plan.stages[lead.stage]
        for t in plan.transitions:
            if t.condition is None:
                if t.after is None and on_entry:
                    return t
                continue
            if became is None:
                continue
            if t.after is not None:
                due = lead.timeout_due.get(t.index)
                if due is None or at < due:
                    continue
            if became(t.condition):
                return t
        return None

    def _report_loop(self, lead: Lead, at: datetime, step: TransitionPlan) -> None:
        key = (TRANSITION_LOOP.code, step.clause)
        if key in self._reported:
            return
        self._reported.add(key)
        path = " → ".join([v.stage for v in lead.visits if v.entered == at] + [step.target])
        self.diagnostics.append(Diagnostic(
            TRANSITION_LOOP,
            Message('lead `{lead}` at {at}: `{path}` would enter `{target}` twice at one moment; stopped in `{stage}`', lead=lead.id, at=self.format_time(at), path=path, target=step.target, stage=lead.stage),
            step.transition.span,
            help=Message('give one of the transitions in the loop a condition that is false after the other one, or an `after`'),
        ))

    # ------------------------------------------------------------------ what events do
    def create(self, lead_id: str, at: datetime, stage: str, values: dict[str, Any], owner: str | None) -> Lead:
        lead = Lead(lead_id, at)
        self.leads[lead_id] = lead
        lead.values = dict(values)
        for name in values:
            if name in self.plan.model.properties:
                lead.set_at[name] = at
        self._enter(lead, stage, at, None, "created")
        if owner:
            lead.owner = owner
            lead.visits[-1].owner = owner
            self._handed_over(lead, at)
        view = self.view_of(lead)
        cache: dict[int, bool] = {}

        def became(fn) -> bool:  # at creation every condition that holds has just become true
            key = id(fn)
            if key not in cache:
                cache[key] = fn(view)
            return cache[key]

        first = self._pick(lead, at, became, on_entry=True)
        if first is not None:
            self._chain(lead, at, first, "entry" if first.condition is None else "condition", became)
        self._touch(at)
        if self.observer is not None:
            self.observer(lead)
        return lead

    def change(self, lead: Lead, at: datetime, updates: dict[str, Any], increments: dict[str, int]) -> None:
        self.advance(lead, at, inclusive=False)
        lead.last_at = at
        self._touch(at)
        before = lead.values
        after = dict(before)
        for name, value in updates.items():
            lead.set_at[name] = at
            if value is None:
                after.pop(name, None)
            else:
                after[name] = value
        for name, count in increments.items():
            after[name] = after.get(name, 0) + count
            if name in self.plan.cadence_events:
                lead.event_log.append((at, len(lead.visits) - 1, name, count))
        for d in lead.carried:
            if updates.get(self._duty_property(d)) is not None:
                if d.status == "open":
                    d.settle(at)
                elif d.status == "breached" and d.at is None:
                    d.at = at  # recorded late
        if after == before:
            return
        before_view = self.view_of(lead)  # (of `before`: the lead's data until now)
        lead.values = after
        if self.observer is not None:
            self.observer(lead)
        plan = self.plan.stages[lead.stage]
        changed = set(updates) | set(increments)
        if plan.reads.isdisjoint(changed):
            return
        after_view = self.view_of(lead)
        cache: dict[int, bool] = {}

        def became(fn) -> bool:
            key = id(fn)
            if key not in cache:
                cache[key] = fn(after_view) and not fn(before_view)
            return cache[key]

        first = self._pick(lead, at, became, on_entry=False)
        if first is not None:
            self._chain(lead, at, first, "condition", became)

    def activity(self, lead: Lead, at: datetime, kind: str, outcome: str | None = None) -> None:
        self.advance(lead, at, inclusive=False)
        lead.last_at = at
        self._touch(at)
        lead.activities += 1
        lead.activity_log.append((at, lead.stage, kind, outcome))
        sequence = lead.sequence
        # the running step first: the activity that completes a step never counts for the next
        running = sequence.waiting if sequence is not None else None
        if isinstance(running, StepRecord) and running.step.kind != "decide" and kind in running.meets:
            running.count += 1
            if running.count >= running.step.required:
                if running.status == "open":
                    running.settle(at)
                elif running.status == "breached" and running.at is None:
                    running.at = at
                self._next_step(lead, at)
        for d in lead.open_deadlines:
            if d.kind == "respond" and kind in d.meets:
                if d.status == "open":
                    d.settle(at)
                elif d.status == "breached" and d.at is None:
                    d.at = at
                else:
                    continue
                if sequence is not None and sequence.waiting is d:
                    self._next_step(lead, at)
        record = lead.follow_up
        if record is not None and record.waiting is not None:  # the first contact starts the cadence
            self._schedule_steps(lead, record, record.waiting, at)
        if record is not None and kind in record.kinds:
            record.attempts.append(at)
            for step in record.steps:
                if step[2] == "open" and step[0] <= at < step[1]:
                    step[2] = "met"
                    step[3] = at
                    break

    def set_owner(self, lead: Lead, at: datetime, owner: str) -> None:
        self.advance(lead, at, inclusive=False)
        lead.last_at = at
        self._touch(at)
        lead.owner = owner
        lead.visits[-1].owner_changes.append((at, owner))
        self._handed_over(lead, at)

    @staticmethod
    def _handed_over(lead: Lead, at: datetime) -> None:
        """A person was assigned the lead: the stage's hand-off deadline is met (or was met late)."""
        for d in lead.open_deadlines:
            if d.kind == "handoff":
                if d.status == "open":
                    d.settle(at)
                elif d.status == "breached" and d.at is None:
                    d.at = at

    def set_stage(self, lead: Lead, at: datetime, stage_id: str, by: str | None) -> bool:
        """A person moved the lead. Returns False when no transition leads there (off-policy)."""
        self.advance(lead, at, inclusive=False)
        lead.last_at = at
        self._touch(at)
        if stage_id == lead.stage:
            return True
        plan = self.plan.stages[lead.stage]
        via = next((t for t in plan.transitions if t.target == stage_id), None)
        self._enter(lead, stage_id, at, via, "manual" if via is not None else "off_policy", by)
        step = self._pick(lead, at, None, on_entry=True)
        if step is not None:
            self._chain(lead, at, step, "entry", None)
        return via is not None

    def finish(self, end: datetime | None = None) -> datetime | None:
        """Settle every lead's timers up to the end of the simulation (default: the last event)."""
        if end is not None:
            self._touch(end)
        end = self.last_at
        if end is None:
            return None
        for lead in self.leads.values():
            self.advance(lead, end, inclusive=True)
        return end

    def _touch(self, at: datetime) -> None:
        if self.first_at is None or at < self.first_at:
            self.first_at = at
        if self.last_at is None or at > self.last_at:
            self.last_at = at

    # ------------------------------------------------------------------ reading results
    def cadences(self, lead: Lead, end: datetime | None) -> list[dict[str, Any]]:
        """Each period of each stay in a stage with a `cadence` (see `cadence_periods`)."""
        return cadence_periods(self.plan, lead, end)

    def format_time(self, at: datetime) -> str:
        return moment_text(self.plan, at)

    def scores(self, lead: Lead) -> dict[str, float]:
        return self.view_of(lead).scores()

    def priority(self, lead: Lead) -> str | None:
        return self.model.priority(self.view_of(lead))

    def view_of(self, lead: Lead) -> View:
        return lead_view(lead, self.model)


def moment_text(plan: Plan, at: datetime) -> str:
    """`at` in the policy's zone as ISO 8601 text, remembered. Equal aware moments are the same
    instant, with one text in one zone, except two wall times of one zone that differ only by
    `fold` (an hour repeated when the clocks go back): equal to Python, so the fold is in the key."""
    formatted = plan.formatted
    key = at if not at.fold else (at, 1)  # (no tuple for the usual moment)
    text = formatted.get(key)
    if text is None:
        text = at.astimezone(plan.zone).isoformat()
        if len(formatted) >= _FORMATTED_KEPT:
            formatted.clear()
        formatted[key] = text
    return text


def lead_view(lead: Lead, model: DataModel) -> View:
    """The lead's data as conditions see it; one View (one computation of its scores) for as
    long as the data stays the same."""
    view = lead.view
    if view is None or view.values is not lead.values:
        view = lead.view = View(lead.values, model)
    return view


_SECOND = timedelta(seconds=1)


def cadence_periods(plan_of_policy: Plan, lead: Lead, end: datetime | None) -> list[dict[str, Any]]:
    """Each period of each stay in a stage with a `cadence`: how many of the event it needs
    (prorated for a part period, rounded down), how many happened, and whether that is enough.
    `end`: the end of the simulation; a period still running then is `open`. A function of the
    plan, not of a running simulator: `sla report` judges finished leads with it."""
    out: list[dict[str, Any]] = []
    if not plan_of_policy.cadence_events:  # (no stage has a cadence: each names its event)
        return out
    for index, visit in enumerate(lead.visits):
        plan = plan_of_policy.stages[visit.stage]
        if not plan.stage.cadences:
            continue
        zone = plan.calendar.zone if plan.calendar is not None else plan_of_policy.zone
        stay_end = visit.left if visit.left is not None else end
        if stay_end is None:
            continue
        for cadence in plan.stage.cadences:
            counts: dict[datetime, int] = {}
            for when, visit_index, name, count in lead.event_log:
                if visit_index == index and name == cadence.event.name:
                    start = period_start(when, cadence.period, zone)
                    counts[start] = counts.get(start, 0) + count
            start = period_start(visit.entered, cadence.period, zone)
            while True:
                stop = next_period(start, cadence.period, zone)
                lo, hi = max(start, visit.entered), min(stop, stay_end)
                running = visit.left is None and (end is None or stop > end)
                if running:
                    hi = stop  # what the lead will owe if it stays to the end of the period
                if hi > lo:
                    share, whole = (hi - lo) // _SECOND, (stop - start) // _SECOND
                    required = cadence.minimum.value * share // whole
                    count = counts.get(start, 0)
                    status = "open" if running else ("met" if count >= required else "missed")
                    out.append({"clause": cadence.clause_id, "stage": visit.stage, "event": cadence.event.name,
                                "from": lo, "to": hi, "required": required, "count": count, "status": status})
                if stop >= stay_end:
                    break
                start = stop
    return out


def period_start(at: datetime, period: str, zone: ZoneInfo) -> datetime:
    """The start of the calendar month (or Monday-to-Sunday week) holding `at`, in `zone`."""
    local = at.astimezone(zone)
    day = local.date().replace(day=1) if period == "month" else local.date() - timedelta(days=local.weekday())
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def next_period(start: datetime, period: str, zone: ZoneInfo) -> datetime:
    local = start.astimezone(zone).date()
    if period == "month":
        day = local.replace(year=local.year + 1, month=1) if local.month == 12 else local.replace(month=local.month + 1)
    else:
        day = local + timedelta(days=7)
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _measured_stages(measure: ir.Measure | None) -> list[str]:
    """The stages whose entries a KPI counts (where a breakdown's property is read)."""
    if isinstance(measure, (ir.ConversionMeasure, ir.DurationMeasure)):
        return [measure.source.name]
    stage = getattr(measure, "stage", None)
    return [stage.name] if stage is not None else []


_CHANNEL_NAMES: dict[int, tuple[tuple[ir.Channel, ...], list[str]]] = {}


def channel_names(channels: tuple[ir.Channel, ...]) -> list[str]:
    """`slack "#sales"` → "slack #sales"; one shared list per clause (leads only read it).
    Remembered by the identity of the clause's tuple, which is kept with it (so no other tuple
    can have its id meanwhile): hashing the tuple hashed every field of its IR nodes, spans
    included, at every escalation and hand-off."""
    found = _CHANNEL_NAMES.get(id(channels))
    if found is not None and found[0] is channels:
        return found[1]
    names = [c.kind + (f" {c.target}" if c.target else "") for c in channels]
    if len(_CHANNEL_NAMES) >= 10_000:
        _CHANNEL_NAMES.clear()
    _CHANNEL_NAMES[id(channels)] = (channels, names)
    return names


_PARSED: dict[tuple[str, ZoneInfo], datetime | None] = {}
_PARSED_KEPT = 100_000


def parse_timestamp(text: str, zone: ZoneInfo) -> datetime | None:
    """An ISO 8601 timestamp; without an offset it is read in `zone` (the agreement's time zone).
    Remembered, a bounded number of them: a scenario's moments are read when it is generated,
    finished and replayed, and many scenarios share them."""
    if text.__class__ is not str:
        return _parse_timestamp(text, zone)
    key = (text, zone)
    if key in _PARSED:
        return _PARSED[key]
    if len(_PARSED) >= _PARSED_KEPT:
        _PARSED.clear()
    at = _PARSED[key] = _parse_timestamp(text, zone)
    return at


def _parse_timestamp(text: str, zone: ZoneInfo) -> datetime | None:
    try:
        at = datetime.fromisoformat(text)
    except (ValueError, TypeError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone)
    # one shared tzinfo instead of a fixed-offset zone object per parsed timestamp (memory)
    return at.astimezone(UTC)

