"""The fixtures target: complete coverage of the example policies, stable output, safe CSV."""

from __future__ import annotations

import csv
import io
import json
from functools import cache

import pytest

from sla_lang.compile import compile_path, compile_text
from sla_lang.resources import target_dir
from sla_lang.targets import BuildOptions, load_target

from .conftest import POLICIES, rel
from .simkit import HEADER


@cache
def built(path_text: str):

    from .conftest import REPO

    path = REPO / path_text
    result = compile_path(path, shown_as=path_text)
    assert result.ok
    return result.policy, load_target("fixtures").build(result.policy, BuildOptions())


def example(path):
    policy, result = built(rel(path))
    files = {name: data for name, data in result.files.items()}
    return policy, result, json.loads(files["scenarios.json"]), json.loads(files["coverage.json"]), files


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_example_policy_coverage_is_complete(path):
    _, result, scenarios, coverage, _ = example(path)
    summary = coverage["summary"]
    assert summary["transitions"]["covered"] == summary["transitions"]["total"] > 0
    assert summary["boundaries"]["covered"] == summary["boundaries"]["total"] > 0
    assert summary["clauses"]["covered"] == summary["clauses"]["total"] > 0
    assert summary["loops"]["covered"] == summary["loops"]["total"] > 0
    assert summary["scenarios"] == len(scenarios["scenarios"])
    (info,) = result.diagnostics  # nothing uncovered: only the summary
    assert info.code == "SLA865" and "transitions" in info.message and "(100%)" in info.message


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_every_kind_of_boundary_is_generated(path):
    _, _, _, coverage, _ = example(path)
    kinds = {b["kind"] for b in coverage["boundaries"]}
    assert {"threshold", "deadline", "timeout", "record", "escalation"} <= kinds
    policy = compile_path(path).policy
    if any(stage.follow_up is not None for stage in policy.stages):
        assert "follow-up" in kinds
    if any(stage.steps for stage in policy.stages):  # deadlines in sequence: each step, also after a late one
        ids = {b["id"] for b in coverage["boundaries"]}
        assert all({f"{s.clause_id}@sla", f"{s.clause_id}@after-late"} <= ids for st in policy.stages for s in st.steps)
    breaks = [b for b in coverage["boundaries"] if b["id"].endswith("-break")]
    assert breaks, "business-time deadlines are also tested across a weekend or holiday"


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_scenarios_snapshot(path, json_snapshot):
    _, _, scenarios, _, _ = example(path)
    assert scenarios == json_snapshot


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_outputs_follow_their_schemas(path):
    import jsonschema

    _, _, scenarios, coverage, _ = example(path)
    for document, schema in ((scenarios, "scenarios.schema.json"), (coverage, "coverage.schema.json")):
        jsonschema.validate(document, json.loads((target_dir("fixtures") / schema).read_text()))


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_scenario_ids_and_leads_are_unique_and_descriptions_in_the_policy_language(path):
    policy, _, scenarios, _, _ = example(path)
    items = scenarios["scenarios"]
    assert len({s["id"] for s in items}) == len(items)
    assert len({s["lead"]["id"] for s in items}) == len(items)
    japanese = any("\u3040" <= ch <= "\u30ff" for s in items for ch in s["description"])
    assert japanese == (policy.language == "ja")


def test_every_scenario_expectation_is_what_the_simulator_does():
    from sla_lang.simulate.scenarios import compare, replay, simulated_lead

    for path in POLICIES:
        policy, _, scenarios, _, _ = example(path)
        for scenario in scenarios["scenarios"]:
            run = replay(policy, scenario)
            assert run.diagnostics == [], scenario["id"]
            assert compare(scenario["expect"], simulated_lead(run, scenario["lead"]["id"])) == [], scenario["id"]


def test_boundary_pairs_really_differ():
    """Each side of a boundary gives a different outcome (else the pair would test nothing)."""
    _, _, scenarios, coverage, _ = example(POLICIES[0])
    by_id = {s["id"]: s["expect"] for s in scenarios["scenarios"]}
    for boundary in coverage["boundaries"]:
        outcomes = [json.dumps(by_id[sid], sort_keys=True) for sid in boundary["sides"].values()]
        assert len(set(outcomes)) == len(outcomes), boundary["id"]


