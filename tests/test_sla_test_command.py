"""`sla test`: generated fixtures pass, policy changes make them fail, user scenarios run too."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from click.testing import CliRunner

from sla_lang.cli import cli

from .conftest import POLICIES, REPO, VALID


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


def _tamper(monkeypatch, change):
    """Have the fixtures generator write every scenario through `change(scenario_json)`, as a
    bug between the simulation and the text of scenarios.json would."""
    from sla_lang.targets import fixtures

    original = fixtures.scenario_to_json

    def written(gen, scenario):
        data = original(gen, scenario)
        change(data)
        return data

    monkeypatch.setattr(fixtures, "scenario_to_json", written)


def test_generated_scenario_with_a_wrong_expectation_fails(in_repo, monkeypatch):
    """Without --fixtures each scenario is checked against the simulation that generated it:
    an expectation that is not what the simulator did fails, under its clause, like a replay."""
    def wrong(data):
        if data["id"] == "lead.to.mql":
            data["expect"]["final_stage"] = "customer"
            data["expect"]["owner"] = "somebody else"

    _tamper(monkeypatch, wrong)
    result = invoke("test", "policies/hubspot_scoring.sla", "-q")
    assert result.exit_code == 1
    assert failures(result.output) == ["lead.to.mql"]
    assert '          final_stage: expected "customer", got "mql"\n' in result.output
    assert '          owner: expected "somebody else", got "sales"\n' in result.output
    assert re.search(r"^Failures by clause: lead\.to\.mql \(1\)$", result.output, re.MULTILINE)
    assert re.search(r"^\d+ passed, 1 failed\.$", result.output, re.MULTILINE)


def test_generated_scenario_whose_events_are_not_the_simulated_ones_is_replayed(in_repo, monkeypatch):
    """A scenario whose text does not hold the events the generator simulated is replayed from
    its text, as `sla test --fixtures` would: the expectation then fails, and so do invalid events."""
    def later(data):
        if data["id"] == "lead.to.mql":
            data["timeline"] = data["timeline"][:-1]  # the event that made the lead an MQL
        if data["id"] == "mql.to.sql":
            data["timeline"].append({"at": data["timeline"][-1]["at"], "type": "lead_teleported"})

    _tamper(monkeypatch, later)
    result = invoke("test", "policies/hubspot_scoring.sla", "-q", "--format", "json")
    assert result.exit_code == 1
    by_id = {r["id"]: r for r in json.loads(result.output)["results"]}
    assert by_id["lead.to.mql"]["differences"][0] == 'final_stage: expected "mql", got "lead"'
    added = by_id["mql.to.sql"]["differences"]
    assert re.fullmatch(r'timeline event \d+: unknown event type "lead_teleported"', added[0]), added
    # and the KPIs, replayed from the texts, are not those of the events simulated
    assert [r["id"] for r in by_id.values() if not r["passed"]] == ["lead.to.mql", "mql.to.sql", "(KPI summary)"]


def test_invalid_event_in_a_generated_scenario_fails(in_repo, monkeypatch):
    """An event the simulator rejects, in a generated scenario, is a failure of that scenario
    (`timeline event N: …`)."""
    from sla_lang.simulate.generate import Generator

    finish_one = Generator._finish_one

    def with_a_bad_event(self, scenario, lead_id):
        if scenario.id == "lead.to.mql":
            scenario.events.append({"at": scenario.events[-1]["at"], "type": "lead_teleported"})
        finish_one(self, scenario, lead_id)

    monkeypatch.setattr(Generator, "_finish_one", with_a_bad_event)
    result = invoke("test", "policies/hubspot_scoring.sla", "-q")
    assert result.exit_code == 1
    assert failures(result.output) == ["lead.to.mql"]
    assert re.search(r'^          timeline event \d+: unknown event type "lead_teleported"$', result.output, re.MULTILINE)


def _all_together(policy, plan, scenarios):
    """The KPIs of every scenario's events in one simulation: the definition of the summary."""
    from datetime import datetime

    from sla_lang.simulate import simulate_events
    from sla_lang.simulate.report import kpis_to_json
    from sla_lang.simulate.scenarios import scenario_events

    stream = sorted(((datetime.fromisoformat(e["at"]), order, index, e) for order, s in enumerate(scenarios)
                     for index, e in enumerate(scenario_events(s))), key=lambda item: item[:3])
    untils = [datetime.fromisoformat(s["until"]) for s in scenarios if s.get("until")]
    run = simulate_events(policy, [e for *_, e in stream], "<all>", until=max(untils) if untils else None, plan=plan)
    return kpis_to_json(run.kpis())


