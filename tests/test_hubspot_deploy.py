"""`sla deploy hubspot` against a stand-in portal (tests/hubspot_fake.py) that keeps state and
checks every request body against HubSpot's published request schemas: the plan, apply, update
in place, retirement, drift, several policies in one portal, faults (429, 5xx and time-outs
after committing, 409, 401, a failure in the middle of a large apply), exit codes, the receipt,
and that the token never leaks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from sla_lang import hubspot_portal
from sla_lang.cli import cli
from sla_lang.hubspot_portal import Portal, cut, scrub_token, token_pattern
from sla_lang.targets.hubspot.bundle import flow_hash, marker_of, property_hash

from .conftest import REPO
from .hubspot_fake import TOKEN, FakeHubSpot

SMALL = """\
agreement "Deploy test" {
  version "1"
  effective 2026-01-05
  owner ops
}
party marketing "Marketing" {
  role marketing
}
party sales "Sales" {
  role sales
}
team ops "Operations" {
  role operations
}
property intent "Intent" enum ["yes", "no"]
stage lead "Lead" {
  owner marketing
  entry
  hubspot lead
  -> mql "Qualified" when intent == "yes"
  -> lost "Timed out" after 30d
}
stage mql "MQL" {
  owner sales
  hubspot marketingqualifiedlead
  respond within 24h
  -> done "Closed" when intent == "no"
}
stage done "Done" {
  owner sales
  terminal
  hubspot customer
}
stage lost "Lost" {
  owner marketing
  terminal
  hubspot other
}
"""
# The same policy a few pull requests later: a shorter deadline, a new enum option, a stage
# label renamed, and the time-out transition dropped.
SMALL_V2 = (SMALL.replace("respond within 24h", "respond within 20h")
            .replace('enum ["yes", "no"]', 'enum ["yes", "no", "meeting"]')
            .replace('stage done "Done"', 'stage done "Won"')
            .replace('  -> lost "Timed out" after 30d\n', "")
            .replace('stage lost "Lost" {\n  owner marketing\n  terminal\n  hubspot other\n}\n', ""))
SMALL_KEYS = {"lead.entry", "lead.to.lost", "lead.to.mql", "mql.respond", "mql.to.done", "mql.to.done.arm"}


@pytest.fixture
def hubspot():
    """A fresh stand-in portal on 127.0.0.1 (threaded: a hung answer does not block the next)."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    fake = FakeHubSpot().install(server)
    fake.url = server.url_for("").rstrip("/")
    yield fake
    server.clear()
    server.stop()


@pytest.fixture
def sleeps(monkeypatch):
    waited: list[float] = []
    monkeypatch.setattr(hubspot_portal, "_sleep", waited.append)
    return waited


def build(tmp_path: Path, text: str | Path, name: str = "small") -> Path:
    if isinstance(text, Path):
        source = text
    else:
        source = tmp_path / f"{name}.sla"
        source.write_text(text, encoding="utf-8")
    out = tmp_path / f"build-{name}-{abs(hash(source.read_text(encoding='utf-8'))) % 10**8}"
    result = CliRunner().invoke(cli, ["build", str(source), "--target", "hubspot", "-o", str(out), "--isolated"])
    assert result.exit_code == 0, result.output
    return out


def property_count(folder: Path) -> int:
    """Custom properties a build creates (the group not counted)."""
    return len(list((folder / "properties").glob("*.json"))) - 1


def seed_hubspot_properties(fake: FakeHubSpot, *folders: Path) -> None:
    """HubSpot's own properties that the workflows read (they exist in every portal)."""
    for folder in folders:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        for entry in manifest["existingProperties"]:
            if entry["name"] not in fake.properties:
                fake.add_property(entry["name"], group="contactinformation")


def deploy(fake: FakeHubSpot, folder: Path, *extra: str, token: str | None = TOKEN):
    env = {"HUBSPOT_ACCESS_TOKEN": token or ""}
    return CliRunner().invoke(
        cli, ["deploy", "hubspot", str(folder), "--api-url", fake.url, *extra], env=env, catch_exceptions=False)


def ours(fake: FakeHubSpot, policy: str = "small") -> dict[str, list[dict]]:
    """The portal's workflows carrying this policy's marker, by key."""
    found: dict[str, list[dict]] = {}
    for flow in fake.flows.values():
        marker = marker_of(flow.get("description"))
        if marker and marker.policy == policy:
            found.setdefault(marker.clause, []).append(flow)
    return found


def built_flows(folder: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (folder / "workflows").glob("*.json")}


def assert_in_step(fake: FakeHubSpot, folder: Path, policy: str = "small") -> None:
    """Exactly one workflow per generated key with the built content, every property with all
    the options the build needs, and nothing else of this policy switched on."""
    flows = built_flows(folder)
    found = ours(fake, policy)
    for key, body in flows.items():
        assert len(found.get(key, [])) == 1, (key, len(found.get(key, [])))
        assert flow_hash(found[key][0]) == flow_hash(body), key
    for key in set(found) - set(flows):
        assert all(not f["isEnabled"] for f in found[key]), key
    for path in (folder / "properties").glob("*.json"):
        body = json.loads(path.read_text(encoding="utf-8"))
        if path.name == "_group.json":
            assert body["name"] in fake.groups
            continue
        have = {o["value"] for o in fake.properties[body["name"]].get("options", [])}
        assert {o["value"] for o in body.get("options", [])} <= have, body["name"]
        assert fake.properties[body["name"]]["type"] == body["type"]
    assert fake.violations == []


