"""`sla test`: generated fixtures pass, policy changes make them fail, user scenarios run too."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from click.testing import CliRunner

from sla_lang.cli import cli

from .conftest import POLICIES, REPO


def invoke(*args):
    return CliRunner().invoke(cli, [*args, "--color", "never"], catch_exceptions=False)


@pytest.fixture(scope="module")
def built_fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("fixtures")
    out = {}
    for path in POLICIES:
        target = root / path.stem
        result = invoke("build", str(path), "-t", "fixtures", "-o", str(target))
        assert result.exit_code == 0, result.output
        out[path.name] = target
    return out


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_generated_fixtures_pass(path, built_fixtures):
    result = invoke("test", str(path), "--fixtures", str(built_fixtures[path.name]), "-q")
    assert result.exit_code == 0, result.output
    assert re.search(r"^\d+ passed, 0 failed\.$", result.output, re.MULTILINE)
    assert "FAIL" not in result.output


def test_without_fixtures_the_scenarios_are_generated_now(in_repo):
    result = invoke("test", "policies/smarketing_ja.sla")
    assert result.exit_code == 0
    assert "generated from the policy" in result.output
    assert "PASS  lead.to.mql — 「リード」から" in result.output
    assert "PASS  (KPI summary)" in result.output


def mutate(tmp_path, old: str, new: str):
    text = (REPO / "policies" / "hubspot_scoring.sla").read_text(encoding="utf-8")
    assert text.count(old) == 1
    path = tmp_path / "hubspot_scoring.sla"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def failures(output: str) -> list[str]:
    return re.findall(r"^    FAIL  (\S+)", output, re.MULTILINE)


def test_failures_are_grouped_by_clause_with_their_full_values(tmp_path, built_fixtures):
    """Issue 17 item 8: one heading per clause, each failing scenario under it, values never cut."""
    policy = mutate(tmp_path, "when lead_score >= 50\n  -> archived \"Did not reach",
                    "when lead_score >= 55\n  -> archived \"Did not reach")
    result = invoke("test", str(policy), "--fixtures", str(built_fixtures["hubspot_scoring.sla"]), "--quiet")
    lines = result.output.splitlines()
    headings = [line for line in lines if re.match(r"^  \S+: \d+ failing scenarios?$", line)]
    assert headings and len(headings) == len(set(headings))
    groups = re.findall(r"^  (\S+): (\d+) failing", result.output, re.MULTILINE)
    assert sum(int(n) for _, n in groups) == int(re.search(r"(\d+) failed\.", result.output).group(1))
    assert "lead.to.mql" in dict(groups)
    assert "…" not in result.output.replace("… and more differences", "")
    # a long expected value is printed whole (it used to be cut at 160 characters)
    long_values = [line for line in lines if "expected [" in line or "expected {" in line]
    assert any(len(line) > 170 for line in long_values) or not long_values


def test_mutated_threshold_fails_a_previously_generated_scenario(tmp_path, built_fixtures):
    policy = mutate(tmp_path, "when lead_score >= 50\n  -> archived \"Did not reach",
                    "when lead_score >= 55\n  -> archived \"Did not reach")
    result = invoke("test", str(policy), "--fixtures", str(built_fixtures["hubspot_scoring.sla"]))
    assert result.exit_code == 1
    assert "warning SLA868 (fixtures-from-another-policy)" in result.output
    failed = failures(result.output)
    # the lead scored exactly 50 at the threshold: it no longer becomes an MQL
    assert "lead.to.mql" in failed
    assert "final_stage: expected \"mql\", got \"lead\"" in result.output


def test_mutated_deadline_fails_a_previously_generated_scenario(tmp_path, built_fixtures):
    policy = mutate(tmp_path, "respond within 24h via call", "respond within 25h via call")
    result = invoke("test", str(policy), "--fixtures", str(built_fixtures["hubspot_scoring.sla"]))
    assert result.exit_code == 1
    # the response one minute after 24h is no longer a breach (an e-mail: the fixtures' MQL reached
    # the score with a webinar, not the pricing page, so e-mail is its channel)
    assert "mql.respond@sla:outside" in failures(result.output)


def test_mutated_business_deadline_across_a_holiday_fails(tmp_path, built_fixtures):
    policy = mutate(tmp_path, "decide within 5bd source", "decide within 6bd source")
    result = invoke("test", str(policy), "--fixtures", str(built_fixtures["hubspot_scoring.sla"]))
    assert result.exit_code == 1
    assert "mql.decide@sla-break:outside" in failures(result.output)


def test_mutated_cap_and_cadence_fail(tmp_path, built_fixtures):
    for old, new, scenario in (
        ('group fit "Fit (attributes)" max 40', 'group fit "Fit (attributes)" max 35', "lead.to.mql"),
        ("follow up 3 times at 0d, 3d, 5bd", "follow up 3 times at 0d, 3d, 4bd", "mql.follow_up@step3:inside"),
    ):
        policy = mutate(tmp_path, old, new)
        result = invoke("test", str(policy), "--fixtures", str(built_fixtures["hubspot_scoring.sla"]))
        assert result.exit_code == 1 and scenario in failures(result.output), (old, result.output[-2000:])


USER_SCENARIOS = {
    "scenarios": [
        {
            "id": "hot lead from a webinar",
            "lead": {"id": "U1", "created": "2026-04-06T10:00:00+09:00", "stage": "lead",
                     "properties": {"job_level": "director", "industry": "it", "employees": 300}},
            "timeline": [
                {"at": "2026-04-06T11:00:00+09:00", "type": "event_occurred", "event": "webinar_attended"},
                {"at": "2026-04-06T11:30:00+09:00", "type": "event_occurred", "event": "pricing_page_view"},
                {"at": "2026-04-06T13:00:00+09:00", "type": "activity_logged", "activity": "call"},
            ],
            "expect": {"final_stage": "mql", "priority": "cold"},
        },
        {
            "id": "wrong on purpose",
            "lead": {"id": "U2", "created": "2026-04-06T10:00:00+09:00", "stage": "lead"},
            "expect": {"final_stage": "customer"},
        },
    ]
}


def test_user_scenarios_next_to_the_policy_run_too(tmp_path):
    policy = tmp_path / "hubspot_scoring.sla"
    shutil.copy(REPO / "policies" / "hubspot_scoring.sla", policy)
    (tmp_path / "hubspot_scoring.scenarios.json").write_text(json.dumps(USER_SCENARIOS, indent=2))
    folder = tmp_path / "hubspot_scoring.scenarios"
    folder.mkdir()
    (folder / "more.json").write_text(json.dumps([USER_SCENARIOS["scenarios"][0]]))
    result = invoke("test", str(policy), "--format", "json")
    data = json.loads(result.output)
    assert result.exit_code == 1
    by_id = {(r["id"], r["source"].split(":")[0].rsplit("/", 1)[-1]): r for r in data["results"]}
    assert by_id[("hot lead from a webinar", "hubspot_scoring.scenarios.json")]["passed"]
    assert by_id[("hot lead from a webinar", "more.json")]["passed"]
    wrong = by_id[("wrong on purpose", "hubspot_scoring.scenarios.json")]
    assert wrong["differences"] == ['final_stage: expected "customer", got "lead"']
    lines = (tmp_path / "hubspot_scoring.scenarios.json").read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if '"wrong on purpose"' in text)
    assert wrong["source"].endswith(f"hubspot_scoring.scenarios.json:{line}")
    assert data["summary"]["failed"] == 1


def test_invalid_scenario_file_is_reported(tmp_path):
    policy = tmp_path / "hubspot_scoring.sla"
    shutil.copy(REPO / "policies" / "hubspot_scoring.sla", policy)
    (tmp_path / "hubspot_scoring.scenarios.json").write_text('{"scenarios": [\n  {"id": "x", "timeline": []}\n]}\n')
    result = invoke("test", str(policy), "-q")
    assert result.exit_code == 1
    assert "hubspot_scoring.scenarios.json:2:1: error SLA867 (invalid-scenario-file) scenario `x`: `lead` must be" in \
        result.output
    (tmp_path / "hubspot_scoring.scenarios.json").write_text('{"scenarios": [\n  {"id": "x",\n')
    result = invoke("test", str(policy), "-q")
    assert result.exit_code == 1 and "scenarios.json:3:1: error SLA867" in result.output


def test_missing_fixtures_folder_is_a_usage_error(tmp_path, in_repo):
    assert invoke("test", "policies/hubspot_scoring.sla", "--fixtures", str(tmp_path / "nope")).exit_code == 2
