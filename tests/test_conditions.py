"""The condition solver behind the scoring proofs (sla_lang/checks/conditions.py).

A Hypothesis test draws random conditions over a number, an enum, a yes/no property and an
event, and compares the solver with a direct evaluation on a grid of values, under both
readings of `!=` / `not in` on an unset property:
- "never true" (OVER) is a proof: no grid point may satisfy the condition;
- a witness (EXACT) must satisfy it under both readings;
- when some grid point with every property set satisfies it, EXACT must find a witness.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_lang import ir
from sla_lang.checks.conditions import EXACT, OVER, ConditionModel, Intervals, Unknown
from sla_lang.compile import compile_text
from sla_lang.config import Config

HEADER = '''agreement "Conditions" {
  version "1"
  effective 2026-01-01
  owner ops
}
team ops {
}
property n "Number" number
property e "Enum" enum ["a", "b", "c"]
property b "Yes/no" bool
event c "Event"
'''

NUMBERS = ["0", "1", "2.5", "5", "10", "-1"]


@st.composite
def leaves(draw):
    kind = draw(st.sampled_from(["n_cmp", "n_in", "set", "e_cmp", "e_in", "b", "b_cmp", "c_cmp", "c"]))
    if kind == "n_cmp":
        return f"n {draw(st.sampled_from(['==', '!=', '>=', '<=', '>', '<']))} {draw(st.sampled_from(NUMBERS))}"
    if kind == "n_in":
        values = draw(st.lists(st.sampled_from(NUMBERS), max_size=3))
        return f"n {draw(st.sampled_from(['in', 'not in']))} [{', '.join(values)}]"
    if kind == "set":
        return f"{draw(st.sampled_from(['n', 'e', 'b']))} is {draw(st.sampled_from(['', 'not ']))}set"
    if kind == "e_cmp":
        return f'e {draw(st.sampled_from(["==", "!="]))} "{draw(st.sampled_from("abc"))}"'
    if kind == "e_in":
        values = draw(st.lists(st.sampled_from("abc"), max_size=3, unique=True))
        return f"e {draw(st.sampled_from(['in', 'not in']))} [{', '.join(f'{chr(34)}{v}{chr(34)}' for v in values)}]"
    if kind == "b":
        return "b"
    if kind == "b_cmp":
        return f"b {draw(st.sampled_from(['==', '!=']))} {draw(st.sampled_from(['true', 'false']))}"
    if kind == "c_cmp":
        return f"c {draw(st.sampled_from(['==', '>=', '<', '>']))} {draw(st.sampled_from(['0', '1', '3']))}"
    return "c"


def conditions(depth: int = 3):
    if depth == 0:
        return leaves()
    sub = conditions(depth - 1)
    return st.one_of(
        leaves(),
        st.builds(lambda a, b: f"({a}) and ({b})", sub, sub),
        st.builds(lambda a, b: f"({a}) or ({b})", sub, sub),
        st.builds(lambda a: f"not ({a})", sub),
    )


def lower(expression: str) -> tuple[ir.Policy, ir.Condition]:
    text = HEADER + f'stage s {{\n  owner ops\n  entry\n  -> done when {expression}\n}}\nstage done {{\n  owner ops\n  terminal\n}}\n'
    result = compile_text(text, config=Config(select=("SLA3",)))  # names and types only
    assert result.policy is not None and not result.errors, [d.message for d in result.errors]
    return result.policy, result.policy.stages[0].transitions[0].condition


# ------------------------------------------------------------------ direct evaluation

GRID = {
    "n": [None, -1.5, -1, 0, 0.5, 1, 2, 2.5, 3, 5, 7.5, 10, 11],
    "e": [None, "a", "b", "c"],
    "b": [None, True, False],
    "c": [0, 1, 2, 3, 4],
}


def evaluate(node: ir.Condition, lead: dict, loose: bool) -> bool:
    """`loose`: `!=` and `not in` are true on an unset property; otherwise false."""
    if isinstance(node, ir.AllOf):
        return all(evaluate(i, lead, loose) for i in node.items)
    if isinstance(node, ir.AnyOf):
        return any(evaluate(i, lead, loose) for i in node.items)
    if isinstance(node, ir.Negation):
        return not evaluate(node.item, lead, loose)
    if isinstance(node, ir.Truthy):
        value = lead[node.ref.name]
        return value is True if node.ref.name == "b" else value >= 1
    if isinstance(node, ir.Presence):
        return (lead[node.left.name] is None) == node.negated
    value = lead[node.left.name]
    if isinstance(node, ir.Membership):
        if value is None:
            return loose and node.negated
        return (value in [v.value for v in node.values]) != node.negated
    if value is None:
        return loose and node.op == "!="
    right = node.right.value
    return {"==": value == right, "!=": value != right, ">=": value >= right, "<=": value <= right,
            ">": value > right, "<": value < right}[node.op]


def grid_points():
    keys = list(GRID)
    for values in itertools.product(*(GRID[k] for k in keys)):
        yield dict(zip(keys, values))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions())
def test_solver_agrees_with_direct_evaluation(expression):
    policy, condition = lower(expression)
    model = ConditionModel(policy)
    try:
        possible = model.can_be_true(condition, OVER)
        witness = model.example([(condition, True)], EXACT)
    except Unknown:
        return  # too many cases: the solver says nothing, which is allowed
    satisfying = [(p, loose) for p in grid_points() for loose in (False, True) if evaluate(condition, p, loose)]
    if not possible:
        assert satisfying == [], f"proved never true, but true for {satisfying[0]}"
    if witness is not None:
        lead = {"n": 0, "e": "a", "b": False, "c": 0}
        lead.update({v.key: value for v, value in witness.values})
        for loose in (False, True):
            assert evaluate(condition, lead, loose), f"witness {witness.describe()} fails ({loose=})"
    all_set = [p for p, loose in satisfying if None not in p.values() and not loose]
    if all_set:
        assert witness is not None, f"true for {all_set[0]}, but no witness found"


# ------------------------------------------------------------------ examples worth stating


@pytest.mark.parametrize("expression", [
    "n >= 50 and n < 10",
    'e in []',
    "b and not b",
    "c < 0",
    "n > 5 and n < 6 and n != 5.5 and n in [5, 6]",
    'e == "a" and e == "b"',
])
def test_never_true(expression):
    policy, condition = lower(expression)
    assert not ConditionModel(policy).can_be_true(condition, OVER)


@pytest.mark.parametrize("expression", [
    "n > 5 and n < 6",                 # a real number in between
    'n is not set and not (n >= 3)',   # unset: comparisons are false
    'e not in ["a", "b"]',
    "c >= 1 and c < 2",
])
def test_can_be_true(expression):
    policy, condition = lower(expression)
    assert ConditionModel(policy).can_be_true(condition, OVER)


def test_counts_are_whole_numbers():
    policy, condition = lower("c > 1 and c < 2")
    assert not ConditionModel(policy).can_be_true(condition, OVER)


def test_not_equal_on_an_unset_property_is_left_open():
    policy, condition = lower("n is not set and n != 5")
    model = ConditionModel(policy)
    assert model.can_be_true(condition, OVER)  # could be true: no proof of the contrary
    assert model.example([(condition, True)], EXACT) is None  # but no witness relies on it


def test_witness_reads_like_a_lead():
    policy, condition = lower('e == "b" and n >= 10 and b')
    witness = ConditionModel(policy).example([(condition, True)])
    assert witness.describe() == 'e = "b", n = 10, b = true'


def test_implication():
    policy, first = lower("n >= 100")
    _, second = lower("n >= 50")
    model = ConditionModel(policy)
    assert model.implies(first, second)
    assert not model.implies(second, first)


def test_score_ranges_limit_scores():
    policy, condition = lower("c >= 1")
    model = ConditionModel(policy, {"c": (0, 3)})
    # ranges only apply to scores; an event stays unbounded above
    assert model.can_be_true(lower("c >= 100")[1], OVER)
    assert model.variable(ir.Ref("c", None, condition.span)).domain == Intervals.compare(">=", 0)


def test_interval_set_operations():
    low = Intervals.compare("<", 10)
    high = Intervals.compare(">=", 20)
    union = low.union(high)
    gap = union.complement()
    assert gap == Intervals.of((10, -1), (20, -1))  # [10, 20)
    assert gap.integers().sample(True) == 10
    assert Intervals.compare(">", 2).intersect(Intervals.compare("<", 3)).integers().is_empty()
    assert Intervals.compare("!=", 5).complement() == Intervals.compare("==", 5)


def test_too_many_cases_is_unknown():
    expression = " and ".join(f"(n >= {i} or b or c >= {i})" for i in range(8))  # 3^8 cases
    policy, condition = lower(expression)
    with pytest.raises(Unknown):
        ConditionModel(policy).dnf(condition, OVER)
