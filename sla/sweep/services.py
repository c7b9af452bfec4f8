"""Keeping the deadline index in step with cases, and claiming what is due exactly once."""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.apps import apps
from django.db import transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from banchengshi.core.rows import row_insert
from banchengshi.tenancy import current_schema
from sla.calendar import SHANGHAI, WorkCalendar
from sla.sweep.models import DeadlineEntry, Escalation

# After the deadline: the supervisor at once, the leader one working day later, a 督办 notice
# after three working days.
ESCALATION_AFTER_DAYS = {Escalation.SUPERVISOR: 0, Escalation.LEADER: 1, Escalation.DUBAN: 3}


def _warn_at(
    calendar: WorkCalendar, started_at: datetime.datetime, due_at: datetime.datetime
) -> datetime.datetime | None:
    """One working day before the deadline; none when the whole clock is shorter than that."""
    day = calendar.previous_working_day(due_at.astimezone(SHANGHAI).date())
    warn = calendar.end_of_day(day)
    return warn if warn > started_at else None


def _escalate_at(calendar: WorkCalendar, due_at: datetime.datetime, level: int) -> datetime.datetime:
    days = ESCALATION_AFTER_DAYS[Escalation(level)]
    return due_at if days == 0 else calendar.add_working_days(due_at, days).due_at


def _next_check(entry: DeadlineEntry, calendar: WorkCalendar) -> datetime.datetime | None:
    if entry.warn_at is not None and entry.warned_at is None:
        # A deadline moved into the past (reclassified to a shorter rule) keeps the warning time of
        # the old one, which may still lie ahead: the overdue notice must not wait for it.
        return min(entry.warn_at, entry.due_at)
    if entry.overdue_at is None:
        return entry.due_at
    if entry.escalation < Escalation.DUBAN:
        return _escalate_at(calendar, entry.due_at, entry.escalation + 1)
    return None


def deadline_index_sync(
    *,
    case_id: UUID,
    started_at: datetime.datetime,
    running: dict[str, datetime.datetime | None],
    calendar: WorkCalendar,
    new: bool = False,
    clock_started_at: dict[str, datetime.datetime] | None = None,
) -> None:
    """Make the index follow the clocks of one case of the current county.

    A stopped or paused clock stays in the index with nothing to check, keeping what already
    fired, so stopping and restarting it never fires the same notice twice. A clock whose
    deadline moved into the future starts over: overdue and escalations may fire again, and the
    warning too unless the one already given falls within the new deadline's warning day.
    ``clock_started_at`` names the clocks that started later than ``started_at`` (the follow-up
    clock starts at the reply).
    """
    schema = current_schema()
    now = timezone.now()
    # A case created in this transaction has no entries yet: nothing to read.
    existing = {} if new else {e.clock: e for e in DeadlineEntry.objects.filter(schema_name=schema, case_id=case_id)}
    for clock, due_at in running.items():
        entry = existing.pop(clock, None)
        before = _entry_state(entry)
        if due_at is None:
            if entry is not None and entry.next_check_at is not None:
                entry.next_check_at = None
                entry.save(update_fields=["next_check_at"])
            continue
        start = (clock_started_at or {}).get(clock, started_at)
        if entry is None:
            entry = DeadlineEntry(schema_name=schema, case_id=case_id, clock=clock, due_at=due_at)
            _start_over(entry, calendar, start, due_at)
        elif entry.due_at != due_at and due_at > now:
            _start_over(entry, calendar, start, due_at)
        else:
            entry.due_at = due_at
        entry.next_check_at = _next_check(entry, calendar)
        if entry.pk is None:
            row_insert(entry)
        elif _entry_state(entry) != before:
            # Most steps leave a clock as it was: no write, and no row lock the sweep would meet.
            entry.save()
    for entry in existing.values():
        entry.delete()


def _entry_state(entry: DeadlineEntry | None) -> tuple[Any, ...] | None:
    if entry is None:
        return None
    return (entry.due_at, entry.warn_at, entry.warned_at, entry.overdue_at, entry.escalation, entry.next_check_at)


def _start_over(
    entry: DeadlineEntry, calendar: WorkCalendar, started_at: datetime.datetime, due_at: datetime.datetime
) -> None:
    warned_at = entry.warned_at
    entry.due_at = due_at
    entry.warn_at = _warn_at(calendar, started_at, due_at)
    # A warning given on the new deadline's warning day still holds: an hour waiting for the
    # citizen moves the deadline by an hour, and must not warn the handler a second time.
    kept = warned_at is not None and entry.warn_at is not None and warned_at >= entry.warn_at
    entry.warned_at = warned_at if kept else None
    entry.overdue_at = None
    entry.escalation = Escalation.NONE


