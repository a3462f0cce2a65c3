"""Decision procedures over criteria: can a condition be true, can two be true at once,
which values of a quantity does a condition accept?

These are small proofs, not heuristics. The model:

- Every quantity a condition reads is a *variable*: a property (number, text, enum, yes/no,
  date), an event (a count: a whole number ≥ 0, never unset) or a score or score group (a whole
  number, never unset; optionally limited to the range its rules can reach).
- Variables are independent of one another. A score and the properties its rules read are
  *not* related, nor a score and its groups. For "never true" proofs this over-approximates
  what leads can look like, so the proofs stay sound; claims that something *can* happen
  (ambiguity, gaps) are only made when the conditions involved do not mix a score with the
  quantities it is computed from.
- A property can be unset. On an unset property `==`, `<`, `>=`, `in`, a bare yes/no name and
  `is set` are false, `is not set` is true. `!=` and `not in` are left open (the CRM may
  treat an unknown value either way): "never true" proofs let them be either, and witnesses
  never rely on them.

A condition is brought into disjunctive normal form (after pushing negations to the leaves);
each conjunction is decided variable by variable with interval arithmetic for ordered values
and set arithmetic for the rest. The normal form is capped (`MAX_CONJUNCTIONS`); past the cap
the answer is "unknown" and nothing is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Iterator

from ..message import Listing, Message
from .. import ir

INF = math.inf
MAX_CONJUNCTIONS = 256

# ------------------------------------------------------------------ interval arithmetic
#
# A *cut* is a point of the real line with a side: (x, -1) lies just before x, (x, +1) just
# after it. An interval is the stretch between two cuts [start, end), so [a, b] is
# ((a,-1), (b,+1)) and (a, b) is ((a,+1), (b,-1)); it is empty when start >= end. With cuts,
# open and closed ends need no special cases: unions, intersections and complements are
# comparisons of tuples.

Cut = tuple[float, int]
_MINUS_INF: Cut = (-INF, 0)
_PLUS_INF: Cut = (INF, 0)


@dataclass(frozen=True)
class Intervals:
    """A union of disjoint intervals of the real line, sorted."""

    parts: tuple[tuple[Cut, Cut], ...]

    @staticmethod
    def everything() -> Intervals:
        return Intervals(((_MINUS_INF, _PLUS_INF),))

    @staticmethod
    def nothing() -> Intervals:
        return Intervals(())

    @staticmethod
    def of(start: Cut, end: Cut) -> Intervals:
        return Intervals(((start, end),)) if start < end else Intervals(())

    @staticmethod
    def compare(op: str, value: float) -> Intervals:
        """The values x with `x op value`."""
        if op == "==":
            return Intervals.of((value, -1), (value, 1))
        if op == "!=":
            return Intervals.of((value, -1), (value, 1)).complement()
        if op == ">=":
            return Intervals.of((value, -1), _PLUS_INF)
        if op == ">":
            return Intervals.of((value, 1), _PLUS_INF)
        if op == "<=":
            return Intervals.of(_MINUS_INF, (value, 1))
        if op == "<":
            return Intervals.of(_MINUS_INF, (value, -1))
        raise ValueError(op)

    @staticmethod
    def points(values: Iterable[float]) -> Intervals:
        # sorted once (a union per value would copy the growing set each time: quadratic)
        return Intervals(tuple(((v, -1), (v, 1)) for v in sorted(set(values))))

    def is_empty(self) -> bool:
        return not self.parts

    def intersect(self, other: Intervals) -> Intervals:
        out = []
        i = j = 0
        a, b = self.parts, other.parts
        while i < len(a) and j < len(b):
            start = max(a[i][0], b[j][0])
            end = min(a[i][1], b[j][1])
            if start < end:
                out.append((start, end))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return Intervals(tuple(out))

    def union(self, other: Intervals) -> Intervals:
        merged: list[list[Cut]] = []
        for start, end in sorted(self.parts + other.parts):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return Intervals(tuple((s, e) for s, e in merged))

    def complement(self) -> Intervals:
        out = []
        previous = _MINUS_INF
        for start, end in self.parts:
            if previous < start:
                out.append((previous, start))
            previous = end
        if previous < _PLUS_INF:
            out.append((previous, _PLUS_INF))
        return Intervals(tuple(out))

    def integers(self) -> Intervals:
        """The same set, keeping only stretches that contain a whole number (tightened to them)."""
        out = []
        for start, end in self.parts:
            low = _first_integer(start)
            high = _last_integer(end)
            if low <= high:
                out.append(((low, -1) if low > -INF else _MINUS_INF, (high, 1) if high < INF else _PLUS_INF))
        return Intervals(tuple(out))

    def sample(self, whole: bool) -> float | None:
        """A value in the set (a whole number when `whole`), preferring closed ends."""
        for start, end in (self.integers() if whole else self).parts:
            if start[0] > -INF:
                if start[1] == -1:
                    return start[0]
                if end[0] < INF:
                    return (start[0] + end[0]) / 2
                return start[0] + 1
            if end[0] < INF:
                return end[0] if end[1] == 1 else end[0] - 1
            return 0
        return None


def _first_integer(cut: Cut) -> float:
    x, side = cut
    if x == -INF:
        return -INF
    return math.ceil(x) if side <= 0 else math.floor(x) + 1


def _last_integer(cut: Cut) -> float:
    x, side = cut
    if x == INF:
        return INF
    return math.floor(x) if side > 0 else math.ceil(x) - 1


def describe_interval(start: Cut, end: Cut, name: str, whole: bool) -> str:
    """`70 <= lead_score <= 79`, `lead_score < 10`, `lead_score = 5`."""
    if whole:
        low, high = _first_integer(start), _last_integer(end)
        if low == high:
            return f"{name} = {_number_text(low)}"
        if low == -INF:
            return f"{name} <= {_number_text(high)}"
        if high == INF:
            return f"{name} >= {_number_text(low)}"
        return f"{_number_text(low)} <= {name} <= {_number_text(high)}"
    if start[0] == end[0]:
        return f"{name} = {_number_text(start[0])}"
    left = "" if start[0] == -INF else f"{_number_text(start[0])} {'<=' if start[1] == -1 else '<'} "
    right = "" if end[0] == INF else f" {'<=' if end[1] == 1 else '<'} {_number_text(end[0])}"
    return f"{left}{name}{right}"


def _number_text(value: float) -> str:
    if value in (INF, -INF):
        return "∞" if value > 0 else "-∞"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# ------------------------------------------------------------------ finite and co-finite sets


@dataclass(frozen=True)
class Choices:
    """A set of unordered values (enum options, texts, yes/no): the listed ones, or all but them."""

    values: frozenset
    cofinite: bool = False

    @staticmethod
    def everything() -> Choices:
        return Choices(frozenset(), True)

    def intersect(self, other: Choices) -> Choices:
        if self.cofinite and other.cofinite:
            return Choices(self.values | other.values, True)
        if self.cofinite:
            return Choices(other.values - self.values)
        if other.cofinite:
            return Choices(self.values - other.values)
        return Choices(self.values & other.values)

    def union(self, other: Choices) -> Choices:
        return self.complement().intersect(other.complement()).complement()

    def complement(self) -> Choices:
        return Choices(self.values, not self.cofinite)

    def is_empty(self) -> bool:
        return not self.cofinite and not self.values


ValueSet = Intervals | Choices

# ------------------------------------------------------------------ variables and literals


@dataclass(frozen=True)
class Variable:
    """One quantity conditions read. `domain` is every value it can hold when set."""

    key: str  # `employees`, `lead_score`, `lead_score.fit`
    kind: str  # ordered | unordered
    domain: ValueSet
    whole: bool  # ordered values are whole numbers (counts, scores, dates)
    optional: bool  # can be unset (properties); events and scores always have a value
    display: str  # how values read in messages: number | date | text | bool

    def contains(self, values: ValueSet) -> ValueSet:
        inside = values.intersect(self.domain)  # type: ignore[arg-type]
        return inside.integers() if self.whole and isinstance(inside, Intervals) else inside

    def has_value_in(self, values: ValueSet) -> bool:
        return not self.contains(values).is_empty()

    def show(self, value) -> str:
        if self.display == "date":
            return date.fromordinal(int(value)).isoformat()
        if self.display == "text":
            return f'"{value}"'
        if self.display == "bool":
            return "true" if value else "false"
        return _number_text(value)


@dataclass(frozen=True)
class Atom:
    """A leaf condition about one variable: true exactly for set values in `values`; when the
    variable is unset it is `unset` (True/False) or undetermined (None)."""

    variable: Variable
    values: ValueSet
    unset: bool | None
    span: object = None


@dataclass(frozen=True)
class Literal:
    atom: Atom
    positive: bool

    @property
    def values(self) -> ValueSet:
        return self.atom.values if self.positive else self.atom.values.complement()

    @property
    def unset(self) -> bool | None:
        if self.atom.unset is None:
            return None
        return self.atom.unset if self.positive else not self.atom.unset


class Unknown(Exception):
    """The condition cannot be analysed (an undefined name, a type error, too many cases)."""


# Modes: OVER lets undetermined literals be true on an unset property (for proofs that a
# condition is never true); EXACT never relies on them (for witnesses).
OVER, EXACT = "over", "exact"


@dataclass(frozen=True)
class Witness:
    """An example lead: a value (or `None` for unset) per variable the condition constrains."""

    values: tuple[tuple[Variable, object], ...]

    def describe(self) -> Message | Listing:
        """The witness in a diagnostic's words: `lead_score = 50, region not set`."""
        parts: list[object] = []
        for variable, value in self.values:
            parts.append(Message("{name} not set", name=variable.key) if value is None
                         else f"{variable.key} = {variable.show(value)}")
        return Listing(parts, limit=len(parts), quote=False) if parts else Message("any lead")


