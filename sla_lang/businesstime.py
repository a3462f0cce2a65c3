"""Business time: when is a deadline due, given a calendar?

Definitions (the language reference states them too):
- Calendar units (`m`, `h`, `d`, `w`) are wall-clock time: `24h` after Friday 17:30 is
  Saturday 17:30.
- `bh` counts working minutes only: the calendar's `hours` on its `days`, minus public
  holidays of its `holidays` country and its `closed` dates, in its `timezone`.
- `bd` is that many working days' worth of working hours: with 09:00–18:00, `1bd` = `9bh`. So
  a lead arriving Friday 17:30 with `1bd` is due Monday 17:30 — the same time of day one
  working day later.
- A deadline that ends exactly at the close of a working period is due then (18:00), not at
  the next opening.

Public holidays come from the `holidays` package, imported only when a calendar names a
country; checks that only need the shape of a week (`span_bounds`) never import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Iterable
from zoneinfo import ZoneInfo

from . import ir

_WEEKDAY_INDEX = {name: i for i, name in enumerate(ir.WEEKDAYS)}
_MAX_DAYS_SEARCHED = 3 * 366  # a calendar closed for three years is treated as closed for good


class NoWorkingTime(ValueError):
    """The calendar has no working minutes where the computation needs some."""


@dataclass(frozen=True)
class BusinessCalendar:
    """A policy calendar, ready for arithmetic."""

    calendar: ir.Calendar

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.calendar.timezone.value if self.calendar.timezone else "UTC")

    @cached_property
    def weekdays(self) -> frozenset[int]:
        return frozenset(_WEEKDAY_INDEX[d.name] for d in self.calendar.days if d.name in _WEEKDAY_INDEX)

    @cached_property
    def periods(self) -> tuple[tuple[int, int], ...]:
        """Working periods of a day as (start, end) minutes since midnight, sorted and merged."""
        ranges = sorted((h.start.minutes, h.end.minutes) for h in self.calendar.hours if h.end.minutes > h.start.minutes)
        merged: list[tuple[int, int]] = []
        for start, end in ranges:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return tuple(merged)

    @cached_property
    def minutes_per_day(self) -> int:
        return sum(end - start for start, end in self.periods)

    @cached_property
    def closed_dates(self) -> frozenset[date]:
        return frozenset(d.value for d in self.calendar.closed)

    @cached_property
    def _holiday_cache(self) -> dict[int, frozenset[date]]:
        return {}

    def holidays_in(self, year: int) -> frozenset[date]:
        if self.calendar.holidays is None:
            return frozenset()
        cache = self._holiday_cache
        if year not in cache:
            import holidays

            try:
                cache[year] = frozenset(holidays.country_holidays(self.calendar.holidays.name, years=year))
            except NotImplementedError:
                cache[year] = frozenset()
        return cache[year]

    def is_working_day(self, day: date) -> bool:
        return (
            day.weekday() in self.weekdays
            and day not in self.closed_dates
            and day not in self.holidays_in(day.year)
        )

    def holiday_name(self, day: date, language: str | None = None) -> str | None:
        """The public holiday's name, for explanations in fixtures and reports.

        `language` ("en", "ja") picks the name's language when the country's calendar has it;
        without it the `holidays` package follows the process locale, so outputs that must be
        byte-identical pass a language.
        """
        if self.calendar.holidays is None or day not in self.holidays_in(day.year):
            return None
        import holidays

        country = self.calendar.holidays.name
        options: dict[str, str] = {}
        if language:
            supported = holidays.country_holidays(country).supported_languages or ()
            choice = next((s for s in supported if s == language), None) or next(
                (s for s in supported if s.split("_")[0] == language), None)
            if choice is None:
                choice = getattr(holidays.country_holidays(country), "default_language", None)
            if choice:
                options["language"] = choice
        return holidays.country_holidays(country, years=day.year, **options).get(day)

    def closed_reason(self, day: date) -> str | None:
        """Why `day` has no working time: 'weekend', 'holiday', 'closed', or None (a working day)."""
        if day in self.closed_dates:
            return "closed"
        if day.weekday() not in self.weekdays:
            return "weekend"
        if day in self.holidays_in(day.year):
            return "holiday"
        return None

    def working_periods_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working periods of `day` as aware datetimes ([] on a day off)."""
        if not self.is_working_day(day):
            return []
        midnight = datetime.combine(day, time())
        return [(_aware(midnight + timedelta(minutes=b), self.zone), _aware(midnight + timedelta(minutes=e), self.zone))
                for b, e in self.periods]

    def next_working_start(self, at: datetime) -> datetime:
        """The first working moment at or after `at` (`at` itself during working hours)."""
        return self.add_working_minutes(at, 1) - timedelta(minutes=1) if self.working_minutes_between(
            at, at + timedelta(minutes=1)) == 0 else at

    def next_break(self, after: date, *, with_day_off: bool = True) -> tuple[date, tuple[date, ...]] | None:
        """The first working day on or after `after` that is followed by days off.

        Returns (that working day, the days off up to the next working day). With
        `with_day_off`, only breaks that include a public holiday or a closed date on a normal
        working weekday count (Golden Week, New Year, a Monday holiday); None when there is no
        such break within a year, or no working time at all.
        """
        if not self.periods or not self.weekdays:
            return None
        day = after
        for _ in range(_MAX_DAYS_SEARCHED // 3):
            if self.is_working_day(day):
                off = []
                following = day + timedelta(days=1)
                while not self.is_working_day(following) and len(off) < 60:
                    off.append(following)
                    following += timedelta(days=1)
                if off and (not with_day_off or any(self.closed_reason(d) in ("holiday", "closed") for d in off)):
                    return day, tuple(off)
            day += timedelta(days=1)
        return None

    # ------------------------------------------------------------------ arithmetic
    def add_working_minutes(self, start: datetime, minutes: int) -> datetime:
        """The moment `minutes` working minutes after `start` (an aware datetime)."""
        if minutes <= 0:
            return start
        if not self.periods or not self.weekdays:
            raise NoWorkingTime(f"calendar `{self.calendar.id}` has no working hours")
        local = start.astimezone(self.zone).replace(tzinfo=None)
        remaining = timedelta(minutes=minutes)
        day = local.date()
        days_off = 0  # in a row: a long duration may span years, a closed calendar never ends
        while days_off < _MAX_DAYS_SEARCHED:
            days_off += 1
            if self.is_working_day(day):
                days_off = 0
                midnight = datetime.combine(day, time())
                for begin, end in self.periods:
                    period_start = midnight + timedelta(minutes=begin)
                    period_end = midnight + timedelta(minutes=end)
                    if local >= period_end:
                        continue
                    current = max(local, period_start)
                    available = period_end - current
                    if remaining <= available:
                        return _aware(current + remaining, self.zone)
                    remaining -= available
                    local = period_end
            day += timedelta(days=1)
            local = max(local, datetime.combine(day, time()))
        raise NoWorkingTime(f"calendar `{self.calendar.id}` has no working day in {_MAX_DAYS_SEARCHED} days in a row")

    def working_minutes_between(self, start: datetime, end: datetime) -> int:
        """Working minutes in [start, end) (0 when end is not after start)."""
        if end <= start or not self.periods:
            return 0
        a = start.astimezone(self.zone).replace(tzinfo=None)
        b = end.astimezone(self.zone).replace(tzinfo=None)
        total = timedelta()
        day = a.date()
        while day <= b.date():
            if self.is_working_day(day):
                midnight = datetime.combine(day, time())
                for begin, finish in self.periods:
                    lo = max(a, midnight + timedelta(minutes=begin))
                    hi = min(b, midnight + timedelta(minutes=finish))
                    if hi > lo:
                        total += hi - lo
            day += timedelta(days=1)
        return int(total.total_seconds() // 60)

    def add(self, start: datetime, duration: ir.Duration) -> datetime:
        return add_duration(start, duration, self)


def _aware(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone)


def business_minutes(duration: ir.Duration, calendar: BusinessCalendar) -> int:
    """Working minutes a business duration stands for in `calendar`."""
    if duration.unit == "bh":
        return duration.amount * 60
    if duration.unit == "bd":
        return duration.amount * calendar.minutes_per_day
    raise ValueError(f"{duration.text} is not a business duration")


def add_duration(start: datetime, duration: ir.Duration, calendar: BusinessCalendar | None) -> datetime:
    """When a duration that starts at `start` ends. Business units need a calendar."""
    if not duration.business:
        return start + timedelta(minutes=duration.minutes or 0)
    if calendar is None:
        raise NoWorkingTime(f"{duration.text} is in business time but no calendar applies")
    return calendar.add_working_minutes(start, business_minutes(duration, calendar))


def span_bounds(duration: ir.Duration, calendar: BusinessCalendar | None) -> tuple[int, int] | None:
    """Shortest and longest wall-clock length, in minutes, that `duration` can take.

    Exact for calendar units. For business units: over every start time in an ordinary week
    (no public holidays or closed dates — those only make a deadline longer), so the minimum
    is a true lower bound and the maximum is the longest ordinary-week length. None when a
    business duration has no calendar or the calendar has no working time.
    """
    if not duration.business:
        minutes = duration.minutes or 0
        return minutes, minutes
    if calendar is None or not calendar.periods or not calendar.weekdays:
        return None
    week = _OrdinaryWeek(calendar)
    amount = business_minutes(duration, calendar)
    lengths = [week.length_from(start, amount) for start in week.critical_starts()]
    return min(lengths), max(lengths)


class _OrdinaryWeek:
    """A calendar's week without holidays, in minutes since Monday 00:00, repeating."""

    WEEK = 7 * 1440

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.intervals = [
            (day * 1440 + begin, day * 1440 + end)
            for day in range(7)
            if day in calendar.weekdays
            for begin, end in calendar.periods
        ]

    def critical_starts(self) -> Iterable[int]:
        # lengths are piecewise linear in the start time; extremes sit at period edges
        for begin, end in self.intervals:
            yield from (begin, end, begin - 1, end - 1)

    def length_from(self, start: int, amount: int) -> int:
        if amount <= 0:
            return 0
        start %= self.WEEK
        # any seven days hold one week's working time: whole weeks are skipped, not walked
        per_week = sum(end - begin for begin, end in self.intervals)
        weeks = (amount - 1) // per_week if per_week else 0
        remaining = amount - weeks * per_week
        position = start
        offset = 0
        while True:
            for begin, end in self.intervals:
                lo = max(begin + offset, position)
                hi = end + offset
                if hi <= lo:
                    continue
                if remaining <= hi - lo:
                    return lo + remaining - start + weeks * self.WEEK
                remaining -= hi - lo
                position = hi
            offset += self.WEEK


def calendar_for(policy: ir.Policy, stage: ir.Stage | None = None) -> BusinessCalendar | None:
    cal = policy.calendar_for(stage)
    return BusinessCalendar(cal) if cal is not None else None
