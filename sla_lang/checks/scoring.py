"""Scoring proofs and condition analysis: thresholds a score can reach, score rules that can
count, conditions that can be true, transitions that cannot both be true, and gaps between
thresholds. The decision procedures and their limits are in `conditions.py`; each rule's
explanation says what it proves and what it does not look at.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from .. import ir
from ..diagnostics import Diagnostic, Listing, Message, Related, Severity, define_rule
from . import CheckContext, check
from .conditions import (
    EXACT,
    OVER,
    Choices,
    ConditionModel,
    Cut,
    GrowingConjunction,
    Intervals,
    Unknown,
    Witness,
    describe_interval,
    shapes_of,
)
from .graph import flow, funnel

MAX_NAMED = 10  # priorities named in one message (thousands would bury it)

THRESHOLD_UNREACHABLE = define_rule(
    "SLA601",
    "threshold-unreachable",
    Severity.ERROR,
    "A criterion asks for a score the scoring model can never reach.",
    explanation="The highest score a lead can get is the sum, over the score's groups, of the "
    "group's positive points capped at its `max` (rules whose own condition can never be true "
    "do not count); the lowest is the sum of the negative points. A comparison such as "
    "`lead_score >= 120` when the rules add up to at most 100 is never true, so the "
    "transition, priority or rule using it never applies. This is a proof: the real maximum "
    "can only be lower (two rules may exclude each other), never higher.",
    bad='score lead_score "Lead score" {\n  group fit "Fit" max 40 {\n    +15 "Director" when job_level == "director"\n  }\n'
    '  group engagement "Engagement" max 60 {\n    +15 "Pricing page" when pricing_page_view\n  }\n}\n'
    '…\n  -> mql when lead_score >= 50      # at most 30 is possible',
    good='  -> mql when lead_score >= 25',
)
SCORE_RULE_NEVER_COUNTS = define_rule(
    "SLA602",
    "score-rule-never-counts",
    Severity.WARNING,
    "A score rule's points can never change the score: the group's cap is already reached by the rules above it.",
    explanation="A group's points are capped by its `max`. When every lead this rule applies "
    "to also meets rules listed above it whose points already reach the cap (taking into "
    "account negative rules that could apply at the same time), the rule never changes the "
    "score. Only implications that can be proven count (`employees >= 100` implies "
    "`employees >= 50`); rules that merely often come together do not. A rule worth 0 points "
    "never counts either.",
    bad='group fit "Fit" max 10 {\n  +10 "50+ employees" when employees >= 50\n  +5 "100+ employees" when employees >= 100\n}',
    good='group fit "Fit" max 15 {\n  +10 "50+ employees" when employees >= 50\n  +5 "100+ employees" when employees >= 100\n}',
)
RULE_ABOVE_GROUP_CAP = define_rule(
    "SLA611",
    "score-rule-above-group-max",
    Severity.WARNING,
    "A single score rule is worth more points than its group's `max`: the excess can never count.",
    explanation="A group's `max` caps the points all its rules add together. A rule worth more "
    "than the cap on its own (for points per occurrence: one occurrence, or the rule's own "
    "`max`) can never add all its points: the agreement shows a number that is never "
    "scored, and a lead that meets only this rule gets the cap, not the points written. "
    "Usually the cap or the points have a digit wrong.",
    bad='group behaviour "Behaviour" max 40 {\n  +50 "Attended a webinar" when webinar_attended\n}',
    good='group behaviour "Behaviour" max 60 {\n  +50 "Attended a webinar" when webinar_attended\n}',
)
CONDITION_NEVER_TRUE = define_rule(
    "SLA603",
    "condition-never-true",
    Severity.ERROR,
    "A condition can never be true.",
    explanation="Interval arithmetic on numbers, counts and dates, set arithmetic on enums, "
    "texts and yes/no properties show that no lead can meet the condition: "
    "`employees >= 50 and employees < 10`, `industry in []`, `consent and not consent`. "
    "Quantities are treated as independent (a score is not related to the properties it is "
    "computed from), which can only make more leads possible — so a condition reported here "
    "really is never true. Score ranges are SLA601.",
    bad="-> mql when employees >= 50 and employees < 10",
    good="-> mql when employees >= 10 and employees < 50",
)
AMBIGUOUS_TRANSITIONS = define_rule(
    "SLA604",
    "ambiguous-transitions",
    Severity.ERROR,
    "Two transitions out of one stage, to different stages, can both be true for the same lead.",
    explanation="When a lead meets the conditions of two transitions at once (and their "
    "`after` times are the same), the agreement does not say where it goes, and the CRM "
    "workflows that implement it race. The message gives an example lead. Only pairs that "
    "can be decided exactly are reported: conditions that read both a score and the "
    "properties that score is computed from (or a score and one of its groups) are not "
    "analysed, since the example might not be a possible lead.",
    bad='-> opportunity when deal_created\n-> nurture when buying_intent == "not_now"',
    good='-> opportunity when deal_created\n-> nurture when buying_intent == "not_now" and not deal_created',
)
ROUTING_GAP = define_rule(
    "SLA605",
    "routing-gap",
    Severity.WARNING,
    "The transitions out of a stage leave a gap: some leads match none of them.",
    explanation="When every transition with a condition out of a stage reads the same "
    "quantity, sla computes which values each accepts. For a number or score, a value "
    "*between* two accepted ranges that no transition accepts is a gap (`score >= 80` and "
    "`score < 70` leave 70–79): such leads wait until the value changes or a timeout fires. "
    "Values below or above every range are not gaps — leads wait there on purpose until they "
    "qualify. For an enum or yes/no property tested by two or more transitions, an option no "
    "transition accepts is a gap. Stages whose conditions read several quantities are not "
    "analysed.",
    bad='-> hot when lead_score >= 80\n-> warm when lead_score >= 50 and lead_score < 70',
    good='-> hot when lead_score >= 80\n-> warm when lead_score >= 50 and lead_score < 80',
)
THRESHOLD_DECREASES_ALONG_FUNNEL = define_rule(
    "SLA606",
    "threshold-decreases-along-funnel",
    Severity.WARNING,
    "A score threshold further along the funnel is lower than one every lead has already passed.",
    explanation="Along the qualification funnel (stages reachable from an entry stage without "
    "passing through a recycle stage), criteria should get stricter. When every path into a "
    "stage passes a transition requiring `lead_score >= 50`, a later transition requiring "
    "`lead_score >= 40` adds nothing the lead has not already shown, which usually means one "
    "of the two thresholds is wrong. Only lower bounds that a condition imposes in every case "
    "are compared.",
    bad='stage lead "Lead" {\n  entry\n  -> mql when lead_score >= 50\n}\n'
    'stage mql "MQL" {\n  -> sql when lead_score >= 40 and intent == "yes"\n}',
    good='stage lead "Lead" {\n  entry\n  -> mql when lead_score >= 50\n}\n'
    'stage mql "MQL" {\n  -> sql when lead_score >= 70 and intent == "yes"\n}',
)
PRIORITY_NEVER_APPLIES = define_rule(
    "SLA607",
    "priority-never-applies",
    Severity.ERROR,
    "A lead priority can never apply: every lead it matches has already matched a priority above it.",
    explanation="Priorities are tried in order and the first that matches wins. A priority "
    "after one without a condition, or whose condition implies the conditions above it, "
    "never applies (`warm when lead_score >= 80` after `hot when lead_score >= 60`).",
    bad='priority hot "Hot" when lead_score >= 60\npriority warm "Warm" when lead_score >= 80',
    good='priority hot "Hot" when lead_score >= 80\npriority warm "Warm" when lead_score >= 60',
)


AMBIGUOUS_ENTRY = define_rule(
    "SLA608",
    "ambiguous-entry",
    Severity.WARNING,
    "Two entry stages with `entry when …` can both admit the same new lead; only the first does.",
    explanation="A new lead created without a stage starts in the first entry stage (in source "
    "order) whose `entry when …` condition it meets, and only when it meets none in the first "
    "entry stage without a condition. When two conditions can both be true, the later stage "
    "never receives those leads; the message gives an example lead. Make the conditions exclusive.",
    bad='stage sgl "SGL" {\n  entry when created_by_sales\n}\nstage partner "Partner lead" {\n'
    '  entry when lead_source == "partner"\n}',
    good='stage sgl "SGL" {\n  entry when created_by_sales\n}\nstage partner "Partner lead" {\n'
    '  entry when lead_source == "partner" and not created_by_sales\n}',
)
LEADS_WITHOUT_ENTRY = define_rule(
    "SLA609",
    "leads-without-entry",
    Severity.WARNING,
    "Every entry stage has a condition, and some new leads meet none of them.",
    explanation="With `entry when …` on every entry stage, a new lead that meets no condition "
    "has nowhere to start: the agreement does not cover it and the CRM's entry workflows do "
    "not enrol it. Add an entry stage without a condition for the other leads (the usual "
    "`lead` stage), or make the conditions cover every lead. The message gives an example.",
    bad='stage sgl "SGL" {\n  entry when created_by_sales\n}',
    good='stage lead "Lead" {\n  entry\n}\nstage sgl "SGL" {\n  entry when created_by_sales\n}',
)


UNBOUNDED_SCORE = define_rule(
    "SLA610",
    "unbounded-score-rule",
    Severity.WARNING,
    "A rule gives points for every occurrence of an event with no `max`, in a group with no `max`.",
    explanation="`+5 \"Website visit\" per web_visit` adds 5 points for each visit. Without a `max` "
    "on the rule or on its group, one lead that visits a hundred times scores 500, and every "
    "threshold is met by activity alone — usually not what the scoring model means (seed 004 "
    "caps behaviour scores). Give the rule a `max` (`per web_visit max 25`) or its group one.",
    bad='group engagement "Engagement" {\n  +5 "Website visit" per web_visit\n}',
    good='group engagement "Engagement" max 60 {\n  +5 "Website visit" per web_visit max 25\n}',
)


@check(UNBOUNDED_SCORE)
def find_unbounded_score_rules(ctx: CheckContext) -> Iterator[Diagnostic]:
    for score in ctx.policy.scores:
        for group in score.groups:
            if group.cap is not None:
                continue
            for rule in group.rules:
                if rule.per is not None and rule.cap is None and rule.points != 0:
                    yield Diagnostic(
                        UNBOUNDED_SCORE,
                        Message('"{rule}" gives {points} points for every `{event}` and neither it nor group `{group}` '
                                'has a `max`: `{score}` has no limit', rule=rule.label, points=rule.points,
                                event=rule.per.name, group=group.id, score=score.id),
                        rule.span,
                        help=Message("cap it: `per {event} max …`, or give group `{group}` a `max`",
                                     event=rule.per.name, group=group.id),
                    )


# ------------------------------------------------------------------ score ranges


def score_ranges(ctx: CheckContext) -> dict[str, tuple[int, int]]:
    """The lowest and highest value of every score and score group (`lead_score`,
    `lead_score.fit`), from its rules and caps."""

    def build() -> dict[str, tuple[int, int]]:
        free = condition_model(ctx)
        ranges: dict[str, tuple[int, int]] = {}
        for model in ctx.policy.score_by_id.values():
            total_low = total_high = 0
            seen: set[str] = set()
            for group in model.groups:
                if group.id in seen:
                    continue
                seen.add(group.id)
                positive = negative = 0
                for rule in group.rules:
                    if not _possible(free, rule.condition):
                        continue
                    positive += rule.highest  # per occurrence: up to its `max` (no `max`: unbounded)
                    negative += rule.lowest
                cap = group.cap.value if group.cap is not None else None
                high = positive if cap is None else min(cap, positive)
                low = negative if cap is None else min(cap, negative)
                ranges[f"{model.id}.{group.id}"] = (low, high)
                total_low += low
                total_high += high
            ranges[model.id] = (total_low, total_high)
        return ranges

    return ctx.memo("scoring.ranges", build)


def condition_model(ctx: CheckContext, bounded: bool = False) -> ConditionModel:
    """The policy's ConditionModel, shared by the checks so that each condition's normal form is
    worked out once; `bounded`: scores range over what their rules can reach (score_ranges)."""
    models = ctx.memo("scoring.models", dict)  # (asked for once per stage by some checks)
    model = models.get(bounded)
    if model is None:
        shapes = shapes_of(ctx)  # both models' conditions: one shape each
        ranges = score_ranges(ctx) if bounded else None  # (made with the free model)
        model = models[bounded] = ConditionModel(ctx.policy, ranges, shapes)
    return model


def _possible(model: ConditionModel, condition: ir.Condition) -> bool:
    try:
        return model.can_be_true(condition, OVER)
    except Unknown:
        return True


def _describe_range(policy: ir.Policy, key: str, ranges: dict[str, tuple[int, int]], upper: bool) -> Message:
    low, high = ranges[key]
    if "." in key:
        name, member = key.split(".", 1)
        group = next(g for g in policy.score_by_id[name].groups if g.id == member)
        if group.cap is not None:
            if upper:
                return Message("`{score}` reaches at most {points} (its rules, capped at {cap})", score=key, points=high, cap=group.cap.value)
            return Message("`{score}` reaches at least {points} (its rules, capped at {cap})", score=key, points=low, cap=group.cap.value)
        if upper:
            return Message("`{score}` reaches at most {points} (its rules)", score=key, points=high)
        return Message("`{score}` reaches at least {points} (its rules)", score=key, points=low)
    model = policy.score_by_id[key]
    parts = []
    seen = set()
    for g in model.groups:
        if g.id in seen:
            continue
        seen.add(g.id)
        lo, hi = ranges[f"{key}.{g.id}"]
        parts.append(f"{g.id} {hi if upper else lo}")
    detail = f" ({' + '.join(parts)})" if parts else ""
    if upper:
        return Message("`{score}` reaches at most {points}{detail}", score=key, points=high, detail=detail)
    return Message("`{score}` reaches at least {points}{detail}", score=key, points=low, detail=detail)


# ------------------------------------------------------------------ naming where a condition is


def _where(owner: ir.ScoreRule | ir.Transition | ir.Priority | ir.Stage | ir.Deadline) -> Message:
    """How a diagnostic names the rule, transition, priority or entry a condition belongs to."""
    if isinstance(owner, ir.ScoreRule):
        return Message('score rule "{rule}"', rule=owner.label)
    if isinstance(owner, ir.Transition):
        return Message("transition `{source} -> {target}`", source=owner.source, target=owner.target.name)
    if isinstance(owner, ir.Stage):
        return Message("the entry condition of stage `{stage}`", stage=owner.id)
    if isinstance(owner, ir.Deadline):
        return Message("the channel choice of `{clause}`", clause=owner.clause_id)
    return Message("priority `{priority}`", priority=owner.id)


# ------------------------------------------------------------------ conditions that can never be true


@check(CONDITION_NEVER_TRUE, THRESHOLD_UNREACHABLE)
def find_conditions_never_true(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    ranges = score_ranges(ctx)
    free = condition_model(ctx)
    bounded = condition_model(ctx, bounded=True)
    # what is found depends only on the condition's shape (and where it is, for the message):
    # a shape found with nothing to report is not decided again
    shapes = bounded.shape
    clean: set[int] = set()
    for condition, owner in policy.conditions():
        number = shapes(condition)
        if number in clean:
            continue
        found = list(_never_true(policy, ranges, free, bounded, condition, owner))
        if found:
            yield from found
        else:
            clean.add(number)


def _never_true(policy: ir.Policy, ranges: dict[str, tuple[int, int]], free: ConditionModel, bounded: ConditionModel,
                condition: ir.Condition, owner) -> Iterator[Diagnostic]:
    """SLA603 or SLA601 for one condition (the body of `find_conditions_never_true`)."""
    try:
        if bounded.can_be_true(condition, OVER) and not _has_alternatives(condition):
            return  # a conjunction that can be true: so can each of its parts
        possible = free.can_be_true(condition, OVER)
    except Unknown:
        return
    if not possible:
        yield Diagnostic(
            CONDITION_NEVER_TRUE,
            Message('the condition of {where} can never be true: `{condition}`', where=_where(owner), condition=ir.condition_source(condition)),
            condition.span,
            help=Message('check the numbers and values: the parts of this condition exclude each other'),
        )
        return
    reported = False
    for leaf in ir.condition_leaves(condition):
        ref = getattr(leaf, "left", None)
        if ref is None or ref.name not in policy.score_by_id or ref.text not in ranges:
            continue
        try:
            if bounded.can_be_true(leaf, OVER) or not free.can_be_true(leaf, OVER):
                continue
        except Unknown:
            continue
        low, high = ranges[ref.text]
        upper = _needs_more_than(leaf, high)
        reported = True
        yield Diagnostic(
            THRESHOLD_UNREACHABLE,
            Message('`{leaf}` can never be true: {policy}', leaf=ir.condition_source(leaf), policy=_describe_range(policy, ref.text, ranges, upper)),
            leaf.span,
            help=Message('lower the threshold, or add or raise the score rules (and the group caps) so it can be reached'),
            related=(Related(policy.score_by_id[ref.name].name_span, Message('score defined here')),),
        )
    if reported:
        return
    try:
        if not bounded.can_be_true(condition, OVER):
            keys = sorted({r.text for r in ir.condition_refs(condition) if r.text in ranges})
            yield Diagnostic(
                THRESHOLD_UNREACHABLE,
                Message("the condition of {where} can never be true with the scores the model can reach: {ranges}",
                        where=_where(owner), ranges=Listing((Message("`{score}` is between {low} and {high}", score=k,
                                                             low=ranges[k][0], high=ranges[k][1]) for k in keys),
                                                    limit=len(keys), separator="; ")),
                condition.span,
                help=Message('lower the thresholds, or add or raise the score rules so they can be reached'),
            )
    except Unknown:
        return


def _has_alternatives(condition: ir.Condition) -> bool:
    """Whether the condition has an `or` or a `not` (so a part can be dead while it is not)."""
    stack = [condition]
    while stack:
        node = stack.pop()
        if isinstance(node, (ir.AnyOf, ir.Negation)):
            return True
        if isinstance(node, ir.AllOf):
            stack.extend(node.items)
    return False


def _needs_more_than(leaf: ir.Condition, high: int) -> bool:
    """Whether a score comparison fails for being too high a demand (rather than too low)."""
    if isinstance(leaf, ir.Comparison) and isinstance(leaf.right, ir.Number):
        return leaf.op in (">=", ">", "==") and leaf.right.value >= high
    return True


# ------------------------------------------------------------------ score rules that never count


@check(RULE_ABOVE_GROUP_CAP)
def find_rules_above_their_group_cap(ctx: CheckContext) -> Iterator[Diagnostic]:
    for score in ctx.policy.scores:
        for group in score.groups:
            if group.cap is None:
                continue
            cap = group.cap.value
            for rule in group.rules:
                # per occurrence without its own `max`: the group caps the total, as it should
                most = rule.points if rule.per is None or rule.cap is None else rule.highest
                if rule.points > 0 and most > cap:
                    yield Diagnostic(
                        RULE_ABOVE_GROUP_CAP,
                        Message('"{rule}" can add {points} points, more than the `max` of group `{group}` ({cap}): '
                                '{excess} of them never count', rule=rule.label, points=most, group=group.id, cap=cap,
                                excess=most - cap),
                        rule.span,
                        help=Message("give it at most {cap} points, or raise the group's `max`", cap=cap),
                        related=(Related(group.cap.span, Message('the cap')),),
                    )


@check(SCORE_RULE_NEVER_COUNTS)
def find_score_rules_that_never_count(ctx: CheckContext) -> Iterator[Diagnostic]:
    model = condition_model(ctx)
    for score in ctx.policy.scores:
        for group in score.groups:
            kept: list[ir.ScoreRule] = []
            for index, rule in enumerate(group.rules):
                if rule.points == 0:
                    yield Diagnostic(
                        SCORE_RULE_NEVER_COUNTS,
                        Message('"{rule}" is worth 0 points, so it never changes `{score}`', rule=rule.label, score=score.id),
                        rule.span,
                        help=Message('give it points or remove it'),
                    )
                    continue
                if rule.points < 0 or group.cap is None or not _possible(model, rule.condition):
                    kept.append(rule)
                    continue
                cap = group.cap.value
                sure, because = 0, []
                for other in kept:
                    if other.points > 0 and model.implies(rule.condition, other.condition):
                        sure += other.points
                        because.append(other)
                for other in group.rules:
                    if other is not rule and other.points < 0 and _together(model, rule.condition, other.condition):
                        sure += other.lowest
                if sure >= cap:
                    yield Diagnostic(
                        SCORE_RULE_NEVER_COUNTS,
                        Message('"{rule}" never counts: every lead it applies to already gets {sure} points from the rules above it, the cap of group `{group}` ({cap})', rule=rule.label, sure=sure, group=group.id, cap=cap),
                        rule.span,
                        help=Message("raise the group's `max`, or remove this rule"),
                        related=tuple(Related(o.span, Message('applies to every such lead')) for o in because)
                        + (Related(group.cap.span, Message('the cap')),),
                    )
                else:
                    kept.append(rule)


def _together(model: ConditionModel, a: ir.Condition, b: ir.Condition) -> bool:
    try:
        return model.can_all_be_true([(a, True), (b, True)], OVER)
    except Unknown:
        return True


# ------------------------------------------------------------------ routing: ambiguity and gaps


def _coupled(policy: ir.Policy, conditions: Iterable[ir.Condition]) -> bool:
    """Whether the conditions read a score together with something it is computed from."""
    refs = [r for c in conditions for r in ir.condition_refs(c)]
    scores = {r.name for r in refs if r.name in policy.score_by_id}
    if not scores:
        return False
    for name in scores:
        if len({r.member for r in refs if r.name == name}) > 1:
            return True
        inputs = {r.name for g in policy.score_by_id[name].groups for rule in g.rules
                  for r in ir.condition_refs(rule.condition)}
        if any(r.name in inputs for r in refs):
            return True
    return False


def _same_timing(a: ir.Transition, b: ir.Transition) -> bool:
    return (a.after.text if a.after else None) == (b.after.text if b.after else None)


@check(AMBIGUOUS_TRANSITIONS)
def find_ambiguous_transitions(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    model = condition_model(ctx, bounded=True)
    # Whether two conditions can both be true, and the example lead, depend only on their
    # shapes (and so do the quantities they read): a large policy repeats the same pairs of
    # conditions from stage to stage, decided once per pair of shapes (None: not ambiguous).
    witnesses: dict[tuple[tuple, tuple], Witness | None] = {}
    for stage in flow(ctx).stages.values():
        guarded = [t for t in stage.transitions if t.condition is not None]
        for j, later in enumerate(guarded):
            for earlier in guarded[:j]:
                if earlier.target.name == later.target.name or not _same_timing(earlier, later):
                    continue
                key = (model.shape(earlier.condition), model.shape(later.condition))
                if key in witnesses:
                    witness = witnesses[key]
                elif _coupled(policy, (earlier.condition, later.condition)):
                    witness = witnesses[key] = None
                else:
                    try:
                        witness = model.example([(earlier.condition, True), (later.condition, True)], EXACT)
                    except Unknown:
                        witness = None
                    witnesses[key] = witness
                if witness is None:
                    continue
                yield Diagnostic(
                    AMBIGUOUS_TRANSITIONS,
                    Message('a lead in `{stage}` can match both `-> {target}` and `-> {target2}`: e.g. {describe}', stage=stage.id, target=earlier.target.name, target2=later.target.name, describe=witness.describe()),
                    later.span,
                    help=Message("make the conditions exclusive, e.g. add `and not (…)` with the other transition's condition"),
                    related=(Related(earlier.span, Message('also matches')),),
                )
                break


@check(ROUTING_GAP)
def find_routing_gaps(ctx: CheckContext) -> Iterator[Diagnostic]:
    model = condition_model(ctx, bounded=True)
    # what the transitions of a stage accept depends only on their conditions' shapes: a large
    # policy routes stage after stage the same way, worked out once per list of shapes
    routes: dict[tuple, list] = {}
    for stage in flow(ctx).stages.values():
        guarded = [t for t in stage.transitions if t.condition is not None]
        if not guarded or stage.is_terminal:
            continue
        shapes = tuple([model.shape(t.condition) for t in guarded])
        gaps = routes.get(shapes)
        if gaps is None:
            gaps = routes[shapes] = _gaps(model, guarded)
        if not gaps:
            continue  # (most stages: the transitions leave no gap)
        related = tuple(Related(t.span, Message('transition')) for t in guarded)
        for kind, text in gaps:
            if kind == "range":
                yield Diagnostic(
                    ROUTING_GAP,
                    Message('no transition out of `{stage}` matches leads with {text}: they stay in `{stage}`', stage=stage.id, text=text),
                    stage.name_span,
                    help=Message('make the ranges meet (e.g. `< 80` next to `>= 80`), or add a transition for the gap'),
                    related=related,
                )
            else:
                key, variable, missing = text
                shown = Listing((f"{key} = {variable.show(v)}" for v in missing), limit=len(missing), quote=False)
                yield Diagnostic(
                    ROUTING_GAP,
                    Message('no transition out of `{stage}` matches leads with {shown}: they stay in `{stage}`', stage=stage.id, shown=shown),
                    stage.name_span,
                    help=Message('add a transition for it, or widen one of the conditions (`in [...]`)'),
                    related=related,
                )


def _gaps(model: ConditionModel, guarded: list[ir.Transition]) -> list[tuple[str, object]]:
    """What no transition of a stage accepts: ("range", text) per hole between the ranges of
    the one quantity the conditions read, or ("choices", (key, variable, missing values)) when
    they are two or more conditions on unordered values; [] when there is no gap or the model
    cannot tell. Depends only on the conditions' shapes."""
    route = _accepted_by_transitions(model, guarded)
    if route is None:
        return []
    key, variable, accepted = route
    found: list[tuple[str, object]] = []
    if isinstance(accepted, Intervals):
        parts = variable.contains(accepted).parts  # type: ignore[union-attr]
        for (_, end), (start, _) in zip(parts, parts[1:]):
            hole = Intervals.of(end, start)
            if variable.whole:
                hole = hole.integers()
            if hole.is_empty():
                continue
            found.append(("range", describe_interval(hole.parts[0][0], hole.parts[-1][1], key, variable.whole)))
    elif isinstance(accepted, Choices) and len(guarded) >= 2:
        domain = variable.domain
        if not isinstance(domain, Choices) or domain.cofinite or accepted.cofinite:
            return found
        missing = sorted(domain.values - accepted.values, key=str)
        if missing:
            found.append(("choices", (key, variable, missing)))
    return found