def _value_shape(value: ir.Value) -> tuple:
    """A literal value's class and fields (with their types: 1 and 1.0 and True stay apart)."""
    cls = value.__class__
    names = _SHAPED_FIELDS.get(cls)
    if names is None:
        names = _SHAPED_FIELDS[cls] = tuple(f for f in cls.__dataclass_fields__ if f != "span")
    return (cls.__name__, *[(type(v).__name__, v) for v in map(value.__getattribute__, names)])


_SHAPED_FIELDS: dict[type, tuple[str, ...]] = {}  # a value class → the fields its shape holds
# value classes whose only field besides the span is `value` (their types keep 1, 1.0 and True apart)
_ONE_VALUE = frozenset(cls for cls in (ir.Text, ir.Number, ir.Percent, ir.DateValue, ir.Flag)
                       if [f for f in cls.__dataclass_fields__ if f != "span"] == ["value"])


class Shapes:
    """Numbers for the shapes of conditions: what the meaning of a condition depends on, without
    positions (its variables, operators and values, and how they are combined). Two conditions
    get the same number exactly when their shapes are equal, so whatever depends only on the
    meaning of a condition (its normal form, whether a stage's transitions cover every lead, a
    comparison's type errors) can be worked out once per number and looked up by a small int;
    a tuple key would be hashed whole at every look-up. Remembered per node; one table per
    policy, shared by the checks (`shapes_of`)."""

    def __init__(self) -> None:
        self._by_node: dict[int, tuple[ir.Condition, int]] = {}  # id → (the node, kept so its id stays unique; number)
        self._numbers: dict[tuple, int] = {}

    def __call__(self, condition: ir.Condition) -> int:
        cached = self._by_node.get(id(condition))
        if cached is not None:
            return cached[1]
        node = condition
        if node.__class__ is ir.Comparison:  # (the most common node first)
            right = node.right
            if right.__class__ in _ONE_VALUE:  # `x >= 50`, `x == "yes"`: _value_shape's fields, flat
                value = right.value
                shape: tuple = ("cmp", node.left.name, node.left.member, node.op, right.__class__, value.__class__, value)
            else:
                shape = ("cmp", node.left.name, node.left.member, node.op, _value_shape(right))
        elif isinstance(node, (ir.AllOf, ir.AnyOf)):
            # the parts by number: equal numbers are equal shapes, so this is the whole shape
            shape = (node.__class__.__name__, tuple([self(item) for item in node.items]))
        elif isinstance(node, ir.Negation):
            shape = ("not", self(node.item))
        elif isinstance(node, ir.Membership):
            shape = ("in", node.left.text, node.negated, tuple([_value_shape(v) for v in node.values]))
        elif isinstance(node, ir.Truthy):
            shape = ("is", node.ref.text)
        elif isinstance(node, ir.Presence):
            shape = ("set", node.left.text, node.negated)
        else:
            shape = ("node", id(node))  # a form the model does not know: never shared
        numbers = self._numbers
        number = numbers.get(shape)
        if number is None:
            number = numbers[shape] = len(numbers)
        self._by_node[id(condition)] = (condition, number)
        return number


