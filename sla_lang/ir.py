"""The intermediate representation of one agreement.

Frozen dataclasses, each carrying the Span it came from. No Lark type appears here: lower.py
builds these from the parse tree and everything after it (checks, targets, fmt, diff, the
simulator) reads only this module's types.

Conventions:
- `span` covers the whole construct (for a block: from its keyword to its closing brace);
  `name_span` (where present) is just the identifier, the place a diagnostic points at.
- References to other declarations are `Name`s (identifier + span); they are resolved by
  `checks/names.py`, which reports the undefined ones, so consumers must tolerate a Name that
  resolves to nothing when a policy has errors.
- `clause_id` is the stable identifier of an obligation in the agreement document; the
  HubSpot and fixtures targets use the same ids to point back to it (see `clauses` below).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import MISSING, FrozenInstanceError, dataclass, field, fields
from datetime import date, timedelta
from functools import cached_property
from typing import ClassVar, Union

from .source import Span

# ------------------------------------------------------------------ vocabularies

DURATION_UNITS = {
    "m": ("minute", 1),
    "h": ("hour", 60),
    "d": ("day", 1440),
    "w": ("week", 10080),
    "bh": ("business hour", None),
    "bd": ("business day", None),
}
PERIODS = ("day", "week", "month", "quarter", "year")
CADENCE_UNITS = ("day", "week", "month", "quarter", "year")
PROPERTY_TYPES = ("number", "text", "enum", "bool", "date", "datetime")
TEAM_ROLES = ("marketing", "inside_sales", "sales", "customer_success", "management", "operations")
CHANNELS = ("email", "slack", "task", "call", "meeting", "in_app", "sms", "webhook")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REVIEW_TOPICS = ("handoff", "kpis", "criteria", "feedback", "funnel", "agreement")
LANGUAGES = ("en", "ja")
HUBSPOT_LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
DEADLINE_KINDS = ("respond", "decide")
# what `rate STAGE.X met` can measure: the deadlines, the follow-up cadence, the hand-off deadline
COMPLIANCE_KINDS = ("respond", "decide", "follow_up", "handoff")
# outcomes an activity can be logged with (HubSpot's call dispositions, e-mail and meeting outcomes)
# the activities a lead can be logged with (what meets a `respond` deadline or a follow-up step)
ACTIVITY_KINDS = ("call", "email", "meeting")
ACTIVITY_OUTCOMES = {
    "call": ("connected", "busy", "no_answer", "left_voicemail", "left_live_message", "wrong_number"),
    "email": ("replied", "bounced"),
    "meeting": ("completed", "no_show", "rescheduled", "canceled"),
}
RENEWALS = ("automatic", "after_review")
COMPARATORS = ("==", "!=", ">=", "<=", ">", "<")


# ------------------------------------------------------------------ the node base


class Node:
    """Base of the IR nodes: equality, hashing and repr computed from the dataclass fields.

    Equivalent to what `@dataclass` would generate, but shared: generating those three methods
    for ~50 classes costs about 9 ms at every start of `sla` (Python 3.11 compiles each one).
    """

    __slots__ = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__dataclass_fields__)  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__dataclass_fields__)  # type: ignore[attr-defined]
        return f"{type(self).__name__}({fields})"

    # What `dataclass(frozen=True, slots=True)` would add to each class, shared: it compiles
    # the first two for every class (~120 `exec`s, 10 ms of every start). A field is refused
    # with the same error; so is any other name (where the generated method failed with a
    # TypeError: its `super(cls, self)` names the class `slots=True` has replaced).
    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __getstate__(self) -> list:  # (pickle: the build cache keeps compiled policies)
        return [getattr(self, f.name) for f in fields(self)]  # type: ignore[arg-type]

    def __setstate__(self, state: list) -> None:
        for f, value in zip(fields(self), state):  # type: ignore[arg-type]
            object.__setattr__(self, f.name, value)


def node(cls):
    """A frozen, slotted dataclass whose equality, hash, repr and frozenness come from Node,
    and whose `__init__` sets the slots directly."""
    if not cls.__doc__:  # what `dataclass` would write, without its `inspect.signature` (5 ms per start)
        cls.__doc__ = f"{cls.__name__}()"
    cls = dataclass(slots=True, eq=False, repr=False, init=False)(cls)
    cls.__init__ = _slot_initializer(cls)
    return cls


def _slot_initializer(cls):
    """The `__init__` a frozen dataclass would have (the same parameters and defaults), made of
    the slots' own setters: a frozen dataclass's sets each field through `object.__setattr__`,
    twice the cost, and lowering a large policy makes hundreds of thousands of nodes."""
    names = [f.name for f in fields(cls)]
    scope: dict[str, object] = {}
    parameters = []
    for f in fields(cls):
        scope[f"_set_{f.name}"] = getattr(cls, f.name).__set__
        if f.default is MISSING:
            parameters.append(f.name)
        else:
            scope[f"_default_{f.name}"] = f.default
            parameters.append(f"{f.name}=_default_{f.name}")
    body = "".join(f"\n    _set_{name}(self, {name})" for name in names) or "\n    pass"
    exec(f"def __init__(self, {', '.join(parameters)}):{body}", scope)  # noqa: S102 - our own fields
    initializer = scope["__init__"]
    initializer.__qualname__ = f"{cls.__qualname__}.__init__"
    return initializer


def replaced(node: Node, /, **changes) -> Node:
    """`dataclasses.replace` for an IR node (an unknown field is a TypeError too), without its
    per-field bookkeeping: lowering gives each of a stage's deadlines, steps and so on its
    stage id this way."""
    values = {name: getattr(node, name) for name in node.__slots__}
    values.update(changes)
    return node.__class__(**values)


def complete(node: Node, /, **fields) -> None:
    """Set `fields` of a node the lowering made a moment ago, that nothing else holds yet (a
    stage's deadlines, steps, transitions … get their stage id and clause id once the stage is
    reduced, after them). No copy: `replaced` would make a second node of every such one, the
    most costly part of lowering a large policy's stages. Everything after the lowering sees
    the nodes frozen, as made."""
    for name, value in fields.items():
        _set_field(node, name, value)


# what a frozen dataclass's __init__ sets its fields with (a node's own __setattr__ refuses)
_set_field = object.__setattr__


def later(default=None):
    """A field for a construct added to the language after its first release.

    While such a field has its default (the policy does not use the construct) it is left out
    of the IR JSON, and so of the canonical form: policies written before the construct existed
    keep their fingerprint, and signed agreements keep matching them (`sla verify --policy`).
    """
    return field(default=default, metadata={"omit_default": True})


# ------------------------------------------------------------------ small values


@node
class Name(Node):
    """An identifier used to refer to a declaration (a team, a stage, a property …)."""

    name: str
    span: Span


@node
class Text(Node):
    value: str
    span: Span
    KIND: ClassVar[str] = "text"


@node
class Number(Node):
    value: int | float
    span: Span
    KIND: ClassVar[str] = "number"


@node
class Percent(Node):
    """A percentage as written: `20%` is Percent(20)."""

    value: int | float
    span: Span
    KIND: ClassVar[str] = "percent"

    @property
    def ratio(self) -> float:
        return self.value / 100


@node
class Duration(Node):
    """`24h`, `5bd`: a whole amount of a unit. Business units need a calendar to become time."""

    amount: int
    unit: str
    span: Span
    KIND: ClassVar[str] = "duration"

    @property
    def business(self) -> bool:
        return self.unit in ("bh", "bd")

    @property
    def minutes(self) -> int | None:
        """Length in minutes for calendar units; None for business units."""
        factor = DURATION_UNITS[self.unit][1]
        return None if factor is None else self.amount * factor

    @property
    def text(self) -> str:
        return f"{self.amount}{self.unit}"


@node
class DateValue(Node):
    value: date
    span: Span
    KIND: ClassVar[str] = "date"


@node
class TimeOfDay(Node):
    hour: int
    minute: int
    span: Span
    KIND: ClassVar[str] = "time"

    @property
    def minutes(self) -> int:
        return self.hour * 60 + self.minute

    @property
    def text(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


@node
class Flag(Node):
    value: bool
    span: Span
    KIND: ClassVar[str] = "bool"


Value = Union[Text, Number, Percent, Duration, DateValue, TimeOfDay, Flag]


# ------------------------------------------------------------------ conditions


@node
class Ref(Node):
    """A quantity a condition reads: a property, an event (its count), a score or a score group.

    `lead_score.fit` is Ref("lead_score", "fit").
    """

    name: str
    member: str | None
    span: Span

    @property
    def text(self) -> str:
        return f"{self.name}.{self.member}" if self.member else self.name


@node
class Comparison(Node):
    left: Ref
    op: str
    right: Value
    span: Span
    KIND: ClassVar[str] = "comparison"


@node
class Membership(Node):
    left: Ref
    values: tuple[Value, ...]
    negated: bool
    span: Span
    KIND: ClassVar[str] = "membership"


@node
class Presence(Node):
    """`x is set` / `x is not set`."""

    left: Ref
    negated: bool
    span: Span
    KIND: ClassVar[str] = "presence"


@node
class Truthy(Node):
    """A bare name: a yes/no property is true, or an event happened at least once."""

    ref: Ref
    span: Span
    KIND: ClassVar[str] = "truthy"


@node
class AllOf(Node):
    items: tuple[Condition, ...]
    span: Span
    KIND: ClassVar[str] = "all"


@node
class AnyOf(Node):
    items: tuple[Condition, ...]
    span: Span
    KIND: ClassVar[str] = "any"


@node
class Negation(Node):
    item: Condition
    span: Span
    KIND: ClassVar[str] = "not"


Condition = Union[Comparison, Membership, Presence, Truthy, AllOf, AnyOf, Negation]


def condition_leaves(condition: Condition) -> list[Condition]:
    """The comparisons, memberships, presences and bare names of a condition, in source order."""
    if not isinstance(condition, (AllOf, AnyOf, Negation)):
        return [condition]  # (most conditions: one comparison)
    out: list[Condition] = []
    stack: list[Condition] = [condition]
    while stack:
        node = stack.pop()
        if isinstance(node, (AllOf, AnyOf)):
            stack.extend(reversed(node.items))
        elif isinstance(node, Negation):
            stack.append(node.item)
        else:
            out.append(node)
    return out


def value_source(value: Value) -> str:
    """A value as it is written in a policy (`"yes"`, `50`, `20%`, `24h`, `2026-04-01`)."""
    if isinstance(value, Text):
        return '"' + value.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Flag):
        return "true" if value.value else "false"
    if isinstance(value, (Number, Percent)):
        number = value.value
        shown = str(int(number)) if isinstance(number, float) and number.is_integer() else str(number)
        return shown + ("%" if isinstance(value, Percent) else "")
    if isinstance(value, DateValue):
        return value.value.isoformat()
    return value.text  # Duration, TimeOfDay


def condition_source(condition: Condition) -> str:
    """A condition as it is written in a policy, with parentheses around every nested
    `and`/`or` group so that it reads unambiguously in messages and documents."""
    if isinstance(condition, Comparison):
        return f"{condition.left.text} {condition.op} {value_source(condition.right)}"
    if isinstance(condition, Membership):
        values = ", ".join(value_source(v) for v in condition.values)
        return f"{condition.left.text} {'not in' if condition.negated else 'in'} [{values}]"
    if isinstance(condition, Presence):
        return f"{condition.left.text} is {'not set' if condition.negated else 'set'}"
    if isinstance(condition, Truthy):
        return condition.ref.text
    if isinstance(condition, Negation):
        inner = condition_source(condition.item)
        return f"not {inner}" if isinstance(condition.item, Truthy) else f"not ({inner})"
    word = " and " if isinstance(condition, AllOf) else " or "
    return word.join(_grouped(item) for item in condition.items)


def _grouped(condition: Condition) -> str:
    text = condition_source(condition)
    return f"({text})" if isinstance(condition, (AllOf, AnyOf)) else text


def measure_source(kpi: Kpi) -> str:
    """A KPI's `measure` as it is written in a policy (`rate mql -> sql per month`)."""
    m = kpi.measure
    if isinstance(m, CountMeasure):
        text = f"count {m.stage.name}"
    elif isinstance(m, ConversionMeasure):
        text = f"rate {m.source.name} -> {', '.join(t.name for t in m.targets)}"
    elif isinstance(m, ComplianceMeasure):
        text = f"rate {m.stage.name}.{m.deadline} met"
    elif isinstance(m, AverageMeasure):
        text = f"average {m.quantity.text} at {m.stage.name}"
    elif isinstance(m, SumMeasure):
        text = f"sum {m.quantity.text} at {m.stage.name}"
    elif isinstance(m, OutcomeMeasure):
        text = f"rate {m.activity} {m.outcome} at {m.stage.name}"
    else:  # DurationMeasure
        text = f"average time {m.source.name} -> {m.target.name}"
    text += f" per {kpi.period.name}" if kpi.period is not None else ""
    return text + (f" by {kpi.by.name}" if kpi.by is not None else "")