@pytest.mark.parametrize("path", [*POLICIES, *VALID], ids=lambda p: p.name)
def test_kpis_carried_on_from_each_replay_are_those_of_all_scenarios_together(path):
    """`sla test` checks the KPI summary with each scenario's own replay carried on to the end
    (no second simulation of every lead): the same figures as one simulation of all the
    scenarios' events together and as the lead-by-lead replay it used to make."""
    from sla_lang.compile import compile_path
    from sla_lang.simulate.engine import Plan
    from sla_lang.simulate.scenarios import CarriedKpis, replay
    from sla_lang.targets.fixtures import generate_fixtures, replay_summary

    policy = compile_path(path).policy
    plan = Plan(policy)
    fixtures = generate_fixtures(policy, None, scenarios_only=True)
    scenarios = list(fixtures.scenario_data())
    carried = CarriedKpis(policy, plan, fixtures.summary["until"])
    for scenario in scenarios:
        carried.add(scenario, replay(policy, scenario, plan=plan))
    kpis = carried.kpis()
    assert kpis is not None
    assert kpis == _all_together(policy, plan, scenarios) == replay_summary(policy, scenarios, plan)["kpis"]
    assert kpis == fixtures.summary["kpis"]
    if policy.kpis:
        assert any(row["value"] is not None for kpi in kpis for row in kpi["rows"])


def test_kpis_are_replayed_together_where_carrying_each_replay_could_differ(in_repo):
    """Where one scenario's replay is not its lead's part of the combined replay, CarriedKpis gives
    up (and `sla test` replays the scenarios together)."""
    from sla_lang.compile import compile_path
    from sla_lang.simulate.engine import Plan
    from sla_lang.simulate.scenarios import CarriedKpis, replay
    from sla_lang.targets.fixtures import generate_fixtures

    policy = compile_path(REPO / "policies" / "hubspot_scoring.sla").policy
    plan = Plan(policy)
    fixtures = generate_fixtures(policy, None, scenarios_only=True)
    scenarios = list(fixtures.scenario_data())
    end = fixtures.summary["until"]
    late = next(s for s in scenarios if len(s["timeline"]) >= 2)

    def carried(items, recorded_end=end):
        kpis = CarriedKpis(policy, plan, recorded_end)
        for scenario in items:
            kpis.add(scenario, replay(policy, scenario, plan=plan))
        return kpis.kpis()

    assert carried(scenarios) is not None
    twice = {**scenarios[1], "lead": {**scenarios[1]["lead"], "id": scenarios[0]["lead"]["id"]}}
    swapped = {**late, "timeline": [late["timeline"][1], late["timeline"][0], *late["timeline"][2:]]}
    unknown = {**late, "timeline": [*late["timeline"], {"at": late["timeline"][-1]["at"], "type": "lead_teleported"}]}
    after = {**late, "until": "2099-01-01T00:00:00+09:00"}
    for changed in (twice, swapped, unknown, after):
        assert carried([*scenarios, changed]) is None, changed["id"]
    assert carried(scenarios, "2099-01-01T00:00:00+09:00") is None  # no scenario ends then
    assert carried(scenarios, None) is None


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
