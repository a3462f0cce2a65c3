"""Conditions and thresholds: how to show them, and whether a change makes them easier to meet.

`ease` answers +1 (the new condition holds for more leads), -1 (for fewer), 0 (same meaning
as written) or None (cannot tell: the change is reported as neutral). It is exact for the
changes reviewers actually make — a threshold moves, a value joins or leaves a list, a clause
is added to or dropped from an `and`/`or` — and says None otherwise, never guessing.
"""

from __future__ import annotations

import json
from typing import Callable

from .. import ir
from ..irjson import to_json_value

LOWER_BOUNDS = (">=", ">")
UPPER_BOUNDS = ("<=", "<")


def key(node) -> str:
    """A position-free, comparable form of any IR node."""
    return json.dumps(to_json_value(node, spans=False), sort_keys=True, ensure_ascii=False)


def same(a, b) -> bool:
    return key(a) == key(b)


# ---------------------------------------------------------------------- ease of a change


def combine(directions: list[int | None]) -> int | None:
    """All children changed the same way (or not at all) → that way; otherwise unknown."""
    if any(d is None for d in directions):
        return None
    moved = {d for d in directions if d}
    if not moved:
        return 0
    return moved.pop() if len(moved) == 1 else None


def numeric(value: ir.Value) -> tuple[str, float] | None:
    if isinstance(value, (ir.Number, ir.Percent)):
        return value.KIND, float(value.value)
    if isinstance(value, ir.Duration):
        minutes = value.minutes
        if minutes is None:  # business units: compare like with like only
            return f"duration:{value.unit}", float(value.amount)
        return "duration", float(minutes)
    if isinstance(value, ir.DateValue):
        return "date", float(value.value.toordinal())
    return None


def bound_ease(old_op: str, old_value: ir.Value, new_op: str, new_value: ir.Value) -> int | None:
    """`x OLD_OP OLD_VALUE` → `x NEW_OP NEW_VALUE`: does it hold for more (+1) or fewer (-1) x?"""
    a, b = numeric(old_value), numeric(new_value)
    if a is None or b is None or a[0] != b[0]:
        return 0 if (old_op == new_op and ir.value_source(old_value) == ir.value_source(new_value)) else None
    if old_op in LOWER_BOUNDS and new_op in LOWER_BOUNDS:
        old_bound, new_bound = (a[1], old_op == ">"), (b[1], new_op == ">")
        return 0 if old_bound == new_bound else (1 if new_bound < old_bound else -1)
    if old_op in UPPER_BOUNDS and new_op in UPPER_BOUNDS:
        # a higher upper bound admits more; at the same value `<=` admits more than `<`
        old_bound, new_bound = (a[1], old_op == "<="), (b[1], new_op == "<=")
        return 0 if old_bound == new_bound else (1 if new_bound > old_bound else -1)
    if old_op == new_op and a[1] == b[1]:
        return 0
    return None


def ease(old: ir.Condition | None, new: ir.Condition | None) -> int | None:
    if old is None and new is None:
        return 0
    if old is None or new is None:
        return None
    if same(old, new):
        return 0
    as_sets = _as_set(old), _as_set(new)
    if as_sets[0] and as_sets[1] and type(old) is not type(new):
        (ref_a, neg_a, before), (ref_b, neg_b, after) = as_sets
        if ref_a != ref_b or neg_a != neg_b:
            return None
        direction = 0 if before == after else (1 if after > before else (-1 if after < before else None))
        return -direction if (direction is not None and neg_a) else direction
    if type(old) is type(new):
        if isinstance(old, ir.Comparison):
            if old.left.text != new.left.text:
                return None
            return bound_ease(old.op, old.right, new.op, new.right)
        if isinstance(old, ir.Membership):
            if old.left.text != new.left.text or old.negated != new.negated:
                return None
            before = {key(v) for v in old.values}
            after = {key(v) for v in new.values}
            direction = 0 if before == after else (1 if after > before else (-1 if after < before else None))
            return -direction if (direction is not None and old.negated) else direction
        if isinstance(old, ir.Negation):
            inner = ease(old.item, new.item)
            return -inner if inner is not None else None
        if isinstance(old, (ir.AllOf, ir.AnyOf)):
            if len(old.items) == len(new.items):
                return combine([ease(a, b) for a, b in zip(old.items, new.items)])
            before = {key(i) for i in old.items}
            after = {key(i) for i in new.items}
            more = 1 if isinstance(old, ir.AnyOf) else -1  # another `or` admits more, another `and` fewer
            if after > before:
                return more
            if after < before:
                return -more
        return None
    if isinstance(new, ir.AllOf) and any(same(i, old) for i in new.items):
        return -1
    if isinstance(old, ir.AllOf) and any(same(i, new) for i in old.items):
        return 1
    if isinstance(new, ir.AnyOf) and any(same(i, old) for i in new.items):
        return 1
    if isinstance(old, ir.AnyOf) and any(same(i, new) for i in old.items):
        return -1
    return None


def _as_set(node) -> tuple[str, bool, frozenset[str]] | None:
    """`x == v` is `x in [v]` and `x != v` is `x not in [v]`, so the two forms compare."""
    if isinstance(node, ir.Membership):
        return node.left.text, node.negated, frozenset(key(v) for v in node.values)
    if isinstance(node, ir.Comparison) and node.op in ("==", "!="):
        return node.left.text, node.op == "!=", frozenset({key(node.right)})
    return None


def polarity(condition: ir.Condition | None, reads: Callable[[ir.Ref], bool]) -> int | None:
    """How the condition responds to a higher value of the quantities `reads` selects.

    +1: a higher value can only make it hold for more leads; -1: for fewer; 0: it does not read
    them; None: both ways or an equality test.
    """
    if condition is None:
        return 0
    if isinstance(condition, ir.Comparison):
        if not reads(condition.left):
            return 0
        return 1 if condition.op in LOWER_BOUNDS else (-1 if condition.op in UPPER_BOUNDS else None)
    if isinstance(condition, ir.Truthy):
        return 1 if reads(condition.ref) else 0
    if isinstance(condition, (ir.Membership, ir.Presence)):
        return None if reads(condition.left) else 0
    if isinstance(condition, ir.Negation):
        inner = polarity(condition.item, reads)
        return -inner if inner else inner
    if isinstance(condition, (ir.AllOf, ir.AnyOf)):
        return combine([polarity(i, reads) for i in condition.items])
    return None
