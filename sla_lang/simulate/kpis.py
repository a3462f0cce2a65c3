"""KPIs computed over simulated leads, per period, with their status against target and alert.

Periods are calendar periods in the agreement's time zone (ISO weeks start on Monday). A lead
entry belongs to the period in which the lead entered the measured stage:

- `count S`: leads entering S.
- `rate S -> T1, T2`: of the entries into S, the share followed by an entry into any Ti before
  the lead next enters S again.
- `rate S.respond met`: of S's deadlines of that kind that were settled (met, at risk or
  breached — not cancelled or still open), the share met (at risk counts as met: the SLA held).
- `average Q at S`: the mean of Q at the moment leads entered S (leads without a value are
  left out).
- `average time S -> T`: the mean time from entering S to the next entry into T (as for rates);
  in business time when the target is written in `bh`/`bd`.
- `rate S.follow_up met`: of S's follow-up cadences that were settled — every step met, or
  some step missed (not those cut short by the lead moving on, nor still open) — the share
  with every step met; `rate S.handoff met` as for deadlines.
- `sum Q at S`: the total of Q at the moment leads entered S.
- `rate call connected at S`: of the calls (emails, meetings) logged while leads were in S, the
  share logged with that outcome (one logged without an outcome counts as another outcome).
- `… by owner` / `… by P`: one figure per value — the lead's owner during the measured stay
  (the last one assigned while there), or P as it was when the lead entered the measured stage
  (no value: its own group). Each figure has its own status against target and alert.

Status: `alert` when the alert condition holds, else `met` or `missed` against the target;
`no data` when a rate or average has nothing to divide by.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from .. import ir
from ..businesstime import business_minutes
from .model import compare, constant


@dataclass
class KpiRow:
    period: str
    start: date
    end: date  # exclusive
    value: float | None
    numerator: float | None
    denominator: int | None
    status: str  # met | missed | alert | no_data | none
    partial: bool
    group: Any = None  # the owner or property value of a breakdown (`by …`)


@dataclass
class KpiResult:
    kpi: ir.Kpi
    unit: str  # count | ratio | number | minutes
    business: bool = False
    rows: list[KpiRow] = field(default_factory=list)


# ------------------------------------------------------------------ periods


def period_start(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def next_period(start: date, period: str) -> date:
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


def period_label(start: date, period: str) -> str:
    if period == "day":
        return start.isoformat()
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{start.year}-{start.month:02d}"
    if period == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return str(start.year)


# ------------------------------------------------------------------ computing


def compute_kpis(sim, first: datetime | None, end: datetime | None) -> list[KpiResult]:
    tally = KpiTally(sim.policy, sim.plan)
    for lead in sim.leads.values():
        tally.add_lead(lead)
    return tally.results(first, end)


class KpiTally:
    """The KPIs' numerators and denominators, fed one finished lead at a time.

    `sla report` feeds leads as soon as their history has ended and forgets them (memory stays
    bounded); `compute_kpis` feeds every lead of a simulation. Tallies of disjoint sets of leads
    add up (`merge`).
    """

    def __init__(self, policy: ir.Policy, plan) -> None:
        self.policy = policy
        self.plan = plan
        self.zone = plan.zone
        self.measured: list[tuple[ir.Kpi, str, _Totals, bool]] = []  # (kpi, period, totals, business)
        for kpi in policy.kpis:
            if kpi.measure is None:
                continue
            period = kpi.period.name if kpi.period is not None and kpi.period.name in ir.PERIODS else "month"
            business = False
            if isinstance(kpi.measure, ir.DurationMeasure):
                target_value = kpi.target.value if kpi.target is not None else None
                business = (isinstance(target_value, ir.Duration) and target_value.business
                            and plan.default_calendar is not None)
            self.measured.append((kpi, period, _Totals(self.zone, period), business))
        # the KPIs a lead can count in, by the stage it must have entered: a lead is tallied by
        # the KPIs of its stages, not by every KPI (a policy of 1,000 stages has 170 KPIs, and a
        # replay of its fixtures 9,000 leads)
        self._by_stage: dict[str, list[int]] = {}
        for k, (kpi, _, _, _) in enumerate(self.measured):
            measure = kpi.measure
            stage = measure.source if isinstance(measure, (ir.ConversionMeasure, ir.DurationMeasure)) else measure.stage
            self._by_stage.setdefault(stage.name, []).append(k)

    def add_lead(self, lead) -> None:
        self.add_contributions(self.contributions(lead))

    def add_contributions(self, contributions: list[tuple[int, datetime, float, Any]]) -> None:
        """Add what `contributions` returned for a lead (in the order the leads are to be tallied:
        sums of floats depend on it)."""
        measured = self.measured
        for k, at, numerator, group in contributions:
            measured[k][2].add(at, numerator, 1, group)

    def contributions(self, lead) -> list[tuple[int, datetime, float, Any]]:
        """What `lead` adds to the KPIs, (KPI index, moment, numerator, group) in the order
        `add_lead` adds them: a few tuples, where the lead itself is large (a replay of thousands
        of leads keeps these and lets each lead go)."""
        out: list[tuple[int, datetime, float, Any]] = []
        by_stage = self._by_stage
        touched: set[int] = set()
        for stage in {visit.stage for visit in lead.visits}:
            touched.update(by_stage.get(stage, ()))
        for k in sorted(touched):
            kpi, _, _, business = self.measured[k]
            measure = kpi.measure
            group_of = _grouping(kpi)

            def add(visit, at: datetime, numerator: float, k=k, group_of=group_of) -> None:
                out.append((k, at, numerator, group_of(lead, visit)))

            if isinstance(measure, ir.CountMeasure):
                for visit in lead.visits:
                    if visit.stage == measure.stage.name:
                        add(visit, visit.entered, 1)
            elif isinstance(measure, ir.ConversionMeasure):
                targets = {t.name for t in measure.targets}
                for visit, reached in _conversions(lead.visits, measure.source.name, targets):
                    add(visit, visit.entered, 1 if reached is not None else 0)
            elif isinstance(measure, ir.ComplianceMeasure) and measure.deadline == "follow_up":
                for f in lead.follow_ups:
                    statuses = {step[2] for step in f.steps}
                    if f.stage != measure.stage.name or not f.steps or not (statuses == {"met"} or "missed" in statuses):
                        continue  # cut short by the lead moving on, or still open
                    add(_visit(lead, f.stage, f.entered), f.entered, 0 if "missed" in statuses else 1)
            elif isinstance(measure, ir.ComplianceMeasure):
                for d in lead.deadlines:
                    if d.stage == measure.stage.name and d.kind == measure.deadline and d.status in (
                            "met", "at_risk", "breached"):
                        add(_visit(lead, d.stage, d.entered), d.entered, 1 if d.status != "breached" else 0)
            elif isinstance(measure, (ir.AverageMeasure, ir.SumMeasure)):
                text = measure.quantity.text
                for visit in lead.visits:
                    if visit.stage == measure.stage.name and visit.snapshot is not None:
                        value = visit.snapshot.get(text)
                        if isinstance(value, (int, float)) and not isinstance(value, bool):
                            add(visit, visit.entered, value)
            elif isinstance(measure, ir.OutcomeMeasure):
                for at, stage, kind, outcome in lead.activity_log:
                    if stage == measure.stage.name and kind == measure.activity:
                        add(_visit_at(lead, at), at, 1 if outcome == measure.outcome else 0)
            elif isinstance(measure, ir.DurationMeasure):
                calendar = self.plan.default_calendar
                for visit, reached in _conversions(lead.visits, measure.source.name, {measure.target.name}):
                    if reached is None:
                        continue
                    entered = visit.entered
                    if business:
                        minutes = calendar.working_minutes_between(entered, reached)
                    else:
                        minutes = (reached - entered).total_seconds() / 60
                    add(visit, entered, minutes)
        return out

    def merge(self, other: KpiTally) -> None:
        for (_, _, mine, _), (_, _, theirs, _) in zip(self.measured, other.measured, strict=True):
            mine.merge(theirs)

    def state(self) -> list[tuple[dict, dict, set]]:
        """The numerators, denominators and groups as plain data (what another process sends back)."""
        return [(dict(t.numerators), dict(t.denominators), set(t.groups)) for _, _, t, _ in self.measured]

    def absorb(self, state: list[tuple[dict, dict, set]]) -> None:
        """Add another process's tally (of other leads)."""
        for (_, _, totals, _), (numerators, denominators, groups) in zip(self.measured, state, strict=True):
            totals.groups |= groups
            for key, value in numerators.items():
                totals.numerators[key] = totals.numerators.get(key, 0) + value
            for key, value in denominators.items():
                totals.denominators[key] = totals.denominators.get(key, 0) + value

    def results(self, first: datetime | None, end: datetime | None) -> list[KpiResult]:
        if first is None or end is None:
            return [KpiResult(kpi, _unit(kpi)) for kpi, _, _, _ in self.measured]
        first_day = first.astimezone(self.zone).date()
        last_day = end.astimezone(self.zone).date()
        results = []
        for kpi, period, totals, business in self.measured:
            measure = kpi.measure
            result = KpiResult(kpi, _unit(kpi), business=business)
            groups = sorted(totals.groups, key=lambda g: (g is None, str(g))) if kpi.by is not None else []
            totalled = isinstance(measure, (ir.CountMeasure, ir.SumMeasure))  # a count or total, not a share
            start = period_start(first_day, period)
            while start <= last_day:
                stop = next_period(start, period)
                for group in groups or [None]:
                    numerator = totals.numerators.get((start, group))
                    denominator = totals.denominators.get((start, group))
                    if totalled:
                        value = numerator or 0
                        numerator, denominator = value, None
                    elif denominator:
                        value = numerator / denominator
                    else:
                        value = None
                    value = _tidy(value)
                    result.rows.append(KpiRow(
                        period_label(start, period), start, stop, value, _tidy(numerator), denominator,
                        _status(kpi, value, self.plan), partial=start < first_day or stop > last_day + timedelta(days=1),
                        group=group,
                    ))
                start = stop
            results.append(result)
        return results


