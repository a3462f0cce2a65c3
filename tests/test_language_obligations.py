"""Obligations of issue 19 section 1, construct by construct, through every layer: the language
(lowering and its diagnostics), the checks, the reference simulator (expectations worked out by
hand from the business calendar below), the agreement's wording and `sla diff`.

The office calendar works Monday to Friday, 09:00–18:00 Tokyo time; 2026-07-20 (Monday) is a
public holiday (Marine Day).
"""

from __future__ import annotations

from sla_lang.agreement.content import prepare_document
from sla_lang.compile import compile_text
from sla_lang.config import HubSpotSettings
from sla_lang.semdiff import diff_policies

from .simkit import HEADER, at, compile_policy, deadline, ev, lead, run


def codes(text: str) -> list[str]:
    return [d.code for d in compile_text(text).diagnostics]


def kinds(old: str, new: str) -> dict[str, list]:
    changes = diff_policies(compile_policy(old), compile_policy(new), "p.sla", "p.sla").changes
    return {c.kind: [(d.obligor, d.direction) for d in c.duties] for c in changes}


# ------------------------------------------------------------------ 19.1 the sender's hand-off deadline

HANDOFF = HEADER + '''
property outcome "Outcome" enum ["good" "Good", "poor" "Poor"]
stage lead "Lead" {
  owner marketing
  entry
  -> mql when outcome == "good"
}
stage mql "MQL" {
  owner sales
  handoff from marketing within 2bh {
    notify email
  }
  respond within 1bd
  -> done when outcome == "poor"
}
stage done "Done" {
  owner sales
  terminal
}
'''


def test_the_handoff_deadline_is_met_by_assigning_a_person_in_time():
    # created at Friday 17:00: two business hours end on Tuesday 10:00 (Monday is a holiday)
    created = ev(at(17, 17), "lead_created", stage="mql")
    met = run([created, ev(at(21, 10), "owner_changed", owner="kenji")], HANDOFF)
    d = deadline(met, "mql.handoff")
    assert (d["kind"], d["owner"], d["due"], d["status"], d["at"]) == (
        "handoff", "marketing", at(21, 10), "met", at(21, 10))
    late = run([created, ev(at(21, 10, 1), "owner_changed", owner="kenji")], HANDOFF)
    assert (deadline(late, "mql.handoff")["status"], deadline(late, "mql.handoff")["at"]) == ("breached", at(21, 10, 1))
    gone = run([created, ev(at(20, 12), "property_changed", property="outcome", value="poor")], HANDOFF)
    assert deadline(gone, "mql.handoff")["status"] == "cancelled"
    assigned_at_creation = run([ev(at(17, 17), "lead_created", stage="mql", owner="kenji")], HANDOFF)
    assert deadline(assigned_at_creation, "mql.handoff")["status"] == "met"


def test_the_handoff_deadline_in_checks_document_and_diff():
    late = HANDOFF.replace("within 2bh {", "within 1bd {").replace("respond within 1bd", "respond within 4h")
    assert "SLA513" in codes(late) and "SLA513" not in codes(HANDOFF)
    zero = [d for d in compile_text(HANDOFF.replace("within 2bh {", "within 0h {"), "p.sla").diagnostics
            if d.code == "SLA506"]
    assert len(zero) == 1 and "`mql` への引き継ぎの期限" in zero[0].message.localize("ja")
    assert "SLA304" in codes(HANDOFF.replace("within 2bh {", "within 20% {"))
    doc = prepare_document(compile_policy(HANDOFF), "en")
    (handoff,) = doc.section("handoff").clauses
    assert ("Marketing completes the hand-off within 2 business hours of the lead entering MQL: a person of "
            "Sales is assigned the lead.") in handoff["text"]
    rows = [(c["kind"], c["owner"], c["sla"]) for c in doc.section("deadlines").clauses]
    assert rows == [("hand-off", "Marketing", "2 business hours"), ("first response", "Sales", "1 business day")]
    ja = prepare_document(compile_policy(HANDOFF), "ja").section("handoff").clauses[0]["text"]
    assert "MarketingはリードがMQLに移行してから2営業時間以内にSalesの担当者を割り当て" in ja.replace("は、", "は")
    assert kinds(HANDOFF, HANDOFF.replace("within 2bh {", "within 1bh {"))["handoff.within"] == [
        ("marketing", "stricter")]


# ------------------------------------------------------------------ 19.2 an entry condition for a second entry point

ENTRY = HEADER + '''
property created_by_sales "Created by Sales" bool
property outcome "Outcome" enum ["good", "poor"]
stage lead "Lead" {
  owner marketing
  entry
  -> done after 30d
}
stage sgl "SGL" {
  owner sales
  entry when created_by_sales
  respond within 24h
  -> done when outcome == "poor"
}
stage done "Done" {
  owner sales
  terminal
}
'''


def test_a_new_lead_starts_in_the_entry_stage_its_data_meets():
    result = run([ev(at(1, 10), "lead_created", "S1", properties={"created_by_sales": True}),
                  ev(at(1, 10), "lead_created", "M1", properties={"created_by_sales": False}),
                  ev(at(1, 10), "lead_created", "M2"),
                  ev(at(1, 11), "lead_created", "X1", stage="sgl")], ENTRY)
    assert {i: lead(result, i)["stages"][0]["stage"] for i in ("S1", "M1", "M2", "X1")} == {
        "S1": "sgl", "M1": "lead", "M2": "lead", "X1": "sgl"}  # a given stage is taken as given
    # the order of the stages does not matter: conditional entries are tried before the default
    swapped = ENTRY.replace("stage lead ", "stage zlead ").replace("stage sgl ", "stage lead2 ")
    assert lead(run([ev(at(1, 10), "lead_created", properties={"created_by_sales": True})], swapped)
                )["stages"][0]["stage"] == "lead2"


def test_a_lead_no_entry_stage_admits_is_left_out_once():
    only_sgl = ENTRY.replace('''stage lead "Lead" {
  owner marketing
  entry
  -> done after 30d
}''', "")
    result = run([ev(at(1, 10), "lead_created", "M1"),
                  ev(at(1, 11), "activity_logged", "M1", activity="call"),
                  ev(at(1, 12), "lead_created", "S1", properties={"created_by_sales": True})], only_sgl)
    assert [d.code for d in result.diagnostics] == ["SLA862"]
    assert "`M1` meets the entry condition of no stage" in result.diagnostics[0].message
    assert list(result.sim.leads) == ["S1"]
    assert "SLA609" in codes(only_sgl) and "SLA609" not in codes(ENTRY)


def test_entry_conditions_in_checks_document_and_diff():
    overlapping = ENTRY.replace('''stage done "Done" {''', '''stage partner "Partner" {
  owner sales
  entry when outcome == "good"
  respond within 24h
  -> done when outcome == "poor"
}
stage done "Done" {''')
    found = [d for d in compile_text(overlapping).diagnostics if d.code == "SLA608"]
    assert found and "both `sgl` and `partner`" in found[0].message
    never = ENTRY.replace("entry when created_by_sales", "entry when created_by_sales and not created_by_sales")
    assert "SLA603" in codes(never)
    doc = prepare_document(compile_policy(ENTRY), "en")
    kinds_of = {c["id"]: c["kinds"] for c in doc.section("stages").clauses}
    assert kinds_of["stage.sgl"] == "entry point for new leads when Created by Sales"
    assert kinds_of["stage.lead"] == "entry point"
    change = kinds(ENTRY, ENTRY.replace("entry when created_by_sales", 'entry when outcome == "good"'))
    assert change["stage.entry"] == [("sales", "unclear")]


# ------------------------------------------------------------------ 19.8 and 19.13 information: reports and anchors

DUTIES = HEADER + '''
property outcome "Outcome" enum ["good", "poor"]
property result "Qualification result" text
stage mql "MQL" {
  owner sales
  entry
  respond within 24h
  -> done when outcome == "poor"
}
stage done "Done" {
  owner sales
  terminal
}
information from sales to marketing {
  "The qualification result of every MQL" within 2bd after leaving mql recorded in result
  "Win rates of handed-over leads" every week
  "Leads acquired" every month within 5bd
}
'''


def test_an_anchored_information_duty_counts_from_the_lead_leaving_the_stage():
    # leaves on Friday 17:00: two business days end on Wednesday 17:00 (Monday is a holiday)
    leave = [ev(at(17, 9), "lead_created", stage="mql"), ev(at(17, 17), "property_changed", property="outcome",
                                                            value="poor")]
    met = run(leave + [ev(at(22, 17), "property_changed", property="result", value="no budget")], DUTIES)
    d = deadline(met, "information.sales.marketing.1")
    assert (d["kind"], d["stage"], d["entered"], d["due"], d["status"], d["owner"]) == (
        "information", "mql", at(17, 17), at(22, 17), "met", "sales")
    late = run(leave + [ev(at(22, 17, 1), "property_changed", property="result", value="no budget")], DUTIES)
    assert deadline(late, "information.sales.marketing.1")["status"] == "breached"
    # recorded while the lead was still in the stage: met the moment the duty starts
    early = run([leave[0], ev(at(17, 12), "property_changed", property="result", value="fit"), leave[1]], DUTIES)
    assert deadline(early, "information.sales.marketing.1")["status"] == "met"
    never = run(leave, DUTIES, until=at(31, 9))
    assert deadline(never, "information.sales.marketing.1")["status"] == "breached"


def test_information_reports_and_anchors_in_checks_and_document():
    assert "SLA726" not in codes(DUTIES)
    unanchored = DUTIES.replace(" after leaving mql", "")
    (d,) = [d for d in compile_text(unanchored).diagnostics if d.code == "SLA726"]
    assert d.message == "\"The qualification result of every MQL\" is due within 2bd, but of what is not said"
    assert "SLA301" in codes(DUTIES.replace("after leaving mql", "after leaving mqll"))
    items = prepare_document(compile_policy(DUTIES), "en").section("information").clauses
    assert [(i["every"], i["within"]) for i in items] == [
        ("", "2 business days after the lead leaves MQL"), ("every week", ""),
        ("every month", "5 business days after the end of each period")]
    ja = prepare_document(compile_policy(DUTIES), "ja").section("information").clauses
    assert [(i["every"], i["within"]) for i in ja] == [
        ("", "MQLから移行した後2営業日"), ("毎週", ""), ("毎月", "各期間の終了から5営業日")]
    change = kinds(DUTIES, DUTIES.replace('"Win rates of handed-over leads" every week',
                                          '"Win rates of handed-over leads" every month'))
    assert change["information.every"] == [("sales", "looser")]


