"""The sender's hand-off deadline (`handoff from X within D`) in the HubSpot workflows.

The agreement (and the reference simulator) gives a lead entering such a stage to the stage's
team with nobody of it assigned yet; the deadline is met when a person is assigned the lead
(`owner_changed`) after it entered and not after the due moment. The build therefore does not
rotate the owner at entry, stamps every change of the contact owner (`owner.assigned`), and
checks at the due moment (`<stage>.handoff`): breached → flag, notice to the sender, the lead
given to a user of the receiving team.

Proved here two ways, both independent of the generator's own reasoning:
- hand-computed moments through the model of HubSpot (a Friday-evening lead before a Japanese
  holiday: due the next working day but one), and
- mutations of the generated build that a wrong hand-off workflow would make (checked an hour
  late, the rotation at entry kept, the fallback rotation to the wrong team, an owner the lead
  already had counted as the hand-off, the hand-off task for the contact owner) must each show
  up as divergences from the reference simulator in the fixture scenarios.
"""

from __future__ import annotations

import copy
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from sla_lang.compile import compile_path, compile_text
from sla_lang.config import HubSpotSettings, TeamMapping
from sla_lang.simulate.hubspot import HubSpotBundle, HubSpotReplay, build_bundle
from sla_lang.targets import BuildOptions
from sla_lang.targets.fixtures import generate_fixtures
from sla_lang.targets.hubspot.emulate import to_ms

from .conftest import POLICIES, rel

TOKYO = ZoneInfo("Asia/Tokyo")

POLICY = '''agreement "Hand-off" {
  version "1"
  effective 2026-07-01
  owner ops
  calendar office
}
party marketing "Marketing" {
  lead "A"
}
party sales "Sales" {
  lead "B"
}
team ops "Operations" {
}
calendar office "Office" {
  timezone "Asia/Tokyo"
  days mon, tue, wed, thu, fri
  hours 09:00 to 18:00
  holidays JP
}
property qualified "Qualified" bool
property outcome "Outcome" enum ["won", "lost"]
stage lead "Lead" {
  owner marketing
  entry
  hubspot lead
  -> mql when qualified
}
stage mql "MQL" {
  owner sales
  hubspot marketingqualifiedlead
  handoff from marketing within 2bh {
    notify email, task
  }
  respond within 24h
  -> won when outcome == "won"
}
stage won "Won" {
  owner sales
  terminal
  hubspot customer
}
'''

SETTINGS = HubSpotSettings(teams=(("marketing", TeamMapping("9001", ("11", "12"))),
                                  ("sales", TeamMapping("9002", ("21", "22"))),
                                  ("ops", TeamMapping("9003", ("31",)))))


def tokyo(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TOKYO)


@cache
def small():
    result = compile_text(POLICY, "handoff.sla")
    assert not result.errors, [d.message for d in result.errors]
    bundle, diagnostics = build_bundle(result.policy, BuildOptions(hubspot=SETTINGS))
    assert bundle is not None, [d.message for d in diagnostics]
    return result.policy, bundle


def friday_evening(*timeline) -> dict:
    """A lead qualified on Friday 2026-07-17 at 17:00 in Tokyo. Two business hours: 17:00–18:00
    that day, then Monday 07-20 is Marine Day (海の日, a national holiday), so the second hour is
    Tuesday 09:00–10:00: due Tuesday 2026-07-21 10:00 (counted by hand)."""
    return {"id": "friday", "lead": {"id": "F1", "created": "2026-07-17T16:00:00+09:00", "stage": "lead",
                                     "owner": "marketing"},
            "timeline": [{"at": "2026-07-17T17:00:00+09:00", "type": "property_changed",
                          "properties": {"qualified": True}}, *timeline],
            "until": "2026-07-22T12:00:00+09:00"}


def history(contact, name):
    return [(c.moment.at.astimezone(TOKYO).strftime("%m-%d %H:%M"), c.new) for c in contact.history_of(name)]


def test_nobody_assigned_is_flagged_at_the_hand_computed_moment_and_given_to_the_team():
    policy, bundle = small()
    replay = HubSpotReplay(policy, bundle)
    portal, contact, _until, lead = replay.run(friday_evening())
    # entering `mql` gives the lead to nobody new: Marketing's user keeps it until the deadline
    assert history(contact, "hubspot_owner_id") == [("07-17 16:00", "11"), ("07-21 10:00", "21")]
    assert history(contact, "sla_mql_handoff_breached") == [("07-17 17:00", "false"), ("07-21 10:00", "true")]
    # the hand-off itself reached Sales at once (their team, and a task for one of them) …
    assert [(n.moment.at, n.teams) for n in portal.notifications if n.workflow == "workflows/lead.to.mql.json"] == [
        (tokyo("2026-07-17T17:00"), frozenset({"9002"}))]
    assert [(t.moment.at, t.owner) for t in portal.tasks if t.workflow == "workflows/lead.to.mql.json"] == [
        (tokyo("2026-07-17T17:00"), "21")]
    # … and the breach notice went to Marketing, who missed it
    assert [(n.moment.at, n.teams) for n in portal.notifications if n.workflow == "workflows/mql.handoff.json"] == [
        (tokyo("2026-07-21T10:00"), frozenset({"9001"}))]
    # the reference simulator agrees on the moment and the verdict
    assert [(d["status"], d["due"]) for d in lead["deadlines"] if d["clause"] == "mql.handoff"] == [
        ("breached", "2026-07-21T10:00:00+09:00")]
    assert replay.check(friday_evening()).divergences == []


