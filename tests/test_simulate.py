"""What a policy means: the simulator's rules, each checked against a hand-worked example.

The calendar is Tokyo, Monday–Friday 09:00–18:00, Japanese holidays; 2026-07-20 is Marine Day.
Expected times below are worked out by hand, not taken from the simulator.
"""

from __future__ import annotations

from .simkit import HEADER, at, compile_policy, deadline, ev, lead, run, stages


def test_a_lead_created_qualified_moves_at_once_chained():
    r = run([ev(at(13, 10), "lead_created", properties={"employees": 60}, events={"pricing_view": 1})])
    # fit 15 + engagement 5 = 20 ≥ 20 at creation → lead and mql entered at the same moment
    assert stages(r) == [("lead", at(13, 10), None), ("mql", at(13, 10), "lead.to.mql")]


def test_a_condition_moves_the_lead_when_it_becomes_true():
    r = run([
        ev(at(13, 10), "lead_created", properties={"employees": 60}),  # 15 points
        ev(at(13, 11), "event_occurred", event="pricing_view"),  # 20 points
    ])
    assert stages(r)[-1] == ("mql", at(13, 11), "lead.to.mql")
    assert lead(r)["scores"] == {"s": 20, "s.fit": 15, "s.eng": 5}


def test_a_condition_already_true_on_entry_does_not_bounce_a_recycled_lead_back():
    r = run([
        ev(at(13, 10), "lead_created", properties={"employees": 60}, events={"pricing_view": 1}),
        ev(at(13, 11), "property_changed", properties={"intent": "not_now", "reason": "timing"}),
        ev(at(13, 12), "event_occurred", event="pricing_view"),  # still ≥ 20: no change of truth
    ])
    assert [s for s, _, _ in stages(r)] == ["lead", "mql", "nurture"]


def test_a_recycled_lead_requalifies_when_the_condition_becomes_true_again():
    r = run([
        ev(at(13, 10), "lead_created", properties={"employees": 60}, events={"pricing_view": 1}),
        ev(at(13, 11), "property_changed", properties={"intent": "not_now", "reason": "timing"}),
        ev(at(13, 12), "property_changed", properties={"employees": 10}),  # 5 points: false
        ev(at(13, 13), "property_changed", properties={"employees": 80}),  # 20 again: becomes true
    ])
    assert stages(r)[-1] == ("mql", at(13, 13), "nurture.to.mql")


def test_the_first_true_transition_in_source_order_wins():
    policy = HEADER + '''
property x "X" number
stage a "A" {
  owner marketing
  entry
  -> b when x >= 1
  -> c when x >= 1
}
stage b "B" {
  owner marketing
  terminal
}
stage c "C" {
  owner marketing
  terminal
}
'''
    r = run([ev(at(13, 10), "lead_created", stage="a"), ev(at(13, 11), "property_changed", properties={"x": 5})], policy)
    assert stages(r)[-1] == ("b", at(13, 11), "a.to.b")


def test_timeout_fires_exactly_after_its_duration():
    r = run([ev(at(1, 10), "lead_created")], until=at(31, 10))
    # 30 days after 2026-07-01 10:00 is 2026-07-31 10:00
    assert stages(r)[-1] == ("archived", at(31, 10), "lead.to.archived")
    r = run([ev(at(1, 10), "lead_created")], until=at(31, 9, 59))
    assert stages(r)[-1][0] == "lead"


def test_an_event_at_the_same_moment_as_a_timeout_comes_first():
    r = run([
        ev(at(1, 10), "lead_created", properties={"employees": 60}),
        ev(at(31, 10), "event_occurred", event="pricing_view"),  # exactly when the timeout is due
    ])
    assert stages(r)[-1] == ("mql", at(31, 10), "lead.to.mql")


def test_when_and_after_together():
    policy = HEADER + '''
property ready "Ready" bool
stage a "A" {
  owner marketing
  entry
  -> b when ready after 2d
}
stage b "B" {
  owner marketing
  terminal
}
'''
    early = run([ev(at(13, 10), "lead_created", stage="a"), ev(at(13, 11), "property_changed",
                                                                properties={"ready": True})], policy, until=at(16, 10))
    assert stages(early)[-1] == ("b", at(15, 10), "a.to.b")  # waits for the 2 days
    late = run([ev(at(13, 10), "lead_created", stage="a"), ev(at(16, 9), "property_changed",
                                                               properties={"ready": True})], policy)
    assert stages(late)[-1] == ("b", at(16, 9), "a.to.b")  # the 2 days had passed: at once


