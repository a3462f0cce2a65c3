"""What a lead's data means: condition evaluation, scores and priorities.

A lead's data is one dict: property id → value (absent: the property has no value) and event
id → count (absent: 0). Conditions are compiled once per policy into Python closures over a
`View` of that dict; a View computes the policy's scores at most once.

Meaning of each condition form (the README's "Simulation semantics" states the same):
- A comparison, `in`/`not in` list or `==`/`!=` on a property with no value is false.
  `not (…)` negates as usual, so `not (industry == "it")` is true for a lead with no industry.
- An event reads as its count (0 when it never happened); a bare event name is `count >= 1`.
- A bare yes/no property is true only when its value is true.
- `is set` is true for events and scores (they always have a value).
- A score group is worth the sum of the points of its rules whose condition holds, capped at
  the group's `max` (there is no lower bound: negative points can make it negative); a score is
  the sum of its groups; `score.group` reads one group. A rule `per EVENT` adds its points for
  each occurrence of the event, up to its own `max` if it has one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from .. import ir
from ..message import Listing, Message

Fn = Callable[["View"], bool]

OPS = {  # the comparison operators of criteria
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


def compare(a, op: str, b) -> bool:
    return OPS[op](a, b)


def constant(value: ir.Value):
    """The Python value of a literal in a condition."""
    if isinstance(value, (ir.Text, ir.Number, ir.Flag, ir.DateValue)):
        return value.value
    if isinstance(value, ir.Percent):
        return value.ratio
    if isinstance(value, ir.Duration):
        return value.minutes
    if isinstance(value, ir.TimeOfDay):
        return value.minutes
    return None


class View:
    """A lead's data as conditions see it (with its scores computed on first use)."""

    __slots__ = ("_scores", "model", "values")

    def __init__(self, values: dict[str, Any], model: DataModel) -> None:
        self.values = values
        self.model = model
        self._scores: dict[str, float] | None = None

    def scores(self) -> dict[str, float]:
        if self._scores is None:
            self._scores = self.model.compute_scores(self)
        return self._scores


