"""Time-bounded liveness: no lead may sit in a stage for ever without anybody noticing.

Every live (non-terminal) stage that a lead can wait in needs an owner (SLA401), a deadline or
a timeout (SLA209), and something that happens when each deadline is missed — an escalation
of that deadline or a timeout (SLA210). A stage where Sales or Inside Sales receives leads
from another team needs a deadline (SLA211, an error): that is the follow-up the whole
agreement is about; a sales stage that keeps leads the team already had (an opportunity, a
meeting) gets the same rule as a warning, since no seed article sets a deadline there.

Whether a lead can wait in a stage at all is decided once, by `lead_can_wait`, for these
checks and for the fixtures generator alike: a stage every lead leaves at once (a transition
with neither `when` nor `after`, or conditions that cover every lead, `cond` / `not (cond)`)
holds nobody, so no deadline can apply there.

With `sla check --stats` this module also reports the worst-case time from an entry stage to
a terminal stage along paths that visit no stage twice, counting for each stage the longest
it can hold a lead: the `decide` deadline or the shortest unconditional timeout, whichever
ends first (its longest wall-clock length for business durations).
"""

from __future__ import annotations

from typing import Iterator

from .. import ir
from ..diagnostics import Diagnostic, Listing, Message, Related, Severity, define_rule
from . import CheckContext, check
from .conditions import EXACT, OVER, Unknown, Witness
from .durations import Durations, durations
from .graph import flow
from .recognition import is_sales_side, stage_owner, stages_of_kind, team_role

STAGE_WITHOUT_TIME_LIMIT = define_rule(
    "SLA209",
    "stage-without-time-limit",
    Severity.WARNING,
    "A live stage has neither a deadline nor a timeout: a lead can sit there unnoticed for ever.",
    explanation="A lead in a stage that is not terminal should either have to be dealt with "
    "by a deadline (`respond within …`, `decide within …`) or move on by itself after a "
    "while (a timeout: `-> archived after 180d`, a transition with `after` and no `when`). "
    "Without either, a lead whose criteria never change stays in the stage and nobody is "
    "told. A stage no lead can wait in is not reported: one with a transition that has neither "
    "`when` nor `after`, or whose conditions together cover every lead (`when cond` and `when not "
    "(cond)`); the fixtures generator uses the same decision. Stages owned by Sales or Inside "
    "Sales get SLA211 instead.",
    bad='stage lead "Lead" {\n  owner marketing\n  entry\n  -> mql when lead_score >= 50\n}',
    good='stage lead "Lead" {\n  owner marketing\n  entry\n  -> mql when lead_score >= 50\n  -> archived after 180d\n}',
)
MISSED_DEADLINE_WITHOUT_CONSEQUENCE = define_rule(
    "SLA210",
    "missed-deadline-without-consequence",
    Severity.WARNING,
    "A deadline has no consequence: nothing happens when it is missed.",
    explanation="A deadline nobody checks is how an SLA \"hollows out\": each deadline needs an "
    "escalation that guards it (`escalate to sales_managers after 24h on respond`; one without "
    "`on` guards `respond`, or `decide` when there is no `respond`), or the stage a timeout that moves the lead "
    "on (`-> nurture after 10bd`), so that a missed deadline reaches somebody. Reported per "
    "deadline: escalating `decide` says nothing about a late `respond`.",
    bad='stage sql "SQL" {\n  owner sales\n  respond within 48h\n  -> opportunity when meeting_held\n}',
    good='stage sql "SQL" {\n  owner sales\n  respond within 48h\n  escalate to sales_managers after 48h on respond\n'
    '  -> opportunity when meeting_held\n}',
)
SALES_STAGE_WITHOUT_DEADLINE = define_rule(
    "SLA211",
    "sales-stage-without-deadline",
    Severity.ERROR,
    "Sales or Inside Sales owns leads in a stage that has no deadline.",
    explanation="The failure the agreement exists to prevent is a handed-over lead that "
    "Sales never follows up. A live stage where a sales-side team receives leads from another "
    "team — it has a `handoff`, is the MQL or SQL stage, or a stage leads come from is owned by a "
    "team outside the owner's family (`part of`) — therefore needs a `respond within …` or "
    "`decide within …` deadline: an error, as every deadline in the seed articles counts from "
    "such a hand-off (MQL化から, SQL認定後, 受領後). A stage where Sales keeps leads it already had "
    "(an opportunity, a meeting) gets a warning: no seed sets a deadline for an open proposal. A "
    "stage no lead can wait in (see SLA209) is not reported. A team is sales-side when its `role` is "
    "`sales` or `inside_sales`; a team without a role is recognised by its name or label "
    "(sales, AE, field, 営業, セールス; inside, IS, SDR, BDR, インサイド) or its parent's role. "
    "A timeout alone does not count: it moves the lead, it does not oblige anyone to call it.",
    bad='stage sql "SQL" {\n  owner sales\n  -> opportunity when meeting_held\n  -> nurture after 30d\n}',
    good='stage sql "SQL" {\n  owner sales\n  respond within 48h target 24h\n  escalate to sales_managers after 48h\n'
    '  -> opportunity when meeting_held\n  -> nurture after 30d\n}',
)