# ------------------------------------------------------------------ 19.5, 19.6, 19.7 KPIs

KPIS = HEADER + '''
property source "Source" enum ["web" "Web", "event" "Event"]
property amount "Deal amount" number
property won "Won" bool
stage mql "MQL" {
  owner sales
  entry
  respond within 24h
  follow up 2 times at 0d, 2d via call
  -> customer when won
}
stage customer "Customer" {
  owner sales
  terminal
}
kpi by_source "Won by source" {
  measure rate mql -> customer per month by source
  target >= 50%
}
kpi by_rep "Responded per rep" {
  measure rate mql.respond met per month by owner
  target >= 90%
}
kpi follow_ups "Follow-ups completed" {
  measure rate mql.follow_up met per month
  target >= 90%
}
kpi revenue "Revenue" {
  measure sum amount at customer per month
  target >= 1000
}
kpi connect "Connect rate" {
  measure rate call connected at mql per month
  target >= 30%
}
'''

KPI_EVENTS = [
    ev(at(1, 10), "lead_created", "A", properties={"source": "web"}),
    ev(at(1, 10, 5), "owner_changed", "A", owner="kenji"),
    ev(at(1, 11), "activity_logged", "A", activity="call", outcome="no_answer"),
    ev(at(3, 11), "activity_logged", "A", activity="call", outcome="connected"),
    ev(at(3, 12), "property_changed", "A", properties={"won": True, "amount": 700}),
    ev(at(1, 10), "lead_created", "B", properties={"source": "event"}),
    ev(at(1, 10, 5), "owner_changed", "B", owner="yuki"),
    ev(at(3, 9), "activity_logged", "B", activity="call"),
    ev(at(10, 9), "activity_logged", "B", activity="email", outcome="replied"),
]


def test_kpis_by_owner_and_property_sums_outcomes_and_follow_up_completion():
    """Worked out by hand: A (web, kenji) is called at once and twice in the follow-up windows,
    connects on the second call and is won with 700; B (event, yuki) is first called after its
    24 hours (the first follow-up window closes without a call) and never won."""
    result = run(KPI_EVENTS, KPIS)
    rows = {r.kpi.id: [(row.group, row.value, row.status) for row in r.rows] for r in result.kpis()}
    assert rows["by_source"] == [("event", 0, "missed"), ("web", 1, "met")]
    assert rows["by_rep"] == [("kenji", 1, "met"), ("yuki", 0, "missed")]
    assert rows["follow_ups"] == [(None, 0.5, "missed")]
    assert rows["revenue"] == [(None, 700, "missed")]
    assert rows["connect"] == [(None, round(1 / 3, 6), "met")]  # 1 of 3 calls; the e-mail does not count
    bad = run(KPI_EVENTS + [ev(at(10, 10), "activity_logged", "B", activity="call", outcome="bogus")], KPIS)
    assert [d.code for d in bad.diagnostics] == ["SLA851"] and "outcome` of a call" in bad.diagnostics[0].message


def test_kpi_measures_in_lowering_checks_and_document():
    assert "SLA307" in codes(KPIS.replace("rate call connected", "rate call reached"))
    assert "SLA307" in codes(KPIS.replace("rate mql.follow_up met", "rate mql.folow_up met"))
    assert "SLA304" in codes(KPIS.replace("target >= 1000", "target >= 10%"))
    assert "SLA301" in codes(KPIS.replace("by source", "by sorce"))
    no_cadence = KPIS.replace("  follow up 2 times at 0d, 2d via call\n", "")
    (d,) = [d for d in compile_text(no_cadence).diagnostics if d.code == "SLA301"]
    assert d.message == "stage `mql` has no follow-up cadence to measure"
    doc = prepare_document(compile_policy(KPIS), "en")
    measures = [c["measure"] for c in doc.section("kpis").clauses]
    assert measures == [
        "Share of the leads entering MQL that reach Customer (by Source)",
        "Share of MQL leads whose first response deadline was met (per lead owner)",
        "Share of the follow-up cadences of MQL that were completed",
        "Total Deal amount of the leads entering Customer",
        "Share of the calls made in MQL with the outcome “connected”",
    ]
    ja = [c["measure"] for c in prepare_document(compile_policy(KPIS), "ja").section("kpis").clauses]
    assert ja[3:] == ["Customerに移行したリードのDeal amountの合計", "MQLでの電話のうち、結果が「接続」の割合"]


# ------------------------------------------------------------------ 19.3 points per occurrence

PER = HEADER + '''
event web_visit "Visited the website"
event email_open "Opened an email"
property job "Job" enum ["manager" "Manager", "staff" "Staff"]
score s "Score" {
  group behaviour "Behaviour" max 60 {
    +5 "Each website visit" per web_visit max 25
    +10 "Each email opened" per email_open
  }
  group fit "Fit" max 20 {
    +20 "Manager" when job == "manager"
  }
}
stage lead "Lead" {
  owner marketing
  entry
  -> mql when s >= 50
  -> done after 30d
}
stage mql "MQL" {
  owner marketing
  -> done after 6d
}
stage done "Done" {
  owner marketing
  terminal
}
'''


def test_points_per_occurrence_are_counted_and_capped():
    # 3 visits (15) + 2 opens (20) = 35; 4 more visits reach the rule's max of 25: 45; a third
    # open (30) makes 55 and the lead an MQL
    result = run([ev(at(1, 10), "lead_created", events={"web_visit": 3}),
                  ev(at(1, 11), "event_occurred", event="email_open", count=2),
                  ev(at(1, 12), "event_occurred", event="web_visit", count=4),
                  ev(at(1, 13), "event_occurred", event="email_open")], PER)
    data = lead(result)
    assert data["scores"] == {"s": 55, "s.behaviour": 55}  # a group with no points (s.fit) is not listed
    assert [(s["stage"], s["entered"]) for s in data["stages"]] == [("lead", at(1, 10)), ("mql", at(1, 13))]
    seven_opens = run([ev(at(1, 10), "lead_created", events={"email_open": 7})], PER)
    assert lead(seven_opens)["scores"]["s.behaviour"] == 60  # the group's max


def test_points_per_occurrence_in_checks_document_and_hubspot():
    from sla_lang.targets import BuildOptions, load_target

    policy = compile_policy(PER)
    rule = policy.scores[0].groups[0].rules[0]
    assert (rule.per.name, rule.cap.value, rule.points_for(3), rule.points_for(9), rule.highest) == (
        "web_visit", 25, 15, 25, 25)
    unbounded = PER.replace('group behaviour "Behaviour" max 60 {', 'group behaviour "Behaviour" {')
    (d,) = [d for d in compile_text(unbounded).diagnostics if d.code == "SLA610"]
    assert "`email_open`" in d.message and (d.span.line, d.span.column) == (25, 5)
    assert "SLA610" not in codes(PER)
    assert "SLA308" in codes(PER.replace("per email_open", "per job"))
    assert "SLA601" in codes(PER.replace("s >= 50", "s >= 81"))  # 60 + 20 at most
    assert "SLA601" not in codes(unbounded.replace("s >= 50", "s >= 810"))
    doc = prepare_document(policy, "en").section("criteria").extra["scores"][0]
    first = doc["groups"][0]["rules"][0]
    assert (first["when"], first["points"]) == ("Visited the website, each time", "+5 (at most 25 points)")
    assert doc["maximum"] == "Highest possible score: 80 points."
    ja = prepare_document(policy, "ja").section("criteria").extra["scores"][0]["groups"][0]["rules"][0]
    assert ja["when"] == "「Visited the website」1回ごと"
    built = load_target("hubspot").build(policy, BuildOptions())
    import json

    scoring = json.loads(built.files["scoring.json"])
    rules = scoring["scores"][0]["groups"][0]["rules"]
    assert [(r.get("perOccurrenceOf"), r.get("maxPoints")) for r in rules] == [("web_visit", 25), ("email_open", None)]
    change = kinds(PER, PER.replace("per web_visit max 25", "per web_visit max 30"))
    assert "score.rule.per" in change


# ------------------------------------------------------------------ 19.11 a required channel

VIA = HEADER + '''
property outcome "Outcome" enum ["good", "poor"]
stage mql "MQL" {
  owner sales
  entry
  respond within 4bh via call target 2bh
  escalate to managers after 4bh on respond
  -> done when outcome == "poor"
}
stage done "Done" {
  owner sales
  terminal
}
'''


def test_only_the_required_activity_meets_a_respond_deadline():
    # created Wednesday 15:00: the SLO (2bh) is due Wednesday 17:00, the SLA (4bh) Thursday
    # 10:00 (three hours on Wednesday until 18:00, one on Thursday from 09:00)
    created = ev(at(15, 15), "lead_created", stage="mql")
    email_only = run([created, ev(at(15, 15, 30), "activity_logged", activity="email"),
                      ev(at(15, 16), "activity_logged", activity="meeting")], VIA, until=at(16, 12))
    d = deadline(email_only, "mql.respond")
    assert (d["due"], d["target_due"], d["status"], d.get("at")) == (at(16, 10), at(15, 17), "breached", None)
    assert [(e["clause"], e["at"]) for e in lead(email_only)["escalations"]] == [("mql.escalate.respond", at(16, 10))]
    call_later = run([created, ev(at(15, 15, 30), "activity_logged", activity="email"),
                      ev(at(16, 9, 30), "activity_logged", activity="call")], VIA, until=at(16, 12))
    d = deadline(call_later, "mql.respond")
    assert (d["status"], d["at"]) == ("at_risk", at(16, 9, 30))  # past the SLO, within the SLA
    assert lead(call_later)["escalations"] == []
    late_call = run([created, ev(at(16, 10, 5), "activity_logged", activity="call")], VIA, until=at(16, 12))
    assert (deadline(late_call, "mql.respond")["status"], deadline(late_call, "mql.respond")["at"]) == (
        "breached", at(16, 10, 5))
    # without `via` the first e-mail meets the deadline, as before
    any_kind = run([created, ev(at(15, 15, 30), "activity_logged", activity="email")],
                   VIA.replace(" via call", ""), until=at(16, 12))
    assert (deadline(any_kind, "mql.respond")["status"], deadline(any_kind, "mql.respond")["at"]) == (
        "met", at(15, 15, 30))


