"""Behaviour of the validation checks beyond their fixtures: statistics, recognition of
teams and stages, review expiry, --strict, suppressions, tolerance of errors elsewhere, and
the benchmark generator."""

from __future__ import annotations

import re
import sys
from datetime import date

import pytest
from click.testing import CliRunner

from sla_lang import ir
from sla_lang.checks import CheckOptions
from sla_lang.checks.operations import add_cadence
from sla_lang.checks.recognition import stages_of_kind, team_role
from sla_lang.cli import cli
from sla_lang.compile import compile_path, compile_text
from sla_lang.config import Config

from .conftest import FIXTURES, POLICIES, REPO, rel

INVALID = FIXTURES / "invalid"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# ------------------------------------------------------------------ --stats


def test_worst_case_time_of_the_examples(in_repo):
    # Worked out by hand from each stage's decide deadline or shortest timeout (the longest
    # wall-clock length of a business duration: 5bd from Friday 18:00 is 7 days):
    # hubspot: subscriber 365d + lead 180d + mql 5bd (7d) + sql 10bd (14d) + nurture 180d = 746d
    # inside sales (8-hour days): lead 180d + mql 2bd (Fri 18:00 → Tue 18:00, 4d) + sal 10bd
    #   (14d) + sql 10bd (14d) + nurture 365d = 577d
    # Japanese: lead → nurture after 90d, nurture 365d, mql 5bd (7d), sal 10bd (14d),
    #   sql 20bd (28d), opportunity 90d = 594d
    result = run("check", "--stats", "--lang", "en", "policies")  # smarketing_ja's are in Japanese otherwise
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines() if "worst-case" in line]
    assert lines == [
        "worst-case time from entry to a terminal stage: 746d (subscriber → lead → mql → sql → nurture → archived)",
        "worst-case time from entry to a terminal stage: 577d (lead → mql → sal → sql → nurture → archived)",
        "worst-case time from entry to a terminal stage: 594d "
        "(lead → nurture → mql → sal → sql → opportunity → customer)",
    ]
    # inside_sales_sal's behaviour group: 25 (visits, capped) + 20 + 30 (e-mail opens, capped) + 30
    # = 105, held to the group's max of 80; attributes 20 + 15 + 10
    assert "score `lead_score` range: 0..125 (behaviour 0..80, attributes 0..45)" in result.output


def test_worst_case_time_is_unbounded_when_a_stage_has_no_limit():
    path = INVALID / "SLA209_stage_without_time_limit.sla"
    result = compile_path(path, options=CheckOptions(stats=True))
    assert result.stats["worst-case time from entry to a terminal stage"] == (
        "unbounded: `lead` has no decide deadline or timeout (lead → done)"
    )


def test_statistics_are_only_collected_when_asked():
    assert compile_path(POLICIES[0]).stats == {}


# ------------------------------------------------------------------ recognising teams and stages


def test_stages_are_recognised_by_name_in_japanese_and_english():
    policy = compile_path(REPO / "policies" / "smarketing_ja.sla").policy
    # sal is mapped to HubSpot's MQL lifecycle stage, but its label says SAL: names win
    assert [s.id for s in stages_of_kind(policy, "mql")] == ["mql"]
    assert [s.id for s in stages_of_kind(policy, "sql")] == ["sql"]
    assert [s.id for s in stages_of_kind(policy, "opportunity")] == ["opportunity"]


def test_stages_fall_back_to_the_hubspot_lifecycle_stage():
    text = HEAD + '''stage a "Erste Stufe" {
  owner ops
  entry
  hubspot marketingqualifiedlead
  -> b when x
}
stage b "Zweite Stufe" {
  owner ops
  terminal
}
'''
    policy = compile_text(text).policy
    assert [s.id for s in stages_of_kind(policy, "mql")] == ["a"]
    assert stages_of_kind(policy, "sql") == []


HEAD = '''agreement "t" {
  version "1"
  effective 2026-01-01
  owner ops
}
team ops {
  role operations
}
property x "X" bool
'''


@pytest.mark.parametrize("declaration, role", [
    ('team eigyo "営業部" {\n}', "sales"),
    ('team is_team "インサイドセールス" {\n}', "inside_sales"),
    ('team sdr "SDR team" {\n}', "inside_sales"),
    ('team kikaku "営業企画部" {\n}', "operations"),
    ('team mk "マーケティング部" {\n}', "marketing"),
    ('team sales_managers "Sales managers" {\n}', "management"),
    ('team ae "Account executives" {\n}', "sales"),
    ('team east "East" {\n  part of eigyo\n}\nteam eigyo "営業部" {\n}', "sales"),
    ('team eigyo "営業部" {\n  role marketing\n}', "marketing"),  # a declared role wins
])
def test_team_roles_are_recognised(declaration, role):
    policy = compile_text(HEAD + declaration + "\n").policy
    team = [t for t in policy.teams if t.id != "ops"][0]
    assert team_role(policy, team.id) == role


# ------------------------------------------------------------------ review expiry and --today


