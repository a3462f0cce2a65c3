"""Operations: is the agreement being kept alive (reviews held on time) and can the teams
actually do what it asks (lead targets within capacity)?

Review expiry is judged by `sla check --today YYYY-MM-DD` (default: the real date), so CI can
pin the date and stay reproducible.
"""

from __future__ import annotations

from datetime import date
from typing import Iterator

from .. import ir
from ..diagnostics import Diagnostic, Listing, Message, Related, Severity, define_rule
from . import CheckContext, check

REVIEW_OVERDUE = define_rule(
    "SLA718",
    "review-overdue",
    Severity.WARNING,
    "A review's next meeting is overdue: its last held date plus its cadence lies in the past.",
    explanation="When a review states `last held DATE` and `every …`, the next meeting is due "
    "one cadence after that date (months count as calendar months: 31 January + 1 month is "
    "28 or 29 February). Once that day has passed the review is overdue — the agreement is "
    "not being revisited as promised. Update `last held` after each meeting. The date is "
    "judged by `sla check --today YYYY-MM-DD` (default: today), so CI can pin it.",
    bad='review criteria "Criteria review" {\n  every quarter\n  last held 2025-01-10\n}',
    good='review criteria "Criteria review" {\n  every quarter\n  last held 2026-10-06\n}',
)
TARGET_EXCEEDS_CAPACITY = define_rule(
    "SLA719",
    "target-exceeds-capacity",
    Severity.WARNING,
    "A lead-count target asks a team to take more leads than its declared capacity.",
    explanation="A team may declare `capacity N people at M leads per PERIOD` (its sub-teams' "
    "capacities, `part of`, add up). A KPI counting the leads entering a stage "
    "(`measure count mql per month`) with a minimum target (`target >= 250`) asks the stage's "
    "owner to follow up at least that many; when that exceeds the capacity, the agreement "
    "promises follow-ups that cannot happen. Periods are converted to a common one "
    "(a month is 365.25 / 12 days).",
    bad='party sales "Sales" {\n  capacity 6 people at 30 leads per month\n}\n…\n'
    'kpi mqls "Monthly MQLs" {\n  measure count mql per month\n  target >= 250\n}',
    good='kpi mqls "Monthly MQLs" {\n  measure count mql per month\n  target >= 150\n}',
)


def add_cadence(start: date, cadence: ir.Cadence) -> date:
    return ir.add_period(start, cadence.every, cadence.unit)


def _every(cadence: ir.Cadence) -> str:
    """The cadence as written in the policy (`every month`, `every 2 weeks`)."""
    return f"every {cadence.unit}" if cadence.every == 1 else f"every {cadence.every} {cadence.unit}s"


@check(REVIEW_OVERDUE)
def find_overdue_reviews(ctx: CheckContext) -> Iterator[Diagnostic]:
    today = ctx.today
    for review in ctx.policy.reviews:
        if review.last_held is None or review.cadence is None:
            continue
        try:
            due = add_cadence(review.last_held.value, review.cadence)
        except (OverflowError, ValueError):
            continue
        if today > due:
            late = (today - due).days
            yield Diagnostic(
                REVIEW_OVERDUE,
                (Message('review `{review}` is overdue: last held {held}, {cadence}, so due by {due} (1 day ago on {today})', review=review.id, held=review.last_held.value.isoformat(), cadence=_every(review.cadence), due=due.isoformat(), today=today.isoformat())
                 if late == 1 else
                 Message('review `{review}` is overdue: last held {held}, {cadence}, so due by {due} ({late} days ago on {today})', review=review.id, held=review.last_held.value.isoformat(), cadence=_every(review.cadence), due=due.isoformat(), late=late, today=today.isoformat())),
                review.last_held.span,
                help=Message('hold the meeting and update `last held`'),
                related=(Related(review.cadence.span, Message('cadence')),),
            )


_MONTHS_PER = {"day": 12 / 365.25, "week": 12 / (365.25 / 7), "month": 1.0, "quarter": 3.0, "year": 12.0}


def team_capacity(policy: ir.Policy, team_id: str) -> tuple[float, list[ir.Team]] | None:
    """Leads per month the team and its sub-teams can take, and the teams that declare it."""
    children: dict[str, list[str]] = {}  # one pass over the teams, not one per team of the family
    for team in policy.teams:
        if team.parent is not None:
            children.setdefault(team.parent.name, []).append(team.id)
    family = [team_id]
    seen = {team_id}
    index = 0
    while index < len(family):
        for child in children.get(family[index], ()):
            if child not in seen:
                seen.add(child)
                family.append(child)
        index += 1
    declaring = [policy.team_by_id[t] for t in family if t in policy.team_by_id and policy.team_by_id[t].capacity]
    if not declaring:
        return None
    total = 0.0
    for team in declaring:
        capacity = team.capacity
        per = _MONTHS_PER.get(capacity.period)
        if per is None:
            return None
        total += capacity.leads_per_period / per
    return total, declaring


@check(TARGET_EXCEEDS_CAPACITY)
def find_targets_beyond_capacity(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    for kpi in policy.kpis:
        measure, target = kpi.measure, kpi.target
        if not isinstance(measure, ir.CountMeasure) or target is None or kpi.period is None:
            continue
        if target.op not in (">=", ">", "==") or not isinstance(target.value, ir.Number):
            continue
        stage = policy.stage_by_id.get(measure.stage.name)
        per = _MONTHS_PER.get(kpi.period.name)
        if stage is None or stage.owner is None or per is None:
            continue
        found = team_capacity(policy, stage.owner.name)
        if found is None:
            continue
        capacity, teams = found
        wanted = target.value.value / per
        if target.op == ">":
            wanted += 1e-9
        if wanted <= capacity + 1e-9:
            continue
        in_kpi_period = capacity * per
        declared = Listing((Message("`{team}`: {people} people × {leads} leads per {period}", team=t.id,
                                    people=t.capacity.people, leads=t.capacity.leads_per_person,
                                    period=t.capacity.period) for t in teams), limit=len(teams), separator="; ")
        yield Diagnostic(
            TARGET_EXCEEDS_CAPACITY,
            Message('KPI `{kpi}` asks for {op} {target} leads in `{stage}` per {period}, but `{owner}`, which owns them, can take about {capacity:.0f} per {period} ({declared})', kpi=kpi.id, op=target.op, target=target.value.value, stage=stage.id, period=kpi.period.name, owner=stage.owner.name, capacity=in_kpi_period, declared=declared),
            target.span,
            help=Message('lower the target, or declare the capacity the team really has (people or leads per person)'),
            related=tuple(Related(t.capacity.span, Message('capacity declared here')) for t in teams),
        )
