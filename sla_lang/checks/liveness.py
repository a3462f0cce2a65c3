"""Time-bounded liveness: no lead may sit in a stage for ever without anybody noticing.

Every live (non-terminal) stage needs an owner (SLA401), a deadline or a timeout (SLA209),
and something that happens when time runs out — an escalation or a timeout (SLA210). A stage
that Sales or Inside Sales owns needs a deadline (SLA211): that is the follow-up the whole
agreement is about.

With `sla check --stats` this module also reports the worst-case time from an entry stage to
a terminal stage along paths that visit no stage twice, counting for each stage the longest
it can hold a lead: the `decide` deadline or the shortest unconditional timeout, whichever
ends first (its longest wall-clock length for business durations).
"""

from __future__ import annotations

from typing import Iterator

from .. import ir
from ..businesstime import calendar_for, span_bounds
from ..diagnostics import Diagnostic, Related, Severity, define_rule
from . import CheckContext, check
from .graph import flow
from .recognition import is_sales_side, stage_owner, team_role

STAGE_WITHOUT_TIME_LIMIT = define_rule(
    "SLA209",
    "stage-without-time-limit",
    Severity.WARNING,
    "A live stage has neither a deadline nor a timeout: a lead can sit there unnoticed for ever.",
    explanation="A lead in a stage that is not terminal should either have to be dealt with "
    "by a deadline (`respond within …`, `decide within …`) or move on by itself after a "
    "while (a timeout: `-> archived after 180d`, a transition with `after` and no `when`). "
    "Without either, a lead whose criteria never change stays in the stage and nobody is "
    "told. Stages owned by Sales or Inside Sales get the stricter SLA211 instead.",
    bad='stage lead "Lead" {\n  owner marketing\n  entry\n  -> mql when lead_score >= 50\n}',
    good='stage lead "Lead" {\n  owner marketing\n  entry\n  -> mql when lead_score >= 50\n  -> archived after 180d\n}',
)
MISSED_DEADLINE_WITHOUT_CONSEQUENCE = define_rule(
    "SLA210",
    "missed-deadline-without-consequence",
    Severity.WARNING,
    "A stage has deadlines but nothing happens when they are missed.",
    explanation="A deadline nobody checks is how an SLA \"hollows out\": the stage needs an "
    "escalation (`escalate to sales_managers after 24h on respond`) or a timeout that moves "
    "the lead on (`-> nurture after 10bd`), so that a missed deadline reaches somebody.",
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
    "Sales never follows up. A live stage owned by a sales-side team therefore needs a "
    "`respond within …` or `decide within …` deadline. A team is sales-side when its `role` is "
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


@check(STAGE_WITHOUT_TIME_LIMIT, MISSED_DEADLINE_WITHOUT_CONSEQUENCE, SALES_STAGE_WITHOUT_DEADLINE)
def find_stages_without_time_limits(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    f = flow(ctx)
    for stage in f.stages.values():
        if f.is_terminal(stage.id):
            continue
        owner = stage_owner(stage)
        has_timeout = bool(timeouts(stage))
        if not stage.deadlines and is_sales_side(policy, owner):
            yield Diagnostic(
                SALES_STAGE_WITHOUT_DEADLINE,
                f"`{owner}` ({team_role(policy, owner).replace('_', ' ')}) owns leads in `{stage.id}`, "
                "but no deadline says how fast it must act",
                stage.name_span,
                help="add `respond within 24h` (first contact) and/or `decide within 5bd` (the lead must move on)",
                related=(Related(stage.owner.span, "owned here"),) if stage.owner else (),
            )
            continue
        if not stage.deadlines and not has_timeout:
            yield Diagnostic(
                STAGE_WITHOUT_TIME_LIMIT,
                f"stage `{stage.id}` has no deadline and no timeout: a lead can stay there unnoticed for ever",
                stage.name_span,
                help="add a deadline (`decide within 30d`) or a timeout (`-> archived after 180d`)",
            )
        elif stage.deadlines and not stage.escalations and not has_timeout:
            yield Diagnostic(
                MISSED_DEADLINE_WITHOUT_CONSEQUENCE,
                f"stage `{stage.id}` has {_and(f'`{d.kind}`' for d in stage.deadlines)} "
                f"deadline{'s' * (len(stage.deadlines) > 1)} but nothing happens when "
                f"{'they are' if len(stage.deadlines) > 1 else 'it is'} missed",
                stage.name_span,
                help="add `escalate to TEAM after … on …`, or a timeout that moves the lead on",
                related=tuple(Related(d.span, "deadline") for d in stage.deadlines),
            )


def _and(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ------------------------------------------------------------------ worst-case time to finish

_ENUMERATION_BUDGET = 50_000  # path steps spent enumerating simple paths inside cycles


def stage_time_limit(policy: ir.Policy, stage: ir.Stage) -> int | None:
    """The longest a lead can stay in `stage`, in minutes (None: unbounded or unknown)."""
    calendar = calendar_for(policy, stage)
    limits = []
    decide = stage.deadline("decide")
    candidates = ([decide.within] if decide else []) + [t.after for t in timeouts(stage)]
    for duration in candidates:
        bounds = span_bounds(duration, calendar)
        if bounds is not None:
            limits.append(bounds[1])
    return min(limits) if limits else None


def worst_case_to_terminal(ctx: CheckContext) -> tuple[float, list[str], bool] | None:
    """(minutes, path, exact) for the longest entry-to-terminal path visiting no stage twice;
    minutes is `inf` when a stage on it has no time limit. None when no entry reaches a terminal.

    Dynamic programming over the strongly connected components in reverse topological order.
    Inside a component with a cycle, simple paths are enumerated within a budget; past it the
    component counts as the sum of its stages' limits (an upper bound; `exact` is then False).
    """
    import networkx as nx

    f = flow(ctx)
    policy = ctx.policy
    if not f.entries or not f.terminals:
        return None
    limit = {s: (0 if f.is_terminal(s) else stage_time_limit(policy, stage)) for s, stage in f.stages.items()}
    weight = {s: (float("inf") if v is None else float(v)) for s, v in limit.items()}
    graph = nx.DiGraph()
    graph.add_nodes_from(f.stages)
    graph.add_edges_from((s, t) for s in f.stages for t in f.successors[s])
    condensed = nx.condensation(graph)
    members = condensed.graph["mapping"]  # stage → component
    best: dict[str, float] = {}  # longest time from entering the stage to finishing
    route: dict[str, list[str]] = {}  # the stages of that path
    exact = True
    budget = [_ENUMERATION_BUDGET]
    NONE = float("-inf")
    for component in reversed(list(nx.topological_sort(condensed))):
        stages = condensed.nodes[component]["members"]
        cyclic = len(stages) > 1 or any(s in f.successors[s] for s in stages)
        for s in sorted(stages):
            if f.is_terminal(s):
                best[s], route[s] = 0.0, [s]
        if not cyclic:
            (s,) = stages
            if f.is_terminal(s):
                continue
            exits = [(best[t], t) for t in dict.fromkeys(f.successors[s]) if best.get(t, NONE) > NONE]
            if exits:
                value, nxt = max(exits, key=lambda e: (e[0], e[1]))
                best[s], route[s] = weight[s] + value, [s] + route[nxt]
            continue
        for s in sorted(stages):
            if f.is_terminal(s):
                continue
            found = _longest_in_component(s, stages, f, weight, best, route, budget)
            if found is None:
                exact = False
                found = _bound_for_component(s, stages, f, weight, best, route)
            if found is not None:
                best[s], route[s] = found
    candidates = [(best[e], e) for e in f.entries if best.get(e, NONE) > NONE]
    if not candidates:
        return None
    value, entry = max(candidates, key=lambda c: (c[0], c[1]))
    return value, route[entry], exact


def _longest_in_component(start, members, f, weight, best, route, budget):
    """Longest simple path from `start` that stays in the component, then leaves it (to a
    stage whose best is known) or ends at a terminal; None when the budget runs out."""
    result = None
    stack = [(start, [start], weight[start])]
    while stack:
        budget[0] -= 1
        if budget[0] < 0:
            return None
        node, path, total = stack.pop()
        for nxt in dict.fromkeys(f.successors[node]):
            if nxt in members and nxt not in path:
                if f.is_terminal(nxt):
                    candidate = (total, path + [nxt])
                else:
                    stack.append((nxt, path + [nxt], total + weight[nxt]))
                    continue
            elif nxt not in members and nxt in best:
                candidate = (total + best[nxt], path + route[nxt])
            else:
                continue
            if result is None or candidate[0] > result[0]:
                result = candidate
    return result


def _bound_for_component(start, members, f, weight, best, route):
    total = sum(weight[m] for m in members if not f.is_terminal(m))
    exits = [(best[t], t) for m in members for t in f.successors[m] if t not in members and t in best]
    if not exits:
        return None
    value, nxt = max(exits, key=lambda e: (e[0], e[1]))
    return total + value, [start, "…"] + route[nxt]


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
    key = "worst-case time from entry to a terminal stage"
    if result is None:
        ctx.stats[key] = "no terminal stage can be reached from an entry stage"
        return
    minutes, path, exact = result
    shown = " → ".join(path)
    if minutes == float("inf"):
        stuck = next((s for s in path if s != "…" and not flow(ctx).is_terminal(s)
                      and stage_time_limit(ctx.policy, flow(ctx).stages[s]) is None), None)
        ctx.stats[key] = f"unbounded: `{stuck}` has no decide deadline or timeout ({shown})"
    else:
        ctx.stats[key] = f"{'' if exact else 'at most '}{format_minutes(minutes)} ({shown})"
    return
    yield  # a generator like every check
