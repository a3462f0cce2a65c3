"""The HubSpot target: snapshots of the whole output, schema and graph validation, clause
coverage, determinism, the diagnostics it reports, and what the workflows actually do."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla_lang import ir
from sla_lang.compile import compile_path, compile_text
from sla_lang.config import HubSpotSettings
from sla_lang.diagnostics import Severity
from sla_lang.irjson import fingerprint
from sla_lang.source import Span
from sla_lang.targets import BuildOptions, load_target
from sla_lang.targets.hubspot import build
from sla_lang.targets.hubspot.bundle import property_hash
from sla_lang.targets.hubspot.catalog import Catalog
from sla_lang.targets.hubspot.filters import FilterTranslator
from sla_lang.targets.hubspot.validate import check_files, graph_errors, schema_errors

from .conftest import FIXTURES, POLICIES, VALID, expectations, rel

HUBSPOT_FIXTURES = sorted((FIXTURES / "hubspot").glob("*.sla"))


def compiled(path: Path) -> ir.Policy:
    result = compile_path(path, shown_as=rel(path))
    assert result.ok, [f"{d.code} {d.message}" for d in result.errors]
    return result.policy


def built(path: Path, lang: str | None = None):
    return build(compiled(path), BuildOptions(lang=lang))


def as_json(files: dict[str, bytes]) -> dict[str, object]:
    return {name: json.loads(data) for name, data in files.items()}


def flows_of(files: dict[str, object]) -> dict[str, dict]:
    return {name: data for name, data in files.items() if name.startswith("workflows/")}


def action_types(flow: dict) -> list[str]:
    out = []
    for a in flow["actions"]:
        if a["type"] == "SINGLE_CONNECTION":
            fields = a["fields"]
            detail = fields.get("property_name") or fields.get("task_type") or fields.get("time_unit") or ""
            value = fields.get("value", {}).get("staticValue") if "value" in fields else None
            out.append(f"{a['actionTypeId']}:{detail}" + (f"={value}" if value is not None else ""))
        else:
            out.append(a["type"])
    return out


POLICY_FILES = {p.name: p for p in POLICIES}


@pytest.fixture(scope="module")
def outputs():
    cache: dict[str, dict[str, object]] = {}

    def get(name: str) -> dict[str, object]:
        if name not in cache:
            path = POLICY_FILES.get(name) or next(p for p in VALID + HUBSPOT_FIXTURES if p.name == name)
            result = built(path)
            assert not result.failed, [d.message for d in result.diagnostics]
            cache[name] = as_json(result.files)
        return cache[name]

    return get


# ------------------------------------------------------------------ whole output


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_whole_output_snapshot(path, in_repo, json_snapshot):
    result = built(path)
    assert not result.failed
    assert as_json(result.files) == json_snapshot


@pytest.mark.parametrize("path", POLICIES + VALID + HUBSPOT_FIXTURES, ids=lambda p: p.name)
def test_every_file_validates_against_its_schema_and_the_graph_checks(path, in_repo):
    result = built(path)
    assert not result.failed, [d.message for d in result.diagnostics if d.severity is Severity.ERROR]
    files = as_json(result.files)
    assert check_files(files) == []
    kinds = {name.split("/")[0] for name in files}
    assert {"workflows", "properties", "scoring.json", "manifest.json"} <= kinds


@pytest.mark.parametrize("path", POLICIES + VALID, ids=lambda p: p.name)
def test_output_is_byte_identical_when_built_twice(path, in_repo):
    first, second = built(path).files, built(path).files
    assert first == second
    assert all(data.endswith(b"\n") for data in first.values())


def test_output_does_not_depend_on_where_the_policy_is(tmp_path, in_repo):
    source = POLICIES[0]
    copy_path = tmp_path / "deep" / source.name
    copy_path.parent.mkdir()
    copy_path.write_bytes(source.read_bytes())
    moved = build(compile_path(copy_path).policy, BuildOptions()).files
    assert moved == built(source).files
    assert not any(str(tmp_path).encode() in data for data in moved.values())


# ------------------------------------------------------------------ manifest and clauses


def obligation_clauses(policy: ir.Policy) -> set[str]:
    """Deadlines (the steps of a sequence too), hand-offs, follow-ups, escalations, every transition
    (recycle paths included) and information due after a lead enters or leaves a stage, recorded in
    a property (the agreement's deadline; without the property nothing shows it given, so it is a
    manual step)."""
    out: set[str] = {item.clause_id for block in policy.information for item in block.items
                     if item.anchor is not None and item.within is not None and item.recorded_in is not None}
    for stage in policy.stages:
        out |= {d.clause_id for d in stage.deadlines}
        out |= {s.clause_id for s in stage.steps}
        out |= {e.clause_id for e in stage.escalations}
        out |= {t.clause_id for t in stage.transitions}
        if stage.handoff:
            out.add(stage.handoff.clause_id)
        if stage.follow_up:
            out.add(stage.follow_up.clause_id)
        out |= {c.clause_id for c in stage.cadences}
    return out


def cadence_clauses(policy: ir.Policy) -> set[str]:
    return {c.clause_id for stage in policy.stages for c in stage.cadences}


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_recycle_paths_and_deadlines_of_the_examples_have_workflows(path, in_repo):
    """In the examples nothing obligatory is left to a manual step alone: a workflow enforces it.
    A cadence is judged by workflows with custom code (cadence.py), the sends it counts are made
    outside the build (manual step SLA834: each adds 1 to the counter); without custom code its
    manual step SLA849 feeds `sla report`, which measures every period."""
    policy = compiled(path)
    manifest = as_json(build(policy, BuildOptions()).files)["manifest.json"]
    enforced = {c for w in manifest["workflows"] for c in w["clauses"]}
    assert obligation_clauses(policy) - enforced == set()
    for clause in cadence_clauses(policy):
        (step,) = [s for s in manifest["manualSteps"] if clause in s["clauses"] and s["code"] in ("SLA834", "SLA849")]
        assert step["code"] == "SLA834" and f"{clause}.period" in step["step"]
    off = as_json(build(policy, BuildOptions(hubspot=HubSpotSettings(custom_code=False))).files)["manifest.json"]
    enforced = {c for w in off["workflows"] for c in w["clauses"]}
    steps = {c: s for s in off["manualSteps"] for c in s["clauses"]}
    for clause in cadence_clauses(policy):
        assert clause not in enforced and steps[clause]["code"] == "SLA849"
        assert "sla report --from hubspot" in steps[clause]["step"]


def test_manifest_has_the_fingerprint_and_every_file(outputs, in_repo):
    files = outputs("hubspot_scoring.sla")
    manifest = files["manifest.json"]
    assert manifest["policy"] == {
        "id": "hubspot_scoring",
        "file": "hubspot_scoring.sla",
        "title": "Sales & Marketing SLA — HubSpot lead scoring",
        "version": "3.3.0",
        "fingerprint": fingerprint(compiled(POLICY_FILES["hubspot_scoring.sla"])),
    }
    listed = {w["file"] for w in manifest["workflows"]} | {p["file"] for p in manifest["properties"]}
    listed |= {"properties/_group.json", "scoring.json", "manifest.json"}
    assert listed == set(files)
    for entry in manifest["workflows"]:
        flow = files[entry["file"]]
        assert entry["name"] == flow["name"]
        assert entry["actions"] == len(flow["actions"])
        stem = entry["file"].removeprefix("workflows/").removesuffix(".json")
        assert flow["description"].endswith(
            f"[sla-lang policy=hubspot_scoring clause={stem} hash={entry['contentHash']}]")
    for entry in manifest["properties"]:
        assert files[entry["file"]]["description"].endswith(
            f"[sla-lang policy=hubspot_scoring clause=property.{entry['name']} "
            f"hash={property_hash(files[entry['file']])}]")


def test_every_diagnostic_is_a_manual_step_and_back(in_repo):
    result = built(POLICY_FILES["inside_sales_sal.sla"])
    manifest = as_json(result.files)["manifest.json"]
    step_codes = {s["code"] for s in manifest["manualSteps"]}
    diagnostic_codes = {d.code for d in result.diagnostics}
    # SLA828/SLA830 rename or inform without anything to do by hand
    assert step_codes == diagnostic_codes - {"SLA828", "SLA830"}


# ------------------------------------------------------------------ what the workflows do


def test_qualification_flow_enrols_by_list_and_hands_over(outputs):
    flow = outputs("hubspot_scoring.sla")["workflows/lead.to.mql.json"]
    assert (flow["type"], flow["objectTypeId"], flow["isEnabled"]) == ("CONTACT_FLOW", "0-1", False)
    criteria = flow["enrollmentCriteria"]
    assert criteria["type"] == "LIST_BASED"
    root = criteria["listFilterBranch"]
    assert root["filterBranchType"] == "OR" and root["filters"] == []
    (group,) = root["filterBranches"]
    assert group["filterBranchType"] == "AND" and group["filterBranches"] == []
    assert [(f["property"], f["operation"]["operator"], f["operation"].get("value", f["operation"].get("values")))
            for f in group["filters"]] == [
        ("sla_stage", "IS_ANY_OF", ["lead"]),
        ("hubspotscore", "IS_GREATER_THAN_OR_EQUAL_TO", 50),
        ("sla_lead_to_mql_armed", "IS_EQUAL_TO", True),  # leads come back from the subscriber stage
    ]
    # the MQL's exits are disarmed (a re-qualified lead must decide afresh), then the start time is
    # set before the SLA stage, which deadline workflows enrol on
    types = action_types(flow)
    # the hand-off: Slack (custom code posting to the channel's incoming webhook), email, task
    # then the custom code that re-arms an exit of the MQL stage whose condition became true by the
    # same change (a chained move, tests/test_hubspot_chain.py)
    assert types[-7:] == ["0-5:lifecyclestage=marketingqualifiedlead", "0-5:sla_stage_entered_at", "0-5:sla_stage=mql",
                          "CUSTOM_CODE", "CUSTOM_CODE", "0-8:", "0-3:TODO"]
    assert "EXITS = (('sla_mql_to_sql_armed'," in flow["actions"][-4]["sourceCode"]
    assert flow["actions"][-3]["secretNames"] == ["SLA_LANG_SLACK_SALES_MQL"]
    assert all(t.endswith("_armed=false") for t in types[:-7])
    email, task = flow["actions"][-2]["fields"], flow["actions"][-1]["fields"]
    assert email["owner_properties"] == ["hubspot_owner_id"]
    assert "{{ enrolled_object.hubspotscore }}" in email["body"]  # `include lead_score`
    assert "{{ enrolled_object.hs_analytics_source }}" in email["body"]  # `include lead_source`
    assert task["due_time"] == {"delta": 1, "timeUnit": "DAYS", "daysOfWeek": [
        "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"],
        "timeZoneStrategy": {"type": "STATIC_TIME_ZONE", "timeZoneId": "Asia/Tokyo"}}  # 24h, in the calendar's zone
    assert task["owner_assignment"]["value"]["propertyName"] == "hubspot_owner_id"


def test_business_day_task_due_dates_count_the_calendar_working_days(outputs):
    flow = outputs("smarketing_ja.sla")["workflows/lead.to.mql.json"]
    (task,) = [a["fields"] for a in flow["actions"] if a.get("actionTypeId") == "0-3"]
    assert task["due_time"] == {"delta": 1, "timeUnit": "DAYS",
                                "daysOfWeek": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"],
                                "timeZoneStrategy": {"type": "STATIC_TIME_ZONE", "timeZoneId": "Asia/Tokyo"}}


def test_recycle_disarms_clears_lifecycle_before_setting_it_back_and_records_the_date(outputs):
    flow = outputs("hubspot_scoring.sla")["workflows/mql.to.nurture.json"]
    types = action_types(flow)
    assert types[:2] == ["LIST_BRANCH", "0-3:TODO"]  # recycle reason missing → task for the owner
    assert types[2:] == [
        "0-5:sla_nurture_to_mql_armed=false",  # re-qualifying needs the score to become true again
        "CUSTOM_CODE",  # clears the lifecycle stage through the CRM API (HubSpot's documented way)
        "0-5:lifecyclestage=lead", "0-5:sla_stage_entered_at", "0-5:sla_stage=nurture",
        "CUSTOM_CODE",  # re-arms `nurture.to.mql` when the same change also raised the score (a chained move)
        "0-5:sla_recycled_at", "0-5:sla_recycled_from=mql",
    ]  # the owner is kept (no portal mapping to rotate marketing's users in: SLA822), no data is cleared
    assert "CLEAR = ('lifecyclestage',)" in flow["actions"][3]["sourceCode"]
    branch = flow["actions"][0]
    assert branch["listBranches"][0]["filterBranch"]["filterBranches"][0]["filters"][0]["property"] == "recycle_reason"
    # both paths of the branch continue at action 3: the task's STANDARD edge, the branch's GOTO
    assert branch["listBranches"][0]["connection"] == {"edgeType": "GOTO", "nextActionId": "3"}
    assert flow["actions"][1]["connection"] == {"edgeType": "STANDARD", "nextActionId": "3"}
    assert "cleared before it is set to lead" in flow["description"]


def test_forward_moves_do_not_clear_the_lifecycle_stage(outputs):
    flow = outputs("hubspot_scoring.sla")["workflows/sql.to.opportunity.json"]
    types = [t for t in action_types(flow) if not t.endswith("_armed=false")]
    assert types[:1] == ["0-5:lifecyclestage=opportunity"]
    # the one custom code is the chained-move check, not a clearing of the lifecycle stage
    (code,) = [a["sourceCode"] for a in flow["actions"] if a.get("type") == "CUSTOM_CODE"]
    assert "also meet an exit of the next stage" in code and "CLEAR" not in code


def test_same_lifecycle_stage_sets_only_the_sla_stage(outputs):
    flow = outputs("inside_sales_sal.sla")["workflows/mql.to.sal.json"]  # both marketingqualifiedlead
    assert action_types(flow)[-3:] == ["0-5:sla_stage_entered_at", "0-5:sla_stage=sal", "CUSTOM_CODE"]
    assert all(t.endswith("_armed=false") for t in action_types(flow)[:-3])
    filters = flow["enrollmentCriteria"]["listFilterBranch"]["filterBranches"][0]["filters"]
    assert filters[1]["operation"] == {"operationType": "BOOL", "operator": "IS_EQUAL_TO", "value": True,
                                       "includeObjectsWithNoValueSet": False}


def test_deadline_monitor_computes_the_moments_then_warns_at_the_slo_first_then_breaches(outputs):
    # SQL's `respond within 48h target 24h`, met by any activity: the plain monitor ("Last
    # contacted"). MQL's response (3.3.0) is chosen by channel: tests/test_hubspot_new_constructs.py.
    flow = outputs("hubspot_scoring.sla")["workflows/sql.respond.json"]
    types = action_types(flow)
    assert types[:5] == ["0-5:sla_sql_respond_slo_missed=false", "0-5:sla_sql_respond_breached=false",
                         "0-5:sla_sql_respond_escalated=false", "CUSTOM_CODE", "STATIC_BRANCH"]
    code, decided = flow["actions"][3], flow["actions"][4]
    assert code["inputFields"] == [
        {"name": "entered_at", "value": {"type": "OBJECT_PROPERTY", "propertyName": "sla_stage_entered_at"}},
        {"name": "now", "value": {"type": "TIMESTAMP", "timestampType": "EXECUTION_TIME"}}]
    assert code["secretNames"] == ["SLA_LANG_HUBSPOT_TOKEN"] and code["runtime"] == "PYTHON39"
    assert code["outputFields"] == [{"name": "result", "type": "ENUMERATION", "options": ["written", "passed", "failed"]}]
    assert decided["inputValue"] == {"type": "FIELD_DATA", "actionId": "4", "dataKey": "result"}
    written, passed = decided["staticBranches"]
    # every moment already behind the action: the same path, whose waits then end at once
    assert passed["branchValue"] == "passed" and passed["connection"] == {
        "edgeType": "GOTO", "nextActionId": written["connection"]["nextActionId"]}
    exact_start, fallback_start = written["connection"]["nextActionId"], decided["defaultBranch"]["nextActionId"]
    by_id = {a["actionId"]: a for a in flow["actions"]}
    # written: wait until each computed moment (SLO, then SLA and the escalation at the same moment)
    exact = types[int(exact_start) - 1:int(fallback_start) - 1]
    assert exact == ["0-35:DAYS", "LIST_BRANCH", "0-5:sla_sql_respond_slo_missed=true", "0-9:",
                     "0-35:DAYS", "LIST_BRANCH", "0-5:sla_sql_respond_breached=true", "0-8:",
                     "0-5:sla_sql_respond_escalated=true"]
    assert [by_id[str(int(exact_start) + i)]["fields"]["date"]["propertyName"] for i in (0, 4)] == [
        "sla_sql_respond_slo_at", "sla_sql_respond_due_at"]
    # not written: fixed waits of 24 h each, the SLO then the SLA (calendar hours: exact too)
    assert types[int(fallback_start) - 1:][:2] == ["0-1:HOURS", "LIST_BRANCH"]
    assert [a["fields"]["delta"] for a in flow["actions"] if a.get("actionTypeId") == "0-1"] == ["24", "24"]
    check = by_id[str(int(exact_start) + 1)]
    late, before, met = check["listBranches"]
    assert late["connection"]["edgeType"] == "GOTO"  # contacted only after the moment: late
    assert before["connection"]["edgeType"] == "GOTO"  # last contact before the lead entered: none since
    assert "connection" not in met  # done in time: the flow ends
    assert check["defaultBranch"]["edgeType"] == "STANDARD"  # never contacted: continue
    (condition,) = before["filterBranch"]["filterBranches"][0]["filters"]
    assert condition == {"filterType": "PROPERTY", "property": "notes_last_contacted", "operation": {
        "operationType": "COMPARATIVE_DATE", "operator": "IS_BEFORE",
        "comparisonPropertyName": "sla_stage_entered_at", "includeObjectsWithNoValueSet": False}}
    (known,) = met["filterBranch"]["filterBranches"][0]["filters"]
    assert known["operation"]["operator"] == "IS_KNOWN"  # a contact at the very moment of entry counts
    assert flow["enrollmentCriteria"]["unEnrollObjectsNotMeetingCriteria"] is True
    assert set(flow["enrollmentCriteria"]) >= {"shouldReEnroll", "reEnrollmentTriggersFilterBranches"}


def test_decide_monitor_checks_that_the_lead_left_the_stage(outputs):
    flow = outputs("hubspot_scoring.sla")["workflows/opportunity.decide.json"]
    check = next(a for a in flow["actions"] if a["type"] == "LIST_BRANCH")
    (condition,) = check["listBranches"][0]["filterBranch"]["filterBranches"][0]["filters"]
    assert condition["property"] == "sla_stage"
    assert condition["operation"]["operator"] == "IS_NONE_OF"
    assert condition["operation"]["values"] == ["opportunity"]
    # 90 days as hours: a day-delay across a clock change is undocumented (SEMANTICS.md S14)
    assert [(a["fields"]["delta"], a["fields"]["time_unit"]) for a in flow["actions"]
            if a.get("actionTypeId") == "0-1"] == [("2160", "HOURS")]


def test_without_custom_code_business_deadlines_wait_the_shortest_length_and_say_how_early(in_repo):
    """decide within 5bd, Mon–Fri 9–18: at least 4 days 9 hours (Monday 09:00 → Friday 18:00);
    a check then never comes after the deadline. The manifest gives the exact bound, holidays of
    the two listed years included (Golden Week, New Year)."""
    result = build(compiled(POLICY_FILES["hubspot_scoring.sla"]),
                   BuildOptions(hubspot=HubSpotSettings(custom_code=False)))
    files = as_json(result.files)
    flow = files["workflows/mql.decide.json"]
    delays = [(a["fields"]["delta"], a["fields"]["time_unit"]) for a in flow["actions"] if a.get("actionTypeId") == "0-1"]
    assert delays == [("105", "HOURS")]
    assert not any(a["type"] == "CUSTOM_CODE" for f in flows_of(files).values() for a in f["actions"])
    (timer,) = [t for t in files["manifest.json"]["timers"] if t["clause"] == "mql.decide" and t["event"] == "breach"]
    assert timer["timing"] == "wall-clock"
    assert timer["conservative"]["waitMinutes"] == 105 * 60
    assert timer["conservative"]["offsetMinutes"]["latest"] == 0 and timer["conservative"]["offsetMinutes"]["earliest"] < -3 * 1440
    notes = [d.message for d in result.diagnostics if d.code == "SLA823" and d.message.startswith("`5bd`")]
    assert notes and all("never after it" in n for n in notes)
    assert "SLA838" not in {d.code for d in result.diagnostics}


def test_monitor_flows_flag_at_the_moment_and_follow_ups_run_in_business_hours(outputs, in_repo):
    files = outputs("inside_sales_sal.sla")
    assert files["workflows/mql.respond.json"]["timeWindows"] == []  # a breach is flagged when it happens
    # with custom code the follow-up moments are computed in business time: no window needed
    # (smarketing_ja: a follow-up in a calendar with holidays, closed days and 09:30 openings)
    files = outputs("smarketing_ja.sla")
    assert files["workflows/mql.follow_up.json"]["timeWindows"] == []
    # without it, follow-ups wait calendar days and run only in working hours
    files = as_json(build(compiled(POLICY_FILES["smarketing_ja.sla"]),
                          BuildOptions(hubspot=HubSpotSettings(custom_code=False))).files)
    flow = files["workflows/mql.follow_up.json"]
    assert [w["day"] for w in flow["timeWindows"]] == ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]
    assert flow["timeWindows"][0]["startTime"] == {"hour": 9, "minute": 30}
    # a minute past the calendar's 18:00 close: a wait ending exactly at the close is never at the
    # window's end, where HubSpot does not say whether the action runs then or next morning (S13)
    assert flow["timeWindows"][0]["endTime"] == {"hour": 18, "minute": 1}
    blocked = flow["blockedDates"]
    assert {"dayOfMonth": 30, "month": "DECEMBER", "year": 2026} in blocked  # `closed`
    assert {"dayOfMonth": 1, "month": "JANUARY", "year": 2027} in blocked  # New Year's Day (holidays JP)
    assert {"dayOfMonth": 23, "month": "NOVEMBER", "year": 2026} in blocked  # Labour Thanksgiving Day
    assert blocked == sorted(blocked, key=lambda d: (d["year"], ["JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY",
                             "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER", "NOVEMBER", "DECEMBER"].index(d["month"]),
                             d["dayOfMonth"]))
    # state changes are immediate: transition workflows have no window
    assert files["workflows/lead.to.mql.json"]["timeWindows"] == []


def test_follow_up_cadence_creates_a_task_at_each_offset(outputs):
    flow = outputs("hubspot_scoring.sla")["workflows/mql.follow_up.json"]  # 0d, 3d, 5bd via call, email
    types = action_types(flow)
    assert types[:2] == ["CUSTOM_CODE", "STATIC_BRANCH"]
    code = flow["actions"][0]["sourceCode"]
    assert "('sla_mql_follow_up_3_at', 'working', 2700)" in code and "('sla_mql_follow_up_2_at', 'clock', 4320)" in code
    steps = ["0-5:sla_mql_follow_up_attempt=1", "0-3:CALL", "0-5:sla_mql_follow_up_attempt=2", "0-3:CALL",
             "0-5:sla_mql_follow_up_attempt=3", "0-3:CALL"]
    assert [t for t in types[2:] if not t.startswith(("0-35", "0-1:"))] == steps * 2  # exact path, then the fallback
    assert [(a["fields"]["delta"], a["fields"]["time_unit"]) for a in flow["actions"]
            if a.get("actionTypeId") == "0-1"] == [("72", "HOURS"), ("33", "HOURS")]  # 3d; 5bd: at least 4d9h


def test_timeout_transition_waits_then_checks_the_lead_is_still_there(outputs):
    flow = outputs("hubspot_scoring.sla")["workflows/lead.to.archived.json"]
    assert action_types(flow)[:5] == ["CUSTOM_CODE", "STATIC_BRANCH", "0-35:DAYS", "LIST_BRANCH", "0-1:HOURS"]
    exact, fallback = flow["actions"][3], flow["actions"][5]
    assert "defaultBranch" not in exact and "defaultBranch" not in fallback  # moved on: the flow ends
    # both checks continue with the move: one STANDARD edge, one GOTO into the same action
    assert exact["listBranches"][0]["connection"] == {"edgeType": "STANDARD", "nextActionId": "7"}
    assert fallback["listBranches"][0]["connection"] == {"edgeType": "GOTO", "nextActionId": "7"}


def test_priorities_become_ordered_branches(outputs):
    flow = outputs("hubspot_scoring.sla")["workflows/priority.json"]
    branch = flow["actions"][0]
    assert [b["branchName"] for b in branch["listBranches"]] == ["Hot", "Warm"]
    assert branch["defaultBranchName"] == "Cold"
    assert action_types(flow)[1:] == ["0-5:sla_priority=hot", "0-5:sla_priority=warm", "0-5:sla_priority=cold"]


def test_entry_flow_puts_new_contacts_into_the_agreement(outputs):
    files = outputs("hubspot_scoring.sla")
    flow = files["workflows/lead.entry.json"]
    filters = flow["enrollmentCriteria"]["listFilterBranch"]["filterBranches"][0]["filters"]
    assert [(f["property"], f["operation"]["operator"]) for f in filters] == [
        ("sla_stage", "IS_UNKNOWN"), ("lifecyclestage", "IS_ANY_OF")]
    assert filters[1]["operation"]["values"] == ["lead"]
    assert "workflows/subscriber.entry.json" in files


def test_webhook_channel_becomes_a_webhook_action(outputs):
    flow = outputs("every_construct.sla")["workflows/lead.to.mql.json"]
    (hook,) = [a for a in flow["actions"] if a["type"] == "WEBHOOK"]
    assert hook["webhookUrl"] == "https://example.invalid/hook"
    assert hook["method"] == "POST" and hook["queryParams"] == []


def test_lifecycle_mapping_and_custom_stage_property(outputs):
    files = outputs("smarketing_ja.sla")
    stages = {s["id"]: s["lifecycleStage"] for s in files["manifest.json"]["stages"]}
    assert stages["sal"] == "marketingqualifiedlead" and stages["sgl"] == "lead" and stages["closed"] == "other"
    stage_property = files["properties/sla_stage.json"]
    assert [o["value"] for o in stage_property["options"]] == [
        "lead", "mql", "sal", "sgl", "sql", "opportunity", "nurture", "customer", "closed"]
    assert stage_property["options"][2]["label"] == "SAL\uff08セールス・アクセプテッド・リード\uff09"


def test_recycle_reason_is_an_enumeration_with_the_policy_reasons(outputs):
    files = outputs("hubspot_scoring.sla")
    reason = files["properties/recycle_reason.json"]
    assert (reason["type"], reason["fieldType"], reason["groupName"]) == ("enumeration", "select", "sla_lang")
    assert [o["value"] for o in reason["options"]] == ["timing", "budget", "no_authority", "competitor", "no_response"]
    japanese = outputs("smarketing_ja.sla")["properties/return_reason.json"]
    assert [o["value"] for o in japanese["options"]] == ["時期尚早", "予算なし", "決裁者不在", "ニーズなし", "連絡不通"]
    group = files["properties/_group.json"]
    assert group == {"name": "sla_lang", "label": "SLA (sla-lang)", "displayOrder": -1}


def test_properties_mapped_with_hubspot_are_not_created_but_listed_as_existing(outputs):
    files = outputs("hubspot_scoring.sla")
    existing = {p["name"] for p in files["manifest.json"]["existingProperties"]}
    assert {"hubspotscore", "lifecyclestage", "hubspot_owner_id", "notes_last_contacted", "firstname"} <= existing
    assert "properties/numberofemployees.json" not in files and "properties/employees.json" not in files


def test_scoring_json_lists_every_rule_for_the_admin(outputs):
    scoring = outputs("hubspot_scoring.sla")["scoring.json"]
    (score,) = scoring["scores"]
    assert score["hubspotProperty"] == "hubspotscore"
    assert [(g["group"], g["maxPoints"], len(g["rules"])) for g in score["groups"]] == [("fit", 40, 4), ("engagement", 60, 6)]
    first = score["groups"][0]["rules"][0]
    assert first == {"clause": "score.lead_score.fit.1", "points": 15, "label": "Decision-maker title (director or above)",
                     "criteria": 'job_level in ["executive", "director"]',
                     "reads": [{"name": "job_level", "hubspotProperty": "job_level"}]}


def test_japanese_policy_gets_japanese_wording_and_lang_overrides_it(in_repo):
    path = POLICY_FILES["smarketing_ja.sla"]
    ja = as_json(built(path).files)
    en = as_json(built(path, lang="en").files)
    assert ja["workflows/mql.respond.json"]["name"].endswith("1営業日以内の初回対応")
    assert en["workflows/mql.respond.json"]["name"].endswith("first response within 1 business day")
    assert ja["properties/sla_stage.json"]["label"] == "SLAステージ"


# ------------------------------------------------------------------ conditions → filters


def filters_for(condition_text: str) -> list[list[tuple]]:
    text = f'''agreement "C" {{
  version "1"
  effective 2026-01-01
  owner ops
}}
team ops {{
}}
property n "N" number
property e "E" enum ["a", "b", "c"]
property f "F" bool
property t "T" text
event click "Click"
stage s "S" {{
  owner ops
  entry
  -> done when {condition_text}
}}
stage done "Done" {{
  owner ops
  terminal
}}
'''
    result = compile_text(text)
    assert result.ok, [d.message for d in result.errors]
    flow = as_json(build(result.policy, BuildOptions()).files)["workflows/s.to.done.json"]
    groups = flow["enrollmentCriteria"]["listFilterBranch"]["filterBranches"]
    out = []
    for group in groups:
        row = []
        for f in group["filters"][1:]:  # the first filter is "in stage s"
            op = f["operation"]
            row.append((f["property"], op["operator"], op.get("value", op.get("values")),
                        op["includeObjectsWithNoValueSet"]))
        out.append(row)
    return out


def test_and_or_become_groups_of_filters():
    assert filters_for('n >= 5 and (e == "a" or f)') == [
        [("n", "IS_GREATER_THAN_OR_EQUAL_TO", 5, False), ("e", "IS_ANY_OF", ["a"], False)],
        [("n", "IS_GREATER_THAN_OR_EQUAL_TO", 5, False), ("f", "IS_EQUAL_TO", True, False)],
    ]


def test_not_is_pushed_to_the_comparisons_and_includes_missing_values():
    assert filters_for('not (n >= 5 or e in ["a", "b"])') == [
        [("n", "IS_LESS_THAN", 5, True), ("e", "IS_NONE_OF", ["a", "b"], True)],
    ]
    assert filters_for("not f") == [[("f", "IS_NOT_EQUAL_TO", True, True)]]
    assert filters_for("t is not set") == [[("t", "IS_UNKNOWN", None, True)]]
    assert filters_for('t != "x"') == [[("t", "IS_NOT_EQUAL_TO", ["x"], True)]]


def test_event_counts_treat_a_missing_count_as_zero():
    assert filters_for("click >= 3") == [[("click", "IS_GREATER_THAN_OR_EQUAL_TO", 3, False)]]
    assert filters_for("click < 3") == [[("click", "IS_LESS_THAN", 3, True)]]
    assert filters_for("click") == [[("click", "IS_GREATER_THAN_OR_EQUAL_TO", 1, False)]]
    assert filters_for("not click") == [[("click", "IS_LESS_THAN", 1, True)]]


# ------------------------------------------------------------------ diagnostics


@pytest.mark.parametrize("path", HUBSPOT_FIXTURES, ids=lambda p: p.name)
def test_hubspot_fixture_reports_its_expectations(path, in_repo):
    """tests/fixtures/hubspot/<CODE>_*.sla: building it for HubSpot reports exactly its `# expect:`s."""
    expected = expectations(path)
    assert expected, f"{path.name} has no `# expect:` comment"
    codes = {code for code, _, _ in expected}
    assert path.name.split("_")[0] in codes
    result = compile_path(path, shown_as=rel(path))
    assert result.ok, [d.message for d in result.errors]
    diagnostics = build(result.policy, BuildOptions(hubspot=fixture_settings(path))).diagnostics
    got = sorted((d.code, d.span.line, d.span.column) for d in diagnostics
                 if d.code in codes or d.severity is Severity.ERROR)
    assert got == sorted(expected)


def fixture_settings(path: Path) -> HubSpotSettings:
    """`# config: …` lines of a fixture: the [tool.sla.hubspot] table it is built with."""
    import tempfile

    from sla_lang.config import load_config

    lines = [line[len("# config: "):] for line in path.read_text(encoding="utf-8").splitlines()
             if line.startswith("# config: ")]
    if not lines:
        return HubSpotSettings()
    with tempfile.TemporaryDirectory() as folder:
        pyproject = Path(folder) / "pyproject.toml"
        pyproject.write_text("[tool.sla]\n[tool.sla.hubspot]\n" + "\n".join(lines) + "\n", encoding="utf-8")
        config, problems = load_config(pyproject)
    assert problems == []
    return config.hubspot


def test_every_hubspot_rule_has_a_fixture_or_a_test():
    from sla_lang.diagnostics import all_rules

    fixtures = {p.name.split("_")[0] for p in HUBSPOT_FIXTURES}
    ours = [r.code for r in all_rules() if "SLA820" <= r.code <= "SLA849"]
    # SLA820: test_invalid_output_is_an_internal_error; SLA836 is a check (tests/fixtures/invalid/)
    assert ours and set(ours) - fixtures == {"SLA820", "SLA836"}


def test_severities_follow_the_rule_inherent_limits_are_info_lossy_mappings_warn():
    from sla_lang.diagnostics import find_rule

    info = {"SLA824", "SLA830", "SLA833", "SLA834", "SLA835", "SLA838"}
    for code in (f"SLA{n}" for n in range(821, 841)):
        assert find_rule(code).severity is (Severity.INFO if code in info else Severity.WARNING), code
    assert find_rule("SLA820").severity is Severity.ERROR


def test_invalid_output_is_an_internal_error(monkeypatch, in_repo):
    from sla_lang.targets.hubspot import flows

    original = flows.Flow.body

    def broken(self):
        body = original(self)
        if self.kind == "monitor":
            body["nextAvailableActionId"] = "99"  # a response field
            body["actions"][0]["connection"]["nextActionId"] = "42"
        return body

    monkeypatch.setattr(flows.Flow, "body", broken)
    result = built(POLICY_FILES["hubspot_scoring.sla"])
    assert result.failed and result.files == {}
    (error,) = [d for d in result.diagnostics if d.severity is Severity.ERROR]
    assert error.code == "SLA820"
    assert "workflows/mql.decide.json: $.nextAvailableActionId: not a field sla-lang sends" in error.message
    assert "workflows/mql.decide.json: $.actions[0].connection.nextActionId: '42' is not an action" in error.message


def test_schema_errors_name_the_json_path():
    flow = {"actions": []}
    errors = schema_errors("flow", flow)
    assert errors and errors[0].startswith("$")
    property_body = {"name": "hs_reserved", "label": "x", "type": "number", "fieldType": "number",
                     "groupName": "sla_lang", "description": "", "displayOrder": 0}
    assert any(e.startswith("$.name:") for e in schema_errors("property", property_body))


def _flow(actions, start="1"):
    return {"startActionId": start, "actions": actions}


def _single(action_id, next_id=None, edge="STANDARD"):
    action = {"actionId": action_id, "type": "SINGLE_CONNECTION"}
    if next_id:
        action["connection"] = {"edgeType": edge, "nextActionId": next_id}
    return action


def test_graph_check_finds_dangling_unreachable_cyclic_and_miscounted_actions():
    assert graph_errors(_flow([_single("1", "2"), _single("2")])) == []
    assert graph_errors(_flow([_single("1", "3"), _single("2")])) == [
        "$.actions[0].connection.nextActionId: '3' is not an action of this workflow"]
    assert graph_errors(_flow([_single("1"), _single("2")])) == [
        "$.actions[1]: action '2' cannot be reached from startActionId"]
    assert graph_errors(_flow([_single("1", "2"), _single("2", "1")])) == ["$.actions[1].connection: closes a cycle"]
    assert graph_errors(_flow([_single("1", "2"), _single("2", "1", edge="GOTO")])) == []  # an explicit loop
    assert graph_errors({**_flow([_single("1")]), "nextAvailableActionId": "2"}) == [
        "$.nextAvailableActionId: a response field (ApiContactFlow), not part of the create request"]
    # a join: the second way into an action must be a GOTO (HubSpot's documented edge for it)
    join = {"actionId": "1", "type": "LIST_BRANCH", "listBranches": [{"connection": {"edgeType": "STANDARD",
                                                                                     "nextActionId": "3"}}],
            "defaultBranch": {"edgeType": "STANDARD", "nextActionId": "2"}}
    assert graph_errors(_flow([join, _single("2", "3"), _single("3")])) == [
        ("$.actions[1].connection: a second STANDARD edge into action '3' (the first is "
         "$.actions[0].listBranches[0].connection); a join must be a GOTO")]
    join["listBranches"][0]["connection"]["edgeType"] = "GOTO"
    assert graph_errors(_flow([join, _single("2", "3"), _single("3")])) == []
    branch = {"actionId": "1", "type": "LIST_BRANCH", "listBranches": [], "defaultBranch": {"edgeType": "STANDARD"}}
    assert graph_errors(_flow([branch])) == ["$.actions[0].defaultBranch: has no nextActionId (HubSpot rejects it)"]


def test_manifest_cross_check_finds_properties_nobody_creates(outputs):
    files = copy.deepcopy(outputs("hubspot_scoring.sla"))
    files["manifest.json"]["properties"] = [p for p in files["manifest.json"]["properties"] if p["name"] != "sla_stage"]
    del files["properties/sla_stage.json"]
    problems = check_files(files)
    assert "workflows/lead.entry.json: property 'sla_stage' is neither created nor listed as existing" in problems


# ------------------------------------------------------------------ through the command line


def test_sla_build_writes_the_hubspot_files_and_check_finds_them_up_to_date(tmp_path, in_repo):
    from click.testing import CliRunner

    from sla_lang.cli import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["build", "policies/hubspot_scoring.sla", "--target", "hubspot", "-o", str(tmp_path),
                                 "--color", "never"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "manifest.json").is_file() and (tmp_path / "workflows" / "mql.respond.json").is_file()
    assert "info SLA838 (hubspot-custom-code)" in result.output
    again = runner.invoke(cli, ["build", "policies/hubspot_scoring.sla", "--target", "hubspot", "-o", str(tmp_path),
                                "--check"])
    assert again.exit_code == 0, again.output
    assert load_target("hubspot").NAME == "hubspot"


# ------------------------------------------------------------------ filters mean what the condition means

_AT = Span.point("<test>")
_BASE = compile_text('''agreement "C" {
  version "1"
  effective 2026-01-01
  owner ops
}
team ops {
}
property n "N" number
property e "E" enum ["a", "b", "c"]
property f "F" bool
property t "T" text
event click "Click"
''').policy


def _ref(name):
    return ir.Ref(name, None, _AT)


_leaves = st.one_of(
    st.builds(lambda op, v: ir.Comparison(_ref("n"), op, ir.Number(v, _AT), _AT), st.sampled_from(list("<>") + ["<=", ">=", "==", "!="]), st.integers(-2, 2)),
    st.builds(lambda op, v: ir.Comparison(_ref("click"), op, ir.Number(v, _AT), _AT), st.sampled_from(["<", ">", "<=", ">=", "==", "!="]), st.integers(0, 2)),
    st.builds(lambda op, v: ir.Comparison(_ref("e"), op, ir.Text(v, _AT), _AT), st.sampled_from(["==", "!="]), st.sampled_from("abc")),
    st.builds(lambda op, v: ir.Comparison(_ref("f"), op, ir.Flag(v, _AT), _AT), st.sampled_from(["==", "!="]), st.booleans()),
    st.builds(lambda op, v: ir.Comparison(_ref("t"), op, ir.Text(v, _AT), _AT), st.sampled_from(["==", "!="]), st.sampled_from("xy")),
    st.builds(lambda vs, neg: ir.Membership(_ref("e"), tuple(ir.Text(v, _AT) for v in vs), neg, _AT),
              st.lists(st.sampled_from("abc"), min_size=1, max_size=2, unique=True), st.booleans()),
    st.builds(lambda name, neg: ir.Presence(_ref(name), neg, _AT), st.sampled_from(["n", "e", "f", "t"]), st.booleans()),
    st.builds(lambda name: ir.Truthy(_ref(name), _AT), st.sampled_from(["f", "click"])),
)
_conditions = st.recursive(_leaves, lambda inner: st.one_of(
    st.builds(lambda items: ir.AllOf(tuple(items), _AT), st.lists(inner, min_size=2, max_size=3)),
    st.builds(lambda items: ir.AnyOf(tuple(items), _AT), st.lists(inner, min_size=2, max_size=3)),
    st.builds(lambda item: ir.Negation(item, _AT), inner),
), max_leaves=6)
_contacts = st.fixed_dictionaries({
    "n": st.none() | st.integers(-3, 3), "e": st.none() | st.sampled_from("abc"), "f": st.none() | st.booleans(),
    "t": st.none() | st.sampled_from("xyz"), "click": st.none() | st.integers(0, 3),
})
_OPS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, ">=": lambda a, b: a >= b, ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}


def holds(condition, contact) -> bool:
    """The policy's meaning: a comparison with a missing value is false except the negative forms;
    an event that never happened has count 0."""
    if isinstance(condition, ir.AllOf):
        return all(holds(c, contact) for c in condition.items)
    if isinstance(condition, ir.AnyOf):
        return any(holds(c, contact) for c in condition.items)
    if isinstance(condition, ir.Negation):
        return not holds(condition.item, contact)
    name = (condition.ref if isinstance(condition, ir.Truthy) else condition.left).name
    value = contact[name]
    if name == "click" and value is None:
        value = 0
    if isinstance(condition, ir.Truthy):
        return value is True if name == "f" else value >= 1
    if isinstance(condition, ir.Presence):
        return (value is None) == condition.negated
    if isinstance(condition, ir.Membership):
        if value is None:
            return condition.negated
        return (value in {v.value for v in condition.values}) != condition.negated
    if value is None:
        return condition.op == "!="
    return _OPS[condition.op](value, condition.right.value)


def matches(groups, contact) -> bool:
    """HubSpot's meaning of OR → AND → property filters."""
    def one(f):
        value, op = contact[f["property"]], f["operation"]
        if value is None:
            return op["includeObjectsWithNoValueSet"] if op["operationType"] != "ALL_PROPERTY" else op["operator"] == "IS_UNKNOWN"
        kind, operator = op["operationType"], op["operator"]
        if kind == "ALL_PROPERTY":
            return operator == "IS_KNOWN"
        if kind == "NUMBER":
            symbol = {"IS_EQUAL_TO": "==", "IS_NOT_EQUAL_TO": "!=", "IS_GREATER_THAN": ">", "IS_GREATER_THAN_OR_EQUAL_TO": ">=",
                      "IS_LESS_THAN": "<", "IS_LESS_THAN_OR_EQUAL_TO": "<="}[operator]
            return _OPS[symbol](value, op["value"])
        if kind == "BOOL":
            return (value == op["value"]) == (operator == "IS_EQUAL_TO")
        inside = value in op["values"]  # ENUMERATION, MULTISTRING
        return inside if operator in ("IS_ANY_OF", "IS_EQUAL_TO") else not inside
    return any(all(one(f) for f in group) for group in groups)


