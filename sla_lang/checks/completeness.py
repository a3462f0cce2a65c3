"""Completeness lint: the design checklist of a sales–marketing SLA.

One rule per checklist item (MQL and SQL criteria, hand-offs, follow-up and first-approach
deadlines, the way back to marketing, reviews, KPIs, priorities, escalation, feedback,
cancellation conditions) plus KPI alerts that sit on the wrong side of their target. They are
warnings — an agreement can be valid without them — and errors under `--strict`. The owner of
the document is SLA404.

Which stage is the MQL, which team is Sales … is recognised as described in
`recognition.py` (and in each rule's explanation).
"""

from __future__ import annotations

from typing import Iterator

from .. import ir
from ..diagnostics import Diagnostic, Listing, Message, Related, Severity, define_rule
from . import CheckContext, check
from .conditions import Intervals
from .graph import agreement_anchor, flow, intended_targets
from .recognition import is_sales_side, stage_owner, stages_of_kind, team_role

_STAGE_HEURISTIC = (
    "A stage is recognised by its id or label (`MQL` as a word, \"marketing qualified\", "
    "マーケティング・クオリファイド; `SQL`, \"sales qualified\", セールス・クオリファイド; "
    "\"opportunity\", \"deal\", 商談, 案件) and, only when no stage matches by name, by its "
    "HubSpot lifecycle stage (`hubspot marketingqualifiedlead` …). Terminal stages never count."
)
_TEAM_HEURISTIC = (
    "A team's function is its `role`; a team without one is recognised by its id and label "
    "(sales, AE, field, 営業, セールス → sales; inside, IS, SDR, BDR, インサイド → inside sales; "
    "marketing, マーケ → marketing; ops, planning, 企画 → operations; manager → management) or "
    "takes its parent's role (`part of`)."
)


def _checklist_rule(code: str, name: str, summary: str, explanation: str, bad: str, good: str):
    return define_rule(code, name, Severity.WARNING, summary, explanation=explanation, bad=bad, good=good)