# ------------------------------------------------------------------ plan


def test_plan_reads_only_and_lists_what_apply_would_create(hubspot, tmp_path, sleeps):
    folder = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, folder)
    hubspot.add_foreign_flow("Someone else's workflow")
    result = deploy(hubspot, folder)
    assert result.exit_code == 0, result.stderr
    assert {method for method, path, _ in hubspot.log} <= {"GET", "POST"}
    assert all(path.endswith("/batch/read") for method, path, _ in hubspot.log if method == "POST")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("HubSpot plan for small.sla (policy id small, version 1")
    assert "  create     property group    sla_lang" in lines
    assert "  create     property          intent" in lines
    assert "  present    HubSpot property  lifecyclestage" in lines
    assert "  create     workflow          SLA lead.to.mql: Lead → MQL" in lines
    required = len(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["existingProperties"])
    created = 1 + property_count(folder) + len(SMALL_KEYS)  # the group, the properties, the workflows
    assert (f"Plan: {created} to create, 0 to update, 0 to retire, {required} unchanged, 0 changed by hand, 0 blocking."
            in lines)
    assert any(line.startswith("Manual steps that remain (") for line in lines)
    assert deploy(hubspot, folder, "--detailed-exitcode").exit_code == 2
    assert deploy(hubspot, folder, "--dry-run").exit_code == 0  # the old spelling still plans
    assert (folder / "deploy-receipt.json").is_file()
    receipt = json.loads((folder / "deploy-receipt.json").read_text(encoding="utf-8"))
    assert receipt["mode"] == "plan" and {o["action"] for o in receipt["objects"]} == {"create"}
    assert hubspot.writes() == [] and len(hubspot.flows) == 1


def test_the_receipt_does_not_make_the_build_folder_drift(hubspot, tmp_path, sleeps):
    source = tmp_path / "small.sla"
    source.write_text(SMALL, encoding="utf-8")
    folder = build(tmp_path, source)
    seed_hubspot_properties(hubspot, folder)
    assert deploy(hubspot, folder, "--apply").exit_code == 0
    assert (folder / "deploy-receipt.json").is_file()
    check = CliRunner().invoke(cli, ["build", str(source), "-t", "hubspot", "-o", str(folder), "--check", "--isolated"])
    assert check.exit_code == 0, check.output
    again = CliRunner().invoke(cli, ["build", str(source), "-t", "hubspot", "-o", str(folder), "--isolated"])
    assert again.exit_code == 0, again.output


def test_plan_as_json_and_as_a_pull_request_comment(hubspot, tmp_path, sleeps):
    folder = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, folder)
    data = json.loads(deploy(hubspot, folder, "--format", "json").stdout)
    assert data["format"] == "sla-lang-deploy-plan/1" and data["pending"] is True
    assert data["policy"]["id"] == "small"
    assert data["summary"]["create"] == len(SMALL_KEYS) + property_count(folder) + 1  # workflows, properties, group
    assert {i["key"] for i in data["items"] if i["kind"] == "workflow"} == SMALL_KEYS
    assert data["portal"]["timeZone"] == "Asia/Tokyo"
    markdown = deploy(hubspot, folder, "--format", "markdown").stdout
    assert markdown.startswith("### HubSpot plan: Deploy test")
    assert "| + create | workflow | SLA lead.to.mql: Lead → MQL |  |" in markdown
    # policy text cannot make Markdown of its own in the comment
    from sla_lang.commands.deploy import _md
    assert _md("## Required approvals — None ![x](http://e/x.png) <b>") == \
        "\\#\\# Required approvals — None \\!\\[x\\](http://e/x.png) \\<b\\>"
    assert "<details><summary>Manual steps that remain" in markdown


# ------------------------------------------------------------------ apply and the change cycle


def test_apply_creates_everything_once_and_a_second_run_has_nothing_to_do(hubspot, tmp_path, sleeps):
    folder = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, folder)
    foreign = hubspot.add_foreign_flow("Someone else's workflow")
    before = hubspot.snapshot()
    result = deploy(hubspot, folder, "--apply")
    assert result.exit_code == 0, result.stdout + result.stderr
    writes = hubspot.writes()
    assert writes[0] == ("POST", "/crm/v3/properties/contacts/groups")
    properties = property_count(folder)
    assert [p for m, p in writes[1:1 + properties]] == ["/crm/v3/properties/contacts"] * properties  # before workflows
    assert [p for m, p in writes[1 + properties:]] == ["/automation/v4/flows"] * len(SMALL_KEYS)
    assert_in_step(hubspot, folder)
    assert all(not f["isEnabled"] for key in ours(hubspot).values() for f in key)
    assert hubspot.flows[foreign["id"]] == before["flows"][foreign["id"]]
    receipt = json.loads((folder / "deploy-receipt.json").read_text(encoding="utf-8"))
    assert receipt["complete"] is True and receipt["mode"] == "apply"
    by_key = {o["key"]: o for o in receipt["objects"] if o["kind"] == "workflow"}
    assert set(by_key) == SMALL_KEYS
    for key, outcome in by_key.items():
        assert outcome["action"] == "created"
        assert marker_of(hubspot.flows[outcome["hubspotId"]]["description"]).clause == key
    assert by_key["lead.to.mql"]["clauses"] == ["lead.to.mql"]
    again = deploy(hubspot, folder, "--apply")
    assert again.exit_code == 0 and "Nothing to do" in again.stdout
    assert deploy(hubspot, folder, "--detailed-exitcode").exit_code == 0
    assert deploy(hubspot, folder, "--check").exit_code == 0
    assert len(hubspot.writes()) == len(writes)