def condition_refs(condition: Condition) -> list[Ref]:
    """Every Ref a condition reads, in source order (iterative: conditions can be deep)."""
    if condition.__class__ is Comparison:  # (most conditions)
        return [condition.left]
    out: list[Ref] = []
    stack: list[Condition] = [condition]
    while stack:
        node = stack.pop()
        if isinstance(node, (Comparison, Membership, Presence)):
            out.append(node.left)
        elif isinstance(node, Truthy):
            out.append(node.ref)
        elif isinstance(node, (AllOf, AnyOf)):
            stack.extend(reversed(node.items))
        elif isinstance(node, Negation):
            stack.append(node.item)
    return out


# ------------------------------------------------------------------ agreement and parties


@node
class Agreement(Node):
    title: str
    version: Text | None
    effective: DateValue | None
    language: str
    owner: Name | None
    purpose: tuple[Text, ...]
    calendar: Name | None
    span: Span
    clause_id: str = "agreement"
    term: Term | None = later()
    amendment: Amendment | None = later()


@node
class Term(Node):
    """`term 12 months` or `term until 2027-03-31`, and how the agreement renews.

    `until` is the last day the agreement applies (inclusive): for `term 12 months` from an
    effective date of 2026-04-01 it is 2027-03-31. `renewal` is None when the agreement simply
    expires, "automatic" when it renews for the same term, "after_review" when the review named
    in `review` decides.
    """

    length: Cadence | None
    until: DateValue | None
    renewal: str | None
    review: Name | None
    span: Span
    clause_id: str = "agreement.term"

    def last_day(self, effective: date | None) -> date | None:
        if self.until is not None:
            return self.until.value
        if self.length is None or effective is None:
            return None
        return add_period(effective, self.length.every, self.length.unit) - timedelta(days=1)