def test_build_is_byte_identical():
    from sla_lang.compile import compile_path

    for path in POLICIES:
        a = load_target("fixtures").build(compile_path(path).policy, BuildOptions()).files
        b = load_target("fixtures").build(compile_path(path).policy, BuildOptions()).files
        assert a == b


def test_timestamps_come_from_the_policy_not_the_clock():
    _, _, scenarios, _, _ = example(POLICIES[0])
    created = sorted(s["lead"]["created"] for s in scenarios["scenarios"])
    assert created[0] >= "2026-04-01"  # hubspot_scoring.sla is effective 2026-04-01


def test_contacts_csv_rows_and_columns():
    _, _, scenarios, _, files = example(POLICIES[0])
    rows = list(csv.DictReader(io.StringIO(files["contacts.csv"].decode())))
    assert len(rows) == len(scenarios["scenarios"])
    first = rows[0]
    assert first["email"] == "sla-fixture-s001@example.com"
    assert first["sla_scenario_id"] == scenarios["scenarios"][0]["id"]
    assert "numberofemployees" in first and "hubspotscore" not in first  # HubSpot names; scores are computed
    assert first["lifecyclestage"] in ("subscriber", "lead")


ESCAPING = HEADER + '''
property code "Code" enum ["=cmd|' /C calc'!A0", "@SUM(1)", "+1", "-1"]
priority risky "Risky" when code == "=cmd|' /C calc'!A0"
priority other "Other"
stage lead "=Lead" {
  owner marketing
  entry
  -> done when code == "@SUM(1)"
}
stage done "Done" {
  owner marketing
  terminal
}
'''


def test_contacts_csv_escapes_formula_characters():
    policy = compile_text(ESCAPING, "escaping.sla", checks=False).policy
    files = load_target("fixtures").build(policy, BuildOptions()).files
    text = files["contacts.csv"].decode()
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    dangerous = [c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and not c[1:].isdigit())]
    assert dangerous == []
    assert "'=cmd|' /C calc'!A0" in cells


def test_uncoverable_transition_is_reported_with_its_reason():
    text = HEADER + '''
property ready "Ready" bool
stage lead "Lead" {
  owner marketing
  entry
  -> done after 30d
  -> won when ready after 60d
}
stage done "Done" {
  owner marketing
  terminal
}
stage won "Won" {
  owner marketing
  terminal
}
'''
    policy = compile_text(text, "late.sla", checks=False).policy
    result = load_target("fixtures").build(policy, BuildOptions())
    coverage = json.loads(result.files["coverage.json"])
    item = next(t for t in coverage["transitions"] if t["clause"] == "lead.to.won")
    assert "lead.to.done" in item["reason"]
    warnings = [d for d in result.diagnostics if d.code == "SLA866" and "lead.to.won" in d.message]
    assert warnings and warnings[0].span.line == 24  # the `-> won …` line
    assert coverage["summary"]["transitions"] == {"covered": 1, "total": 2, "percent": 50.0}


def test_japanese_descriptions_name_the_holiday_in_japanese():
    _, _, scenarios, _, _ = example(next(p for p in POLICIES if p.name == "smarketing_ja.sla"))
    texts = [s["description"] for s in scenarios["scenarios"] if s["id"].endswith("-break:inside")]
    assert texts and all("スポーツの日" in t for t in texts)


def test_a_cap_that_can_bind_gets_a_boundary_pair():
    text = HEADER + '''
property big "Big" bool
property keen "Keen" bool
score s "Score" {
  group fit "Fit" max 20 {
    +15 "Big" when big
    +10 "Keen" when keen
  }
}
stage lead "Lead" {
  owner marketing
  entry
  -> done when s >= 20
}
stage done "Done" {
  owner marketing
  terminal
}
'''
    policy = compile_text(text, "cap.sla", checks=False).policy
    result = load_target("fixtures").build(policy, BuildOptions())
    coverage = json.loads(result.files["coverage.json"])
    scenarios = {s["id"]: s for s in json.loads(result.files["scenarios.json"])["scenarios"]}
    (cap,) = [b for b in coverage["boundaries"] if b["kind"] == "cap"]
    under, over = scenarios[cap["sides"]["under"]], scenarios[cap["sides"]["over"]]
    assert under["expect"]["scores"]["s.fit"] == 15  # the highest sum below the cap: 20 cannot be made
    assert over["expect"]["scores"]["s.fit"] == 20  # 25 points, capped
    assert "capped at 20" in over["description"]


