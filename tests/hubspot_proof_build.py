"""A HubSpot build written by hand, independently of sla-lang's generator, for PROOF_POLICY.

It is what a careful HubSpot admin would configure to enforce that agreement exactly, using
only documented mechanisms (targets/hubspot/SEMANTICS.md): the differential tests replay the
policy's scenarios through it and expect no divergence, which shows that "0 divergences" is
reachable and that the comparison is not vacuous; mutations of it (a delay an hour too long,
an escalation to the wrong people …) must each produce their divergence.
"""

from __future__ import annotations

import copy

PROOF_POLICY = '''agreement "Proof SLA" {
  version "1"
  effective 2026-04-01
  owner ops
  calendar office
}
party marketing "Marketing" {
  lead "A" title "Head of Marketing"
}
party sales "Sales" {
  lead "B" title "Head of Sales"
}
team managers "Managers" {
  part of sales
}
team ops "Operations" {
}
calendar office "Office" {
  timezone "Asia/Tokyo"
  days mon, tue, wed, thu, fri
  hours 09:00 to 18:00
}
property intent "Intent" enum ["yes", "no"]
property employees "Employees" number
stage lead "Lead" {
  owner marketing
  entry
  hubspot lead
  -> mql "Big enough" when employees >= 50
}
stage mql "MQL" {
  owner sales
  hubspot marketingqualifiedlead
  handoff from marketing {
    notify email, task
  }
  respond within 24h
  escalate to managers after 24h on respond via email
  -> won "Buying" when intent == "yes"
  -> lost "Not buying" when intent == "no"
}
stage won "Won" {
  owner sales
  terminal
  hubspot customer
}
stage lost "Lost" {
  owner sales
  terminal
  hubspot other
}
'''

# The portal: HubSpot team ids and users per policy team (simulate.hubspot.default_mapping).
SALES_USERS = ["sales-1", "sales-2"]
MANAGERS_TEAM = "managers-team"

# The first response is met by a call, email or meeting at or after entering the stage: HubSpot's
# COMPARATIVE_DATE filters compare strictly (IS_AFTER), so the comparison is made in code.
RESPOND_CODE = '''
def main(event):
    fields = event["inputFields"]
    entered = int(fields["entered_at"])
    last = fields.get("last_contacted") or ""
    met = last != "" and int(last) >= entered
    return {"outputFields": {"met": "yes" if met else "no"}}
'''


def _filters(*filters):
    return {"filterBranchType": "OR", "filterBranchOperator": "OR", "filters": [],
            "filterBranches": [{"filterBranchType": "AND", "filterBranchOperator": "AND", "filterBranches": [],
                                "filters": list(filters)}]}


def _is(name, *values):
    return {"filterType": "PROPERTY", "property": name,
            "operation": {"operationType": "ENUMERATION", "operator": "IS_ANY_OF", "values": list(values),
                          "includeObjectsWithNoValueSet": False}}


def _step(action_id, type_id, fields, next_id=None):
    action = {"actionId": action_id, "type": "SINGLE_CONNECTION", "actionTypeId": type_id, "actionTypeVersion": 0,
              "fields": fields}
    if next_id:
        action["connection"] = {"edgeType": "STANDARD", "nextActionId": next_id}
    return action


def _set(action_id, name, value, next_id=None):
    if value == "now":
        spec = {"type": "TIMESTAMP", "timestampType": "EXECUTION_TIME"}
    else:
        spec = {"type": "STATIC_VALUE", "staticValue": value}
    return _step(action_id, "0-5", {"property_name": name, "value": spec}, next_id)


def _flow(name, criteria, actions, windows=()):
    return {"type": "CONTACT_FLOW", "objectTypeId": "0-1", "flowType": "WORKFLOW", "name": name, "description": "",
            "isEnabled": False, "startActionId": "1", "actions": actions, "enrollmentCriteria": criteria,
            "timeWindows": list(windows), "blockedDates": [], "canEnrollFromSalesforce": False, "dataSources": [],
            "suppressionListIds": [], "customProperties": {}}


def _list_based(tree, unenroll=False):
    return {"type": "LIST_BASED", "listFilterBranch": tree, "shouldReEnroll": False,
            "reEnrollmentTriggersFilterBranches": [], "unEnrollObjectsNotMeetingCriteria": unenroll}


def _owner_task(action_id, subject, next_id=None):
    return _step(action_id, "0-3", {
        "task_type": "TODO", "subject": subject, "body": "", "priority": "HIGH",
        "owner_assignment": {"type": "CUSTOM", "value": {"type": "OBJECT_PROPERTY", "propertyName": "hubspot_owner_id"}}},
        next_id)