class DataModel:
    """The policy's properties, events and scores, with compiled conditions."""

    def __init__(self, policy: ir.Policy) -> None:
        self.policy = policy
        self.properties = policy.property_by_id
        self.events = policy.event_by_id
        self.score_models = policy.score_by_id
        self._compiled: dict[int, Fn] = {}
        # (model id, [(group id, cap, [(points, fn, clause id)])])
        self.score_plan: list[tuple[str, list[tuple[str, float | None, list[tuple[int, Fn, str]]]]]] = []
        for model in policy.scores:
            groups = []
            for group in model.groups:
                cap = group.cap.value if group.cap is not None else None
                rules = [(rule.points if rule.per is None else rule, self.compile(rule.condition), rule.clause_id)
                         for rule in group.rules]
                groups.append((group.id, cap, rules))
            self.score_plan.append((model.id, groups))

    # ------------------------------------------------------------------ scores
    def compute_scores(self, view: View) -> dict[str, float]:
        out: dict[str, float] = {}
        for model_id, groups in self.score_plan:
            total = 0
            for group_id, cap, rules in groups:
                points = 0
                for value, fn, _ in rules:
                    if fn(view):
                        # a per-occurrence rule (kept as the rule itself) counts each occurrence
                        points += value if value.__class__ is int else value.points_for(view.values.get(value.per.name, 0))
                if cap is not None and points > cap:
                    points = cap
                out[f"{model_id}.{group_id}"] = points
                total += points
            out[model_id] = total
        return out

    def true_rules(self, view: View) -> list[str]:
        """Clause ids of the score rules whose condition holds (for coverage)."""
        return [clause for _, groups in self.score_plan for _, _, rules in groups for _, fn, clause in rules if fn(view)]

    def quantity(self, view: View, ref: ir.Ref):
        """The value of a property, event count or score (None: a property with no value)."""
        if ref.name in self.score_models:
            return view.scores().get(ref.text)
        if ref.name in self.events:
            return view.values.get(ref.name, 0)
        return view.values.get(ref.name)

    def priority(self, view: View) -> str | None:
        for priority in self.policy.priorities:
            if priority.condition is None or self.compile(priority.condition)(view):
                return priority.id
        return None

    # ------------------------------------------------------------------ conditions
    def compile(self, condition: ir.Condition) -> Fn:
        key = id(condition)
        fn = self._compiled.get(key)
        if fn is None:
            fn = self._compile(condition)
            self._compiled[key] = fn
        return fn

    def _compile(self, node: ir.Condition) -> Fn:
        if isinstance(node, ir.AllOf):
            parts = [self.compile(i) for i in node.items]
            return lambda v: all(p(v) for p in parts)
        if isinstance(node, ir.AnyOf):
            parts = [self.compile(i) for i in node.items]
            return lambda v: any(p(v) for p in parts)
        if isinstance(node, ir.Negation):
            inner = self.compile(node.item)
            return lambda v: not inner(v)
        if isinstance(node, ir.Truthy):
            read = self._reader(node.ref)
            if node.ref.name in self.events:
                return lambda v: read(v) >= 1
            return lambda v: read(v) is True
        if isinstance(node, ir.Presence):
            read = self._reader(node.left)
            if node.negated:
                return lambda v: read(v) is None
            return lambda v: read(v) is not None
        if isinstance(node, ir.Membership):
            read = self._reader(node.left)
            options = [self._coerce_constant(node.left, c) for c in node.values]
            negated = node.negated

            def member(v: View) -> bool:
                x = read(v)
                if x is None:
                    return False
                return (x not in options) if negated else (x in options)

            return member
        if isinstance(node, ir.Comparison):
            read = self._reader(node.left)
            right = self._coerce_constant(node.left, node.right)
            op = OPS[node.op]

            def comparison(v: View) -> bool:
                x = read(v)
                if x is None:
                    return False
                try:
                    return op(x, right)
                except TypeError:  # a type error the checks report; never true
                    return False

            return comparison
        return lambda v: False

    def _reader(self, ref: ir.Ref) -> Callable[[View], Any]:
        name = ref.name
        if name in self.score_models:
            key = ref.text
            return lambda v: v.scores().get(key)
        if name in self.events:
            return lambda v: v.values.get(name, 0)
        prop = self.properties.get(name)
        if prop is not None and prop.type == "datetime":
            # datetime properties compare by their date, as written in policies (2026-01-01)
            def read_datetime(v: View):
                x = v.values.get(name)
                return x.date() if isinstance(x, datetime) else x

            return read_datetime
        return lambda v: v.values.get(name)

    def _coerce_constant(self, ref: ir.Ref, value: ir.Value):
        return constant(value)


# ------------------------------------------------------------------ property values from events


def coerce_property_value(prop: ir.Property, raw: Any) -> tuple[Any, str | None]:
    """A value from an events file → (value, None), or (None, what is wrong)."""
    if raw is None:
        return None, None
    kind = prop.type
    if kind == "number":
        if isinstance(raw, bool):
            return None, Message("a number")
        if isinstance(raw, (int, float)):
            return raw, None
        if isinstance(raw, str):
            try:
                number = float(raw.strip())
            except ValueError:
                return None, Message("a number")
            return (int(number) if number.is_integer() and "." not in raw else number), None
        return None, Message("a number")
    if kind == "bool":
        if isinstance(raw, bool):
            return raw, None
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true", None
        return None, Message("true or false")
    if kind == "enum":
        options = [o.value for o in prop.options]
        if isinstance(raw, str) and raw in options:
            return raw, None
        return None, Message("one of {options}", options=Listing((f'"{o}"' for o in options), limit=len(options), quote=False))
    if kind == "date":
        if isinstance(raw, str):
            try:
                return date.fromisoformat(raw.strip()), None
            except ValueError:
                pass
        return None, Message("a date (YYYY-MM-DD)")
    if kind == "datetime":
        if isinstance(raw, str):
            try:
                parsed = datetime.fromisoformat(raw.strip())
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is not None:
                return parsed, None
        return None, "an ISO timestamp with a time zone (2026-04-01T10:00:00+09:00)"
    if isinstance(raw, str):
        return raw, None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return str(raw), None
    return None, "text"


def value_to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def condition_text(node: ir.Condition | None) -> str:
    """A condition written back as policy text (for descriptions and reports)."""
    return "" if node is None else ir.condition_source(node)

