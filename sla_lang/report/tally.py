"""What a report counts, fed one finished lead at a time (then the lead is forgotten).

Every item belongs to the period in which it started, in the agreement's time zone: a
deadline, follow-up or funnel entry to the period the lead entered the stage (as the KPIs
count them), an escalation or a recorded recycle to the period it happened in. Counts per
period are kept for every period (the trend); lists (breaches, times to first touch, recycle
reasons) only for the reported window.

Everything read here is the simulator's own record of a lead (`simulate.engine.Lead`): the
report judges nothing itself.
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from .. import ir
from ..simulate.kpis import KpiTally, period_start

SETTLED = ("met", "at_risk", "breached")
STATUSES = ("met", "at_risk", "breached", "cancelled", "open")
CADENCE_STATUSES = ("met", "missed", "nothing_owed", "open")
# HubSpot's lifecycle stages in funnel order (hubspot.md): the funnel follows the stages that
# declare them, which is how a RevOps team already reads its HubSpot funnel report
LIFECYCLE_ORDER = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
                   "evangelist")


@dataclass(frozen=True)
class Breach:
    lead: str
    clause: str
    stage: str
    kind: str
    team: str | None
    owner: str | None  # the lead's owner when the deadline fell due
    entered: datetime
    due: datetime
    at: datetime | None  # the late response or decision; None: none by the as-of moment


@dataclass(frozen=True)
class CadenceMiss:
    """A period of a `cadence` that ended with fewer occurrences than the stay there owed."""

    lead: str
    clause: str
    stage: str
    team: str | None  # the cadence's `owner`, else the stage's
    start: datetime  # the part of the period the lead spent in the stage
    end: datetime
    required: int
    count: int


def funnel_stages(policy: ir.Policy) -> list[str]:
    """The stages of the funnel, first to last.

    The stages mapped to HubSpot lifecycle stages, in lifecycle order (the first stage of each;
    recycle stages left out); without such a mapping, the stages that are neither recycle nor
    terminal in source order, then the first terminal stage (the won end)."""
    by_lifecycle: dict[str, str] = {}
    for stage in policy.stages:
        if stage.is_recycle or stage.hubspot is None:
            continue
        value = stage.hubspot.name
        if value in LIFECYCLE_ORDER and value not in by_lifecycle:
            by_lifecycle[value] = stage.id
    if len(by_lifecycle) >= 2:
        return [by_lifecycle[v] for v in LIFECYCLE_ORDER if v in by_lifecycle]
    out = [s.id for s in policy.stages if not s.is_recycle and not s.is_terminal]
    terminals = [s.id for s in policy.stages if s.is_terminal]
    return list(dict.fromkeys(out + terminals[:1]))


class ReportTally:
    def __init__(self, policy: ir.Policy, plan, unit: str, window: tuple[date, date],
                 as_of: datetime | None = None) -> None:
        self.policy = policy
        self.as_of = as_of  # a cadence period still running then is open
        self.plan = plan
        self.zone = plan.zone
        self.unit = unit
        self.window = window
        self.funnel = funnel_stages(policy)
        self._funnel_index = {s: i for i, s in enumerate(self.funnel)}
        self._later = [frozenset(self.funnel[i + 1:]) for i in range(len(self.funnel))]
        self.team_of: dict[str, str | None] = {}  # clause → the team answerable for it
        self.business_clock: dict[str, object] = {}  # respond clause → calendar when measured in business time
        for stage in policy.stages:
            owner = stage.owner.name if stage.owner else None
            for d in stage.deadlines:
                self.team_of[d.clause_id] = d.owner.name if d.owner else owner
                if d.kind == "respond" and d.within.business:
                    calendar = plan.stages[stage.id].calendar if stage.id in plan.stages else None
                    if calendar is not None:
                        self.business_clock[d.clause_id] = calendar
            if stage.follow_up is not None:
                f = stage.follow_up
                self.team_of[f.clause_id] = f.owner.name if f.owner else owner
            for e in stage.escalations:
                self.team_of[e.clause_id] = owner
            for c in stage.cadences:
                self.team_of[c.clause_id] = c.owner.name if c.owner else owner
        self.has_cadences = any(stage.cadences for stage in policy.stages)
        # every period
        self.deadlines: Counter[tuple[date, str, str]] = Counter()  # (period, clause, status)
        self.escalation_counts: Counter[tuple[date, str]] = Counter()
        self.entries: Counter[tuple[date, str]] = Counter()
        self.converted: Counter[tuple[date, str]] = Counter()
        self.created: Counter[date] = Counter()
        # the reported window
        self.by_owner: Counter[tuple[str, str, str]] = Counter()  # (clause, owner, status)
        self.breaches: list[Breach] = []
        self.touch: dict[str, array] = {}  # respond clause → minutes from entry to the first activity
        self.untouched: Counter[str] = Counter()  # respond deadlines past due with no activity yet
        self.escalated: Counter[tuple[str, str]] = Counter()  # (clause, to)
        self.follow_ups: dict[str, Counter[str]] = {}
        self.recycles: Counter[tuple[str, str, tuple]] = Counter()  # (clause, target stage, ((property, value), …))
        self.missing_records: Counter[str] = Counter()
        # cadences: (period, clause, status) with status met / missed / open / nothing_owed (a
        # stay too short to owe one occurrence), for every period; the misses of the window
        self.cadence_counts: Counter[tuple[date, str, str]] = Counter()
        self.cadence_misses: list[CadenceMiss] = []
        self.leads = 0
        self.kpis = KpiTally(policy, plan)

    # ------------------------------------------------------------------ feeding
    def period_of(self, at: datetime) -> date:
        return period_start(at.astimezone(self.zone).date(), self.unit)

    def in_window(self, at: datetime) -> bool:
        day = at.astimezone(self.zone).date()
        return self.window[0] <= day < self.window[1]

    def add_lead(self, lead) -> None:
        self.leads += 1
        self.kpis.add_lead(lead)
        self.created[self.period_of(lead.created)] += 1
        for d in lead.deadlines:
            self.deadlines[(self.period_of(d.entered), d.clause, d.status)] += 1
            if not self.in_window(d.entered):
                continue
            owner = _owner_when(lead, d)
            self.by_owner[(d.clause, owner or "", d.status)] += 1
            if d.status == "breached":
                self.breaches.append(Breach(lead.id, d.clause, d.stage, d.kind, self.team_of.get(d.clause), owner,
                                            d.entered, d.due, d.at))
            if d.kind == "respond" and d.status in SETTLED:
                if d.at is None:
                    self.untouched[d.clause] += 1
                else:
                    calendar = self.business_clock.get(d.clause)
                    minutes = (calendar.working_minutes_between(d.entered, d.at) if calendar is not None
                               else (d.at - d.entered).total_seconds() / 60)
                    self.touch.setdefault(d.clause, array("d")).append(minutes)
        for e in lead.escalations:
            self.escalation_counts[(self.period_of(e["at"]), e["clause"])] += 1
            if self.in_window(e["at"]):
                self.escalated[(e["clause"], e["to"])] += 1
        for f in lead.follow_ups:
            if not self.in_window(f.entered):
                continue
            counts = self.follow_ups.setdefault(f.clause, Counter())
            counts["leads"] += 1
            statuses = [step[2] for step in f.steps]
            for status in statuses:
                counts["steps_" + status] += 1
            # as the KPI `rate S.follow_up met` counts them (simulate/kpis.py): complete with every
            # step met, incomplete with one missed; a cadence cut short by the lead moving on, or
            # still open, is neither
            if "missed" in statuses:
                counts["incomplete"] += 1
            elif "open" in statuses:
                counts["in_progress"] += 1
            elif statuses and all(s == "met" for s in statuses):
                counts["complete"] += 1
            else:
                counts["cut_short"] += 1
        for r in lead.records:
            if not self.in_window(r["at"]):
                continue
            if r["missing"]:
                self.missing_records[r["clause"]] += 1
            if r["values"]:
                reason = tuple((k, str(v)) for k, v in sorted(r["values"].items()) if v is not None)
                self.recycles[(r["clause"], r["to"], reason)] += 1
        if self.has_cadences:
            self._add_cadences(lead)
        if self.funnel:
            index = self._funnel_index
            visits = lead.visits
            for i, visit in enumerate(visits):
                position = index.get(visit.stage)
                if position is None:
                    continue
                period = self.period_of(visit.entered)
                self.entries[(period, visit.stage)] += 1
                # converted: a later funnel stage is reached before the lead enters this one again
                later = self._later[position]
                for following in visits[i + 1:]:
                    if following.stage == visit.stage:
                        break
                    if following.stage in later:
                        self.converted[(period, visit.stage)] += 1
                        break

    def _add_cadences(self, lead) -> None:
        # the simulator's own judgement of each period (`cadence_periods`, what `sla simulate`
        # lists under `cadences`): a period belongs to the report period it started in
        from ..simulate.engine import cadence_periods

        for c in cadence_periods(self.plan, lead, self.as_of):
            status = c["status"]
            if status == "met" and c["required"] == 0:
                status = "nothing_owed"
            self.cadence_counts[(self.period_of(c["from"]), c["clause"], status)] += 1
            if status == "missed" and self.in_window(c["from"]):
                self.cadence_misses.append(CadenceMiss(lead.id, c["clause"], c["stage"], self.team_of.get(c["clause"]),
                                                       c["from"], c["to"], c["required"], c["count"]))

    COUNTERS = ("deadlines", "escalation_counts", "entries", "converted", "created", "by_owner", "untouched",
                "escalated", "recycles", "missing_records", "cadence_counts")

    def state(self) -> dict:
        """Everything counted, as plain data (what a shard process sends back)."""
        return {
            **{name: dict(getattr(self, name)) for name in self.COUNTERS},
            "breaches": self.breaches, "cadence_misses": self.cadence_misses, "touch": {clause: v.tobytes() for clause, v in self.touch.items()},
            "follow_ups": {clause: dict(c) for clause, c in self.follow_ups.items()}, "leads": self.leads,
            "kpis": self.kpis.state(),
        }

    def absorb(self, state: dict) -> None:
        """Add the counts of another tally (of other leads)."""
        for name in self.COUNTERS:
            getattr(self, name).update(state[name])
        self.breaches += state["breaches"]
        self.cadence_misses += state["cadence_misses"]
        for clause, data in state["touch"].items():
            self.touch.setdefault(clause, array("d")).frombytes(data)
        for clause, counts in state["follow_ups"].items():
            self.follow_ups.setdefault(clause, Counter()).update(counts)
        self.leads += state["leads"]
        self.kpis.absorb(state["kpis"])


def _owner_when(lead, d) -> str | None:
    """The lead's owner when the deadline was met or fell due (owner changes during the stay count)."""
    moment = d.at if d.at is not None and d.at <= d.due else d.due
    for visit in lead.visits:
        if visit.stage == d.stage and visit.entered == d.entered:
            owner = visit.owner
            for at, changed_to in visit.owner_changes:
                if at <= moment:
                    owner = changed_to
            return owner
    return d.owner
