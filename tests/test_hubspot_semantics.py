"""What the generated HubSpot workflows do, replayed lead by lead against the agreement.

- The custom code that computes due moments, run as generated, against `businesstime.py` on
  many instants (holidays, Golden Week, the year boundary, a lunch break, time zones with and
  without clock changes).
- Deadline workflows replayed by hand (tests/flowkit.py) on the examples of issue 16, with and
  without custom code: when a breach is flagged, and never "met" for a late lead.
- Re-qualification after recycling, owners and escalation recipients from the portal mapping,
  the calendar's time zone, text that HubL would evaluate, and the documented edge types.
"""

from __future__ import annotations

import ast
import json
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sla_lang.businesstime import BusinessCalendar
from sla_lang.compile import compile_text
from sla_lang.config import HubSpotSettings, TeamMapping
from sla_lang.targets import BuildOptions
from sla_lang.targets.hubspot import build, customcode
from sla_lang.targets.hubspot.timing import CalendarSpans, calendar_years, days_off

from .flowkit import Lead, enters, flags, holds, ms, replay
from .hubspot_spec import AUTOMATION_V4, PROPERTIES_V3, spec_errors

TOKYO = ZoneInfo("Asia/Tokyo")

HEAD = '''agreement "Semantics" {{
  version "1"
  effective 2026-01-01
  owner ops
  calendar office
}}
party marketing "Marketing" {{
  role marketing
}}
party sales "Sales" {{
  role sales
}}
team managers "Sales managers" {{
  role management
  part of sales
}}
team ops "Operations" {{
  role operations
}}
calendar office "Office" {{
  timezone "{zone}"
  days mon, tue, wed, thu, fri
  hours {hours}
  holidays {country}
}}
property intent "Intent" enum ["yes", "not_now"]
property reason "Reason" enum ["timing"]
event pricing_view "Viewed pricing" hubspot pricing_views
score lead_score "Lead score" {{
  hubspot hubspotscore
  group fit "Fit" max 200 {{
    +110 "Viewed pricing" when pricing_view
    +10 "Intent" when intent == "yes"
  }}
}}
stage lead "Lead" {{
  owner marketing
  entry
  hubspot lead
  -> mql when lead_score >= 100
}}
stage mql "MQL" {{
  owner sales
  hubspot marketingqualifiedlead
  handoff from marketing {{
    notify email, task
  }}
{mql}
  -> sql when intent == "yes"
  -> nurture when intent == "not_now" record reason
}}
stage sql "SQL" {{
  owner sales
  hubspot salesqualifiedlead
  terminal
}}
stage nurture "Nurture" {{
  owner marketing
  recycle
  hubspot lead
  -> mql when lead_score >= 100
}}
'''


def policy(mql: str, *, zone: str = "Asia/Tokyo", hours: str = "09:00 to 18:00", country: str = "JP"):
    result = compile_text(HEAD.format(mql=mql, zone=zone, hours=hours, country=country))
    assert result.ok, [f"{d.code} {d.message}" for d in result.errors]
    return result.policy


def hubspot(policy_ir, **settings) -> dict[str, object]:
    result = build(policy_ir, BuildOptions(hubspot=HubSpotSettings(**settings)))
    assert not result.failed, [d.message for d in result.diagnostics if d.code == "SLA820"]
    return {name: json.loads(data) for name, data in result.files.items()}


def tokyo(*args) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


# ------------------------------------------------------------------ the generated custom code


def code_namespace(calendar, policy_ir, moments):
    business = BusinessCalendar(calendar)
    first, last = calendar_years(policy_ir, calendar)
    years = (first, last + 1)  # as the generator does: the year after the listed ones, for deadlines ending there
    data = customcode.calendar_data(calendar.id, calendar.timezone.value, business.weekdays, business.periods,
                                    days_off(business, years), years)
    source = customcode.source(data, moments, about="test")
    ast.parse(source, feature_version=(3, 9))  # HubSpot's Python runtime is 3.9
    namespace: dict = {}
    exec(compile(source, "<custom code>", "exec"), namespace)  # noqa: S102 - the code under test
    return namespace, business


@pytest.mark.parametrize(("zone", "country", "hours"), [
    ("Asia/Tokyo", "JP", "09:00 to 12:00, 13:00 to 18:00"),   # no clock changes; Golden Week, New Year
    ("America/New_York", "US", "08:30 to 17:00"),            # clock changes in March and November
    ("Europe/London", "GB", "00:30 to 02:30, 09:00 to 17:30"),  # working time across the 01:00 clock change
    ("Australia/Lord_Howe", "AU", "09:00 to 17:00"),         # a 30-minute clock change
])
def test_generated_code_counts_working_minutes_like_businesstime(zone, country, hours):
    policy_ir = policy("  decide within 5bd", zone=zone, hours=hours, country=country)
    calendar = policy_ir.calendars[0]
    minutes = [1, 59, 60, 61, 240, 539, 540, 2700, 4800]
    namespace, business = code_namespace(calendar, policy_ir, [(f"p{m}", "working", m) for m in minutes])
    rnd = random.Random(zone)
    starts = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rnd.randrange(0, 2 * 365 * 1440)) for _ in range(700)]
    local = ZoneInfo(zone)
    starts += [datetime(2026, 4, 28, 17, 59, tzinfo=local), datetime(2026, 4, 30, 19, 0, tzinfo=local),
               datetime(2026, 5, 1, 17, 30, tzinfo=local), datetime(2026, 12, 30, 12, 0, tzinfo=local),
               datetime(2026, 12, 31, 23, 59, tzinfo=local), datetime(2027, 1, 4, 8, 59, 30, tzinfo=local),
               datetime(2026, 3, 8, 1, 0, tzinfo=local), datetime(2026, 3, 29, 0, 45, tzinfo=local),
               datetime(2026, 10, 25, 0, 59, tzinfo=local), datetime(2026, 11, 1, 1, 30, tzinfo=local)]
    for start in starts:
        got = namespace["due_moments"](ms(start))
        for m in minutes:
            expected = business.add_working_minutes(start, m)
            assert got[f"p{m}"] == ms(expected), (zone, start.isoformat(), m, expected.isoformat())