def test_a_policy_change_updates_in_place_adds_the_option_and_retires_the_dropped_workflow(hubspot, tmp_path, sleeps):
    v1 = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, v1)
    assert deploy(hubspot, v1, "--apply").exit_code == 0
    ids = {key: flows[0]["id"] for key, flows in ours(hubspot).items()}
    hubspot.flows[ids["lead.to.lost"]]["isEnabled"] = True  # switched on after review
    hubspot.flows[ids["mql.respond"]]["isEnabled"] = True
    v2 = build(tmp_path, SMALL_V2)

    plan = deploy(hubspot, v2, "--detailed-exitcode")
    assert plan.exit_code == 2, plan.stdout + plan.stderr
    text = plan.stdout
    assert f"  update     workflow          SLA mql.respond: MQL — first response within 20 hours (id {ids['mql.respond']}, on)" \
        in text
    assert "delay 24 → 20 hours" in text  # 24 hours → 20 hours
    assert 'name "SLA mql.respond: MQL — first response within 24 hours" → ' \
           '"SLA mql.respond: MQL — first response within 20 hours"' in text
    assert "  update     property          intent\n" in text + "\n" and "option added: meeting" in text
    assert f"  retire     workflow          SLA lead.to.lost: Lead → Lost (id {ids['lead.to.lost']}) — no longer " \
           "generated by the policy" in text
    assert "turn off" in text
    assert "SLA mql.to.done: MQL → Won" in text

    result = deploy(hubspot, v2, "--apply")
    assert result.exit_code == 0, result.stdout + result.stderr
    found = ours(hubspot)
    assert {key: flows[0]["id"] for key, flows in found.items()} == ids  # same ids: updated in place
    assert hubspot.flows[ids["mql.respond"]]["isEnabled"] is True  # kept as the portal had it
    assert hubspot.flows[ids["mql.respond"]]["revisionId"] == "2"
    assert hubspot.flows[ids["lead.to.lost"]]["isEnabled"] is False  # retired: turned off, not deleted
    options = [o["value"] for o in hubspot.properties["intent"]["options"]]
    assert options == ["yes", "no", "meeting"]
    assert_in_step(hubspot, v2)
    assert marker_of(hubspot.properties["intent"]["description"]).hash == property_hash(hubspot.properties["intent"])
    puts = [p for m, p in hubspot.writes() if m == "PUT"]
    assert len(puts) == len(set(puts)) >= 3
    assert deploy(hubspot, v2, "--check").exit_code == 0
    # retired and off: listed, no longer pending; --prune deletes it
    again = deploy(hubspot, v2, "--detailed-exitcode")
    assert again.exit_code == 0 and "retired    workflow          SLA lead.to.lost" in again.stdout
    pruned = deploy(hubspot, v2, "--apply", "--prune")
    assert pruned.exit_code == 0 and ids["lead.to.lost"] not in hubspot.flows
    assert ("DELETE", f"/automation/v4/flows/{ids['lead.to.lost']}") in hubspot.writes()


def test_properties_are_never_deleted_and_types_never_changed(hubspot, tmp_path, sleeps):
    v1 = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, v1)
    assert deploy(hubspot, v1, "--apply").exit_code == 0
    without = build(tmp_path, SMALL.replace('property intent "Intent" enum ["yes", "no"]\n', 'property intent "Intent" '
                                            'enum ["yes", "no"]\nproperty spare "Spare" number\n'), name="small")
    assert deploy(hubspot, without, "--apply").exit_code == 0
    back = deploy(hubspot, v1, "--apply")
    assert back.exit_code == 0
    assert "spare" in hubspot.properties
    assert "property spare is no longer used by this policy: kept" in back.stdout
    assert not any(m == "DELETE" and "/properties/" in p for m, p in hubspot.writes())
    hubspot.properties["intent"]["type"] = "string"
    hubspot.properties["intent"]["fieldType"] = "text"
    clash = deploy(hubspot, v1, "--apply")
    assert clash.exit_code == 1
    assert "conflict   property          intent — exists as string/text; the policy needs enumeration/select" \
        in clash.stdout


# ------------------------------------------------------------------ drift and ownership