MISSING_MQL_CRITERIA = _checklist_rule(
    "SLA701",
    "missing-mql-criteria",
    "No MQL criteria: no stage is the MQL, or no transition into it says when a lead qualifies.",
    "The checklist's first item: the criteria that make a lead an MQL are written down. sla "
    "looks for a transition into the MQL stage (from another stage) with a `when` condition. "
    "A policy without any stages is reported here too. " + _STAGE_HEURISTIC,
    'stage mql "MQL" {\n  owner sales\n}\nstage lead "Lead" {\n  entry\n  -> mql after 7d\n}',
    'stage lead "Lead" {\n  entry\n  -> mql when lead_score >= 50\n}',
)
MISSING_SQL_CRITERIA = _checklist_rule(
    "SLA702",
    "missing-sql-criteria",
    "No SQL criteria: no stage is the SQL, or no transition into it says when a lead qualifies.",
    "The criteria that make a lead sales-qualified (confirmed buying intent, a meeting …) are "
    "written down as a `when` on a transition into the SQL stage. " + _STAGE_HEURISTIC,
    'stage mql "MQL" {\n  -> sql after 5bd\n}',
    'stage mql "MQL" {\n  -> sql when buying_intent == "yes"\n}',
)
MISSING_MQL_HANDOFF = _checklist_rule(
    "SLA703",
    "missing-mql-handoff",
    "Leads become MQLs in the hands of another team, but the MQL stage says nothing about the hand-off.",
    "When the MQL stage's owner differs from the owner of a stage leads come from, the "
    "agreement should say how and when the new owner is told: a `handoff from TEAM { notify …; "
    "include … }` block in the MQL stage, which applies the moment the lead becomes an MQL. "
    + _STAGE_HEURISTIC,
    'stage mql "MQL" {\n  owner inside_sales\n  respond within 24h\n}',
    'stage mql "MQL" {\n  owner inside_sales\n  handoff from marketing {\n    notify slack "#mql", task\n'
    '    include firstname, company, lead_score\n  }\n  respond within 24h\n}',
)
MISSING_MQL_FOLLOW_UP_DEADLINE = _checklist_rule(
    "SLA704",
    "missing-mql-follow-up-deadline",
    "The MQL stage has no follow-up deadline (`respond within …`).",
    "Whoever owns MQLs — Inside Sales, or Sales when there is no inside-sales team — must "
    "follow each one up within an agreed time (typically 24 hours): `respond within 24h`. "
    + _STAGE_HEURISTIC,
    'stage mql "MQL" {\n  owner inside_sales\n  decide within 5bd\n}',
    'stage mql "MQL" {\n  owner inside_sales\n  respond within 24h target 12h\n  decide within 5bd\n}',
)
MISSING_SQL_HANDOFF = _checklist_rule(
    "SLA705",
    "missing-sql-handoff",
    "Leads become SQLs in the hands of another team, but the SQL stage says nothing about the hand-off.",
    "When the SQL stage's owner (usually field sales) differs from the owner of a stage leads "
    "come from (usually inside sales), the SQL stage needs a `handoff from TEAM { … }` block "
    "saying how the account executive is told and what travels with the lead. "
    + _STAGE_HEURISTIC,
    'stage sql "SQL" {\n  owner field_sales\n  respond within 48h\n}',
    'stage sql "SQL" {\n  owner field_sales\n  handoff from inside_sales {\n    notify email, task\n'
    '    include firstname, company, call_notes\n  }\n  respond within 48h\n}',
)
MISSING_SALES_FIRST_APPROACH_DEADLINE = _checklist_rule(
    "SLA706",
    "missing-sales-first-approach-deadline",
    "No deadline for Sales' first approach to the leads it receives.",
    "Every stage where a sales team (role `sales`, not inside sales) receives leads from a "
    "non-sales stage needs `respond within …` — the first approach, typically 48 hours after "
    "an SQL. Reported at each such stage, or at the agreement when Sales never receives "
    "leads. " + _TEAM_HEURISTIC,
    'stage sql "SQL" {\n  owner field_sales\n  decide within 10bd\n}',
    'stage sql "SQL" {\n  owner field_sales\n  respond within 48h target 24h\n  decide within 10bd\n}',
)
MISSING_RETURN_TO_MARKETING = _checklist_rule(
    "SLA707",
    "missing-return-to-marketing",
    "No rule returns leads that do not progress from Sales to Marketing.",
    "Leads Sales or Inside Sales cannot progress now should go back to Marketing for "
    "nurturing, not be dropped: a transition from a stage a sales-side team owns into a "
    "`recycle` stage or a live (not terminal) stage Marketing owns, ideally with "
    "`record recycle_reason`. "
    + _TEAM_HEURISTIC,
    'stage sql "SQL" {\n  owner sales\n  -> won when deal_outcome == "won"\n}',
    'stage sql "SQL" {\n  owner sales\n  -> won when deal_outcome == "won"\n'
    '  -> nurture when buying_intent == "not_now" record recycle_reason\n}',
)
RECYCLE_WITHOUT_REASON = _checklist_rule(
    "SLA727",
    "recycle-without-reason",
    "Leads are sent back for nurturing without a recorded reason.",
    "When a team sends a lead back to a `recycle` stage by a decision (a transition with "
    "`when`), Marketing needs to know why — timing, no budget, no decision-maker, no need — "
    "to nurture it and to fix the criteria; the design guides make recording it part of the "
    "agreement (seed 001: 差し戻し理由). `record PROPERTY` on the transition names where the "
    "reason is kept; the HubSpot target makes the property required and the fixtures check "
    "it. A timeout into a recycle stage (`after` without `when`) needs no reason: the "
    "timeout is the reason.",
    'stage sql "SQL" {\n  -> nurture when buying_intent == "not_now"\n}',
    'stage sql "SQL" {\n  -> nurture when buying_intent == "not_now" record recycle_reason\n}',
)
IMPOSSIBLE_CONVERSION_KPI = define_rule(
    "SLA728",
    "impossible-conversion-kpi",
    Severity.ERROR,
    "A KPI measures a conversion between stages that no lead can ever make.",
    explanation="`rate A -> B` and `average time A -> B` follow the leads that enter `A` to "
    "`B`. When no route of transitions leads from `A` to `B` — `A` is terminal, or `B` lies "
    "before `A` in the funnel — the rate is always 0 and the average never has a value, so "
    "the KPI can never be met and its alert always fires. Usually the stages are the wrong "
    "way round or a transition is missing.",
    bad='kpi win_rate "Win rate" {\n  measure rate customer -> opportunity per month\n  target >= 20%\n}',
    good='kpi win_rate "Win rate" {\n  measure rate opportunity -> customer per month\n  target >= 20%\n}',
)
MISSING_WEEKLY_HANDOFF_REVIEW = _checklist_rule(
    "SLA708",
    "missing-weekly-handoff-review",
    "No review meets at least weekly to go through the hand-offs.",
    "A `review` held every week or more often that `covers handoff`, where Marketing and Sales "
    "(and Inside Sales) go through the leads handed over and those at risk.",
    'review monthly "Monthly meeting" {\n  every month\n  covers kpis\n}',
    'review weekly "Weekly lead review" {\n  every week\n  owner revops\n  attendees marketing, sales\n  covers handoff\n}',
)
MISSING_MQL_TO_SQL_KPI = _checklist_rule(
    "SLA709",
    "missing-mql-to-sql-kpi",
    "No KPI monitors the MQL→SQL conversion at least monthly.",
    "A KPI `measure rate MQL -> SQL per month` (or per week or day) tells whether the MQL "
    "criteria work. " + _STAGE_HEURISTIC,
    'kpi mqls "MQLs" {\n  measure count mql per month\n  target >= 100\n}',
    'kpi mql_to_sql "MQL to SQL" {\n  owner marketing\n  measure rate mql -> sql per month\n  target >= 20%\n}',
)
MISSING_SQL_TO_OPPORTUNITY_KPI = _checklist_rule(
    "SLA710",
    "missing-sql-to-opportunity-kpi",
    "No KPI monitors the SQL→opportunity conversion at least monthly.",
    "A KPI `measure rate SQL -> OPPORTUNITY per month` tells whether sales-qualified leads "
    "turn into deals. " + _STAGE_HEURISTIC,
    'kpi won "Won deals" {\n  measure count customer per month\n  target >= 5\n}',
    'kpi sql_to_opportunity "SQL to opportunity" {\n  owner sales\n  measure rate sql -> opportunity per month\n  target >= 40%\n}',
)
MISSING_CRITERIA_REVIEW = _checklist_rule(
    "SLA711",
    "missing-criteria-review",
    "No review revisits the MQL/SQL criteria at least quarterly.",
    "A `review` held every quarter or more often that `covers criteria`: scoring rules drift "
    "away from what predicts deals.",
    'review yearly "Yearly review" {\n  every year\n  covers criteria\n}',
    'review criteria "Criteria review" {\n  every quarter\n  owner marketing\n  covers criteria\n}',
)
MISSING_LEAD_PRIORITY = _checklist_rule(
    "SLA712",
    "missing-lead-priority",
    "The agreement has no lead priority rules.",
    "Priorities (`priority hot \"Hot\" when lead_score >= 80`, first match wins) tell Sales which "
    "leads to call first.",
    "(no `priority` lines)",
    'priority hot "Hot" when lead_score >= 80\npriority warm "Warm" when lead_score >= 60\npriority cold "Cold"',
)
MISSING_FOLLOW_UP_ESCALATION = _checklist_rule(
    "SLA713",
    "missing-follow-up-escalation",
    "A late MQL follow-up is escalated to nobody.",
    "The MQL stage's `respond` deadline needs an escalation that guards it (`escalate to "
    "sales_managers after 24h on respond`), so a lead that is not followed up in time reaches "
    "a manager. " + _STAGE_HEURISTIC,
    'stage mql "MQL" {\n  respond within 24h\n  escalate to sales_managers after 5bd on decide\n  decide within 5bd\n}',
    'stage mql "MQL" {\n  respond within 24h\n  escalate to sales_managers after 24h on respond\n}',
)
MISSING_FEEDBACK_RECORD = _checklist_rule(
    "SLA714",
    "missing-feedback-record",
    "Nothing says where Sales records its feedback on lead quality.",
    "An `information from SALES-TEAM to MARKETING-TEAM { \"…\" recorded in PROPERTY }` item "
    "names the CRM property where Sales (or Inside Sales) records the outcome or quality of "
    "handed-over leads, so Marketing can learn from it. " + _TEAM_HEURISTIC,
    'information from sales to marketing {\n  "Lead-quality feedback"\n}',
    'information from sales to marketing {\n  "Lead-quality feedback" recorded in lead_quality\n}',
)
MISSING_CANCELLATION_CONDITIONS = _checklist_rule(
    "SLA715",
    "missing-cancellation-conditions",
    "The agreement states no condition under which it must be rewritten.",
    "A `cancellation { … }` block lists when the SLA is torn up and rewritten: a major "
    "reorganisation of sales or marketing, a new product it no longer fits, a sudden change "
    "of the market.",
    "(no `cancellation` block)",
    'cancellation {\n  "Sales or marketing is substantially reorganised"\n}',
)
MISSING_AGREEMENT_REVIEW = _checklist_rule(
    "SLA716",
    "missing-agreement-review",
    "The whole agreement is not reviewed at least every six months.",
    "A `review` held every six months or more often that `covers agreement`: an SLA that is "
    "never revisited hollows out.",
    'review yearly "SLA review" {\n  every year\n  covers agreement\n}',
    'review sla_review "SLA review" {\n  every 6 months\n  owner revops\n  covers agreement\n}',
)
ALERT_ON_WRONG_SIDE = _checklist_rule(
    "SLA717",
    "alert-on-wrong-side-of-target",
    "A KPI alert fires while the target is being met.",
    "An alert should fire when the KPI is missing its target: with `target >= 20%` an alert "
    "`<= 25%` also fires at 22%, when all is well. The message gives the values where both "
    "the target and the alert hold.",
    "target >= 20%\nalert <= 25% \"Review the MQL criteria\"",
    "target >= 20%\nalert <= 15% \"Review the MQL criteria\"",
)


