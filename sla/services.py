"""Writes to a county's deadline configuration."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction

from banchengshi.sync import ChangeSummary, sync_rows
from sla.models import DeadlineRule, LocalHoliday, OfficeHours
from sla.selectors import county_calendar_forget


@dataclass(frozen=True)
class DeadlineRuleSpec:
    code: str
    name: str
    clock: str
    unit: str
    amount: int = 0
    kind_code: str = ""
    category_code: str = ""
    cause_side: str = ""
    cause_code: str = ""
    department_code: str = ""


@dataclass(frozen=True)
class LocalHolidaySpec:
    key: str
    name: str


@dataclass(frozen=True)
class OfficeHoursSpec:
    key: str
    start: datetime.time
    end: datetime.time
    months: str = ""  # "5,6,7,8,9" for summer hours; empty for all year


@transaction.atomic
@dataclass(frozen=True)
class DeadlineConfigChanges:
    rules: ChangeSummary
    calendar: ChangeSummary  # the county's own holidays and office hours

    @property
    def summary(self) -> ChangeSummary:
        return self.rules + self.calendar


def deadline_configuration_apply(
    *,
    rules: list[DeadlineRuleSpec],
    holidays: list[LocalHolidaySpec],
    office_hours: list[OfficeHoursSpec],
) -> DeadlineConfigChanges:
    """Make the current county's deadline rules, local holidays and office hours match the specs.

    The caller learns whether the calendar changed: open cases' running deadlines were counted on
    the old one.
    """
    changes = DeadlineConfigChanges(
        rules=sync_rows(model=DeadlineRule, specs=rules),
        calendar=sync_rows(model=LocalHoliday, specs=holidays, key="key")
        + sync_rows(model=OfficeHours, specs=office_hours, key="key"),
    )
    county_calendar_forget()
    return changes
