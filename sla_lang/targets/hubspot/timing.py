"""How long a duration lasts in wall-clock time, and which years of a calendar HubSpot output
can know about.

A business duration (`bh`, `bd`) has no fixed wall-clock length: `4bh` from Tuesday 10:00 is
four hours, from Friday 17:00 sixty-seven, and longer before a public holiday. Where a workflow
cannot compute the exact due moment (no custom code) it waits a fixed time, and the manifest
states exactly how far the resulting flag can be from the agreement's moment. That needs the
shortest and the longest length the duration takes over every start in the years the build
covers, holidays and time-zone changes included — `span_range`.

Method. Let w₀ < w₁ < … be the working minutes of those years (as real instants). A start s just
after wₖ₋₁ gives the due moment wₖ₊ₙ₋₁ + 1 (n = the duration in working minutes), and the
length is largest for the earliest such s and smallest for the latest, so the extremes lie
among: the opening and the closing moment of every working period, the start whose due moment
is exactly a closing moment, and one minute after that start. Those are evaluated with the
working periods laid out once as intervals of real time with running totals of working
minutes, so each evaluation is a binary search.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

from ... import ir
from ...businesstime import BusinessCalendar, business_minutes, span_bounds

YEARS_COVERED = 2  # years whose holidays a build lists (blocked dates, custom code): the effective year and the next
_MINUTE = timedelta(minutes=1)


def calendar_years(policy: ir.Policy, calendar: ir.Calendar) -> tuple[int, int] | None:
    """(first, last) year whose days off a build knows, or None when the calendar has none to
    know (no `holidays`, no `closed`) — then every year is alike. The first year is the
    agreement's effective year (else the earliest closed date's)."""
    if calendar.holidays is None and not calendar.closed:
        return None
    agreement = policy.agreement
    if agreement and agreement.effective:
        first = agreement.effective.value.year
    elif calendar.closed:
        first = min(d.value.year for d in calendar.closed)
    else:
        return None
    return first, first + YEARS_COVERED - 1


def days_off(business: BusinessCalendar, years: tuple[int, int] | None) -> set[date]:
    """Public holidays and closed dates in `years` (closed dates of any year when None)."""
    dates = set(business.closed_dates)
    if years is not None:
        for year in range(years[0], years[1] + 1):
            dates |= business.holidays_in(year)
        dates = {d for d in dates if years[0] <= d.year <= years[1]}
    return dates


@dataclass
class _Intervals:
    """Working periods of a calendar over some days as real instants, with running totals."""

    starts: list[datetime]
    ends: list[datetime]
    before: list[int]  # working minutes before interval i

    def add(self, start: datetime, minutes: int) -> datetime | None:
        """Like BusinessCalendar.add_working_minutes (None when the intervals run out)."""
        i = bisect.bisect_right(self.ends, start)  # the first interval ending after start
        if i == len(self.ends):
            return None
        into = max(start, self.starts[i])
        target = self.before[i] + _minutes(into - self.starts[i]) + minutes
        j = max(bisect.bisect_left(self.before, target) - 1, i)  # the last interval starting before target
        left = target - self.before[j]
        if left > _minutes(self.ends[j] - self.starts[j]):
            return None
        return self.starts[j] + timedelta(minutes=left)

    def back(self, end: datetime, minutes: int) -> datetime | None:
        """The start whose due moment after `minutes` working minutes is `end` (a closing moment)."""
        i = bisect.bisect_left(self.ends, end)
        if i == len(self.ends) or self.ends[i] != end:
            return None
        target = self.before[i] + _minutes(self.ends[i] - self.starts[i]) - minutes
        if target < 0:
            return None
        j = bisect.bisect_right(self.before, target) - 1
        return self.starts[j] + timedelta(minutes=target - self.before[j])


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


class CalendarSpans:
    """`span_range` for one calendar, its working intervals laid out once."""

    def __init__(self, business: BusinessCalendar, years: tuple[int, int] | None) -> None:
        self.business = business
        self.years = years
        self._memo: dict[int, tuple[int, int] | None] = {}

    @cached_property
    def intervals(self) -> tuple[_Intervals, bool]:
        """The working intervals of the covered days (a representative year when the calendar
        knows no years), and whether every one of them has its nominal length in real time (a
        clock change inside working hours makes it irregular)."""
        business = self.business
        first, last = self.years if self.years is not None else (2026, 2026)
        day = date(first, 1, 1) - timedelta(days=14)
        end_day = date(last, 12, 31) + timedelta(days=60)
        starts, ends, before = [], [], []
        total = 0
        regular = True
        while day <= end_day:
            for start, end in business.working_periods_on(day):
                real_start, real_end = start.astimezone(UTC), end.astimezone(UTC)
                nominal = _minutes(end.replace(tzinfo=None) - start.replace(tzinfo=None))
                if _minutes(real_end - real_start) != nominal:
                    regular = False
                starts.append(real_start)
                ends.append(real_end)
                before.append(total)
                total += nominal
            day += timedelta(days=1)
        return _Intervals(starts, ends, before), regular

    def span_range(self, minutes: int) -> tuple[int, int] | None:
        """Shortest and longest real wall-clock length, in minutes, of `minutes` working minutes
        over every start in the covered years (None without working time)."""
        if minutes in self._memo:
            return self._memo[minutes]
        intervals, regular = self.intervals
        if not intervals.starts:
            self._memo[minutes] = None
            return None
        first = datetime.combine(date(self.years[0], 1, 1) if self.years else date(2026, 1, 1), time(), UTC)
        last = datetime.combine(date(self.years[1] + 1, 1, 1) if self.years else date(2027, 1, 1), time(), UTC)
        candidates: list[datetime] = []
        for start, end in zip(intervals.starts, intervals.ends):
            if not first <= start < last:
                continue
            candidates += [start, end]
            begin = intervals.back(end, minutes)
            if begin is not None:
                candidates += [begin, begin + _MINUTE]
        lengths = []
        for s in candidates:
            if not first <= s < last:
                continue
            if regular:
                due = intervals.add(s, minutes)
            else:
                due = self.business.add_working_minutes(s, minutes).astimezone(UTC)
            if due is not None:
                lengths.append(_minutes(due - s))
        result = (min(lengths), max(lengths)) if lengths else None
        self._memo[minutes] = result
        return result


def duration_range(duration: ir.Duration, spans: CalendarSpans | None) -> tuple[int, int] | None:
    """Shortest and longest wall-clock minutes of `duration` (exact for calendar units)."""
    if not duration.business:
        minutes = duration.minutes or 0
        return minutes, minutes
    if spans is None:
        return None
    if not spans.business.periods or not spans.business.weekdays:
        return None
    result = spans.span_range(business_minutes(duration, spans.business))
    if result is None:
        return span_bounds(duration, spans.business)
    return result


def constant_shift(zone: str, portal: str, years: tuple[int, int]) -> int | None:
    """Minutes to add to a wall-clock time in `zone` to get the same instant's wall-clock time
    in `portal`, when that difference is the same at every moment of `years` (a day either
    side); None when a clock change of one zone that the other does not share moves it (Tokyo
    and New York; not Berlin and London, which change at the same instant)."""
    from .customcode import zone_transitions

    first, last = years
    here, changes_here = zone_transitions(zone, first, last)
    there, changes_there = zone_transitions(portal, first, last)
    offsets_here = {0: here} | {at: after for at, _before, after in changes_here}
    offsets_there = {0: there} | {at: after for at, _before, after in changes_there}
    moments = sorted(set(offsets_here) | set(offsets_there))
    shifts = set()
    current_here, current_there = here, there
    for moment in moments:
        current_here = offsets_here.get(moment, current_here)
        current_there = offsets_there.get(moment, current_there)
        shifts.add(current_there - current_here)
    return shifts.pop() if len(shifts) == 1 else None