@node
class Amendment(Node):
    """How the agreement is changed: the parties whose approval every change needs, and the
    procedure in words (`amendment approved by marketing, sales`, `amendment "…"`)."""

    approvers: tuple[Name, ...]
    text: tuple[Text, ...]
    span: Span
    clause_id: str = "agreement.amendment"


def add_period(day: date, every: int, unit: str) -> date:
    """`day` plus `every` calendar units (a month from 31 January is the last day of February)."""
    if unit == "day":
        return day + timedelta(days=every)
    if unit == "week":
        return day + timedelta(days=7 * every)
    months = every * {"month": 1, "quarter": 3, "year": 12}[unit]
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


@node
class Person(Node):
    """`lead "Aiko Tanaka" title "Head of Marketing" email "aiko@example.com"`.

    For a party's lead, `email` and `certificate` (SHA-256 of the DER certificate, 64 lower-case
    hex digits) identify the person who signs: `sla verify` matches the signing certificate's
    e-mail addresses (subject and SAN) and fingerprint against them.
    """

    name: str
    title: str | None
    email: str | None
    certificate: str | None
    span: Span

    @property
    def identified(self) -> bool:
        return self.email is not None or self.certificate is not None


@node
class Capacity(Node):
    """`capacity 6 people at 30 leads per month`."""

    people: int
    leads_per_person: int
    period: str
    span: Span

    @property
    def leads_per_period(self) -> int:
        return self.people * self.leads_per_person