def proof_flows() -> dict[str, dict]:
    entry = _flow("lead entry", _list_based(_filters(
        {"filterType": "PROPERTY", "property": "sla_stage",
         "operation": {"operationType": "ALL_PROPERTY", "operator": "IS_UNKNOWN", "includeObjectsWithNoValueSet": True}},
        _is("lifecyclestage", "lead"))), [_set("1", "sla_stage", "lead")])
    to_mql = _flow("lead to mql", _list_based(_filters(
        _is("sla_stage", "lead"),
        {"filterType": "PROPERTY", "property": "employees",
         "operation": {"operationType": "NUMBER", "operator": "IS_GREATER_THAN_OR_EQUAL_TO", "value": 50,
                       "includeObjectsWithNoValueSet": False}})), [
        _set("1", "lifecyclestage", "marketingqualifiedlead", "2"),
        _step("2", "0-11", {"user_ids": SALES_USERS, "target_property": "hubspot_owner_id",
                            "overwrite_current_owner": "true"}, "3"),
        _set("3", "sla_mql_entered_at", "now", "4"),
        _owner_task("4", "Respond to {{ enrolled_object.firstname }}", "5"),
        _step("5", "0-8", {"subject": "New MQL", "body": "", "owner_properties": ["hubspot_owner_id"]}, "6"),
        _set("6", "sla_stage", "mql")])
    respond = _flow("mql respond", _list_based(_filters(_is("sla_stage", "mql")), unenroll=True), [
        _set("1", "sla_mql_respond_breached", "false", "2"),
        _step("2", "0-1", {"delta": "24", "time_unit": "HOURS"}, "3"),
        {"actionId": "3", "type": "CUSTOM_CODE", "runtime": "PYTHON39", "sourceCode": RESPOND_CODE, "secretNames": [],
         "inputFields": [
             {"name": "entered_at", "value": {"type": "OBJECT_PROPERTY", "propertyName": "sla_mql_entered_at"}},
             {"name": "last_contacted", "value": {"type": "OBJECT_PROPERTY", "propertyName": "notes_last_contacted"}}],
         "outputFields": [{"name": "met", "type": "ENUMERATION", "options": ["yes", "no"]}],
         "connection": {"edgeType": "STANDARD", "nextActionId": "4"}},
        {"actionId": "4", "type": "STATIC_BRANCH", "inputValue": {"type": "FIELD_DATA", "actionId": "3", "dataKey": "met"},
         "staticBranches": [{"branchValue": "no", "connection": {"edgeType": "STANDARD", "nextActionId": "5"}}]},
        _set("5", "sla_mql_respond_breached", "true", "6"),
        _set("6", "sla_mql_respond_escalated", "true", "7"),
        _step("7", "0-8", {"subject": "Escalated: no first response in 24 hours", "body": "",
                           "team_ids": [MANAGERS_TEAM]})])
    won = _flow("mql to won", _list_based(_filters(_is("sla_stage", "mql"), _is("intent", "yes"))), [
        _set("1", "lifecyclestage", "customer", "2"), _set("2", "sla_stage", "won")])
    lost = _flow("mql to lost", _list_based(_filters(_is("sla_stage", "mql"), _is("intent", "no"))), [
        _set("1", "lifecyclestage", "other", "2"), _set("2", "sla_stage", "lost")])
    return {"workflows/lead.entry.json": entry, "workflows/lead.to.mql.json": to_mql,
            "workflows/mql.respond.json": respond, "workflows/mql.to.won.json": won,
            "workflows/mql.to.lost.json": lost}


def _property(name, kind, clauses=(), options=(), source="sla-lang", label=None):
    body = {"name": name, "label": label or name, "type": kind,
            "fieldType": {"bool": "booleancheckbox", "enumeration": "select", "number": "number",
                          "datetime": "date"}[kind], "groupName": "sla_lang"}
    if kind == "bool":
        options = ("true", "false")
    if options:
        body["options"] = [{"label": o, "value": o, "displayOrder": i, "hidden": False} for i, o in enumerate(options)]
    return body, {"name": name, "type": kind, "source": source, "clauses": list(clauses), "label": label or name,
                  "file": f"properties/{name}.json"}


def proof_files() -> dict[str, object]:
    """Every file of the build, as `HubSpotBundle(files)` and the tests read them."""
    flows = proof_flows()
    clauses = {"workflows/lead.entry.json": ["stage.lead"], "workflows/lead.to.mql.json": ["lead.to.mql", "mql.handoff"],
               "workflows/mql.respond.json": ["mql.respond", "mql.escalate.respond"],
               "workflows/mql.to.won.json": ["mql.to.won"], "workflows/mql.to.lost.json": ["mql.to.lost"]}
    properties = [
        _property("sla_stage", "enumeration", ["stage.lead", "stage.mql"], ("lead", "mql", "won", "lost")),
        _property("sla_mql_entered_at", "datetime", ["mql.respond"]),
        _property("sla_mql_respond_breached", "bool", ["mql.respond"]),
        _property("sla_mql_respond_escalated", "bool", ["mql.escalate.respond"]),
        _property("intent", "enumeration", ["mql.to.won", "mql.to.lost"], ("yes", "no"), "policy-property", "Intent"),
        _property("employees", "number", ["lead.to.mql"], (), "policy-property", "Employees"),
    ]
    files: dict[str, object] = dict(flows)
    for body, _ in properties:
        files[f"properties/{body['name']}.json"] = body
    files["manifest.json"] = {
        "stages": [{"id": "lead", "slaStage": "lead", "lifecycleStage": "lead"},
                   {"id": "mql", "slaStage": "mql", "lifecycleStage": "marketingqualifiedlead"},
                   {"id": "won", "slaStage": "won", "lifecycleStage": "customer"},
                   {"id": "lost", "slaStage": "lost", "lifecycleStage": "other"}],
        "workflows": [{"file": f, "kind": "entry" if f.endswith("entry.json") else "transition", "clauses": c}
                      for f, c in clauses.items()],
        "properties": [entry for _, entry in properties],
    }
    return copy.deepcopy(files)