@pytest.mark.parametrize("at, breached", [("2026-07-21T09:59:00+09:00", False), ("2026-07-21T10:00:00+09:00", False),
                                          ("2026-07-21T10:01:00+09:00", True), ("2026-07-20T11:00:00+09:00", False)])
def test_a_person_assigned_by_the_due_moment_meets_it(at, breached):
    policy, bundle = small()
    replay = HubSpotReplay(policy, bundle)
    scenario = friday_evening({"at": at, "type": "owner_changed", "owner": "kenji.sato"})
    _portal, contact, _until, lead = replay.run(scenario)
    assert contact.get("sla_mql_handoff_breached") == ("true" if breached else "false")
    assert contact.get("sla_owner_assigned_at") == to_ms(datetime.fromisoformat(at))
    # met: the person keeps the lead (no rotation); breached at 10:00, a user of Sales had it from then
    owners = history(contact, "hubspot_owner_id")
    assert owners[-1][1] == "user:kenji.sato"
    assert ("07-21 10:00", "21") in owners if breached else len(owners) == 2
    assert [d["status"] for d in lead["deadlines"] if d["clause"] == "mql.handoff"] == [
        "breached" if breached else "met"]
    assert replay.check(scenario).divergences == []


def test_an_owner_the_lead_had_before_it_entered_is_no_hand_off():
    """Marketing's user, set when the lead was created, is still the owner at the due moment: the
    stamp is older than the stage's start, so the hand-off is breached (strictly after the start)."""
    policy, bundle = small()
    replay = HubSpotReplay(policy, bundle)
    _portal, contact, _until, _lead = replay.run(friday_evening())
    assert history(contact, "sla_owner_assigned_at")[0] == ("07-17 16:00", to_ms(tokyo("2026-07-17T16:00")))
    assert contact.get("sla_mql_handoff_breached") == "true"


def test_without_custom_code_the_check_comes_at_the_shortest_length_within_the_manifest_bound():
    """No Operations Hub: a fixed wait of the shortest wall-clock length two business hours can
    take (2 h), never after the due moment; the manifest states how early it can be."""
    policy, _ = small()
    import dataclasses

    bundle, _ = build_bundle(policy, BuildOptions(hubspot=dataclasses.replace(SETTINGS, custom_code=False)))
    timer = next(t for t in bundle.manifest["timers"] if t["clause"] == "mql.handoff")
    assert timer["timing"] == "wall-clock" and timer["conservative"]["waitMinutes"] == 120
    assert timer["conservative"]["offsetMinutes"]["latest"] == 0
    replay = HubSpotReplay(policy, bundle)
    _portal, contact, _until, _lead = replay.run(friday_evening())
    # 2 wall-clock hours after Friday 17:00: 3 days 21 hours before the due moment (Tuesday 10:00)
    assert history(contact, "sla_mql_handoff_breached")[-1] == ("07-17 19:00", "true")
    early = (tokyo("2026-07-21T10:00") - tokyo("2026-07-17T19:00")).total_seconds() // 60
    assert -timer["conservative"]["offsetMinutes"]["earliest"] >= early
    assert not any(step["code"] == "SLA849" for step in bundle.manifest["manualSteps"])


# ------------------------------------------------------------------ mutations of the generated build

INSIDE_SALES = next(p for p in POLICIES if p.name == "inside_sales_sal.sla")


@cache
def inside_sales():
    from .test_hubspot_differential import mapped_settings

    result = compile_path(INSIDE_SALES, shown_as=rel(INSIDE_SALES))
    bundle, _ = build_bundle(result.policy, BuildOptions(hubspot=mapped_settings(result.policy)))
    scenarios = generate_fixtures(result.policy, None).scenarios["scenarios"]
    return result.policy, bundle, scenarios


def found(policy, files, scenarios) -> set[tuple[str, str, str, str]]:
    replay = HubSpotReplay(policy, HubSpotBundle(files))
    return {(s["id"], d.clause, d.what, d.message) for s in scenarios for d in replay.check(s).divergences}


def append(body: dict, action: dict) -> None:
    """Add `action` after the flow's last action (the end of its main path)."""
    last = body["actions"][-1]
    action = {"actionId": str(len(body["actions"]) + 1), **action}
    last["connection"] = {"edgeType": "STANDARD", "nextActionId": action["actionId"]}
    body["actions"].append(action)


def insert_after(body: dict, action_id: str, action: dict) -> None:
    before = next(a for a in body["actions"] if a["actionId"] == action_id)
    action = {"actionId": str(len(body["actions"]) + 1), **action, "connection": before["connection"]}
    before["connection"] = {"edgeType": "STANDARD", "nextActionId": action["actionId"]}
    body["actions"].append(action)


