"""Finding lead data that makes conditions true or false (for generating scenarios).

A small backtracking search over the properties and event counts a set of constraints reads.
Each variable takes its current value first and then candidate values taken from the policy
(every constant a condition compares it with, one step either side, no value, the enum
options …), so the first solution found changes as little as possible. Partial assignments are
evaluated in three values (true, false, unknown) with scores as intervals, which prunes most
of the search. The search is bounded; when it gives up the generator says so. A search made
before (the same shapes of constraints from other clauses, the same starting values of what they
read) is answered from memory, at the cost it had: a policy of thousands of stages written alike
asks a few hundred distinct searches tens of thousands of times.

The solver only proposes data: every scenario is then run through the simulator, which alone
decides what happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from .. import ir
from .model import OPS as _OPS

UNKNOWN = object()
DEFAULT_LIMIT = 50_000
# Constraint evaluations all searches of one Solver (one fixtures build) may make together:
# WORK_BASE plus WORK_PER_ITEM for every transition and every leaf of a condition. A search may
# fail only after DEFAULT_LIMIT nodes, and a score of many rules can make every one of hundreds
# of searches fail that way (minutes for a policy of 1.5 KB); the budget ends that with a
# diagnostic (SLA879). The example policies use 15 to 70 evaluations per item, generated
# policies of 10 to 400 stages about 90.
WORK_BASE = 20_000
WORK_PER_ITEM = 2_000
MEMO_LIMIT = 100_000  # entries a cache of evaluated groups or totals keeps before it starts again
FOCUS = 32  # a search over more variables than this first tries the ones nearest the constraints
PER_COUNTS = 12  # the most occurrences of an event tried for a rule that scores per occurrence


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


class Frozen:
    """The variables a search must leave as they are: `names`, and every event and/or property
    but one, without a set of every event (which costs the size of the policy per search)."""

    __slots__ = ("but", "events", "names", "properties")

    def __init__(self, policy: ir.Policy, names: set[str], *, events: bool = False, properties: bool = False,
                 but: str | None = None) -> None:
        self.names = names
        self.events = policy.event_by_id if events else {}
        self.properties = policy.property_by_id if properties else {}
        self.but = but

    def __contains__(self, name: object) -> bool:
        if name in self.names:
            return True
        return name != self.but and (name in self.events or name in self.properties)

    def free(self) -> set[str] | None:
        """The variables a search may change, when only a few are (None: too many to list)."""
        if self.events and self.properties:
            return {self.but} - self.names if self.but is not None else set()
        return None


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
    work_limit: int | None = None  # default: from the size of the policy (WORK_BASE, WORK_PER_ITEM)
    domains: dict[str, list[Any]] = field(default_factory=dict)
    memoize: bool = True  # False: every search is made afresh (the tests compare both ways)
    work: int = field(default=0, init=False)  # constraint evaluations so far
    # when the work budget ran out: the scores (or, without any, the data) the search then read
    exhausted: tuple[str, ...] | None = field(default=None, init=False)
    answers_reused: int = field(default=0, init=False)  # searches answered from an earlier one
    # caches, all keyed by parts of the policy, which does not change
    _reads: dict[tuple, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False)
    _refs_of: dict[int, tuple[ir.Condition, list[ir.Ref]]] = field(default_factory=dict, init=False, repr=False)
    _reachable_values: dict[tuple, set[float] | None] = field(default_factory=dict, init=False, repr=False)
    _groups_by_data: dict[str, dict[str, list[ir.ScoreGroup]]] = field(default_factory=dict, init=False, repr=False)
    _group_data: dict[int, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False)
    _group_memo: dict[tuple, tuple[float, float]] = field(default_factory=dict, init=False, repr=False)
    _base_totals: dict[tuple, tuple[float, float]] = field(default_factory=dict, init=False, repr=False)
    _empty_totals: dict[tuple, tuple[float, float, dict]] = field(default_factory=dict, init=False, repr=False)
    _read_sets: dict[tuple, frozenset[str]] = field(default_factory=dict, init=False, repr=False)
    _reachable_sorted: dict[tuple, list[float] | None] = field(default_factory=dict, init=False, repr=False)
    _frame: _Frame | None = field(default=None, init=False, repr=False)  # the search under way
    # the answers of searches made (see `_search_key`), by what they depend on: the shapes of
    # the constraints, not the clauses they come from (a large policy asks the same few dozen
    # searches thousands of times, once per stage written alike)
    _answers: dict[tuple, tuple[tuple | None, int]] = field(default_factory=dict, init=False, repr=False)
    _shapes: dict[int, tuple[ir.Condition, int]] = field(default_factory=dict, init=False, repr=False)
    _shape_numbers: dict[tuple, int] = field(default_factory=dict, init=False, repr=False)
    _next_shape: int = field(default=0, init=False, repr=False)
    _key_reads: dict[tuple, frozenset[str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.work_limit is None:
            items = sum(len(stage.transitions) for stage in self.policy.stages) + sum(
                sum(1 for _ in ir.condition_leaves(condition)) for condition, _ in self.policy.conditions())
            self.work_limit = WORK_BASE + WORK_PER_ITEM * items
        self.properties = self.policy.property_by_id
        self.events = self.policy.event_by_id
        self.scores = self.policy.score_by_id
        constants: dict[str, list[Any]] = {}
        for condition, _ in self.policy.conditions():
            for leaf in ir.condition_leaves(condition):
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
        per_counts: dict[str, set[int]] = {}
        for model in self.policy.scores:
            for group in model.groups:
                for rule in group.rules:
                    if rule.per is not None and rule.points:
                        # points per occurrence: every count up to where the rule's `max` stops it
                        most = -(-rule.cap.value // abs(rule.points)) if rule.cap is not None else PER_COUNTS
                        per_counts.setdefault(rule.per.name, set()).update(range(1, min(most, PER_COUNTS) + 1))
        for event in self.policy.events:
            counts = {1} | per_counts.get(event.id, set())
            for c in constants.get(event.id, []):
                if isinstance(c, (int, float)) and not isinstance(c, bool):
                    base = int(c)
                    counts |= {max(base - 1, 0), base, base + 1}
            self.domains[event.id] = sorted(counts)

    # ------------------------------------------------------------------ reading
    def reads(self, constraints: list[Constraint]) -> list[str]:
        """Variables the constraints depend on, in first-use order."""
        out: dict[str, None] = {}
        for c in constraints:
            refs = self._constraint_refs(c)
            for ref in refs:
                out.update(dict.fromkeys(self._ref_reads(ref)))
        return list(out)

    def _constraint_refs(self, c: Constraint) -> list[ir.Ref] | tuple[ir.Ref, ...]:
        """The references a constraint reads, remembered by condition (a search asks for them
        at every step: one in five calls of `ir.condition_refs` of a 1,000-stage build)."""
        if not isinstance(c, Holds):
            return (c.ref,)
        condition = c.condition
        found = self._refs_of.get(id(condition))
        if found is None or found[0] is not condition:  # (the condition is kept: its id stays its own)
            if len(self._refs_of) > MEMO_LIMIT:  # conditions made for one search do not pile up
                self._refs_of.clear()
            found = self._refs_of[id(condition)] = (condition, ir.condition_refs(condition))
        return found[1]

    def _ref_reads(self, ref: ir.Ref) -> tuple[str, ...]:
        """The properties and events a reference reads: itself, or a score's (group's) rules' data."""
        key = (ref.name, ref.member)
        cache = self._reads
        if key not in cache:
            model = self.scores.get(ref.name)
            if model is None:
                cache[key] = (ref.name,)
            else:
                cache[key] = ()  # a score reading itself (an error the checks report) ends here
                out: dict[str, None] = {}
                for group in model.groups:
                    if ref.member is not None and ref.member != group.id:
                        continue
                    for rule in group.rules:
                        for inner in ir.condition_refs(rule.condition):
                            out.update(dict.fromkeys(self._ref_reads(inner)))
                cache[key] = tuple(out)
        return cache[key]

    def _read_by(self, constraints: list[Constraint], name: str) -> bool:
        """Whether the constraints read `name` (directly or through a score)."""
        cache = self._read_sets
        for c in constraints:
            for ref in self._constraint_refs(c):
                key = (ref.name, ref.member)
                if key not in cache:
                    cache[key] = frozenset(self._ref_reads(ref))
                if name in cache[key]:
                    return True
        return False

    def _reads_more_than(self, constraints: list[Constraint], limit: int) -> bool:
        """Whether the constraints read more than `limit` variables (without listing every
        variable a score of thousands of rules reads)."""
        seen: set[str] = set()
        for c in constraints:
            for ref in self._constraint_refs(c):
                names = self._ref_reads(ref)
                if len(names) > limit:
                    return True
                seen.update(names)
                if len(seen) > limit:
                    return True
        return False

    # ------------------------------------------------------------------ search
    def focus(self, constraints: list[Constraint]) -> list[str] | None:
        """For constraints reading more than FOCUS variables (through a score of many rules):
        the data they read directly and through score groups they name, then the whole scores'
        data in rule order up to FOCUS variables. None when they read FOCUS variables or fewer.

        A search over every rule of a large score costs the square of its size, and any few of
        its rules can usually move it; only when they cannot does the search widen."""
        if not self._reads_more_than(constraints, FOCUS):
            return None
        out: dict[str, None] = {}
        wide: list[ir.Ref] = []
        for c in constraints:
            for ref in self._constraint_refs(c):
                if ref.name in self.scores and ref.member is None:
                    wide.append(ref)
                else:
                    out.update(dict.fromkeys(self._ref_reads(ref)))
        for ref in wide:
            for name in self._ref_reads(ref):
                if len(out) >= FOCUS:
                    break
                out[name] = None
        return list(out)

    def solve(self, base: dict[str, Any], constraints: list[Constraint], *, variables: list[str] | None = None,
              frozen: set[str] = frozenset(), prefer: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Values (a copy of `base` with some variables changed) meeting every constraint, or None."""
        found = self._found(base, constraints, variables, frozen, prefer)
        return None if found is None else _applied(base, found, self.events)

    def change(self, before: dict[str, Any], constraints: list[Constraint], fixed: dict[str, Any],
               soft: list[Constraint] | None = None) -> dict[str, Any] | None:
        """New lead data (`before` with `fixed`, changed) meeting `constraints`, and `soft` too if
        possible: changing properties only if possible, else one event, else both."""
        base = {**before, **fixed}
        if self.exhausted is not None:
            return None
        key = None
        if self.memoize:
            parts, soft_parts = self._parts(constraints), self._parts(soft or [])
            if parts is not None and soft_parts is not None:
                key = self._key((parts, soft_parts, frozenset(fixed)), parts + soft_parts, base,
                                constraints + (soft or []), ())
        found = self._remembered(key, base, lambda: self._change(base, constraints, set(fixed), soft))
        return None if found is None else _applied(base, found, self.events)

    def _change(self, base: dict[str, Any], constraints: list[Constraint], frozen: set[str],
                soft: list[Constraint] | None) -> tuple | None:
        events = self.events
        # one event at a time: the events the search would try first (all, for a small policy)
        reads = self.focus(constraints + (soft or [])) or self.reads(constraints + (soft or []))
        attempts: list[Any] = [Frozen(self.policy, frozen, events=True)]
        attempts += [Frozen(self.policy, frozen, events=True, properties=True, but=e) for e in reads if e in events]
        attempts.append(frozen)
        for extra in ((soft or []), []) if soft else ([],):
            for frozen_set in attempts:
                found = self._found(base, constraints + extra, None, frozen_set, None)
                if found is not None:
                    return found
        return None

    def _found(self, base: dict[str, Any], constraints: list[Constraint], variables: list[str] | None,
               frozen: set[str], prefer: dict[str, Any] | None) -> tuple | None:
        """`solve`'s changes: the variables changed and their new values, in the order searched."""
        if self.exhausted is not None:
            return None
        key = self._search_key(base, constraints, variables, frozen, prefer) if self.memoize else None
        return self._remembered(key, base, lambda: self._search(base, constraints, variables, frozen, prefer))

    def _remembered(self, key: tuple | None, base: dict[str, Any], search) -> tuple | None:
        """The answer of `search()`, from memory when the same search was made before and its cost
        fits in what is left of the work budget (it would not have run out), which it then uses."""
        if key is not None:
            known = self._answers.get(key)
            if known is not None and self.work + known[1] <= self.work_limit:
                self.work += known[1]
                self.answers_reused += 1
                return known[0]
        work = self.work
        found = search()
        if key is not None and self.exhausted is None:
            if len(self._answers) > MEMO_LIMIT:
                self._answers.clear()
            self._answers[key] = (found, self.work - work)
        return found

    def _search(self, base: dict[str, Any], constraints: list[Constraint], variables: list[str] | None,
                frozen: set[str], prefer: dict[str, Any] | None) -> tuple | None:
        """The variables to change and their new values, in the order searched, or None."""
        if variables is None:
            focused = self.focus(constraints)
            if focused is not None:
                found = self._solve(base, constraints, focused, frozen, prefer)
                if found is not None:
                    return found
                free = frozen.free() if isinstance(frozen, Frozen) else None
                if free is not None and all(v in focused or not self._read_by(constraints, v) for v in free):
                    return None  # the whole search could change nothing the focused one did not
            variables = self.reads(constraints)
        return self._solve(base, constraints, variables, frozen, prefer)

    def _solve(self, base: dict[str, Any], constraints: list[Constraint], variables: list[str],
               frozen: set[str], prefer: dict[str, Any] | None) -> tuple | None:
        if self.exhausted is not None:
            return None
        names = [v for v in variables if v not in frozen and (v in self.properties or v in self.events)]
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

        # settled[i]: every variable from i on is first tried at its current value, so the
        # leftmost solution below a node, the one a depth-first search would find first, keeps
        # them as they are: when that completion meets the constraints, it is the answer (this
        # saves descending through every variable of a large score to find it).
        settled = [True] * (len(names) + 1)
        for i in range(len(names) - 1, -1, -1):
            first, current = domains[i][0], base.get(names[i], 0 if names[i] in self.events else None)
            settled[i] = settled[i + 1] and first == current and type(first) is type(current)
        unknown = set(names)
        nothing: set[str] = set()

        cost = max(len(constraints), 1)

        def check(open_: set[str]) -> Any:
            """False if a constraint fails, True if all hold whatever the open variables are, else UNKNOWN."""
            self.work += cost
            outcome: Any = True
            for c in constraints:
                result = self._eval_constraint(c, base, assignment, open_)
                if result is UNKNOWN:
                    outcome = UNKNOWN
                elif not result:
                    return False
            return outcome

        def search(i: int) -> bool:
            budget[0] -= 1
            if budget[0] < 0:
                return False
            if self.work > self.work_limit:
                if self.exhausted is None:
                    self.exhausted = self._culprits(constraints)
                return False
            if i == len(names):
                return check(nothing) is True
            for value in domains[i]:
                assignment[names[i]] = value
                result = check(unknown)
                if result is not False and settled[i + 1] and (result is True or check(nothing) is True):
                    return True
                if result is not False and search(i + 1):
                    return True
            del assignment[names[i]]
            return False

        dynamic = set(names)
        for c in constraints:
            if isinstance(c, Holds):
                dynamic.update(name for name, _ in c.overrides)
        self._frame = _Frame(self, base, dynamic)
        try:
            first = check(unknown)
            if first is False or not ((settled[0] and (first is True or check(nothing) is True)) or search(0)):
                return None
        finally:
            self._frame = None
            # `search` calls itself through its closure: a reference cycle per solve, which only
            # the cyclic collector would free (tens of thousands of solves per large policy)
            search = None
        return tuple(assignment.items())

    def _search_key(self, base: dict[str, Any], constraints: list[Constraint], variables: list[str] | None,
                    frozen: set[str], prefer: dict[str, Any] | None) -> tuple | None:
        """What a search's answer depends on: the constraints' shapes (not which clause they come
        from), the variables it may change, the starting values of everything the constraints
        read and of the variables given, and the preferred values. None when a value cannot be
        part of a key."""
        parts = self._parts(constraints)
        if parts is None:
            return None
        if isinstance(frozen, Frozen):
            held: Any = (frozenset(frozen.names), bool(frozen.events), bool(frozen.properties), frozen.but)
        else:
            held = frozenset(frozen)
        preferred = tuple((n, v, type(v)) for n, v in prefer.items()) if prefer else ()
        given = tuple(variables) if variables is not None else None
        return self._key((parts, given, held, preferred), parts, base, constraints, given or ())

    def _key(self, what: tuple, shapes: tuple, base: dict[str, Any], constraints: list[Constraint],
             given: tuple) -> tuple | None:
        """`what` with the starting values of everything `constraints` read (the variables a search
        chooses are among them) and of the variables `given`, in the order of `base` (a score's
        total is added up in that order); None when a value cannot be part of a key. `shapes`:
        `_parts(constraints)`, by which what they read is remembered (all of them: `change`'s soft
        constraints read more than its hard ones, which a search alone has the same parts as)."""
        read = self._key_reads.get(shapes)
        if read is None:
            names_read: set[str] = set()
            for c in constraints:
                for ref in self._constraint_refs(c):
                    names_read.update(self._ref_reads(ref))
            if len(self._key_reads) > MEMO_LIMIT:
                self._key_reads.clear()
            read = self._key_reads[shapes] = frozenset(names_read)
        if given:
            also = set(given)
            start = tuple((n, v, type(v)) for n, v in base.items() if n in read or n in also)
        else:
            start = tuple((n, v, type(v)) for n, v in base.items() if n in read)
        key = (what, start)
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def _parts(self, constraints: list[Constraint]) -> tuple | None:
        """The constraints by their shapes (None: one forces a node found twice or not at all)."""
        parts = []
        for c in constraints:
            if isinstance(c, Holds):
                forced = ()
                if c.forced:  # by the node's place in the condition (in depth-first order)
                    nodes = _nodes(c.condition)
                    place = {id(node): n for n, node in enumerate(nodes)}
                    if len(place) < len(nodes) or any(i not in place for i, _ in c.forced):
                        return None  # (a node in two places: forcing it forces both)
                    forced = tuple((place[i], v, type(v)) for i, v in c.forced)
                overrides = tuple((n, v, type(v)) for n, v in c.overrides) if c.overrides else ()
                parts.append((self._shape(c.condition), c.want, overrides, forced))
            else:
                parts.append((c.ref.name, c.ref.member, c.value, type(c.value), c.raw, c.compare))
        return tuple(parts)

    def _shape(self, condition: ir.Condition) -> int:
        """A number standing for a condition's shape: its structure, names and constants, not
        where it is written (conditions written alike get the same number)."""
        found = self._shapes.get(id(condition))
        if found is None or found[0] is not condition:
            if len(self._shapes) > MEMO_LIMIT:
                self._shapes.clear()
            shape = _shape_of(condition)
            number = self._shape_numbers.get(shape)
            if number is None:
                # numbers are never given twice, so a remembered answer cannot be taken for
                # another shape's (should this table ever be cleared, shapes get new numbers)
                if len(self._shape_numbers) > MEMO_LIMIT:
                    self._shape_numbers.clear()
                number = self._shape_numbers[shape] = self._next_shape
                self._next_shape += 1
            found = self._shapes[id(condition)] = (condition, number)
        return found[1]

    def _culprits(self, constraints: list[Constraint]) -> tuple[str, ...]:
        """What made a search expensive: the scores its constraints read, else their data."""
        scores: dict[str, None] = {}
        for c in constraints:
            for ref in self._constraint_refs(c):
                if ref.name in self.scores:
                    scores[ref.name] = None
        return tuple(scores) or tuple(self.reads(constraints)[:5])

    # ------------------------------------------------------------------ which scores exist at all
    def reachable(self, ref: ir.Ref, raw: bool = False) -> set[float] | None:
        """Every value a score (or group) can take over the candidate data, or None if too many to list.

        Rules are grouped into clusters of the data they read; each cluster is enumerated on its
        own and the clusters' points are added up group by group. Used to skip impossible targets
        (a score of 49 when every rule is worth a multiple of 5) without searching.
        """
        key = (ref.name, ref.member, raw)
        cache = self._reachable_values
        if key in cache:
            return cache[key]
        model = self.scores.get(ref.name)
        result = None if model is None else self._reachable(model, ref.member, raw)
        cache[key] = result
        return result

    def reachable_sorted(self, ref: ir.Ref) -> list[float] | None:
        """`reachable(ref)` in increasing order (worked out once)."""
        key = (ref.name, ref.member)
        if key not in self._reachable_sorted:
            values = self.reachable(ref)
            self._reachable_sorted[key] = sorted(values) if values is not None else None
        return self._reachable_sorted[key]

    def _reachable(self, model: ir.ScoreModel, member: str | None, raw: bool) -> set[float] | None:
        from itertools import product

        groups = list(model.groups)
        rules = [(gi, rule) for gi, g in enumerate(groups) for rule in g.rules
                 if member is None or g.id == member]
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.setdefault(x, x) != x:
                x = parent[x]
            return x

        def union(a: str, b: str) -> None:
            parent[find(b)] = find(a)

        rule_vars = []
        for _, rule in rules:
            names = [r.name for r in ir.condition_refs(rule.condition)]
            if any(n in self.scores for n in names):
                return None
            rule_vars.append(names)
            for n in names[1:]:
                union(names[0], n)
            for n in names:
                find(n)
        # Clusters: rules reading shared data, enumerated together over the candidate values.
        clusters: dict[str, list[int]] = {}
        for i, names in enumerate(rule_vars):
            root = find(names[0]) if names else f"#{i}"
            clusters.setdefault(root, []).append(i)
        # Blocks: clusters sharing a group, whose points must be added up before the group's cap.
        # Different blocks are independent, so their capped totals are simply added.
        for root, members in clusters.items():
            for i in members:
                union(f"group {rules[i][0]}", root)
        blocks: dict[str, list[str]] = {}
        for root in clusters:
            blocks.setdefault(find(root), []).append(root)
        out: set[float] = {0}
        for block in sorted(blocks.values()):
            block_groups = sorted({rules[i][0] for root in block for i in clusters[root]})
            position = {gi: k for k, gi in enumerate(block_groups)}
            vectors: set[tuple] = {tuple(0 for _ in block_groups)}
            for root in sorted(block):
                members = clusters[root]
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
                    vector = [0] * len(block_groups)
                    for i in members:
                        gi, rule = rules[i]
                        if self.eval3(rule.condition, lambda n, v=values: v.get(n, 0 if n in self.events else None)) is True:
                            vector[position[gi]] += (rule.points if rule.per is None
                                                     else rule.points_for(values.get(rule.per.name) or 0))
                    sums.add(tuple(vector))
                vectors = {tuple(a + b for a, b in zip(t, s)) for t in vectors for s in sums}
                if len(vectors) > 200_000:
                    return None
            totals = set()
            for vector in vectors:
                total = 0
                for gi, points in zip(block_groups, vector):
                    cap = groups[gi].cap
                    total += min(points, cap.value) if cap is not None and not raw else points
                totals.add(total)
            out = {a + b for a in out for b in totals}
            if len(out) > 200_000:
                return None
        return out

    # ------------------------------------------------------------------ three-valued evaluation
    def _eval_constraint(self, c: Constraint, base, assignment, names):
        events = self.events

        def lookup(name: str):
            if name in assignment:
                return assignment[name]
            if name in names:
                return UNKNOWN
            return base.get(name, 0 if name in events else None)

        if isinstance(c, Holds):
            forced = dict(c.forced) if c.forced else None
            if c.overrides:
                overrides = dict(c.overrides)

                def look(name: str):
                    if name in overrides:
                        return overrides[name]
                    return lookup(name)
            else:
                look = lookup

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
        if self._frame is not None:
            return self._frame.interval(model, ref.member, raw, look)
        return self._total(model, ref.member, raw, look)

    def _total(self, model: ir.ScoreModel, member: str | None, raw: bool, look) -> tuple[float, float]:
        """A score's (or one group's) lowest and highest points, each group capped unless raw."""
        lo = hi = 0
        for group in model.groups:
            if member is None or group.id == member:
                glo, ghi = self._capped_interval(group, look, raw)
                lo, hi = lo + glo, hi + ghi
        return lo, hi

    def _total_on(self, model: ir.ScoreModel, member: str | None, raw: bool, data: dict[str, Any],
                  look) -> tuple[float, float]:
        """`_total` on a lead's data (`look` reads `data`), worked out sparsely: a group reading
        none of the names the data holds has its value on no data, summed once per score; only
        the groups reading a name the data holds (or a score) are evaluated."""
        key = (model.id, member, raw)
        empty = self._empty_totals.get(key)
        if empty is None:
            events = self.events

            def nothing(name: str) -> Any:
                return 0 if name in events else None

            lo, hi = self._total(model, member, raw, nothing)
            each = {id(g): self._capped_interval(g, nothing, raw) for g in model.groups
                    if member is None or g.id == member}
            empty = self._empty_totals[key] = (lo, hi, each)
        lo, hi, each = empty
        index = self._groups_reading(model)
        touched: dict[int, ir.ScoreGroup] = {}
        for name in (*data, "*"):
            for group in index.get(name, ()):
                if member is None or group.id == member:
                    touched[id(group)] = group
        for gid, group in touched.items():
            dlo, dhi = each[gid]
            glo, ghi = self._capped_interval(group, look, raw)
            lo, hi = lo - dlo + glo, hi - dhi + ghi
        return lo, hi

    def _groups_reading(self, model: ir.ScoreModel) -> dict[str, list[ir.ScoreGroup]]:
        """A score's groups by the properties and events their rules read ("*": groups reading a score)."""
        cache = self._groups_by_data
        if model.id not in cache:
            index: dict[str, list[ir.ScoreGroup]] = {}
            for group in model.groups:
                for rule in group.rules:
                    for ref in ir.condition_refs(rule.condition):
                        name = "*" if ref.name in self.scores else ref.name
                        bucket = index.setdefault(name, [])
                        if not bucket or bucket[-1] is not group:
                            bucket.append(group)
            cache[model.id] = index
        return cache[model.id]

    def _capped_interval(self, group: ir.ScoreGroup, look, raw: bool) -> tuple[float, float]:
        lo, hi = self._group_interval(group, look)
        cap = group.cap
        if cap is not None and not raw:
            cap = cap.value
            return min(lo, cap), min(hi, cap)
        return lo, hi

    def _group_interval(self, group: ir.ScoreGroup, look) -> tuple[float, float]:
        """A group's points before its cap, remembered by the values of the data its rules read
        (a score of many groups is evaluated over and over while only a few of them change)."""
        memo = self._group_memo
        gid = id(group)
        names = self._group_data.get(gid)
        if names is None:
            refs = [r.name for rule in group.rules for r in ir.condition_refs(rule.condition)]
            names = self._group_data[gid] = () if any(n in self.scores for n in refs) else tuple(dict.fromkeys(refs))
        key = None
        if names or not group.rules:
            values = tuple(map(look, names))
            key = (gid, values, tuple(map(type, values)))  # the types too: 1, 1.0 and True are equal
            try:
                found = memo.get(key)
            except TypeError:  # an unhashable value: evaluate without the memo
                key, found = None, None
            if found is not None:
                return found
        lo = hi = 0
        for rule in group.rules:
            if rule.per is not None:  # points per occurrence of an event
                count = look(rule.per.name)
                if count is UNKNOWN:
                    lo += rule.lowest
                    hi += rule.highest
                else:
                    points = rule.points_for(count or 0)
                    lo += points
                    hi += points
                continue
            r = self.eval3(rule.condition, look)
            if r is True:
                lo += rule.points
                hi += rule.points
            elif r is UNKNOWN:
                lo += min(0, rule.points)
                hi += max(0, rule.points)
        if key is not None:
            if len(memo) > MEMO_LIMIT:
                memo.clear()
            memo[key] = (lo, hi)
        return lo, hi


class _Frame:
    """One search: its starting data and the variables it may change (searched or overridden).

    A score's interval is its total on the starting data, with only the groups reading a
    variable that may change evaluated again at each step, so a step costs the size of those
    groups, not of the whole score. Totals on the same starting data are shared by searches.
    """

    def __init__(self, solver: Solver, base: dict[str, Any], dynamic: set[str]) -> None:
        self.solver = solver
        self.base = base
        self.dynamic = dynamic
        self.entries: dict[tuple, tuple[float, float, list[ir.ScoreGroup]]] = {}
        try:
            self.key: Any = frozenset(base.items())
            hash(self.key)
        except TypeError:
            self.key = None
        events = solver.events

        def base_look(name: str) -> Any:
            return base.get(name, 0 if name in events else None)

        self.base_look = base_look

    def interval(self, model: ir.ScoreModel, member: str | None, raw: bool, look) -> tuple[float, float]:
        solver = self.solver
        entry = self.entries.get((model.id, member, raw))
        if entry is None:
            lo, hi = self._base_total(model, member, raw)
            index = solver._groups_reading(model)
            changing: dict[int, ir.ScoreGroup] = {}
            for name in (*self.dynamic, "*"):
                for group in index.get(name, ()):
                    if member is None or group.id == member:
                        changing[id(group)] = group
            groups = list(changing.values())
            for group in groups:
                glo, ghi = solver._capped_interval(group, self.base_look, raw)
                lo, hi = lo - glo, hi - ghi
            entry = self.entries[(model.id, member, raw)] = (lo, hi, groups)
        lo, hi, groups = entry
        capped = solver._capped_interval
        for group in groups:
            glo, ghi = capped(group, look, raw)
            lo, hi = lo + glo, hi + ghi
        return lo, hi

    def _base_total(self, model: ir.ScoreModel, member: str | None, raw: bool) -> tuple[float, float]:
        if self.key is None:
            return self.solver._total_on(model, member, raw, self.base, self.base_look)
        totals = self.solver._base_totals
        key = (self.key, model.id, member, raw)
        if key not in totals:
            if len(totals) > MEMO_LIMIT:
                totals.clear()
            totals[key] = self.solver._total_on(model, member, raw, self.base, self.base_look)
        return totals[key]


def _applied(base: dict[str, Any], assignment: tuple, events: dict) -> dict[str, Any]:
    out = dict(base)
    for name, value in assignment:
        if value is None or (name in events and value == 0):
            out.pop(name, None)
        else:
            out[name] = value
    return out


def _nodes(node: ir.Condition) -> list[ir.Condition]:
    """A condition's nodes, depth first, each before its items."""
    out = []
    stack = [node]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, (ir.AllOf, ir.AnyOf)):
            stack.extend(reversed(node.items))
        elif isinstance(node, ir.Negation):
            stack.append(node.item)
    return out


def _shape_of(node: ir.Condition) -> tuple:
    """Everything of a condition the search reads: each node's kind, names, operators and
    constants (with their types: 1, 1.0 and True are equal in Python), without its span."""
    if isinstance(node, (ir.AllOf, ir.AnyOf)):
        return (type(node).__name__, tuple(_shape_of(item) for item in node.items))
    if isinstance(node, ir.Negation):
        return ("Negation", _shape_of(node.item))
    out: list[Any] = [type(node).__name__]
    for name in node.__dataclass_fields__:
        if name == "span":
            continue
        value = getattr(node, name)
        if isinstance(value, ir.Ref):
            out.append((value.name, value.member))
        elif isinstance(value, tuple):
            out.append(tuple(_value_shape(v) for v in value))
        else:
            out.append(_value_shape(value))
    return tuple(out)


def _value_shape(value: Any) -> Any:
    if isinstance(value, ir.Node):
        return (type(value).__name__, *((getattr(value, f), type(getattr(value, f)))
                                         for f in value.__dataclass_fields__ if f != "span"))
    return (value, type(value))


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


def leaves(condition: ir.Condition) -> list[ir.Condition]:
    return list(ir.condition_leaves(condition))