def test_a_required_channel_in_lowering_document_diff_fmt_fixtures_and_hubspot():
    import json

    from sla_lang.config import HubSpotSettings
    from sla_lang.fmt import format_text
    from sla_lang.targets import BuildOptions, load_target
    from sla_lang.targets.fixtures import generate_fixtures

    policy = compile_policy(VIA.replace("via call", "via call, meeting, call"))
    assert policy.stages[0].deadline("respond").meets == ("call", "meeting")  # a repeated kind counts once
    assert compile_policy(VIA.replace(" via call", "")).stages[0].deadline("respond").meets == (
        "call", "email", "meeting")
    for wrong, code, line_col in (("via slack", "SLA307", (23, 26)), ("via phone", "SLA307", (23, 26)),
                                  ('via call "x"', "SLA306", (23, 26))):
        (d,) = [d for d in compile_text(VIA.replace("via call", wrong)).diagnostics if d.code == code]
        assert (d.span.line, d.span.column) == line_col, (wrong, d.span)
    decide = VIA.replace("respond within 4bh via call target 2bh", "decide within 4bh via call")
    (d,) = [d for d in compile_text(decide).diagnostics if d.code == "SLA306"]
    assert "only a `respond` deadline" in d.message and (d.span.line, d.span.column) == (23, 21)
    rows = [c["kind"] for c in prepare_document(compile_policy(VIA), "en").section("deadlines").clauses]
    assert rows == ["first response by phone call only"]
    rows_ja = [c["kind"] for c in prepare_document(compile_policy(VIA), "ja").section("deadlines").clauses]
    assert rows_ja == ["初回対応（電話に限る）"]
    # fewer ways to meet the deadline bind its owner more; more ways, less; others: unclear
    assert kinds(VIA.replace(" via call", ""), VIA)["deadline.via"] == [("sales", "stricter")]
    assert kinds(VIA, VIA.replace("via call", "via call, meeting"))["deadline.via"] == [("sales", "looser")]
    assert kinds(VIA, VIA.replace("via call", "via email"))["deadline.via"] == [("sales", "unclear")]
    messy = VIA.replace("respond within 4bh via call target 2bh", "respond within 4bh target 2bh  via   call,meeting")
    formatted = format_text(messy)
    assert "  respond within 4bh via call, meeting target 2bh\n" in formatted
    # the fixtures hold the boundary: a call a minute after entering meets it, an e-mail does not
    scenarios = {s["id"]: s for s in generate_fixtures(compile_policy(VIA), None).scenarios["scenarios"]}
    inside, outside = scenarios["mql.respond@via:inside"], scenarios["mql.respond@via:outside"]
    assert [e.get("activity") for e in inside["timeline"] if e["type"] == "activity_logged"] == ["call"]
    assert [e.get("activity") for e in outside["timeline"] if e["type"] == "activity_logged"] == ["email"]
    def status(scenario):
        return next(d["status"] for d in scenario["expect"]["deadlines"] if d["clause"] == "mql.respond")

    assert (status(inside), status(outside)) == ("met", "breached")
    # with custom code the checks read the contact's calls (targets/hubspot, `respond … via call`);
    # without it HubSpot's "Last contacted" counts any activity: the build says so as a manual step
    built = load_target("hubspot").build(compile_policy(VIA), BuildOptions())
    manifest = json.loads(built.files["manifest.json"])
    assert not [s for s in manifest["manualSteps"] if "mql.respond" in s["clauses"] and s["code"] == "SLA849"]
    assert "OBJECTS = ('calls',)" in built.files["workflows/mql.respond.json"].decode("utf-8")
    without = BuildOptions(hubspot=HubSpotSettings(custom_code=False))
    built = load_target("hubspot").build(compile_policy(VIA), without)
    manifest = json.loads(built.files["manifest.json"])
    (step,) = [s for s in manifest["manualSteps"] if "mql.respond" in s["clauses"] and s["code"] == "SLA849"]
    assert step["clauses"] == ["mql.escalate.respond", "mql.respond"]  # the escalation waits for the same call
    assert step["code"] == "SLA849" and "must be a call" in step["step"]
    assert not [s for s in json.loads(load_target("hubspot").build(compile_policy(VIA.replace(" via call", "")),
                                                                   without).files["manifest.json"])
                ["manualSteps"] if "mql.respond" in s["clauses"] and s["code"] == "SLA849"]


# ------------------------------------------------------------------ 19.11 a channel chosen by the lead's behaviour

# seed 001: 電話 or メール(コンタクトの行動履歴に応じて選択) — a lead that viewed the pricing page is
# called, any other lead may be e-mailed
CHOICE = VIA.replace('property outcome "Outcome" enum ["good", "poor"]\n',
                     'property outcome "Outcome" enum ["good", "poor"]\nevent pricing_page_view "Pricing page view"\n'
                     ).replace("respond within 4bh via call target 2bh",
                               "respond within 4bh via call when pricing_page_view, email otherwise target 2bh")


def test_the_channel_of_a_response_follows_the_leads_behaviour_at_stage_entry():
    # created Wednesday 15:00: SLO due Wednesday 17:00, SLA due Thursday 10:00 (as in VIA above)
    viewed = ev(at(15, 15), "lead_created", stage="mql", events={"pricing_page_view": 1})
    not_viewed = ev(at(15, 15), "lead_created", stage="mql")
    email = ev(at(15, 15, 30), "activity_logged", activity="email")
    call = ev(at(15, 15, 30), "activity_logged", activity="call")
    # viewed pricing: must be called; an e-mail leaves the deadline open until it is breached
    d = deadline(run([viewed, email], CHOICE, until=at(16, 12)), "mql.respond")
    assert (d["due"], d["status"], d.get("at")) == (at(16, 10), "breached", None)
    assert [(e["clause"], e["at"]) for e in lead(run([viewed, email], CHOICE, until=at(16, 12)))["escalations"]] == [
        ("mql.escalate.respond", at(16, 10))]
    d = deadline(run([viewed, call], CHOICE, until=at(16, 12)), "mql.respond")
    assert (d["status"], d["at"]) == ("met", at(15, 15, 30))
    # did not view pricing: an e-mail meets it, and a call does not (the `otherwise` is `email`)
    d = deadline(run([not_viewed, email], CHOICE, until=at(16, 12)), "mql.respond")
    assert (d["status"], d["at"]) == ("met", at(15, 15, 30))
    d = deadline(run([not_viewed, call], CHOICE, until=at(16, 12)), "mql.respond")
    assert (d["status"], d.get("at")) == ("breached", None)
    # the choice is made at stage entry: viewing pricing after entering does not change it
    later_view = ev(at(15, 15, 10), "event_occurred", event="pricing_page_view", count=1)
    d = deadline(run([not_viewed, later_view, email], CHOICE, until=at(16, 12)), "mql.respond")
    assert (d["status"], d["at"]) == ("met", at(15, 15, 30))
    # first matching branch wins: a lead meeting both conditions is held to the first one's channel
    two = CHOICE.replace("via call when pricing_page_view, email otherwise",
                         "via call when pricing_page_view, meeting when pricing_page_view, email otherwise")
    d = deadline(run([viewed, ev(at(15, 15, 30), "activity_logged", activity="meeting")], two, until=at(16, 12)),
                 "mql.respond")
    assert d["status"] == "breached"