@node
class Team(Node):
    id: str
    label: str
    signs: bool
    role: str | None
    lead: Person | None
    reviewers: tuple[Text, ...]
    capacity: Capacity | None
    parent: Name | None
    span: Span
    name_span: Span
    clause_id: str


# ------------------------------------------------------------------ data the criteria read


@node
class Property(Node):
    id: str
    label: str
    type: str
    options: tuple[Text, ...]
    hubspot: str | None
    span: Span
    name_span: Span
    option_labels: tuple[OptionLabel, ...] = later(())  # `enum ["won" "Won", …]`

    def option_label(self, value: str) -> str | None:
        """How the agreement shows an enum option (None: only its value was written)."""
        return next((o.label for o in self.option_labels if o.value == value), None)


@node
class OptionLabel(Node):
    """The display text of an enum option, in the policy's language: `"won" "Won"`."""

    value: str
    label: str
    span: Span


@node
class Event(Node):
    id: str
    label: str
    hubspot: str | None
    span: Span
    name_span: Span


@node
class ScoreRule(Node):
    """`+15 "Director" when job_level == "director"`, or `+5 "Website visit" per web_visit max 25`:
    points for each occurrence of an event (then `condition` is the event having happened)."""

    points: int
    label: str
    condition: Condition
    span: Span
    clause_id: str
    per: Ref | None = later()  # the event counted
    cap: Number | None = later()  # at most this many points from this rule (`max`)

    def points_for(self, count: int) -> int:
        """The points of a per-occurrence rule for `count` occurrences (its `max` applied)."""
        total = self.points * count
        if self.cap is not None:
            limit = self.cap.value
            total = min(total, limit) if self.points >= 0 else max(total, -limit)
        return total

    @property
    def highest(self) -> float:
        """The most points the rule can add (infinite: per occurrence without a `max`)."""
        if self.per is None:
            return max(self.points, 0)
        if self.points <= 0:
            return 0
        return self.cap.value if self.cap is not None else float("inf")

    @property
    def lowest(self) -> float:
        if self.per is None:
            return min(self.points, 0)
        if self.points >= 0:
            return 0
        return -self.cap.value if self.cap is not None else float("-inf")


