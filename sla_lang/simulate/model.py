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

from collections.abc import Callable, Mapping
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


_UNKNOWN = object()


class View:
    """A lead's data as conditions see it (with its scores computed on first use)."""

    __slots__ = ("_priority", "_scores", "model", "values")

    def __init__(self, values: dict[str, Any], model: DataModel) -> None:
        self.values = values
        self.model = model
        self._scores: Scores | None = None
        self._priority: str | None | object = _UNKNOWN  # (DataModel.priority)

    def scores(self) -> Scores:
        if self._scores is None:
            self._scores = self.model.compute_scores(self)
        return self._scores


class Scores(Mapping):
    """A lead's scores: the scores of a lead with no data (shared by every lead), overlaid with
    the few its data changes, so that no lead copies every group of a large policy."""

    __slots__ = ("_changed", "_defaults", "_model")

    def __init__(self, defaults: dict[str, float], changed: dict[str, float], model: DataModel) -> None:
        self._defaults = defaults
        self._changed = changed
        self._model = model

    def __getitem__(self, key: str) -> float:
        changed = self._changed
        return changed[key] if key in changed else self._defaults[key]

    def get(self, key, default=None):
        changed = self._changed
        if key in changed:
            return changed[key]
        return self._defaults.get(key, default)

    def __iter__(self):
        return iter(self._defaults)

    def __len__(self) -> int:
        return len(self._defaults)

    def __repr__(self) -> str:
        return f"Scores({dict(self)!r})"

    def shown(self) -> dict[str, float]:
        """What a lead's JSON lists: every score's total and each group with points (a group
        with 0 points is left out: a policy of 10,000 stages has 3,000 groups per lead)."""
        model, changed, defaults = self._model, self._changed, self._defaults
        if not changed:  # (the defaults shown are in key order, and each is non-zero or a total)
            return {key: defaults[key] for key in model._shown_by_default}
        out = {}
        models = model.score_models
        for key in sorted(model._shown_set.union(changed), key=model._key_order.__getitem__):
            value = changed[key] if key in changed else defaults[key]
            if value != 0 or key in models:
                out[key] = value
        return out