# ------------------------------------------------------------------ helpers


def _entering(ctx: CheckContext, stage: ir.Stage, kinds: set[str]) -> list[tuple[ir.Stage, ir.Transition]]:
    """Transitions into `stage` from stages that are not themselves in `kinds`."""
    f = flow(ctx)
    out = []
    for source in dict.fromkeys(f.predecessors[stage.id]):
        if source in kinds:
            continue
        for t in f.edges[source]:
            if t.target.name == stage.id:
                out.append((f.stages[source], t))
    for source, meant in intended_targets(ctx).items():  # `-> slq` meant `sql`: SLA301 says so, once
        if source not in kinds:
            out.extend((f.stages[source], t) for t, guess in meant if guess == stage.id)
    return out


def _review_every(review: ir.Review, topic: str, days: float) -> bool:
    return (
        review.cadence is not None
        and review.cadence.approx_days <= days + 0.5
        and any(c.name == topic for c in review.covers)
    )


_PERIOD_AT_MOST_MONTH = ("day", "week", "month")


def _conversion_kpi(policy: ir.Policy, sources: set[str], targets: set[str]) -> bool:
    for kpi in policy.kpis:
        m = kpi.measure
        stages = policy.stage_by_id  # an undeclared stage (SLA301) may be the one meant: no second finding
        if (
            isinstance(m, ir.ConversionMeasure)
            and (m.source.name in sources or m.source.name not in stages)
            and any(t.name in targets or t.name not in stages for t in m.targets)
            and kpi.period is not None
            and kpi.period.name in _PERIOD_AT_MOST_MONTH
        ):
            return True
    return False