@node
class ScoreGroup(Node):
    id: str
    label: str
    cap: Number | None
    rules: tuple[ScoreRule, ...]
    span: Span
    name_span: Span
    clause_id: str


@node
class ScoreModel(Node):
    id: str
    label: str
    hubspot: str | None
    groups: tuple[ScoreGroup, ...]
    span: Span
    name_span: Span
    clause_id: str


# ------------------------------------------------------------------ calendars


@node
class HourRange(Node):
    start: TimeOfDay
    end: TimeOfDay
    span: Span


@node
class Calendar(Node):
    id: str
    label: str
    timezone: Text | None
    days: tuple[Name, ...]
    hours: tuple[HourRange, ...]
    holidays: Name | None
    closed: tuple[DateValue, ...]
    span: Span
    name_span: Span
    clause_id: str


# ------------------------------------------------------------------ stages and obligations


@node
class Marker(Node):
    kind: str  # entry | terminal | recycle
    span: Span
    # `entry when …`: a new lead starts in this stage only when it meets the condition
    condition: Condition | None = later()


@node
class Deadline(Node):
    """`respond within 24h target 12h`: the SLA and, optionally, a stricter internal SLO."""

    stage: str
    kind: str  # respond: first activity after entering the stage; decide: leave the stage
    within: Duration
    target: Duration | None
    owner: Name | None
    span: Span
    clause_id: str
    source: Text | None = later()  # how it is measured: `source "HubSpot task completion time"`
    # `respond within 4bh via call`: the activity kinds that meet it (empty: any call, email or meeting)
    via: tuple[Channel, ...] = later(())
    # `decide within 5bd through sal`: a decision spanning stages — counted from entering this
    # stage, met when the lead is first in a stage that is neither this one nor one of these
    through: tuple[Name, ...] = later(())
    # `via call when pricing_page_view, email otherwise`: channels chosen by the lead's data when it
    # enters the stage; the first choice whose condition holds wins, else `via` (the `otherwise`)
    via_when: tuple[ChannelChoice, ...] = later(())

    @property
    def meets(self) -> tuple[str, ...]:
        """The activity kinds that meet this deadline, in the policy's order (with `via … when`:
        for a lead that meets none of the conditions)."""
        return tuple(c.kind for c in self.via) or ACTIVITY_KINDS

    def meets_for(self, holds: Callable[[Condition], bool]) -> tuple[str, ...]:
        """The activity kinds that meet this deadline for a lead; `holds` tells whether the lead's
        data, as it entered the stage, meets a condition."""
        for choice in self.via_when:
            if holds(choice.condition):
                return tuple(c.kind for c in choice.channels)
        return self.meets

    @property
    def channel_choices(self) -> tuple[tuple[str | None, tuple[str, ...]], ...]:
        """(condition as written, activity kinds) per branch, the `otherwise` last with None."""
        return tuple((condition_source(c.condition), tuple(x.kind for x in c.channels)) for c in self.via_when) + (
            (None, self.meets),)


@node
class ChannelChoice(Node):
    """`call when pricing_page_view` in `via call when pricing_page_view, email otherwise`."""

    channels: tuple[Channel, ...]
    condition: Condition
    span: Span


@node
class Channel(Node):
    kind: str
    target: str | None
    span: Span


@node
class FollowUp(Node):
    """`follow up 3 times at 0d, 3d, 7d via call, email`.

    The offsets count from entering the stage; with `from first contact` (`at 1w, 2w, 4w from
    first contact`) from the first call, email or meeting logged in the stage instead."""

    stage: str
    attempts: Number
    offsets: tuple[Duration, ...]
    channels: tuple[Channel, ...]
    owner: Name | None
    span: Span
    clause_id: str
    from_first_contact: bool = later(False)