def test_a_channel_choice_in_lowering_document_diff_fmt_fixtures_and_hubspot():
    import json

    from sla_lang.fmt import format_text
    from sla_lang.targets import BuildOptions, load_target
    from sla_lang.targets.fixtures import generate_fixtures

    respond = compile_policy(CHOICE).stages[0].deadline("respond")
    assert respond.channel_choices == (("pricing_page_view", ("call",)), (None, ("email",)))
    # every lead needs a channel: without `otherwise` it is an error at the `via`, with file:line:col
    for missing in ("via call when pricing_page_view, email", "via call when pricing_page_view"):
        (d,) = [d for d in compile_text(CHOICE.replace("via call when pricing_page_view, email otherwise", missing),
                                        "p.sla").diagnostics if d.severity.name == "ERROR"]
        assert (d.code, d.span.path, d.span.line, d.span.column) == ("SLA310", "p.sla", 24, 22), missing
        assert "`otherwise`" in d.message
    assert "SLA307" in codes(CHOICE.replace("email otherwise", "slack otherwise"))
    assert "SLA301" in codes(CHOICE.replace("when pricing_page_view,", "when pricing_page_veiw,"))
    en = [c["kind"] for c in prepare_document(compile_policy(CHOICE), "en").section("deadlines").clauses]
    # (a bare event reads as the condition renderer says it everywhere else: "Pricing page view")
    assert en == ["first response by phone call if Pricing page view, otherwise by email "
                  "(decided by the lead's data when it enters the stage)"]
    ja = [c["kind"] for c in prepare_document(compile_policy(CHOICE), "ja").section("deadlines").clauses]
    assert ja == ["初回対応（Pricing page viewありの場合は電話、それ以外の場合はメールに限る。"
                  "リードがステージに移行した時点のデータで判断する）"]
    # diff: any activity → a choice binds the owner more; e-mail otherwise → call or e-mail otherwise, less;
    # a plain `via call` → the choice: stricter for some leads, looser for others
    assert kinds(VIA.replace(" via call", ""), CHOICE)["deadline.via"] == [("sales", "stricter")]
    assert kinds(CHOICE, CHOICE.replace("email otherwise", "call, email otherwise"))["deadline.via"] == [
        ("sales", "looser")]
    assert kinds(VIA.replace("respond within 4bh via call", "respond within 4bh via call, email"),
                 CHOICE)["deadline.via"] == [("sales", "stricter")]
    assert kinds(VIA, CHOICE)["deadline.via"] == [("sales", "unclear")]
    assert "deadline.via" not in kinds(VIA, VIA.replace("via call", "via call when outcome == \"good\", call otherwise"))
    messy = CHOICE.replace("respond within 4bh via call when pricing_page_view, email otherwise target 2bh",
                           "respond within 4bh target 2bh via  call   when pricing_page_view,email  otherwise")
    formatted = format_text(messy)
    assert "  respond within 4bh via call when pricing_page_view, email otherwise target 2bh\n" in formatted
    assert format_text(formatted) == formatted
    # the fixtures: the ordinary lead (no pricing view) meets it with an e-mail, and not with a call
    scenarios = {s["id"]: s for s in generate_fixtures(compile_policy(CHOICE), None).scenarios["scenarios"]}
    inside, outside = scenarios["mql.respond@via:inside"], scenarios["mql.respond@via:outside"]
    assert [e.get("activity") for e in inside["timeline"] if e["type"] == "activity_logged"] == ["email"]
    assert [e.get("activity") for e in outside["timeline"] if e["type"] == "activity_logged"] == ["call"]
    def status(scenario):
        return next(d["status"] for d in scenario["expect"]["deadlines"] if d["clause"] == "mql.respond")

    # … and every other branch gets its own lead: one that viewed pricing before it entered MQL, held
    # to a call (a call a minute after entry is met; an e-mail then is breached at Thursday 10:00)
    viewer_in, viewer_out = scenarios["mql.respond@via:1:inside"], scenarios["mql.respond@via:1:outside"]
    for scenario, activity, status_ in ((viewer_in, "call", "met"), (viewer_out, "email", "breached")):
        assert scenario["lead"]["stage"] == "mql" and scenario["lead"]["events"] == {"pricing_page_view": 1}
        assert [e.get("activity") for e in scenario["timeline"] if e["type"] == "activity_logged"] == [activity]
        assert status(scenario) == status_
    assert status(inside) == "met" and status(outside) == "breached"
    coverage = {b["id"]: b for b in generate_fixtures(compile_policy(CHOICE), None).coverage["boundaries"]}
    assert coverage["mql.respond@via"]["description"] == "`respond within 4bh via email otherwise`"
    assert coverage["mql.respond@via:1"]["description"] == "`respond within 4bh via call when pricing_page_view`"
    assert all(coverage[b]["sides"]["inside"] and coverage[b]["sides"]["outside"]
               for b in ("mql.respond@via", "mql.respond@via:1"))
    # three branches on the same event: branch 1 needs 2 views; branch 2 needs 1 and, as the first
    # branch that holds wins, not 2 — so exactly 1; the `otherwise` none
    three = CHOICE.replace("via call when pricing_page_view, email otherwise",
                           "via call when pricing_page_view >= 2, meeting when pricing_page_view >= 1, email otherwise")
    got = {s["id"]: s for s in generate_fixtures(compile_policy(three), None).scenarios["scenarios"]}
    views = {sid: got[sid]["lead"].get("events", {}).get("pricing_page_view", 0)
             for sid in got if sid.startswith("mql.respond@via")}
    assert views["mql.respond@via:inside"] == 0
    assert views["mql.respond@via:1:inside"] >= 2 and views["mql.respond@via:2:inside"] == 1
    assert [e.get("activity") for e in got["mql.respond@via:2:inside"]["timeline"]
            if e["type"] == "activity_logged"] == ["meeting"]
    assert status(got["mql.respond@via:2:inside"]) == "met" and status(got["mql.respond@via:2:outside"]) == "breached"
    # with custom code the monitor chooses the channel at entry and reads that channel's activities
    # (tests/test_hubspot_new_constructs.py replays it); without, a manual step names both branches
    built = load_target("hubspot").build(compile_policy(CHOICE), BuildOptions())
    assert not [s for s in json.loads(built.files["manifest.json"])["manualSteps"]
                if "mql.respond" in s["clauses"] and s["code"] == "SLA849"]
    built = load_target("hubspot").build(compile_policy(CHOICE), BuildOptions(hubspot=HubSpotSettings(custom_code=False)))
    (step,) = [s for s in json.loads(built.files["manifest.json"])["manualSteps"]
               if "mql.respond" in s["clauses"] and s["code"] == "SLA849"]
    assert step["clauses"] == ["mql.escalate.respond", "mql.respond"]
    assert "a call if pricing_page_view" in step["step"] and "otherwise it must be an e-mail" in step["step"]


# ------------------------------------------------------------------ escalation on inactivity (a new user's request)

IDLE = HEADER + '''
property stage_ok "Qualified" bool
property outcome "Outcome" enum ["good", "poor"]
stage lead "Lead" {
  owner marketing
  entry
  -> sql when stage_ok
}
stage sql "SQL" {
  owner sales
  escalate to managers after 10d without activity via email
  -> done when outcome == "poor"
}
stage done "Done" {
  owner sales
  terminal
}
'''


def test_an_inactivity_escalation_counts_from_the_last_activity_in_the_stage():
    def escalations(events):
        return [(e["clause"], e["at"]) for e in lead(run(events, IDLE, until=at(31, 0)))["escalations"]]

    created = ev(at(1, 10), "lead_created", stage="sql")
    # an e-mail on the 5th, a call on the 14th: ten quiet days end on the 24th at 09:00
    assert escalations([created, ev(at(5, 9), "activity_logged", activity="email"),
                        ev(at(14, 9), "activity_logged", activity="call")]) == [("sql.escalate.idle", at(24, 9))]
    # no activity at all: ten days after entering; and only once per stay (nothing on the 21st)
    assert escalations([created]) == [("sql.escalate.idle", at(11, 10))]
    # a call exactly when it is due restarts the count (events come before timers of that minute)
    assert escalations([created, ev(at(11, 10), "activity_logged", activity="call")]) == [
        ("sql.escalate.idle", at(21, 10))]
    # an activity in the previous stage does not count: the count starts on entering SQL (2nd)
    assert escalations([ev(at(1, 10), "lead_created"), ev(at(1, 12), "activity_logged", activity="call"),
                        ev(at(2, 10), "property_changed", property="stage_ok", value=True)]) == [
        ("sql.escalate.idle", at(12, 10))]
    # leaving the stage before it is due: no escalation
    assert escalations([created, ev(at(10, 10), "property_changed", property="outcome", value="poor")]) == []


def test_an_inactivity_escalation_in_lowering_document_diff_fixtures_and_hubspot():
    import json

    from sla_lang.targets import BuildOptions, load_target
    from sla_lang.targets.fixtures import generate_fixtures

    policy = compile_policy(IDLE)
    (e,) = policy.stage_by_id["sql"].escalations
    assert (e.clause_id, e.idle, e.on, e.guard, e.after.text) == ("sql.escalate.idle", True, None, "idle", "10d")
    assert "SLA101" in codes(IDLE.replace("without activity", "on respond without activity"))
    doc = prepare_document(policy, "en").section("escalation").clauses
    assert [(c["on"], c["after"]) for c in doc] == [
        ("no activity", "10 days since the last call, email or meeting (or since entering the stage)")]
    ja = prepare_document(policy, "ja").section("escalation").clauses
    assert [(c["on"], c["after"]) for c in ja] == [("活動なし", "最後の電話・メール・面談（ない場合はステージへの移行）から10日")]
    added = kinds(IDLE.replace("  escalate to managers after 10d without activity via email\n", ""), IDLE)
    assert added == {"escalation": [("sales", "stricter"), ("managers", "stricter")]}
    assert kinds(IDLE, IDLE.replace("after 10d without", "after 5d without")) == {
        "escalation.after": [("sales", "stricter"), ("managers", "stricter")]}
    # from "no activity" to "time in the stage": another obligation, neither simply stricter nor looser
    assert kinds(IDLE, IDLE.replace(" without activity", "")) == {
        "escalation.on": [("sales", "unclear"), ("managers", "unclear")]}
    scenarios = {s["id"]: s for s in generate_fixtures(policy, None).scenarios["scenarios"]}
    inside, outside = scenarios["sql.escalate.idle@after:inside"], scenarios["sql.escalate.idle@after:outside"]
    assert (inside["expect"]["escalations"], [x["clause"] for x in outside["expect"]["escalations"]]) == (
        [], ["sql.escalate.idle"])
    built = load_target("hubspot").build(policy, BuildOptions())
    manifest = json.loads(built.files["manifest.json"])
    # workflows count from the last activity (tests/test_hubspot_new_constructs.py replays them)
    assert not [s for s in manifest["manualSteps"] if "sql.escalate.idle" in s["clauses"] and s["code"] == "SLA849"]
    assert sorted(w["file"] for w in manifest["workflows"] if "sql.escalate.idle" in w["clauses"]) == [
        "workflows/sql.idle.anchor.json", "workflows/sql.idle.json"]


# ------------------------------------------------------------------ 19.10 follow-ups counted from the first contact

FIRST = HEADER + '''
property outcome "Outcome" enum ["good", "poor"]
stage sal "SAL" {
  owner sales
  entry
  respond within 3d
  follow up 3 times at 0d, 1w, 2w from first contact via call, email
  -> done when outcome == "poor"
}
stage done "Done" {
  owner sales
  terminal
}
'''


def test_follow_ups_count_from_the_first_contact():
    def steps(events, text=FIRST):
        (f,) = lead(run(events, text, until=at(31, 0)))["follow_ups"]
        return f.get("first_contact"), [(s["opens"], s["closes"], s["status"], s.get("at")) for s in f["steps"]]

    created = ev(at(1, 10), "lead_created", stage="sal")
    # a meeting on the 3rd at 11:00 is the first contact (not an attempt: the cadence is by call or
    # e-mail); the windows are a day from it, then the weeks from the 10th and from the 17th
    first, got = steps([created, ev(at(3, 11), "activity_logged", activity="meeting"),
                        ev(at(10, 12), "activity_logged", activity="call")])
    assert first == at(3, 11)
    assert got == [(at(3, 11), at(4, 11), "missed", None), (at(10, 11), at(17, 11), "met", at(10, 12)),
                   (at(17, 11), at(24, 11), "missed", None)]
    # a first contact by call is itself the attempt of the `0d` step
    assert steps([created, ev(at(3, 11), "activity_logged", activity="call")])[1][0] == (
        at(3, 11), at(4, 11), "met", at(3, 11))
    # before any contact no step is open, so none is missed
    (f,) = lead(run([created], FIRST, until=at(31, 0)))["follow_ups"]
    assert (f["required"], f["steps"], "first_contact" in f) == (3, [], False)
    # counted from entering the stage (the default) the same call misses the first day
    assert steps([created, ev(at(3, 11), "activity_logged", activity="call")],
                 FIRST.replace(" from first contact", ""))[1][0] == (at(1, 10), at(2, 10), "missed", None)