def test_a_workflow_changed_by_hand_is_drift_and_is_only_overwritten_when_forced(hubspot, tmp_path, sleeps):
    folder = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, folder)
    assert deploy(hubspot, folder, "--apply").exit_code == 0
    flow = ours(hubspot)["mql.respond"][0]
    flow["name"] = "Renamed by a person"  # the issue: a renamed workflow was created again
    next(a for a in flow["actions"] if a.get("actionTypeId") == "0-1")["fields"]["delta"] = "2"
    plan = deploy(hubspot, folder)
    assert plan.exit_code == 1
    assert (f"  update*    workflow          SLA mql.respond: MQL — first response within 24 hours (id {flow['id']}, off)"
            in plan.stdout)
    assert "changed in HubSpot since sla-lang wrote it; differences (HubSpot → policy):" in plan.stdout
    assert 'name "Renamed by a person" → "SLA mql.respond: MQL — first response within 24 hours"' in plan.stdout
    assert "delay 2 → 24 hours" in plan.stdout
    assert ("Blocking: workflow SLA mql.respond: MQL — first response within 24 hours was changed in HubSpot since "
            "sla-lang wrote it") in plan.stdout
    assert deploy(hubspot, folder, "--check").exit_code == 1
    refused = deploy(hubspot, folder, "--apply")
    assert refused.exit_code == 1 and not any(m == "PUT" for m, _ in hubspot.writes())
    assert "Nothing was changed" in refused.stderr
    forced = deploy(hubspot, folder, "--apply", "--force")
    assert forced.exit_code == 0, forced.stdout + forced.stderr
    assert len(ours(hubspot)["mql.respond"]) == 1 and ours(hubspot)["mql.respond"][0]["id"] == flow["id"]
    assert_in_step(hubspot, folder)


def test_objects_without_our_marker_are_never_touched(hubspot, tmp_path, sleeps):
    folder = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, folder)
    built = built_flows(folder)
    # a person's workflow with the very name sla would use, and a property of theirs named like ours
    hubspot.add_foreign_flow(built["lead.to.mql"]["name"], "made by a person")
    hubspot.add_property("intent", "enumeration", "select", options=["yes"], description="ours, by hand")
    before = hubspot.snapshot()
    result = deploy(hubspot, folder, "--apply")
    assert result.exit_code == 1
    assert ("conflict   property          intent — lacks the option(s) no and was not created by sla-lang (no "
            "ownership marker)") in result.stdout
    assert hubspot.snapshot() == before
    del hubspot.properties["intent"]
    before = hubspot.snapshot()
    assert deploy(hubspot, folder, "--apply").exit_code == 0
    for flow_id, flow in before["flows"].items():
        assert hubspot.flows[flow_id] == flow
    for name, prop in before["properties"].items():
        assert hubspot.properties[name] == prop


def test_several_policies_share_one_portal(hubspot, tmp_path, sleeps):
    a = build(tmp_path, SMALL, name="small")
    b = build(tmp_path, SMALL.replace('"Deploy test"', '"Other team"').replace("hubspot other", "hubspot other")
              .replace('stage lost "Lost"', 'stage lost "Gone"')
              .replace('property intent "Intent" enum ["yes", "no"]', 'property intent "Intent" enum ["yes", "no", "later"]'),
              name="second")
    seed_hubspot_properties(hubspot, a, b)
    assert deploy(hubspot, a, "--apply").exit_code == 0
    assert deploy(hubspot, b, "--apply").exit_code == 0
    assert set(ours(hubspot, "small")) == set(ours(hubspot, "second")) == SMALL_KEYS
    assert len(hubspot.flows) == 2 * len(SMALL_KEYS)
    for folder in (a, b):
        result = deploy(hubspot, folder, "--check")
        assert result.exit_code == 0, result.stdout
    assert [o["value"] for o in hubspot.properties["intent"]["options"]] == ["yes", "no", "later"]
    assert_in_step(hubspot, a, "small")
    assert_in_step(hubspot, b, "second")


def test_a_duplicate_left_by_an_older_deploy_is_found_and_retired(hubspot, tmp_path, sleeps):
    folder = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, folder)
    assert deploy(hubspot, folder, "--apply").exit_code == 0
    original = ours(hubspot)["lead.to.mql"][0]
    copy_id = hubspot.add_foreign_flow("copy")["id"]
    hubspot.flows[copy_id] = {**original, "id": copy_id, "isEnabled": True}
    plan = deploy(hubspot, folder)
    assert f"  retire     workflow          {original['name']} (id {copy_id}) — a duplicate of id {original['id']}" \
        in plan.stdout
    assert deploy(hubspot, folder, "--apply", "--prune").exit_code == 0
    assert len(ours(hubspot)["lead.to.mql"]) == 1 and copy_id not in hubspot.flows


# ------------------------------------------------------------------ faults