@node
class Step(Node):
    """`then follow up 5 times within 10d via call, email`: a deadline in sequence within a stage.

    The stage's `respond` deadline is step 1; the `then` lines are steps 2, 3, … in source order.
    A step's clock starts when the step before it is *done*: the activity that met it (on time
    or late) — not at stage entry. A step that is never done starts nothing, so one missed
    obligation is one breach, not a cascade. `kind`: `follow_up` is done by `attempts`
    activities of the `via` kinds logged after the step started, `respond` by one, `decide` by
    the lead leaving the stage (so nothing can follow it)."""

    stage: str
    number: int  # 2, 3, …
    kind: str  # respond | follow_up | decide
    attempts: Number | None  # follow_up: how many activities; None for respond (one) and decide
    within: Duration
    target: Duration | None
    owner: Name | None
    via: tuple[Channel, ...]  # the activity kinds that count (empty: call, email or meeting)
    span: Span
    clause_id: str  # `<stage>.step2`
    source: Text | None = later()

    @property
    def meets(self) -> tuple[str, ...]:
        """The activity kinds that count towards this step."""
        return tuple(c.kind for c in self.via) or ACTIVITY_KINDS

    @property
    def required(self) -> int:
        """How many activities do it (0 for `decide`, done by leaving)."""
        if self.kind == "decide":
            return 0
        return int(self.attempts.value) if self.attempts is not None else 1

    @property
    def guard(self) -> str:
        """How an escalation names it (`escalate … on step 2` → `step2`)."""
        return f"step{self.number}"


STEP_KINDS = ("respond", "follow_up", "decide")


@node
class Escalation(Node):
    """`escalate to sales_managers after 24h on respond`: `after` counts from stage entry.

    `escalate to managers after 30d without activity` (`idle`): guards no deadline; it fires
    when the lead has stayed `after` in the stage without a call, email or meeting, counted from
    the last one logged in the stage (from entering it when there is none), once per stay."""

    stage: str
    to: Name
    after: Duration
    # the deadline kind it guards (`respond`, `decide`, or `stepN` for a step of the stage's
    # sequence, whose `after` counts from the step's start); None when the stage has no deadline, or `idle`
    on: str | None
    channels: tuple[Channel, ...]
    span: Span
    clause_id: str
    idle: bool = later(False)

    @property
    def guard(self) -> str:
        """What it watches: a deadline kind, `idle` (no activity) or `stage` (time in the stage)."""
        return "idle" if self.idle else (self.on or "stage")


@node
class StageCadence(Node):
    """`cadence at least 2 nurture_email per month owner marketing`: a recurring obligation in a
    stage. Each calendar `period` (month or week, in the stage calendar's zone) a lead spends in the
    stage must hold at least `minimum` occurrences of `event`; a period the lead spends only partly
    in the stage needs `minimum` × the share of the period spent there, rounded down."""

    stage: str
    minimum: Number
    event: Name
    period: str  # week | month
    owner: Name | None  # who sends them (default: the stage owner)
    span: Span
    clause_id: str


CADENCE_PERIODS = ("week", "month")


@node
class Handoff(Node):
    """How the lead is handed to the stage owner when it enters the stage."""

    stage: str
    sender: Name
    channels: tuple[Channel, ...]
    include: tuple[Name, ...]
    span: Span
    clause_id: str
    # `handoff from marketing within 2h`: the sender's deadline, from the lead entering the stage
    # until a person of the receiving team is assigned the lead (an owner assignment)
    within: Duration | None = later()


@node
class Transition(Node):
    """`-> sql "label" when … after … record …`.

    `condition` moves the lead when it becomes true; `after` moves it when it has stayed in
    the source stage that long (a timeout); `record` lists properties that must be filled in
    when the move happens (a recycle reason).
    """

    source: str
    target: Name
    label: str | None
    condition: Condition | None
    after: Duration | None
    record: tuple[Name, ...]
    span: Span
    clause_id: str


@node
class Stage(Node):
    id: str
    label: str
    owner: Name | None
    markers: tuple[Marker, ...]
    hubspot: Name | None
    description: str | None
    calendar: Name | None
    deadlines: tuple[Deadline, ...]
    follow_up: FollowUp | None
    escalations: tuple[Escalation, ...]
    handoff: Handoff | None
    transitions: tuple[Transition, ...]
    span: Span
    name_span: Span
    clause_id: str
    cadences: tuple[StageCadence, ...] = later(())  # `cadence at least 2 nurture_email per month`
    steps: tuple[Step, ...] = later(())  # `then follow up 5 times within 10d`: steps 2, 3, … after `respond`

    @property
    def is_entry(self) -> bool:
        return any(m.kind == "entry" for m in self.markers)

    @property
    def is_terminal(self) -> bool:
        return any(m.kind == "terminal" for m in self.markers)

    @property
    def is_recycle(self) -> bool:
        return any(m.kind == "recycle" for m in self.markers)

    def deadline(self, kind: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.kind == kind), None)

    def step(self, guard: str) -> Step | None:
        """The step of the stage's sequence an escalation names (`step2`)."""
        return next((s for s in self.steps if s.guard == guard), None)

    @property
    def entry_condition(self) -> Condition | None:
        """`entry when …`: which new leads start here (None: any, or not an entry stage)."""
        return next((m.condition for m in self.markers if m.kind == "entry"), None)


