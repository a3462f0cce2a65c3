"""The report as data: one JSON-able dict that every output format renders.

Numbers only; words come from `targets/report/messages.toml` in the renderers. Rates are
fractions (0.95), durations minutes, moments ISO 8601 in the agreement's time zone. A rate
with nothing to divide by is null. The definitions:

- deadline compliance: of the deadlines that fell due (met, at risk or breached — not the
  cancelled ones, the lead left first, nor the ones still open at the as-of moment), the share
  that met the SLA (met or at risk) and the share that met the SLO (met);
- time to first touch: from entering a stage with a `respond` deadline to the first call,
  email or meeting that counts for it (with `via`, of a kind it requires of that lead), in
  working time when the deadline is written in `bh`/`bd`; median and 90th
  percentile by the nearest-rank method; the histogram's bins are an eighth of the deadline;
- follow-up completion: of the follow-up cadences that started in the period and were settled
  (every step met, or one missed — not those cut short by the lead moving on, nor still open),
  the share with every step met: the KPI `rate S.follow_up met`'s definition;
- cadences (`cadence at least N E per month`): of the periods of a stay in the stage that
  started in the report's period and had ended by the as-of moment, the ones that owed at least
  one occurrence (N × the share of the period spent in the stage, rounded down — the
  simulator's `cadence_periods`), the share that held as many; a stay too short to owe one is
  `nothing_owed`, a period still running `open`; every missed period is listed with its lead;
- funnel conversion: of the entries into a funnel stage, the share followed by an entry into a
  later funnel stage before the lead entered that stage again;
- KPIs: exactly `sla simulate`'s (`simulate/kpis.py`), rows of the reported period;
- review meetings: next due = `last held` + cadence; overdue when that is before the as-of
  day; due when it is no later than the end of the next period; a KPI alert that names a
  review in the reported period makes it due now.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

from .. import ir
from ..businesstime import business_minutes
from ..simulate.kpis import next_period, period_label, period_start
from ..simulate.model import value_to_json
from ..simulate.report import kpis_to_json
from .tally import CADENCE_STATUSES, STATUSES, ReportTally

FORMAT = "sla-report/1"
HISTOGRAM_BINS = 16  # two deadlines' worth of eighths, then one bin for everything later
TREND_PERIODS = 12


def parse_period(text: str) -> tuple[str, date, date] | None:
    """`2026-11` → ("month", 2026-11-01, 2026-12-01); also `2026-Q4`, `2026-W47`, `2026-11-30`, `2026`."""
    import re

    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}", text):
            start = date(int(text[:4]), int(text[5:]), 1)
            return "month", start, next_period(start, "month")
        if m := re.fullmatch(r"(\d{4})-[Qq]([1-4])", text):
            start = date(int(m[1]), 3 * (int(m[2]) - 1) + 1, 1)
            return "quarter", start, next_period(start, "quarter")
        if m := re.fullmatch(r"(\d{4})-W(\d{2})", text):
            start = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            return "week", start, start + timedelta(days=7)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            start = date.fromisoformat(text)
            return "day", start, start + timedelta(days=1)
        if re.fullmatch(r"\d{4}", text):
            start = date(int(text), 1, 1)
            return "year", start, date(int(text) + 1, 1, 1)
    except ValueError:
        return None
    return None


def default_period(as_of: datetime | None, zone, unit: str = "month", *,
                   earliest: datetime | None = None) -> tuple[str, date, date]:
    """The last period that has ended by the as-of moment (the month before, for a monthly
    review); the current one when the history starts after that period ended."""
    day = (as_of.astimezone(zone).date() if as_of is not None else date(1970, 1, 2))
    current = period_start(day, unit)
    if earliest is not None and earliest.astimezone(zone).date() >= current:
        return unit, current, next_period(current, unit)
    start = period_start(current - timedelta(days=1), unit)
    return unit, start, current


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p * len(sorted_values)))
    return round(sorted_values[rank - 1], 1)


def build_document(policy: ir.Policy, tally: ReportTally, replay, *, fingerprint: str, language: str,
                   diagnostics: dict[str, int]) -> dict[str, Any]:
    zone = tally.zone
    unit = tally.unit
    start, stop = tally.window
    as_of = replay.as_of
    fmt = replay.sim.format_time
    stage_by_id = policy.stage_by_id
    team_by_id = policy.team_by_id

    from ..agreement.words import Words

    words = Words(policy, language)  # the policy's texts in the report's language (its `translation` block)

    def stage_label(stage_id: str | None) -> str | None:
        stage = stage_by_id.get(stage_id) if stage_id else None
        return words.text(stage.label) if stage else stage_id

    def team_label(team_id: str | None) -> str | None:
        team = team_by_id.get(team_id) if team_id else None
        return words.text(team.label) if team else team_id

    def reason_text(reason: tuple) -> str | None:
        properties = policy.property_by_id
        return " / ".join(words.option(properties.get(name), value) for name, value in reason) or None

    # the periods of the trend: the reported one and up to TREND_PERIODS - 1 before it, from the first event on
    first_day = replay.first.astimezone(zone).date() if replay.first is not None else start
    periods: list[date] = []
    cursor = start
    while len(periods) < TREND_PERIODS and cursor >= period_start(first_day, unit):
        periods.insert(0, cursor)
        cursor = period_start(cursor - timedelta(days=1), unit)

    # ------------------------------------------------------------------ deadlines
    compliance = []
    team_totals: dict[str | None, dict[str, int]] = {}
    def calendar_of(stage: ir.Stage):
        plan = tally.plan.stages.get(stage.id)
        return plan.calendar if plan is not None else None

    for stage in policy.stages:
        for d in stage.deadlines:
            counts = {s: tally.deadlines.get((start, d.clause_id, s), 0) for s in STATUSES}
            settled = counts["met"] + counts["at_risk"] + counts["breached"]
            trend = []
            for p in periods:
                c = {s: tally.deadlines.get((p, d.clause_id, s), 0) for s in ("met", "at_risk", "breached")}
                whole = sum(c.values())
                trend.append({"period": period_label(p, unit), "settled": whole,
                              "sla_rate": _rate(c["met"] + c["at_risk"], whole),
                              "slo_rate": _rate(c["met"], whole) if d.target is not None else None})
            team = tally.team_of.get(d.clause_id)
            totals = team_totals.setdefault(team, {s: 0 for s in STATUSES})
            for s in STATUSES:
                totals[s] += counts[s]
            compliance.append({
                "clause": d.clause_id, "stage": stage.id, "stage_label": stage_label(stage.id), "kind": d.kind,
                "team": team, "team_label": team_label(team),
                "within": ir.value_source(d.within), "within_minutes": _minutes(d.within, calendar_of(stage)),
                "target": ir.value_source(d.target) if d.target is not None else None,
                **counts, "settled": settled,
                "sla_rate": _rate(counts["met"] + counts["at_risk"], settled),
                "slo_rate": _rate(counts["met"], settled) if d.target is not None else None,
                "trend": trend,
            })

    escalations_by_team: dict[str | None, int] = {}
    escalations = []
    for stage in policy.stages:
        for e in stage.escalations:
            team = tally.team_of.get(e.clause_id)
            count = sum(n for (clause, _), n in tally.escalated.items() if clause == e.clause_id)
            escalations_by_team[team] = escalations_by_team.get(team, 0) + count
            escalations.append({
                "clause": e.clause_id, "stage": stage.id, "stage_label": stage_label(stage.id), "on": e.on,
                "to": e.to.name, "to_label": team_label(e.to.name), "after": ir.value_source(e.after),
                "fired": count,
                "trend": [{"period": period_label(p, unit), "fired": tally.escalation_counts.get((p, e.clause_id), 0)}
                          for p in periods],
            })

    breaches = []
    for b in sorted(tally.breaches, key=lambda b: (b.entered, b.lead, b.clause)):
        late_until = b.at if b.at is not None else as_of
        breaches.append({
            "lead": b.lead, "clause": b.clause, "stage": b.stage, "stage_label": stage_label(b.stage),
            "kind": b.kind, "team": b.team, "owner": b.owner, "entered": fmt(b.entered), "due": fmt(b.due),
            "at": fmt(b.at) if b.at is not None else None,
            "late_minutes": round((late_until - b.due).total_seconds() / 60) if late_until is not None else None,
            "still_open": b.at is None,
        })

    teams = []
    for team, totals in team_totals.items():
        settled = totals["met"] + totals["at_risk"] + totals["breached"]
        teams.append({"team": team, "label": team_label(team), **totals, "settled": settled,
                      "sla_rate": _rate(totals["met"] + totals["at_risk"], settled),
                      "escalations": escalations_by_team.get(team, 0)})
    teams.sort(key=lambda t: (t["team"] is None, t["team"] or ""))

    owners: dict[tuple[str, str], dict[str, int]] = {}
    for (clause, owner, status), n in tally.by_owner.items():
        owners.setdefault((clause, owner), {s: 0 for s in STATUSES})[status] += n
    owner_rows = []
    for (clause, owner), counts in sorted(owners.items()):
        settled = counts["met"] + counts["at_risk"] + counts["breached"]
        owner_rows.append({"clause": clause, "owner": owner or None, **counts, "settled": settled,
                           "sla_rate": _rate(counts["met"] + counts["at_risk"], settled)})

    # ------------------------------------------------------------------ follow-ups
    follow_ups = []
    for stage in policy.stages:
        f = stage.follow_up
        if f is None:
            continue
        c = tally.follow_ups.get(f.clause_id, {})
        owed = c.get("complete", 0) + c.get("incomplete", 0)
        follow_ups.append({
            "clause": f.clause_id, "stage": stage.id, "stage_label": stage_label(stage.id), "team": tally.team_of.get(f.clause_id),
            "steps": len(f.offsets), "at": [ir.value_source(o) for o in f.offsets],
            "via": [ch.kind for ch in f.channels],
            "leads": c.get("leads", 0), "complete": c.get("complete", 0), "incomplete": c.get("incomplete", 0),
            "in_progress": c.get("in_progress", 0), "cut_short": c.get("cut_short", 0),
            "completion_rate": _rate(c.get("complete", 0), owed),
            "steps_met": c.get("steps_met", 0), "steps_missed": c.get("steps_missed", 0),
            "steps_cancelled": c.get("steps_cancelled", 0), "steps_open": c.get("steps_open", 0),
        })

    # ------------------------------------------------------------------ cadences
    cadences = []
    event_by_id = policy.event_by_id
    for stage in policy.stages:
        for c in stage.cadences:
            counts = {s: tally.cadence_counts.get((start, c.clause_id, s), 0) for s in CADENCE_STATUSES}
            owed = counts["met"] + counts["missed"]
            event = event_by_id.get(c.event.name)
            team = tally.team_of.get(c.clause_id)
            trend = []
            for p in periods:
                met = tally.cadence_counts.get((p, c.clause_id, "met"), 0)
                whole = met + tally.cadence_counts.get((p, c.clause_id, "missed"), 0)
                trend.append({"period": period_label(p, unit), "owed": whole, "rate": _rate(met, whole)})
            cadences.append({
                "clause": c.clause_id, "stage": stage.id, "stage_label": stage_label(stage.id),
                "event": c.event.name, "event_label": words.text(event.label) if event is not None else c.event.name,
                "minimum": c.minimum.value, "per": c.period, "team": team, "team_label": team_label(team),
                **counts, "owed": owed, "rate": _rate(counts["met"], owed), "trend": trend,
            })
    cadence_misses = [{
        "lead": m.lead, "clause": m.clause, "stage": m.stage, "stage_label": stage_label(m.stage), "team": m.team,
        "team_label": team_label(m.team), "from": fmt(m.start), "to": fmt(m.end), "required": m.required,
        "count": m.count,
    } for m in sorted(tally.cadence_misses, key=lambda m: (m.start, m.lead, m.clause))]

    # ------------------------------------------------------------------ funnel
    funnel = []
    for i, stage_id in enumerate(tally.funnel):
        entered = tally.entries.get((start, stage_id), 0)
        converted = tally.converted.get((start, stage_id), 0)
        last = i == len(tally.funnel) - 1
        funnel.append({
            "stage": stage_id, "stage_label": stage_label(stage_id), "entered": entered,
            "converted": None if last else converted,
            "rate": None if last else _rate(converted, entered),
            "next": None if last else tally.funnel[i + 1],
            "trend": [{"period": period_label(p, unit), "entered": tally.entries.get((p, stage_id), 0)}
                      for p in periods],
        })

    # ------------------------------------------------------------------ time to first touch
    touch = []
    for stage in policy.stages:
        for d in stage.deadlines:
            if d.kind != "respond":
                continue
            values = sorted(tally.touch.get(d.clause_id, ()))
            within = _minutes(d.within, calendar_of(stage))
            width = within / 8 if within else 60.0
            bins = [0] * (HISTOGRAM_BINS + 1)
            for v in values:
                bins[min(int(v // width), HISTOGRAM_BINS)] += 1
            touch.append({
                "clause": d.clause_id, "stage": stage.id, "stage_label": stage_label(stage.id),
                "business": d.clause_id in tally.business_clock,
                "within": ir.value_source(d.within), "within_minutes": within,
                "target_minutes": _minutes(d.target, calendar_of(stage)) if d.target is not None else None,
                "touched": len(values), "untouched": tally.untouched.get(d.clause_id, 0),
                "median_minutes": _percentile(values, 0.5), "p90_minutes": _percentile(values, 0.9),
                "mean_minutes": round(sum(values) / len(values), 1) if values else None,
                "within_sla": sum(1 for v in values if within is not None and v <= within),
                "histogram": [{"from_minutes": round(i * width, 1),
                               "to_minutes": round((i + 1) * width, 1) if i < HISTOGRAM_BINS else None,
                               "count": n} for i, n in enumerate(bins)],
            })

    # ------------------------------------------------------------------ recycling
    recycles = [{"clause": clause, "to": to, "to_label": stage_label(to), "reason": reason_text(reason), "count": n,
                 "recycle": bool(stage_by_id.get(to) and stage_by_id[to].is_recycle)}
                for (clause, to, reason), n in sorted(tally.recycles.items(), key=lambda kv: (-kv[1], kv[0]))]
    missing_records = [{"clause": clause, "count": n} for clause, n in sorted(tally.missing_records.items())]

    # ------------------------------------------------------------------ KPIs
    kpi_rows = []
    alerts_naming_review: dict[str, list[str]] = {}
    label = period_label(start, unit)
    for result, data in zip(results := tally.kpis.results(replay.first, as_of), kpis_to_json(results), strict=True):
        kpi = result.kpi
        kpi_unit = kpi.period.name if kpi.period is not None and kpi.period.name in ir.PERIODS else "month"
        # a breakdown (`by owner`, `by PROPERTY`) has one row per group and period: one line each
        groups = list(dict.fromkeys(r.group for r in result.rows)) if getattr(kpi, "by", None) is not None else [None]
        for group in groups:
            mine = [r for r in result.rows if getattr(r, "group", None) == group]
            rows = [r for r in mine if r.start < stop and r.end > start]
            row = next((r for r in rows if r.period == label), None)
            if row is None and rows and kpi_unit != unit:  # a quarterly KPI in a monthly review: its quarter
                row = rows[-1]
            if row is None and group is not None:
                continue  # a group with nothing in the reported period
            alert = kpi.alert
            fired = row is not None and row.status == "alert"
            if fired and alert is not None and alert.review is not None:
                alerts_naming_review.setdefault(alert.review.name, []).append(kpi.id)
            trend_rows = [r for r in mine if r.start < stop][-TREND_PERIODS:]
            kpi_rows.append({
                "kpi": kpi.id, "clause": kpi.clause_id, "label": words.text(kpi.label),
                "group": value_to_json(group) if group is not None else None,
                "owner": kpi.owner.name if kpi.owner else None,
                "owner_label": team_label(kpi.owner.name) if kpi.owner else None,
                "measure": data["measure"], "unit": data["unit"], "period": row.period if row else None,
                "target": data["target"], "target_pending": kpi.target_pending, "alert": data["alert"],
                "alert_action": alert.action if alert is not None else None,
                "alert_notify": [n.name for n in alert.notify] if alert is not None else [],
                "alert_review": alert.review.name if alert is not None and alert.review is not None else None,
                "value": row.value if row else None, "numerator": row.numerator if row else None,
                "denominator": row.denominator if row else None,
                "status": row.status if row else "no_data", "partial": row.partial if row else False,
                "alert_fired": fired,
                "trend": [{"period": r.period, "value": r.value, "status": r.status} for r in trend_rows],
            })

    # ------------------------------------------------------------------ review meetings
    as_of_day = as_of.astimezone(zone).date() if as_of is not None else stop
    horizon = next_period(stop, unit) - timedelta(days=1)
    reviews = []
    for review in policy.reviews:
        cadence = review.cadence
        last = review.last_held.value if review.last_held is not None else None
        next_due = _add_cadence(last, cadence) if last is not None and cadence is not None else None
        if review.id in alerts_naming_review:
            status = "due_now"
        elif next_due is None:
            status = "not_recorded"
        elif next_due < as_of_day:
            status = "overdue"
        elif next_due <= horizon:
            status = "due"
        else:
            status = "scheduled"
        reviews.append({
            "review": review.id, "clause": review.clause_id, "label": words.text(review.label),
            "every": cadence.every if cadence is not None else None, "unit": cadence.unit if cadence else None,
            "owner": review.owner.name if review.owner else None,
            "covers": [c.name for c in review.covers],
            "last_held": last.isoformat() if last else None, "next_due": next_due.isoformat() if next_due else None,
            "status": status, "days_overdue": (as_of_day - next_due).days if status == "overdue" else None,
            "alerts": alerts_naming_review.get(review.id, []),
        })

    agreement = policy.agreement
    return {
        "format": FORMAT,
        "language": language,
        "policy": {"title": words.text(agreement.title) if agreement else None,
                   "version": agreement.version.value if agreement and agreement.version else None,
                   "fingerprint": fingerprint},
        "period": {"label": label, "unit": unit, "start": start.isoformat(),
                   "end": (stop - timedelta(days=1)).isoformat()},
        "time_zone": str(zone.key),
        "as_of": fmt(as_of) if as_of is not None else None,
        "history": {"from": fmt(replay.first) if replay.first is not None else None,
                    "events": replay.feed.events, "skipped": replay.feed.skipped, "leads": replay.leads,
                    "problems": dict(sorted(diagnostics.items()))},
        "trend_periods": [period_label(p, unit) for p in periods],
        "compliance": compliance,
        "teams": teams,
        "owners": owner_rows,
        "breaches": breaches,
        "escalations": escalations,
        "follow_ups": follow_ups,
        "cadences": cadences,
        "cadence_misses": cadence_misses,
        "funnel": funnel,
        "time_to_first_touch": touch,
        "recycles": recycles,
        "missing_records": missing_records,
        "kpis": kpi_rows,
        "reviews": reviews,
    }


def _minutes(duration: ir.Duration | None, calendar=None) -> float | None:
    """A duration's length in minutes; a business duration's in working minutes of `calendar`."""
    if duration is None:
        return None
    if duration.business:
        return business_minutes(duration, calendar) if calendar is not None else None
    return duration.minutes


def _add_cadence(day: date, cadence: ir.Cadence) -> date:
    if cadence.unit == "day":
        return day + timedelta(days=cadence.every)
    if cadence.unit == "week":
        return day + timedelta(days=7 * cadence.every)
    months = cadence.every * {"month": 1, "quarter": 3, "year": 12}[cadence.unit]
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    import calendar

    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