def test_429_waits_as_long_as_retry_after_says_and_backs_off_without_it(hubspot, tmp_path, sleeps):
    folder = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, folder)
    hubspot.fault("429", method="GET", path="/crm/v3/properties/contacts/groups/sla_lang", retry_after="2")
    hubspot.fault("429", method="POST", path="/automation/v4/flows")
    hubspot.fault("429", method="POST", path="/automation/v4/flows")
    result = deploy(hubspot, folder, "--apply")
    assert result.exit_code == 0, result.stderr
    assert sleeps == [2.0, 1.0, 2.0]
    assert "rate limited on read the property group sla_lang; retrying in 2s (attempt 2 of 5)" in result.stderr
    assert_in_step(hubspot, folder)


@pytest.mark.parametrize("fault", ["500-after", "timeout-after"])
def test_a_create_committed_before_a_5xx_or_timeout_is_found_not_made_twice(hubspot, tmp_path, sleeps, fault):
    folder = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, folder)
    hubspot.fault(fault, method="POST", path="/automation/v4/flows", nth=2)
    hubspot.hang_seconds = 1.2  # the client gives up after 0.6 s (slow enough not to time out by accident)
    result = deploy(hubspot, folder, "--apply", "--timeout", "0.6")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert_in_step(hubspot, folder)
    posts = [p for m, p in hubspot.writes() if p == "/automation/v4/flows"]
    assert len(posts) == len(SMALL_KEYS)  # the committed create was not sent again
    log = [(m, p) for m, p, _ in hubspot.log]
    second = [i for i, entry in enumerate(log) if entry == ("POST", "/automation/v4/flows")][1]
    assert ("GET", "/automation/v4/flows") in log[second + 1:second + 3]  # looked before anything else
    assert "found it: the earlier attempt to create workflow" in result.stderr
    if fault == "timeout-after":
        assert "HubSpot did not answer the request to create the workflow" in result.stderr


def test_a_create_that_failed_before_committing_is_retried_after_looking(hubspot, tmp_path, sleeps):
    folder = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, folder)
    hubspot.fault("500", method="POST", path="/automation/v4/flows", nth=1)
    hubspot.fault("503", method="POST", path="/crm/v3/properties/contacts", nth=2)
    result = deploy(hubspot, folder, "--apply")
    assert result.exit_code == 0, result.stderr
    assert sleeps == [1.0, 1.0]
    assert_in_step(hubspot, folder)


def test_409_on_a_property_means_it_exists_when_it_matches(hubspot, tmp_path, sleeps):
    folder = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, folder)
    hubspot.fault("exists-before", method="POST", path="/crm/v3/properties/contacts", nth=1)
    result = deploy(hubspot, folder, "--apply")
    assert result.exit_code == 0, result.stderr
    assert "exists already (409) and matches: it is used" in result.stderr
    assert_in_step(hubspot, folder)


def test_409_on_a_property_that_does_not_match_stops_the_run(hubspot, tmp_path, sleeps):
    folder = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, folder)
    hubspot.fault("taken-before", method="POST", path="/crm/v3/properties/contacts", nth=1)
    result = deploy(hubspot, folder, "--apply")
    assert result.exit_code == 1
    assert "HubSpot says the property intent exists (409) but it does not match the policy" in result.stderr
    assert hubspot.properties["intent"]["type"] == "string"  # theirs, left as it is
    assert not any(p == "/automation/v4/flows" for m, p in hubspot.writes())