def timeouts(stage: ir.Stage) -> list[ir.Transition]:
    """Transitions that move the lead after a time, whatever happens (`after` without `when`)."""
    return [t for t in stage.transitions if t.after is not None and t.condition is None]


_MAX_LEAVES = 64  # comparisons a stage's conditions may hold for `lead_can_wait` to decide them


def lead_can_wait(ctx: CheckContext, stage: ir.Stage) -> bool:
    """Whether some lead, once in `stage`, is not moved on by any of its transitions at once:
    no transition without `when` and `after`, and lead data for which every condition out of
    the stage is false. The one decision about waiting that SLA209/SLA211 and the fixtures
    generator make. Conditions the model cannot decide leave room to wait (checks still warn)."""
    guarded = []
    for t in stage.transitions:
        if t.condition is not None:
            guarded.append(t.condition)
        elif t.after is None:
            return False
    if not guarded:
        return True  # nothing to cover every lead
    from .scoring import condition_model

    # the checks' shared model: the normal forms other checks worked out are not redone
    model = condition_model(ctx, bounded=True)
    # The answer depends only on the conditions' shapes (their normal forms are shared per
    # shape, and so is their size), and a large policy repeats the same routing in stage after
    # stage: decided once per list of shapes.
    answers = ctx.memo("liveness.can_wait", dict)
    shape = model.shape
    key = tuple([shape(c) for c in guarded])
    answer = answers.get(key)
    if answer is None:
        if sum(len(ir.condition_leaves(c)) for c in guarded) > _MAX_LEAVES:
            answer = True  # too large to decide in linear time
        else:
            try:
                answer = model.can_all_be_true([(c, False) for c in guarded], OVER)
            except Unknown:
                answer = True
        answers[key] = answer
    return answer


def can_hold_together(ctx: CheckContext, first: ir.Condition, second: ir.Condition) -> tuple[bool, Witness | None]:
    """Whether one lead's data can meet both conditions at the same moment — a lead created (or
    changed by one update) so that it takes a transition and, in the stage it arrives in, the next
    one (the HubSpot target's SLA841) — with an example lead when there is one.

    Decided with the checks' shared bounded model (`lead_can_wait`'s): a score ranges over what
    its rules can reach, other quantities are independent. (False, None) is a proof that no lead
    meets both; (True, witness) gives lead data meeting both (the witness never relies on `!=` of
    an unset property); (True, None): the model cannot rule it out (a condition it cannot analyse,
    or only leads that rely on how an unset value compares) — counted as possible."""
    from .scoring import condition_model

    model = condition_model(ctx, bounded=True)
    both = [(first, True), (second, True)]
    try:
        if not model.can_all_be_true(both, OVER):
            return False, None
        return True, model.example(both, EXACT)
    except Unknown:
        return True, None


def receives_leads_from_another_team(ctx: CheckContext, stage: ir.Stage) -> bool:
    """A hand-off into the stage: it has a `handoff`, is the MQL or SQL stage, or a stage leads
    come from is owned by a team outside the owner's family (`part of`). The seed articles set
    Sales deadlines from such a moment (受け取ってから, 受領後, 引き渡し後, MQL化から, SQL認定後)."""
    from .ownership import team_family

    if stage.handoff is not None:
        return True
    handed = ctx.memo("liveness.handed", lambda: {s.id for kind in ("mql", "sql") for s in stages_of_kind(ctx.policy, kind)})
    if stage.id in handed:
        return True
    owner = stage_owner(stage)
    family = team_family(ctx.policy, owner) if owner else set()
    f = flow(ctx)
    for source in f.predecessors[stage.id]:
        other = stage_owner(f.stages[source])
        if source != stage.id and other is not None and other not in family:
            return True
    return False


