"""Name resolution and types: every reference names something declared, once, of the right kind.

Conditions share one namespace for the quantities they read: properties, events (read as a
count) and score models (`lead_score`, or a group: `lead_score.fit`).
"""

from __future__ import annotations

import difflib
from typing import Iterable, Iterator

from .. import ir
from ..diagnostics import Diagnostic, Listing, Message, Related, Severity, define_rule
from . import CheckContext, check
from .conditions import shapes_of

UNDEFINED_REFERENCE = define_rule(
    "SLA301",
    "undefined-reference",
    Severity.ERROR,
    "A name refers to a stage, team, property, event, score, calendar or review that is not declared.",
    explanation="Owners and escalation targets must be declared teams (`party` or `team`), "
    "transition targets must be stages, criteria may read declared properties, events and "
    "scores, and so on. The message names what kind of thing was expected and the closest "
    "declared name.",
    bad='stage mql "MQL" {\n  owner insdie_sales\n  -> sql when intent == "yes"\n}',
    good='stage mql "MQL" {\n  owner inside_sales\n  -> sql when intent == "yes"\n}',
)
DUPLICATE_DEFINITION = define_rule(
    "SLA302",
    "duplicate-definition",
    Severity.ERROR,
    "Two declarations use the same name.",
    explanation="Stages, teams, calendars, KPIs, reviews and priorities each need a unique "
    "name. Properties, events and scores share one namespace (criteria read them all by "
    "name), and score groups must be unique within their score.",
    bad='stage mql "MQL" {\n  owner inside_sales\n}\nstage mql "Hot MQL" {\n  owner inside_sales\n}',
    good='stage mql "MQL" {\n  owner inside_sales\n}\nstage hot_mql "Hot MQL" {\n  owner inside_sales\n}',
)
INCOMPATIBLE_COMPARISON = define_rule(
    "SLA308",
    "incompatible-comparison",
    Severity.ERROR,
    "A condition compares a quantity with a value of another type, or orders an unordered one.",
    explanation="Numbers, scores and event counts compare with numbers; enum and text "
    "properties with quoted text (`==`, `!=`, `in`), yes/no properties with true/false, date "
    "properties with dates. A bare name is a yes/no test: it works for yes/no properties "
    "(true) and events (happened at least once), not for numbers or text.",
    bad='-> mql when industry >= 50',
    good='-> mql when employees >= 50 and industry in ["manufacturing", "it"]',
)
UNKNOWN_ENUM_VALUE = define_rule(
    "SLA309",
    "unknown-enum-value",
    Severity.ERROR,
    "A condition uses a value that is not one of the enum property's options.",
    explanation="An enum property can only hold the options listed in its declaration, so a "
    "condition on any other value is never true — usually a typo.",
    bad='property intent "Intent" enum ["yes", "no"]\n…\n-> sql when intent == "Yes"',
    good='property intent "Intent" enum ["yes", "no"]\n…\n-> sql when intent == "yes"',
)

_NUMERIC = (ir.Number,)