def mql_at(day: int, hh: int, mm: int = 0) -> list[dict]:
    """A lead that becomes an MQL at the given moment."""
    return [ev(at(day, hh, mm), "lead_created", properties={"employees": 60, "note": "n"}, events={"pricing_view": 1})]


def test_respond_deadline_over_a_holiday_weekend():
    # MQL Friday 17:30. 8bh: Fri 17:30–18:00 (0.5h), Sat/Sun off, Mon 20 Marine Day, Tue 09:00 + 7.5h = 16:30.
    # SLO 4bh: Fri 0.5h, Tue 09:00 + 3.5h = 12:30.
    r = run(mql_at(17, 17, 30), until=at(21, 18))
    d = deadline(r, "mql.respond")
    assert (d["due"], d["target_due"], d["status"]) == (at(21, 16, 30), at(21, 12, 30), "breached")


def test_respond_met_at_risk_and_breached_at_the_edges():
    call = lambda h, m: ev(at(21, h, m), "activity_logged", activity="call")
    assert deadline(run(mql_at(17, 17, 30) + [call(12, 30)]), "mql.respond")["status"] == "met"
    assert deadline(run(mql_at(17, 17, 30) + [call(12, 31)]), "mql.respond")["status"] == "at_risk"
    assert deadline(run(mql_at(17, 17, 30) + [call(16, 30)]), "mql.respond")["status"] == "at_risk"
    late = deadline(run(mql_at(17, 17, 30) + [call(16, 31)]), "mql.respond")
    assert (late["status"], late["at"]) == ("breached", at(21, 16, 31))


def test_leaving_before_a_response_cancels_it_and_meets_decide():
    r = run(mql_at(13, 10) + [ev(at(13, 11), "property_changed", properties={"intent": "yes"})])
    assert deadline(r, "mql.respond")["status"] == "cancelled"
    d = deadline(r, "mql.decide")
    assert (d["status"], d["at"], d["due"]) == ("met", at(13, 11), at(15, 10))  # 2bd = 18bh: Mon 10:00 → Wed 10:00


def test_decide_exactly_at_the_due_time_is_met_a_minute_later_breached():
    ontime = run(mql_at(13, 10) + [ev(at(15, 10), "property_changed", properties={"intent": "yes"})])
    assert deadline(ontime, "mql.decide")["status"] == "met"
    late = run(mql_at(13, 10) + [ev(at(15, 10, 1), "property_changed", properties={"intent": "yes"})])
    assert deadline(late, "mql.decide")["status"] == "breached"


def test_escalation_fires_when_the_guarded_deadline_is_missed():
    # 8bh from Monday 10:00 is Monday 18:00
    missed = run(mql_at(13, 10), until=at(14, 9))
    assert [(e["clause"], e["at"], e["to"]) for e in lead(missed)["escalations"]] == [
        ("mql.escalate.respond", at(13, 18), "managers")]
    answered = run(mql_at(13, 10) + [ev(at(13, 18), "activity_logged", activity="email")], until=at(14, 9))
    assert lead(answered)["escalations"] == []


def test_follow_up_windows_and_channels():
    # steps: day 0 = [Mon 10:00, Tue 10:00), day 2 = [Wed 10:00, Thu 10:00); only calls count
    r = run(mql_at(13, 10) + [
        ev(at(13, 11), "activity_logged", activity="email"),  # not a `via` channel
        ev(at(14, 9, 59), "activity_logged", activity="call"),  # step 1, last minute
        ev(at(16, 10), "activity_logged", activity="call"),  # step 2 window closed at 10:00
    ])
    (follow_up,) = lead(r)["follow_ups"]
    assert follow_up["attempts"] == 2
    assert [(s["step"], s["status"], s.get("at")) for s in follow_up["steps"]] == [
        (1, "met", at(14, 9, 59)), (2, "missed", None)]
    assert follow_up["steps"][1]["opens"] == at(15, 10) and follow_up["steps"][1]["closes"] == at(16, 10)


def test_record_is_required_from_the_stay_in_the_source_stage():
    recorded = run(mql_at(13, 10) + [ev(at(13, 11), "property_changed", properties={"intent": "not_now",
                                                                                   "reason": "budget"})])
    (record,) = lead(recorded)["records"]
    assert (record["clause"], record["recycle"], record["values"], record["missing"]) == (
        "mql.to.nurture", True, {"reason": "budget"}, [])
    missing = run(mql_at(13, 10) + [ev(at(13, 11), "property_changed", properties={"intent": "not_now"})])
    assert lead(missing)["records"][0]["missing"] == ["reason"]
    stale = run([ev(at(13, 9), "lead_created", properties={"reason": "timing"})] + [
        ev(at(13, 10), "property_changed", properties={"employees": 60}),
        ev(at(13, 10, 1), "event_occurred", event="pricing_view"),
        ev(at(13, 11), "property_changed", properties={"intent": "not_now"}),
    ])
    assert lead(stale)["records"][0]["missing"] == ["reason"]  # given before the lead was an MQL