def test_generated_code_knows_golden_week_and_refuses_years_it_does_not_know():
    policy_ir = policy("  decide within 5bd")
    namespace, _ = code_namespace(policy_ir.calendars[0], policy_ir, [("due", "working", 5 * 540)])
    entered = tokyo(2026, 4, 30, 10, 0)  # Thursday before Golden Week (4/29, 5/3–5/6 are holidays)
    assert namespace["due_moments"](ms(entered)) == {"due": ms(tokyo(2026, 5, 12, 10, 0))}
    with pytest.raises(ValueError, match="rebuild the workflows"):
        namespace["due_moments"](ms(tokyo(2029, 3, 1, 10, 0)))  # holidays known for 2026–2028 only


def test_generated_main_writes_the_moments_and_reports_failures_for_the_branch():
    policy_ir = policy("  respond within 2bh")
    namespace, _ = code_namespace(policy_ir.calendars[0], policy_ir, [("due", "working", 120), ("late", "clock", 30)])
    written = {}
    namespace["write_properties"] = lambda object_id, values: written.update({object_id: values})
    entered = tokyo(2026, 6, 1, 17, 30)  # Monday 17:30: 2bh end Tuesday 10:30
    now = str(ms(entered) + 60000)  # the action runs a minute after the lead entered
    for value in (str(ms(entered)), entered.astimezone(UTC).isoformat().replace("+00:00", "Z")):
        assert namespace["main"]({"inputFields": {"entered_at": value, "now": now}, "object": {"objectId": 42}}) == {
            "outputFields": {"result": "written"}}
        assert written[42] == {"due": ms(tokyo(2026, 6, 2, 10, 30)), "late": ms(entered) + 30 * 60000}
    # put into the stage by an import or by hand: the stage entry is stamped with the moment the action runs
    assert namespace["main"]({"inputFields": {"entered_at": "", "now": str(ms(entered))}, "object": {"objectId": 7}}) == {
        "outputFields": {"result": "written"}}
    assert written[7] == {"sla_stage_entered_at": ms(entered), "due": ms(tokyo(2026, 6, 2, 10, 30)),
                          "late": ms(entered) + 30 * 60000}
    # every moment already behind the action (a queue held it back): "passed", so the flow checks at once
    late_run = str(ms(tokyo(2026, 6, 3, 9, 0)))
    assert namespace["main"]({"inputFields": {"entered_at": str(ms(entered)), "now": late_run},
                              "object": {"objectId": 42}}) == {"outputFields": {"result": "passed"}}

    def refuse(object_id, values):
        raise OSError("401 Unauthorized")

    namespace["write_properties"] = refuse
    assert namespace["main"]({"inputFields": {"entered_at": str(ms(entered)), "now": now},
                              "object": {"objectId": 1}}) == {"outputFields": {"result": "failed"}}
    assert namespace["main"]({"inputFields": {}, "object": {"objectId": 1}})["outputFields"]["result"] == "failed"


def test_write_properties_patches_the_contact_with_the_secret_token(monkeypatch):
    policy_ir = policy("  respond within 2bh")
    namespace, _ = code_namespace(policy_ir.calendars[0], policy_ir, [("sla_due_at", "working", 120)])
    sent = {}

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b"{}"

    def urlopen(request, timeout):
        sent.update(url=request.full_url, method=request.get_method(), body=json.loads(request.data),
                    auth=request.get_header("Authorization"), timeout=timeout)
        return Response()

    monkeypatch.setenv(customcode.SECRET, "pat-123")
    monkeypatch.setattr(namespace["urllib"].request, "urlopen", urlopen)
    namespace["write_properties"](77, {"sla_due_at": 1780000000000})
    assert sent == {"url": "https://api.hubapi.com/crm/v3/objects/contacts/77", "method": "PATCH",
                    "body": {"properties": {"sla_due_at": "1780000000000"}}, "auth": "Bearer pat-123", "timeout": 15}


# ------------------------------------------------------------------ deadlines, replayed


def respond_flow(files, stage="mql"):
    return files[f"workflows/{stage}.respond.json"]


@pytest.mark.parametrize("custom_code", [True, False])
def test_monday_0900_mql_called_at_1500_against_2bh_is_breached_at_1100(custom_code):
    files = hubspot(policy("  respond within 2bh"), custom_code=custom_code)
    lead = Lead()
    start = enters(lead, "mql", tokyo(2026, 6, 1, 9, 0))  # Monday
    lead.contacts.append(ms(tokyo(2026, 6, 1, 15, 0)))
    steps = replay(respond_flow(files), lead, start)
    assert flags(steps) == {"sla_mql_respond_breached": tokyo(2026, 6, 1, 11, 0)}


@pytest.mark.parametrize("custom_code", [True, False])
def test_a_call_in_time_or_at_the_very_minute_meets_the_deadline(custom_code):
    files = hubspot(policy("  respond within 2bh"), custom_code=custom_code)
    for call in (tokyo(2026, 6, 1, 10, 0), tokyo(2026, 6, 1, 11, 0)):
        lead = Lead()
        start = enters(lead, "mql", tokyo(2026, 6, 1, 9, 0))
        lead.contacts.append(ms(call))
        assert flags(replay(respond_flow(files), lead, start)) == {}