def shapes_of(ctx) -> Shapes:
    """The policy's shape numbers, shared by every check (a `CheckContext` memo)."""
    return ctx.memo("conditions.shapes", Shapes)


class ConditionModel:
    """Turns IR conditions into literals over the policy's variables and decides them.

    `score_ranges` maps score refs (`lead_score`, `lead_score.fit`) to the range their rules
    can reach; without it scores are any whole number.
    """

    def __init__(self, policy: ir.Policy, score_ranges: dict[str, tuple[int, int]] | None = None,
                 shapes: Shapes | None = None) -> None:
        self.policy = policy
        self.score_ranges = score_ranges or {}
        self._variables: dict[str, Variable] = {}
        # Conditions of the same shape (the same variables, operators and values: `accepted ==
        # true` in every funnel of a large policy) have the same atoms and normal forms, which
        # carry no positions: worked out once per shape.
        # (a shape does not depend on the score ranges: models of one policy may share them)
        self.shape: Shapes = Shapes() if shapes is None else shapes
        self._atoms_by_shape: dict[int, Atom | Unknown] = {}
        self._forms_by_shape: dict[tuple[int, bool, str], list | Unknown] = {}

    # ---------------------------------------------------------------- variables
    def variable(self, ref: ir.Ref) -> Variable:
        key = ref.text
        if key in self._variables:
            return self._variables[key]
        policy = self.policy
        prop = policy.property_by_id.get(ref.name)
        if prop is not None and ref.member is None:
            variable = self._property_variable(key, prop)
        elif ref.name in policy.event_by_id and ref.member is None:
            variable = Variable(key, "ordered", Intervals.compare(">=", 0), True, False, "number")
        elif ref.name in policy.score_by_id and (
            ref.member is None or any(g.id == ref.member for g in policy.score_by_id[ref.name].groups)
        ):
            low, high = self.score_ranges.get(key, (-INF, INF))
            variable = Variable(key, "ordered", Intervals.of((low, -1), (high, 1)), True, False, "number")
        else:
            raise Unknown(f"`{key}` is not a declared quantity")
        self._variables[key] = variable
        return variable

    @staticmethod
    def _property_variable(key: str, prop: ir.Property) -> Variable:
        if prop.type == "number":
            return Variable(key, "ordered", Intervals.everything(), False, True, "number")
        if prop.type == "date":
            return Variable(key, "ordered", Intervals.everything(), True, True, "date")
        if prop.type == "datetime":
            return Variable(key, "ordered", Intervals.everything(), False, True, "date")
        if prop.type == "enum":
            return Variable(key, "unordered", Choices(frozenset(o.value for o in prop.options)), False, True, "text")
        if prop.type == "bool":
            return Variable(key, "unordered", Choices(frozenset({True, False})), False, True, "bool")
        return Variable(key, "unordered", Choices.everything(), False, True, "text")

    # ---------------------------------------------------------------- atoms
    def atom(self, leaf: ir.Condition) -> Atom:
        shape = self.shape(leaf)
        result = self._atoms_by_shape.get(shape)
        if result is None:
            try:
                result = self._atom(leaf)
            except Unknown as exc:
                result = exc
            self._atoms_by_shape[shape] = result
        if isinstance(result, Unknown):
            raise result
        return result

    def _atom(self, leaf: ir.Condition) -> Atom:
        if isinstance(leaf, ir.Truthy):
            variable = self.variable(leaf.ref)
            if variable.display == "bool":
                return Atom(variable, Choices(frozenset({True})), False, leaf.span)
            if variable.kind == "ordered" and not variable.optional and variable.display == "number":
                if leaf.ref.name in self.policy.event_by_id:
                    return Atom(variable, Intervals.compare(">=", 1), False, leaf.span)
            raise Unknown("a bare name on something that is not yes/no or an event")
        if isinstance(leaf, ir.Presence):
            variable = self.variable(leaf.left)
            if not variable.optional:
                raise Unknown("`is set` on a quantity that always has a value")
            every = variable.domain
            return Atom(variable, every if not leaf.negated else every.complement(), leaf.negated, leaf.span)
        if isinstance(leaf, ir.Comparison):
            variable = self.variable(leaf.left)
            value = self._value(variable, leaf.right)
            if variable.kind == "ordered":
                values: ValueSet = Intervals.compare(leaf.op, value)
            elif leaf.op in ("==", "!="):
                values = Choices(frozenset({value}))
                if leaf.op == "!=":
                    values = values.complement()
            else:
                raise Unknown("an ordering on unordered values")
            return Atom(variable, values, None if leaf.op == "!=" else False, leaf.span)
        if isinstance(leaf, ir.Membership):
            variable = self.variable(leaf.left)
            items = [self._value(variable, v) for v in leaf.values]
            values = Intervals.points(items) if variable.kind == "ordered" else Choices(frozenset(items))
            if leaf.negated:
                values = values.complement()
            return Atom(variable, values, None if leaf.negated else False, leaf.span)
        raise Unknown(f"not a leaf: {type(leaf).__name__}")

    @staticmethod
    def _value(variable: Variable, value: ir.Value):
        if variable.display == "number" and isinstance(value, ir.Number):
            return value.value
        if variable.display == "date" and isinstance(value, ir.DateValue):
            return value.value.toordinal()
        if variable.display == "bool" and isinstance(value, ir.Flag):
            return value.value
        if variable.display == "text" and isinstance(value, ir.Text):
            domain = variable.domain
            if isinstance(domain, Choices) and not domain.cofinite and value.value not in domain.values:
                raise Unknown("not an option of the enum")  # reported as SLA309
            return value.value
        raise Unknown("a value of the wrong type")  # reported as SLA308

    # ---------------------------------------------------------------- normal form
    def dnf(self, condition: ir.Condition, mode: str, positive: bool = True) -> list[tuple[Literal, ...]]:
        """Satisfiable conjunctions whose union is the condition (or its negation).

        Computed once per condition, sign and mode (several checks ask about the same
        conditions); the result is shared, so callers must not modify it.
        """
        while isinstance(condition, ir.Negation):
            condition, positive = condition.item, not positive
        key = (self.shape(condition), positive, mode)
        form = self._forms_by_shape.get(key)
        if form is None:
            try:
                form = self._dnf(condition, mode, positive)
            except Unknown as exc:
                form = exc
            self._forms_by_shape[key] = form
        if isinstance(form, Unknown):
            raise form
        return form

    def _dnf(self, node: ir.Condition, mode: str, positive: bool) -> list[tuple[Literal, ...]]:
        if isinstance(node, (ir.AllOf, ir.AnyOf)):
            conjunctive = isinstance(node, ir.AllOf) == positive
            parts = [self.dnf(item, mode, positive) for item in node.items]
            if not conjunctive:
                out = [c for part in parts for c in part]
                if len(out) > MAX_CONJUNCTIONS:
                    raise Unknown("too many cases")
                return out
            return self._conjoin(parts, mode)
        literal = Literal(self.atom(node), positive)
        return [(literal,)] if self.decide((literal,), mode) is not None else []

    def dnf_all(self, conditions: Iterable[tuple[ir.Condition, bool]], mode: str) -> list[tuple[Literal, ...]]:
        """The normal form of a conjunction of conditions (each possibly negated)."""
        return self._conjoin((self.dnf(condition, mode, positive) for condition, positive in conditions), mode)

    def _conjoin(self, parts: Iterable[list[tuple[Literal, ...]]], mode: str) -> list[tuple[Literal, ...]]:
        """The satisfiable conjunctions made of one conjunction of each part (at most
        MAX_CONJUNCTIONS). Each one under construction keeps, per variable, the values its
        literals still allow, so adding literals costs what they touch, not the whole
        conjunction again: `a and b and …` of thousands of terms stays linear."""
        result: list[tuple[list[Literal], dict]] = [([], {})]
        for part in parts:
            if len(result) == 1 and len(part) == 1:  # the common case: extended in place
                literals, state = result[0]
                if not self._extend(state, part[0], mode):
                    return []
                literals.extend(part[0])
                continue
            product = []
            for literals, state in result:
                for right in part:
                    extended = dict(state)
                    if self._extend(extended, right, mode):
                        product.append((literals + list(right), extended))
                        if len(product) > MAX_CONJUNCTIONS:
                            raise Unknown("too many cases")
            result = product
            if not result:
                break
        return [tuple(literals) for literals, _ in result]

    def growing(self, mode: str) -> GrowingConjunction:
        return GrowingConjunction(self, mode)

    @staticmethod
    def _extend(state: dict, literals: tuple[Literal, ...], mode: str) -> bool:
        """Add literals to a conjunction's per-variable state (variable, allowed values, every
        literal allows unset); False when a variable they touch can no longer take any value
        (the same judgement as `decide`)."""
        touched = []
        for literal in literals:
            variable = literal.atom.variable
            entry = state.get(variable.key)
            allowed, unset_ok = (variable.domain, True) if entry is None else (entry[1], entry[2])
            state[variable.key] = (variable, allowed.intersect(literal.values),  # type: ignore[arg-type]
                                   unset_ok and _unset_ok(literal, mode))
            touched.append(variable.key)
        for key in touched:
            variable, allowed, unset_ok = state[key]
            if variable.contains(allowed).is_empty() and not (variable.optional and unset_ok):
                return False
        return True

    # ---------------------------------------------------------------- deciding a conjunction
    def decide(self, conjunction: tuple[Literal, ...], mode: str, witness: bool = False) -> Witness | bool | None:
        """Whether the conjunction can be true: True (or a Witness when asked for), else None."""
        by_variable: dict[str, list[Literal]] = {}
        order: list[Variable] = []
        for literal in conjunction:
            key = literal.atom.variable.key
            if key not in by_variable:
                by_variable[key] = []
                order.append(literal.atom.variable)
            by_variable[key].append(literal)
        chosen = []
        for variable in order:
            literals = by_variable[variable.key]
            allowed = variable.domain
            for literal in literals:
                allowed = allowed.intersect(literal.values)  # type: ignore[arg-type]
            allowed = variable.contains(allowed)
            if not allowed.is_empty():
                if witness:
                    chosen.append((variable, _pick(allowed, variable)))
                continue
            if variable.optional and all(_unset_ok(l, mode) for l in literals):
                if witness:
                    chosen.append((variable, None))
                continue
            return None
        return Witness(tuple(chosen)) if witness else True

    # ---------------------------------------------------------------- questions
    def can_be_true(self, condition: ir.Condition, mode: str = OVER) -> bool:
        return bool(self.dnf(condition, mode))  # dnf() is memoised

    def can_all_be_true(self, conditions: Iterable[tuple[ir.Condition, bool]], mode: str) -> bool:
        return bool(self.dnf_all(conditions, mode))

    def example(self, conditions: Iterable[tuple[ir.Condition, bool]], mode: str = EXACT) -> Witness | None:
        """A lead meeting every condition (each possibly negated), or None when there is none."""
        conjunctions = self.dnf_all(conditions, mode)
        return self.decide(conjunctions[0], mode, witness=True) if conjunctions else None  # type: ignore[return-value]

    def implies(self, premise: ir.Condition, conclusion: ir.Condition) -> bool:
        """True when every lead meeting `premise` meets `conclusion` (a proof; False if unsure)."""
        try:
            return not self.dnf_all([(premise, True), (conclusion, False)], OVER)
        except Unknown:
            return False

    def accepted_values(self, condition: ir.Condition, variable_key: str) -> ValueSet:
        """The set values of one variable for which a condition that reads only it is true."""
        accepted: ValueSet | None = None
        for conjunction in self.dnf(condition, OVER):
            allowed = None
            for literal in conjunction:
                if literal.atom.variable.key != variable_key:
                    raise Unknown("reads another quantity")
                allowed = literal.values if allowed is None else allowed.intersect(literal.values)  # type: ignore[arg-type]
                variable = literal.atom.variable
            if allowed is None:
                raise Unknown("an empty conjunction")
            allowed = variable.contains(allowed)
            accepted = allowed if accepted is None else accepted.union(allowed)  # type: ignore[arg-type]
        if accepted is None:
            variable = self._variables.get(variable_key)
            if variable is None:
                raise Unknown("never read")
            return Intervals.nothing() if variable.kind == "ordered" else Choices(frozenset())
        return accepted

    def lower_bound(self, condition: ir.Condition, variable_key: str) -> Cut | None:
        """The least value of a variable that a lead meeting `condition` can have, when the
        condition bounds it from below in every case; None otherwise."""
        least: Cut | None = None
        for conjunction in self.dnf(condition, OVER):
            allowed: ValueSet | None = None
            for literal in conjunction:
                if literal.atom.variable.key == variable_key:
                    allowed = literal.values if allowed is None else allowed.intersect(literal.values)  # type: ignore[arg-type]
            if allowed is None or not isinstance(allowed, Intervals) or allowed.is_empty():
                return None
            start = allowed.parts[0][0]
            if start == _MINUS_INF:
                return None
            least = start if least is None else min(least, start)
        return least


