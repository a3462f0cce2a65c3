"""Issue 19 §3: defects that went through now have a check each — and each check stays quiet
on the faithful policies and on the near misses a reviewer would accept.

The triggering case of every rule is its fixture (`tests/fixtures/invalid/<CODE>_*.sla`, run by
test_fixtures.py); here are the cases that must *not* fire, and the edges between."""

from __future__ import annotations

from pathlib import Path

import pytest

from sla_lang.compile import compile_path, compile_text

REPO = Path(__file__).resolve().parent.parent
POLICY = (REPO / "policies" / "inside_sales_sal.sla").read_text(encoding="utf-8")
NEW_CODES = ("SLA213", "SLA410", "SLA411", "SLA514", "SLA611", "SLA727", "SLA728")
FAITHFUL = sorted((REPO / "policies").glob("*.sla"))


def codes(text: str, *wanted: str) -> list[tuple[str, int]]:
    result = compile_text(text, path="policy.sla")
    return [(d.code, d.span.line) for d in result.diagnostics if d.code in wanted]


def edit(*pairs: tuple[str, str], text: str = POLICY) -> str:
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


@pytest.mark.parametrize("path", FAITHFUL, ids=lambda p: p.name)
def test_faithful_policies_raise_none_of_the_new_checks(path):
    result = compile_path(path)
    assert [(d.code, d.span.line) for d in result.diagnostics if d.code in NEW_CODES] == []


# ------------------------------------------------------------------ SLA213 recycle-bounce

NURTURE_BACK = '-> mql "Qualifies again" when lead_score >= 100 and (pricing_page_view or case_study_view)'


def test_a_recycle_route_back_without_condition_or_delay_bounces():
    text = edit((NURTURE_BACK, '-> mql "Qualifies again"'))
    assert codes(text, "SLA213", "SLA206") == [("SLA213", line_of(text, '-> mql "Qualifies again"'))]


@pytest.mark.parametrize("route", ['-> mql "Back after a while" after 30d', '-> lead "Start again"'])
def test_a_delayed_route_back_or_one_to_the_entry_stage_is_not_a_bounce(route):
    assert codes(edit((NURTURE_BACK, route)), "SLA213") == []


# ------------------------------------------------------------------ SLA514 deadline-after-timeout


def test_a_deadline_ending_after_an_unconditional_timeout_is_reported():
    text = edit(("decide within 120d\n", "decide within 120d\n  -> closed_lost \"Stale\" after 100d\n"))
    assert codes(text, "SLA514") == [("SLA514", line_of(text, "decide within 120d"))]


@pytest.mark.parametrize("timeout", [
    '-> closed_lost "Stale" after 120d',  # equal: the usual way to enforce the deadline
    '-> closed_lost "Stale" when deal_outcome == "lost" after 100d',  # conditional: not every lead leaves
    '-> closed_lost "Stale" after 200d',
])
def test_timeouts_that_do_not_always_come_first_are_not_reported(timeout):
    assert codes(edit(("decide within 120d\n", f"decide within 120d\n  {timeout}\n")), "SLA514") == []


def test_business_days_against_calendar_days_are_reported_only_when_always_later():
    # 10 business days of the Tokyo calendar last at least 11 days 9 hours (entering on a
    # Monday at opening time: two working weeks end on the second Friday at 18:00)
    sal = "decide within 10bd target 7bd\n"
    assert codes(edit((sal, sal + '  -> nurture "Stale" after 11d record recycle_reason\n')), "SLA514") != []
    # 12 days can outlast 10 business days (that Monday entry): the timeout is not always first
    assert codes(edit((sal, sal + '  -> nurture "Stale" after 12d record recycle_reason\n')), "SLA514") == []


# ------------------------------------------------------------------ SLA611 score-rule-above-group-max

WEBINAR = '+30 "Attended a webinar" when webinar_attended'


def test_a_rule_worth_more_than_its_group_max_is_reported():
    text = edit((WEBINAR, '+90 "Attended a webinar" when webinar_attended'))
    assert codes(text, "SLA611") == [("SLA611", line_of(text, "+90"))]


