"""The stage graph: where leads enter, whether every stage can be reached, whether every lead
can finish, and whether recycled leads come back.

Definitions used by every rule here (and stated in their explanations):

- The graph has a node per stage and an edge per transition. Every written transition counts
  as possible, whatever its condition (conditions that can never hold are SLA603's business).
- A lead in a *terminal* stage is finished: transitions written out of a terminal stage are
  reported (SLA207) and otherwise ignored.
- The *qualification funnel* is the set of stages that are neither terminal nor `recycle` and
  can be reached from an entry stage without passing through a `recycle` stage.
- A *recycle path* is a transition into a `recycle` stage. A recycled lead *returns* when a
  route leads from its recycle stage into the funnel; that route *re-qualifies* it when it
  enters the funnel at an entry stage or through a transition with criteria (`when …`).

Everything here is linear in the number of stages and transitions (breadth-first searches and
one strongly-connected-components pass); no per-stage reachability is computed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

from .. import ir
from ..diagnostics import Diagnostic, Listing, Message, Related, Severity, define_rule
from ..source import Span
from . import CheckContext, check

NO_ENTRY_STAGE = define_rule(
    "SLA201",
    "no-entry-stage",
    Severity.ERROR,
    "No stage is marked `entry`: leads have nowhere to start.",
    explanation="Every agreement needs at least one stage where leads enter the process (a "
    "newly acquired lead, a sales-generated lead …), marked `entry`. Without one, no stage "
    "can be reached and none of the agreement's obligations ever applies. (A policy that "
    "declares no stages at all is incomplete rather than contradictory: SLA701 reports it.)",
    bad='stage lead "Lead" {\n  owner marketing\n  -> mql when lead_score >= 50\n}',
    good='stage lead "Lead" {\n  owner marketing\n  entry\n  -> mql when lead_score >= 50\n}',
)
UNREACHABLE_STAGE = define_rule(
    "SLA202",
    "unreachable-stage",
    Severity.ERROR,
    "A stage cannot be reached from any entry stage.",
    explanation="Following transitions from the `entry` stages never leads to this stage, so "
    "no lead can ever be in it and everything the agreement promises there is dead text — "
    "usually a transition into it is missing or points at another stage by mistake. "
    "Transitions out of terminal stages do not count (a lead in a terminal stage is "
    "finished). When no stage is marked `entry`, SLA201 is reported instead.",
    bad='stage lead "Lead" {\n  entry\n  -> mql when lead_score >= 50\n}\n'
    'stage sal "Sales accepted" {      # nothing leads here\n  -> sql when accepted\n}',
    good='stage lead "Lead" {\n  entry\n  -> mql when lead_score >= 50\n}\n'
    'stage mql "MQL" {\n  -> sal when accepted\n}\nstage sal "Sales accepted" {\n  -> sql when intent == "yes"\n}',
)
DEAD_END_STAGE = define_rule(
    "SLA203",
    "dead-end-stage",
    Severity.ERROR,
    "A stage that is not terminal has no way out: leads stay in it forever.",
    explanation="A stage without transitions keeps every lead that enters it, with nobody "
    "expected to move it on — the \"limbo\" the agreement exists to prevent. Either the stage "
    "is the end of the road (mark it `terminal`) or it needs transitions: the next stage, a "
    "way back to marketing, and a timeout.",
    bad='stage sal "Sales accepted lead" {\n  owner sales\n  decide within 5bd\n}',
    good='stage sal "Sales accepted lead" {\n  owner sales\n  decide within 5bd\n'
    '  -> sql when intent == "yes"\n  -> nurture when intent == "not_now" record recycle_reason\n}',
)
NO_WAY_TO_TERMINAL = define_rule(
    "SLA204",
    "no-way-to-terminal",
    Severity.ERROR,
    "Leads can go round a cycle of stages with no way out to a terminal stage.",
    explanation="From the stages of this cycle, every transition leads back into the cycle, so "
    "a lead that enters it can never finish (won, lost, disqualified, archived …). The message "
    "prints the cycle as `a --> b --> a`. Stages that only lead into such a cycle are not "
    "reported separately: giving the cycle a way out fixes them too. A single stage that is "
    "not terminal and has no transitions at all is SLA203; a policy without any terminal "
    "stage is SLA212.",
    bad='stage mql "MQL" {\n  -> nurture when intent == "not_now"\n}\n'
    'stage nurture "Nurture" {\n  recycle\n  -> mql when lead_score >= 50\n}',
    good='stage mql "MQL" {\n  -> nurture when intent == "not_now"\n  -> won when intent == "yes"\n}\n'
    'stage nurture "Nurture" {\n  recycle\n  -> mql when lead_score >= 50\n  -> archived after 180d\n}',
)
RECYCLED_LEADS_NEVER_RETURN = define_rule(
    "SLA205",
    "recycled-leads-never-return",
    Severity.ERROR,
    "Leads sent to a recycle stage can never come back into the qualification funnel.",
    explanation="The qualification funnel is every stage that is neither terminal nor "
    "`recycle` and can be reached from an entry stage without passing through a recycle "
    "stage. A transition into a `recycle` stage sends a lead back to marketing for nurturing; "
    "the point of recycling is that the lead can qualify again. When no route leads from the "
    "recycle stage back into the funnel, recycled leads can only be archived or stay — "
    "\"leads that never return\". The diagnostic points at the recycle stage and notes every "
    "recycle path into it.",
    bad='stage nurture "Nurture" {\n  recycle\n  -> archived after 180d\n}',
    good='stage nurture "Nurture" {\n  recycle\n  -> mql when lead_score >= 50\n  -> archived after 180d\n}',
)
NO_REQUALIFICATION_ROUTE = define_rule(
    "SLA206",
    "no-requalification-route",
    Severity.WARNING,
    "Recycled leads return to the funnel without meeting any criteria.",
    explanation="A recycle stage should return leads to the funnel only when they qualify "
    "again: through a transition with criteria (`-> mql when lead_score >= 50`) or by going "
    "back to an entry stage, where the funnel's own criteria apply. Here every route back is "
    "a timeout or a transition without `when`, so leads go back to sales after a while "
    "whether or not anything changed. Routes through other recycle stages count.",
    bad='stage nurture "Nurture" {\n  recycle\n  -> mql after 30d\n}',
    good='stage nurture "Nurture" {\n  recycle\n  -> mql when lead_score >= 50\n  -> archived after 180d\n}',
)
TRANSITION_FROM_TERMINAL = define_rule(
    "SLA207",
    "transition-from-terminal",
    Severity.ERROR,
    "A terminal stage has a transition out of it.",
    explanation="`terminal` means the lead's journey through this agreement ends here (won, "
    "lost, disqualified, archived). A transition out of it contradicts that; sla ignores it "
    "for every other graph rule. If leads really continue (a lost deal that is nurtured "
    "again), the stage is not terminal.",
    bad='stage closed_lost "Closed lost" {\n  terminal\n  -> nurture after 90d\n}',
    good='stage closed_lost "Closed lost" {\n  terminal\n}',
)
UNCONDITIONAL_SELF_TRANSITION = define_rule(
    "SLA208",
    "unconditional-self-transition",
    Severity.ERROR,
    "A transition leads from a stage to itself with no condition.",
    explanation="`-> mql` inside stage `mql` without `when` moves the lead back into the stage "
    "it is already in, for ever (with `after`, every time the timeout passes): deadlines "
    "restart and the lead never progresses. A transition back to the same stage needs a "
    "condition saying when it applies (e.g. re-entering after new activity).",
    bad='stage mql "MQL" {\n  -> mql after 7d\n}',
    good='stage mql "MQL" {\n  -> mql "New activity" when email_click >= 3\n  -> nurture after 7d\n}',
)
RECYCLE_BOUNCE = define_rule(
    "SLA213",
    "recycle-bounce",
    Severity.ERROR,
    "A recycle stage sends every lead straight back into the funnel: no condition, no delay.",
    explanation="A transition without `when` and without `after` is taken the moment a lead "
    "enters the stage. Out of a `recycle` stage into a funnel stage (the MQL …), it sends "
    "every recycled lead back at once: the lead bounces, nobody nurtures it, and it is "
    "counted again as a new MQL (each recycle doubles the count) although nothing changed. "
    "The route back needs the re-qualification criteria (`when …`) or a delay (`after …`). "
    "A route back to an entry stage is not reported here: the funnel's own criteria apply "
    "there.",
    bad='stage nurture "Nurture" {\n  recycle\n  -> mql\n}',
    good='stage nurture "Nurture" {\n  recycle\n  -> mql when lead_score >= 100\n  -> archived after 365d\n}',
)
NO_TERMINAL_STAGE = define_rule(
    "SLA212",
    "no-terminal-stage",
    Severity.ERROR,
    "No stage is marked `terminal`: no lead can ever finish.",
    explanation="Won, lost, disqualified or archived leads are finished; such stages are "
    "marked `terminal`. Without one, every lead stays in the process for ever and SLA204 "
    "would report every cycle, so only this diagnostic is given.",
    bad='stage won "Customer" {\n  owner sales\n}',
    good='stage won "Customer" {\n  owner sales\n  terminal\n}',
)


# ------------------------------------------------------------------ shared facts


@dataclass(frozen=True)
class Flow:
    """Where leads can move: successors and predecessors of each stage, ignoring transitions
    out of terminal stages and to undeclared stages. Stages are in source order.

    A stage declared twice (SLA302) is judged by all its declarations together — its markers
    and transitions are merged — so that a duplicate does not also cause graph errors.
    Stages with a transition to an undeclared stage (SLA301) are in `unresolved`: conclusions
    that the missing stage could change (a trap, no terminal stage) are not drawn for them.
    """

    stages: dict[str, ir.Stage]
    successors: dict[str, list[str]]
    predecessors: dict[str, list[str]]
    edges: dict[str, list[ir.Transition]]  # source stage → its usable transitions
    markers: dict[str, frozenset[str]]
    unresolved: frozenset[str]

    def is_entry(self, stage_id: str) -> bool:
        return "entry" in self.markers[stage_id]

    def is_terminal(self, stage_id: str) -> bool:
        return "terminal" in self.markers[stage_id]

    def is_recycle(self, stage_id: str) -> bool:
        return "recycle" in self.markers[stage_id]

    def has_transitions(self, stage_id: str) -> bool:
        return bool(self.edges[stage_id]) or stage_id in self.unresolved

    @property
    def entries(self) -> list[str]:
        return [s for s in self.stages if self.is_entry(s)]

    @property
    def terminals(self) -> list[str]:
        return [s for s in self.stages if self.is_terminal(s)]


def flow(ctx: CheckContext) -> Flow:
    def build() -> Flow:
        stages = dict(ctx.policy.stage_by_id)
        markers: dict[str, set[str]] = {s: set() for s in stages}
        for stage in ctx.policy.stages:
            markers[stage.id].update(m.kind for m in stage.markers)
        successors: dict[str, list[str]] = {s: [] for s in stages}
        predecessors: dict[str, list[str]] = {s: [] for s in stages}
        edges: dict[str, list[ir.Transition]] = {s: [] for s in stages}
        unresolved: set[str] = set()
        for stage in ctx.policy.stages:
            source = stage.id
            if "terminal" in markers[source]:
                continue
            for t in stage.transitions:
                target = t.target.name
                if target not in stages:
                    unresolved.add(source)
                    continue
                edges[source].append(t)
                successors[source].append(target)
                predecessors[target].append(source)
        frozen = {s: frozenset(m) for s, m in markers.items()}
        return Flow(stages, successors, predecessors, edges, frozen, frozenset(unresolved))

    return ctx.memo("graph.flow", build)


def intended_targets(ctx: CheckContext) -> dict[str, list[tuple[ir.Transition, str]]]:
    """For each stage with a transition to an undeclared stage (SLA301): those transitions
    with the declared stage the name most likely meant (SLA301's "did you mean"), when there
    is one. A mistyped target (`-> slq`) is one mistake: the graph rules read the transition
    as going where it was meant to, so the stages behind it are not also reported as
    unreachable (SLA202) or without criteria (SLA702). Look-ups are bounded like SLA301's."""

    def build() -> dict[str, list[tuple[ir.Transition, str]]]:
        f = flow(ctx)
        if not f.unresolved:
            return {}
        from .names import _Suggester

        suggester = _Suggester()
        out: dict[str, list[tuple[ir.Transition, str]]] = {}
        for source in (s for s in f.stages if s in f.unresolved):
            for t in f.stages[source].transitions:
                if t.target.name in f.stages:
                    continue
                guess = suggester.look_alike(t.target.name, f.stages) or suggester("stage", t.target.name, f.stages)
                if guess is not None:
                    out.setdefault(source, []).append((t, guess))
        return out

    return ctx.memo("graph.intended_targets", build)


def reach(start: Iterable[str], neighbours: dict[str, list[str]], allowed=lambda stage: True) -> set[str]:
    """Stages reachable from `start` (included) moving through `neighbours`, entering only
    stages for which `allowed` holds (start stages are not filtered)."""
    seen = set(start)
    queue = deque(seen)
    while queue:
        current = queue.popleft()
        for nxt in neighbours[current]:
            if nxt not in seen and allowed(nxt):
                seen.add(nxt)
                queue.append(nxt)
    return seen


def reaches(start: Iterable[str], neighbours: dict[str, list[str]], goals: set[str]) -> bool:
    """Whether a stage of `goals` is among those reachable from `start` (included): `reach`,
    stopped at the first goal (a funnel's next stage is usually a step or two away)."""
    seen = set(start)
    if not goals.isdisjoint(seen):
        return True
    queue = deque(seen)
    while queue:
        for nxt in neighbours[queue.popleft()]:
            if nxt not in seen:
                if nxt in goals:
                    return True
                seen.add(nxt)
                queue.append(nxt)
    return False


def funnel(ctx: CheckContext) -> frozenset[str]:
    """The qualification funnel (see the module docstring)."""

    def build() -> frozenset[str]:
        f = flow(ctx)

        def inside(stage_id: str) -> bool:
            return not f.is_recycle(stage_id) and not f.is_terminal(stage_id)

        starts = [s for s in f.entries if inside(s)]
        return frozenset(reach(starts, f.successors, inside))

    return ctx.memo("graph.funnel", build)


def agreement_anchor(policy: ir.Policy) -> Span:
    """Where policy-wide diagnostics point: the `agreement` keyword (or the file's start)."""
    a = policy.agreement
    if a is None:
        return Span.point(policy.path)
    return Span(a.span.path, a.span.line, a.span.column, a.span.line, a.span.column + len("agreement"))


def _names(ids: Iterable[str], limit: int = 4) -> Listing:
    return Listing(ids, limit=limit)


# ------------------------------------------------------------------ entry, terminal, reachability


@check(NO_ENTRY_STAGE, UNREACHABLE_STAGE, NO_TERMINAL_STAGE)
def find_unreachable_stages(ctx: CheckContext) -> Iterator[Diagnostic]:
    f = flow(ctx)
    stages = list(f.stages.values())
    if not stages:
        return  # nothing contradictory; the completeness lint reports the missing lifecycle
    if not f.terminals and not f.unresolved:
        yield Diagnostic(
            NO_TERMINAL_STAGE,
            Message('no stage is marked `terminal`, so no lead can ever finish'),
            stages[0].name_span,
            help=Message('mark the stages where leads end (won, lost, disqualified, archived) with `terminal`'),
        )
    entries = f.entries
    if not entries:
        yield Diagnostic(
            NO_ENTRY_STAGE,
            Message('no stage is marked `entry`, so leads have nowhere to start'),
            stages[0].name_span,
            help=Message('mark the stage(s) where leads enter with `entry` (e.g. the first stage, and one for sales-generated leads)'),
        )
        return
    guessed = intended_targets(ctx)
    successors = f.successors
    if guessed:
        successors = {s: f.successors[s] + [guess for _, guess in guessed.get(s, ())] for s in f.stages}
    reached = reach(entries, successors)
    for stage in stages:
        if stage.id not in reached:
            yield Diagnostic(
                UNREACHABLE_STAGE,
                (Message('stage `{stage}` cannot be reached from the entry stages {entries}', stage=stage.id, entries=_names(entries))
                 if len(entries) > 1 else
                 Message('stage `{stage}` cannot be reached from the entry stage {entries}', stage=stage.id, entries=_names(entries))),
                stage.name_span,
                help=Message('add a transition into it (`-> {stage} when …`) or mark it `entry`; delete it if it is no longer part of the agreement', stage=stage.id),
            )


# ------------------------------------------------------------------ leads that cannot finish


@check(DEAD_END_STAGE)
def find_dead_ends(ctx: CheckContext) -> Iterator[Diagnostic]:
    f = flow(ctx)
    for stage in f.stages.values():
        if not f.is_terminal(stage.id) and not f.has_transitions(stage.id):
            yield Diagnostic(
                DEAD_END_STAGE,
                Message('stage `{stage}` is not terminal and has no way out: leads that enter it stay there for ever', stage=stage.id),
                stage.name_span,
                help=Message('add transitions (the next stage, a way back to marketing, a timeout such as `-> archived after 180d`), or mark it `terminal` if leads really end here'),
            )


def traps(ctx: CheckContext) -> list[tuple[list[str], list[str]]]:
    """Closed groups of stages from which no terminal stage can be reached, each as
    (members in source order, a cycle through the first member as a list of stage ids).
    Empty when the policy has no terminal stage (SLA212)."""

    def build():
        f = flow(ctx)
        if not f.terminals:
            return []
        # a stage with a transition to an undeclared stage might finish through it (SLA301)
        finishing = reach(f.terminals + sorted(f.unresolved), f.predecessors)
        stuck = [s for s in f.stages if s not in finishing]
        if not stuck:
            return []
        import networkx as nx  # only here: importing it costs ~0.1 s, and most policies have no stuck stage
        order = {s: i for i, s in enumerate(f.stages)}
        graph = nx.DiGraph()
        graph.add_nodes_from(stuck)
        graph.add_edges_from((s, t) for s in stuck for t in f.successors[s])  # successors of stuck stages are stuck
        out = []
        for component in nx.strongly_connected_components(graph):
            members = sorted(component, key=order.__getitem__)
            if any(t not in component for s in members for t in f.successors[s]):
                continue  # leads leave this group (into another trap): reported there
            first = members[0]
            if len(members) == 1 and first not in f.successors[first]:
                continue  # no usable transition at all: SLA203 (or SLA301 for undefined targets)
            out.append((members, _cycle_through(first, f.successors, component)))
        out.sort(key=lambda item: order[item[0][0]])
        return out

    return ctx.memo("graph.traps", build)


def _cycle_through(first: str, successors: dict[str, list[str]], within: set[str]) -> list[str]:
    """The shortest cycle from `first` back to itself inside `within` (breadth-first)."""
    parent: dict[str, str] = {}
    queue = deque([first])
    seen = {first}
    while queue:
        current = queue.popleft()
        for nxt in successors[current]:
            if nxt not in within:
                continue
            if nxt == first:
                path = [current]
                while path[-1] != first:
                    path.append(parent[path[-1]])
                return list(reversed(path)) + [first]
            if nxt not in seen:
                seen.add(nxt)
                parent[nxt] = current
                queue.append(nxt)
    return [first, first]


@check(NO_WAY_TO_TERMINAL)
def find_traps(ctx: CheckContext) -> Iterator[Diagnostic]:
    f = flow(ctx)
    for members, cycle in traps(ctx):
        first = f.stages[members[0]]
        related = []
        for source, target in zip(cycle, cycle[1:]):
            t = next(t for t in f.edges[source] if t.target.name == target)
            related.append(Related(t.span, Message('`{source}` --> `{target}`', source=source, target=target)))
        others = [m for m in members if m not in cycle]
        extra = Message(" (with {others})", others=_names(others)) if others else ""
        yield Diagnostic(
            NO_WAY_TO_TERMINAL,
            Message('leads in `{first}` can never reach a terminal stage: they go round {cycle}{extra}', first=first.id, cycle=Listing(cycle, limit=len(cycle), quote=False, separator=" --> "), extra=extra),
            first.name_span,
            help=Message('give one of these stages a way out to a terminal stage (e.g. `-> archived after 180d`), or mark the stage where leads really end `terminal`'),
            related=tuple(related),
        )


# ------------------------------------------------------------------ recycling


def recycle_returns(ctx: CheckContext) -> tuple[set[str], set[str], dict[str, list[ir.Transition]]]:
    """(stages outside the funnel that can reach it, those that can re-qualify into it, and
    for each of them the transitions by which its leads enter the funnel)."""

    def build():
        f = flow(ctx)
        inside = funnel(ctx)
        returning: set[str] = set()
        requalifying: set[str] = set()
        doors: dict[str, list[ir.Transition]] = {}
        for source, transitions in f.edges.items():
            if source in inside:
                continue
            for t in transitions:
                target = t.target.name
                if target in inside:
                    doors.setdefault(source, []).append(t)
                    returning.add(source)
                    if f.is_entry(target) or t.condition is not None:
                        requalifying.add(source)
        # a transition to an undeclared stage might have been the way back (SLA301)
        unknown = {s for s in f.unresolved if s not in inside}
        returning |= unknown
        requalifying |= unknown

        def outside(stage_id: str) -> bool:
            return stage_id not in inside and not f.is_terminal(stage_id)

        returning = reach(returning, f.predecessors, outside)
        requalifying = reach(requalifying, f.predecessors, outside)
        return returning, requalifying, doors

    return ctx.memo("graph.recycle", build)


@check(RECYCLED_LEADS_NEVER_RETURN, NO_REQUALIFICATION_ROUTE, RECYCLE_BOUNCE)
def find_recycle_paths_that_never_return(ctx: CheckContext) -> Iterator[Diagnostic]:
    f = flow(ctx)
    inside = funnel(ctx)
    if not inside:
        return  # no funnel to return to: SLA201/SLA202 say why
    returning, requalifying, doors = recycle_returns(ctx)
    funnel_names = _names([s for s in f.stages if s in inside])
    for stage in f.stages.values():
        if not f.is_recycle(stage.id) or f.is_terminal(stage.id):
            continue
        if stage.id not in returning:
            paths = [t for p in dict.fromkeys(f.predecessors[stage.id]) for t in f.edges[p]
                     if t.target.name == stage.id and p != stage.id]
            back = next((t.source for t in paths if t.source in inside), next(s for s in f.stages if s in inside))
            yield Diagnostic(
                RECYCLED_LEADS_NEVER_RETURN,
                Message('leads recycled into `{stage}` never return to the qualification funnel: no route leads from `{stage}` back to {funnel_names}', stage=stage.id, funnel_names=funnel_names),
                stage.name_span,
                help=Message('add a re-qualification route to stage `{stage}`, e.g. `-> {back} when …` with the criteria a nurtured lead must meet again', stage=stage.id, back=back),
                related=tuple(Related(t.span, Message('leads are recycled here from `{source}`', source=t.source)) for t in paths),
            )
            continue
        bounce = [t for t in f.edges[stage.id] if t.condition is None and t.after is None
                  and t.target.name in inside and not f.is_entry(t.target.name)]
        if bounce:  # the stage holds nobody: SLA206 would say the same thing less precisely
            t = bounce[0]
            yield Diagnostic(
                RECYCLE_BOUNCE,
                Message('`-> {target}` has no condition and no delay: every lead recycled into `{stage}` goes straight back '
                        'to `{target}` and is counted there again', target=t.target.name, stage=stage.id),
                t.span,
                help=Message('give it the re-qualification criteria (`-> {target} when lead_score >= 100`) or a delay '
                             '(`after 30d`)', target=t.target.name),
                related=(Related(stage.name_span, Message('recycle stage')),),
            )
        elif stage.id not in requalifying:
            region = reach([stage.id], f.successors, lambda s: s not in inside and not f.is_terminal(s))
            shown = [t for s in f.stages if s in region for t in doors.get(s, [])]
            yield Diagnostic(
                NO_REQUALIFICATION_ROUTE,
                Message('leads in recycle stage `{stage}` go back into the funnel without meeting any criteria', stage=stage.id),
                stage.name_span,
                help=Message('give the route back a `when` with the re-qualification criteria (`-> mql when lead_score >= 50`), or send leads back to an entry stage'),
                related=tuple(Related(t.span, Message('returns to the funnel without criteria')) for t in shown[:5]),
            )


# ------------------------------------------------------------------ transitions that make no sense


@check(TRANSITION_FROM_TERMINAL)
def find_transitions_from_terminal(ctx: CheckContext) -> Iterator[Diagnostic]:
    f = flow(ctx)
    for stage in ctx.policy.stages:
        if not f.is_terminal(stage.id):
            continue
        for t in stage.transitions:
            yield Diagnostic(
                TRANSITION_FROM_TERMINAL,
                Message('`{stage}` is terminal, so this transition can never be taken', stage=stage.id),
                t.span,
                help=Message('remove it, or remove `terminal` from `{stage}` if leads really continue from there', stage=stage.id),
                related=tuple(Related(m.span, Message('marked terminal here')) for m in stage.markers if m.kind == "terminal"),
            )


SPAN_NEVER_ENTERED = define_rule(
    "SLA214",
    "span-never-entered",
    Severity.WARNING,
    "A `decide … through S` names a stage no lead can go on to from the stage the decision starts in.",
    explanation="`decide within 5bd through sal` in `mql` makes the decision span `mql` and `sal`: "
    "it is met only when the lead reaches a stage outside both. That only means something if a "
    "lead can go from `mql` on into `sal` (directly, or through other stages of the span). When "
    "no transition leads there, `through sal` never applies: usually the wrong stage is named, or "
    "the transition into it is missing.",
    bad='stage mql "MQL" {\n  decide within 5bd through sal\n  -> sql when intent == "yes"\n}',
    good='stage mql "MQL" {\n  decide within 5bd through sal\n  -> sal when accepted\n}',
)


@check(SPAN_NEVER_ENTERED)
def find_spans_never_entered(ctx: CheckContext) -> Iterator[Diagnostic]:
    stages = ctx.policy.stage_by_id
    for stage in ctx.policy.stages:
        decide = stage.deadline("decide")
        if decide is None or not decide.through:
            continue
        span = {n.name for n in decide.through}
        # the stages of the span a lead can go on to without leaving it, from where it starts
        reached: set[str] = set()
        todo = [stage.id]
        while todo:
            current = stages.get(todo.pop())
            if current is None:
                continue
            for t in current.transitions:
                target = t.target.name
                if target in span and target not in reached:
                    reached.add(target)
                    todo.append(target)
        for name in decide.through:
            if name.name in stages and name.name not in reached:
                yield Diagnostic(
                    SPAN_NEVER_ENTERED,
                    Message('no lead goes on from `{stage}` to `{through}`, so the decision never spans it', stage=stage.id, through=name.name),
                    name.span,
                    help=Message('name a stage a transition of `{stage}` leads to, or add that transition', stage=stage.id),
                )


@check(UNCONDITIONAL_SELF_TRANSITION)
def find_unconditional_self_transitions(ctx: CheckContext) -> Iterator[Diagnostic]:
    for stage in ctx.policy.stages:
        for t in stage.transitions:
            if t.target.name == stage.id and t.condition is None:
                when = Message("every {duration}", duration=t.after.text) if t.after else Message("at once and for ever")
                yield Diagnostic(
                    UNCONDITIONAL_SELF_TRANSITION,
                    Message('`-> {stage}` inside stage `{stage}` has no condition: the lead re-enters the stage {when} and never progresses', stage=stage.id, when=when),
                    t.span,
                    help=Message('add `when …` saying when the lead re-enters the stage, or point the transition at another stage'),
                )
