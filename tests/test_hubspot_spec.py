"""Every HubSpot body sla-lang writes, checked against HubSpot's own published OpenAPI specs
(vendored in tests/hubspot_spec/, see ORIGIN.md there): workflows against
`ApiFlowCreateRequest` (Automation v4), properties against `PropertyCreate` and the group
against `PropertyGroupCreate` (CRM Properties v3). Besides the schemas' own rules, no body
may carry a field the request schema does not declare — the specs leave
`additionalProperties` open, so that is checked explicitly."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from functools import cache
from pathlib import Path

import pytest

from sla_lang.compile import compile_path
from sla_lang.config import HubSpotSettings, TeamMapping
from sla_lang.targets import BuildOptions
from sla_lang.targets.hubspot import build

from .conftest import FIXTURES, POLICIES, VALID, rel
from .hubspot_spec import AUTOMATION_V4, PROPERTIES_V3, SPEC_DIR, SPECS, load_spec, spec_errors, undeclared_fields

HUBSPOT_FIXTURES = sorted((FIXTURES / "hubspot").glob("*.sla"))
ALL_POLICIES = POLICIES + VALID + HUBSPOT_FIXTURES
IDS = [rel(p) for p in ALL_POLICIES]

# The portals a build is made for: without `[tool.sla.hubspot]`; with every team mapped to a
# HubSpot team and users (the builds the differential tests replay); the same without
# Operations Hub (`custom-code = false`: the conservative scheme, rotation and tasks kept).
PORTALS = ("unmapped", "mapped", "mapped without custom code")


def portal_settings(policy, portal: str) -> HubSpotSettings | None:
    if portal == "unmapped":
        return None
    teams = tuple((team.id, TeamMapping(str(9000 + i), (str(100 * i + 1), str(100 * i + 2))))
                  for i, team in enumerate(policy.teams))
    return HubSpotSettings(custom_code=portal == "mapped", teams=teams, configured=True)


@cache
def hubspot_files(path: Path, portal: str = "unmapped") -> dict[str, object]:
    result = compile_path(path, shown_as=rel(path))
    assert result.ok, [f"{d.code} {d.message}" for d in result.errors]
    built = build(result.policy, BuildOptions(hubspot=portal_settings(result.policy, portal)))
    assert not built.failed, [d.message for d in built.diagnostics]
    return {name: json.loads(data) for name, data in built.files.items()}


def flows(path: Path, portal: str = "unmapped") -> dict[str, dict]:
    return {name: body for name, body in hubspot_files(path, portal).items() if name.startswith("workflows/")}


def properties(path: Path, portal: str = "unmapped") -> dict[str, dict]:
    return {name: body for name, body in hubspot_files(path, portal).items()
            if name.startswith("properties/") and name != "properties/_group.json"}


CASES = [pytest.param(path, portal, id=f"{rel(path)}-{portal.replace(' ', '_')}")
         for path in ALL_POLICIES for portal in PORTALS]


def schema_only(problems: list[str]) -> list[str]:
    return [p for p in problems if not p.endswith("not declared by ApiFlowCreateRequest")]


# ------------------------------------------------------------------ the vendored files


def test_vendored_files_are_the_recorded_ones():
    origin = (SPEC_DIR / "ORIGIN.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"\| `([\w.]+\.json)` \|.*\| `([0-9a-f]{64})` \|", origin))
    assert set(recorded) == set(SPECS)
    for name, digest in recorded.items():
        assert hashlib.sha256((SPEC_DIR / name).read_bytes()).hexdigest() == digest, name


def test_specs_define_the_request_schemas():
    automation = load_spec(AUTOMATION_V4)
    post = automation["paths"]["/automation/v4/flows"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ApiFlowCreateRequest")
    create = automation["components"]["schemas"]["ApiContactFlowCreateRequest"]
    assert "nextAvailableActionId" not in create["properties"]
    assert "nextAvailableActionId" in automation["components"]["schemas"]["ApiContactFlow"]["properties"]
    crm = load_spec(PROPERTIES_V3)
    assert {"PropertyCreate", "PropertyGroupCreate"} <= set(crm["components"]["schemas"])


# ------------------------------------------------------------------ the checks can fail


@pytest.fixture(scope="module")
def sample_flow() -> dict:
    body = copy.deepcopy(next(iter(flows(POLICIES[0]).values())))
    body.pop("nextAvailableActionId", None)
    return body


def test_a_generated_flow_without_response_fields_is_accepted(sample_flow):
    assert spec_errors(AUTOMATION_V4, "ApiFlowCreateRequest", sample_flow) == []


@pytest.mark.parametrize("damage, expected", [
    (lambda b: b.pop("timeWindows"), "timeWindows"),
    (lambda b: b.__setitem__("isEnabled", "false"), "isEnabled"),
    (lambda b: b["actions"][0].__setitem__("actionTypeVersion", "0"), "actions"),
    (lambda b: b["actions"][0].__setitem__("connection", {"edgeType": "JUMP", "nextActionId": "2"}), "actions"),
    (lambda b: b.__setitem__("blockedDates", [{"dayOfMonth": 1, "month": "Jan"}]), "blockedDates"),
    (lambda b: b["enrollmentCriteria"].pop("shouldReEnroll"), "enrollmentCriteria"),
    (lambda b: b.__setitem__("startActionId", 1), "startActionId"),
])
def test_schema_errors_are_found(sample_flow, damage, expected):
    damage(sample_flow)
    problems = spec_errors(AUTOMATION_V4, "ApiFlowCreateRequest", sample_flow)
    assert problems and any(expected in p for p in problems), problems


def test_undeclared_fields_are_found_at_any_depth(sample_flow):
    sample_flow["revisionId"] = "1"
    sample_flow["actions"][0]["note"] = "x"
    sample_flow["enrollmentCriteria"]["listFilterBranch"]["colour"] = "red"
    found = undeclared_fields(AUTOMATION_V4, "ApiFlowCreateRequest", sample_flow)
    assert "$.revisionId" in found
    assert "$.actions[0].note" in found
    assert "$.enrollmentCriteria.listFilterBranch.colour" in found


def test_property_checks_can_fail():
    body = copy.deepcopy(next(iter(properties(POLICIES[0]).values())))
    assert spec_errors(PROPERTIES_V3, "PropertyCreate", body) == []
    body["fieldType"] = "dropdown"
    body["hubspotDefined"] = True
    problems = spec_errors(PROPERTIES_V3, "PropertyCreate", body)
    assert any("fieldType" in p for p in problems) and "$.hubspotDefined: not declared by PropertyCreate" in problems


# ------------------------------------------------------------------ every generated body


@pytest.mark.parametrize("path, portal", CASES)
def test_flow_bodies_match_api_flow_create_request(path, portal):
    generated = flows(path, portal)
    assert generated, "the policy produces no workflow"
    problems = {name: schema_only(spec_errors(AUTOMATION_V4, "ApiFlowCreateRequest", body))
                for name, body in generated.items()}
    assert {name: p for name, p in problems.items() if p} == {}


@pytest.mark.parametrize("path, portal", CASES)
def test_flow_bodies_send_only_declared_fields(path, portal):
    found = {name: undeclared_fields(AUTOMATION_V4, "ApiFlowCreateRequest", body)
             for name, body in flows(path, portal).items()}
    assert {name: f for name, f in found.items() if f} == {}


@pytest.mark.parametrize("path, portal", CASES)
def test_property_bodies_match_property_create(path, portal):
    problems = {name: spec_errors(PROPERTIES_V3, "PropertyCreate", body)
                for name, body in properties(path, portal).items()}
    assert {name: p for name, p in problems.items() if p} == {}
    group = hubspot_files(path, portal)["properties/_group.json"]
    assert spec_errors(PROPERTIES_V3, "PropertyGroupCreate", group) == []


def test_the_portals_change_the_bodies():
    """The three builds are different requests (otherwise checking each would prove nothing):
    a mapped build rotates owners and notifies HubSpot teams; without custom code it has no
    CUSTOM_CODE action."""
    path = next(p for p in POLICIES if p.name == "hubspot_scoring.sla")

    def action_types(portal):
        return {a.get("actionTypeId") or a.get("type") for body in flows(path, portal).values()
                for a in body["actions"]}

    def team_ids(portal):
        return {t for body in flows(path, portal).values() for a in body["actions"]
                for t in (a.get("fields") or {}).get("team_ids") or []}

    assert "CUSTOM_CODE" in action_types("mapped") and "CUSTOM_CODE" not in action_types("mapped without custom code")
    assert "0-11" in action_types("mapped") and "0-11" not in action_types("unmapped")
    assert team_ids("unmapped") == set() and team_ids("mapped") and team_ids("mapped") <= {str(9000 + i)
                                                                                          for i in range(10)}