def test_401_is_explained_and_the_token_is_never_shown(hubspot, tmp_path, sleeps):
    folder = build(tmp_path, SMALL)
    result = deploy(hubspot, folder, token=TOKEN + "-wrong")
    assert result.exit_code == 1
    assert "HubSpot rejected the access token (401) on read the property group sla_lang: check HUBSPOT_ACCESS_TOKEN" \
        in result.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_a_failure_in_the_middle_of_a_large_apply_is_completed_by_the_next_run(hubspot, tmp_path, sleeps):
    folder = build(tmp_path, REPO / "policies" / "smarketing_ja.sla", name="smarketing_ja")
    seed_hubspot_properties(hubspot, folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    objects = 1 + len(manifest["properties"]) + len(manifest["workflows"])
    assert objects >= 55
    hubspot.fault_on_write("400", nth=objects // 2)
    failed = deploy(hubspot, folder, "--apply")
    assert failed.exit_code == 1
    assert f"Stopped after {objects // 2 - 1} change(s)" in failed.stderr
    receipt = json.loads((folder / "deploy-receipt.json").read_text(encoding="utf-8"))
    assert receipt["complete"] is False
    actions = [o["action"] for o in receipt["objects"]]
    assert actions.count("created") == objects // 2 - 1 and actions.count("failed") == 1
    rerun = deploy(hubspot, folder, "--apply")
    assert rerun.exit_code == 0, rerun.stderr
    assert_in_step(hubspot, folder, "smarketing_ja")
    assert len(hubspot.writes()) == objects + 1  # every object once, plus the refused request


def test_server_errors_on_reads_are_retried_then_reported(hubspot, tmp_path, sleeps):
    folder = build(tmp_path, SMALL)
    for _ in range(5):
        hubspot.fault("503", method="GET", path="/crm/v3/properties/contacts/groups/sla_lang", nth=1)
    result = deploy(hubspot, folder)
    assert result.exit_code == 1
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert ("Error: HubSpot failed 5 times on read the property group sla_lang (error 503): internal error "
            "(correlation id c0ffee)") in result.stderr


def build_with_office_windows(tmp_path: Path, portal_zone: str | None) -> Path:
    """A build without custom code, so the follow-ups carry execution windows of a Tokyo
    calendar — converted to `portal_zone` when one is configured under [tool.sla.hubspot]."""
    text = (SMALL.replace("  owner ops\n}", "  owner ops\n  calendar office\n}", 1)
            .replace("  respond within 24h\n", "  respond within 24h\n  follow up 2 times at 0d, 1bd via call\n")
            + 'calendar office "Office" {\n  timezone "Asia/Tokyo"\n  days mon, tue, wed, thu, fri\n'
              '  hours 09:00 to 18:00\n}\n')
    source = tmp_path / "office.sla"
    source.write_text(text, encoding="utf-8")
    config = tmp_path / "pyproject.toml"
    zone = f'timezone = "{portal_zone}"\n' if portal_zone else ""
    config.write_text(f'[tool.sla]\n[tool.sla.hubspot]\ncustom-code = false\n{zone}', encoding="utf-8")
    folder = tmp_path / "build-office"
    result = CliRunner().invoke(cli, ["build", str(source), "--target", "hubspot", "-o", str(folder),
                                      "--config", str(config)])
    assert result.exit_code == 0, result.output
    return folder


def assert_zone_refused_then_accepted(hubspot, folder: Path, portal: str, written: str, accepted: str) -> None:
    seed_hubspot_properties(hubspot, folder)
    hubspot.time_zone = portal
    refused = deploy(hubspot, folder, "--apply")
    assert refused.exit_code == 1
    assert (f"the portal's time zone is {portal} but the workflows' time windows and blocked dates are written "
            f"for {written}") in refused.stdout
    assert hubspot.writes() == []
    hubspot.time_zone = accepted
    assert deploy(hubspot, folder, "--apply").exit_code == 0


def test_a_time_zone_mismatch_is_refused(hubspot, tmp_path, sleeps):
    """No portal zone configured: the windows stay in the calendar's zone; a portal in another
    zone is refused before any write, another name of the same zone is accepted."""
    folder = build_with_office_windows(tmp_path, None)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["timeZones"] == ["Asia/Tokyo"]
    assert_zone_refused_then_accepted(hubspot, folder, "US/Eastern", "Asia/Tokyo", "Japan")


def test_windows_converted_to_the_portal_zone_are_deployed_to_that_zone(hubspot, tmp_path, sleeps):
    """With `timezone = "UTC"` under [tool.sla.hubspot] a Tokyo calendar's windows are written in
    UTC (the difference is constant), the manifest says so, and `sla deploy` accepts a UTC portal
    and refuses a Tokyo one."""
    folder = build_with_office_windows(tmp_path, "UTC")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["timeZones"] == ["UTC"]
    flow = json.loads((folder / "workflows" / "mql.follow_up.json").read_text(encoding="utf-8"))
    assert flow["timeWindows"][0]["startTime"] == {"hour": 0, "minute": 0}
    assert_zone_refused_then_accepted(hubspot, folder, "Asia/Tokyo", "UTC", "UTC")


def test_user_and_team_ids_the_workflows_send_to_are_checked_against_the_owners_api(hubspot, tmp_path, sleeps):
    """The ids of `[tool.sla.hubspot.teams.*]` reach the workflows as `user_ids` / `team_ids`;
    each must be an active user or a team of one in the portal (GET /crm/v3/owners)."""
    from sla_lang.commands.deploy import load_bundle
    from sla_lang.hubspot_portal import Desired, plan

    folder = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, folder)
    desired = Desired.from_bundle(load_bundle(folder)[1])
    flow = desired.workflows["mql.respond"]
    notice = next(a for a in flow["actions"] if a.get("actionTypeId") in ("0-8", "0-9"))
    notice["fields"].pop("owner_properties")
    notice["fields"].update({"user_ids": ["101", "102"], "team_ids": ["7"]})
    hubspot.add_owner(101, "7")
    hubspot.add_owner(102, archived=True)  # left the company
    for n in range(150):  # more than one page of owners
        hubspot.add_owner(1000 + n, "9")
    result = plan(Portal(TOKEN, hubspot.url), desired)
    assert result.blockers == [(
        "workflow “SLA mql.respond: MQL — first response within 24 hours” (mql.respond) sends to HubSpot user id "
        "102, which is not an active user of this portal (Owners API): correct the `user-ids` under "
        "[tool.sla.hubspot.teams.…] and rebuild")]
    assert [p for m, p, _ in hubspot.log if p == "/crm/v3/owners"] == ["/crm/v3/owners"] * 2
    notice["fields"]["team_ids"] = ["8"]
    notice["fields"]["user_ids"] = ["101"]
    assert plan(Portal(TOKEN, hubspot.url), desired).blockers == [(
        "workflow “SLA mql.respond: MQL — first response within 24 hours” (mql.respond) sends to HubSpot team id 8, "
        "which no active user of this portal belongs to (Owners API): correct the `team-id` under "
        "[tool.sla.hubspot.teams.…] and rebuild")]
    hubspot.fault("403", method="GET", path="/crm/v3/owners")
    unchecked = plan(Portal(TOKEN, hubspot.url), desired)
    assert unchecked.blockers == []
    assert any("give the private app the scope crm.objects.owners.read" in n for n in unchecked.notes)
    # a build that names nobody does not read the owners at all
    hubspot.log.clear()
    plain = Desired.from_bundle(load_bundle(folder)[1])
    assert plan(Portal(TOKEN, hubspot.url), plain).blockers == []
    assert not any(p == "/crm/v3/owners" for m, p, _ in hubspot.log)


def test_an_unreachable_portal_is_a_plain_error(tmp_path, sleeps):
    folder = build(tmp_path, SMALL)
    result = CliRunner().invoke(
        cli, ["deploy", "hubspot", str(folder), "--api-url", "http://127.0.0.1:9"],
        env={"HUBSPOT_ACCESS_TOKEN": TOKEN}, catch_exceptions=False)
    assert result.exit_code == 1
    assert "cannot reach HubSpot at http://127.0.0.1:9 (read the property group sla_lang)" in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------ usage errors


def test_without_a_token_it_is_a_usage_error(hubspot, tmp_path):
    folder = build(tmp_path, SMALL)
    result = deploy(hubspot, folder, token=None)
    assert result.exit_code == 2 and "set HUBSPOT_ACCESS_TOKEN" in result.stderr
    assert hubspot.log == []


def test_a_folder_that_is_not_a_build_is_a_usage_error(hubspot, tmp_path):
    result = deploy(hubspot, tmp_path)
    assert result.exit_code == 2 and "has no manifest.json" in result.stderr
    missing = deploy(hubspot, tmp_path / "nope")
    assert missing.exit_code == 2 and "no such folder" in missing.stderr


def test_hand_edited_files_are_refused_with_their_json_path(hubspot, tmp_path):
    folder = build(tmp_path, SMALL)
    path = folder / "workflows" / "lead.to.mql.json"
    flow = json.loads(path.read_text(encoding="utf-8"))
    flow["isEnabled"] = True
    path.write_text(json.dumps(flow), encoding="utf-8")
    result = deploy(hubspot, folder)
    assert result.exit_code == 1
    assert "workflows/lead.to.mql.json: $.isEnabled: False was expected" in result.stderr
    assert hubspot.log == []


def test_broken_json_is_reported_with_its_position(hubspot, tmp_path):
    folder = build(tmp_path, SMALL)
    (folder / "properties" / "intent.json").write_text("{ nope", encoding="utf-8")
    result = deploy(hubspot, folder)
    assert result.exit_code == 1
    assert "properties/intent.json:1:3: not valid JSON" in result.stderr


def test_a_multi_target_build_folder_is_found(hubspot, tmp_path, sleeps):
    source = tmp_path / "small.sla"
    source.write_text(SMALL, encoding="utf-8")
    out = tmp_path / "all"
    built = CliRunner().invoke(cli, ["build", str(source), "--target", "hubspot", "--target", "ir", "-o", str(out),
                                     "--isolated"])
    assert built.exit_code == 0, built.output
    seed_hubspot_properties(hubspot, out / "hubspot")
    result = deploy(hubspot, out)
    assert result.exit_code == 0, result.stderr
    assert f"from {(out / 'hubspot').as_posix()}" in result.stdout


# ------------------------------------------------------------------ the token (issue 15, item 12)


@pytest.mark.parametrize("form", [
    lambda t: t,
    lambda t: t[:20] + "\n" + t[20:],  # split by a line break
    lambda t: t[:9] + "\r\n  " + t[9:31] + "\n" + t[31:],
    lambda t: "".join(f"%{b:02X}" for b in t.encode()),  # URL-encoded, every character
    lambda t: t.replace("-", "%2d"),  # URL-encoded where it must be, lower case
    lambda t: t.replace("-", "\\u002d"),  # JSON-escaped
    lambda t: t[:12] + "\\n" + t[12:],  # an escaped line break inside a JSON string
])
def test_the_token_is_scrubbed_in_every_form_before_the_message_is_cut(form):
    pattern = token_pattern(TOKEN)
    message = "x" * 470 + " token: " + form(TOKEN) + " tail"
    shown = cut(scrub_token(message, pattern))
    assert TOKEN not in shown and TOKEN[:12] not in shown and TOKEN[-12:] not in shown
    assert "***" in scrub_token(message, pattern)
    portal = Portal(TOKEN, "http://127.0.0.1:9")
    response = hubspot_portal.Response(400, {}, {"message": message, "correlationId": form(TOKEN)})
    described = portal.describe("read", response, 1)
    assert not re.search(r"SECRET|TOKEN-1234|0000-S", described), described


def test_scrubbing_leaves_other_text_alone():
    pattern = token_pattern(TOKEN)
    assert scrub_token("pat-na1 is a prefix; SECRET alone is fine", pattern) == \
        "pat-na1 is a prefix; SECRET alone is fine"


# ------------------------------------------------------------------ interrupted runs


@pytest.mark.parametrize(("kill", "nth"), [("kill-after", 3), ("kill-before", 7), ("kill-after", 8)])
def test_a_run_killed_between_two_requests_is_completed_by_the_next_without_duplicates(hubspot, tmp_path, kill, nth):
    """A real process, killed with SIGKILL by the portal while it handles the n-th write
    (after carrying it out, or before), then run again."""
    import os
    import signal
    import subprocess
    import sys

    folder = build(tmp_path, SMALL)
    seed_hubspot_properties(hubspot, folder)
    hubspot.fault_on_write(kill, nth=nth)
    env = {**os.environ, "HUBSPOT_ACCESS_TOKEN": TOKEN, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "sla_lang", "deploy", "hubspot", str(folder), "--apply",
                                "--api-url", hubspot.url], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    hubspot.client_pid = process.pid
    process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL
    writes_before = len(hubspot.writes())
    assert writes_before == nth
    receipt = json.loads((folder / "deploy-receipt.json").read_text(encoding="utf-8"))
    assert receipt["complete"] is False  # written before the kill, never half-written
    done = [o for o in receipt["objects"] if o["action"] == "created"]
    assert len(done) == nth - 1  # the receipt says no more than the portal has
    rerun = deploy(hubspot, folder, "--apply")
    assert rerun.exit_code == 0, rerun.stdout + rerun.stderr
    assert_in_step(hubspot, folder)
    total = 1 + property_count(folder) + len(SMALL_KEYS)
    # every object was written once; a request killed before it was carried out is sent again
    assert len(hubspot.writes()) == total + (kill == "kill-before")


# ------------------------------------------------------------------ any fault sequence, then a rerun

FAULT_KINDS = ["429", "500", "503", "500-after", "timeout-after", "400", "401", "exists-before"]


@pytest.fixture(scope="module")
def property_setup(tmp_path_factory):
    from sla_lang.commands.deploy import load_bundle
    from sla_lang.hubspot_portal import Desired

    tmp = tmp_path_factory.mktemp("faults")
    (tmp / "v1").mkdir()
    (tmp / "v2").mkdir()
    v1, v2 = build(tmp / "v1", SMALL), build(tmp / "v2", SMALL_V2)
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server, {folder: Desired.from_bundle(load_bundle(folder)[1]) for folder in (v1, v2)}, v1, v2
    server.clear()
    server.stop()


def _run(url: str, desired, *, prune: bool = False) -> bool:
    from sla_lang.hubspot_portal import Applier, HubSpotError, Portal, plan

    portal = Portal(TOKEN, url, timeout=0.5)
    try:
        result = plan(portal, desired, prune=prune)
        if result.blockers:
            return False
        Applier(portal, result, echo=lambda line: None, record=lambda outcomes: None).run()
    except HubSpotError:
        return False
    return True


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(faults=st.lists(st.tuples(st.integers(1, 12), st.sampled_from(FAULT_KINDS)), max_size=4),
       prune=st.booleans(), enabled=st.booleans(), first=st.booleans())
def test_after_any_fault_sequence_and_a_rerun_the_portal_holds_exactly_one_copy_of_each(
        property_setup, monkeypatch, faults, prune, enabled, first):
    """From an empty portal (every write a create) or from version 1 (updates, a new option,
    a retirement): any faults on any writes, then a clean rerun."""
    server, desired, v1, v2 = property_setup
    monkeypatch.setattr(hubspot_portal, "_sleep", lambda seconds: None)
    server.clear()
    fake = FakeHubSpot(hang_seconds=0.9).install(server)
    url = server.url_for("").rstrip("/")
    seed_hubspot_properties(fake, v1, v2)
    for n in range(3):
        fake.add_foreign_flow(f"Someone else's workflow {n}", enabled=n % 2 == 0)
    fake.add_property("their_enum", "enumeration", "select", options=["a"])
    if not first:
        assert _run(url, desired[v1])  # version 1 deployed, no faults
    if enabled:
        for flows in ours(fake).values():
            for flow in flows:
                flow["isEnabled"] = True
    foreign = {i: f for i, f in fake.snapshot()["flows"].items() if not marker_of(f.get("description"))}
    foreign_properties = {n: p for n, p in fake.snapshot()["properties"].items()
                          if not marker_of(p.get("description"))}
    for nth, kind in faults:
        fake.fault_on_write(kind, nth)
    _run(url, desired[v2], prune=prune)  # may fail part-way
    fake.faults.clear()
    assert _run(url, desired[v2], prune=prune)  # the rerun completes it
    assert_in_step(fake, v2)
    retired = ours(fake).get("lead.to.lost", [])
    assert len(retired) == (0 if prune or first else 1) and all(not f["isEnabled"] for f in retired)
    assert {i: f for i, f in fake.flows.items() if i in foreign} == foreign  # nothing foreign touched
    for name, prop in foreign_properties.items():
        assert fake.properties[name] == prop or name == "intent"  # `exists-before` makes a matching one
    check = hubspot_portal.plan(hubspot_portal.Portal(TOKEN, url), desired[v2], prune=prune)
    assert check.pending == [] and check.blockers == []