def test_thursday_1900_lead_called_on_monday_is_breached_friday_1900():
    files = hubspot(policy("  respond within 24h"))
    lead = Lead()
    start = enters(lead, "mql", tokyo(2026, 4, 30, 19, 0))
    lead.contacts.append(ms(tokyo(2026, 5, 4, 10, 0)))
    steps = replay(respond_flow(files), lead, start)
    assert flags(steps) == {"sla_mql_respond_breached": tokyo(2026, 5, 1, 19, 0)}
    assert files["workflows/mql.respond.json"]["timeWindows"] == []  # flagged when due, not at the next opening


def test_a_call_after_the_due_moment_is_late_even_when_the_check_runs_late():
    """HubSpot may run the check after the due moment; a contact in between must not count."""
    files = hubspot(policy("  respond within 2bh"))
    lead = Lead()
    start = enters(lead, "mql", tokyo(2026, 6, 1, 9, 0))
    lead.contacts.append(ms(tokyo(2026, 6, 1, 11, 0, 30)))  # 30 s after the due moment
    flow = respond_flow(files)
    delays = [a for a in flow["actions"] if a.get("actionTypeId") == "0-35"]
    (wait,) = delays
    lead.set(wait["fields"]["date"]["propertyName"], ms(tokyo(2026, 6, 1, 11, 0)), start)
    steps = replay(flow, lead, start)
    # the code wrote 11:00; replay the branch as HubSpot would run it one minute late
    late = Lead(values=lead.values, contacts=lead.contacts)
    branch = next(a for a in flow["actions"] if a["type"] == "LIST_BRANCH")
    first = next(b for b in branch["listBranches"] if holds(b["filterBranch"], late, ms(tokyo(2026, 6, 1, 11, 1))))
    assert first["branchName"] == "Contacted only after the moment"  # → the breach path
    assert "sla_mql_respond_breached" in flags(steps)


@pytest.mark.parametrize("leaves", [None, datetime(2026, 5, 11, 17, 0, tzinfo=TOKYO)])
def test_golden_week_decide_within_5bd_is_not_flagged_before_it_is_due(leaves):
    files = hubspot(policy("  decide within 5bd"))
    lead = Lead()
    start = enters(lead, "mql", tokyo(2026, 4, 30, 10, 0))
    if leaves is not None:
        lead.set("sla_stage", "sql", ms(leaves))
    steps = replay(files["workflows/mql.decide.json"], lead, start)
    assert flags(steps) == ({"sla_mql_decide_breached": tokyo(2026, 5, 12, 10, 0)} if leaves is None else {})


def test_without_custom_code_golden_week_is_checked_early_within_the_manifest_bound():
    files = hubspot(policy("  decide within 5bd"), custom_code=False)
    lead = Lead()
    start = enters(lead, "mql", tokyo(2026, 4, 30, 10, 0))
    steps = replay(files["workflows/mql.decide.json"], lead, start)
    flagged = flags(steps)["sla_mql_decide_breached"]
    due = tokyo(2026, 5, 12, 10, 0)
    (timer,) = [t for t in files["manifest.json"]["timers"] if t["clause"] == "mql.decide"]
    offset = timer["conservative"]["offsetMinutes"]
    assert flagged <= due  # never after the deadline: never "met" for a late lead
    assert offset["earliest"] * 60 <= (flagged - due).total_seconds() <= offset["latest"] * 60
    assert timer["timing"] == "wall-clock" and timer["conservative"]["holidaysKnownUntil"] == "2028-01-01"