def test_follow_ups_from_the_first_contact_in_document_diff_fixtures_and_hubspot():
    import json

    from sla_lang.fmt import format_text
    from sla_lang.targets import BuildOptions, load_target
    from sla_lang.targets.fixtures import generate_fixtures

    policy = compile_policy(FIRST)
    assert policy.stage_by_id["sal"].follow_up.from_first_contact
    assert not compile_policy(FIRST.replace(" from first contact", "")).stage_by_id["sal"].follow_up.from_first_contact
    assert "SLA101" in codes(FIRST.replace("from first contact via call, email", "via call, email from first contact"))
    (row,) = prepare_document(policy, "en").section("follow_up").clauses
    assert row["when"] == "at the first contact, 1 week after the first contact and 2 weeks after the first contact"
    (row,) = prepare_document(policy, "ja").section("follow_up").clauses
    assert row["when"] == "初回接触時、初回接触から1週間後、初回接触から2週間後"
    assert kinds(FIRST.replace(" from first contact", ""), FIRST) == {"follow_up.anchor": [("sales", "looser")]}
    assert kinds(FIRST, FIRST.replace(" from first contact", "")) == {"follow_up.anchor": [("sales", "stricter")]}
    assert "  follow up 3 times at 0d, 1w, 2w from first contact via call, email\n" in format_text(
        FIRST.replace("0d, 1w, 2w from first contact", "0d,1w, 2w   from  first contact"))
    # fixtures: the first contact (a meeting, not an attempt) starts the count; each step's
    # window then holds an attempt a minute before it closes (met) and none (missed)
    scenarios = {s["id"]: s for s in generate_fixtures(policy, None).scenarios["scenarios"]}
    for n in (1, 2, 3):
        inside, outside = scenarios[f"sal.follow_up@step{n}:inside"], scenarios[f"sal.follow_up@step{n}:outside"]
        assert next(e["activity"] for e in inside["timeline"] if e["type"] == "activity_logged") == "meeting"
        assert [s["expect"]["follow_ups"][0]["steps"][n - 1]["status"] for s in (inside, outside)] == ["met", "missed"]
    built = load_target("hubspot").build(policy, BuildOptions())
    manifest = json.loads(built.files["manifest.json"])
    # one workflow, enrolled at the first contact in the stay (tests/test_hubspot_new_constructs.py)
    assert not [s for s in manifest["manualSteps"] if "sal.follow_up" in s["clauses"] and s["code"] == "SLA849"]
    assert [w["file"] for w in manifest["workflows"] if "sal.follow_up" in w["clauses"]] == [
        "workflows/sal.follow_up.json"]


def test_follow_ups_from_the_first_contact_must_fit_before_the_decision():
    """SLA502 counts `from first contact` offsets from the latest first contact that keeps the
    SLA: the `respond` deadline. HEADER's calendar: Monday to Friday, 09:00–18:00 (9-hour days)."""
    def sla502(stage_lines: str, lang: str = "en") -> list[str]:
        text = FIRST.replace("  respond within 3d\n  follow up 3 times at 0d, 1w, 2w from first contact via call, email\n",
                             stage_lines)
        return [d.message.localize(lang) for d in compile_text(text).diagnostics if d.code == "SLA502"]

    # the brief's case: a first contact at the end of `respond within 1bd`, then 5bd: 6 working
    # days after entering, one more than `decide within 5bd` (the old check compared 5bd with 5bd)
    brief = "  respond within 1bd\n  decide within 5bd\n  follow up 3 times at 0d, 3d, 5bd from first contact via call\n"
    assert sla502(brief) == [
        "the last follow-up at `5bd` from the first contact can fall after the decision deadline `5bd`: "
        "a first contact at the response deadline `1bd` is on time, and the lead must have left `sal` by then"]
    assert sla502(brief, "ja") == [
        "初回接触から数える最後のフォローアップ `5bd` が、判断の期限 `5bd`より後になる場合があります。"
        "初回対応の期限 `1bd` ちょうどの初回接触も期限内であり、その時点でリードは `sal` を出ているはずです"]
    # 1bd + 4bd is 5 working days: due with the decision, not after it
    assert sla502(brief.replace("3d, 5bd", "2d, 4bd")) == []
    # counted from entering the stage the same offsets were always accepted (and still are)
    assert sla502(brief.replace(" from first contact", "")) == []
    # mixed units, worked out by hand: entering Monday 00:00, the first contact is due Monday
    # 18:00 (1bd) and the decision Wednesday 18:00 (3bd); 49h after Monday 18:00 is Wednesday
    # 19:00, too late. With 2d the last attempt is at worst exactly at the decision (entering
    # Tuesday 09:00: contact Tuesday 18:00, attempt Thursday 18:00, decision Thursday 18:00)
    mixed = "  respond within 1bd\n  decide within 3bd\n  follow up 2 times at 0d, 49h from first contact via call\n"
    assert sla502(mixed) == [
        "the last follow-up at `49h` from the first contact can fall after the decision deadline `3bd` (e.g. for a lead "
        "entering on Monday 00:00): a first contact at the response deadline `1bd` is on time, and the lead must have "
        "left `sal` by then"]
    assert sla502(mixed.replace("49h", "2d")) == []
    # without a decision deadline, the earliest timeout: 3d + 4w = 31 days after entering > 30d
    timeout = "  respond within 3d\n  follow up 2 times at 0d, 4w from first contact via call\n  -> done after 30d\n"
    assert sla502(timeout) == [
        "the last follow-up at `4w` from the first contact can fall after the timeout `-> done after 30d`: a first "
        "contact at the response deadline `3d` is on time, and the lead must have left `sal` by then"]
    assert sla502(timeout.replace("4w", "3w")) == []
    # without a `respond` deadline: the brief's case again — 5bd from any first contact after the
    # moment of entry is after `decide within 5bd`; a last offset shorter than the decision is
    # not reported (only a first contact late in the stay would push it out: the owner's slip)
    assert sla502(brief.replace("  respond within 1bd\n", "")) == [
        "the last follow-up at `5bd` from the first contact can fall after the decision deadline `5bd`: only a "
        "first contact at the very moment the lead enters `sal` leaves time for it"]
    assert sla502(brief.replace("  respond within 1bd\n", ""), "ja") == [
        "初回接触から数える最後のフォローアップ `5bd` が、判断の期限 `5bd`より後になる場合があります。"
        "間に合うのは、リードが `sal` に入ったその瞬間に初回接触した場合だけです"]
    assert sla502("  decide within 7d\n  follow up 2 times at 0d, 2d from first contact via call\n") == []
    # … and nothing when every attempt is at the first contact itself
    assert sla502("  respond within 5bd\n  decide within 5bd\n  follow up 1 times at 0d from first contact via call\n") == []
    # a first attempt a day after the first contact is no late response: the contact is the response
    assert sla502("  respond within 4h\n  decide within 20bd\n  follow up 2 times at 1d, 2d from first contact via call\n") == []


# ------------------------------------------------------------------ 19.12 a decision deadline spanning stages

SPAN = HEADER + '''
property accepted "Accepted" bool
property intent "Intent" enum ["yes", "no"]
stage mql "MQL" {
  owner sales
  entry
  decide within 5bd through sal
  -> sal when accepted
  -> nurture when intent == "no" and not accepted
}
stage sal "SAL" {
  owner sales
  decide within 10bd
  -> sql when intent == "yes"
  -> nurture when intent == "no"
  -> mql when accepted == false
}
stage sql "SQL" {
  owner sales
  terminal
}
stage nurture "Nurture" {
  owner marketing
  terminal
}
'''


def test_a_decision_spanning_stages_is_made_when_the_lead_leaves_them_all():
    def decisions(*events):
        result = run([ev(at(1, 10), "lead_created", stage="mql"), *events], SPAN, until=at(31, 0))
        return [(d["clause"], d["due"], d["status"], d.get("at")) for d in lead(result)["deadlines"]
                if d["clause"] == "mql.decide"]

    accepted = ev(at(2, 10), "property_changed", property="accepted", value=True)
    # created Wednesday 1st 10:00: five business days end on Wednesday 8th 10:00; moving on to SAL
    # on the 2nd does not make the decision, leaving SAL for SQL does
    assert decisions(accepted, ev(at(7, 10), "property_changed", property="intent", value="yes")) == [
        ("mql.decide", at(8, 10), "met", at(7, 10))]
    assert decisions(accepted, ev(at(9, 10), "property_changed", property="intent", value="yes")) == [
        ("mql.decide", at(8, 10), "breached", at(9, 10))]
    assert decisions(accepted) == [("mql.decide", at(8, 10), "breached", None)]  # still in SAL
    # straight out of MQL (not into SAL): made at once
    assert decisions(ev(at(2, 10), "property_changed", property="intent", value="no")) == [
        ("mql.decide", at(8, 10), "met", at(2, 10))]
    # back to MQL: that decision is cancelled and a new one starts (due Friday 10th)
    assert decisions(accepted, ev(at(3, 10), "property_changed", property="accepted", value=False)) == [
        ("mql.decide", at(8, 10), "cancelled", at(3, 10)), ("mql.decide", at(10, 10), "breached", None)]