@dataclass(frozen=True)
class Firing:
    case_id: UUID
    clock: str
    kind: str  # "warning", "overdue" or "escalation"
    level: int
    due_at: datetime.datetime


def deadline_entries_claim(*, entry_ids: list[int], now: datetime.datetime, calendar: WorkCalendar) -> list[Firing]:
    """Claim what is due on these entries. Each warning, overdue and escalation is claimed once.

    Call inside the transaction that records what fired: the row lock and the conditional state
    change make a second sweep, a retried task or another worker find nothing left to claim.
    """
    firings: list[Firing] = []
    schema = current_schema()
    entries = (
        DeadlineEntry.objects.select_for_update(skip_locked=True)
        .filter(pk__in=entry_ids, schema_name=schema, next_check_at__lte=now)
        .order_by("pk")
    )
    for entry in entries:
        if entry.warn_at is not None and entry.warned_at is None and entry.warn_at <= now and entry.due_at > now:
            entry.warned_at = now
            firings.append(Firing(entry.case_id, entry.clock, "warning", 0, entry.due_at))
        elif entry.warn_at is not None and entry.warned_at is None:
            entry.warned_at = now  # the deadline passed before any sweep warned: overdue says it all
        if entry.overdue_at is None and entry.due_at <= now:
            entry.overdue_at = now
            entry.escalation = Escalation.SUPERVISOR
            firings.append(Firing(entry.case_id, entry.clock, "overdue", Escalation.SUPERVISOR, entry.due_at))
        while entry.overdue_at is not None and entry.escalation < Escalation.DUBAN:
            level = entry.escalation + 1
            if _escalate_at(calendar, entry.due_at, level) > now:
                break
            entry.escalation = level
            firings.append(Firing(entry.case_id, entry.clock, "escalation", level, entry.due_at))
        entry.next_check_at = _next_check(entry, calendar)
        entry.save(update_fields=["warned_at", "overdue_at", "escalation", "next_check_at"])
    return firings


# A sweep's share of one county: a fire task's worth (it runs in one transaction).
PER_COUNTY = 1_000

# The value of ``tenants.models.CountyStatus.ACTIVE``: sla may not import tenants (ARCHITECTURE.md).
COUNTY_ACTIVE = "active"


def due_entries(*, now: datetime.datetime, limit: int = 10_000, per_county: int = PER_COUNTY) -> dict[str, list[int]]:
    """Everything due in every active county, grouped by county schema: one indexed query, whatever
    the number of counties.

    A suspended county, or one whose migration failed, gets no deadline work: its entries wait
    (and fire late, once) until it is active again. They are left out in the query itself, so
    they never take up the ``limit`` of the active counties. Nor can one county take it all: at
    most ``per_county`` of its oldest entries a sweep. A county whose firing keeps failing keeps
    its entries due (the failed transaction moved nothing), oldest of all; without the cap they
    would fill the limit every minute and no other county would be warned of anything.
    """
    # The county registry through the app registry, not an import: tenants sits above sla.
    county = apps.get_model("tenants", "County")
    active = county.objects.filter(status=COUNTY_ACTIVE).values("schema_name")
    due = DeadlineEntry.objects.filter(next_check_at__lte=now, schema_name__in=active).order_by("next_check_at")
    # The oldest first, read from the index until the limit: what a sweep costs nearly always.
    rows = list(due.values_list("schema_name", "pk")[:limit])
    if rows and max(Counter(schema for schema, _pk in rows).values()) > per_county:
        # One county took more than its share: rank every due entry within its county (this reads
        # them all, a cost paid only then).
        place = Window(RowNumber(), partition_by=F("schema_name"), order_by=F("next_check_at").asc())
        rows = list(due.annotate(place=place).filter(place__lte=per_county).values_list("schema_name", "pk")[:limit])
    grouped: dict[str, list[int]] = {}
    for schema, pk in rows:
        grouped.setdefault(schema, []).append(pk)
    return grouped


def deadline_index_forget_county(*, schema_name: str) -> int:
    with transaction.atomic():
        deleted, _ = DeadlineEntry.objects.filter(schema_name=schema_name).delete()
    return deleted