class _Totals:
    """Numerators and denominators of one KPI, per (period start, breakdown group)."""

    def __init__(self, zone, period: str) -> None:
        self.zone = zone
        self.period = period
        self.numerators: dict[tuple[date, Any], float] = {}
        self.denominators: dict[tuple[date, Any], int] = {}
        self.groups: set = set()

    def add(self, at: datetime, numerator: float, denominator: int = 1, group: Any = None) -> None:
        key = (period_start(at.astimezone(self.zone).date(), self.period), group)
        self.groups.add(group)
        self.numerators[key] = self.numerators.get(key, 0) + numerator
        self.denominators[key] = self.denominators.get(key, 0) + denominator

    def merge(self, other: _Totals) -> None:
        self.groups |= other.groups
        for key, value in other.numerators.items():
            self.numerators[key] = self.numerators.get(key, 0) + value
        for key, value in other.denominators.items():
            self.denominators[key] = self.denominators.get(key, 0) + value


def _grouping(kpi: ir.Kpi):
    """The breakdown group of one contribution: (lead, visit) → the owner or a property value."""
    by = kpi.by
    if by is None:
        return lambda lead, visit: None
    if by.name == "owner":  # always the lead's owner (during the measured stay)
        def owner(lead, visit):
            if visit is None:
                return lead.owner
            return visit.owner_changes[-1][1] if visit.owner_changes else visit.owner
        return owner
    name = by.name

    def value(lead, visit):
        snapshot = visit.snapshot if visit is not None else None
        found = snapshot.get(name) if snapshot else None
        return found if found is None or isinstance(found, (str, int, float, bool)) else str(found)
    return value