def test_a_spanning_decision_in_lowering_document_diff_fmt_fixtures_and_hubspot():
    import json

    from sla_lang.fmt import format_text
    from sla_lang.targets import BuildOptions, load_target
    from sla_lang.targets.fixtures import generate_fixtures

    policy = compile_policy(SPAN)
    assert [n.name for n in policy.stage_by_id["mql"].deadline("decide").through] == ["sal"]
    assert "SLA306" in codes(SPAN.replace("decide within 5bd through sal", "respond within 5bd through sal"))
    assert "SLA306" in codes(SPAN.replace("through sal", "through mql"))
    assert "SLA301" in codes(SPAN.replace("through sal", "through sall"))
    # a span the lead cannot go on into from MQL is reported (SLA214), SAL reached from MQL is not
    assert "SLA214" not in codes(SPAN)
    assert "SLA214" in codes(SPAN.replace("through sal", "through nurture").replace(
        '  -> nurture when intent == "no" and not accepted\n', ""))
    (row, _) = prepare_document(policy, "en").section("deadlines").clauses
    assert row["kind"] == "decision (the lead leaves MQL and SAL)"
    (row, _) = prepare_document(policy, "ja").section("deadlines").clauses
    assert row["kind"] == "判断（MQL、SALからの移行）"
    assert kinds(SPAN.replace(" through sal", ""), SPAN) == {"deadline.through": [("sales", "looser")]}
    assert kinds(SPAN, SPAN.replace(" through sal", "")) == {"deadline.through": [("sales", "stricter")]}
    assert "  decide within 5bd through sal target 3bd\n" in format_text(
        SPAN.replace("decide within 5bd through sal", "decide within 5bd target 3bd  through  sal"))
    # fixtures: on into SAL five minutes after entering MQL, out of SAL exactly when due (met) and
    # a minute later (breached)
    scenarios = {s["id"]: s for s in generate_fixtures(policy, None).scenarios["scenarios"]}
    for side, wanted in (("inside", "met"), ("outside", "breached")):
        scenario = scenarios[f"mql.decide@sla:{side}"]
        assert [v["stage"] for v in scenario["expect"]["stages"]] == ["mql", "sal", "sql"]
        assert next(d["status"] for d in scenario["expect"]["deadlines"] if d["clause"] == "mql.decide") == wanted
    built = load_target("hubspot").build(policy, BuildOptions())
    manifest = json.loads(built.files["manifest.json"])
    # with custom code: MQL's monitor and one for SAL (tests/test_hubspot_new_constructs.py)
    assert not [s for s in manifest["manualSteps"] if "mql.decide" in s["clauses"] and s["code"] == "SLA849"]
    assert sorted(w["file"] for w in manifest["workflows"] if "mql.decide" in w["clauses"]) == [
        "workflows/mql.decide.json", "workflows/mql.decide.through.json"]
    # without: no monitor that stops when the lead leaves MQL claims the decision; a manual step
    manifest = json.loads(load_target("hubspot").build(policy, BuildOptions(
        hubspot=HubSpotSettings(custom_code=False))).files["manifest.json"])
    (step,) = [s for s in manifest["manualSteps"] if s["clauses"] == ["mql.decide"]]
    assert step["code"] == "SLA849" and "while the lead goes on through “SAL”" in step["step"]
    assert not [w for w in manifest["workflows"] if "mql.decide" in w["clauses"]]


# ------------------------------------------------------------------ 19.9 a recurring obligation inside a stage

CADENCE = HEADER + '''
property keen "Keen" bool
event nurture_email "Nurture e-mail"
stage lead "Lead" {
  owner marketing
  entry
  -> nurture when keen == false
}
stage nurture "Nurture" {
  owner marketing
  recycle
  cadence at least 2 nurture_email per month
  -> done when keen
}
stage done "Done" {
  owner sales
  terminal
}
'''


def test_a_cadence_needs_its_events_in_each_month_the_lead_spends_in_the_stage():
    def months(events, until):
        result = run([ev(at(1, 0), "lead_created", stage="nurture"), *events], CADENCE, until=until)
        return [(c["from"], c["to"], c["required"], c["count"], c["status"]) for c in lead(result)["cadences"]]

    def email(when):
        return ev(when, "event_occurred", event="nurture_email", count=1)

    july, august, september = at(1, 0), at(1, 0, month=8), at(1, 0, month=9)
    # the whole of July in nurture: two e-mails meet it, one does not
    assert months([email(at(10, 9)), email(at(24, 9))], august) == [(july, august, 2, 2, "met")]
    assert months([email(at(10, 9))], august) == [(july, august, 2, 1, "missed")]
    # months are calendar months in the calendar's zone (Tokyo): 31 July 23:30 and 1 August
    # 00:30 fall in different months (in UTC both are on 31 July)
    assert months([email(at(10, 9)), email(at(31, 23, 30)), email(at(1, 0, 30, month=8)), email(at(20, 9, month=8))],
                  september) == [(july, august, 2, 2, "met"), (august, september, 2, 2, "met")]
    # leaving on 16 July at 12:00 is 15.5 of July's 31 days: 2 × 15.5 / 31 = exactly 1 e-mail owed
    leave = ev(at(16, 12), "property_changed", property="keen", value=True)
    assert months([email(at(10, 9)), leave], august) == [(july, at(16, 12), 1, 1, "met")]
    assert months([leave], august) == [(july, at(16, 12), 1, 0, "missed")]
    # a minute earlier is under half the month: 2 × (15.5 days - 1 minute) / 31 rounds down to 0
    early = ev(at(16, 11, 59), "property_changed", property="keen", value=True)
    assert months([early], august) == [(july, at(16, 11, 59), 0, 0, "met")]
    # an e-mail after the lead left (now in Done) does not count for its stay in nurture
    assert months([leave, email(at(20, 9))], august) == [(july, at(16, 12), 1, 0, "missed")]
    # entering on 16 July at 12:00 owes the same 1 for the rest of July
    entered_late = run([ev(at(16, 12), "lead_created", stage="nurture"), email(at(31, 9))], CADENCE, until=august)
    assert [(c["from"], c["required"], c["count"], c["status"]) for c in lead(entered_late)["cadences"]] == [
        (at(16, 12), 1, 1, "met")]
    # the month still running when the simulation ends is open, owing what a lead staying to its end owes
    assert months([email(at(10, 9))], at(20, 0)) == [(july, august, 2, 1, "open")]
    # the terminal report says the same, en and ja
    from sla_lang.simulate.report import render_lead_text

    result = run([ev(at(1, 0), "lead_created", stage="nurture"), email(at(10, 9))], CADENCE, until=august)
    assert ("nurture.cadence.nurture_email 2026-07-01 00:00 – 2026-08-01 00:00  1 of 2 nurture_email: missed"
            in render_lead_text(result.sim, lead(result), "en"))
    assert "nurture_email 2回中1回: 未実施" in render_lead_text(result.sim, lead(result), "ja")
    # occurrences are kept per lead only for events a cadence counts
    assert len(result.sim.leads["L1"].event_log) == 1
    quiet = run([ev(at(1, 0), "lead_created", stage="nurture"), email(at(10, 9))],
                CADENCE.replace("  cadence at least 2 nurture_email per month\n", ""), until=august)
    assert quiet.sim.leads["L1"].event_log == [] and "cadences" not in lead(quiet)


def test_a_cadence_in_lowering_document_diff_fmt_fixtures_and_hubspot():
    import json

    from sla_lang.agreement.clauses import clause_sentence
    from sla_lang.fmt import format_text
    from sla_lang.targets import BuildOptions, load_target
    from sla_lang.targets.fixtures import generate_fixtures

    policy = compile_policy(CADENCE)
    stage = policy.stage_by_id["nurture"]
    (c,) = stage.cadences
    assert (c.clause_id, c.minimum.value, c.event.name, c.period, c.owner) == (
        "nurture.cadence.nurture_email", 2, "nurture_email", "month", None)
    assert "SLA301" in codes(CADENCE.replace("2 nurture_email per", "2 nurture_mail per"))
    assert "SLA307" in codes(CADENCE.replace("per month", "per day"))
    assert "SLA306" in codes(CADENCE.replace("at least 2", "at least 0"))
    assert "SLA303" in codes(CADENCE.replace("  cadence at least 2 nurture_email per month\n",
                                             "  cadence at least 2 nurture_email per month\n"
                                             "  cadence at least 1 nurture_email per week\n"))
    # policies without a cadence keep their IR (and so their fingerprint)
    from sla_lang.irjson import policy_to_json
    assert "cadences" not in json.dumps(policy_to_json(compile_policy(CADENCE.replace(
        "  cadence at least 2 nurture_email per month\n", "")), spans=False))
    # the agreement, read: a row of the follow-up section and the clause sentence, en and ja
    (row,) = prepare_document(policy, "en").section("follow_up").clauses
    # the event in the channel column: the narrow attempts column holds only the number (the
    # Japanese PDF wrapped 「ナーチャリングメール」を2回以上 a character or two per line there)
    assert (row["owner"], row["attempts"], row["when"], row["channels"]) == (
        "Marketing", "at least 2", "each calendar month in the stage", "“Nurture e-mail”")
    assert clause_sentence("cadence", policy, (stage, c), "en") == (
        "In “Nurture”, Marketing sends each lead at least 2 × “Nurture e-mail”, each calendar month in the stage.")
    assert clause_sentence("cadence", policy, (stage, c), "ja") == (
        "「Nurture」では、Marketingがステージにいる各暦月、各リードに「Nurture e-mail」を2回以上送る。")
    en = prepare_document(policy, "en").section("follow_up").extra["cadence"]
    assert "rounded down: a lead there for half of a month owes 1 of 2" in en
    ja = prepare_document(policy, "ja").section("follow_up").extra["cadence"]
    assert "切り捨てた回数とする（半月なら2回のうち1回）" in ja
    weekly = compile_policy(CADENCE.replace("per month", "per week"))
    (row,) = prepare_document(weekly, "ja").section("follow_up").clauses
    assert row["when"] == "ステージにいる各週（月曜から日曜）"
    # diff: more e-mails, or as many per week, is stricter for marketing; fewer is looser
    assert kinds(CADENCE, CADENCE.replace("at least 2", "at least 3")) == {"cadence.minimum": [("marketing", "stricter")]}
    assert kinds(CADENCE, CADENCE.replace("at least 2", "at least 1")) == {"cadence.minimum": [("marketing", "looser")]}
    assert kinds(CADENCE, CADENCE.replace("per month", "per week")) == {"cadence.minimum": [("marketing", "stricter")]}
    without = CADENCE.replace("  cadence at least 2 nurture_email per month\n", "")
    assert kinds(without, CADENCE) == {"cadence": [("marketing", "stricter")]}
    assert kinds(CADENCE, without) == {"cadence": [("marketing", "looser")]}
    assert kinds(CADENCE, CADENCE.replace("per month", "per month owner sales"))["cadence.owner"] == [
        ("sales", "stricter"), ("marketing", "looser")]
    assert "  cadence at least 2 nurture_email per month owner sales\n" in format_text(
        CADENCE.replace("  cadence at least 2 nurture_email per month", "  cadence  at least 2  nurture_email per month  owner sales"))
    # fixtures: the first whole month after entering holds 2 e-mails (met) or 1 (missed)
    scenarios = {s["id"]: s for s in generate_fixtures(policy, None).scenarios["scenarios"]}
    for side, count, wanted in (("inside", 2, "met"), ("outside", 1, "missed")):
        scenario = scenarios[f"nurture.cadence.nurture_email@month:{side}"]
        assert sum(1 for e in scenario["timeline"] if e["type"] == "event_occurred") == count
        whole = [p for p in scenario["expect"]["cadences"] if p["required"] == 2]
        assert [(p["count"], p["status"]) for p in whole] == [(count, wanted)]
    # HubSpot without custom code: a manual step names the clause; no generated workflow claims it
    # (with custom code the workflows judge each period: tests/test_hubspot_cadence.py)
    off = BuildOptions(hubspot=HubSpotSettings(custom_code=False))
    manifest = json.loads(load_target("hubspot").build(policy, off).files["manifest.json"])
    (step,) = [s for s in manifest["manualSteps"] if s["clauses"] == ["nurture.cadence.nurture_email"]]
    assert step["code"] == "SLA849" and "at least 2 “Nurture e-mail” per calendar month" in step["step"]
    assert not [w for w in manifest["workflows"] if "nurture.cadence.nurture_email" in w["clauses"]]
    # the step is precise: the send adds 1 to a counter the build creates, whose history
    # `sla report --from hubspot` reads per period (tests/test_report_cadence.py)
    assert "adding 1 to the number property `nurture_email`" in step["step"]
    assert "`sla report --from hubspot --period <that calendar month>`" in step["step"]
    files = load_target("hubspot").build(policy, off).files
    counter = json.loads(files["properties/nurture_email.json"])
    assert (counter["type"], counter["fieldType"]) == ("number", "number")
    ja = json.loads(load_target("hubspot").build(policy, BuildOptions(lang="ja", hubspot=off.hubspot)).files["manifest.json"])
    (step,) = [s for s in ja["manualSteps"] if s["clauses"] == ["nurture.cadence.nurture_email"]]
    assert "数値プロパティー `nurture_email` に1を加えてください" in step["step"]