def _accepted_by_transitions(model: ConditionModel, guarded: list[ir.Transition]) -> tuple | None:
    """(the one quantity the conditions read, its variable, the values some condition accepts),
    or None when they read several quantities or the model cannot tell."""
    keys = {r.text for t in guarded for r in ir.condition_refs(t.condition)}
    if len(keys) != 1:
        return None
    (key,) = keys
    try:
        variable = model.variable(next(iter(ir.condition_refs(guarded[0].condition))))
        accepted = None
        for t in guarded:
            values = model.accepted_values(t.condition, key)
            accepted = values if accepted is None else accepted.union(values)  # type: ignore[arg-type]
    except Unknown:
        return None
    return key, variable, accepted


# ------------------------------------------------------------------ thresholds along the funnel


@check(THRESHOLD_DECREASES_ALONG_FUNNEL)
def find_thresholds_decreasing_along_funnel(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    f = flow(ctx)
    inside = funnel(ctx)
    model = condition_model(ctx)
    edges = [t for s in f.stages if s in inside for t in f.edges[s] if t.target.name in inside]
    keys = sorted({r.text for t in edges if t.condition is not None for r in ir.condition_refs(t.condition)
                   if r.name in policy.score_by_id})
    shape = model.shape
    for key in keys:
        bounds: dict[int, tuple] = {}
        cuts: dict[int, Cut | None] = {}  # a condition's bound depends only on its shape
        for t in edges:
            if t.condition is None:
                continue
            number = shape(t.condition)
            if number in cuts:
                cut = cuts[number]
            else:
                try:
                    cut = model.lower_bound(t.condition, key)
                except Unknown:
                    cut = None
                cuts[number] = cut
            if cut is not None:
                bounds[id(t)] = (cut, t)
        if not bounds:
            continue
        # passed[s]: the threshold every lead entering s has met, and the transition that set it
        low = ((-float("inf"), 0), None)
        passed: dict[str, tuple] = {s: low for s in inside if f.is_entry(s)}
        queue = list(passed)
        while queue:
            source = queue.pop()
            for t in f.edges[source]:
                target = t.target.name
                if target not in inside or f.is_entry(target):
                    continue
                here = passed[source]
                own = bounds.get(id(t))
                through = own if own is not None and own[0] > here[0] else here
                if target not in passed or through[0] < passed[target][0]:
                    passed[target] = through
                    queue.append(target)
        for t in edges:
            own = bounds.get(id(t))
            source_bound = passed.get(t.source)
            if own is None or source_bound is None or source_bound[1] is None:
                continue
            if own[0] < source_bound[0]:
                earlier = source_bound[1]
                yield Diagnostic(
                    THRESHOLD_DECREASES_ALONG_FUNNEL,
                    Message('`{source} -> {target}` asks for `{key}`, less than the `{key2}` every lead already met to reach `{source}` (`{source2} -> {target2}`)', source=t.source, target=t.target.name, key=_cut_text(key, own[0]), key2=_cut_text(key, source_bound[0]), source2=earlier.source, target2=earlier.target.name),
                    t.condition.span,
                    help=Message('thresholds should rise along the funnel: raise this one or lower the earlier one'),
                    related=(Related(earlier.condition.span, Message('the earlier, higher threshold')),),
                )


def _cut_text(key: str, cut: tuple[float, int]) -> str:
    value, side = cut
    number = int(value) if float(value).is_integer() else value
    return f"{key} {'>=' if side <= 0 else '>'} {number}"


# ------------------------------------------------------------------ priorities


@check(PRIORITY_NEVER_APPLIES)
def find_priorities_that_never_apply(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    model = condition_model(ctx, bounded=True)
    above: list[ir.Priority] = []
    none_above: GrowingConjunction | None = model.growing(OVER)  # "no priority above matched"; None: unknown
    for priority in policy.priorities:
        catch_all = next((p for p in above if p.condition is None), None)
        if catch_all is not None:
            yield Diagnostic(
                PRIORITY_NEVER_APPLIES,
                Message('priority `{priority}` never applies: `{catch_all}` above it has no condition and matches every lead', priority=priority.id, catch_all=catch_all.id),
                priority.name_span,
                help=Message('put the priority without a condition last'),
                related=(Related(catch_all.name_span, Message('matches every lead')),),
            )
            above.append(priority)
            continue
        if above and none_above is not None and (priority.condition is None or _possible(model, priority.condition)):
            try:
                never = not none_above.could_hold(priority.condition)
            except Unknown:
                never = False
            if never:
                yield Diagnostic(
                    PRIORITY_NEVER_APPLIES,
                    Message("priority `{priority}` never applies: every lead it matches already matches {above} above it "
                            "(the first match wins)", priority=priority.id, above=Listing((p.id for p in above), limit=MAX_NAMED)),
                    priority.name_span,
                    help=Message('order priorities from the strictest condition to the loosest'),
                    related=tuple(Related(p.name_span, Message('matches first')) for p in above[:MAX_NAMED]),
                )
        above.append(priority)
        if none_above is not None and priority.condition is not None:
            try:
                none_above.add(priority.condition, positive=False)
            except Unknown:
                none_above = None


def score_stats(ctx: CheckContext) -> dict[str, str]:
    ranges = score_ranges(ctx)
    out = {}
    for model in ctx.policy.score_by_id.values():
        low, high = ranges[model.id]
        groups = ", ".join(f"{g.id} {ranges[f'{model.id}.{g.id}'][0]}..{ranges[f'{model.id}.{g.id}'][1]}"
                           for g in {g.id: g for g in model.groups}.values())
        out[Message("score `{score}` range", score=model.id)] = f"{low}..{high}" + (f" ({groups})" if groups else "")
    return out


@check(THRESHOLD_UNREACHABLE)
def collect_score_ranges(ctx: CheckContext) -> Iterator[Diagnostic]:
    if ctx.options.stats:
        ctx.stats.update(score_stats(ctx))
    return
    yield


# ------------------------------------------------------------------ entry conditions


@check(AMBIGUOUS_ENTRY, LEADS_WITHOUT_ENTRY)
def find_entry_problems(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    entries = [s for s in flow(ctx).stages.values() if s.is_entry]
    conditional = [s for s in entries if s.entry_condition is not None]
    if not conditional:
        return
    model = condition_model(ctx, bounded=True)
    for j, later in enumerate(conditional):
        for earlier in conditional[:j]:
            if _coupled(policy, (earlier.entry_condition, later.entry_condition)):
                continue
            try:
                witness = model.example([(earlier.entry_condition, True), (later.entry_condition, True)], EXACT)
            except Unknown:
                continue
            if witness is not None:
                yield Diagnostic(
                    AMBIGUOUS_ENTRY,
                    Message('a new lead can meet the entry conditions of both `{earlier}` and `{later}` (e.g. {describe}); it starts in `{earlier}`', earlier=earlier.id, later=later.id, describe=witness.describe()),
                    later.entry_condition.span,
                    help=Message('make the conditions exclusive, e.g. add `and not (…)` with the condition of `{earlier}`', earlier=earlier.id),
                    related=(Related(earlier.entry_condition.span, Message('also admits it, and comes first')),),
                )
                break
    if len(conditional) < len(entries):
        return  # an entry stage without a condition takes every other lead
    try:
        witness = model.example([(s.entry_condition, False) for s in conditional], EXACT)
    except Unknown:
        return
    if witness is not None:
        yield Diagnostic(
            LEADS_WITHOUT_ENTRY,
            Message('a new lead can meet no entry condition (e.g. {describe}), and every entry stage has one', describe=witness.describe()),
            conditional[0].entry_condition.span,
            help=Message('add an entry stage without a condition for the other leads, or widen the conditions'),
        )