def of_type(body: dict, type_id: str) -> list[dict]:
    return [a for a in body["actions"] if a.get("actionTypeId") == type_id]


def rotate_at_entry(files):
    users = of_type(files["workflows/mql.handoff.json"], "0-11")[0]["fields"]["user_ids"]
    append(files["workflows/lead.to.mql.json"], {"type": "SINGLE_CONNECTION", "actionTypeId": "0-11",
                                                 "actionTypeVersion": 0, "fields": {
                                                     "user_ids": users, "target_property": "hubspot_owner_id",
                                                     "overwrite_current_owner": "true"}})


def an_hour_late(files):
    body = files["workflows/mql.handoff.json"]
    insert_after(body, of_type(body, "0-35")[0]["actionId"], {
        "type": "SINGLE_CONNECTION", "actionTypeId": "0-1", "actionTypeVersion": 0,
        "fields": {"delta": "1", "time_unit": "HOURS"}})


def rotation_to_the_sender(files):
    marketing = of_type(files["workflows/lead.to.mql.json"], "0-8")  # (no notice to marketing there)
    assert not marketing
    for action in of_type(files["workflows/mql.handoff.json"], "0-11"):
        action["fields"]["user_ids"] = ["1", "2"]  # mapped_settings: Marketing's users


def any_owner_counts(files):
    for action in files["workflows/mql.handoff.json"]["actions"]:
        for branch in action.get("listBranches") or []:
            for group in branch["filterBranch"]["filterBranches"]:
                for flt in group["filters"]:
                    if flt["operation"].get("comparisonPropertyName") == "sla_stage_entered_at":
                        flt["operation"] = {"operationType": "ALL_PROPERTY", "operator": "IS_KNOWN",
                                            "includeObjectsWithNoValueSet": False}


def task_for_the_contact_owner(files):
    for action in of_type(files["workflows/lead.to.mql.json"], "0-3"):
        action["fields"]["owner_assignment"]["value"] = {"type": "OBJECT_PROPERTY", "propertyName": "hubspot_owner_id"}


def kept_by_the_sender(files):
    """`mql.to.sal` (Inside Sales to Inside Sales) counts any owner as taken over."""
    for action in files["workflows/mql.to.sal.json"]["actions"]:
        for branch in action.get("listBranches") or []:
            for group in branch["filterBranch"]["filterBranches"]:
                for flt in group["filters"]:
                    if flt["property"] == "sla_owner_assigned_at":
                        flt["operation"] = {"operationType": "ALL_PROPERTY", "operator": "IS_KNOWN",
                                            "includeObjectsWithNoValueSet": False}


MUTATIONS = {
    # the workflow hands the lead over itself at entry: nobody is left to be late
    "rotation at entry kept": (rotate_at_entry, {("mql.handoff", "owner")}),
    # the check runs an hour after the due moment: the breach is flagged late (or not at all when
    # the scenario ends first), and until then the lead stays with Marketing's user
    "checked an hour late": (an_hour_late, {("mql.handoff", "breach moment"), ("mql.handoff", "deadline"),
                                            ("mql.handoff", "owner")}),
    # the fallback gives the lead back to the sender's team instead of the receiving one
    "fallback to the sender": (rotation_to_the_sender, {("mql.handoff", "owner")}),
    # Marketing's user, who had the lead before it qualified, counts as the hand-off
    "an old owner counts": (any_owner_counts, {("mql.handoff", "deadline"), ("mql.handoff", "owner")}),
    # the hand-off task goes to Marketing's user (the contact owner), not to Inside Sales
    "task for the contact owner": (task_for_the_contact_owner, {("mql.handoff", "hand-off")}),
    # a lead accepted before anyone of Inside Sales took it over stays with Marketing's user in
    # `sal`: its owner is wrong there (`sal` has no follow-up tasks since its follow-ups became
    # the steps of a sequence, whose notices the scenarios do not compare)
    "kept by the sender's user": (kept_by_the_sender, {("mql.to.sal", "owner")}),
}


def test_the_generated_hand_off_has_no_divergence():
    policy, bundle, scenarios = inside_sales()
    assert not [d for d in found(policy, bundle.files, scenarios) if "handoff" in d[1]]
    assert "workflows/mql.handoff.json" in bundle.files and "workflows/sql.handoff.json" in bundle.files
    manual = [s for s in bundle.manifest["manualSteps"] if s["code"] == "SLA849"]
    assert not any(c.endswith(".handoff") for s in manual for c in s["clauses"])


@pytest.mark.parametrize("name", MUTATIONS)
def test_each_wrong_hand_off_workflow_diverges(name):
    policy, bundle, scenarios = inside_sales()
    change, expected = MUTATIONS[name]
    baseline = found(policy, bundle.files, scenarios)
    files = copy.deepcopy(bundle.files)
    change(files)
    # new kinds of divergence per clause (a divergence the build already has — the Slack-only
    # escalation, say — may change its wording when the owner changes, and is not counted)
    known = {(clause, what) for _, clause, what, _ in baseline}
    new = {(clause, what) for _, clause, what, _ in found(policy, files, scenarios)} - known
    assert new == expected
