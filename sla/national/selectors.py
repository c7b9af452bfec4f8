"""Reading the national calendar. It changes once a year, so each process keeps a copy for a minute."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django_tenants.utils import get_public_schema_name, schema_context

from sla.national.models import CalendarYear, DayKind, NationalDay

CALENDAR_TTL_SECONDS = 60


@dataclass(frozen=True)
class NationalCalendar:
    holidays: frozenset[datetime.date]
    makeup_workdays: frozenset[datetime.date]
    known_until: datetime.date | None


_cached: tuple[float, NationalCalendar] | None = None


def national_calendar() -> NationalCalendar:
    global _cached
    now = time.monotonic()
    if _cached is not None and _cached[0] > now:
        return _cached[1]
    with schema_context(get_public_schema_name()):
        days = list(NationalDay.objects.values_list("date", "kind"))
        last_year = known_through(CalendarYear.objects.values_list("year", flat=True))
    calendar = NationalCalendar(
        holidays=frozenset(d for d, kind in days if kind == DayKind.HOLIDAY),
        makeup_workdays=frozenset(d for d, kind in days if kind == DayKind.MAKEUP_WORKDAY),
        known_until=datetime.date(last_year, 12, 31) if last_year else None,
    )
    _cached = (now + CALENDAR_TTL_SECONDS, calendar)
    return calendar


def known_through(years: Iterable[int]) -> int | None:
    """The last year of the unbroken run of loaded years that starts at the first one.

    A year after a gap proves nothing about the missing years between: they have no holidays
    stored, so they cannot count as known (their deadlines would be final, and wrong).
    """
    loaded = set(years)
    if not loaded:
        return None
    year = min(loaded)
    while year + 1 in loaded:
        year += 1
    return year


def national_calendar_forget() -> None:
    global _cached
    _cached = None


@dataclass(frozen=True)
class CalendarStatus:
    known_until: datetime.date | None
    days_left: int | None
    needs_next_year: bool


def calendar_status(*, today: datetime.date) -> CalendarStatus:
    """Whether operators must load the next year soon (the State Council publishes it each autumn)."""
    known_until = national_calendar().known_until
    if known_until is None:
        return CalendarStatus(known_until=None, days_left=None, needs_next_year=True)
    days_left = (known_until - today).days
    return CalendarStatus(known_until=known_until, days_left=days_left, needs_next_year=days_left <= 90)
