"""Finding lead data that makes conditions true or false (for generating scenarios).

A small backtracking search over the properties and event counts a set of constraints reads.
Each variable takes its current value first and then candidate values taken from the policy
(every constant a condition compares it with, one step either side, no value, the enum
options …), so the first solution found changes as little as possible. Partial assignments are
evaluated in three values (true, false, unknown) with scores as intervals, which prunes most
of the search. The search is bounded; when it gives up the generator says so.

The solver only proposes data: every scenario is then run through the simulator, which alone
decides what happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from .. import ir

UNKNOWN = object()
DEFAULT_LIMIT = 50_000


@dataclass(frozen=True)
class Holds:
    """`condition` evaluates to `want` (with some values overridden: "the same lead, but …")."""

    condition: ir.Condition
    want: bool
    overrides: tuple[tuple[str, Any], ...] = ()
    forced: tuple[tuple[int, bool], ...] = ()  # id(leaf) → value, to test whether a leaf is decisive


@dataclass(frozen=True)
class QuantityIs:
    """A score, a score group (raw: before its cap) or an event count equals `value`."""

    ref: ir.Ref
    value: float
    raw: bool = False
    compare: str = "=="


Constraint = Holds | QuantityIs


def step_of(value: Any) -> Any:
    """The smallest meaningful change of a threshold: 1, 0.1 for 2.5, one day for a date."""
    if isinstance(value, date):
        return timedelta(days=1)
    if isinstance(value, float) and not value.is_integer():
        exponent = Decimal(str(value)).as_tuple().exponent
        return 10.0 ** exponent if isinstance(exponent, int) else 1
    return 1


def shift(value: Any, steps: int) -> Any:
    step = step_of(value)
    if isinstance(value, date):
        return value + step * steps
    result = value + step * steps
    if isinstance(step, float):
        result = round(result, 10)
    return result


@dataclass
class Solver:
    policy: ir.Policy
    limit: int = DEFAULT_LIMIT
    domains: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.properties = self.policy.property_by_id
        self.events = self.policy.event_by_id
        self.scores = self.policy.score_by_id
        constants: dict[str, list[Any]] = {}
        for condition in _all_conditions(self.policy):
            for leaf in _leaves(condition):
                ref = getattr(leaf, "left", None) or getattr(leaf, "ref", None)
                if ref is None:
                    continue
                values = []
                if isinstance(leaf, ir.Comparison):
                    values = [leaf.right]
                elif isinstance(leaf, ir.Membership):
                    values = list(leaf.values)
                bucket = constants.setdefault(ref.name, [])
                for v in values:
                    if isinstance(v, (ir.Number, ir.Text, ir.Flag, ir.DateValue)):
                        bucket.append(v.value)
        for prop in self.policy.properties:
            seen = constants.get(prop.id, [])
            self.domains[prop.id] = _property_domain(prop, seen)
        for event in self.policy.events:
            counts = {1}
            for c in constants.get(event.id, []):
                if isinstance(c, (int, float)) and not isinstance(c, bool):
                    base = int(c)
                    counts |= {max(base - 1, 0), base, base + 1}
            self.domains[event.id] = sorted(counts)

    # ------------------------------------------------------------------ reading
    def reads(self, constraints: list[Constraint]) -> list[str]:
        """Variables the constraints depend on, in first-use order."""
        out: list[str] = []

        def add_ref(ref: ir.Ref) -> None:
            model = self.scores.get(ref.name)
            if model is None:
                if ref.name not in out:
                    out.append(ref.name)
                return
            for group in model.groups:
                if ref.member is not None and ref.member != group.id:
                    continue
                for rule in group.rules:
                    for inner in ir.condition_refs(rule.condition):
                        add_ref(inner)

        for c in constraints:
            if isinstance(c, Holds):
                for ref in ir.condition_refs(c.condition):
                    add_ref(ref)
            else:
                add_ref(c.ref)
        return out

    # ------------------------------------------------------------------ search
    def solve(self, base: dict[str, Any], constraints: list[Constraint], *, variables: list[str] | None = None,
              frozen: set[str] = frozenset(), prefer: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Values (a copy of `base` with some variables changed) meeting every constraint, or None."""
        names = [v for v in (variables if variables is not None else self.reads(constraints))
                 if v not in frozen and (v in self.properties or v in self.events)]
        # Events first: the search varies the last variables first, so solutions lean on
        # properties, which (unlike event counts) can later be changed back.
        names.sort(key=lambda v: v in self.properties)
        domains = []
        for name in names:
            current = base.get(name, 0 if name in self.events else None)
            options = [current]
            if prefer and name in prefer:
                options.insert(0, prefer[name])
            for candidate in self.domains.get(name, []):
                if name in self.events and candidate < current:
                    continue
                options.append(candidate)
            unique = []
            for o in options:
                if not any(o == u and type(o) is type(u) for u in unique):
                    unique.append(o)
            domains.append(unique)
        assignment: dict[str, Any] = {}
        budget = [self.limit]

        def check(partial: bool) -> bool:
            for c in constraints:
                result = self._eval_constraint(c, base, assignment, names)
                if result is UNKNOWN:
                    if not partial:
                        return False
                    continue
                if not result:
                    return False
            return True

        def search(i: int) -> bool:
            budget[0] -= 1
            if budget[0] < 0:
                return False
            if i == len(names):
                return check(partial=False)
            for value in domains[i]:
                assignment[names[i]] = value
                if check(partial=True) and search(i + 1):
                    return True
            del assignment[names[i]]
            return False

        if not check(partial=True) or not search(0):
            return None
        out = dict(base)
        for name, value in assignment.items():
            if value is None or (name in self.events and value == 0):
                out.pop(name, None)
            else:
                out[name] = value
        return out

    # ------------------------------------------------------------------ which scores exist at all
    def reachable(self, ref: ir.Ref, raw: bool = False) -> set[float] | None:
        """Every value a score (or group) can take over the candidate data, or None if too many to list.

        Rules are grouped into clusters of the data they read; each cluster is enumerated on its
        own and the clusters' points are added up group by group. Used to skip impossible targets
        (a score of 49 when every rule is worth a multiple of 5) without searching.
        """
        key = (ref.name, ref.member, raw)
        cache = self.__dict__.setdefault("_reachable_cache", {})
        if key in cache:
            return cache[key]
        model = self.scores.get(ref.name)
        result = None if model is None else self._reachable(model, ref.member, raw)
        cache[key] = result
        return result

    def _reachable(self, model: ir.ScoreModel, member: str | None, raw: bool) -> set[float] | None:
        from itertools import product

        groups = list(model.groups)
        rules = [(gi, rule) for gi, g in enumerate(groups) for rule in g.rules]
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.setdefault(x, x) != x:
                x = parent[x]
            return x

        rule_vars = []
        for _, rule in rules:
            names = [r.name for r in ir.condition_refs(rule.condition)]
            if any(n in self.scores for n in names):
                return None
            rule_vars.append(names)
            for n in names[1:]:
                parent[find(n)] = find(names[0])
            for n in names:
                find(n)
        clusters: dict[str, list[int]] = {}
        for i, names in enumerate(rule_vars):
            root = find(names[0]) if names else f"#{i}"
            clusters.setdefault(root, []).append(i)
        totals: set[tuple] = {tuple(0 for _ in groups)}
        for root, members in sorted(clusters.items()):
            names = sorted({n for i in members for n in rule_vars[i]})
            domains = [[0 if n in self.events else None] + [v for v in self.domains.get(n, []) if v is not None]
                       for n in names]
            size = 1
            for d in domains:
                size *= len(d)
            if size > 20_000:
                return None
            sums: set[tuple] = set()
            for combo in product(*domains):
                values = dict(zip(names, combo))
                vector = [0] * len(groups)
                for i in members:
                    gi, rule = rules[i]
                    if self.eval3(rule.condition, lambda n, v=values: v.get(n, 0 if n in self.events else None)) is True:
                        vector[gi] += rule.points
                sums.add(tuple(vector))
            totals = {tuple(a + b for a, b in zip(t, s)) for t in totals for s in sums}
            if len(totals) > 200_000:
                return None
        out: set[float] = set()
        for vector in totals:
            total = 0
            for gi, group in enumerate(groups):
                points = vector[gi]
                if group.cap is not None and not raw:
                    points = min(points, group.cap.value)
                if member is not None and group.id == member:
                    out.add(points)
                total += points
            if member is None:
                out.add(total)
        return out

    # ------------------------------------------------------------------ three-valued evaluation
    def _eval_constraint(self, c: Constraint, base, assignment, names):
        def lookup(name: str):
            if name in assignment:
                return assignment[name]
            if name in names:
                return UNKNOWN
            return base.get(name, 0 if name in self.events else None)

        if isinstance(c, Holds):
            overrides = dict(c.overrides)
            forced = dict(c.forced)

            def look(name: str):
                if name in overrides:
                    return overrides[name]
                return lookup(name)

            result = self.eval3(c.condition, look, forced)
            if result is UNKNOWN:
                return UNKNOWN
            return result == c.want
        lo, hi = self.interval(c.ref, lookup, raw=c.raw)
        if c.compare == ">":
            if lo > c.value:
                return True
            return UNKNOWN if hi > c.value else False
        if lo == hi == c.value:
            return True
        if c.value < lo or c.value > hi:
            return False
        return UNKNOWN

    def eval3(self, node: ir.Condition, look, forced: dict[int, bool] | None = None):
        if forced and id(node) in forced:
            return forced[id(node)]
        if isinstance(node, ir.AllOf):
            results = [self.eval3(i, look, forced) for i in node.items]
            if any(r is False for r in results):
                return False
            return True if all(r is True for r in results) else UNKNOWN
        if isinstance(node, ir.AnyOf):
            results = [self.eval3(i, look, forced) for i in node.items]
            if any(r is True for r in results):
                return True
            return False if all(r is False for r in results) else UNKNOWN
        if isinstance(node, ir.Negation):
            r = self.eval3(node.item, look, forced)
            return UNKNOWN if r is UNKNOWN else (not r)
        ref = getattr(node, "left", None) or getattr(node, "ref", None)
        if ref.name in self.scores:
            lo, hi = self.interval(ref, look)
            return _compare_interval(node, lo, hi)
        x = look(ref.name)
        if x is UNKNOWN:
            return UNKNOWN
        if ref.name in self.events:
            x = x or 0
            if isinstance(node, ir.Truthy):
                return x >= 1
        prop = self.properties.get(ref.name)
        if prop is not None and prop.type == "datetime" and hasattr(x, "date"):
            x = x.date()
        if isinstance(node, ir.Truthy):
            return x is True
        if isinstance(node, ir.Presence):
            has = x is not None
            return (not has) if node.negated else has
        if x is None:
            return False
        if isinstance(node, ir.Membership):
            options = [v.value for v in node.values if hasattr(v, "value")]
            return (x not in options) if node.negated else (x in options)
        if isinstance(node, ir.Comparison):
            right = getattr(node.right, "value", None)
            try:
                return _OPS[node.op](x, right)
            except TypeError:
                return False
        return False

    def interval(self, ref: ir.Ref, look, raw: bool = False) -> tuple[float, float]:
        """Lowest and highest value a score (or group, or event count) can still take."""
        if ref.name in self.events:
            x = look(ref.name)
            if x is UNKNOWN:
                return 0, float("inf")
            return x or 0, x or 0
        model = self.scores.get(ref.name)
        lo_total = hi_total = 0
        for group in model.groups:
            if ref.member is not None and group.id != ref.member:
                continue
            lo = hi = 0
            for rule in group.rules:
                r = self.eval3(rule.condition, look)
                if r is True:
                    lo += rule.points
                    hi += rule.points
                elif r is UNKNOWN:
                    lo += min(0, rule.points)
                    hi += max(0, rule.points)
            if group.cap is not None and not raw:
                lo, hi = min(lo, group.cap.value), min(hi, group.cap.value)
            lo_total += lo
            hi_total += hi
        return lo_total, hi_total


