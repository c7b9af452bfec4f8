"""Reads of a county's deadline configuration, and the deadlines it gives a case."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db.models import QuerySet

from banchengshi.configuration.selectors import config_cached
from banchengshi.tenancy import current_schema
from sla.calendar import Deadline, WorkCalendar, build_calendar
from sla.models import Clock, DeadlineRule, DurationUnit, LocalHoliday, OfficeHours
from sla.national.selectors import national_calendar, national_calendar_forget


def deadline_rule_list() -> QuerySet[DeadlineRule]:
    return DeadlineRule.objects.filter(is_active=True)


def deadline_rules_active() -> list[DeadlineRule]:
    """The active rules, from memory inside a configuration snapshot (shared objects: read only)."""
    return config_cached("sla.deadline_rules", lambda: list(deadline_rule_list()))


def local_holiday_list() -> QuerySet[LocalHoliday]:
    return LocalHoliday.objects.filter(is_active=True)


def office_hours_list() -> QuerySet[OfficeHours]:
    return OfficeHours.objects.filter(is_active=True)


CALENDAR_TTL_SECONDS = 60
_calendars: dict[str, tuple[float, WorkCalendar]] = {}


def county_calendar() -> WorkCalendar:
    """The current county's working calendar: national days, its local holidays and office hours."""
    schema = current_schema()
    now = time.monotonic()
    cached = _calendars.get(schema)
    if cached is not None and cached[0] > now:
        return cached[1]
    national = national_calendar()
    calendar = build_calendar(
        holidays=national.holidays,
        makeup_workdays=national.makeup_workdays,
        known_until=national.known_until,
        local_keys=local_holiday_list().values_list("key", flat=True),
        office_hours=[(p.start, p.end, p.months) for p in office_hours_list()],
    )
    _calendars[schema] = (now + CALENDAR_TTL_SECONDS, calendar)
    return calendar


def county_calendar_forget() -> None:
    _calendars.pop(current_schema(), None)


def calendars_forget_all() -> None:
    """Drop every cached calendar of this process (after the national calendar changed)."""
    _calendars.clear()
    national_calendar_forget()


@dataclass(frozen=True)
class CaseFacts:
    """What deadline rules match on; casework passes codes so that this package never imports it."""

    kind_code: str
    category_code: str = ""
    cause_side: str = ""
    cause_code: str = ""
    department_codes: tuple[str, ...] = ()


def deadline_rule_for(
    *, clock: str, facts: CaseFacts, rules: Iterable[DeadlineRule] | None = None
) -> DeadlineRule | None:
    """The most specific active rule for this clock that fits the case; the earliest listed wins a tie."""
    best: tuple[int, int, DeadlineRule] | None = None
    for rule in deadline_rules_active() if rules is None else rules:
        if rule.clock != clock:
            continue
        checks = [
            (rule.kind_code, rule.kind_code == facts.kind_code),
            (rule.category_code, rule.category_code == facts.category_code),
            (rule.cause_side, rule.cause_side == facts.cause_side),
            (rule.cause_code, rule.cause_code == facts.cause_code),
            (rule.department_code, rule.department_code in facts.department_codes),
        ]
        if not all(ok for given, ok in checks if given):
            continue
        specificity = sum(1 for given, _ok in checks if given)
        key = (specificity, -rule.sort_order)
        if best is None or key > best[:2]:
            best = (*key, rule)
    return best[2] if best else None


@dataclass(frozen=True)
class CaseDeadlines:
    acceptance: Deadline | None
    reply: Deadline | None
    resolution: Deadline | None

    @property
    def provisional(self) -> bool:
        return any(d is not None and d.provisional for d in (self.acceptance, self.reply, self.resolution))


def case_deadlines(
    *,
    facts: CaseFacts,
    start: datetime.datetime,
    paused_seconds: int | Mapping[str, int] = 0,
    extended_days: int = 0,
) -> CaseDeadlines:
    """Each clock's due time for a case that started at ``start``, moved on by time spent paused
    (the same for every clock, or each clock's own: ``{"reply": seconds, ...}``); approved
    extensions (延期) move the reply and resolution clocks by working days."""
    calendar = county_calendar()
    rules = deadline_rules_active()

    def due(clock: str) -> Deadline | None:
        rule = deadline_rule_for(clock=clock, facts=facts, rules=rules)
        if rule is None:
            return None
        base = _rule_deadline(calendar, rule, start)
        # Extension first: it lands on the close of a working day, which would swallow a pause
        # shift already added to the deadline.
        if extended_days > 0 and clock != Clock.ACCEPTANCE:
            moved = calendar.add_working_days(base.due_at, extended_days)
            base = Deadline(calendar.end_of_day(moved.due_at.date()), base.provisional or moved.provisional)
        paused = paused_seconds if isinstance(paused_seconds, int) else paused_seconds.get(clock, 0)
        if paused > 0:
            moved = calendar.add_working_seconds(base.due_at, paused)
            base = Deadline(moved.due_at, base.provisional or moved.provisional)
        return base

    return CaseDeadlines(acceptance=due(Clock.ACCEPTANCE), reply=due(Clock.REPLY), resolution=due(Clock.RESOLUTION))


def clock_deadline(*, clock: str, facts: CaseFacts, start: datetime.datetime) -> Deadline | None:
    """One clock that starts later than the case (回访 starts at the reply)."""
    rule = deadline_rule_for(clock=clock, facts=facts)
    if rule is None:
        return None
    return _rule_deadline(county_calendar(), rule, start)


def _rule_deadline(calendar: WorkCalendar, rule: DeadlineRule, start: datetime.datetime) -> Deadline:
    if rule.unit == DurationUnit.IMMEDIATE:
        return calendar.immediate(start)
    if rule.unit == DurationUnit.WORKING_HOURS:
        return calendar.add_working_seconds(start, rule.amount * 3600)
    return calendar.add_working_days(start, rule.amount)


def paused_working_seconds(*, paused_at: datetime.datetime, resumed_at: datetime.datetime) -> int:
    return county_calendar().working_seconds_between(paused_at, resumed_at)