class DataModel:
    """The policy's properties, events and scores, with compiled conditions.

    Scores are computed sparsely: a rule's condition reads only the data it names, so on a lead
    whose data holds none of those names it has the value it has on a lead with no data at all,
    worked out once. Computing a lead's scores evaluates only the rules reading data the lead
    has (and rules reading a score, every time), so it costs what the lead's data touches, not
    the size of the policy's scoring (a policy of 10,000 stages has 3,000 score groups).
    """

    def __init__(self, policy: ir.Policy) -> None:
        self.policy = policy
        self.properties = policy.property_by_id
        self.events = policy.event_by_id
        self.score_models = policy.score_by_id
        self._compiled: dict[int, Fn] = {}
        self._index_rules()

    def _index_rules(self) -> None:
        """The tables of the sparse computation: every rule with its group, the rules reading each
        name, the rules that must always be evaluated, and every score on a lead with no data."""
        self._groups: list[tuple[str, str, float | None]] = []  # (model id, "model.group" key, cap)
        self._rules: list[tuple[int, int, Fn, str]] = []  # (group index, points, fn, clause id), in rule order
        self._reading: dict[str, list[int]] = {}  # data name → rules whose condition reads it
        self._always: list[int] = []  # rules reading a score: evaluated on every lead
        self._default_true: list[bool] = []  # each rule's value on a lead with no data
        empty = View({}, self)
        for model in self.policy.scores:
            for group in model.groups:
                g = len(self._groups)
                self._groups.append((model.id, f"{model.id}.{group.id}", group.cap.value if group.cap is not None else None))
                for rule in group.rules:
                    i = len(self._rules)
                    fn = self.compile(rule.condition)
                    # a per-occurrence rule is kept as the rule itself: its points depend on a count
                    self._rules.append((g, rule.points if rule.per is None else rule, fn, rule.clause_id))
                    names = {ref.name for ref in ir.condition_refs(rule.condition)}
                    if any(name in self.score_models for name in names):
                        self._always.append(i)
                        self._default_true.append(False)
                        continue
                    for name in names:
                        self._reading.setdefault(name, []).append(i)
                    self._default_true.append(bool(fn(empty)))
        self._default_raw = [0] * len(self._groups)  # a group's points before its cap, on no data
        self._default_points = [0] * len(self._rules)  # each rule's points on a lead with no data
        for i, (g, points, _, _) in enumerate(self._rules):
            if self._default_true[i]:
                self._default_points[i] = _points(points, empty)
                self._default_raw[g] += self._default_points[i]
        self._true_by_default = [i for i, true in enumerate(self._default_true) if true]
        # the scores of a lead with no data, keys in the order compute_scores always gave them
        self._default_scores: dict[str, float] = {}
        g = 0
        for model in self.policy.scores:
            total = 0
            for _ in model.groups:
                _, key, cap = self._groups[g]
                self._default_scores[key] = points = _capped(self._default_raw[g], cap)
                total += points
                g += 1
            self._default_scores[model.id] = total
        self._key_order = {key: i for i, key in enumerate(self._default_scores)}
        self._shown_by_default = [key for key, value in self._default_scores.items()
                                  if value != 0 or key in self.score_models]
        self._shown_set = frozenset(self._shown_by_default)

    def _touched_rules(self, view: View) -> set[int]:
        """The rules that may differ from their value on a lead with no data."""
        reading = self._reading
        touched: set[int] = set(self._always)
        for name in view.values:
            rules = reading.get(name)
            if rules is not None:
                touched.update(rules)
        return touched

    # ------------------------------------------------------------------ scores
    def compute_scores(self, view: View) -> Scores:
        """Every score and score group (`model.group`) of the lead: the scores of a lead with no
        data, with the groups its data touches worked out again."""
        changed: dict[str, float] = {}
        touched = self._touched_rules(view)
        if not touched:
            return Scores(self._default_scores, changed, self)
        raw: dict[int, float] = {}
        rules, default_points, default_raw = self._rules, self._default_points, self._default_raw
        for i in sorted(touched):
            g, points, fn, _ = rules[i]
            if g not in raw:
                raw[g] = default_raw[g]
            raw[g] += (_points(points, view) if fn(view) else 0) - default_points[i]
        groups, defaults = self._groups, self._default_scores
        for g, value in raw.items():
            model_id, key, cap = groups[g]
            before = defaults[key]
            after = _capped(value, cap)
            if after != before:
                changed[key] = after
                changed[model_id] = changed.get(model_id, defaults[model_id]) + after - before
        return Scores(defaults, changed, self)

    def true_rules(self, view: View) -> list[str]:
        """Clause ids of the score rules whose condition holds (for coverage), in rule order."""
        touched = self._touched_rules(view)
        rules = self._rules
        out = []
        for i in sorted(touched.union(self._true_by_default)):
            if i in touched:
                if rules[i][2](view):
                    out.append(rules[i][3])
            else:
                out.append(rules[i][3])
        return out

    def quantity(self, view: View, ref: ir.Ref):
        """The value of a property, event count or score (None: a property with no value)."""
        if ref.name in self.score_models:
            return view.scores().get(ref.text)
        if ref.name in self.events:
            return view.values.get(ref.name, 0)
        return view.values.get(ref.name)

    def priority(self, view: View) -> str | None:
        """The lead's priority: the first whose condition holds (worked out once per View)."""
        if view._priority is not _UNKNOWN and view.model is self:
            return view._priority
        found = None
        for priority in self.policy.priorities:
            if priority.condition is None or self.compile(priority.condition)(view):
                found = priority.id
                break
        if view.model is self:
            view._priority = found
        return found

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


def _points(points, view: View):
    """A true rule's points: fixed, or (a per-occurrence rule, kept as the rule) for its count."""
    return points if points.__class__ is int else points.points_for(view.values.get(points.per.name, 0))


def _capped(points: float, cap: float | None) -> float:
    return cap if cap is not None and points > cap else points


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