_OPS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


def _compare_interval(node, lo, hi):
    if isinstance(node, ir.Truthy):
        return True if lo >= 1 else (False if hi < 1 else UNKNOWN)
    if isinstance(node, ir.Presence):
        return not node.negated
    if isinstance(node, ir.Membership):
        options = [v.value for v in node.values if hasattr(v, "value")]
        if lo == hi:
            return (lo not in options) if node.negated else (lo in options)
        return UNKNOWN
    if not isinstance(node, ir.Comparison):
        return False
    v = getattr(node.right, "value", None)
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    op = node.op
    if op == ">=":
        return True if lo >= v else (False if hi < v else UNKNOWN)
    if op == ">":
        return True if lo > v else (False if hi <= v else UNKNOWN)
    if op == "<=":
        return True if hi <= v else (False if lo > v else UNKNOWN)
    if op == "<":
        return True if hi < v else (False if lo >= v else UNKNOWN)
    if op == "==":
        if lo == hi == v:
            return True
        return False if v < lo or v > hi else UNKNOWN
    if lo == hi:
        return lo != v
    return True if v < lo or v > hi else UNKNOWN


def _property_domain(prop: ir.Property, constants: list[Any]) -> list[Any]:
    values: list[Any] = [None]
    if prop.type == "bool":
        values += [True, False]
    elif prop.type == "enum":
        values += [o.value for o in prop.options]
    elif prop.type == "number":
        numbers = set()
        for c in constants:
            if isinstance(c, (int, float)) and not isinstance(c, bool):
                numbers |= {shift(c, -1), c, shift(c, 1)}
        values += sorted(numbers) or [1]
    elif prop.type in ("date", "datetime"):
        days = set()
        for c in constants:
            if isinstance(c, date):
                days |= {c - timedelta(days=1), c, c + timedelta(days=1)}
        values += sorted(days)
    else:
        texts = [c for c in constants if isinstance(c, str)]
        values += list(dict.fromkeys(texts)) + ["fixture"]
    return values


def _leaves(condition: ir.Condition):
    stack = [condition]
    while stack:
        node = stack.pop()
        if isinstance(node, (ir.AllOf, ir.AnyOf)):
            stack.extend(reversed(node.items))
        elif isinstance(node, ir.Negation):
            stack.append(node.item)
        else:
            yield node


def leaves(condition: ir.Condition) -> list[ir.Condition]:
    return list(_leaves(condition))


def _all_conditions(policy: ir.Policy):
    for model in policy.scores:
        for group in model.groups:
            for rule in group.rules:
                yield rule.condition
    for stage in policy.stages:
        for t in stage.transitions:
            if t.condition is not None:
                yield t.condition
    for priority in policy.priorities:
        if priority.condition is not None:
            yield priority.condition
