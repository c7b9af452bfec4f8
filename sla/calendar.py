"""Working-day arithmetic for Chinese government deadlines. The only place that does it.

A working day is a weekday that is not a statutory holiday or a county holiday, or a weekend day
that the State Council made a working day (调休). Working time is the county's office hours on
working days. Everything is computed in Asia/Shanghai local time and returned as aware datetimes.

Past the last day the national calendar is known for, days are treated as plain weekdays and the
result is marked ``provisional``: a deadline there is a best guess until the year is loaded.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
ALL_YEAR: frozenset[int] = frozenset(range(1, 13))
# (start, end, months it applies in): summer and winter hours are periods for different months.
Period = tuple[datetime.time, datetime.time, frozenset[int]]
DEFAULT_OFFICE_HOURS: tuple[Period, ...] = (
    (datetime.time(8, 30), datetime.time(12, 0), ALL_YEAR),
    (datetime.time(14, 30), datetime.time(17, 30), ALL_YEAR),
)
# No deadline is searched for further ahead than this; a longer one is a configuration error.
MAX_DAYS_AHEAD = 3 * 366


@dataclass(frozen=True)
class Deadline:
    due_at: datetime.datetime
    provisional: bool


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset[datetime.date] = frozenset()
    makeup_workdays: frozenset[datetime.date] = frozenset()
    local_holidays: frozenset[datetime.date] = frozenset()
    local_annual: frozenset[tuple[int, int]] = frozenset()
    office_hours: tuple[Period, ...] = DEFAULT_OFFICE_HOURS
    known_until: datetime.date | None = None
    _cache: dict[datetime.date, bool] = field(default_factory=dict, compare=False, repr=False)

    # -- days -------------------------------------------------------------------------------

    def is_known(self, day: datetime.date) -> bool:
        return self.known_until is not None and day <= self.known_until

    def is_working_day(self, day: datetime.date) -> bool:
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        if day in self.local_holidays or (day.month, day.day) in self.local_annual:
            working = False
        elif day in self.makeup_workdays:
            working = True
        elif day in self.holidays:
            working = False
        else:
            working = day.weekday() < 5
        self._cache[day] = working
        return working

    def periods(self, day: datetime.date) -> list[tuple[datetime.datetime, datetime.datetime]]:
        """The office-hours periods of a day as aware datetimes; none on a day off."""
        if not self.is_working_day(day):
            return []
        return [
            (
                datetime.datetime.combine(day, start, tzinfo=SHANGHAI),
                datetime.datetime.combine(day, end, tzinfo=SHANGHAI),
            )
            for start, end in self.hours_of(day)
        ]

    def hours_of(self, day: datetime.date) -> list[tuple[datetime.time, datetime.time]]:
        hours = [(start, end) for start, end, months in self.office_hours if day.month in months]
        return hours or [(start, end) for start, end, _months in DEFAULT_OFFICE_HOURS]

    def end_of_day(self, day: datetime.date) -> datetime.datetime:
        return datetime.datetime.combine(day, self.hours_of(day)[-1][1], tzinfo=SHANGHAI)

    def previous_working_day(self, day: datetime.date) -> datetime.date:
        for offset in range(1, MAX_DAYS_AHEAD):
            candidate = day - datetime.timedelta(days=offset)
            if self.is_working_day(candidate):
                return candidate
        raise ValueError(f"no working day within {MAX_DAYS_AHEAD} days before {day}")

    def next_working_day(self, day: datetime.date) -> datetime.date:
        for offset in range(1, MAX_DAYS_AHEAD):
            candidate = day + datetime.timedelta(days=offset)
            if self.is_working_day(candidate):
                return candidate
        raise ValueError(f"no working day within {MAX_DAYS_AHEAD} days after {day}")

    # -- deadlines --------------------------------------------------------------------------

    def add_working_days(self, start: datetime.datetime, days: int) -> Deadline:
        """Close of business on the ``days``-th working day after the day of ``start``.

        With ``days`` = 0 the deadline is the close of the same working day (or of the next one,
        from a day off).
        """
        # 期间开始的当日不计算在内: count the working days strictly after the day it arrived.
        local = start.astimezone(SHANGHAI).date()
        if days == 0:
            open_today = self.is_working_day(local) and start < self.end_of_day(local)
            day = local if open_today else self.next_working_day(local)
        else:
            day = local
            for _ in range(days):
                day = self.next_working_day(day)
        return Deadline(self.end_of_day(day), provisional=not self._all_known(local, day))

    def add_working_seconds(self, start: datetime.datetime, seconds: int) -> Deadline:
        """The moment ``seconds`` of office time after ``start`` (working hours, resumed clocks)."""
        if seconds <= 0:
            return Deadline(start, provisional=not self.is_known(start.astimezone(SHANGHAI).date()))
        remaining = seconds
        cursor = start.astimezone(SHANGHAI)
        day = cursor.date()
        for _ in range(MAX_DAYS_AHEAD):
            for period_start, period_end in self.periods(day):
                begin = max(period_start, cursor)
                if begin >= period_end:
                    continue
                available = int((period_end - begin).total_seconds())
                if remaining <= available:
                    due = begin + datetime.timedelta(seconds=remaining)
                    return Deadline(due, provisional=not self._all_known(start.astimezone(SHANGHAI).date(), day))
                remaining -= available
            day = day + datetime.timedelta(days=1)
        raise ValueError(f"{seconds} working seconds do not fit in {MAX_DAYS_AHEAD} days")

    def immediate(self, start: datetime.datetime) -> Deadline:
        """即收即转即办: by the close of the working day the matter arrives (or the next one)."""
        return self.add_working_days(start, 0)

    # -- measuring --------------------------------------------------------------------------

    def working_seconds_between(self, start: datetime.datetime, end: datetime.datetime) -> int:
        """Office time between two moments (0 if ``end`` is not after ``start``)."""
        if end <= start:
            return 0
        a, b = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
        total = 0.0
        day = a.date()
        while day <= b.date():
            for period_start, period_end in self.periods(day):
                overlap = (min(period_end, b) - max(period_start, a)).total_seconds()
                if overlap > 0:
                    total += overlap
            day += datetime.timedelta(days=1)
        return int(total)

    def working_days_between(self, start: datetime.datetime, end: datetime.datetime) -> int:
        """Working days after the day of ``start`` up to and including the day of ``end``."""
        a, b = start.astimezone(SHANGHAI).date(), end.astimezone(SHANGHAI).date()
        count, day = 0, a
        while day < b:
            day += datetime.timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count

    def resume(
        self, due_at: datetime.datetime, paused_at: datetime.datetime, resumed_at: datetime.datetime
    ) -> Deadline:
        """A paused clock's new deadline: the office time left at the pause, counted from the resume."""
        left = self.working_seconds_between(paused_at, due_at)
        return self.add_working_seconds(resumed_at, left)

    def _all_known(self, first: datetime.date, last: datetime.date) -> bool:
        return self.is_known(first) and self.is_known(last)