def _suggest(word: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return close[0] if close else None


class _Suggester:
    """"Did you mean" for one check run: cached per word and kind, and bounded.

    difflib costs O(candidates) per word; a policy with thousands of distinct misspellings
    against thousands of stages must not turn the check quadratic, so after a budget of
    look-ups in large namespaces the hint is left out.
    """

    BUDGET = 200

    def __init__(self) -> None:
        self.cache: dict[tuple[str, str], str | None] = {}
        self.spent = 0
        self.skeletons: dict[int, tuple[object, dict[str, str]]] = {}

    def look_alike(self, word: str, candidates) -> str | None:
        """A declared name that looks exactly like `word` (a Cyrillic `а` for `a` …)."""
        from .identifiers import skeleton

        entry = self.skeletons.get(id(candidates))
        if entry is None or entry[0] is not candidates:
            index: dict[str, str] = {}
            for candidate in candidates:
                index.setdefault(skeleton(candidate), candidate)
            entry = self.skeletons[id(candidates)] = (candidates, index)
        found = entry[1].get(skeleton(word))
        return found if found != word else None

    def __call__(self, kind: str, word: str, candidates) -> str | None:
        key = (kind, word)
        if key not in self.cache:
            if len(candidates) > 50:
                if self.spent >= self.BUDGET:
                    return None
                self.spent += 1
            self.cache[key] = _suggest(word, candidates)
        return self.cache[key]


def _undefined(
    name: ir.Name | ir.Ref, kind: str, candidates, how: str, suggester: _Suggester | None = None
) -> Diagnostic:
    text = name.name if isinstance(name, ir.Name) else name.text
    look_alike = (suggester or _Suggester()).look_alike(name.name, candidates)
    if look_alike is not None:
        return Diagnostic(
            UNDEFINED_REFERENCE,
            Message('undefined {kind} `{text}`: it looks like `{look_alike}` but contains a look-alike letter', kind=kind, text=text, look_alike=look_alike),
            name.span,
            help=Message("retype it as `{look_alike}`; {how}", look_alike=look_alike, how=how),
        )
    guess = suggester(kind, name.name, candidates) if suggester else _suggest(name.name, candidates)
    return Diagnostic(
        UNDEFINED_REFERENCE,
        Message('undefined {kind} `{text}`', kind=kind, text=text),
        name.span,
        help=Message("did you mean `{guess}`? {how}", guess=guess, how=how) if guess else how,
    )


@check(DUPLICATE_DEFINITION)
def find_duplicate_definitions(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    groups: list[tuple[str, Iterable]] = [
        (Message("team"), policy.teams),
        (Message("stage"), policy.stages),
        (Message("calendar"), policy.calendars),
        (Message("KPI"), policy.kpis),
        (Message("review"), policy.reviews),
        (Message("priority"), policy.priorities),
        (Message("translation"), policy.translations),
        (Message("property, event or score"), [*policy.properties, *policy.events, *policy.scores]),
    ]
    for model in policy.scores:
        groups.append((Message("group of score `{score}`", score=model.id), model.groups))
    for kind, items in groups:
        first: dict[str, object] = {}
        for item in items:
            if item.id in first:
                yield Diagnostic(
                    DUPLICATE_DEFINITION,
                    Message('{kind} `{item}` is declared more than once', kind=kind, item=item.id),
                    item.name_span,
                    help=Message('rename one of them; names are how the rest of the policy refers to it'),
                    related=(Related(first[item.id].name_span, Message('first declared here')),),
                )
            else:
                first[item.id] = item


@check(UNDEFINED_REFERENCE)
def find_undefined_references(ctx: CheckContext) -> Iterator[Diagnostic]:
    """SLA301 for every reference to an undeclared name — except that a misspelt *declaration*
    (team `inside_sale` declared and never used, `inside_sales` used 21 times) is one mistake:
    it is reported once, at the declaration, with the first uses as notes."""
    found = list(_undefined_references(ctx))
    policy = ctx.policy
    groups: dict[tuple[str, str], list[Diagnostic]] = {}
    for d in found:
        if isinstance(d.message, Message) and d.message.template == 'undefined {kind} `{text}`':
            groups.setdefault((str(d.message.args["kind"]), d.message.args["text"]), []).append(d)
    declared = {"team": policy.team_by_id, "stage": policy.stage_by_id}
    used: dict[str, set[str]] = {}  # (read only when a name is undefined twice: most policies have none)
    merged: dict[int, Diagnostic | None] = {}  # id of an SLA301 → what replaces it (None: dropped)
    for (kind, text), uses in groups.items():
        guess = uses[0].help.args.get("guess") if isinstance(uses[0].help, Message) else None
        if len(uses) < 2 or kind not in declared or guess not in declared[kind]:
            continue
        if not used:
            used.update(team={n.name for n in _team_refs(policy)}, stage=_stage_refs(policy))
        if guess in used[kind]:
            continue
        declaration = declared[kind][guess]
        merged[id(uses[0])] = Diagnostic(
            UNDEFINED_REFERENCE,
            Message("{kind} `{declared}` is declared but never used, and `{text}` is used {count} times but never "
                    "declared: one of them is misspelt", kind=uses[0].message.args["kind"], declared=guess, text=text,
                    count=len(uses)),
            declaration.name_span,
            help=Message("rename the declaration to `{text}`, or correct the {count} uses to `{declared}`",
                         text=text, count=len(uses), declared=guess),
            related=tuple(Related(u.span, Message("`{text}` used here", text=text)) for u in uses[:3]),
        )
        merged.update((id(u), None) for u in uses[1:])
    for d in found:
        replacement = merged.get(id(d), d)
        if replacement is not None:
            yield replacement


def _team_refs(policy: ir.Policy) -> Iterator[ir.Name]:
    a = policy.agreement
    if a and a.owner:
        yield a.owner
    if a and a.amendment:
        yield from a.amendment.approvers
    for team in policy.teams:
        if team.parent:
            yield team.parent
    for stage in policy.stages:
        if stage.owner:
            yield stage.owner
        for d in stage.deadlines:
            if d.owner:
                yield d.owner
        if stage.follow_up and stage.follow_up.owner:
            yield stage.follow_up.owner
        for e in stage.escalations:
            yield e.to
        if stage.handoff:
            yield stage.handoff.sender
        for c in stage.cadences:
            if c.owner:
                yield c.owner
    for kpi in policy.kpis:
        if kpi.owner:
            yield kpi.owner
        if kpi.alert:
            yield from kpi.alert.notify
    for info in policy.information:
        yield info.sender
        yield info.receiver
    for row in policy.responsibilities:
        yield from row.teams()
    for review in policy.reviews:
        if review.owner:
            yield review.owner
        yield from review.attendees


def _stage_refs(policy: ir.Policy) -> set[str]:
    names = {t.target.name for s in policy.stages for t in s.transitions}
    names.update(n.name for k in policy.kpis for n in _measure_stages(k.measure))
    names.update(i.anchor.stage.name for b in policy.information for i in b.items if i.anchor is not None)
    return names


def _undefined_references(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    teams = policy.team_by_id
    stages = policy.stage_by_id
    properties = policy.property_by_id
    calendars = policy.calendar_by_id
    reviews = policy.review_by_id
    quantities = {**properties, **policy.event_by_id, **policy.score_by_id}
    team_help = Message("teams are declared with `party NAME` or `team NAME`")
    suggester = _Suggester()

    def undefined(name, kind, candidates, how):
        return _undefined(name, kind, candidates, how, suggester)

    for name in _team_refs(policy):
        if name.name not in teams:
            yield undefined(name, Message("team"), teams, team_help)

    for stage in policy.stages:
        for t in stage.transitions:
            if t.target.name not in stages:
                yield undefined(t.target, Message("stage"), stages, Message("stages are declared with `stage NAME { … }`"))
            for prop in t.record:
                if prop.name not in properties:
                    yield undefined(prop, Message("property"), properties, Message("declare it: `property NAME \"Label\" enum [...]`"))
        for deadline in stage.deadlines:
            for name in deadline.through:
                if name.name not in stages:
                    yield undefined(name, Message("stage"), stages, Message("stages are declared with `stage NAME { … }`"))
        for cadence in stage.cadences:
            if cadence.event.name not in policy.event_by_id:
                yield undefined(cadence.event, Message("event"), policy.event_by_id,
                                Message("a cadence counts a declared event: `event NAME \"Label\"`"))
        if stage.calendar and stage.calendar.name not in calendars:
            yield undefined(stage.calendar, Message("calendar"), calendars, Message("calendars are declared with `calendar NAME { … }`"))
        if stage.handoff:
            for field_name in stage.handoff.include:
                if field_name.name not in quantities:
                    yield undefined(
                        field_name, Message("property"), quantities,
                        Message("hand-off fields are declared properties, events or scores"),
                    )
    if policy.agreement and policy.agreement.calendar and policy.agreement.calendar.name not in calendars:
        yield undefined(
            policy.agreement.calendar, Message("calendar"), calendars, Message("calendars are declared with `calendar NAME { … }`")
        )

    for kpi in policy.kpis:
        measure = kpi.measure
        for stage_name in _measure_stages(measure):
            if stage_name.name not in stages:
                yield undefined(stage_name, Message("stage"), stages, Message("KPIs measure declared stages"))
        if isinstance(measure, (ir.AverageMeasure, ir.SumMeasure)):
            yield from _check_ref(measure.quantity, policy, suggester)
        if isinstance(measure, ir.ComplianceMeasure) and measure.stage.name in stages:
            measured, kind, where = stages[measure.stage.name], measure.deadline, measure.stage.name
            if kind == "follow_up" and measured.follow_up is None:
                yield Diagnostic(
                    UNDEFINED_REFERENCE, Message("stage `{stage}` has no follow-up cadence to measure", stage=where),
                    measure.span, help=Message("add `follow up 3 times at 0d, 3d, 7d` to stage `{stage}`", stage=where),
                )
            elif kind == "handoff" and (measured.handoff is None or measured.handoff.within is None):
                yield Diagnostic(
                    UNDEFINED_REFERENCE, Message("stage `{stage}` has no hand-off deadline to measure", stage=where),
                    measure.span,
                    help=Message("give the hand-off into stage `{stage}` a deadline: `handoff from TEAM within 2h {{`",
                                 stage=where),
                )
            elif kind in ir.DEADLINE_KINDS and not ctx.deadline_written(where, kind):
                yield Diagnostic(
                    UNDEFINED_REFERENCE,
                    Message('stage `{stage}` has no `{deadline}` deadline to measure', stage=where, deadline=kind),
                    measure.span,
                    help=Message('add `{deadline} within …` to stage `{stage}`', deadline=kind, stage=where),
                )
        if kpi.by is not None and kpi.by.name != "owner" and kpi.by.name not in properties:
            yield undefined(kpi.by, Message("property"), properties,
                            Message("a KPI is broken down `by owner` or by a declared property"))
        if kpi.alert and kpi.alert.review and kpi.alert.review.name not in reviews:
            yield undefined(kpi.alert.review, Message("review"), reviews, Message("reviews are declared with `review NAME { … }`"))
    for info in policy.information:
        for item in info.items:
            if item.anchor is not None and item.anchor.stage.name not in stages:
                yield undefined(item.anchor.stage, Message("stage"), stages, Message("an information duty counts from a declared stage"))
    term = policy.agreement.term if policy.agreement else None
    if term is not None and term.review is not None and term.review.name not in reviews:
        yield undefined(term.review, Message("review"), reviews, Message("reviews are declared with `review NAME { … }`"))

    for info in policy.information:
        for item in info.items:
            if item.recorded_in and item.recorded_in.name not in properties:
                yield undefined(item.recorded_in, Message("property"), properties, Message("feedback is recorded in a declared property"))

    # Whether a condition's references resolve depends only on its shape, and a large policy
    # repeats its conditions from stage to stage: a shape found clean is not read again.
    shapes = shapes_of(ctx)
    clean: set[int] = set()
    for condition, _ in policy.conditions():
        number = shapes(condition)
        if number in clean:
            continue
        found = False
        for ref in ir.condition_refs(condition):
            for diagnostic in _check_ref(ref, policy, suggester):
                found = True
                yield diagnostic
        if not found:
            clean.add(number)


def _check_ref(ref: ir.Ref, policy: ir.Policy, suggester: _Suggester | None = None) -> Iterator[Diagnostic]:
    quantities = _quantities(policy)
    if ref.name not in quantities:
        yield _undefined(
            ref, Message("property, event or score"), quantities,
            Message("criteria read declared `property`, `event` and `score` names"), suggester,
        )
        return
    if ref.member is None:
        return
    model = policy.score_by_id.get(ref.name)
    if model is None:
        yield Diagnostic(
            UNDEFINED_REFERENCE,
            Message('`{ref}` is not a score, so `{ref2}` names nothing', ref=ref.name, ref2=ref.text),
            ref.span,
            help=Message('only scores have parts: `score_name.group_name`'),
        )
        return
    groups = {g.id for g in model.groups}
    if ref.member not in groups:
        guess = _suggest(ref.member, groups)
        yield Diagnostic(
            UNDEFINED_REFERENCE,
            Message('score `{model}` has no group `{member}`', model=model.id, member=ref.member),
            ref.span,
            help=(Message("did you mean `{score}.{guess}`? groups: {groups}", score=model.id, guess=guess,
                          groups=Listing(sorted(groups), limit=len(groups), quote=False))
                  if guess else
                  Message("groups: {groups}", groups=Listing(sorted(groups), limit=len(groups), quote=False))),
        )


def _quantities(policy: ir.Policy) -> dict:
    cached = policy.extra.get("quantities")
    if cached is None:
        cached = policy.extra["quantities"] = {**policy.property_by_id, **policy.event_by_id, **policy.score_by_id}
    return cached


def _measure_stages(measure: ir.Measure | None) -> list[ir.Name]:
    if measure is None:
        return []
    if isinstance(measure, (ir.CountMeasure, ir.ComplianceMeasure, ir.AverageMeasure, ir.SumMeasure,
                            ir.OutcomeMeasure)):
        return [measure.stage]
    if isinstance(measure, ir.ConversionMeasure):
        return [measure.source, *measure.targets]
    if isinstance(measure, ir.DurationMeasure):
        return [measure.source, measure.target]
    return []


def quantity_type(ref: ir.Ref, policy: ir.Policy) -> str | None:
    """What a Ref holds: a property's type, 'count' for events, 'number' for scores."""
    prop = policy.property_by_id.get(ref.name)
    if prop is not None:
        return prop.type if ref.member is None else None
    if ref.name in policy.event_by_id:
        return "count" if ref.member is None else None
    if ref.name in policy.score_by_id:
        return "number"
    return None


@check(INCOMPATIBLE_COMPARISON, UNKNOWN_ENUM_VALUE)
def find_incompatible_comparisons(ctx: CheckContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    shapes = shapes_of(ctx)
    placeholders = policy.extra.get("placeholder_values", ())
    clean: set[int] = set()  # shapes of conditions found without a type error
    for condition, owner in policy.conditions():
        if isinstance(owner, ir.ScoreRule) and owner.per is not None:
            per = owner.per
            if per.name not in policy.event_by_id and (per.name in policy.property_by_id or per.name in policy.score_by_id):
                yield Diagnostic(
                    INCOMPATIBLE_COMPARISON,
                    Message("points `per` occurrence count an event; `{name}` is not an event", name=per.name),
                    per.span,
                    help=Message("count an event (`per web_visit`), or give the points once: `when {name} …`",
                                 name=per.name),
                )
            continue  # the event having happened: nothing else to compare
        # the types of a condition's comparisons depend only on its shape, unless lowering
        # replaced a value of it (a placeholder is skipped by its position): then each is read
        number = shapes(condition)
        if number in clean:
            continue
        found = False
        for leaf in ir.condition_leaves(condition):
            for diagnostic in _check_leaf(leaf, policy):
                found = True
                yield diagnostic
        if not found and not placeholders:
            clean.add(number)


_VALUE_TYPES = {
    "number": (ir.Number,),
    "count": (ir.Number,),
    "enum": (ir.Text,),
    "text": (ir.Text,),
    "bool": (ir.Flag,),
    "date": (ir.DateValue,),
    "datetime": (ir.DateValue,),
}
_ORDERED = {"number", "count", "date", "datetime"}
_TYPE_WORDS = {
    "number": Message("a number"),
    "count": Message("an event count"),
    "enum": Message("an enum"),
    "text": Message("a text"),
    "bool": Message("a yes/no"),
    "date": Message("a date"),
    "datetime": Message("a date-time"),
}


def _check_leaf(leaf: ir.Condition, policy: ir.Policy) -> Iterator[Diagnostic]:
    ref = getattr(leaf, "left", None) or getattr(leaf, "ref", None)
    kind = quantity_type(ref, policy)
    if kind is None:
        return  # undefined: reported by find_undefined_references

    def what() -> Message:  # made only for a diagnostic: most leaves have none
        if ref.name in policy.score_by_id:
            return Message("`{ref}` is a score", ref=ref.text)
        if kind == "count":
            return Message("`{ref}` is an event (read as a count)", ref=ref.text)
        return Message("`{ref}` is {type} property", ref=ref.text, type=_TYPE_WORDS[kind])

    if isinstance(leaf, ir.Truthy):
        if kind not in ("bool", "count"):
            yield Diagnostic(
                INCOMPATIBLE_COMPARISON,
                Message('{what}; a bare name only tests yes/no properties and events', what=what()),
                leaf.span,
                help=Message('compare it: `{ref} is set`, or `{ref} >= …` for numbers', ref=ref.text),
            )
        return
    if isinstance(leaf, ir.Presence):
        if kind == "count" or ref.name in policy.score_by_id:
            yield Diagnostic(
                INCOMPATIBLE_COMPARISON,
                Message('{what}; it always has a value, so `is set` tells nothing', what=what()),
                leaf.span,
                help=Message('compare it with a number: `{ref} >= 1`', ref=ref.text),
            )
        return
    values = (leaf.right,) if isinstance(leaf, ir.Comparison) else leaf.values
    op = leaf.op if isinstance(leaf, ir.Comparison) else "in"
    if op in (">=", "<=", ">", "<") and kind not in _ORDERED:
        yield Diagnostic(
            INCOMPATIBLE_COMPARISON,
            Message('{what}; `{op}` needs a number or a date', what=what(), op=op),
            leaf.span,
            help=Message('use `==`, `!=` or `in [...]` with {type} property', type=_TYPE_WORDS[kind]),
        )
        return
    expected = _VALUE_TYPES[kind]
    placeholders = policy.extra.get("placeholder_values", ())
    for value in values:
        if value.span in placeholders:
            continue  # a value lowering already reported (and replaced)
        if not isinstance(value, expected):
            yield Diagnostic(
                INCOMPATIBLE_COMPARISON,
                Message('{what}, compared with {value}', what=what(), value=_describe_value(value)),
                value.span,
                help=_compare_help(kind, ref.text),
            )
            continue
        if kind == "enum":
            prop = policy.property_by_id[ref.name]
            options = [o.value for o in prop.options]
            if value.value not in options:
                guess = _suggest(value.value, options)
                yield Diagnostic(
                    UNKNOWN_ENUM_VALUE,
                    Message('"{value}" is not an option of `{ref}`', value=value.value, ref=ref.text),
                    value.span,
                    help=(Message('did you mean "{guess}"? options: {options}', guess=guess, options=_quoted(options))
                          if guess else Message("options: {options}", options=_quoted(options))),
                    related=(Related(prop.name_span, Message('options declared here')),),
                )


def _quoted(options: list[str]) -> Listing:
    return Listing((f'"{o}"' for o in options), limit=len(options), quote=False)


def _describe_value(value: ir.Value) -> Message:
    if isinstance(value, ir.Text):
        return Message('text "{text}"', text=value.value)
    if isinstance(value, ir.Number):
        return Message("the number {number}", number=value.value)
    if isinstance(value, ir.Flag):
        return Message("`true`") if value.value else Message("`false`")
    if isinstance(value, ir.DateValue):
        return Message("the date {date}", date=value.value.isoformat())
    return Message("this value")


def _compare_help(kind: str, name: str) -> Message:
    if kind == "number":
        return Message("compare `{name}` with a number, e.g. `{name} >= 50`", name=name)
    if kind == "count":
        return Message("an event is counted: `{name} >= 3`", name=name)
    if kind == "enum":
        return Message('compare `{name}` with quoted options, e.g. `{name} == "yes"`', name=name)
    if kind == "text":
        return Message('compare `{name}` with quoted text, e.g. `{name} == "Tokyo"`', name=name)
    if kind == "bool":
        return Message("a yes/no property is true or false: `{name} == true`, or just `{name}`", name=name)
    return Message("compare `{name}` with a date, e.g. `{name} >= 2026-01-01`", name=name)