@pytest.mark.parametrize("rule", [
    '+80 "Attended a webinar" when webinar_attended',  # exactly the cap
    '+10 "Attended a webinar" per webinar_attended',  # per occurrence: the group caps the total
    '+10 "Attended a webinar" per webinar_attended max 80',
])
def test_rules_within_the_cap_are_not_reported(rule):
    assert codes(edit((WEBINAR, rule)), "SLA611") == []


def test_one_occurrence_or_a_rule_max_above_the_cap_is_reported():
    assert codes(edit((WEBINAR, '+90 "Attended a webinar" per webinar_attended')), "SLA611") != []
    assert codes(edit((WEBINAR, '+10 "Attended a webinar" per webinar_attended max 100')), "SLA611") != []


# ------------------------------------------------------------------ SLA727 recycle-without-reason


def test_a_decided_recycle_without_record_is_reported_once_per_transition():
    text = edit(('when is_accepted == false record recycle_reason', 'when is_accepted == false'))
    assert codes(text, "SLA727") == [("SLA727", line_of(text, '-> nurture "Not accepted"'))]


def test_a_timeout_into_the_recycle_stage_needs_no_reason():
    sal = "decide within 10bd target 7bd\n"
    assert codes(edit((sal, sal + '  -> nurture "No decision" after 10bd\n')), "SLA727") == []


# ------------------------------------------------------------------ SLA728 impossible-conversion-kpi


def test_a_conversion_out_of_a_terminal_stage_is_impossible():
    text = edit(("measure rate sql -> opportunity per month", "measure rate customer -> opportunity per month"))
    assert codes(text, "SLA728") == [("SLA728", line_of(text, "measure rate customer"))]


def test_a_conversion_against_the_flow_is_impossible_but_one_through_the_recycle_loop_is_not():
    against = edit(("measure rate sql -> opportunity per month", "measure rate opportunity -> sql per month"))
    assert [c for c, _ in codes(against, "SLA728")] == ["SLA728"]
    # an SQL recycled to nurture can qualify again as an MQL: sql -> mql is possible
    around = edit(("measure rate sql -> opportunity per month", "measure rate sql -> mql per month"))
    assert codes(around, "SLA728") == []


def test_a_misspelt_stage_in_the_flow_does_not_make_a_kpi_impossible():
    text = edit(('-> opportunity "First meeting held" when meeting_held', '-> oportunity "First meeting held" when meeting_held'))
    assert codes(text, "SLA728") == []  # SLA301 says what is wrong, once


# ------------------------------------------------------------------ SLA410 one-sided-handoff-review

ATTENDEES = "attendees marketing, inside_sales, field_sales\n  covers handoff"


def test_a_handoff_review_of_one_party_is_reported():
    text = edit((ATTENDEES, "attendees inside_sales\n  covers handoff"))
    assert codes(text, "SLA410") == [("SLA410", line_of(text, "review weekly_lead_review"))]


def test_a_sub_team_attends_for_its_party():
    # sales_managers is `part of field_sales`: Inside Sales and Field Sales meet
    assert codes(edit((ATTENDEES, "attendees inside_sales, sales_managers\n  covers handoff")), "SLA410") == []


def test_reviews_of_other_topics_are_not_joint_by_nature():
    text = edit(("owner marketing\n  attendees marketing, inside_sales, field_sales\n  covers criteria",
                 "owner marketing\n  attendees marketing\n  covers criteria"))
    assert codes(text, "SLA410") == []


# ------------------------------------------------------------------ SLA411 unaccountable-owner

REVOPS_LEAD = '  lead "Sota Watanabe" title "RevOps Lead"\n'


def test_an_owner_team_without_lead_outside_the_parties_is_reported():
    text = edit((REVOPS_LEAD, ""))
    assert codes(text, "SLA411") == [("SLA411", line_of(text, "team revops"))]


def test_a_team_without_lead_that_is_part_of_a_party_answers_through_it():
    assert codes(edit((REVOPS_LEAD, "  part of marketing\n")), "SLA411") == []


def test_a_team_that_owns_nothing_needs_no_lead():
    text = POLICY + '\nteam events "Events" {\n  role marketing\n}\n'
    assert codes(text, "SLA411") == []