def test_hand_off_carries_the_included_fields():
    (handoff,) = lead(run(mql_at(13, 10)))["handoffs"]
    assert (handoff["from"], handoff["to"], handoff["fields"], handoff["missing"]) == (
        "marketing", "sales", {"note": "n", "s": 20}, [])


def test_owner_is_kept_within_a_team_and_reset_on_a_team_change():
    r = run(mql_at(13, 10) + [
        ev(at(13, 11), "owner_changed", owner="kenji"),
        ev(at(13, 12), "property_changed", properties={"intent": "yes"}),  # sql: also sales
    ])
    assert lead(r)["owner"] == "kenji"
    r = run(mql_at(13, 10) + [
        ev(at(13, 11), "owner_changed", owner="kenji"),
        ev(at(13, 12), "property_changed", properties={"intent": "not_now", "reason": "timing"}),  # marketing
    ])
    assert lead(r)["owner"] == "marketing"


def test_stage_set_by_hand_along_a_transition_counts_as_it():
    r = run(mql_at(13, 10) + [ev(at(13, 11), "stage_set", stage="nurture", by="kenji")])
    last = lead(r)["stages"][-1]
    assert (last["stage"], last["via"], last["how"], last["by"]) == ("nurture", "mql.to.nurture", "manual", "kenji")
    assert lead(r)["records"][0]["missing"] == ["reason"]
    assert r.diagnostics == []


def test_stage_set_by_hand_off_policy_is_applied_with_a_warning():
    r = run(mql_at(13, 10) + [ev(at(13, 11), "stage_set", stage="archived")])
    assert lead(r)["final_stage"] == "archived"
    assert [(d.code, d.span.line) for d in r.diagnostics] == [("SLA859", 2)]
    assert "no transition of `mql` leads to" in r.diagnostics[0].message


def test_a_loop_of_unconditional_moves_is_stopped_and_reported():
    policy = HEADER + '''
stage a "A" {
  owner marketing
  entry
  -> b
}
stage b "B" {
  owner marketing
  -> a
}
'''
    r = run([ev(at(13, 10), "lead_created", stage="a")], policy)
    assert [s for s, _, _ in stages(r)] == ["a", "b"]
    (d,) = r.diagnostics
    assert (d.code, d.span.path, d.span.line) == ("SLA860", "test.sla", 26)  # `-> a` in stage b closes the loop


def test_business_deadline_without_a_calendar_is_reported():
    policy = '''agreement "T" {
  version "1"
  effective 2026-07-01
}
party sales "Sales" {
}
stage a "A" {
  owner sales
  entry
  respond within 4bh
}
'''
    r = run([ev(at(13, 10), "lead_created", stage="a")], policy)
    assert [d.code for d in r.diagnostics] == ["SLA861"]
    assert lead(r)["deadlines"] == []


def test_unset_properties_make_comparisons_false():
    policy = HEADER + '''
property industry "Industry" enum ["it", "other"]
stage a "A" {
  owner marketing
  entry
  -> b when industry != "it"
  -> c when not (industry == "it")
}
stage b "B" {
  owner marketing
  terminal
}
stage c "C" {
  owner marketing
  terminal
}
'''
    r = run([ev(at(13, 10), "lead_created", stage="a")], policy)
    assert stages(r)[-1][0] == "c"


def test_group_cap_and_priority():
    r = run([ev(at(13, 10), "lead_created", stage="sql", properties={"employees": 60, "intent": "yes"},
                events={"pricing_view": 3})])
    # fit 15 + 10 = 25 capped at 20; engagement 5 + 10 = 15; total 35 → hot
    assert lead(r)["scores"] == {"s": 35, "s.fit": 20, "s.eng": 15}
    assert lead(r)["priority"] == "hot"


def test_same_input_same_output():
    import json

    events = mql_at(17, 17, 30) + [ev(at(21, 12), "activity_logged", activity="call")]
    outputs = {json.dumps([lead(run(events)), run(events).summary_json()], sort_keys=True) for _ in range(3)}
    assert len(outputs) == 1


def test_policy_semantics_are_independent_of_the_time_zone_of_the_events():
    utc = [ev("2026-07-17T08:30:00+00:00", "lead_created", properties={"employees": 60, "note": "n"},
              events={"pricing_view": 1})]
    assert deadline(run(utc), "mql.respond")["due"] == at(21, 16, 30)


def test_policy_compiles_cleanly():
    assert compile_policy() is not None
