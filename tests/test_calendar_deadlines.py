"""Business-time deadlines across Golden Week and the New Year closure, worked out by hand.

Japanese public holidays used here (Cabinet Office calendar for 2026/2027):
  2026-04-29 (Wed) Shōwa Day; 2026-05-03 (Sun) Constitution Day; 2026-05-04 (Mon) Greenery Day;
  2026-05-05 (Tue) Children's Day; 2026-05-06 (Wed) substitute holiday for 05-03;
  2027-01-01 (Fri) New Year's Day; 2026-07-20 (Mon) Marine Day.
The answers below are counted on a calendar by hand; they are not outputs of the code.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sla_lang import ir
from sla_lang.businesstime import BusinessCalendar, add_duration
from sla_lang.compile import compile_text
from sla_lang.source import Span

from .simkit import HEADER, ev, lead, run

JST = ZoneInfo("Asia/Tokyo")


def calendar(hours: str = "09:00 to 18:00", closed: str = "") -> BusinessCalendar:
    text = f'''agreement "t" {{
  version "1"
  effective 2026-01-01
}}
calendar office {{
  timezone "Asia/Tokyo"
  days mon, tue, wed, thu, fri
  hours {hours}
  holidays JP
{f"  closed {closed}" if closed else ""}
}}
'''
    result = compile_text(text, checks=False)
    assert result.errors == []
    return BusinessCalendar(result.policy.calendars[0])


def d(text: str) -> ir.Duration:
    amount = int("".join(c for c in text if c.isdigit()))
    return ir.Duration(amount, text.lstrip("0123456789"), Span.point("t"))


def t(y, mo, day, hh, mm=0) -> datetime:
    return datetime(y, mo, day, hh, mm, tzinfo=JST)


def test_golden_week_16_business_hours():
    # Fri 05-01 17:00–18:00 = 1h; 05-02..05-06 off (weekend + three holidays + substitute);
    # Thu 05-07 9h (10h); Fri 05-08 09:00 + 6h = 15:00
    assert add_duration(t(2026, 5, 1, 17), d("16bh"), calendar()) == t(2026, 5, 8, 15)


def test_showa_day_in_the_middle_of_the_week():
    # Tue 04-28 17:30 + 1bd (9h): Tue 0.5h; Wed 04-29 Shōwa Day; Thu 04-30 09:00 + 8.5h = 17:30
    assert add_duration(t(2026, 4, 28, 17, 30), d("1bd"), calendar()) == t(2026, 4, 30, 17, 30)


def test_new_year_closure_with_a_lunch_break():
    cal = calendar("09:00 to 12:00, 13:00 to 18:00", "2026-12-29, 2026-12-30, 2026-12-31, 2027-01-02, 2027-01-03")
    # 2bd = 16bh (8h days). Mon 12-28 17:00–18:00 = 1h; 12-29..31 closed; 01-01 holiday; 01-02/03
    # weekend (and closed); Mon 01-04: 3h + 5h (9h); Tue 01-05: 3h (12h), 13:00 + 4h = 17:00
    assert add_duration(t(2026, 12, 28, 17), d("2bd"), cal) == t(2027, 1, 5, 17)


def test_the_simulator_uses_the_same_arithmetic_for_a_deadline_over_golden_week():
    policy = HEADER + '''
stage mql "MQL" {
  owner marketing
  entry
  respond within 16bh target 8bh
}
'''
    r = run([ev("2026-05-01T17:00:00+09:00", "lead_created", stage="mql"),
             ev("2026-05-08T15:00:00+09:00", "activity_logged", activity="call")], policy)
    (deadline,) = lead(r)["deadlines"]
    # SLO 8bh: Fri 1h, Thu 05-07 09:00 + 7h = 16:00
    assert (deadline["due"], deadline["target_due"], deadline["status"]) == (
        "2026-05-08T15:00:00+09:00", "2026-05-07T16:00:00+09:00", "at_risk")


def test_next_break_finds_the_holidays():
    cal = calendar()
    assert cal.next_break(date(2026, 4, 1)) == (date(2026, 4, 28), (date(2026, 4, 29),))
    assert cal.next_break(date(2026, 4, 30)) == (date(2026, 5, 1), tuple(date(2026, 5, n) for n in range(2, 7)))
    assert cal.next_break(date(2026, 4, 1), with_day_off=False) == (date(2026, 4, 3), (date(2026, 4, 4), date(2026, 4, 5)))
    closed = calendar(closed="2026-12-29, 2026-12-30, 2026-12-31")
    day, off = closed.next_break(date(2026, 12, 1))
    assert day == date(2026, 12, 28) and off[0] == date(2026, 12, 29) and off[-1] == date(2027, 1, 3)


def test_closed_reason_and_working_start():
    cal = calendar(closed="2026-12-29")
    assert [cal.closed_reason(x) for x in (date(2026, 12, 28), date(2026, 12, 29), date(2027, 1, 1),
                                           date(2027, 1, 2))] == [None, "closed", "holiday", "weekend"]
    assert cal.next_working_start(t(2026, 12, 28, 18, 30)) == t(2026, 12, 30, 9)
    assert cal.next_working_start(t(2026, 12, 28, 10)) == t(2026, 12, 28, 10)


def test_holiday_names_follow_the_requested_language():
    cal = calendar()
    assert cal.holiday_name(date(2026, 5, 4), "ja") == "みどりの日"
    assert cal.holiday_name(date(2026, 5, 4), "en") == "Greenery Day"
    assert cal.holiday_name(date(2026, 5, 7), "en") is None