def test_conservative_bounds_are_the_exact_extremes_over_the_covered_years():
    policy_ir = policy("  decide within 5bd")
    calendar = policy_ir.calendars[0]
    business = BusinessCalendar(calendar)
    spans = CalendarSpans(business, calendar_years(policy_ir, calendar))
    shortest, longest = spans.span_range(4 * 540)
    lengths = []
    start = datetime(2026, 1, 1, tzinfo=TOKYO)
    while start < datetime(2028, 1, 1, tzinfo=TOKYO):  # every 10 minutes of two years
        lengths.append((business.add_working_minutes(start, 4 * 540) - start).total_seconds() // 60)
        start += timedelta(minutes=10)
    assert (min(lengths), max(lengths)) == (shortest, longest)


def test_escalation_on_a_breached_deadline_fires_even_after_a_late_call():
    files = hubspot(policy("  respond within 2bh\n  escalate to managers after 4bh on respond via email"),
                    teams=(("managers", TeamMapping("4021", ("101",))),))
    lead = Lead()
    start = enters(lead, "mql", tokyo(2026, 6, 1, 9, 0))
    lead.contacts.append(ms(tokyo(2026, 6, 1, 12, 0)))  # after 2bh, before 4bh
    steps = replay(respond_flow(files), lead, start)
    assert flags(steps) == {"sla_mql_respond_breached": tokyo(2026, 6, 1, 11, 0),
                            "sla_mql_respond_escalated": tokyo(2026, 6, 1, 13, 0)}
    (mail,) = [s.action["fields"] for s in steps if s.what == "0-8" and "team_ids" in s.action["fields"]]
    assert mail["team_ids"] == ["4021"] and "Sales managers" in mail["subject"]


def test_a_wall_clock_escalation_of_a_business_deadline_gets_its_own_workflow():
    """`4bh` can end before or after `24h` (Friday 17:00 + 4bh is Monday 12:00): no single
    sequence of waits fits every start, so the escalation waits in a workflow of its own and
    reads the deadline's verdict from the breach flag."""
    files = hubspot(policy("  respond within 4bh\n  escalate to managers after 24h on respond via email"),
                    teams=(("managers", TeamMapping("4021", ())),))
    assert {"workflows/mql.respond.json", "workflows/mql.respond.clock.json"} <= set(files)
    for entered, call, escalated in [
        (tokyo(2026, 6, 5, 17, 0), None, tokyo(2026, 6, 6, 17, 0)),  # Friday: escalation before the due moment
        (tokyo(2026, 6, 5, 17, 0), tokyo(2026, 6, 5, 17, 30), None),  # called in time
        (tokyo(2026, 6, 2, 9, 0), tokyo(2026, 6, 2, 14, 0), tokyo(2026, 6, 3, 9, 0)),  # called late, still escalated
    ]:
        lead = Lead()
        start = enters(lead, "mql", entered)
        if call:
            lead.contacts.append(ms(call))
        due = replay(files["workflows/mql.respond.json"], lead, start)
        escalation = replay(files["workflows/mql.respond.clock.json"], lead, start)
        assert flags(escalation).get("sla_mql_respond_escalated") == escalated, (entered, call)
        assert ("sla_mql_respond_breached" in flags(due)) == (call is None or call > entered + timedelta(hours=4)
                                                               and entered.weekday() != 4)


def test_if_the_custom_code_fails_the_conservative_waits_apply():
    files = hubspot(policy("  respond within 2bh"))
    lead = Lead()
    start = enters(lead, "mql", tokyo(2026, 6, 5, 17, 0))  # Friday 17:00: due Monday 10:00
    steps = replay(respond_flow(files), lead, start, code_fails=True)
    flagged = flags(steps)["sla_mql_respond_breached"]
    assert flagged <= tokyo(2026, 6, 8, 10, 0)
    assert flagged == tokyo(2026, 6, 5, 19, 0)  # after the shortest length, 2 hours


# ------------------------------------------------------------------ re-qualification after recycling


def test_a_lead_recycled_at_score_105_is_not_re_enrolled_until_the_condition_becomes_true_again():
    files = hubspot(policy("  respond within 2bh"))
    requalify = files["workflows/nurture.to.mql.json"]["enrollmentCriteria"]["listFilterBranch"]
    arm = files["workflows/nurture.to.mql.arm.json"]
    recycle = files["workflows/mql.to.nurture.json"]
    lead = Lead()
    t0 = ms(tokyo(2026, 6, 1, 9, 0))
    lead.set("hubspotscore", 105, t0)
    lead.set("sla_nurture_to_mql_armed", "true", t0)  # armed on an earlier visit
    lead.set("intent", "not_now", t0)
    lead.set("reason", "timing", t0)
    enters(lead, "mql", tokyo(2026, 6, 1, 9, 0))
    # the recycle workflow disarms before it moves the lead
    replay(recycle, lead, ms(tokyo(2026, 6, 2, 10, 0)))
    moved = ms(tokyo(2026, 6, 2, 10, 0))
    assert lead.get("sla_stage", moved) == "nurture"
    assert not holds(requalify, lead, moved)  # score 105, but the condition has not become true again
    assert not holds(arm["enrollmentCriteria"]["listFilterBranch"], lead, moved)
    dropped = ms(tokyo(2026, 6, 10, 10, 0))
    lead.set("hubspotscore", 80, dropped)
    assert holds(arm["enrollmentCriteria"]["listFilterBranch"], lead, dropped)  # false now: arm it
    replay(arm, lead, dropped)
    assert not holds(requalify, lead, dropped)
    rose = ms(tokyo(2026, 6, 20, 10, 0))
    lead.set("hubspotscore", 100, rose)
    assert holds(requalify, lead, rose)  # true again: re-qualifies
    assert files["workflows/nurture.to.mql.json"]["enrollmentCriteria"]["reEnrollmentTriggersFilterBranches"]


def test_recycling_records_origin_and_keeps_the_owner_for_the_portal_mapping():
    files = hubspot(policy("  respond within 2bh"), teams=(("marketing", TeamMapping(None, ("201", "202"))),))
    recycle = files["workflows/mql.to.nurture.json"]
    props = [a["fields"].get("property_name") for a in recycle["actions"] if a.get("actionTypeId") == "0-5"]
    assert props.index("sla_nurture_to_mql_armed") < props.index("sla_stage")  # disarmed before the move
    assert props.index("sla_stage_entered_at") < props.index("sla_stage")  # start time first: deadlines read it
    assert "hubspot_owner_id" not in props  # never cleared: the lead is rotated to marketing instead
    (rotate,) = [a["fields"] for a in recycle["actions"] if a.get("actionTypeId") == "0-11"]
    assert rotate == {"user_ids": ["201", "202"], "target_property": "hubspot_owner_id",
                      "overwrite_current_owner": "true"}


# ------------------------------------------------------------------ owners and recipients


def test_a_hand_off_rotates_the_lead_to_the_receiving_team_unless_it_already_owns_it():
    files = hubspot(policy("  respond within 2bh"), teams=(("sales", TeamMapping("31", ("101", "102"))),))
    flow = files["workflows/lead.to.mql.json"]
    types = [a.get("actionTypeId", a["type"]) for a in flow["actions"]]
    assert types.index("0-11") < types.index("0-8") and types.index("0-11") < types.index("0-3")
    check = next(a for a in flow["actions"] if a["type"] == "LIST_BRANCH")
    (owner_filter,) = check["listBranches"][0]["filterBranch"]["filterBranches"][0]["filters"]
    assert owner_filter["property"] == "hubspot_owner_id" and owner_filter["operation"]["values"] == ["101", "102"]
    # the hand-off then reaches the new owner
    (mail,) = [a["fields"] for a in flow["actions"] if a.get("actionTypeId") == "0-8"]
    assert mail["owner_properties"] == ["hubspot_owner_id"]


def test_without_a_mapping_the_build_says_which_clauses_are_not_enforced():
    policy_ir = policy("  respond within 2bh\n  escalate to managers after 4bh on respond via email, task")
    result = build(policy_ir, BuildOptions())
    messages = [d.message for d in result.diagnostics if d.code == "SLA822"]
    assert any("escalation `mql.escalate.respond` for team `managers` is not sent" in m for m in messages)
    assert any("leads entering `mql` are not given an owner of team `sales`" in m for m in messages)
    files = {name: json.loads(data) for name, data in result.files.items()}
    steps = {(s["code"], c) for s in files["manifest.json"]["manualSteps"] for c in s["clauses"]}
    assert ("SLA822", "mql.escalate.respond") in steps and ("SLA822", "mql.handoff") not in steps
    respond = files["workflows/mql.respond.json"]
    # nothing is sent to the contact owner (who missed the deadline) in the team's place
    assert not any("Escalated" in a["fields"].get("subject", "") for a in respond["actions"]
                   if a["type"] == "SINGLE_CONNECTION")


def test_escalation_task_goes_to_a_user_of_the_escalation_team():
    files = hubspot(policy("  respond within 2bh\n  escalate to managers after 4bh on respond via task"),
                    teams=(("managers", TeamMapping(None, ("555", "556"))),))
    tasks = [a["fields"] for a in files["workflows/mql.respond.json"]["actions"] if a.get("actionTypeId") == "0-3"]
    assert len(tasks) == 2  # on the custom code path and on the conservative one
    assert all(t["owner_assignment"]["value"] == {"type": "STATIC_VALUE", "staticValue": "555"} for t in tasks)


def test_a_mapping_for_an_unknown_team_is_reported():
    result = build(policy("  respond within 2bh"),
                   BuildOptions(hubspot=HubSpotSettings(teams=(("salse", TeamMapping("1", ())),))))
    assert [d.code for d in result.diagnostics if d.code == "SLA839"] == ["SLA839"]


# ------------------------------------------------------------------ time zone


def test_task_due_dates_carry_the_calendar_zone_and_the_manifest_records_it():
    files = hubspot(policy("  respond within 2bh", zone="America/New_York", country="US"), timezone="Asia/Tokyo")
    (task,) = [a["fields"] for a in files["workflows/lead.to.mql.json"]["actions"] if a.get("actionTypeId") == "0-3"]
    assert task["due_time"]["timeZoneStrategy"] == {"type": "STATIC_TIME_ZONE", "timeZoneId": "America/New_York"}
    manifest = files["manifest.json"]
    assert manifest["calendars"] == [{"id": "office", "timezone": "America/New_York", "holidaysKnownUntil": "2028-01-01",
                                      "windowsTimezone": None}]
    assert manifest["portal"]["timezone"] == "Asia/Tokyo"
    # with custom code no workflow has execution windows: the portal's zone changes nothing
    assert manifest["timeZones"] == [] and "SLA837" not in {s["code"] for s in manifest["manualSteps"]}


# ------------------------------------------------------------------ text safety


def test_policy_text_cannot_become_hubl():
    text = HEAD.format(mql="  respond within 2bh", zone="Asia/Tokyo", hours="09:00 to 18:00", country="JP")
    text = text.replace('stage mql "MQL"', 'stage mql "MQL {{ contact.email }} {% if x %}"')
    text = text.replace('party sales "Sales"', 'party sales "Sales {# note #}"')
    result = compile_text(text)
    assert result.ok
    assert {d.code for d in result.diagnostics} >= {"SLA836"}
    files = {n: json.loads(d) for n, d in build(result.policy, BuildOptions()).files.items()}
    trusted = {"{{ enrolled_object.firstname }}", "{{ enrolled_object.lastname }}"}

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    for name, data in files.items():
        if not name.startswith(("workflows/", "properties/")):
            continue
        for s in strings(data):
            if "sla-lang: due moments" in s:
                continue  # generated Python
            rest = s
            for token in trusted:
                rest = rest.replace(token, "")
            rest = "".join(part for part in rest.split("{{ enrolled_object.") if True)
            assert not any(d in rest for d in ("{{", "{%", "{#", "%}", "#}")), (name, s)
    subjects = [a["fields"]["subject"] for a in files["workflows/lead.to.mql.json"]["actions"]
                if a.get("actionTypeId") == "0-8"]
    assert subjects and "MQL { { contact.email } } { % if x % }" in subjects[0]


# ------------------------------------------------------------------ documented mechanisms, HubSpot's spec


def configured_variants():
    teams = (("managers", TeamMapping("4021", ("101",))), ("sales", TeamMapping("31", ("7", "8"))),
             ("marketing", TeamMapping(None, ("9",))))
    mql = "  respond within 4bh target 2bh\n  decide within 5bd\n  follow up 3 times at 0d, 3d, 5bd via call\n" \
          "  escalate to managers after 24h on respond via email, in_app, task\n" \
          "  escalate to managers after 5bd on decide via email"
    for custom_code in (True, False):
        yield hubspot(policy(mql), custom_code=custom_code, teams=teams, timezone="Asia/Tokyo")


def test_every_generated_body_is_accepted_by_hubspots_spec_and_our_schemas():
    from sla_lang.targets.hubspot.validate import check_files

    for files in configured_variants():
        assert check_files(files, schemas=True) == []
        for name, body in files.items():
            if name.startswith("workflows/"):
                assert spec_errors(AUTOMATION_V4, "ApiFlowCreateRequest", body) == [], name
            elif name.startswith("properties/") and name != "properties/_group.json":
                assert spec_errors(PROPERTIES_V3, "PropertyCreate", body) == [], name


def test_joins_are_goto_edges_and_no_action_has_two_standard_edges_into_it():
    for files in configured_variants():
        joins = 0
        for name, flow in files.items():
            if not name.startswith("workflows/"):
                continue
            assert "nextAvailableActionId" not in flow
            into: dict[str, int] = {}
            for action in flow["actions"]:
                edges = [action.get("connection"), action.get("defaultBranch")]
                edges += [b.get("connection") for b in action.get("listBranches", []) + action.get("staticBranches", [])]
                for edge in filter(None, edges):
                    if edge["edgeType"] == "STANDARD":
                        into[edge["nextActionId"]] = into.get(edge["nextActionId"], 0) + 1
                    else:
                        joins += 1
            assert max(into.values(), default=0) <= 1, name
        assert joins > 0


def empty_values(files):
    return {(name, a["fields"]["property_name"]) for name, flow in files.items() if name.startswith("workflows/")
            for a in flow["actions"] if a.get("actionTypeId") == "0-5"
            and a["fields"]["value"] == {"type": "STATIC_VALUE", "staticValue": ""}}


def test_the_lifecycle_stage_is_cleared_through_the_api_and_nothing_else_is_cleared():
    """Only the lifecycle stage is cleared (before it moves back); the lead's data stays as people
    entered it. With custom code the clearing is a CRM API update with an empty value (HubSpot's
    documented way); without, an empty value in the workflow and a manual step (SLA840)."""
    files = hubspot(policy("  respond within 2bh"))
    assert empty_values(files) == set()
    recycle = files["workflows/mql.to.nurture.json"]
    kinds = [a.get("actionTypeId", a["type"]) for a in recycle["actions"]]
    code = recycle["actions"][kinds.index("CUSTOM_CODE")]
    assert kinds.index("CUSTOM_CODE") < [a.get("fields", {}).get("property_name") for a in recycle["actions"]].index(
        "lifecyclestage")
    namespace: dict = {}
    exec(compile(code["sourceCode"], "<clear>", "exec"), namespace)  # noqa: S102 - the code under test
    sent = []
    namespace["write_properties"] = lambda object_id, values: sent.append((object_id, values))
    assert namespace["main"]({"inputFields": {}, "object": {"objectId": 5}}) == {"outputFields": {"result": "written"}}
    assert sent == [(5, {"lifecyclestage": ""})]
    result = build(policy("  respond within 2bh"), BuildOptions(hubspot=HubSpotSettings(custom_code=False)))
    without = {n: json.loads(d) for n, d in result.files.items()}
    assert empty_values(without) == {("workflows/mql.to.nurture.json", "lifecyclestage")}
    assert [d.code for d in result.diagnostics if d.code == "SLA840"] == ["SLA840"]


def test_a_requalified_lead_does_not_bounce_back_on_the_data_it_was_recycled_with():
    files = hubspot(policy("  respond within 2bh"))
    back = files["workflows/mql.to.nurture.json"]["enrollmentCriteria"]["listFilterBranch"]
    requalify = files["workflows/nurture.to.mql.json"]
    lead = Lead()
    t0 = ms(tokyo(2026, 6, 1, 9, 0))
    lead.set("intent", "not_now", t0)
    lead.set("sla_recycled_at", t0, t0)
    lead.set("sla_mql_to_nurture_armed", "true", t0)
    lead.set("hubspotscore", 120, t0)
    enters(lead, "nurture", tokyo(2026, 6, 1, 9, 0))
    replay(requalify, lead, ms(tokyo(2026, 6, 3, 9, 0)))  # re-qualified: the workflow disarms the MQL's exits
    now = ms(tokyo(2026, 6, 3, 9, 0))
    assert lead.get("sla_stage", now) == "mql"
    assert not holds(back, lead, now)  # still "not_now" from before: not a new decision
    # a lead that reaches the MQL from the lead stage is treated alike: its exits arm once their
    # condition is false in the stage, and then it moves as soon as the condition becomes true
    fresh = Lead()
    replay(files["workflows/lead.to.mql.json"], fresh, t0)
    assert fresh.get("sla_stage", t0) == "mql"
    assert fresh.get("sla_mql_to_nurture_armed", t0) == "false"
    arm = files["workflows/mql.to.nurture.arm.json"]
    assert holds(arm["enrollmentCriteria"]["listFilterBranch"], fresh, t0)
    replay(arm, fresh, t0)
    assert not holds(back, fresh, t0)
    fresh.set("intent", "not_now", t0 + 60000)
    assert holds(back, fresh, t0 + 60000)
    # a lead already deciding "not now" when it arrives is not armed: no move on old data
    stale = Lead()
    stale.set("intent", "not_now", t0)
    replay(files["workflows/lead.to.mql.json"], stale, t0)
    assert not holds(arm["enrollmentCriteria"]["listFilterBranch"], stale, t0)
    assert not holds(back, stale, t0)


def test_a_condition_with_a_time_moves_a_lead_whose_condition_held_all_along():
    """`-> mql when lead_score >= 100 after 2d` (README, rule 2): 2 days after the lead entered
    nurture, a condition that holds then moves it — even one that held when it arrived. Such a
    transition is not armed; its workflow waits until the computed moment."""
    head, tail = HEAD.rsplit("  -> mql when lead_score >= 100\n", 1)
    result = compile_text((head + "  -> mql when lead_score >= 100 after 2d\n" + tail).format(
        mql="  respond within 2bh", zone="Asia/Tokyo", hours="09:00 to 18:00", country="JP"))
    assert result.ok, [d.message for d in result.errors]
    files = hubspot(result.policy)
    assert "workflows/nurture.to.mql.arm.json" not in files
    flow = files["workflows/nurture.to.mql.json"]
    lead = Lead()
    t0 = ms(tokyo(2026, 6, 1, 9, 0))
    lead.set("hubspotscore", 120, t0)  # recycled with a score above the threshold
    enters(lead, "nurture", tokyo(2026, 6, 1, 9, 0))
    assert holds(flow["enrollmentCriteria"]["listFilterBranch"], lead, t0)
    replay(flow, lead, t0)
    moved = ms(tokyo(2026, 6, 3, 9, 0))
    assert lead.get("sla_stage", moved - 60000) == "nurture"
    assert lead.get("sla_stage", moved) == "mql"
    # without custom code the wait starts when the condition becomes true: the bound says so
    files = hubspot(result.policy, custom_code=False)
    (timer,) = [t for t in files["manifest.json"]["timers"] if t["clause"] == "nurture.to.mql"]
    assert timer["conservative"]["offsetMinutes"] == {"earliest": 0, "latest": 2 * 1440}


ENTRIES = '''agreement "Entries" {
  version "1"
  effective 2026-01-01
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
property sales_created "Created by sales" bool
property source "Source" enum ["partner", "web"]
property region "Region" text
stage lead "Lead" {
  owner marketing
  entry
  hubspot lead
  -> sql when sales_created
}
stage subscriber "Subscriber" {
  owner marketing
  entry
  hubspot subscriber
  -> lead when source == "web"
}
stage sgl "SGL" {
  owner sales
  entry when sales_created
  hubspot lead
  decide within 10d
  -> sql when source == "partner"
}
stage partner "Partner lead" {
  owner sales
  entry when source == "partner" and region is set
  hubspot salesqualifiedlead
  decide within 10d
  -> sql when sales_created
}
stage sql "SQL" {
  owner sales
  hubspot opportunity
  terminal
}
'''


@pytest.mark.parametrize("custom_code", [True, False])
def test_a_new_contact_enters_the_stage_its_entry_condition_chooses(custom_code):
    """Issue 16 (`entry when`): a new lead starts in the first conditional entry stage whose
    condition its data meets, else in an entry stage without a condition (told apart by the
    lifecycle stage). Every combination of lifecycle stage and data: exactly one entry workflow
    enrols the contact (HubSpot runs them all at once, so two would race), and it is the stage
    the reference simulator chooses; a stage with a later lifecycle stage sets it."""
    from sla_lang.simulate.engine import Plan

    result = compile_text(ENTRIES)
    assert result.ok, [f"{d.code} {d.message}" for d in result.errors]
    files = hubspot(result.policy, custom_code=custom_code)
    entries = {name.split("/")[1].split(".")[0]: body for name, body in files.items() if name.endswith(".entry.json")}
    assert sorted(entries) == ["lead", "partner", "sgl", "subscriber"]
    for body in entries.values():
        assert spec_errors(AUTOMATION_V4, "ApiFlowCreateRequest", body) == []
    assert not any(step["code"] in ("SLA849", "SLA833") for step in files["manifest.json"]["manualSteps"])
    plan = Plan(result.policy)
    t0 = ms(tokyo(2026, 6, 1, 9, 0))
    cases = 0
    for lifecycle in (None, "subscriber", "lead", "salesqualifiedlead"):
        for sales_created in (None, True, False):
            for source in (None, "partner", "web"):
                for region in (None, "EMEA"):
                    lead = Lead()
                    data = {"sales_created": sales_created, "source": source, "region": region}
                    for name, value in [("lifecyclestage", lifecycle), *data.items()]:
                        if value is not None:
                            lead.set(name, str(value).lower() if isinstance(value, bool) else value, t0)
                    enrolled = sorted(stage for stage, body in entries.items()
                                      if holds(body["enrollmentCriteria"]["listFilterBranch"], lead, t0))
                    reference = plan.entry_for({k: v for k, v in data.items() if v is not None})
                    if reference in ("sgl", "partner"):  # a condition holds: whatever the lifecycle stage
                        expected = [reference] if lifecycle is not None else []
                    else:  # no condition holds: the unconditional stage of the lifecycle stage
                        expected = {"subscriber": ["subscriber"], "lead": ["lead"],
                                    "salesqualifiedlead": ["lead"]}.get(lifecycle, [])
                    assert enrolled == expected, (lifecycle, data)
                    cases += 1
    assert cases == 72
    # the partner stage's lifecycle stage is later than the others: set it, nothing to clear
    partner = [a for a in entries["partner"]["actions"] if a.get("fields", {}).get("property_name") == "lifecyclestage"]
    assert [a["fields"]["value"]["staticValue"] for a in partner] == ["salesqualifiedlead"]
    # the default stage can receive a contact created as a salesqualifiedlead: cleared, then set back
    lead_flow = entries["lead"]
    kinds = [a["type"] if a["type"] != "SINGLE_CONNECTION" else a["actionTypeId"] for a in lead_flow["actions"]]
    assert ("CUSTOM_CODE" in kinds) == custom_code
    assert any(a.get("fields", {}).get("property_name") == "lifecyclestage"
               and a["fields"]["value"].get("staticValue") == "lead" for a in lead_flow["actions"])


def test_the_clock_difference_between_two_zones_is_constant_only_without_unshared_clock_changes():
    from sla_lang.targets.hubspot.timing import constant_shift

    assert constant_shift("Asia/Tokyo", "UTC", (2026, 2027)) == -9 * 60
    assert constant_shift("Europe/Berlin", "Europe/London", (2026, 2027)) == -60  # both change at 01:00 UTC
    # each changes at 02:00 local time, an hour apart: for that hour the difference is 0 or 2 hours
    assert constant_shift("America/New_York", "America/Chicago", (2026, 2027)) is None
    assert constant_shift("Asia/Tokyo", "America/New_York", (2026, 2027)) is None
    assert constant_shift("Europe/London", "America/New_York", (2026, 2027)) is None  # March: 3 weeks apart


@pytest.mark.parametrize(("calendar", "portal", "window", "first_blocked"), [
    # 09:00–18:00 in Tokyo is 00:00–09:00 UTC on the same day; Golden Week's 2026-05-04 stays that day
    # (each window ends a minute after the close: S13)
    ("Asia/Tokyo", "UTC", ("MONDAY", (0, 0), (9, 1)), {"dayOfMonth": 1, "month": "JANUARY", "year": 2026}),
    # 08:30–17:00 in Berlin is 07:30–16:00 in London, all year (New Year's Day stays that day)
    ("Europe/Berlin", "Europe/London", ("MONDAY", (7, 30), (16, 1)),
     {"dayOfMonth": 1, "month": "JANUARY", "year": 2026}),
])
def test_windows_are_written_in_the_portal_zone_when_that_is_exact(calendar, portal, window, first_blocked):
    """The follow-up: HubSpot reads execution windows and blocked dates in the portal's zone, so
    with `timezone` set to another zone they are converted (same instants) when the difference
    is constant and the day stays whole; the manifest's `timeZones` then names the portal's zone
    (what `sla deploy` checks), and SLA837 is not reported."""
    hours = "08:30 to 17:00" if calendar == "Europe/Berlin" else "09:00 to 18:00"
    text = HEAD.format(mql="  respond within 2bh\n  follow up 2 times at 0d, 1bd via call",
                       zone=calendar, hours=hours, country="DE" if calendar == "Europe/Berlin" else "JP")
    result = compile_text(text)
    assert result.ok
    files = hubspot(result.policy, custom_code=False, timezone=portal)
    flow = files["workflows/mql.follow_up.json"]
    day, start, end = window
    assert flow["timeWindows"][0] == {"day": day, "startTime": {"hour": start[0], "minute": start[1]},
                                      "endTime": {"hour": end[0], "minute": end[1]}}
    assert len(flow["timeWindows"]) == 5 and flow["blockedDates"][0] == first_blocked
    manifest = files["manifest.json"]
    assert manifest["timeZones"] == [portal]
    assert manifest["calendars"][0]["windowsTimezone"] == portal
    assert "SLA837" not in {s["code"] for s in manifest["manualSteps"]}
    assert spec_errors(AUTOMATION_V4, "ApiFlowCreateRequest", flow) == []
    # not exact (New York's clock changes are not the calendar's): left in the calendar's zone, reported
    files = hubspot(result.policy, custom_code=False, timezone="America/New_York")
    manifest = files["manifest.json"]
    assert manifest["timeZones"] == [calendar] and "SLA837" in {s["code"] for s in manifest["manualSteps"]}
    # with custom code there are no windows: the portal's zone changes nothing and is not reported
    files = hubspot(result.policy, timezone=portal)
    assert files["manifest.json"]["timeZones"] == [] and files["workflows/mql.follow_up.json"]["timeWindows"] == []
    assert "SLA837" not in {s["code"] for s in files["manifest.json"]["manualSteps"]}


def test_converted_windows_run_the_follow_ups_at_the_same_instants_in_the_model():
    """Replayed in the executable model of HubSpot (emulate.py) with the portal in UTC, the build
    for a UTC portal creates the follow-up tasks of a Tokyo calendar exactly when the build for a
    Tokyo portal does in a Tokyo portal — and the unconverted build in a UTC portal does not."""
    from sla_lang.simulate.hubspot import HubSpotReplay, build_bundle, default_mapping
    from sla_lang.targets.fixtures import generate_fixtures

    text = HEAD.format(mql="  respond within 2bh\n  follow up 3 times at 0d, 1bd, 3bd via call",
                       zone="Asia/Tokyo", hours="09:00 to 18:00", country="JP")
    result = compile_text(text)
    assert result.ok
    scenarios = generate_fixtures(result.policy, None).scenarios["scenarios"]

    def tasks(built_for: str, portal: str) -> list[tuple[str, str]]:
        bundle, _ = build_bundle(result.policy, BuildOptions(hubspot=HubSpotSettings(custom_code=False,
                                                                                     timezone=built_for)))
        replay = HubSpotReplay(result.policy, bundle, default_mapping(result.policy, ZoneInfo(portal), bundle.manifest))
        out = []
        for scenario in scenarios:
            portal_state, _contact, _until, _lead = replay.run(scenario)
            out += [(scenario["id"], task.moment.at.astimezone(UTC).isoformat()) for task in portal_state.tasks
                    if task.workflow.endswith("follow_up.json")]
        return sorted(out)

    in_tokyo = tasks("Asia/Tokyo", "Asia/Tokyo")
    assert in_tokyo and tasks("UTC", "UTC") == in_tokyo
    assert tasks("Asia/Tokyo", "UTC") != in_tokyo