def test_review_is_overdue_the_day_after_it_was_due(in_repo):
    fixture = rel(INVALID / "SLA718_review_overdue.sla")  # last held 2025-01-10, every quarter
    on_time = run("check", "--select", "SLA718", "--today", "2025-04-10", fixture)
    assert "SLA718" not in on_time.output and on_time.exit_code == 0
    late = run("check", "--select", "SLA718", "--today", "2025-04-11", fixture)
    assert "review `criteria` is overdue: last held 2025-01-10, every quarter, so due by 2025-04-10 " \
           "(1 day ago on 2025-04-11)" in late.output


@pytest.mark.parametrize("start, every, unit, due", [
    (date(2026, 1, 31), 1, "month", date(2026, 2, 28)),
    (date(2024, 1, 31), 1, "month", date(2024, 2, 29)),
    (date(2026, 11, 30), 1, "quarter", date(2027, 2, 28)),
    (date(2026, 9, 29), 6, "month", date(2027, 3, 29)),
    (date(2026, 1, 1), 2, "week", date(2026, 1, 15)),
    (date(2024, 2, 29), 1, "year", date(2025, 2, 28)),
])
def test_cadences_count_calendar_months(start, every, unit, due):
    assert add_cadence(start, ir.Cadence(every, unit, None)) == due


# ------------------------------------------------------------------ configuration


def test_completeness_warnings_fail_under_strict(in_repo):
    fixture = rel(INVALID / "SLA715_missing_cancellation_conditions.sla")
    assert run("check", fixture).exit_code == 0
    strict = run("check", "--strict", fixture)
    assert strict.exit_code == 1 and "error SLA715" in strict.output


def test_a_rule_can_be_silenced_on_its_line():
    text = (INVALID / "SLA209_stage_without_time_limit.sla").read_text(encoding="utf-8")
    silenced = text.replace('stage lead "Lead" {', 'stage lead "Lead" {  # sla: ignore[SLA209]')
    codes = [d.code for d in compile_text(silenced).diagnostics]
    assert "SLA209" in [d.code for d in compile_text(text).diagnostics]
    assert "SLA209" not in codes and "SLA009" not in codes


def test_severity_of_a_rule_can_be_changed():
    from sla_lang.diagnostics import Severity

    text = (INVALID / "SLA204_no_way_to_terminal.sla").read_text(encoding="utf-8")
    (d,) = [d for d in compile_text(text, config=Config(severity={"SLA204": Severity.WARNING})).diagnostics
            if d.code == "SLA204"]
    assert d.severity is Severity.WARNING


# ------------------------------------------------------------------ errors elsewhere


def test_an_undefined_transition_target_does_not_cause_graph_errors():
    text = HEAD + '''stage lead "Lead" {
  owner ops
  entry
  -> nurture when x
}
stage nurture "Nurture" {
  owner ops
  recycle
  -> leed when x
}
'''
    errors = sorted(d.code for d in compile_text(text).errors)
    # `leed` may be the terminal stage or the way back the author meant: only SLA301 is certain
    assert errors == ["SLA301"]


def test_a_type_error_in_a_condition_is_not_also_a_proof():
    text = HEAD + '''property industry "Industry" enum ["it", "other"]
stage lead "Lead" {
  owner ops
  entry
  -> done when industry == "IT" and industry == "other"
  -> done after 30d
}
stage done "Done" {
  owner ops
  terminal
}
'''
    errors = sorted(d.code for d in compile_text(text).errors)
    assert errors == ["SLA309"]  # not SLA603 as well


# ------------------------------------------------------------------ the benchmark generator


@pytest.fixture
def generator(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import generate

    return generate


@pytest.mark.parametrize("shape", ["chain", "ring"])
@pytest.mark.parametrize("stages", [9, 100, 257])
def test_generated_policies_are_clean_and_exact(generator, shape, stages):
    text = generator.generate_policy(stages, shape)
    assert text == generator.generate_policy(stages, shape)
    result = compile_text(text, options=CheckOptions(today=date(2026, 11, 23)))
    assert len(result.policy.stages) == stages
    assert [f"{d.span.line}:{d.span.column} {d.code} {d.message}" for d in result.diagnostics] == []


def test_generator_command_line(generator, tmp_path, capsys):
    out = tmp_path / "p.sla"
    assert generator.main(["50", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").count("\nstage ") == 50
    with pytest.raises(SystemExit):
        generator.main(["3"])
    assert "at least 9 stages" in capsys.readouterr().err
    sys.modules.pop("generate", None)


# ------------------------------------------------------------------ documentation


def test_readme_lists_every_validation_rule_as_registered():
    from sla_lang.diagnostics import all_rules

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    documented = [line for line in readme.splitlines() if re.match(r"\| SLA[24567]\d\d \|", line)]
    registered = [f"| {r.code} | `{r.name}` | {r.severity.value} | {r.summary} |"
                  for r in all_rules() if r.code[3] in "24567"]
    assert documented == registered