def test_output_does_not_depend_on_hash_randomisation(tmp_path):
    import subprocess
    import sys

    from .conftest import REPO

    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        subprocess.run([sys.executable, "-m", "sla_lang", "build", "policies/smarketing_ja.sla", "-t", "fixtures",
                        "-o", str(out)], cwd=REPO, check=True, capture_output=True,
                       env={**__import__("os").environ, "PYTHONHASHSEED": seed})
        outputs.append({p.name: p.read_bytes() for p in out.iterdir()})
    assert outputs[0] == outputs[1]


def test_a_stage_the_lead_passes_through_is_covered():
    text = HEADER + '''
property ready "Ready" bool
stage intake "Intake" {
  owner marketing
  entry
  -> triage
}
stage triage "Triage" {
  owner marketing
  recycle
  respond within 4h
  -> done when ready
  -> intake after 7d
}
stage done "Done" {
  owner marketing
  terminal
}
'''
    policy = compile_text(text, "through.sla", checks=False).policy
    result = load_target("fixtures").build(policy, BuildOptions())
    summary = json.loads(result.files["coverage.json"])["summary"]
    assert summary["transitions"] == {"covered": 3, "percent": 100.0, "total": 3}
    assert summary["loops"] == {"covered": 1, "total": 1}  # triage → intake → triage
    assert summary["boundaries"]["covered"] == summary["boundaries"]["total"]


def test_a_lead_comes_from_further_back_when_no_new_lead_can_wait_in_the_stage_before():
    # a new lead in `triage` always moves on (ready or not), but one that arrives there waits:
    # a condition that already holds on entry has to become true again
    text = HEADER + '''
property go "Go" bool
property ready "Ready" bool
stage intake "Intake" {
  owner marketing
  entry
  -> triage when go
}
stage triage "Triage" {
  owner marketing
  -> parked when not ready
  -> qualified when ready
}
stage parked "Parked" {
  owner marketing
  terminal
}
stage qualified "Qualified" {
  owner sales
  respond within 4h
  -> parked after 30d
}
'''
    policy = compile_text(text, "back.sla", checks=False).policy
    result = load_target("fixtures").build(policy, BuildOptions())
    coverage = json.loads(result.files["coverage.json"])
    covered = {t["clause"] for t in coverage["transitions"] if "covered_by" in t}
    assert {"intake.to.triage", "triage.to.qualified", "qualified.to.parked"} <= covered
    assert coverage["summary"]["boundaries"]["covered"] == coverage["summary"]["boundaries"]["total"] > 0
    scenarios = {s["id"]: s for s in json.loads(result.files["scenarios.json"])["scenarios"]}
    respond = scenarios["qualified.respond@sla:inside"]
    assert respond["lead"]["stage"] == "intake"
    assert [v["stage"] for v in respond["expect"]["stages"]] == ["intake", "triage", "qualified"]


def test_a_stage_behind_a_transition_no_lead_can_take_is_not_covered():
    text = HEADER + '''
property size "Size" number
stage intake "Intake" {
  owner marketing
  entry
  -> big when size > 10 and size < 5
  -> done after 7d
}
stage big "Big" {
  owner sales
  respond within 4h
  -> done after 7d
}
stage done "Done" {
  owner marketing
  terminal
}
'''
    policy = compile_text(text, "never.sla", checks=False).policy
    result = load_target("fixtures").build(policy, BuildOptions())
    coverage = json.loads(result.files["coverage.json"])
    item = next(t for t in coverage["transitions"] if t["clause"] == "big.to.done")
    assert "`big` cannot be reached" in item["reason"] and "intake.to.big" in item["reason"]
    assert not any(s["lead"]["stage"] == "big" for s in json.loads(result.files["scenarios.json"])["scenarios"])