def escalated(stage: ir.Stage, deadline: ir.Deadline) -> bool:
    """An escalation guards the deadline (lowering gives one written without `on` the stage's
    `respond`, else its `decide`)."""
    return any(e.on is None or e.on == deadline.kind for e in stage.escalations)


@check(STAGE_WITHOUT_TIME_LIMIT, MISSED_DEADLINE_WITHOUT_CONSEQUENCE, SALES_STAGE_WITHOUT_DEADLINE)
def find_stages_without_time_limits(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    f = flow(ctx)
    for stage in f.stages.values():
        if f.is_terminal(stage.id) or not lead_can_wait(ctx, stage):
            continue  # a stage every lead leaves at once holds nobody: no deadline can apply
        has_timeout = bool(timeouts(stage))
        if stage.deadlines:
            if not has_timeout:
                for d in stage.deadlines:
                    if escalated(stage, d):
                        continue
                    others = [e for e in stage.escalations if e.on is not None]
                    yield Diagnostic(
                        MISSED_DEADLINE_WITHOUT_CONSEQUENCE,
                        Message('nothing happens when the `{deadline}` deadline of `{stage}` is missed', deadline=d.kind, stage=stage.id),
                        d.span,
                        help=Message('add `escalate to TEAM after {within} on {deadline}`, or a timeout that moves the lead on', within=d.within.text, deadline=d.kind),
                        related=tuple(Related(e.span, Message('only the `{deadline}` deadline is escalated', deadline=e.on)) for e in others),
                    )
            continue
        if any(ctx.deadline_written(stage.id, k) for k in ir.DEADLINE_KINDS):
            continue  # its deadline's duration is wrong, and reported
        owner = stage_owner(stage)
        if is_sales_side(policy, owner):
            handed = receives_leads_from_another_team(ctx, stage)
            yield Diagnostic(
                SALES_STAGE_WITHOUT_DEADLINE,
                Message('`{owner}` (role `{role}`) receives leads in `{stage}`, but no deadline says how fast it must act', owner=owner, role=team_role(policy, owner), stage=stage.id)
                if handed else
                Message('`{owner}` (role `{role}`) keeps leads in `{stage}` with no deadline', owner=owner, role=team_role(policy, owner), stage=stage.id),
                stage.name_span,
                help=Message('add `respond within 24h` (first contact) and/or `decide within 5bd` (the lead must move on)')
                if handed else
                Message('add `decide within …` if the agreement promises how long a lead may stay here, or a timeout (`-> closed_lost after 90d`)'),
                related=(Related(stage.owner.span, Message('owned here')),) if stage.owner else (),
                severity=None if handed else Severity.WARNING,
            )
            continue
        if not has_timeout:
            yield Diagnostic(
                STAGE_WITHOUT_TIME_LIMIT,
                Message('stage `{stage}` has no deadline and no timeout: a lead can stay there unnoticed for ever', stage=stage.id),
                stage.name_span,
                help=Message('add a deadline (`decide within 30d`) or a timeout (`-> archived after 180d`)'),
            )


# ------------------------------------------------------------------ worst-case time to finish

_ENUMERATION_BUDGET = 5_000  # path steps spent enumerating simple paths in one cycle's component


def stage_time_limit(clock: Durations, stage: ir.Stage) -> int | None:
    """The longest a lead can stay in `stage`, in minutes (None: unbounded or unknown)."""
    calendar = clock.calendar(stage)
    limits = []
    decide = stage.deadline("decide")
    candidates = ([decide.within] if decide else []) + [t.after for t in timeouts(stage)]
    for duration in candidates:
        bounds = clock.bounds(duration, calendar)
        if bounds is not None:
            limits.append(bounds[1])
    return min(limits) if limits else None


def worst_case_to_terminal(ctx: CheckContext) -> tuple[float, list[str], bool] | None:
    """(minutes, path, exact) for the longest entry-to-terminal path visiting no stage twice;
    minutes is `inf` when a stage on it has no time limit. None when no entry reaches a terminal.

    Dynamic programming over the strongly connected components in reverse topological order.
    Inside a component with a cycle, simple paths are enumerated within a budget per
    component; past it the component counts as the sum of its stages' limits (an upper bound;
    `exact` is then False). Linear in the size of the graph apart from those small
    enumerations.
    """
    import networkx as nx

    f = flow(ctx)
    clock = durations(ctx)
    if not f.entries or not f.terminals:
        return None
    weight = {}
    for s, stage in f.stages.items():
        limit = 0 if f.is_terminal(s) else stage_time_limit(clock, stage)
        weight[s] = float("inf") if limit is None else float(limit)
    graph = nx.DiGraph()
    graph.add_nodes_from(f.stages)
    graph.add_edges_from((s, t) for s in f.stages for t in f.successors[s])
    condensed = nx.condensation(graph)
    best: dict[str, float] = {}  # longest time from entering the stage to finishing
    # how: the stages walked inside the stage's component, then the stage it leaves for
    step: dict[str, tuple[tuple[str, ...], str | None]] = {}
    exact = True
    for component in reversed(list(nx.topological_sort(condensed))):
        members = condensed.nodes[component]["members"]
        ordered = sorted(members)
        cyclic = len(members) > 1 or any(s in f.successors[s] for s in members)
        if not cyclic:
            (s,) = members
            if f.is_terminal(s):
                best[s], step[s] = 0.0, ((s,), None)
                continue
            exits = [(best[t], t) for t in dict.fromkeys(f.successors[s]) if t in best]
            if exits:
                value, nxt = max(exits)
                best[s], step[s] = weight[s] + value, ((s,), nxt)
            continue
        budget = [_ENUMERATION_BUDGET]
        found = {s: _longest_in_component(s, members, f, weight, best, budget) for s in ordered}
        if budget[0] < 0:
            exact = False
            exits = [(best[t], t) for m in ordered for t in f.successors[m] if t not in members and t in best]
            if not exits:
                continue
            value, nxt = max(exits)
            total = sum(weight[m] for m in members)
            for s in ordered:
                best[s], step[s] = total + value, ((s, "…"), nxt)
            continue
        for s, result in found.items():
            if result is not None:
                best[s], step[s] = result[0], (result[1], result[2])
    candidates = [(best[e], e) for e in f.entries if e in best]
    if not candidates:
        return None
    value, entry = max(candidates)
    path: list[str] = []
    current: str | None = entry
    while current is not None:
        walked, current = step[current]
        path.extend(walked)
    return value, path, exact


def _longest_in_component(start, members, f, weight, best, budget):
    """(time, stages walked, exit stage) for the longest simple path from `start` that stays in
    the component and then leaves it for a stage whose best is known; None when there is no
    such path or the component's budget has run out (then `budget[0] < 0`)."""
    result = None
    stack = [(start, (start,), weight[start])]
    while stack:
        budget[0] -= 1
        if budget[0] < 0:
            return None
        node, path, total = stack.pop()
        for nxt in dict.fromkeys(f.successors[node]):
            if nxt in members:
                if nxt not in path:
                    stack.append((nxt, path + (nxt,), total + weight[nxt]))
                continue
            if nxt in best and (result is None or total + best[nxt] > result[0]):
                result = (total + best[nxt], path, nxt)
    return result


def format_minutes(minutes: float) -> str:
    if minutes == float("inf"):
        return "unbounded"
    minutes = int(round(minutes))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if mins or not parts:
        parts.append(f"{mins}m")
    return " ".join(parts)


@check(STAGE_WITHOUT_TIME_LIMIT, MISSED_DEADLINE_WITHOUT_CONSEQUENCE, SALES_STAGE_WITHOUT_DEADLINE)
def collect_worst_case_time(ctx: CheckContext) -> Iterator[Diagnostic]:
    if not ctx.options.stats:
        return
    result = worst_case_to_terminal(ctx)
    key = Message("worst-case time from entry to a terminal stage")
    if result is None:
        ctx.stats[key] = Message("no terminal stage can be reached from an entry stage")
        return
    minutes, path, exact = result
    shown: Message | Listing = Listing(path if len(path) <= 12 else path[:5] + ["…"] + path[-5:], limit=12,
                                       quote=False, separator=" → ")
    if len(path) > 12:
        shown = Message("{path}; {count} stages", path=shown, count=len(path))
    if minutes == float("inf"):
        stuck = next((s for s in path if s != "…" and not flow(ctx).is_terminal(s)
                      and stage_time_limit(durations(ctx), flow(ctx).stages[s]) is None), None)
        ctx.stats[key] = Message("unbounded: `{stuck}` has no decide deadline or timeout ({path})", stuck=stuck, path=shown)
    elif exact:
        ctx.stats[key] = Message("{duration} ({path})", duration=format_minutes(minutes), path=shown)
    else:
        ctx.stats[key] = Message("at most {duration} ({path})", duration=format_minutes(minutes), path=shown)
    return
    yield  # a generator like every check
