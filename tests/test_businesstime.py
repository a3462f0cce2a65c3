"""Calendar arithmetic, checked against results worked out by hand (not by the code itself).

The calendar is Tokyo, Monday–Friday 09:00–18:00 (9 working hours a day) with Japanese public
holidays. 2026-07-20 is Marine Day (海の日), a Monday; 2026-07-17 is the Friday before it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from sla_lang.businesstime import BusinessCalendar, NoWorkingTime, add_duration, span_bounds
from sla_lang.compile import compile_text

JST = ZoneInfo("Asia/Tokyo")


def calendar(hours="09:00 to 18:00", extra=""):
    text = f'''agreement "t" {{
  version "1"
  effective 2026-01-01
}}
calendar tokyo {{
  timezone "Asia/Tokyo"
  days mon, tue, wed, thu, fri
  hours {hours}
  holidays JP
{extra}}}
'''
    result = compile_text(text)
    assert result.errors == []
    return BusinessCalendar(result.policy.calendars[0])


def duration(text):
    from sla_lang import ir
    from sla_lang.source import Span

    amount = int("".join(c for c in text if c.isdigit()))
    return ir.Duration(amount, text.lstrip("0123456789"), Span.point("t"))


def at(day, hh, mm=0, zone=JST):
    return datetime(2026, 7, day, hh, mm, tzinfo=zone)


def test_friday_1730_plus_24_business_hours_over_a_monday_holiday():
    # Fri 17:30–18:00 = 0.5h; Mon 20 is Marine Day; Tue 9h (9.5); Wed 9h (18.5); Thu 09:00 + 5.5h
    assert add_duration(at(17, 17, 30), duration("24bh"), calendar()) == at(23, 14, 30)


def test_one_business_day_keeps_the_time_of_day():
    # 1bd = 9bh: Fri 0.5h, Mon holiday, Tue 09:00 + 8.5h = 17:30
    assert add_duration(at(17, 17, 30), duration("1bd"), calendar()) == at(21, 17, 30)


def test_lunch_break_is_not_working_time():
    cal = calendar("09:00 to 12:00, 13:00 to 18:00")  # 8h a day
    # Fri 11:00–12:00 (1h) + 13:00–18:00 (5h) = 6h; Mon holiday; Tue 09:00 + 2h = 11:00
    assert add_duration(at(17, 11), duration("8bh"), cal) == at(21, 11)
    # 1bd = 8bh here
    assert add_duration(at(17, 11), duration("1bd"), cal) == at(21, 11)


def test_deadline_ending_at_closing_time_is_due_at_closing_time():
    assert add_duration(at(13, 9), duration("9bh"), calendar()) == at(13, 18)


def test_start_outside_working_hours_starts_counting_at_the_next_opening():
    # Saturday 11th, 10:00 → Monday 13th 09:00 + 1h
    assert add_duration(at(11, 10), duration("1bh"), calendar()) == at(13, 10)


def test_calendar_units_ignore_the_calendar():
    assert add_duration(at(17, 17, 30), duration("24h"), calendar()) == at(18, 17, 30)
    assert add_duration(at(17, 17, 30), duration("2w"), None) == datetime(2026, 7, 31, 17, 30, tzinfo=JST)


def test_company_closed_dates_count_like_holidays():
    cal = calendar(extra="  closed 2026-07-21\n")
    # Fri 0.5h, Mon 20 holiday, Tue 21 closed, Wed 22 09:00 + 8.5h = 17:30
    assert add_duration(at(17, 17, 30), duration("1bd"), cal) == at(22, 17, 30)


def test_start_given_in_another_time_zone():
    utc = ZoneInfo("UTC")
    # 08:30 UTC is 17:30 JST on the same Friday
    assert add_duration(datetime(2026, 7, 17, 8, 30, tzinfo=utc), duration("24bh"), calendar()) == at(23, 14, 30)


def test_business_time_without_a_calendar_is_an_error():
    with pytest.raises(NoWorkingTime):
        add_duration(at(17, 9), duration("1bd"), None)


def test_working_minutes_between():
    cal = calendar()
    assert cal.working_minutes_between(at(17, 17, 30), at(23, 14, 30)) == 24 * 60


def test_span_bounds_of_five_business_days():
    # Shortest: from Monday 09:00 to Friday 18:00 = 4 days 9 hours. Longest: from Friday
    # 18:00 to the next Friday 18:00 = 7 days.
    assert span_bounds(duration("5bd"), calendar()) == ((4 * 24 + 9) * 60, 7 * 24 * 60)
    assert span_bounds(duration("3d"), None) == (3 * 1440, 3 * 1440)
    assert span_bounds(duration("1bd"), None) is None
