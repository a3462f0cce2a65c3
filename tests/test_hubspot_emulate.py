"""The executable model of HubSpot's workflow engine (targets/hubspot/emulate.py), rule by rule.

Every test builds v4 flow bodies by hand — not with sla-lang's generator — and checks what
the model does against what HubSpot's documentation says (the rule numbers are those of
targets/hubspot/SEMANTICS.md). Expected times are worked out by hand in the comments.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sla_lang.targets.hubspot.emulate import (
    Portal,
    PortalSettings,
    PropertyDef,
    UnknownSemantics,
    Workflow,
    run_python_custom_code,
    to_ms,
)

from .hubspot_spec import AUTOMATION_V4, spec_errors

JST = ZoneInfo("Asia/Tokyo")
NY = ZoneInfo("America/New_York")


def at(text: str, zone: ZoneInfo = JST) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


# ------------------------------------------------------------------ building flow bodies by hand

def prop(name, operation_type, operator, **extra):
    return {"filterType": "PROPERTY", "property": name,
            "operation": {"operationType": operation_type, "operator": operator,
                          "includeObjectsWithNoValueSet": extra.pop("with_no_value", False), **extra}}


def tree(*filters):
    """OR → AND → filters, as HubSpot nests list filters."""
    return {"filterBranchType": "OR", "filterBranchOperator": "OR", "filters": [],
            "filterBranches": [{"filterBranchType": "AND", "filterBranchOperator": "AND", "filterBranches": [],
                                "filters": list(filters)}]}


def changed(name, value=None):
    """The "property value changed" event (4-655002) for `name` (to `value`, or to any value)."""
    to = prop("hs_value", "STRING", "IS_EQUAL_TO", value=value) if value is not None else \
        prop("hs_value", "ALL_PROPERTY", "IS_KNOWN")
    return {"filterBranchType": "UNIFIED_EVENTS", "filterBranchOperator": "AND", "eventTypeId": "4-655002",
            "operator": "HAS_COMPLETED", "filterBranches": [],
            "filters": [prop("hs_name", "STRING", "IS_EQUAL_TO", value=name), to]}


def single(action_id, type_id, fields, next_id=None, edge="STANDARD"):
    action = {"actionId": action_id, "type": "SINGLE_CONNECTION", "actionTypeId": type_id, "actionTypeVersion": 0,
              "fields": fields}
    if next_id is not None:
        action["connection"] = {"edgeType": edge, "nextActionId": next_id}
    return action


def set_value(action_id, name, value, next_id=None):
    return single(action_id, "0-5", {"property_name": name, "value": {"type": "STATIC_VALUE", "staticValue": value}},
                  next_id)


def delay(action_id, amount, unit, next_id=None):
    return single(action_id, "0-1", {"delta": str(amount), "time_unit": unit}, next_id)


def flow(name, criteria, actions, **settings):
    body = {"type": "CONTACT_FLOW", "objectTypeId": "0-1", "flowType": "WORKFLOW", "name": name,
            "description": "", "isEnabled": False, "startActionId": actions[0]["actionId"] if actions else "1",
            "actions": actions, "enrollmentCriteria": criteria, "timeWindows": settings.get("windows", []),
            "blockedDates": settings.get("blocked", []), "canEnrollFromSalesforce": False, "dataSources": [],
            "suppressionListIds": [], "customProperties": {}}
    return body


def list_based(filters, *, reenroll=(), unenroll=False):
    return {"type": "LIST_BASED", "listFilterBranch": filters, "shouldReEnroll": bool(reenroll),
            "reEnrollmentTriggersFilterBranches": list(reenroll), "unEnrollObjectsNotMeetingCriteria": unenroll}


PROPERTIES = {
    "stage": PropertyDef("stage", "enumeration", ("a", "b", "c")),
    "score": PropertyDef("score", "number"),
    "flag": PropertyDef("flag", "bool"),
    "intent": PropertyDef("intent", "enumeration", ("yes", "no")),
    "entered_at": PropertyDef("entered_at", "datetime"),
    "due_at": PropertyDef("due_at", "datetime"),
    "due_day": PropertyDef("due_day", "date"),
    "note": PropertyDef("note", "string"),
    "count": PropertyDef("count", "number"),
}
TEAMS = {"t-sales": ("u1", "u2"), "t-managers": ("m1",)}


def portal(*bodies, zone=JST):
    settings = PortalSettings(zone, dict(PROPERTIES), dict(TEAMS), frozenset({"u1", "u2", "m1", "x9"}))
    for body in bodies:  # every hand-written body is a valid HubSpot create request
        assert [p for p in spec_errors(AUTOMATION_V4, "ApiFlowCreateRequest", body) if "fields" not in p] == []
    return Portal(settings, [Workflow(body, f"workflows/{body['name']}.json") for body in bodies])


def values(contact, name):
    return [c.new for c in contact.history_of(name)]


def rules(p):
    return sorted({f.rule for f in p.flags})


# ------------------------------------------------------------------ S4–S6 enrolment


def test_list_based_enrolment_happens_when_criteria_become_true_and_only_once():
    """[S4][S6] without re-enrolment a record enrols the first time it meets the criteria."""
    body = flow("qualify", list_based(tree(prop("score", "NUMBER", "IS_GREATER_THAN_OR_EQUAL_TO", value=50))),
                [set_value("1", "stage", "b")])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"score": "10", "stage": "a"})
    assert values(c, "stage") == ["a"]
    p.update(at("2026-04-01T10:00"), c, {"score": "60"})
    assert values(c, "stage") == ["a", "b"]
    p.update(at("2026-04-01T11:00"), c, {"stage": "a"})
    p.update(at("2026-04-01T12:00"), c, {"score": "40"})
    p.update(at("2026-04-01T13:00"), c, {"score": "70"})  # true again, but no re-enrolment
    assert values(c, "stage") == ["a", "b", "a"]
    assert [e.event for e in p.enrollments[c.id]] == ["enrolled", "finished"]


def test_a_contact_created_meeting_the_criteria_enrols_at_creation():
    body = flow("qualify", list_based(tree(prop("score", "NUMBER", "IS_GREATER_THAN_OR_EQUAL_TO", value=50))),
                [set_value("1", "stage", "b")])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"score": "55"})
    assert c.get("stage") == "b" and c.history_of("stage")[0].moment.at == at("2026-04-01T09:00")


def test_re_enrolment_needs_a_trigger_that_happens_and_the_criteria():
    """[S6] a re-enrolment trigger must happen (a change), and the enrolment criteria must hold
    at that time; a criterion that merely stays true re-enrols nobody."""
    criteria = list_based(tree(prop("stage", "ENUMERATION", "IS_ANY_OF", values=["a"]),
                               prop("score", "NUMBER", "IS_GREATER_THAN_OR_EQUAL_TO", value=50)),
                          reenroll=[changed("score")])
    body = flow("qualify", criteria, [set_value("1", "stage", "b")])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"stage": "a", "score": "60"})
    assert c.get("stage") == "b"
    p.update(at("2026-04-01T10:00"), c, {"stage": "a"})  # criteria true again, but no trigger happened
    assert c.get("stage") == "a"
    p.update(at("2026-04-01T11:00"), c, {"score": "61"})  # the trigger happens, criteria hold
    assert c.get("stage") == "b"
    p.update(at("2026-04-01T12:00"), c, {"score": "62"})  # trigger, but the criteria do not hold (stage b)
    assert values(c, "stage") == ["a", "b", "a", "b"]


def test_a_record_does_not_re_enrol_while_enrolled():
    criteria = list_based(tree(prop("score", "NUMBER", "IS_GREATER_THAN_OR_EQUAL_TO", value=50)),
                          reenroll=[changed("score")])
    body = flow("watch", criteria, [delay("1", 1, "DAYS", "2"), single("2", "0-5", {
        "property_name": "count", "value": {"type": "INCREMENT", "incrementAmount": 1}})])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"score": "60"})
    p.update(at("2026-04-01T10:00"), c, {"score": "70"})  # still enrolled (waiting): ignored
    p.advance(at("2026-04-02T09:00"))
    p.update(at("2026-04-02T10:00"), c, {"score": "80"})  # finished: re-enrols
    p.advance(at("2026-04-03T10:00"))
    assert values(c, "count") == ["1", "2"]
    assert [e.event for e in p.enrollments[c.id]] == ["enrolled", "finished", "re-enrolled", "finished"]


def test_property_trigger_fires_when_going_from_not_matching_to_matching():
    """[S6] a property-filter re-enrolment trigger happens when the record starts to match it,
    and an `is known` trigger also when the value changes from one value to another."""
    known = tree(prop("note", "ALL_PROPERTY", "IS_KNOWN"))
    body = flow("notes", list_based(known, reenroll=[known]), [single("1", "0-5", {
        "property_name": "count", "value": {"type": "INCREMENT", "incrementAmount": 1}})])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {})
    p.update(at("2026-04-01T10:00"), c, {"note": "x"})  # first enrolment
    p.update(at("2026-04-01T11:00"), c, {"note": "y"})  # is known: value to another value
    p.update(at("2026-04-01T12:00"), c, {"score": "1"})  # unrelated change
    assert values(c, "count") == ["1", "2"]


def test_unenrolment_drops_the_pending_steps():
    """[S5] with unEnrollObjectsNotMeetingCriteria the contact leaves when it stops matching."""
    criteria = list_based(tree(prop("stage", "ENUMERATION", "IS_ANY_OF", values=["a"])), unenroll=True)
    body = flow("monitor", criteria, [delay("1", 24, "HOURS", "2"), set_value("2", "flag", "true")])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"stage": "a"})
    p.update(at("2026-04-01T20:00"), c, {"stage": "b"})
    p.advance(at("2026-04-03T00:00"))
    assert c.get("flag") is None
    assert [e.event for e in p.enrollments[c.id]] == ["enrolled", "unenrolled"]


def test_without_unenrolment_the_run_goes_on():
    criteria = list_based(tree(prop("stage", "ENUMERATION", "IS_ANY_OF", values=["a"])))
    body = flow("monitor", criteria, [delay("1", 24, "HOURS", "2"), set_value("2", "flag", "true")])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"stage": "a"})
    p.update(at("2026-04-01T20:00"), c, {"stage": "b"})
    p.advance(at("2026-04-03T00:00"))
    assert c.history_of("flag")[0].moment.at == at("2026-04-02T09:00")


# ------------------------------------------------------------------ S1 what is modelled, S17 filter branches, S24 the score


def platform_flow(body):
    """A deal workflow: PLATFORM_FLOW on object 0-3, without the contact-only fields."""
    body.update(type="PLATFORM_FLOW", objectTypeId="0-3")
    del body["canEnrollFromSalesforce"], body["suppressionListIds"]


COMPANY = {"type": "ASSOCIATION", "name": "company", "associationCategory": "HUBSPOT_DEFINED",
           "associationTypeId": 1, "objectTypeId": "0-2"}


@pytest.mark.parametrize("change, message", [
    (platform_flow, "only contact workflows"),
    (lambda b: b.update(suppressionListIds=[12]), "`suppressionListIds` is not modelled"),
    (lambda b: b.update(dataSources=[COMPANY]), "`dataSources` is not modelled"),
], ids=["deal workflow", "suppression list", "data source"])
def test_what_is_outside_the_model_is_flagged_when_a_contact_enrols(change, message):
    """[S1] deal workflows, suppression lists and data sources are outside the model: nothing
    is assumed before a record enrols, and every enrolment is flagged."""
    body = flow("other", list_based(tree(prop("score", "NUMBER", "IS_GREATER_THAN", value=5))),
                [set_value("1", "note", "x")])
    change(body)
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"score": "1"})
    assert p.flags == []  # not enrolled yet: nothing is assumed
    p.update(at("2026-04-01T10:00"), c, {"score": "9"})
    assert rules(p) == ["S1"] and any(message in f.message for f in p.flags)


def test_a_person_clearing_a_value_is_a_change_like_any_other():
    """[S2] people and integrations clear a value through the CRM API with an empty string; the
    value is then unknown to filters, and the change can enrol the contact."""
    body = flow("cleared", list_based(tree(prop("note", "ALL_PROPERTY", "IS_UNKNOWN"))), [set_value("1", "stage", "c")])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"note": "x", "stage": "a"})
    assert c.get("stage") == "a"
    p.update(at("2026-04-01T10:00"), c, {"note": ""})
    assert c.get("note") is None and values(c, "note") == ["x", None]
    assert c.get("stage") == "c" and c.history_of("stage")[-1].moment.at == at("2026-04-01T10:00")
    assert p.flags == []


def branch(kind, *parts):
    filters = [x for x in parts if "filterType" in x]
    subs = [x for x in parts if "filterBranchType" in x]
    return {"filterBranchType": kind, "filterBranchOperator": kind, "filters": filters, "filterBranches": subs}


@pytest.mark.parametrize("score, flag, expected", [
    # OR(AND(score >= 50, flag), NOT_ANY(score < 10, flag)), worked by hand:
    ("60", "true", True),    # the AND holds
    ("60", "false", True),   # the AND fails; neither score < 10 nor flag: the NOT_ANY holds
    ("30", "true", False),   # the AND fails (30 < 50); flag is set: the NOT_ANY fails
    ("5", "false", False),   # the AND fails; score < 10: the NOT_ANY fails
    ("85", "false", True),   # neither: the NOT_ANY holds
])
def test_filter_branches_combine_as_documented(score, flag, expected):
    """[S17] OR: any of its filters and sub-branches; AND: all; NOT_ALL: not all; NOT_ANY: none."""
    high = prop("score", "NUMBER", "IS_GREATER_THAN_OR_EQUAL_TO", value=50)
    low = prop("score", "NUMBER", "IS_LESS_THAN", value=10)
    flagged = prop("flag", "BOOL", "IS_EQUAL_TO", value=True)
    below = prop("score", "NUMBER", "IS_LESS_THAN", value=80)
    criteria = branch("OR", branch("AND", high, flagged), branch("NOT_ANY", low, flagged))
    body = flow("combine", list_based(criteria), [set_value("1", "note", "in")])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"score": score, "flag": flag})
    assert (c.get("note") == "in") is expected
    assert p.flags == []
    # NOT_ALL alone: in unless both filters hold
    body = flow("not_all", list_based(branch("OR", branch("NOT_ALL", high, below))), [set_value("1", "note", "in")])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"score": score, "flag": flag})
    assert (c.get("note") == "in") is not (50 <= int(score) < 80)


def test_other_filter_types_are_flagged():
    """[S17] only property (and constant) filters are modelled: a list-membership filter is flagged."""
    body = flow("lists", list_based(branch("OR", branch("AND", {"filterType": "IN_LIST", "listId": "7",
                                                                   "operator": "IN_LIST"}))),
                [set_value("1", "note", "in")])
    p = portal(body)
    p.create_contact(at("2026-04-01T09:00"), {"score": "1"})
    assert rules(p) == ["S17"]


def test_the_score_is_recomputed_when_its_inputs_change_and_enrols_like_any_change():
    """[S24] the score is kept by HubSpot's scoring tool; the model recomputes it at the moment
    an input changes, and the change enrols the contact like any other [S8]."""
    def compute(values):
        return str(10 * int(values.get("count") or 0) + (40 if values.get("flag") == "true" else 0))

    body = flow("qualify", list_based(tree(prop("score", "NUMBER", "IS_GREATER_THAN_OR_EQUAL_TO", value=50))),
                [set_value("1", "stage", "b")])
    settings = PortalSettings(JST, dict(PROPERTIES), dict(TEAMS), frozenset({"u1", "u2", "m1"}))
    p = Portal(settings, [Workflow(body, "workflows/qualify.json")],
               [("score", frozenset({"count", "flag"}), compute)])
    c = p.create_contact(at("2026-04-01T09:00"), {"count": "1", "stage": "a"})
    assert c.get("score") == "10" and c.get("stage") == "a"
    p.update(at("2026-04-01T10:00"), c, {"note": "unrelated"})
    assert [ch.moment.at for ch in c.history_of("score")] == [at("2026-04-01T09:00")]
    p.update(at("2026-04-01T11:00"), c, {"flag": "true"})
    assert values(c, "score") == ["10", "50"] and c.get("stage") == "b"
    assert c.history_of("score")[-1].source == "CALCULATED" and c.history_of("stage")[-1].moment.at == at(
        "2026-04-01T11:00")


# ------------------------------------------------------------------ S14 delays


def test_relative_delay_counts_calendar_time():
    body = flow("d", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))),
                [delay("1", 64, "HOURS", "2"), set_value("2", "note", "late")])
    p = portal(body)
    c = p.create_contact(at("2026-04-30T19:00"), {"flag": "true"})  # Thursday 19:00
    p.advance(at("2026-05-10T00:00"))
    assert c.history_of("note")[0].moment.at == at("2026-05-03T11:00")  # + 64 h, Golden Week or not


def test_a_day_delay_across_a_daylight_saving_change_is_unknown():
    body = flow("d", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))),
                [delay("1", 1, "DAYS", "2"), set_value("2", "note", "x")])
    p = portal(body, zone=NY)
    c = p.create_contact(at("2026-03-07T12:00", NY), {"flag": "true"})  # DST starts 2026-03-08 in New York
    p.advance(at("2026-03-10T00:00", NY))
    assert rules(p) == ["S14"]
    # when the run would go on is what is unknown: it stops there rather than act at a moment
    # the model picked
    assert c.get("note") is None and [e.event for e in p.enrollments[c.id]] == ["enrolled", "finished"]


def test_delay_until_a_datetime_property():
    body = flow("until", list_based(tree(prop("due_at", "ALL_PROPERTY", "IS_KNOWN"))), [
        single("1", "0-35", {"date": {"type": "OBJECT_PROPERTY", "propertyName": "due_at"}, "delta": "0",
                             "time_unit": "MINUTES"}, "2"),
        set_value("2", "note", "due")])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"due_at": to_ms(at("2026-04-03T17:30"))})
    p.advance(at("2026-04-05T00:00"))
    assert c.history_of("note")[0].moment.at == at("2026-04-03T17:30")
    assert p.flags == []


def test_delay_until_a_date_property_uses_the_time_of_day_in_the_account_zone():
    body = flow("until", list_based(tree(prop("due_day", "ALL_PROPERTY", "IS_KNOWN"))), [
        single("1", "0-35", {"date": {"type": "OBJECT_PROPERTY", "propertyName": "due_day"}, "delta": "1",
                             "time_unit": "DAYS", "time_of_day": {"hour": 9, "minute": 30}}, "2"),
        set_value("2", "note", "due")])
    p = portal(body)
    midnight_utc = "1775260800000"  # 2026-04-04, a date property's value
    c = p.create_contact(at("2026-04-01T09:00"), {"due_day": midnight_utc})
    p.advance(at("2026-04-10T00:00"))
    assert c.history_of("note")[0].moment.at == at("2026-04-05T09:30")  # the day + 1 day, 09:30 Tokyo


@pytest.mark.parametrize("value", [None, "past", "now"])
def test_delay_until_an_empty_past_or_present_date_is_unknown(value):
    body = flow("until", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))), [
        single("1", "0-35", {"date": {"type": "OBJECT_PROPERTY", "propertyName": "due_at"}, "delta": "0",
                             "time_unit": "MINUTES"}, "2"),
        set_value("2", "note", "due")])
    p = portal(body)
    start = {"flag": "true"}
    if value == "past":
        start["due_at"] = to_ms(at("2026-03-01T00:00"))
    if value == "now":
        start["due_at"] = to_ms(at("2026-04-01T09:00"))
    p.create_contact(at("2026-04-01T09:00"), start)
    assert rules(p) == ["S14"]


# ------------------------------------------------------------------ S12–S13 time windows

WEEKDAYS_9_18 = [{"day": d, "startTime": {"hour": 9, "minute": 0}, "endTime": {"hour": 18, "minute": 0}}
                 for d in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")]


def test_an_action_outside_the_windows_waits_for_the_next_opening_within_15_minutes():
    body = flow("w", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))),
                [set_value("1", "note", "done")], windows=WEEKDAYS_9_18)
    p = portal(body)
    c = p.create_contact(at("2026-04-04T10:00"), {"flag": "true"})  # a Saturday
    p.advance(at("2026-04-07T00:00"))
    change = c.history_of("note")[0]
    assert change.moment.at == at("2026-04-06T09:00") and change.moment.spread == timedelta(minutes=15)


def test_delays_and_branches_are_not_rescheduled_but_the_following_action_is():
    """[S13] the Thursday example of "Manage workflow settings": a 2-day delay entered on
    Thursday ends on Saturday; the branch runs then, the next action on Monday."""
    branch = {"actionId": "2", "type": "LIST_BRANCH", "defaultBranchName": "no",
              "listBranches": [{"branchName": "yes", "filterBranch": tree(prop("intent", "ENUMERATION", "IS_ANY_OF",
                                                                                 values=["yes"])),
                                "connection": {"edgeType": "STANDARD", "nextActionId": "3"}}],
              "defaultBranch": {"edgeType": "STANDARD", "nextActionId": "4"}}
    body = flow("w", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))),
                [delay("1", 2, "DAYS", "2"), branch, set_value("3", "note", "yes"), set_value("4", "note", "no")],
                windows=WEEKDAYS_9_18)
    p = portal(body)
    c = p.create_contact(at("2026-04-02T10:00"), {"flag": "true", "intent": "yes"})  # Thursday
    p.update(at("2026-04-05T12:00"), c, {"intent": "no"})  # Sunday: after the branch ran (Saturday 10:00)
    p.advance(at("2026-04-07T00:00"))
    assert values(c, "note") == ["yes"]  # decided on Saturday, written on Monday
    assert c.history_of("note")[0].moment.at == at("2026-04-06T09:00")


def test_blocked_dates_are_skipped():
    body = flow("w", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))),
                [set_value("1", "note", "done")], windows=WEEKDAYS_9_18,
                blocked=[{"dayOfMonth": 6, "month": "APRIL", "year": 2026}])
    p = portal(body)
    c = p.create_contact(at("2026-04-04T10:00"), {"flag": "true"})
    p.advance(at("2026-04-08T00:00"))
    assert c.history_of("note")[0].moment.at == at("2026-04-07T09:00")


def test_reaching_an_action_exactly_when_a_window_closes_is_unknown():
    body = flow("w", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))),
                [set_value("1", "note", "done")], windows=WEEKDAYS_9_18)
    p = portal(body)
    p.create_contact(at("2026-04-06T18:00"), {"flag": "true"})
    assert rules(p) == ["S13"]


def test_a_rescheduled_read_of_a_value_that_changes_within_the_spread_is_unknown():
    branch = {"actionId": "1", "type": "LIST_BRANCH", "defaultBranchName": "no",
              "listBranches": [{"branchName": "yes", "filterBranch": tree(prop("intent", "ENUMERATION", "IS_ANY_OF",
                                                                                 values=["yes"])),
                                "connection": {"edgeType": "STANDARD", "nextActionId": "2"}}]}
    body = flow("w", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))),
                [set_value("0", "note", "start", "1"), branch, set_value("2", "note", "yes")],
                windows=WEEKDAYS_9_18)
    p = portal(body)
    c = p.create_contact(at("2026-04-04T10:00"), {"flag": "true", "intent": "yes"})
    p.update(at("2026-04-06T09:05"), c, {"intent": "no"})  # within 09:00–09:15 of the rescheduled run
    p.advance(at("2026-04-07T00:00"))
    assert [f.rule for f in p.spread_conflicts()] == ["S13"]


# ------------------------------------------------------------------ S9 graph, S16 branches


def test_first_matching_list_branch_wins_and_a_branch_without_connection_ends():
    branch = {"actionId": "1", "type": "LIST_BRANCH", "defaultBranchName": "other",
              "listBranches": [
                  {"branchName": "big", "filterBranch": tree(prop("score", "NUMBER", "IS_GREATER_THAN", value=50)),
                   "connection": {"edgeType": "STANDARD", "nextActionId": "2"}},
                  {"branchName": "any", "filterBranch": tree(prop("score", "ALL_PROPERTY", "IS_KNOWN"))}],
              "defaultBranch": {"edgeType": "STANDARD", "nextActionId": "3"}}
    body = flow("b", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))),
                [branch, set_value("2", "note", "big"), set_value("3", "note", "default")])
    for score, expected in (("60", ["big"]), ("10", []), (None, ["default"])):
        p = portal(body)
        start = {"flag": "true"} | ({"score": score} if score else {})
        c = p.create_contact(at("2026-04-01T09:00"), start)
        assert values(c, "note") == expected, score


def test_joining_two_branches_with_standard_edges_is_unknown_but_goto_is_documented():
    def body(edge):
        branch = {"actionId": "1", "type": "LIST_BRANCH", "defaultBranchName": "no",
                  "listBranches": [{"branchName": "yes", "filterBranch": tree(prop("intent", "ENUMERATION",
                                                                                     "IS_ANY_OF", values=["yes"])),
                                    "connection": {"edgeType": "STANDARD", "nextActionId": "2"}}],
                  "defaultBranch": {"edgeType": "STANDARD", "nextActionId": "3"}}
        return flow("j", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))),
                    [branch, set_value("2", "note", "yes", "3"), set_value("3", "count", "1", None)]
                    if edge == "STANDARD" else
                    [branch, single("2", "0-5", {"property_name": "note", "value": {"type": "STATIC_VALUE",
                                                                                     "staticValue": "yes"}},
                                    "3", edge="GOTO"), set_value("3", "count", "1")])
    joined = portal(body("STANDARD"))
    joined.create_contact(at("2026-04-01T09:00"), {"flag": "true", "intent": "yes"})
    assert rules(joined) == ["S9"]
    jumped = portal(body("GOTO"))
    c = jumped.create_contact(at("2026-04-01T09:00"), {"flag": "true", "intent": "yes"})
    assert jumped.flags == [] and c.get("count") == "1"


def test_a_loop_without_delay_is_stopped_and_flagged():
    body = flow("loop", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))),
                [set_value("1", "note", "x", "2"), single("2", "0-5", {"property_name": "count", "value": {
                    "type": "INCREMENT", "incrementAmount": 1}}, "1", edge="GOTO")])
    p = portal(body)
    p.create_contact(at("2026-04-01T09:00"), {"flag": "true"})
    assert "S9" in rules(p)


# ------------------------------------------------------------------ S19, S21 setting properties


def test_set_property_values():
    body = flow("s", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))), [
        single("1", "0-5", {"property_name": "entered_at", "value": {"type": "TIMESTAMP",
                                                                     "timestampType": "EXECUTION_TIME"}}, "2"),
        single("2", "0-5", {"property_name": "note", "value": {"type": "OBJECT_PROPERTY", "propertyName": "intent"}},
               "3"),
        single("3", "0-5", {"property_name": "count", "value": {"type": "INCREMENT", "incrementAmount": 2}})])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"flag": "true", "intent": "no", "count": "3"})
    assert c.get("entered_at") == to_ms(at("2026-04-01T09:00"))
    assert c.get("note") == "no" and c.get("count") == "5"
    assert p.flags == []


@pytest.mark.parametrize("name, value", [("intent", "maybe"), ("score", "many"), ("flag", "yes")])
def test_a_value_the_property_cannot_hold_is_unknown(name, value):
    body = flow("s", list_based(tree(prop("note", "ALL_PROPERTY", "IS_KNOWN"))), [set_value("1", name, value)])
    p = portal(body)
    p.create_contact(at("2026-04-01T09:00"), {"note": "x"})
    assert rules(p) == ["S19"]


def test_clearing_with_an_empty_value_is_flagged_as_undocumented():
    body = flow("s", list_based(tree(prop("note", "ALL_PROPERTY", "IS_KNOWN"))), [set_value("1", "intent", "")])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"note": "x", "intent": "yes"})
    assert rules(p) == ["S19"] and c.get("intent") is None


def test_lifecycle_stage_only_moves_forward_unless_cleared_first():
    backwards = flow("back", list_based(tree(prop("note", "STRING", "IS_EQUAL_TO", value="recycle"))),
                     [set_value("1", "lifecyclestage", "lead")])
    p = portal(backwards)
    c = p.create_contact(at("2026-04-01T09:00"), {"lifecyclestage": "salesqualifiedlead"})
    p.update(at("2026-04-01T10:00"), c, {"note": "recycle"})
    assert c.get("lifecyclestage") == "salesqualifiedlead"  # [S21] silently not moved back
    cleared = flow("back", list_based(tree(prop("note", "STRING", "IS_EQUAL_TO", value="recycle"))),
                   [set_value("1", "lifecyclestage", "", "2"), set_value("2", "lifecyclestage", "lead")])
    p = portal(cleared)
    c = p.create_contact(at("2026-04-01T09:00"), {"lifecyclestage": "salesqualifiedlead"})
    p.update(at("2026-04-01T10:00"), c, {"note": "recycle"})
    assert c.get("lifecyclestage") == "lead" and rules(p) == ["S19"]  # moved, by an undocumented clear


# ------------------------------------------------------------------ S20 engagements, S18 filters


def test_a_logged_call_sets_last_contacted_which_comparative_date_filters_read():
    check = {"actionId": "2", "type": "LIST_BRANCH", "defaultBranchName": "late",
             "listBranches": [{"branchName": "on time", "filterBranch": tree(prop(
                 "notes_last_contacted", "COMPARATIVE_DATE", "IS_AFTER", comparisonPropertyName="entered_at"))}],
             "defaultBranch": {"edgeType": "STANDARD", "nextActionId": "3"}}
    body = flow("r", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))), [
        single("1", "0-1", {"delta": "60", "time_unit": "MINUTES"}, "2"), check, set_value("3", "note", "late")])
    for call, expected in (("2026-04-01T09:30", None), ("2026-04-01T09:00", "late"), (None, "late")):
        p = portal(body)
        c = p.create_contact(at("2026-04-01T09:00"), {"flag": "true", "entered_at": to_ms(at("2026-04-01T09:00"))})
        if call:
            p.log_engagement(at(call), c, "CALL")
        p.advance(at("2026-04-02T00:00"))
        assert c.get("note") == expected, call  # IS_AFTER is strict: a call at the very entry is not after it
    assert c.get("num_contacted_notes") is None


def test_filters_on_a_property_without_a_value_follow_include_objects_with_no_value():
    for include, expected in ((False, None), (True, "x")):
        body = flow("f", list_based(tree(prop("score", "NUMBER", "IS_LESS_THAN", value=5, with_no_value=include))),
                    [set_value("1", "note", "x")])
        p = portal(body)
        c = p.create_contact(at("2026-04-01T09:00"), {})
        assert c.get("note") == expected


def test_comparing_with_an_empty_property_and_no_default_is_unknown():
    body = flow("f", list_based(tree(prop("due_at", "COMPARATIVE_DATE", "IS_AFTER", comparisonPropertyName="entered_at"))),
                [set_value("1", "note", "x")])
    p = portal(body)
    p.create_contact(at("2026-04-01T09:00"), {"due_at": to_ms(at("2026-04-02T09:00"))})
    assert rules(p) == ["S18"]


# ------------------------------------------------------------------ S23 tasks, notifications, owners


def test_tasks_notifications_and_rotation_reach_the_documented_recipients():
    body = flow("h", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))), [
        single("1", "0-11", {"user_ids": ["u1", "u2"], "target_property": "hubspot_owner_id",
                             "overwrite_current_owner": "true"}, "2"),
        single("2", "0-3", {"task_type": "CALL", "subject": "Call {{ enrolled_object.note }}", "body": "",
                            "owner_assignment": {"type": "CUSTOM", "value": {"type": "OBJECT_PROPERTY",
                                                                             "propertyName": "hubspot_owner_id"}}}, "3"),
        single("3", "0-8", {"subject": "Escalated", "body": "", "team_ids": ["t-managers"]}, "4"),
        single("4", "0-9", {"subject": "New lead", "body": "", "owner_properties": ["hubspot_owner_id"],
                            "user_ids": ["x9"]})])
    p = portal(body)
    first = p.create_contact(at("2026-04-01T09:00"), {"flag": "true", "note": "Aiko"}, contact_id="1")
    second = p.create_contact(at("2026-04-01T10:00"), {"flag": "true", "hubspot_owner_id": "x9"}, contact_id="2")
    assert (first.get("hubspot_owner_id"), second.get("hubspot_owner_id")) == ("u1", "u2")  # round robin
    assert [(t.subject, t.owner, t.task_type) for t in p.tasks] == [("Call Aiko", "u1", "CALL"), ("Call ", "u2", "CALL")]
    email, in_app = p.notifications[:2]
    assert (email.channel, email.users, email.teams) == ("email", frozenset({"m1"}), frozenset({"t-managers"}))
    assert (in_app.channel, in_app.users) == ("in_app", frozenset({"u1", "x9"}))
    assert p.flags == []


def test_rotation_keeps_an_owner_unless_told_to_overwrite():
    body = flow("h", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))), [
        single("1", "0-11", {"user_ids": ["u1"], "target_property": "hubspot_owner_id",
                             "overwrite_current_owner": "false"})])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"flag": "true", "hubspot_owner_id": "x9"})
    assert c.get("hubspot_owner_id") == "x9"


def test_notifications_to_an_unowned_contact_reach_nobody_and_unknown_teams_are_flagged():
    body = flow("h", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))), [
        single("1", "0-8", {"subject": "s", "body": "", "owner_properties": ["hubspot_owner_id"]}, "2"),
        single("2", "0-8", {"subject": "s", "body": "", "team_ids": ["t-nobody"]})])
    p = portal(body)
    p.create_contact(at("2026-04-01T09:00"), {"flag": "true"})
    assert p.notifications[0].users == frozenset()
    assert rules(p) == ["S23"]


def test_template_syntax_in_texts_is_flagged_and_tokens_are_filled_in():
    body = flow("t", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))), [
        single("1", "0-8", {"subject": "Lead {{ enrolled_object.note }} {% if x %}", "body": "",
                            "user_ids": ["u1"]})])
    p = portal(body)
    p.create_contact(at("2026-04-01T09:00"), {"flag": "true", "note": "N"})
    assert p.notifications[0].subject == "Lead N {% if x %}"
    assert rules(p) == ["S25"]


# ------------------------------------------------------------------ S22 custom code

DUE_CODE = '''
from datetime import datetime, timedelta, timezone

def main(event):
    entered = int(event["inputFields"]["entered_at"])
    due = datetime.fromtimestamp(entered / 1000, tz=timezone.utc) + timedelta(hours=2)
    return {"outputFields": {"due": int(due.timestamp() * 1000), "late": "yes" if entered > 0 else "no"}}
'''


def custom_code(source=DUE_CODE, outputs=("due", "late"), **extra):
    return {"actionId": "1", "type": "CUSTOM_CODE", "runtime": "PYTHON39", "sourceCode": source, "secretNames": [],
            "inputFields": [{"name": "entered_at", "value": {"type": "OBJECT_PROPERTY", "propertyName": "entered_at"}}],
            "outputFields": [{"name": n, "type": "ENUMERATION", "options": []} for n in outputs],
            "connection": {"edgeType": "STANDARD", "nextActionId": "2"}, **extra}


def test_custom_code_output_feeds_set_property_and_static_branches():
    static = {"actionId": "3", "type": "STATIC_BRANCH", "inputValue": {"type": "FIELD_DATA", "actionId": "1",
                                                                         "dataKey": "late"},
              "staticBranches": [{"branchValue": "yes", "connection": {"edgeType": "STANDARD", "nextActionId": "4"}}]}
    body = flow("c", list_based(tree(prop("entered_at", "ALL_PROPERTY", "IS_KNOWN"))), [
        custom_code(),
        single("2", "0-5", {"property_name": "due_at", "value": {"type": "FIELD_DATA", "actionId": "1",
                                                                  "dataKey": "due"}}, "3"),
        static, set_value("4", "note", "late")])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"entered_at": to_ms(at("2026-04-01T09:00"))})
    assert c.get("due_at") == to_ms(at("2026-04-01T11:00")) and c.get("note") == "late"
    assert p.flags == []


@pytest.mark.parametrize("source, outputs, expected", [
    ("import socket\ndef main(event):\n    return {'outputFields': {}}\n", (), "not available"),
    ("def main(event):\n    match event:\n        case _: return {'outputFields': {}}\n", (), "not Python 3.9"),
    ("def main(event):\n    return {'outputFields': {'x': 1 / 0}}\n", ("x",), "ZeroDivisionError"),
    ("def main(event):\n    return {'outputFields': {'y': 1}}\n", ("x",), "not declared"),
    ("def main(event):\n    return ().__class__.__bases__\n", (), "refuses"),
    ("def main(event):\n    return open('/etc/passwd').read()\n", (), "NameError"),
])
def test_custom_code_that_cannot_run_as_hubspot_runs_it_is_flagged(source, outputs, expected):
    body = flow("c", list_based(tree(prop("entered_at", "ALL_PROPERTY", "IS_KNOWN"))),
                [custom_code(source, outputs), set_value("2", "note", "after")])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"entered_at": "0"})
    assert rules(p) == ["S22"] and expected in p.flags[0].message
    assert c.get("note") == "after"


def test_custom_code_receives_input_fields_as_strings():
    result = run_python_custom_code("def main(event):\n    return {'outputFields': {'t': isinstance(event['inputFields']"
                                    "['n'], str)}}\n", {"inputFields": {"n": "5"}})
    assert result == {"outputFields": {"t": True}}
    with pytest.raises(UnknownSemantics):
        run_python_custom_code("x = 1\n", {"inputFields": {}})


# ------------------------------------------------------------------ S8 concurrent workflows, S15 waits, S10 unknown actions


def test_two_workflows_setting_one_property_differently_at_one_moment_is_unknown():
    one = flow("one", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))), [set_value("1", "note", "a")])
    two = flow("two", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))), [set_value("1", "note", "b")])
    p = portal(one, two)
    p.create_contact(at("2026-04-01T09:00"), {"flag": "true"})
    assert rules(p) == ["S8"]


def test_a_workflow_change_enrols_the_contact_in_another_workflow_at_the_same_moment():
    first = flow("first", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))),
                 [set_value("1", "stage", "b")])
    second = flow("second", list_based(tree(prop("stage", "ENUMERATION", "IS_ANY_OF", values=["b"]))),
                  [set_value("1", "note", "seen b")])
    p = portal(first, second)
    c = p.create_contact(at("2026-04-01T09:00"), {"flag": "true"})
    assert c.get("note") == "seen b" and c.history_of("note")[0].moment.at == at("2026-04-01T09:00")


def test_wait_for_an_event_goes_on_when_it_happens_or_when_it_expires():
    body = flow("wait", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))), [
        single("1", "0-29", {"event_filter_branches": [changed("intent", "yes")], "expiration_minutes": "120"}, "2"),
        set_value("2", "note", "went on")])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"flag": "true"})
    p.update(at("2026-04-01T09:30"), c, {"intent": "yes"})
    assert c.history_of("note")[0].moment.at == at("2026-04-01T09:30")
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"flag": "true"})
    p.advance(at("2026-04-02T00:00"))
    assert c.history_of("note")[0].moment.at == at("2026-04-01T11:00")


def test_unknown_action_types_and_fields_are_flagged_when_reached():
    body = flow("u", list_based(tree(prop("flag", "BOOL", "IS_EQUAL_TO", value=True))), [
        single("1", "0-4", {"content_id": "1"}, "2"),
        single("2", "0-5", {"property_name": "note", "value": {"type": "STATIC_VALUE", "staticValue": "x"},
                            "mystery": "1"})])
    p = portal(body)
    c = p.create_contact(at("2026-04-01T09:00"), {"flag": "true"})
    assert rules(p) == ["S10"] and len(p.flags) == 2 and c.get("note") == "x"
    workflow = Workflow(body, "u.json")
    assert not workflow.problems  # the flow itself is fine; its actions are what is unknown


# ------------------------------------------------------------------ S26 custom code and the CRM API

API_CODE = '''
import json
import os
import urllib.request

def main(event):
    body = json.dumps({"properties": {"due_at": str(int(event["inputFields"]["entered_at"]) + 7200000)}})
    request = urllib.request.Request(
        "https://api.hubapi.com/crm/v3/objects/contacts/%s" % event["object"]["objectId"],
        data=body.encode("utf-8"), method="PATCH",
        headers={"Authorization": "Bearer " + os.environ["TOKEN"], "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            response.read()
    except Exception as exc:
        print("not written: %r" % (exc,))
        return {"outputFields": {"result": "failed"}}
    return {"outputFields": {"result": "written"}}
'''


def api_flow(source=API_CODE, secrets=("TOKEN",)):
    code = custom_code(source, ("result",), secretNames=list(secrets))
    return flow("api", list_based(tree(prop("entered_at", "ALL_PROPERTY", "IS_KNOWN"))), [
        code,
        single("2", "0-35", {"date": {"type": "OBJECT_PROPERTY", "propertyName": "due_at"}, "delta": "0",
                             "time_unit": "MINUTES"}, "3"),
        set_value("3", "note", "due")])


def test_custom_code_writes_through_the_crm_api_with_its_secret():
    """[S22][S26] the generated code stores moments with PATCH /crm/v3/objects/contacts/{id}; the
    next action (a delay until that property) sees them."""
    p = portal(api_flow())
    c = p.create_contact(at("2026-04-01T09:00"), {"entered_at": to_ms(at("2026-04-01T09:00"))})
    p.advance(at("2026-04-02T00:00"))
    assert c.get("due_at") == to_ms(at("2026-04-01T11:00"))
    assert c.history_of("note")[0].moment.at == at("2026-04-01T11:00")
    assert c.history_of("due_at")[0].source == "WORKFLOW:workflows/api.json#1"
    assert p.flags == [] and p.code_logs == []


def test_a_request_without_the_secret_is_refused_like_hubspot_refuses_it():
    p = portal(api_flow(API_CODE.replace('os.environ["TOKEN"]', '"guess"')))
    c = p.create_contact(at("2026-04-01T09:00"), {"entered_at": to_ms(at("2026-04-01T09:00"))})
    assert c.get("due_at") is None
    assert [line for *_, line in p.code_logs] == [("not written: HTTPError('HTTP Error 401: "
                                                  '{"status": "error", "category": "INVALID_AUTHENTICATION"}\')')]
    assert rules(p) == ["S14"]  # and the delay until the empty property is what HubSpot leaves undocumented


def test_other_network_use_is_flagged_even_when_the_code_catches_it():
    p = portal(api_flow(API_CODE.replace("https://api.hubapi.com/crm/v3/objects/contacts/%s",
                                         "https://hooks.example.com/%s")))
    p.create_contact(at("2026-04-01T09:00"), {"entered_at": to_ms(at("2026-04-01T09:00"))})
    assert "S26" in rules(p)


def test_the_crm_api_rejects_values_a_property_cannot_hold():
    p = portal(api_flow(API_CODE.replace('str(int(event["inputFields"]["entered_at"]) + 7200000)', '"soon"')))
    c = p.create_contact(at("2026-04-01T09:00"), {"entered_at": to_ms(at("2026-04-01T09:00"))})
    assert c.get("due_at") is None and "VALIDATION_ERROR" in p.code_logs[0][3]


def test_a_flow_on_a_property_the_portal_does_not_have_is_flagged():
    body = flow("typo", list_based(tree(prop("scroe", "NUMBER", "IS_GREATER_THAN", value=5))),
                [set_value("1", "nots", "x")])
    p = portal(body)
    p.create_contact(at("2026-04-01T09:00"), {"score": "10"})
    # never enrolled, and still a problem: HubSpot would not create the workflow
    assert p.flags == [] and p.portal_problems == {
        "workflows/typo.json": [("S3", "reads or writes properties this portal does not have: nots, scroe")]}
