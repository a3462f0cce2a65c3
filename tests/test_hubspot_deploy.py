"""`sla deploy hubspot` against a local HTTP server that plays HubSpot: the exact requests and
bodies, the plan, retries on 429/5xx, errors, exit codes, and that the token never leaks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_lang import hubspot_portal
from sla_lang.cli import cli
from sla_lang.targets.hubspot.bundle import marker_of

from .conftest import FIXTURES

TOKEN = "pat-na1-0000-SECRET-TOKEN-1234"
POLICY = FIXTURES / "hubspot" / "SLA835_hubspot_backfill.sla"
GROUP = "/crm/v3/properties/contacts/groups/sla_lang"
PROPS = "/crm/v3/properties/contacts"
FLOWS = "/automation/v4/flows"
NOT_FOUND = {"status": "error", "message": "resource not found", "category": "OBJECT_NOT_FOUND",
             "correlationId": "c0ffee00-0000-4000-8000-000000000000"}


@pytest.fixture(scope="session")
def httpserver_listen_address():
    """The fake HubSpot listens on 127.0.0.1 only (pytest-httpserver's default is "localhost")."""
    return ("127.0.0.1", 0)


@pytest.fixture
def build_dir(tmp_path):
    out = tmp_path / "build"
    result = CliRunner().invoke(cli, ["build", str(POLICY), "--target", "hubspot", "-o", str(out), "--isolated"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def sleeps(monkeypatch):
    waited: list[float] = []
    monkeypatch.setattr(hubspot_portal, "_sleep", waited.append)
    return waited


def files(build_dir: Path) -> dict[str, dict]:
    return {p.relative_to(build_dir).as_posix(): json.loads(p.read_text(encoding="utf-8"))
            for p in build_dir.rglob("*.json")}


def deploy(httpserver, build_dir, *extra, token=TOKEN):
    env = {"HUBSPOT_ACCESS_TOKEN": token} if token is not None else {"HUBSPOT_ACCESS_TOKEN": ""}
    runner = CliRunner()
    return runner.invoke(cli, ["deploy", "hubspot", str(build_dir), "--api-url", httpserver.url_for(""), *extra],
                         env=env, catch_exceptions=False)


def requests_made(httpserver) -> list[tuple[str, str, str, object]]:
    out = []
    for request, _ in httpserver.log:
        body = json.loads(request.data) if request.data else None
        out.append((request.method, request.path, request.query_string.decode(), body))
    return out


def expect_empty_portal(httpserver):
    """GETs of a portal that has nothing of ours yet."""
    httpserver.expect_ordered_request(GROUP, method="GET").respond_with_json(NOT_FOUND, status=404)
    for name in ("intent", "sla_stage", "sla_stage_entered_at"):
        httpserver.expect_ordered_request(f"{PROPS}/{name}", method="GET").respond_with_json(NOT_FOUND, status=404)
    httpserver.expect_ordered_request(f"{PROPS}/lifecyclestage", method="GET").respond_with_json(
        {"name": "lifecyclestage", "type": "enumeration", "fieldType": "radio"})
    httpserver.expect_ordered_request(FLOWS, method="GET", query_string="limit=100").respond_with_json(
        {"results": [{"id": "77", "name": "Someone else's workflow"}], "paging": {"next": {"after": "p2"}}})
    httpserver.expect_ordered_request(FLOWS, method="GET", query_string="limit=100&after=p2").respond_with_json(
        {"results": []})


def test_deploy_creates_group_then_properties_then_workflows(httpserver, build_dir, sleeps):
    assert httpserver.host == "127.0.0.1"
    built = files(build_dir)
    expect_empty_portal(httpserver)
    httpserver.expect_ordered_request("/crm/v3/properties/contacts/groups", method="POST").respond_with_json(
        {"name": "sla_lang"}, status=201)
    for name in ("intent", "sla_stage", "sla_stage_entered_at"):
        httpserver.expect_ordered_request(PROPS, method="POST").respond_with_json({"name": name}, status=201)
    for flow_id in ("901", "902"):
        httpserver.expect_ordered_request(FLOWS, method="POST").respond_with_json({"id": flow_id}, status=201)

    result = deploy(httpserver, build_dir)

    assert result.exit_code == 0, result.output
    httpserver.check_assertions()
    assert requests_made(httpserver) == [
        ("GET", GROUP, "", None),
        ("GET", f"{PROPS}/intent", "", None),
        ("GET", f"{PROPS}/sla_stage", "", None),
        ("GET", f"{PROPS}/sla_stage_entered_at", "", None),
        ("GET", f"{PROPS}/lifecyclestage", "", None),
        ("GET", FLOWS, "limit=100", None),
        ("GET", FLOWS, "limit=100&after=p2", None),
        ("POST", "/crm/v3/properties/contacts/groups", "", built["properties/_group.json"]),
        ("POST", PROPS, "", built["properties/intent.json"]),
        ("POST", PROPS, "", built["properties/sla_stage.json"]),
        ("POST", PROPS, "", built["properties/sla_stage_entered_at.json"]),
        ("POST", FLOWS, "", built["workflows/lead.entry.json"]),
        ("POST", FLOWS, "", built["workflows/lead.to.done.json"]),
    ]
    assert all(request.headers["Authorization"] == f"Bearer {TOKEN}" for request, _ in httpserver.log)
    assert all(body["isEnabled"] is False for method, path, _, body in requests_made(httpserver) if path == FLOWS
               and method == "POST")
    assert "  create   property group    sla_lang" in result.output
    assert "  ok       HubSpot property  lifecyclestage" in result.output
    assert "Plan: 6 to create, 1 already there, 0 conflicting, 0 missing." in result.output
    assert "created workflow SLA lead.to.done: Lead → Done (id 902, turned off)" in result.output
    assert "Created 6 object(s)." in result.output
    assert sleeps == []


def test_dry_run_only_reads(httpserver, build_dir, sleeps):
    expect_empty_portal(httpserver)
    result = deploy(httpserver, build_dir, "--dry-run")
    assert result.exit_code == 0, result.output
    assert {method for method, *_ in requests_made(httpserver)} == {"GET"}
    assert "Dry run: nothing was changed." in result.output
    assert "  create   workflow          SLA stage.lead: enter Lead" in result.output


def test_existing_objects_are_skipped_and_conflicts_by_name_stop_everything(httpserver, build_dir, sleeps):
    built = files(build_dir)
    entry = built["workflows/lead.entry.json"]
    transition = built["workflows/lead.to.done.json"]
    httpserver.expect_ordered_request(GROUP, method="GET").respond_with_json({"name": "sla_lang"})
    httpserver.expect_ordered_request(f"{PROPS}/intent", method="GET").respond_with_json(
        {"name": "intent", "type": "string", "fieldType": "text"})  # same name, wrong type
    httpserver.expect_ordered_request(f"{PROPS}/sla_stage", method="GET").respond_with_json(
        {"name": "sla_stage", "type": "enumeration", "fieldType": "select", "options": [{"value": "lead"}]})
    httpserver.expect_ordered_request(f"{PROPS}/sla_stage_entered_at", method="GET").respond_with_json(
        {"name": "sla_stage_entered_at", "type": "datetime", "fieldType": "date"})
    httpserver.expect_ordered_request(f"{PROPS}/lifecyclestage", method="GET").respond_with_json(NOT_FOUND, status=404)
    httpserver.expect_ordered_request(FLOWS, method="GET").respond_with_json({"results": [
        {"id": "11", "name": entry["name"]}, {"id": "12", "name": transition["name"]}]})
    # the first was created by an earlier deploy (same content marker), the second was not
    httpserver.expect_ordered_request(f"{FLOWS}/11", method="GET").respond_with_json(
        {"id": "11", "name": entry["name"], "description": "edited by hand " + entry["description"][-28:]})
    httpserver.expect_ordered_request(f"{FLOWS}/12", method="GET").respond_with_json(
        {"id": "12", "name": transition["name"], "description": "made by a colleague"})

    result = deploy(httpserver, build_dir)

    assert result.exit_code == 1
    assert marker_of(entry["description"]) and entry["description"].endswith(entry["description"][-28:])
    assert {method for method, *_ in requests_made(httpserver)} == {"GET"}
    lines = result.output.splitlines()
    assert "  exists   property group    sla_lang" in lines
    assert "  conflict property          intent — exists as string/text; sla-lang needs enumeration/select" in lines
    assert "  conflict property          sla_stage — lacks the option(s) done" in lines
    assert "  exists   property          sla_stage_entered_at" in lines
    assert any(line.startswith("  missing  HubSpot property  lifecyclestage — the workflows read it (") for line in lines)
    assert f"  exists   workflow          {entry['name']} — id 11" in lines
    assert (f"  conflict workflow          {transition['name']} — a different workflow has this name (id 12); "
            "rename or delete it") in lines
    assert "Plan: 0 to create, 3 already there, 3 conflicting, 1 missing." in result.output
    assert "Nothing was changed" in result.output


def test_429_waits_as_long_as_retry_after_says(httpserver, build_dir, sleeps):
    httpserver.expect_ordered_request(GROUP, method="GET").respond_with_json(
        {"status": "error", "message": "You have reached your ten_secondly_rolling limit."}, status=429,
        headers={"Retry-After": "2"})
    expect_empty_portal(httpserver)
    result = deploy(httpserver, build_dir, "--dry-run")
    assert result.exit_code == 0, result.output
    assert sleeps == [2.0]
    assert [path for _, path, *_ in requests_made(httpserver)][:2] == [GROUP, GROUP]
    assert "rate limited on read the property group sla_lang; retrying in 2s (attempt 2 of 5)" in result.output


def test_429_without_retry_after_backs_off_exponentially(httpserver, build_dir, sleeps):
    for _ in range(3):
        httpserver.expect_ordered_request(GROUP, method="GET").respond_with_json({"message": "slow down"}, status=429)
    expect_empty_portal(httpserver)
    result = deploy(httpserver, build_dir, "--dry-run")
    assert result.exit_code == 0, result.output
    assert sleeps == [1.0, 2.0, 4.0]


def test_a_post_is_retried_after_429_too(httpserver, build_dir, sleeps):
    expect_empty_portal(httpserver)
    httpserver.expect_ordered_request("/crm/v3/properties/contacts/groups", method="POST").respond_with_json(
        {"message": "limit"}, status=429, headers={"Retry-After": "1"})
    httpserver.expect_ordered_request("/crm/v3/properties/contacts/groups", method="POST").respond_with_json(
        {"name": "sla_lang"}, status=201)
    for name in ("intent", "sla_stage", "sla_stage_entered_at"):
        httpserver.expect_ordered_request(PROPS, method="POST").respond_with_json({"name": name}, status=201)
    for flow_id in ("1", "2"):
        httpserver.expect_ordered_request(FLOWS, method="POST").respond_with_json({"id": flow_id}, status=201)
    result = deploy(httpserver, build_dir)
    assert result.exit_code == 0, result.output
    assert sleeps == [1.0]
    posts = [path for method, path, *_ in requests_made(httpserver) if method == "POST"]
    assert posts[:2] == ["/crm/v3/properties/contacts/groups"] * 2


def test_server_errors_are_retried_then_reported(httpserver, build_dir, sleeps):
    for _ in range(5):
        httpserver.expect_ordered_request(GROUP, method="GET").respond_with_json(
            {"status": "error", "message": "internal error", "correlationId": "abc-123"}, status=502)
    result = deploy(httpserver, build_dir, "--dry-run")
    assert result.exit_code == 1
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert len(httpserver.log) == 5
    assert ("Error: HubSpot failed 5 times on read the property group sla_lang (error 502); try again later: "
            "internal error (correlation id abc-123)") in result.output


def test_a_rejected_workflow_stops_the_deploy_with_hubspot_s_message(httpserver, build_dir, sleeps):
    expect_empty_portal(httpserver)
    httpserver.expect_ordered_request("/crm/v3/properties/contacts/groups", method="POST").respond_with_json(
        {"name": "sla_lang"}, status=201)
    for name in ("intent", "sla_stage", "sla_stage_entered_at"):
        httpserver.expect_ordered_request(PROPS, method="POST").respond_with_json({"name": name}, status=201)
    httpserver.expect_ordered_request(FLOWS, method="POST").respond_with_json(
        {"status": "error", "message": "Invalid input JSON on line 1", "category": "VALIDATION_ERROR",
         "correlationId": "d00d"}, status=400)
    result = deploy(httpserver, build_dir)
    assert result.exit_code == 1
    assert sleeps == []  # a 400 is not retried
    assert ("sla: HubSpot refused to create the workflow “SLA stage.lead: enter Lead” (400): "
            "Invalid input JSON on line 1 (correlation id d00d)") in result.output
    assert "Stopped after creating 4 object(s)" in result.output
    assert len([r for r in requests_made(httpserver) if r[0] == "POST"]) == 5  # the second workflow was not sent


def test_a_rejected_token_is_explained_and_never_shown(httpserver, build_dir, sleeps, tmp_path):
    httpserver.expect_ordered_request(GROUP, method="GET").respond_with_json(
        {"status": "error", "message": f"The OAuth token used to make this call expired: {TOKEN}",
         "category": "EXPIRED_AUTHENTICATION"}, status=401)
    result = deploy(httpserver, build_dir)
    assert result.exit_code == 1
    assert "HubSpot rejected the access token (401) on read the property group sla_lang: check HUBSPOT_ACCESS_TOKEN" \
        in result.output
    assert TOKEN not in result.output
    assert "***" in result.output  # HubSpot's message was kept, the token in it masked
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_the_token_is_sent_only_in_the_authorization_header(httpserver, build_dir, sleeps):
    expect_empty_portal(httpserver)
    result = deploy(httpserver, build_dir, "--dry-run")
    assert result.exit_code == 0
    for request, _ in httpserver.log:
        assert TOKEN not in request.url and TOKEN.encode() not in request.data
        assert [k for k, v in request.headers.items() if TOKEN in v] == ["Authorization"]
    assert TOKEN not in result.output


def test_forbidden_names_the_scopes(httpserver, build_dir, sleeps):
    httpserver.expect_ordered_request(GROUP, method="GET").respond_with_json(
        {"status": "error", "message": "This app hasn't been granted all required scopes"}, status=403)
    result = deploy(httpserver, build_dir)
    assert result.exit_code == 1
    assert "give the private app the scopes automation, crm.schemas.contacts.read and crm.schemas.contacts.write" \
        in result.output


def test_an_unreachable_portal_is_a_plain_error(build_dir, sleeps):
    result = CliRunner().invoke(cli, ["deploy", "hubspot", str(build_dir), "--api-url", "http://127.0.0.1:9"],
                                env={"HUBSPOT_ACCESS_TOKEN": TOKEN}, catch_exceptions=False)
    assert result.exit_code == 1
    assert "cannot reach HubSpot at http://127.0.0.1:9 (read the property group sla_lang)" in result.output
    assert "Traceback" not in result.output


# ------------------------------------------------------------------ usage errors


def test_without_a_token_it_is_a_usage_error(httpserver, build_dir):
    result = deploy(httpserver, build_dir, token=None)
    assert result.exit_code == 2
    assert "set HUBSPOT_ACCESS_TOKEN" in result.output
    assert httpserver.log == []


def test_a_folder_that_is_not_a_build_is_a_usage_error(httpserver, tmp_path):
    result = deploy(httpserver, tmp_path)
    assert result.exit_code == 2 and "has no manifest.json" in result.output
    missing = deploy(httpserver, tmp_path / "nope")
    assert missing.exit_code == 2 and "no such folder" in missing.output


def test_hand_edited_files_are_refused_with_their_json_path(httpserver, build_dir):
    path = build_dir / "workflows" / "lead.to.done.json"
    flow = json.loads(path.read_text(encoding="utf-8"))
    flow["isEnabled"] = True
    path.write_text(json.dumps(flow), encoding="utf-8")
    result = deploy(httpserver, build_dir)
    assert result.exit_code == 1
    assert "workflows/lead.to.done.json: $.isEnabled: False was expected" in result.output
    assert httpserver.log == []


def test_broken_json_is_reported_with_its_position(httpserver, build_dir):
    (build_dir / "properties" / "intent.json").write_text("{ nope", encoding="utf-8")
    result = deploy(httpserver, build_dir)
    assert result.exit_code == 1
    assert "properties/intent.json:1:3: not valid JSON" in result.output


def test_a_multi_target_build_folder_is_found(httpserver, tmp_path, sleeps):
    out = tmp_path / "all"
    built = CliRunner().invoke(cli, ["build", str(POLICY), "--target", "hubspot", "--target", "ir", "-o", str(out),
                                     "--isolated"])
    assert built.exit_code == 0, built.output
    expect_empty_portal(httpserver)
    result = deploy(httpserver, out, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"from {(out / 'hubspot').as_posix()}" in result.output