def _visit(lead, stage: str, entered: datetime):
    """The stay of `lead` in `stage` that began at `entered`."""
    return next((v for v in lead.visits if v.stage == stage and v.entered == entered), None)


def _visit_at(lead, at: datetime):
    """The stay the lead was in at `at` (the latest one begun by then)."""
    found = None
    for visit in lead.visits:
        if visit.entered > at:
            break
        found = visit
    return found


def _conversions(visits, source: str, targets: set[str]):
    """(the visit of `source`, when it entered a target or None) for each entry into `source`."""
    out = []
    for i, visit in enumerate(visits):
        if visit.stage != source:
            continue
        reached = None
        for later in visits[i + 1:]:
            if later.stage == source:
                break
            if later.stage in targets:
                reached = later.entered
                break
        out.append((visit, reached))
    return out


def _unit(kpi: ir.Kpi) -> str:
    measure = kpi.measure
    if isinstance(measure, ir.CountMeasure):
        return "count"
    if isinstance(measure, (ir.ConversionMeasure, ir.ComplianceMeasure, ir.OutcomeMeasure)):
        return "ratio"
    if isinstance(measure, ir.DurationMeasure):
        return "minutes"
    return "number"


def _tidy(value):
    if isinstance(value, float):
        value = round(value, 6)
        if value.is_integer():
            return int(value)
    return value


def threshold_value(value: ir.Value, plan) -> float | None:
    if isinstance(value, ir.Duration) and value.business:
        calendar = plan.default_calendar
        return business_minutes(value, calendar) if calendar is not None else None
    return constant(value)


def _status(kpi: ir.Kpi, value, plan) -> str:
    if value is None:
        return "no_data"
    if kpi.alert is not None:
        limit = threshold_value(kpi.alert.value, plan)
        if limit is not None and compare(value, kpi.alert.op, limit):
            return "alert"
    if kpi.target is not None:
        limit = threshold_value(kpi.target.value, plan)
        if limit is not None:
            return "met" if compare(value, kpi.target.op, limit) else "missed"
    return "none"