# ------------------------------------------------------------------ 19 (new user) deadlines in sequence

SEQ = HEADER + '''
property outcome "Outcome" enum ["good", "poor"]
stage sal "SAL" {
  owner sales
  entry
  respond within 1bd via call target 4bh
  then follow up 3 times within 2bd via call, email target 1bd
  then decide within 1bd
  escalate to managers after 1bd on respond via email
  escalate to managers after 2bd on step 2 via email
  escalate to managers after 1bd on step 3 via email
  -> won when outcome == "good"
  -> lost when outcome == "poor"
}
stage won "Won" {
  owner sales
  terminal
}
stage lost "Lost" {
  owner sales
  terminal
}
'''


def test_each_step_of_a_sequence_counts_from_the_moment_the_step_before_it_is_done():
    """Hand-computed on the office calendar (Mon–Fri 09:00–18:00, 1bd = 9 business hours, JP
    holidays: Monday 20 July 2026 is Marine Day). Created Thursday 16 July 15:00:
    step 1 (`respond within 1bd`): 3h on Thursday + 6h on Friday → due Fri 17 15:00 (SLO 4bh: Fri 10:00).
    Step 2 (`within 2bd` = 18h) from Fri 15:00: 3h Friday, Monday off, 9h Tuesday, 6h Wednesday →
    due Wed 22 15:00 (SLO 1bd = 9h: 3h Friday + 6h Tuesday → Tue 21 15:00).
    Step 3 (`decide within 1bd`) from Wed 22 15:00: 3h Wednesday + 6h Thursday → Thu 23 15:00."""
    created = ev(at(16, 15), "lead_created", stage="sal")
    accepted = ev(at(17, 15), "activity_logged", activity="call")  # just in time (after the SLO)
    tries = [ev(at(21, 10), "activity_logged", activity="email"), ev(at(21, 11), "activity_logged", activity="call")]
    third = ev(at(22, 15), "activity_logged", activity="email")  # just in time
    left = ev(at(23, 15), "property_changed", property="outcome", value="good")  # just in time
    r = run([created, accepted, *tries, third, left], SEQ, until=at(24, 12))
    one, two, three = (deadline(r, c) for c in ("sal.respond", "sal.step2", "sal.step3"))
    assert (one["due"], one["target_due"], one["status"], one["at"]) == (at(17, 15), at(17, 10), "at_risk", at(17, 15))
    assert (two["entered"], two["due"], two["target_due"], two["status"], two["at"]) == (
        at(17, 15), at(22, 15), at(21, 15), "at_risk", at(22, 15))
    # the call that accepted the lead is step 1's, not one of step 2's three attempts
    assert (two["step"], two["attempts"], two["required"]) == (2, 3, 3)
    assert (three["entered"], three["due"], three["status"], three["at"]) == (at(22, 15), at(23, 15), "met", at(23, 15))
    assert lead(r)["escalations"] == []

    # step 1 a minute late: breached at its due time (and escalated then); step 2 starts at the
    # late call with its whole window: due Wed 22 15:01
    late_accept = ev(at(17, 15, 1), "activity_logged", activity="call")
    r = run([created, late_accept], SEQ, until=at(24, 12))
    one, two = deadline(r, "sal.respond"), deadline(r, "sal.step2")
    assert (one["status"], one["at"]) == ("breached", at(17, 15, 1))
    assert (two["entered"], two["due"], two["status"], two["attempts"]) == (at(17, 15, 1), at(22, 15, 1), "breached", 0)
    assert [(e["clause"], e["at"]) for e in lead(r)["escalations"]] == [
        ("sal.escalate.respond", at(17, 15)), ("sal.escalate.step2", at(22, 15, 1))]
    assert [d["clause"] for d in lead(r)["deadlines"]] == ["sal.respond", "sal.step2"]  # step 3 never started

    # step 2 a minute late: breached at Wed 15:00 (escalated then); done at 15:01, which starts step 3
    # (due Thu 23 15:01); leaving at 15:02 is late for step 3
    r = run([created, accepted, *tries, ev(at(22, 15, 1), "activity_logged", activity="email"),
             ev(at(23, 15, 2), "property_changed", property="outcome", value="poor")], SEQ, until=at(24, 12))
    two, three = deadline(r, "sal.step2"), deadline(r, "sal.step3")
    assert (two["status"], two["at"], two["attempts"]) == ("breached", at(22, 15, 1), 3)
    assert (three["entered"], three["due"], three["status"], three["at"]) == (
        at(22, 15, 1), at(23, 15, 1), "breached", at(23, 15, 2))
    assert [(e["clause"], e["at"]) for e in lead(r)["escalations"]] == [
        ("sal.escalate.step2", at(22, 15)), ("sal.escalate.step3", at(23, 15, 1))]

    # only the `via` kinds count: a meeting is not an attempt; step 1 never done → no step 2 at all
    r = run([created, accepted, *tries, ev(at(22, 14), "activity_logged", activity="meeting")], SEQ, until=at(24, 12))
    assert (deadline(r, "sal.step2")["status"], deadline(r, "sal.step2")["attempts"]) == ("breached", 2)
    r = run([created, ev(at(17, 14), "activity_logged", activity="email")], SEQ, until=at(24, 12))
    assert [d["clause"] for d in lead(r)["deadlines"]] == ["sal.respond"]
    assert [e["clause"] for e in lead(r)["escalations"]] == ["sal.escalate.respond"]

    # leaving the stage ends the sequence: the running step is cancelled, nothing after it starts
    r = run([created, accepted, tries[0], ev(at(21, 12), "property_changed", property="outcome", value="good")],
            SEQ, until=at(24, 12))
    assert (deadline(r, "sal.step2")["status"], deadline(r, "sal.step2")["at"]) == ("cancelled", at(21, 12))
    assert [d["clause"] for d in lead(r)["deadlines"]] == ["sal.respond", "sal.step2"]
    assert lead(r)["escalations"] == []