# ------------------------------------------------------------------ criteria


@check(MISSING_MQL_CRITERIA, MISSING_SQL_CRITERIA)
def find_missing_criteria(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    anchor = agreement_anchor(policy)
    if not policy.stages:
        yield Diagnostic(
            MISSING_MQL_CRITERIA,
            Message('the policy declares no lifecycle stages, so it states no MQL criteria'),
            anchor,
            help=Message('declare the stages leads go through: `stage lead "Lead" { entry … }`, an MQL stage, an SQL stage …'),
        )
        return
    for rule, kind, word in ((MISSING_MQL_CRITERIA, "mql", "MQL"), (MISSING_SQL_CRITERIA, "sql", "SQL")):
        stages = stages_of_kind(policy, kind)
        if not stages:
            lifecycle = "marketingqualifiedlead" if kind == "mql" else "salesqualifiedlead"
            yield Diagnostic(
                rule,
                Message('no stage is recognised as the {word} stage, so the agreement states no {word} criteria', word=word),
                anchor,
                help=Message('name the stage `{kind}` (or put {word} in its label), or map it with `hubspot {lifecycle}`', kind=kind, word=word, lifecycle=lifecycle),
            )
            continue
        ids = {s.id for s in stages}
        if not any(t.condition is not None for s in stages for _, t in _entering(ctx, s, ids)):
            first = stages[0]
            yield Diagnostic(
                rule,
                Message('no transition into `{first}` says when a lead becomes an {word} (`when …`)', first=first.id, word=word),
                first.name_span,
                help=Message("write the {word} criteria on the transition into it, e.g. {example}", word=word,
                             example="`-> mql when lead_score >= 50`" if kind == "mql" else '`-> sql when buying_intent == "yes"`'),
            )


# ------------------------------------------------------------------ hand-offs and deadlines


@check(MISSING_MQL_HANDOFF, MISSING_SQL_HANDOFF)
def find_missing_handoffs(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    for rule, kind, word in ((MISSING_MQL_HANDOFF, "mql", "MQL"), (MISSING_SQL_HANDOFF, "sql", "SQL")):
        stages = stages_of_kind(policy, kind)
        ids = {s.id for s in stages}
        for stage in stages:
            if stage.handoff is not None or stage.owner is None:
                continue
            senders = sorted({stage_owner(source) for source, _ in _entering(ctx, stage, ids)
                              if stage_owner(source) not in (None, stage.owner.name)})
            if senders:
                yield Diagnostic(
                    rule,
                    Message('leads become {word}s in `{stage}` when they pass from {value} to `{owner}`, but nothing says how `{owner}` is told', word=word, stage=stage.id, value=Listing(senders, limit=len(senders)), owner=stage.owner.name),
                    stage.name_span,
                    help=Message('add `handoff from {senders} {{ notify …; include … }}` to stage `{stage}`', senders=senders[0], stage=stage.id),
                )


@check(MISSING_MQL_FOLLOW_UP_DEADLINE, MISSING_FOLLOW_UP_ESCALATION)
def find_missing_mql_follow_up(ctx: CheckContext) -> Iterator[Diagnostic]:
    for stage in stages_of_kind(ctx.policy, "mql"):
        respond = stage.deadline("respond")
        if respond is None and ctx.deadline_written(stage.id, "respond"):
            continue  # its duration is wrong, and reported
        if respond is None:
            yield Diagnostic(
                MISSING_MQL_FOLLOW_UP_DEADLINE,
                Message('MQL stage `{stage}` has no follow-up deadline', stage=stage.id),
                stage.name_span,
                help=Message('add `respond within 24h` (and an internal target: `target 12h`)'),
            )
        elif not any(e.on == "respond" for e in stage.escalations):
            yield Diagnostic(
                MISSING_FOLLOW_UP_ESCALATION,
                Message('nobody is told when an MQL in `{stage}` is not followed up within {within}', stage=stage.id, within=respond.within.text),
                respond.span,
                help=Message('add `escalate to MANAGERS after {within} on respond`', within=respond.within.text),
            )


@check(MISSING_SALES_FIRST_APPROACH_DEADLINE)
def find_missing_first_approach_deadline(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    f = flow(ctx)

    def sales(stage: ir.Stage) -> bool:
        return team_role(policy, stage_owner(stage)) == "sales"

    live_sales = [s for s in f.stages.values() if not s.is_terminal and sales(s)]
    receiving = [s for s in live_sales if any(not sales(f.stages[p]) for p in f.predecessors[s.id])]
    if not receiving:
        if not live_sales and f.stages:
            yield Diagnostic(
                MISSING_SALES_FIRST_APPROACH_DEADLINE,
                Message('no live stage is owned by a sales team, so nothing says how fast Sales approaches the leads it gets'),
                agreement_anchor(policy),
                help=Message('give the stage where Sales takes over (often the SQL) `owner SALES-TEAM` and `respond within 48h`'),
            )
        return
    for stage in receiving:
        if not ctx.deadline_written(stage.id, "respond"):
            yield Diagnostic(
                MISSING_SALES_FIRST_APPROACH_DEADLINE,
                Message('`{stage}` receives leads in `{stage2}`, but no `respond within` says how fast it makes the first approach', stage=stage_owner(stage), stage2=stage.id),
                stage.name_span,
                help=Message('add `respond within 48h` (with an internal `target`)'),
            )


@check(MISSING_RETURN_TO_MARKETING)
def find_missing_return_to_marketing(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    f = flow(ctx)
    if not f.stages:
        return
    for stage in f.stages.values():
        if stage.is_terminal or not is_sales_side(policy, stage_owner(stage)):
            continue
        for t in f.edges[stage.id]:
            target = t.target.name
            if f.is_terminal(target):
                continue  # archived or lost is not "back to marketing"
            if f.is_recycle(target) or team_role(policy, stage_owner(f.stages[target])) == "marketing":
                return
    yield Diagnostic(
        MISSING_RETURN_TO_MARKETING,
        Message('no transition returns leads from Sales or Inside Sales to Marketing'),
        agreement_anchor(policy),
        help=Message('add e.g. `-> nurture "Not now" when buying_intent == "not_now" record recycle_reason` to the stages Sales owns, with `nurture` a `recycle` stage owned by Marketing'),
    )


@check(RECYCLE_WITHOUT_REASON)
def find_recycling_without_reason(ctx: CheckContext) -> Iterator[Diagnostic]:
    f = flow(ctx)
    for stage in f.stages.values():
        if f.is_recycle(stage.id) or f.is_terminal(stage.id):
            continue
        for t in f.edges[stage.id]:
            if t.condition is not None and not t.record and f.is_recycle(t.target.name):
                yield Diagnostic(
                    RECYCLE_WITHOUT_REASON,
                    Message('leads sent from `{stage}` back to `{target}` are recycled without a recorded reason',
                            stage=stage.id, target=t.target.name),
                    t.span,
                    help=Message('add `record recycle_reason` (an enum property of the reasons: timing, budget, '
                                 'no decision-maker …) to the transition'),
                )


@check(IMPOSSIBLE_CONVERSION_KPI)
def find_impossible_conversion_kpis(ctx: CheckContext) -> Iterator[Diagnostic]:
    from .graph import reach, reaches

    f = flow(ctx)
    guessed = intended_targets(ctx)
    successors = {s: f.successors[s] + [g for _, g in guessed.get(s, ())] for s in f.stages}
    # Stages from which a transition to an undeclared stage can be reached (it might lead
    # anywhere: SLA301), found once backwards from those stages, so that a policy of thousands
    # of KPIs does not walk the graph from each KPI's stage (quadratic: 70 % of checking
    # 10,000 stages).
    predecessors: dict[str, list[str]] = {s: [] for s in f.stages}
    for stage, nexts in successors.items():
        for n in nexts:
            predecessors.setdefault(n, []).append(stage)
    undecided = reach((s for s in f.stages if s in f.unresolved and s not in guessed), predecessors)
    for kpi in ctx.policy.kpis:
        measure = kpi.measure
        if isinstance(measure, ir.ConversionMeasure):
            source, targets = measure.source.name, [t.name for t in measure.targets]
        elif isinstance(measure, ir.DurationMeasure):
            source, targets = measure.source.name, [measure.target.name]
        else:
            continue
        if source not in f.stages or any(t not in f.stages for t in targets):
            continue  # SLA301
        if source in undecided:
            continue  # a transition to an undeclared stage might lead there (SLA301)
        if not reaches(successors[source], successors, set(targets)):
            why = (Message('`{source}` is terminal', source=source) if f.is_terminal(source) else
                   Message('no transitions lead there from it'))
            yield Diagnostic(
                IMPOSSIBLE_CONVERSION_KPI,
                (Message('no lead can go from `{source}` to {targets} ({why}), so KPI `{kpi}` is always 0',
                         source=source, targets=Listing(targets), why=why, kpi=kpi.id)
                 if isinstance(measure, ir.ConversionMeasure) else
                 Message('no lead can go from `{source}` to {targets} ({why}), so KPI `{kpi}` never has a value',
                         source=source, targets=Listing(targets), why=why, kpi=kpi.id)),
                measure.span,
                help=Message('measure `{first} -> {second}`, the order leads go through them, or add the missing '
                             'transition', first=targets[0], second=source)
                if any(source in reach(successors[t], successors) for t in targets) else
                Message('measure stages a lead can go through in this order, or add the missing transition'),
            )


# ------------------------------------------------------------------ reviews, KPIs, the rest


@check(MISSING_WEEKLY_HANDOFF_REVIEW, MISSING_CRITERIA_REVIEW, MISSING_AGREEMENT_REVIEW)
def find_missing_reviews(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    anchor = agreement_anchor(policy)
    wanted = (
        (MISSING_WEEKLY_HANDOFF_REVIEW, "handoff", 7.0, "every week",
         Message("no review of the hand-offs is held at least weekly")),
        (MISSING_CRITERIA_REVIEW, "criteria", 91.31, "every quarter",
         Message("no review of the MQL/SQL criteria is held at least quarterly")),
        (MISSING_AGREEMENT_REVIEW, "agreement", 182.62, "every 6 months",
         Message("no review of the whole agreement is held at least half-yearly")),
    )
    for rule, topic, days, every, missing in wanted:
        if any(_review_every(r, topic, days) for r in policy.reviews):
            continue
        near = [r for r in policy.reviews if any(c.name == topic for c in r.covers)]
        yield Diagnostic(
            rule,
            Message("{missing} (`{review}` covers it less often)", missing=missing, review=near[0].id) if near else missing,
            near[0].name_span if near else anchor,
            help=Message('add a review `{every}` that `covers {topic}`', every=every, topic=topic) if not near else Message('hold `{near}` {every} or more often', near=near[0].id, every=every),
        )


@check(MISSING_MQL_TO_SQL_KPI, MISSING_SQL_TO_OPPORTUNITY_KPI)
def find_missing_conversion_kpis(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    mql = {s.id for s in stages_of_kind(policy, "mql")}
    sql = {s.id for s in stages_of_kind(policy, "sql")}
    opportunity = {s.id for s in stages_of_kind(policy, "opportunity")}
    anchor = agreement_anchor(policy)
    if mql and sql and not _conversion_kpi(policy, mql, sql):
        yield Diagnostic(
            MISSING_MQL_TO_SQL_KPI,
            Message('no KPI monitors the MQL→SQL conversion at least monthly'),
            anchor,
            help=Message('add a KPI with `measure rate {mql} -> {sql} per month` and a target (e.g. >= 20%)', mql=sorted(mql)[0], sql=sorted(sql)[0]),
        )
    if sql and not opportunity:
        yield Diagnostic(
            MISSING_SQL_TO_OPPORTUNITY_KPI,
            Message('no stage is recognised as the opportunity stage, so SQL→opportunity conversion cannot be monitored'),
            anchor,
            help=Message('add an opportunity stage (`hubspot opportunity`) after the SQL, and a KPI on the conversion'),
        )
    elif sql and not _conversion_kpi(policy, sql, opportunity):
        yield Diagnostic(
            MISSING_SQL_TO_OPPORTUNITY_KPI,
            Message('no KPI monitors the SQL→opportunity conversion at least monthly'),
            anchor,
            help=Message('add a KPI with `measure rate {sql} -> {opportunity} per month` and a target', sql=sorted(sql)[0], opportunity=sorted(opportunity)[0]),
        )


@check(MISSING_LEAD_PRIORITY, MISSING_CANCELLATION_CONDITIONS)
def find_missing_priorities_and_cancellation(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    if not policy.priorities:
        yield Diagnostic(
            MISSING_LEAD_PRIORITY,
            Message('the agreement has no lead priority rules, so Sales cannot tell which leads to call first'),
            agreement_anchor(policy),
            help=Message('add `priority hot "Hot" when lead_score >= 80`, … and a last one without a condition'),
        )
    if not policy.cancellations:
        yield Diagnostic(
            MISSING_CANCELLATION_CONDITIONS,
            Message('the agreement states no cancellation conditions'),
            agreement_anchor(policy),
            help=Message('add `cancellation { "Sales or marketing is substantially reorganised" … }`'),
        )


@check(MISSING_FEEDBACK_RECORD)
def find_missing_feedback_record(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    near = None
    for info in policy.information:
        teams = policy.team_by_id  # an undeclared team (SLA301) may be the one meant: no second finding
        if ((is_sales_side(policy, info.sender.name) or info.sender.name not in teams)
                and (team_role(policy, info.receiver.name) == "marketing" or info.receiver.name not in teams)):
            near = near or info
            if any(item.recorded_in is not None for item in info.items):
                return
    yield Diagnostic(
        MISSING_FEEDBACK_RECORD,
        Message("nothing says where Sales records its feedback on the leads it receives "
                "(this information block records none)") if near else
        Message("nothing says where Sales records its feedback on the leads it receives"),
        near.span if near else agreement_anchor(policy),
        help=Message('add `"Lead-quality feedback" recorded in lead_quality` to an `information from sales to marketing` block'),
    )


def _measure_number(value: ir.Value) -> tuple[float, str] | None:
    if isinstance(value, ir.Percent):
        return value.value, "%"
    if isinstance(value, ir.Number):
        return value.value, ""
    if isinstance(value, ir.Duration) and not value.business:
        return value.minutes, "min"
    return None


@check(ALERT_ON_WRONG_SIDE)
def find_alerts_on_wrong_side(ctx: CheckContext) -> Iterator[Diagnostic]:
    for kpi in ctx.policy.kpis:
        if kpi.target is None or kpi.alert is None:
            continue
        target, alert = _measure_number(kpi.target.value), _measure_number(kpi.alert.value)
        if target is None or alert is None or target[1] != alert[1]:
            if (isinstance(kpi.target.value, ir.Duration) and isinstance(kpi.alert.value, ir.Duration)
                    and kpi.target.value.unit == kpi.alert.value.unit):
                target, alert = (kpi.target.value.amount, ""), (kpi.alert.value.amount, "")
            else:
                continue
        met = Intervals.compare(kpi.target.op, target[0])
        firing = Intervals.compare(kpi.alert.op, alert[0])
        both = met.intersect(firing)
        if both.is_empty():
            continue
        unit = "%" if isinstance(kpi.target.value, ir.Percent) else ""
        if isinstance(kpi.target.value, ir.Duration):
            unit = "min" if target[1] == "min" else kpi.target.value.unit
        yield Diagnostic(
            ALERT_ON_WRONG_SIDE,
            Message('the alert `{op} {alert}` of KPI `{kpi}` fires while its target `{op2} {target}` is met ({both})', op=kpi.alert.op, alert=_shown(kpi.alert.value), kpi=kpi.id, op2=kpi.target.op, target=_shown(kpi.target.value), both=_overlap(both, unit)),
            kpi.alert.span,
            help=Message('an alert should fire only when the target is missed, e.g. `alert {op} …` with a value beyond the target', op=_opposite(kpi.target.op)),
            related=(Related(kpi.target.span, Message('the target')),),
        )


def _overlap(values: Intervals, unit: str) -> Message:
    """`at 20% to 25%`, `at 30 and above` — where both the target and the alert hold."""
    (start, _), (_, end) = values.parts[0], values.parts[-1]

    def number(x: float) -> str:
        if unit == "min":
            from .liveness import format_minutes

            return format_minutes(x)
        return (str(int(x)) if float(x).is_integer() else f"{x:g}") + unit

    if start[0] == end[0]:
        return Message("at {value}", value=number(start[0]))
    if end[0] == float("inf"):
        if start[1] < 0:
            return Message("from {value}", value=number(start[0]))
        return Message("above {value}", value=number(start[0]))
    if start[0] == float("-inf"):
        if end[1] > 0:
            return Message("up to {value}", value=number(end[0]))
        return Message("below {value}", value=number(end[0]))
    low, high = number(start[0]), number(end[0])
    if start[1] < 0:
        if end[1] > 0:
            return Message("from {low} to {high}", low=low, high=high)
        return Message("from {low} up to (not including) {high}", low=low, high=high)
    if end[1] > 0:
        return Message("above {low} to {high}", low=low, high=high)
    return Message("above {low} up to (not including) {high}", low=low, high=high)


def _shown(value: ir.Value) -> str:
    if isinstance(value, ir.Percent):
        return f"{value.value}%"
    if isinstance(value, ir.Duration):
        return value.text
    if isinstance(value, (ir.Number, ir.Text)):
        return str(value.value)
    return "?"


def _opposite(op: str) -> str:
    return {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!=", "!=": "=="}.get(op, op)