@settings(max_examples=300, deadline=None)
@given(_conditions, st.lists(_contacts, min_size=8, max_size=8))
def test_filters_mean_what_the_condition_means(condition, contacts):
    groups = FilterTranslator(Catalog(_BASE)).groups(condition)
    for contact in contacts:
        assert matches(groups, contact) == holds(condition, contact), (condition, contact, groups)


# ------------------------------------------------------------------ odd but valid policies


@pytest.mark.parametrize("body", [
    'priority hot "Hot"\n',  # no stages at all, one catch-all priority
    'property r "" enum ["", "x"]\nstage s "" {\n  owner ops\n  entry\n  terminal\n}\n',  # empty labels and values
    ('property intent "I" enum ["y"]\nstage s "S" {\n  owner ops\n  entry\n  hubspot lead\n'
     '  handoff from ops {\n    notify email, task\n  }\n  respond within 2h\n  -> done when intent == "y"\n}\n'
     'stage done "Done" {\n  owner ops\n  terminal\n}\n'),  # a hand-off into an entry stage
], ids=["no-stages", "empty-labels", "entry-handoff"])
def test_odd_but_valid_policies_build_without_internal_errors(body):
    text = 'agreement "Odd" {\n  version "1"\n  effective 2026-01-01\n  owner ops\n}\nteam ops {\n}\n' + body
    result = compile_text(text)
    assert result.ok, [d.message for d in result.errors]
    built_result = build(result.policy, BuildOptions())
    assert [d.message for d in built_result.diagnostics if d.code == "SLA820"] == []
    files = as_json(built_result.files)
    assert check_files(files) == []
    if "handoff" in body:
        entry = files["workflows/s.entry.json"]
        assert "s.handoff" in entry_clauses(files, "workflows/s.entry.json")
        assert [a["actionTypeId"] for a in entry["actions"]][-2:] == ["0-8", "0-3"]