def test_a_sequence_in_lowering_checks_document_diff_fmt_fixtures_and_hubspot():
    import json

    from sla_lang.fmt import format_text
    from sla_lang.targets import BuildOptions, load_target
    from sla_lang.targets.fixtures import generate_fixtures

    policy = compile_policy(SEQ)
    (stage, *_) = policy.stages
    two, three = stage.steps
    assert (two.number, two.kind, two.required, two.meets, two.within.text, two.target.text, two.clause_id) == (
        2, "follow_up", 3, ("call", "email"), "2bd", "1bd", "sal.step2")
    assert (three.kind, three.required, three.clause_id) == ("decide", 0, "sal.step3")
    assert [(e.on, e.clause_id) for e in stage.escalations] == [
        ("respond", "sal.escalate.respond"), ("step2", "sal.escalate.step2"), ("step3", "sal.escalate.step3")]
    # policies without a sequence keep their IR (and fingerprint): the field is left out
    from sla_lang.irjson import policy_to_json

    assert "steps" not in json.dumps(policy_to_json(compile_policy(VIA)))
    assert '"steps"' in json.dumps(policy_to_json(policy))

    # checks: a step following nothing, a step after `then decide`, a step a timeout always cuts short
    assert "SLA515" in codes(SEQ.replace("  respond within 1bd via call target 4bh\n", "").replace(
        "  escalate to managers after 1bd on respond via email\n", ""))
    after_decide = SEQ.replace("  then decide within 1bd\n", "  then decide within 1bd\n  then respond within 1bd\n")
    (d,) = [d for d in compile_text(after_decide, "p.sla").diagnostics if d.code == "SLA515"]
    assert (d.span.line, d.span.column) == (26, 3) and "can never start" in d.message
    assert "SLA515" in codes(SEQ.replace('-> lost when outcome == "poor"', "-> lost after 1bd"))
    assert "SLA515" not in codes(SEQ.replace('-> lost when outcome == "poor"', "-> lost after 3bd"))
    (d,) = [d for d in compile_text(SEQ.replace("then decide within 1bd", "then decide within 0h"), "p.sla").diagnostics
            if d.code == "SLA515"]  # shorter than nothing: due the moment it starts
    assert (d.span.line, d.span.column) == (25, 22) and "due the moment it starts" in d.message
    # an escalation on a step that does not exist; `on step 1` is `on respond`
    assert "SLA505" in codes(SEQ.replace("on step 3", "on step 4"))
    assert "SLA306" in codes(SEQ.replace("on step 3", "on step 1"))
    assert "SLA306" in codes(SEQ.replace("then decide within 1bd", "then decide within 1bd via call"))
    assert "SLA515" not in codes(SEQ) and "SLA505" not in codes(SEQ)

    # the agreement: steps right after their step 1, and what starts each clock (en and ja)
    rows = [(c["id"], c["kind"], c["sla"], c["slo"]) for c in prepare_document(policy, "en").section("deadlines").clauses]
    assert rows == [
        ("sal.respond", "first response by phone call only (step 1)", "1 business day", "4 business hours"),
        ("sal.step2", "step 2: 3 attempts by phone call or email, counted from when step 1 is done",
         "2 business days", "1 business day"),
        ("sal.step3", "step 3: decision, counted from when step 2 is done", "1 business day", ""),
    ]
    section = prepare_document(policy, "en").section("deadlines")
    assert section.extra["sequence"].startswith("A step (“step 2”, “step 3” …) is a deadline in sequence: its time "
                                                "counts from the moment the step before it is done")
    assert "If a step is done late, the next step starts when it is done, with its full time" in section.extra["sequence"]
    ja = prepare_document(policy, "ja").section("deadlines")
    assert [c["kind"] for c in ja.clauses][1:] == [
        "ステップ2：電話またはメールによる3回の対応（ステップ1が済んだ時点から数える）",
        "ステップ3：判断（ステップ2が済んだ時点から数える）"]
    assert "ステップが遅れて済んだ場合、次のステップはそれが済んだ時点から" in ja.extra["sequence"]
    escalations = prepare_document(policy, "en").section("escalation").clauses
    assert [(c["on"], c["after"]) for c in escalations][1:] == [
        ("step 2", "2 business days from the start of step 2"), ("step 3", "1 business day from the start of step 3")]

    # diff: less time / more attempts / fewer kinds → stricter for the step's owner; a step added
    # stricter, removed looser; the before/after sentences say when the clock starts
    assert kinds(SEQ, SEQ.replace("then follow up 3 times within 2bd", "then follow up 3 times within 1bd"))[
        "step.within"] == [("sales", "stricter")]
    assert kinds(SEQ, SEQ.replace("then follow up 3 times", "then follow up 4 times"))["step.attempts"] == [
        ("sales", "stricter")]
    assert kinds(SEQ, SEQ.replace("via call, email target 1bd", "via call target 1bd"))["step.via"] == [
        ("sales", "stricter")]
    assert kinds(SEQ, SEQ.replace("via call, email target 1bd", "target 1bd"))["step.via"] == [("sales", "looser")]
    without = SEQ.replace("  then decide within 1bd\n", "").replace(
        "  escalate to managers after 1bd on step 3 via email\n", "")
    assert kinds(without, SEQ)["step"] == [("sales", "stricter")]
    assert kinds(SEQ, without)["step"] == [("sales", "looser")]
    change = next(c for c in diff_policies(compile_policy(SEQ), compile_policy(SEQ.replace(
        "then follow up 3 times", "then follow up 4 times")), "p.sla", "p.sla").changes if c.kind == "step.attempts")
    assert change.clause_id == "sal.step2"

    # fmt: the steps go right after `respond`, in their order, options in the canonical order
    shuffled = SEQ.replace("  respond within 1bd via call target 4bh\n", "").replace(
        "  then decide within 1bd\n", "  then decide within 1bd\n  respond within 1bd target 4bh via call\n").replace(
        "then follow up 3 times within 2bd via call, email target 1bd", "then  follow up 3 times within 2bd target 1bd via call,email")
    formatted = format_text(shuffled)
    assert format_text(formatted) == formatted
    assert "  respond within 1bd via call target 4bh\n  then follow up 3 times within 2bd via call, email target 1bd\n" \
           "  then decide within 1bd\n" in formatted
    def steps(text):
        return [(s.number, s.kind, s.required, s.within.text, s.meets, s.target.text if s.target else None)
                for s in compile_policy(text).stages[0].steps]

    assert steps(formatted) == steps(SEQ)

    # fixtures: each step exactly when due and a minute late, also after the step before was late
    fixtures = generate_fixtures(policy, None)
    scenarios = {s["id"]: s for s in fixtures.scenarios["scenarios"]}
    for boundary in ("sal.step2@sla", "sal.step2@after-late", "sal.step3@sla", "sal.step3@after-late"):
        for side, wanted in (("inside", "at_risk" if "step2" in boundary else "met"), ("outside", "breached")):
            expect = scenarios[f"{boundary}:{side}"]["expect"]["deadlines"]
            clause = boundary.split("@")[0]
            assert [d["status"] for d in expect if d["clause"] == clause] == [wanted], (boundary, side)
    late = scenarios["sal.step2@after-late:inside"]["expect"]["deadlines"]
    one, two = (next(d for d in late if d["clause"] == c) for c in ("sal.respond", "sal.step2"))
    assert one["status"] == "breached" and two["entered"] == one["at"]  # step 2 counts from the late call
    covered = {b["id"]: b for b in fixtures.coverage["boundaries"]}
    assert all(covered[f"sal.escalate.step{n}@after"]["sides"]["outside"] for n in (2, 3))

    # HubSpot: workflows claim every step and escalation on a step; a manual step says what they
    # cannot tell (a call from an e-mail: `via call, email` is any activity to "Last contacted")
    manifest = json.loads(load_target("hubspot").build(policy, BuildOptions()).files["manifest.json"])
    claimed = {c for w in manifest["workflows"] for c in w["clauses"]}
    assert {"sal.step2", "sal.step3", "sal.escalate.step2", "sal.escalate.step3"} <= claimed
    (step,) = [s for s in manifest["manualSteps"] if "sal.step2" in s["clauses"] and s["code"] == "SLA849"]
    assert sorted(step["clauses"]) == ["sal.escalate.step2", "sal.step2"]
    assert "Step 2 in “SAL”: 3 attempts within 2 business days of the step before it being done, each a call or " \
           "an e-mail." in step["step"]
    assert not [s for s in manifest["manualSteps"] if "sal.step3" in s["clauses"] and s["code"] == "SLA849"]


def test_the_hubspot_workflows_of_a_sequence_do_what_the_agreement_says():
    """Replayed through the executable HubSpot model (targets/hubspot/emulate.py): the generated
    fixtures (each step just in time and just late, after its predecessor on time and late) and
    the hand-computed stories of the first test give the agreement's verdicts, breach moments and
    escalations: 0 divergences. Two mutations of the build are caught."""
    import copy

    from sla_lang.config import HubSpotSettings, TeamMapping
    from sla_lang.simulate.hubspot import HubSpotBundle, HubSpotReplay, build_bundle
    from sla_lang.targets import BuildOptions
    from sla_lang.targets.fixtures import generate_fixtures

    policy = compile_policy(SEQ)
    settings = HubSpotSettings(teams=tuple((team.id, TeamMapping(str(9000 + i), (str(100 * i + 1), str(100 * i + 2))))
                                           for i, team in enumerate(policy.teams)))
    bundle, _ = build_bundle(policy, BuildOptions(hubspot=settings))
    flows = {f["file"] for f in bundle.manifest["workflows"]}
    assert {"workflows/sal.step2.start.json", "workflows/sal.step2.attempts.json", "workflows/sal.step2.due.json",
            "workflows/sal.step2.target.json", "workflows/sal.step2.escalate.json", "workflows/sal.step3.due.json",
            "workflows/sal.step3.escalate.json"} <= flows
    manual = {c for s in bundle.manifest["manualSteps"] if s["code"] == "SLA849" for c in s["clauses"]}
    assert {"sal.step2", "sal.escalate.step2"} <= manual  # `via call, email`: any activity counts in HubSpot

    def story(name, timeline):
        return {"id": name, "lead": {"id": "X", "created": at(16, 15), "stage": "sal"}, "timeline": timeline,
                "until": at(24, 12), "expect": {}}

    def act(when, kind="call"):
        return {"at": when, "type": "activity_logged", "activity": kind}

    def leave(when, value):
        return {"at": when, "type": "property_changed", "properties": {"outcome": value}}

    tries = [act(at(21, 10), "email"), act(at(21, 11))]
    stories = [
        story("all in time", [act(at(17, 15)), *tries, act(at(22, 15), "email"), leave(at(23, 15), "good")]),
        story("step 1 late", [act(at(17, 15, 1))]),
        story("step 2 late, step 3 late", [act(at(17, 15)), *tries, act(at(22, 15, 1), "email"),
                                           leave(at(23, 15, 2), "poor")]),
        story("never taken up", []),
        story("left during step 2", [act(at(17, 15)), tries[0], leave(at(21, 12), "good")]),
    ]
    scenarios = generate_fixtures(policy, None).scenarios["scenarios"] + stories

    def divergences(files):
        replay = HubSpotReplay(policy, HubSpotBundle(files))
        return {(s["id"], d.what, d.clause) for s in scenarios for d in replay.check(s).divergences}

    found = divergences(bundle.files)
    assert found == set()

    def mutated(file, change):
        files = copy.deepcopy(bundle.files)
        change(files[file])
        return files

    # step 2's deadline counted from entering the stage (what `follow up … within` would mean
    # without the sequence): breaches flagged a day early
    def from_entry(body):
        code = next(a for a in body["actions"] if a["type"] == "CUSTOM_CODE")
        code["inputFields"][0]["value"]["propertyName"] = "sla_stage_entered_at"

    caught = divergences(mutated("workflows/sal.step2.due.json", from_entry)) - found
    assert {(what, clause) for _, what, clause in caught} >= {("breach moment", "sal.step2")}
    # the call that took the lead up counted as one of step 2's attempts: a lead one attempt
    # short is called in time
    def counted(body):
        reset = next(a for a in body["actions"] if a.get("fields", {}).get("property_name") == "sla_sal_step2_attempts")
        reset["fields"]["value"]["staticValue"] = "1"

    caught = divergences(mutated("workflows/sal.step2.start.json", counted)) - found
    assert ("sal.step2@sla:outside", "deadline", "sal.step2") in caught