class GrowingConjunction:
    """A conjunction of conditions that grows one condition at a time, asked after each one
    whether another condition could still hold with it ("can this priority match a lead that
    no priority above it matched?"). Only the per-variable states of its satisfiable cases are
    kept, so each question and each addition costs what the new condition touches: n
    priorities take linear time, not the square of n that asking about every prefix anew did."""

    def __init__(self, model: ConditionModel, mode: str) -> None:
        self.model, self.mode = model, mode
        self.states: list[dict] = [{}]

    def _cases(self, condition: ir.Condition | None, positive: bool) -> list[tuple[Literal, ...]]:
        return [()] if condition is None else self.model.dnf(condition, self.mode, positive)

    def could_hold(self, condition: ir.Condition | None, positive: bool = True) -> bool:
        """Whether the conjunction and `condition` can be true together (raises Unknown)."""
        cases = self._cases(condition, positive)
        return any(ConditionModel._extend(dict(state), case, self.mode) for state in self.states for case in cases)

    def add(self, condition: ir.Condition | None, positive: bool = True) -> None:
        """Conjoin `condition` (raises Unknown past MAX_CONJUNCTIONS cases)."""
        cases = self._cases(condition, positive)
        grown = []
        for state in self.states:
            for case in cases:
                extended = dict(state)
                if ConditionModel._extend(extended, case, self.mode):
                    grown.append(extended)
                    if len(grown) > MAX_CONJUNCTIONS:
                        raise Unknown("too many cases")
        self.states = grown


def _unset_ok(literal: Literal, mode: str) -> bool:
    value = literal.unset
    return value is True or (value is None and mode == OVER)


def _pick(allowed: ValueSet, variable: Variable):
    if isinstance(allowed, Intervals):
        return allowed.sample(variable.whole)
    if not allowed.cofinite:
        return sorted(allowed.values, key=str)[0]
    # any text not excluded
    candidate = "other"
    while candidate in allowed.values:
        candidate += "_"
    return candidate


def refs_of(conditions: Iterable[ir.Condition]) -> Iterator[ir.Ref]:
    for condition in conditions:
        yield from ir.condition_refs(condition)