def national_calendar_from_chinesecalendar() -> tuple[dict[datetime.date, str], dict[datetime.date, str]]:
    """The statutory holidays and make-up working days ``chinesecalendar`` ships (its seed)."""
    import chinese_calendar

    return dict(chinese_calendar.holidays), dict(chinese_calendar.workdays)


def build_calendar(
    *,
    holidays: Iterable[datetime.date],
    makeup_workdays: Iterable[datetime.date],
    known_until: datetime.date | None,
    local_keys: Iterable[str] = (),
    office_hours: Iterable[tuple[datetime.time, datetime.time, str]] = (),
) -> WorkCalendar:
    """A county's calendar: the national days plus its local holidays (``MM-DD`` or ``YYYY-MM-DD``)."""
    local_holidays: set[datetime.date] = set()
    local_annual: set[tuple[int, int]] = set()
    for key in local_keys:
        if len(key) == 5:
            local_annual.add((int(key[:2]), int(key[3:])))
        else:
            local_holidays.add(datetime.date.fromisoformat(key))
    periods = (
        tuple(
            sorted(
                (start, end, frozenset(int(m) for m in months.split(",")) if months else ALL_YEAR)
                for start, end, months in office_hours
            )
        )
        or DEFAULT_OFFICE_HOURS
    )
    return WorkCalendar(
        holidays=frozenset(holidays),
        makeup_workdays=frozenset(makeup_workdays),
        local_holidays=frozenset(local_holidays),
        local_annual=frozenset(local_annual),
        office_hours=periods,
        known_until=known_until,
    )
