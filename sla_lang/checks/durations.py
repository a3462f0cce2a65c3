"""Comparing durations in a stage's calendar, memoised per policy.

Two durations that both count from the moment a lead enters a stage are compared:
- both in calendar units (`m`, `h`, `d`, `w`): by length;
- both in business units (`bh`, `bd`, in the stage's calendar): by working time — the
  longer one ends later for every entry time;
- one of each: by wall-clock time over every moment of an ordinary working week (public
  holidays only lengthen business durations), using the shortest and longest wall-clock
  length of the business one (`businesstime.span_bounds`).

A calendar's week shape is computed once per calendar and a business duration's bounds once
per (amount, unit, calendar), so checking thousands of stages that share one calendar costs
little more than checking one.
"""

from __future__ import annotations

from collections.abc import Callable

from ..message import Message
from .. import ir
from ..businesstime import BusinessCalendar, _OrdinaryWeek, business_minutes, span_bounds
from . import CheckContext

_WEEKDAY_NAMES = (Message("Monday"), Message("Tuesday"), Message("Wednesday"), Message("Thursday"), Message("Friday"),
                  Message("Saturday"), Message("Sunday"))


class Durations:
    def __init__(self, policy: ir.Policy) -> None:
        self.policy = policy
        self._calendars: dict[str, BusinessCalendar] = {}
        self._bounds: dict[tuple, tuple[int, int] | None] = {}

    def calendar(self, stage: ir.Stage | None) -> BusinessCalendar | None:
        """The calendar business durations of `stage` count in (see `Policy.calendar_for`)."""
        found = self.policy.calendar_for(stage)
        if found is None:
            return None
        if found.id not in self._calendars:
            self._calendars[found.id] = BusinessCalendar(found)
        return self._calendars[found.id]

    def bounds(self, duration: ir.Duration, calendar: BusinessCalendar | None) -> tuple[int, int] | None:
        """Shortest and longest wall-clock minutes (see `businesstime.span_bounds`)."""
        if not duration.business:
            minutes = duration.minutes or 0
            return minutes, minutes
        key = (duration.amount, duration.unit, calendar.calendar.id if calendar else None)
        if key not in self._bounds:
            self._bounds[key] = span_bounds(duration, calendar)
        return self._bounds[key]

    def ends_later(self, a: ir.Duration, b: ir.Duration, calendar: BusinessCalendar | None, *,
                   factor: int = 1, or_equal: bool = False) -> bool | None:
        """Whether, for some entry time, `a` (from entry) ends later than `factor` × `b` — or
        at the same time too with `or_equal`. None when a business duration has no usable
        calendar."""

        def beyond(x: float, y: float) -> bool:
            return x >= y if or_equal else x > y

        if a.business and b.business:
            if calendar is None or not calendar.minutes_per_day:
                return None
            return beyond(business_minutes(a, calendar), factor * business_minutes(b, calendar))
        if not a.business and not b.business:
            return beyond(a.minutes or 0, factor * (b.minutes or 0))
        a_bounds, b_bounds = self.bounds(a, calendar), self.bounds(b, calendar)
        if a_bounds is None or b_bounds is None:
            return None
        return beyond(a_bounds[1], factor * b_bounds[0])

    def ends_later_after(self, first: ir.Duration, then: ir.Duration, b: ir.Duration,
                         calendar: BusinessCalendar | None) -> tuple[bool, int | None] | None:
        """Whether, for some entry time, `then` counted from the end of `first` (itself counted
        from entry) ends later than `b` (from entry); with the first such entry, in minutes
        since Monday 00:00 of an ordinary week, when the units are mixed. None when a business
        duration has no usable calendar. A later start never ends earlier, so the end of
        `first` is the worst moment for `then` to start."""
        durations = (first, then, b)
        if not any(d.business for d in durations):
            return (first.minutes or 0) + (then.minutes or 0) > (b.minutes or 0), None
        if calendar is None or not calendar.minutes_per_day or not calendar.periods or not calendar.weekdays:
            return None
        if all(d.business for d in durations):  # working time adds up exactly
            return business_minutes(first, calendar) + business_minutes(then, calendar) > business_minutes(b, calendar), None
        key = ("after", *((d.amount, d.unit) for d in durations), calendar.calendar.id)
        if key not in self._bounds:
            self._bounds[key] = _first_entry_ending_later(first, then, b, calendar)
        entry = self._bounds[key]
        return entry is not None, entry

    def example_entry(self, a: ir.Duration, b: ir.Duration, calendar: BusinessCalendar | None) -> Message | str:
        """' (e.g. for a lead entering on Monday 09:00)' when `a` can end after `b` only for
        some entry times (mixed units); '' otherwise."""
        if a.business == b.business:
            return ""
        entry = _extreme_entry(b, calendar, shortest=True) if b.business else _extreme_entry(a, calendar, shortest=False)
        return Message(" (e.g. for a lead entering on {day} {time})", day=entry[0], time=entry[1]) if entry else ""


def entry_example(entry: int | None) -> Message | str:
    """' (e.g. for a lead entering on Monday 09:00)' for a minute of the ordinary week."""
    if entry is None:
        return ""
    day, time = _week_moment(entry)
    return Message(" (e.g. for a lead entering on {day} {time})", day=day, time=time)


def _first_entry_ending_later(first: ir.Duration, then: ir.Duration, b: ir.Duration,
                              calendar: BusinessCalendar) -> int | None:
    # every minute of an ordinary week: the lengths are piecewise linear in the start time with
    # their bends on whole minutes (period edges), so checking each minute is exact; only mixed
    # units come here, once per (durations, calendar)
    week = _OrdinaryWeek(calendar)

    def length(d: ir.Duration) -> Callable[[int], int]:
        if d.business:
            amount = business_minutes(d, calendar)
            return lambda start: week.length_from(start, amount)
        minutes = d.minutes or 0
        return lambda start: minutes

    first_length, then_length, b_length = length(first), length(then), length(b)
    for entry in range(week.WEEK):
        contact = entry + first_length(entry)
        if contact + then_length(contact) > entry + b_length(entry):
            return entry
    return None


def _extreme_entry(business: ir.Duration, calendar: BusinessCalendar | None, shortest: bool) -> tuple[Message, str] | None:
    """The ordinary-week entry time at which a business duration is shortest (or longest)."""
    if calendar is None or not calendar.periods or not calendar.weekdays or not business.business:
        return None
    week = _OrdinaryWeek(calendar)
    amount = business_minutes(business, calendar)
    starts = sorted(set(s % week.WEEK for s in week.critical_starts()))
    pick = min if shortest else max
    start = pick(starts, key=lambda s: (week.length_from(s, amount), s))
    return _week_moment(start)


def _week_moment(minute_of_week: int) -> tuple[str, str]:
    """('Monday', '09:00') for a minute since Monday 00:00 of an ordinary week."""
    day, minute = divmod(minute_of_week, 1440)
    return _WEEKDAY_NAMES[day], f"{minute // 60:02d}:{minute % 60:02d}"


def durations(ctx: CheckContext) -> Durations:
    return ctx.memo("durations", lambda: Durations(ctx.policy))
