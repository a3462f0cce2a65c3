"""The check registry: selection, isolation of failures."""

from __future__ import annotations

from sla_lang import checks
from sla_lang.checks import CheckContext
from sla_lang.compile import compile_text
from sla_lang.diagnostics import Severity

from .conftest import POLICIES


def test_a_crashing_check_becomes_an_internal_error(monkeypatch):
    rule = checks.load_checks()[0].rules[0]

    def broken(ctx: CheckContext):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(checks, "_CHECKS", checks._CHECKS + [checks.RegisteredCheck(broken, (rule,))])
    result = compile_text(POLICIES[0].read_text(encoding="utf-8"))
    (d,) = [d for d in result.diagnostics if d.code == "SLA999"]
    assert d.severity is Severity.ERROR
    assert "internal error in check `broken`: ZeroDivisionError: boom" in d.message
    # the other checks still ran: the policy itself is fine
    assert [x.code for x in result.diagnostics if x.severity is not Severity.INFO] == ["SLA999"]


def test_checks_whose_rules_are_not_selected_do_not_run(monkeypatch):
    calls = []
    rule = checks.load_checks()[0].rules[0]

    def spy(ctx):
        calls.append(ctx.policy.path)
        return []

    monkeypatch.setattr(checks, "_CHECKS", [checks.RegisteredCheck(spy, (rule,))])
    text = POLICIES[0].read_text(encoding="utf-8")
    from sla_lang.config import Config

    compile_text(text, config=Config(ignore=(rule.code,)))
    assert calls == []
    compile_text(text)
    assert calls == ["<memory>.sla"]


def test_graph_has_a_node_per_stage_and_an_edge_per_transition():
    result = compile_text(POLICIES[0].read_text(encoding="utf-8"))
    ctx = CheckContext(result.policy)
    assert set(ctx.graph.nodes) == {s.id for s in result.policy.stages}
    assert ctx.graph.number_of_edges() == len(result.policy.transitions())
    assert ctx.graph.has_edge("mql", "nurture", key="mql.to.nurture")