@node
class Priority(Node):
    """`priority hot "Hot" when lead_score >= 80`; the first matching priority applies."""

    id: str
    label: str
    condition: Condition | None
    span: Span
    name_span: Span
    clause_id: str


# ------------------------------------------------------------------ KPIs


@node
class CountMeasure(Node):
    """Leads entering `stage` in each period."""

    stage: Name
    span: Span
    KIND: ClassVar[str] = "count"


@node
class ConversionMeasure(Node):
    """Of the leads entering `source` in a period, the share that later reach any of `targets`."""

    source: Name
    targets: tuple[Name, ...]
    span: Span
    KIND: ClassVar[str] = "conversion"


@node
class ComplianceMeasure(Node):
    """Share of `stage`'s `deadline` that were met (`follow_up`: cadences completed; `handoff`:
    the sender's hand-off deadline)."""

    stage: Name
    deadline: str
    span: Span
    KIND: ClassVar[str] = "compliance"


@node
class AverageMeasure(Node):
    """Average of a quantity (property or score) at the moment leads enter `stage`."""

    quantity: Ref
    stage: Name
    span: Span
    KIND: ClassVar[str] = "average"


@node
class DurationMeasure(Node):
    """Average time from entering `source` to entering `target`."""

    source: Name
    target: Name
    span: Span
    KIND: ClassVar[str] = "duration"


@node
class SumMeasure(Node):
    """Total of a quantity (a revenue figure …) over the leads entering `stage`."""

    quantity: Ref
    stage: Name
    span: Span
    KIND: ClassVar[str] = "sum"


@node
class OutcomeMeasure(Node):
    """`rate call connected at mql`: of the activities of a kind logged while leads were in `stage`,
    the share logged with `outcome`."""

    activity: str
    outcome: str
    stage: Name
    span: Span
    KIND: ClassVar[str] = "outcome"


Measure = Union[CountMeasure, ConversionMeasure, ComplianceMeasure, AverageMeasure, DurationMeasure, SumMeasure,
                OutcomeMeasure]


@node
class Threshold(Node):
    op: str
    value: Value
    span: Span


@node
class Alert(Node):
    """Fires when the measured value satisfies `op value`."""

    op: str
    value: Value
    action: str | None
    notify: tuple[Name, ...]
    review: Name | None
    span: Span


@node
class Kpi(Node):
    id: str
    label: str
    owner: Name | None
    measure: Measure | None
    period: Name | None
    target: Threshold | None
    alert: Alert | None
    span: Span
    name_span: Span
    clause_id: str
    target_pending: bool = later(False)  # `target to be agreed`
    source: Text | None = later()  # the data source / measurement method
    by: Name | None = later()  # `by owner` / `by PROPERTY`: one figure per value


# ------------------------------------------------------------------ information, RACI, reviews


@node
class InformationAnchor(Node):
    """`after leaving mql`: the lead event an information duty's `within` counts from."""

    event: str  # entering | leaving
    stage: Name
    span: Span


@node
class InformationItem(Node):
    text: str
    within: Duration | None
    recorded_in: Name | None
    span: Span
    clause_id: str
    anchor: InformationAnchor | None = later()  # `within 2bd after leaving mql`
    every: Cadence | None = later()  # a periodic report: `every month`


@node
class Information(Node):
    sender: Name
    receiver: Name
    items: tuple[InformationItem, ...]
    span: Span
    clause_id: str


@node
class Responsibility(Node):
    task: str
    responsible: tuple[Name, ...]
    accountable: tuple[Name, ...]
    consulted: tuple[Name, ...]
    informed: tuple[Name, ...]
    span: Span
    clause_id: str

    def teams(self) -> tuple[Name, ...]:
        return self.responsible + self.accountable + self.consulted + self.informed


@node
class Cadence(Node):
    """`every week`, `every 6 months`."""

    every: int
    unit: str
    span: Span

    @property
    def approx_days(self) -> float:
        return self.every * {"day": 1, "week": 7, "month": 30.44, "quarter": 91.31, "year": 365.25}[self.unit]


