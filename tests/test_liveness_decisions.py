"""Issue 19 §2: false alarms of the liveness rules, and one decision about waiting shared by
the checks (SLA209, SLA211) and the fixtures generator."""

from __future__ import annotations

from pathlib import Path

import pytest

from sla_lang.checks import CheckContext
from sla_lang.checks.liveness import lead_can_wait
from sla_lang.compile import compile_text
from sla_lang.diagnostics import Severity
from sla_lang.simulate.generate import Builder, Generator
from sla_lang.targets.fixtures import generate_fixtures

REPO = Path(__file__).resolve().parent.parent
COVERING = REPO / "tests" / "fixtures" / "liveness" / "covering_conditions.sla"
POLICIES = sorted((REPO / "policies").glob("*.sla"))


def _compile(text: str, *codes: str):
    result = compile_text(text)
    assert result.policy is not None, result.diagnostics
    return result, [d for d in result.diagnostics if not codes or d.code in codes]


HEADER = '''agreement "T" {
  version "1"
  effective 2026-01-01
  owner ops
}
team ops "Operations" {
  role operations
}
team marketing "Marketing" {
  role marketing
}
team inside_sales "Inside sales" {
  role inside_sales
}
team sales "Sales" {
  role sales
}
property fit "Fit" enum ["yes", "no"]
property intent "Intent" enum ["yes", "no"]
property deal_created "Deal created" bool
property deal_outcome "Outcome" enum ["won", "lost"]
'''
TERMINALS = '''stage won "Won" {
  owner sales
  terminal
}
stage lost "Lost" {
  owner sales
  terminal
}
'''


# ------------------------------------------------------------------ SLA209 and the generator


def test_covering_conditions_hold_no_lead_so_no_sla209():
    result, found = _compile(COVERING.read_text(encoding="utf-8"), "SLA209")
    assert found == []
    lead = result.policy.stage_by_id["lead"]
    assert lead_can_wait(CheckContext(result.policy), lead) is False


def test_a_gap_in_the_conditions_still_gets_sla209():
    """`fit == "yes"` / `intent == "no"` leave leads with fit no and intent yes waiting."""
    text = COVERING.read_text(encoding="utf-8").replace('-> nurture when not (fit == "yes")',
                                                        '-> nurture when intent == "no"')
    result, found = _compile(text, "SLA209")
    assert [(d.code, d.span.line) for d in found] == [("SLA209", 11)]
    assert lead_can_wait(CheckContext(result.policy), result.policy.stage_by_id["lead"]) is True


def test_every_transition_of_the_covering_policy_gets_a_fixture():
    """The issue's "1 of 8 transitions covered": a lead can start at an entry stage no lead waits
    in, with data that takes each of its transitions at once."""
    result, _ = _compile(COVERING.read_text(encoding="utf-8"))
    fixtures = generate_fixtures(result.policy)
    transitions = fixtures.coverage["transitions"]
    assert len(transitions) == 7
    assert [t["clause"] for t in transitions if "covered_by" not in t] == []
    # the scenarios for the entry stage's transitions create the lead already taking them
    scenarios = {s["id"]: s for s in fixtures.scenarios["scenarios"]}
    for clause, target in (("lead.to.mql", "mql"), ("lead.to.nurture", "nurture")):
        scenario = scenarios[clause]
        assert scenario["lead"]["stage"] == "lead" and scenario["timeline"] == []
        assert scenario["expect"]["stages"][1]["stage"] == target


@pytest.mark.parametrize("path", [*POLICIES, COVERING], ids=lambda p: p.stem)
def test_checks_and_generator_agree_on_every_stage(path):
    """One decision: where the checks say a lead can wait, the generator starts one there with
    data that keeps it there; where they say it cannot, the generator does not try."""
    result, _ = _compile(path.read_text(encoding="utf-8"))
    policy = result.policy
    gen = Generator(policy)
    context = CheckContext(policy)
    for stage in policy.stages:
        if stage.is_terminal:
            continue
        waits = lead_can_wait(context, stage)
        assert gen.can_wait(stage.id) is waits
        started = gen.start(stage.id)
        passes = any(t.condition is None and t.after is None for t in stage.transitions)
        if waits:
            assert isinstance(started, Builder) and started.lead().stage == stage.id, (stage.id, started)
        elif passes:  # a transition without condition: the new lead moves on by itself
            assert isinstance(started, Builder) and started.lead().stage != stage.id
        else:
            assert isinstance(started, str) and "at once" in started


# ------------------------------------------------------------------ SLA211


def test_pass_through_stage_needs_no_sales_deadline():
    text = HEADER + '''stage lead "Lead" {
  owner marketing
  entry
  decide within 30d
  escalate to ops after 30d on decide
  -> routing when fit == "yes"
  -> lost after 30d
}
stage routing "Routing" {
  owner sales
  -> sql
}
stage sql "SQL" {
  owner sales
  respond within 48h
  escalate to ops after 48h on respond
  -> won when intent == "yes"
  -> lost after 30d
}
''' + TERMINALS
    _, found = _compile(text, "SLA209", "SLA211")
    assert found == []


def test_opportunity_kept_by_sales_is_a_warning_a_handed_over_sql_an_error():
    """Seeds 001/003/004 set Sales deadlines from a hand-off (MQL化から, SQL認定後, 受領後); none
    sets one for an open proposal that stays with the same team."""
    text = HEADER + '''stage mql "MQL" {
  owner inside_sales
  entry
  respond within 24h
  escalate to ops after 24h on respond
  -> sql when intent == "yes"
  -> lost after 30d
}
stage sql "SQL" {
  owner sales
  -> opportunity when deal_created
  -> lost after 60d
}
stage opportunity "Opportunity" {
  owner sales
  -> won when deal_outcome == "won"
  -> lost when deal_outcome == "lost"
}
''' + TERMINALS
    _, found = _compile(text, "SLA211")
    by_stage = {d.message.args["stage"]: d for d in found}
    assert set(by_stage) == {"sql", "opportunity"}
    assert by_stage["sql"].severity is Severity.ERROR and "receives leads" in by_stage["sql"].message
    assert by_stage["opportunity"].severity is Severity.WARNING and "keeps leads" in by_stage["opportunity"].message


def test_faithful_policies_have_no_liveness_findings():
    for path in POLICIES:
        _, found = _compile(path.read_text(encoding="utf-8"), "SLA209", "SLA210", "SLA211")
        assert found == [], path.name


# ------------------------------------------------------------------ SLA210 per deadline


def test_sla210_names_the_deadline_left_unescalated():
    text = HEADER + '''stage sql "SQL" {
  owner sales
  entry
  respond within 48h
  decide within 10d
  escalate to ops after 10d on decide
  -> won when intent == "yes"
  -> lost when intent == "no"
}
''' + TERMINALS
    _, found = _compile(text, "SLA210")
    assert len(found) == 1
    assert found[0].message.args["deadline"] == "respond" and found[0].span.line == 25
    assert [r.message.args["deadline"] for r in found[0].related] == ["decide"]