def entry_clauses(files, name):
    return next(w["clauses"] for w in files["manifest.json"]["workflows"] if w["file"] == name)


# ------------------------------------------------------------------ serialisation


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_fast_serialisation_writes_exactly_the_project_style(value):
    """orjson (when installed) must write the bytes Python's json module would: the indented
    style of irjson.dumps, and the compact sorted form the content hash is taken of."""
    import builtins
    import json as stdlib_json

    from sla_lang.irjson import dumps as irjson_dumps
    from sla_lang.targets.hubspot import bundle

    fast, canonical = bundle.dumps(value), bundle._canonical(value)
    assert fast == irjson_dumps(value).encode("utf-8")
    assert canonical == stdlib_json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    real_import = builtins.__import__

    def without_orjson(name, *args, **kwargs):
        if name == "orjson":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    builtins.__import__ = without_orjson
    try:
        assert bundle.dumps(value) == fast and bundle._canonical(value) == canonical
    finally:
        builtins.__import__ = real_import


def test_a_workflow_file_is_one_line_per_field_and_action_and_parses_back(outputs, in_repo):
    from sla_lang.targets.hubspot.bundle import dumps_flow

    raw = built(POLICY_FILES["hubspot_scoring.sla"]).files["workflows/mql.respond.json"]
    body = json.loads(raw)
    assert dumps_flow(body) == raw
    lines = raw.decode("utf-8").splitlines()
    assert lines[0] == "{" and lines[-1] == "}" and len(lines) == len(body) + 2 + len(body["actions"]) + 1