@node
class Review(Node):
    id: str
    label: str
    cadence: Cadence | None
    owner: Name | None
    attendees: tuple[Name, ...]
    covers: tuple[Name, ...]
    agenda: tuple[Text, ...]
    last_held: DateValue | None
    span: Span
    name_span: Span
    clause_id: str


@node
class CancellationCondition(Node):
    text: str
    span: Span
    clause_id: str


# ------------------------------------------------------------------ translations


@node
class TranslationEntry(Node):
    """`"Lead score" "リードスコア"`: a text of the policy and how it reads in another language."""

    source: str
    text: str
    span: Span


@node
class Translation(Node):
    """`translation ja { … }`: the policy's texts in a language other than its own."""

    id: str  # the language
    entries: tuple[TranslationEntry, ...]
    span: Span
    name_span: Span

    def lookup(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for entry in self.entries:
            out.setdefault(entry.source, entry.text)
        return out


# ------------------------------------------------------------------ the policy


@dataclass(frozen=True)
class Policy:
    path: str
    agreement: Agreement | None
    teams: tuple[Team, ...] = ()
    properties: tuple[Property, ...] = ()
    events: tuple[Event, ...] = ()
    scores: tuple[ScoreModel, ...] = ()
    calendars: tuple[Calendar, ...] = ()
    stages: tuple[Stage, ...] = ()
    priorities: tuple[Priority, ...] = ()
    kpis: tuple[Kpi, ...] = ()
    information: tuple[Information, ...] = ()
    responsibilities: tuple[Responsibility, ...] = ()
    reviews: tuple[Review, ...] = ()
    cancellations: tuple[CancellationCondition, ...] = ()
    translations: tuple[Translation, ...] = later(())
    extra: dict[str, object] = field(default_factory=dict, compare=False, repr=False, hash=False)

    # Lookups are built on first use; first declaration wins when a name is duplicated
    # (the duplicate is reported by checks/names.py).
    @cached_property
    def team_by_id(self) -> dict[str, Team]:
        return _index(self.teams)

    @cached_property
    def stage_by_id(self) -> dict[str, Stage]:
        return _index(self.stages)

    @cached_property
    def property_by_id(self) -> dict[str, Property]:
        return _index(self.properties)

    @cached_property
    def event_by_id(self) -> dict[str, Event]:
        return _index(self.events)

    @cached_property
    def score_by_id(self) -> dict[str, ScoreModel]:
        return _index(self.scores)

    @cached_property
    def calendar_by_id(self) -> dict[str, Calendar]:
        return _index(self.calendars)

    @cached_property
    def kpi_by_id(self) -> dict[str, Kpi]:
        return _index(self.kpis)

    @cached_property
    def review_by_id(self) -> dict[str, Review]:
        return _index(self.reviews)

    @property
    def language(self) -> str:
        return self.agreement.language if self.agreement else "en"

    def translation(self, lang: str) -> dict[str, str]:
        """The policy's texts in `lang` (empty when the policy gives none in that language)."""
        return next((t.lookup() for t in self.translations if t.id == lang), {})

    @property
    def parties(self) -> tuple[Team, ...]:
        """Teams that sign the agreement."""
        return tuple(t for t in self.teams if t.signs)

    def calendar_for(self, stage: Stage | None = None) -> Calendar | None:
        """The calendar that business durations of `stage` count in.

        The stage's own `calendar`, else the agreement's default, else the only calendar.
        """
        if stage is not None and stage.calendar is not None:
            return self.calendar_by_id.get(stage.calendar.name)
        if self.agreement is not None and self.agreement.calendar is not None:
            return self.calendar_by_id.get(self.agreement.calendar.name)
        if len(self.calendars) == 1:
            return self.calendars[0]
        return None

    def transitions(self) -> list[Transition]:
        return [t for s in self.stages for t in s.transitions]

    def conditions(self) -> Iterator[tuple[Condition, ScoreRule | Transition | Priority | Stage | Deadline]]:
        """Every condition in the policy with the rule, transition, priority or (for `entry when`)
        stage it belongs to."""
        for model in self.scores:
            for group in model.groups:
                for rule in group.rules:
                    yield rule.condition, rule
        for stage in self.stages:
            if stage.entry_condition is not None:
                yield stage.entry_condition, stage
            for t in stage.transitions:
                if t.condition is not None:
                    yield t.condition, t
            for d in stage.deadlines:
                for choice in d.via_when:
                    yield choice.condition, d
        for priority in self.priorities:
            if priority.condition is not None:
                yield priority.condition, priority


def _index(items) -> dict:
    out: dict = {}
    for item in items:
        out.setdefault(item.id, item)
    return out
