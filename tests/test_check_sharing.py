"""What the checks work out once per policy and share (issue 20: 10,000 stages checked in 2 s)
must be what each check would work out alone: the shared tables are compared here with a
fresh computation on the repository's policies, the fixtures and a generated benchmark policy.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sla_lang import ir
from sla_lang.checks import CheckContext
from sla_lang.checks.conditions import EXACT, OVER, ConditionModel, Shapes, Unknown
from sla_lang.checks.liveness import lead_can_wait
from sla_lang.checks.names import _check_leaf, find_incompatible_comparisons, find_undefined_references
from sla_lang.checks.scoring import (
    find_conditions_never_true,
    find_routing_gaps,
    find_thresholds_decreasing_along_funnel,
)
from sla_lang.compile import compile_bytes
from sla_lang.source import Span

REPO = Path(__file__).resolve().parent.parent
SOURCES = sorted((REPO / "policies").glob("*.sla")) + sorted((REPO / "tests" / "fixtures").glob("*/*.sla"))


def _generated(stages: int) -> str:
    spec = importlib.util.spec_from_file_location("bench_generate", REPO / "bench" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_policy(stages, "chain")


# conditions that differ in one thing only (operator, value, its type, sign, order, nesting)
NEAR_MISSES = """
property employees "Employees" number
property region "Region" enum ["east", "west"]
property vip "VIP" bool
property signed "Signed on" date
event visit "Visit"
""" + "".join(f'priority p{i} "P" when {condition}\n' for i, condition in enumerate([
    "employees >= 50", "employees > 50", "employees < 50", "employees >= 50.5", "employees >= 51",
    "employees >= 50 and vip", "employees >= 50 or vip", "vip and employees >= 50", "employees >= 50 and vip",
    "not (employees >= 50 and vip)", "not (employees >= 50 or vip)", "(employees >= 50 and vip) or visit",
    "employees >= 50 and (vip or visit)", "vip", "not vip", "vip == true", "vip == false", "vip != true",
    'region in ["east"]', 'region not in ["east"]', 'region in ["east", "west"]', 'region in ["west", "east"]',
    'region == "east"', 'region != "east"', 'region == "west"', "region is set", "region is not set",
    "visit", "visit >= 1", "visit >= 1.0", "signed >= 2026-01-01", "signed >= 2026-01-02", "signed < 2026-01-01",
]))


_WIDE = " or ".join(f"employees == {n}" for n in range(65))  # more comparisons than lead_can_wait decides
# stages whose transitions cover every lead or not, each routing written twice (the second
# answer is the one remembered for the first)
ROUTINGS = """
property employees "Employees" number
property vip "VIP" bool
stage done "Done" {
  terminal
}
""" + "".join(f'stage {name}{copy} "S" {{\n{body}}}\n' for copy in ("", "_again") for name, body in [
    ("covered", "  -> done when vip\n  -> done when not vip\n"),
    ("gap", "  -> done when vip\n"),
    ("covered_but_wide", f"  -> done when {_WIDE}\n  -> done when not ({_WIDE})\n"),
    ("unconditional", "  -> done\n"),
    ("timeout_only", "  -> done after 3d\n"),
    ("timeout_and_cover", "  -> done when vip after 1d\n  -> done when not vip\n"),
])
CAN_WAIT = {"covered": False, "gap": True, "covered_but_wide": True, "unconditional": False, "timeout_only": True,
            "timeout_and_cover": False}


def _policies() -> list[ir.Policy]:
    texts = [path.read_bytes() for path in SOURCES] + [NEAR_MISSES.encode(), ROUTINGS.encode(), _generated(200).encode()]
    out = []
    for text in texts:
        policy = compile_bytes(text, "<memory>.sla").policy
        if policy is not None:
            out.append(policy)
    return out


@pytest.fixture(scope="module")
def policies() -> list[ir.Policy]:
    return _policies()


def _meaning(value) -> object:
    """A condition without its positions, read field by field from the IR's own dataclass
    fields (independent of how `Shapes` picks what to look at)."""
    fields = getattr(type(value), "__dataclass_fields__", None)
    if fields is None:
        if isinstance(value, tuple):
            return tuple(_meaning(v) for v in value)
        return (type(value).__name__, value)
    return (type(value).__name__,) + tuple(
        (name, _meaning(getattr(value, name))) for name in fields if not isinstance(getattr(value, name), Span)
    )


def _all_conditions(policy: ir.Policy) -> list[ir.Condition]:
    """Every condition of the policy and every node inside it."""
    out = []
    stack = [condition for condition, _ in policy.conditions()]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, (ir.AllOf, ir.AnyOf)):
            stack.extend(node.items)
        elif isinstance(node, ir.Negation):
            stack.append(node.item)
    return out


def test_shape_numbers_are_equal_exactly_for_equal_conditions(policies):
    compared = 0
    for policy in policies:
        shapes = Shapes()
        nodes = _all_conditions(policy)
        by_number: dict[int, object] = {}
        by_meaning: dict[object, int] = {}
        for node in nodes:
            number, meaning = shapes(node), _meaning(node)
            assert shapes(node) == number  # remembered
            assert by_number.setdefault(number, meaning) == meaning  # one number: one meaning
            assert by_meaning.setdefault(meaning, number) == number  # one meaning: one number
            compared += 1
    assert compared > 500
    # the generated policy repeats its funnel: far fewer shapes than conditions
    shapes = Shapes()
    nodes = _all_conditions(policies[-1])
    assert len({shapes(n) for n in nodes}) * 5 < len(nodes)


def _literals(form) -> list:
    """A normal form without the positions its atoms were first seen at."""
    return [[(lit.atom.variable, lit.atom.values, lit.atom.unset, lit.positive) for lit in conj] for conj in form]


def _form(model: ConditionModel, condition: ir.Condition, mode: str, positive: bool):
    try:
        return _literals(model.dnf(condition, mode, positive))
    except Unknown as exc:
        return ("unknown", str(exc))


def test_normal_forms_shared_per_shape_equal_fresh_ones(policies):
    """One model for the whole policy (normal forms shared between conditions of one shape)
    against a new model for every condition."""
    for policy in policies:
        shared = ConditionModel(policy)
        for condition in _all_conditions(policy):
            fresh = ConditionModel(policy)
            for mode in (OVER, EXACT):
                for positive in (True, False):
                    assert _form(shared, condition, mode, positive) == _form(fresh, condition, mode, positive)


def test_waiting_decided_once_per_routing_equals_each_stage_decided_alone(policies):
    """`lead_can_wait` answers once per list of condition shapes; a new context per stage
    decides each stage from scratch."""
    decided = 0
    for policy in policies:
        ctx = CheckContext(policy)
        for stage in policy.stages:
            assert lead_can_wait(ctx, stage) == lead_can_wait(CheckContext(policy), stage), stage.id
            decided += 1
    assert decided > 500
    policy = compile_bytes(ROUTINGS.encode(), "<memory>.sla").policy
    ctx = CheckContext(policy)
    for name, expected in CAN_WAIT.items():
        for copy in ("", "_again"):
            assert lead_can_wait(ctx, policy.stage_by_id[name + copy]) is expected, name + copy


# the same conditions in stage after stage: a shape found clean is skipped, a faulty one is
# reported at every place it is written; a value lowering replaced (`24h` in a condition) is
# reported once by lowering, and an equal-looking value written out is still a type error
REPEATED = """
property employees "Employees" number
property vip "VIP" bool
stage done "Done" {
  terminal
}
""" + "".join(f'stage s{i} "S" {{\n  -> done when {condition}\n}}\n' for i, condition in enumerate([
    "employees >= 50",  # line 8
    "vip >= 3",  # line 11: SLA308
    "employees >= 50",
    "vip >= 3",  # line 17: SLA308
    "lead_scor >= 5",  # line 20: SLA301
    "employees >= 24h",  # line 23: SLA304 from lowering, and no SLA308 from the check
    'employees >= ""',  # line 26: SLA308
    "lead_scor >= 5",  # line 29: SLA301
    "employees >= 24h",  # line 32: from lowering
    "vip >= 3",  # line 35: SLA308
]))


def test_conditions_repeated_in_many_stages_are_each_reported_where_written():
    result = compile_bytes(REPEATED.encode(), "<memory>.sla")
    found = sorted((d.code, d.span.line) for d in result.diagnostics if d.code in ("SLA301", "SLA304", "SLA308"))
    assert found == [("SLA301", 20), ("SLA301", 29), ("SLA304", 23), ("SLA304", 32), ("SLA308", 11),
                     ("SLA308", 17), ("SLA308", 26), ("SLA308", 35)]
    # the check itself (lowering's own reports left out) against each comparison read alone
    ctx = CheckContext(result.policy)
    checked = [(d.code, d.span.line, d.span.column) for d in find_incompatible_comparisons(ctx)]
    alone = [(d.code, d.span.line, d.span.column) for condition, _ in result.policy.conditions()
             for leaf in ir.condition_leaves(condition) for d in _check_leaf(leaf, result.policy)
             if d.span not in result.policy.extra["placeholder_values"]]
    assert checked == alone and [line for _, line, _ in checked] == [11, 17, 26, 35]
    # without a replaced value the policy is read per shape: the same findings
    clean_text = REPEATED.replace("employees >= 24h", "employees >= 10")
    clean = compile_bytes(clean_text.encode(), "<memory>.sla").policy
    assert not clean.extra["placeholder_values"]
    assert [(d.code, d.span.line) for d in find_incompatible_comparisons(CheckContext(clean))] == [
        ("SLA308", 11), ("SLA308", 17), ("SLA308", 26), ("SLA308", 35)]
    assert [(d.code, d.span.line) for d in find_undefined_references(CheckContext(clean))] == [
        ("SLA301", 20), ("SLA301", 29)]


NEVER_TRUE = """
property employees "Employees" number
property vip "VIP" bool
score lead_score "Lead score" {
  group fit "Fit" max 10 {
    +10 "VIP" when vip
  }
}
stage done "Done" {
  terminal
}
""" + "".join(f'stage s{i} "S" {{\n  -> done when {condition}\n}}\n' for i, condition in enumerate([
    "vip",  # line 13
    "employees >= 50 and employees < 10",  # line 16: SLA603
    "lead_score >= 50",  # line 19: SLA601
    "vip",
    "employees >= 50 and employees < 10",  # line 25: SLA603
    "lead_score >= 50",  # line 28: SLA601
]))


def test_never_true_conditions_repeated_in_many_stages_are_each_reported():
    policy = compile_bytes(NEVER_TRUE.encode(), "<memory>.sla").policy
    found = [(d.code, d.span.line) for d in find_conditions_never_true(CheckContext(policy))]
    assert found == [("SLA603", 16), ("SLA601", 19), ("SLA603", 25), ("SLA601", 28)]


GAPS = """
property employees "Employees" number
property region "Region" enum ["east", "west", "north"]
stage done "Done" {
  terminal
}
""" + "".join(f'stage s{i} "S" {{\n{body}}}\n' for i, body in enumerate([
    "  -> done when employees >= 50\n  -> done when employees < 40\n",  # line 7: 40 <= employees < 50
    '  -> done when region == "east"\n  -> done when region == "west"\n',  # line 11: north
    "  -> done when employees >= 50\n  -> done when employees < 50\n",  # no gap
    "  -> done when employees >= 50\n  -> done when employees < 40\n",  # line 19
    '  -> done when region == "east"\n  -> done when region == "west"\n',  # line 23
]))


def test_routing_gaps_repeated_in_many_stages_are_each_reported():
    policy = compile_bytes(GAPS.encode(), "<memory>.sla").policy
    found = [(d.code, d.span.line, str(d.message)) for d in find_routing_gaps(CheckContext(policy))]
    assert [(code, line) for code, line, _ in found] == [("SLA605", 7), ("SLA605", 11), ("SLA605", 19), ("SLA605", 23)]
    assert "40 <= employees < 50" in found[0][2] and "40 <= employees < 50" in found[2][2]
    assert 'region = "north"' in found[1][2] and 'region = "north"' in found[3][2]
    assert "`s3`" in found[2][2] and "`s4`" in found[3][2]


DECREASING = """
property vip "VIP" bool
score lead_score "Lead score" {
  group fit "Fit" max 100 {
    +100 "VIP" when vip
  }
}
stage done "Done" {
  terminal
}
""" + "".join(
    f'stage a{i} "A" {{\n  entry\n  -> b{i} when lead_score >= 50\n}}\n'
    f'stage b{i} "B" {{\n  -> c{i} when lead_score >= {later}\n}}\n'
    f'stage c{i} "C" {{\n  -> done when lead_score >= 80\n}}\n'
    for i, later in enumerate([30, 60, 30]))


def test_thresholds_decreasing_in_repeated_funnels_are_each_reported():
    policy = compile_bytes(DECREASING.encode(), "<memory>.sla").policy
    found = [(d.code, d.span.line) for d in find_thresholds_decreasing_along_funnel(CheckContext(policy))]
    # b0 -> c0 (line 16) and b2 -> c2 (line 36) ask for 30 after 50; b1 -> c1 asks for 60
    assert sorted(found) == [("SLA606", 16), ("SLA606", 36)]
