"""Loading years into the national calendar."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction
from django.utils.translation import gettext as _
from django_tenants.utils import get_public_schema_name, schema_context

from banchengshi.audit.services import audit_record
from sla.errors import SlaError, SlaErrorCode
from sla.national.models import CalendarYear, DayKind, NationalDay
from sla.national.selectors import CALENDAR_TTL_SECONDS, known_through, national_calendar_forget


@dataclass(frozen=True)
class YearArrangement:
    year: int
    holidays: dict[datetime.date, str]
    makeup_workdays: dict[datetime.date, str]
    source: str


def calendar_year_load(*, arrangement: YearArrangement, actor: Any = None) -> int:
    """Replace one year's holidays and make-up days; returns the number of days stored.

    Only a year already loaded (a correction) or the year right after the known calendar can be
    loaded: a year after a gap would leave the years between without holidays. Once committed,
    every county recomputes the deadlines the change can have moved.
    """
    problems = []
    for day in [*arrangement.holidays, *arrangement.makeup_workdays]:
        if day.year != arrangement.year:
            problems.append(_("%(day)s is not in %(year)d.") % {"day": day, "year": arrangement.year})
    for day in set(arrangement.holidays) & set(arrangement.makeup_workdays):
        problems.append(_("%(day)s is both a holiday and a working day.") % {"day": day})
    for day in arrangement.makeup_workdays:
        if day.weekday() < 5:
            problems.append(_("%(day)s is a weekday; only weekend days can be make-up working days.") % {"day": day})
    if not arrangement.holidays:
        problems.append(_("A year without holidays cannot be right."))
    if problems:
        raise SlaError(
            SlaErrorCode.CALENDAR_INVALID,
            _("The calendar for %(year)d was not loaded: %(problems)s")
            % {"year": arrangement.year, "problems": "; ".join(problems)},
            details=[{"field": "days", "code": "invalid", "message": p} for p in problems],
        )
    with schema_context(get_public_schema_name()), transaction.atomic():
        loaded = set(CalendarYear.objects.values_list("year", flat=True))
        reload = arrangement.year in loaded
        last = known_through(loaded)
        if not reload and last is not None and arrangement.year != last + 1:
            raise SlaError(
                SlaErrorCode.CALENDAR_YEAR_NOT_NEXT,
                _("%(year)d cannot be loaded: the calendar is known up to %(last)d; load %(next)d first.")
                % {"year": arrangement.year, "last": last, "next": last + 1},
                http_status=409,
            )
        stored = set(NationalDay.objects.filter(date__year=arrangement.year).values_list("date", "kind"))
        given = {(d, DayKind.HOLIDAY) for d in arrangement.holidays} | {
            (d, DayKind.MAKEUP_WORKDAY) for d in arrangement.makeup_workdays
        }
        # Only what a day is counts for deadlines; a day renamed changes none.
        first_changed = min((d for d, _kind in stored ^ given), default=None)
        NationalDay.objects.filter(date__year=arrangement.year).delete()
        NationalDay.objects.bulk_create(
            [NationalDay(date=d, kind=DayKind.HOLIDAY, name=n) for d, n in arrangement.holidays.items()]
            + [NationalDay(date=d, kind=DayKind.MAKEUP_WORKDAY, name=n) for d, n in arrangement.makeup_workdays.items()]
        )
        CalendarYear.objects.update_or_create(year=arrangement.year, defaults={"source": arrangement.source})
        details: dict[str, Any] = {
            "holidays": len(arrangement.holidays),
            "makeup_workdays": len(arrangement.makeup_workdays),
            "reload": reload,
        }
        if reload:  # for whoever later asks why deadlines moved (None: they did not)
            details["first_changed_day"] = first_changed.isoformat() if first_changed else None
        audit_record(
            action="sla.calendar_year_loaded",
            actor=actor,
            object_type="sla.calendar_year",
            object_id=arrangement.year,
            details=details,
        )
    national_calendar_forget()
    if not reload:
        # Deadlines estimated past the old end of the calendar are recomputed in every county.
        transaction.on_commit(partial(_recompute_everywhere, None))
    elif first_changed is not None:
        # A correction: running deadlines counted over the changed days are recomputed too.
        transaction.on_commit(partial(_recompute_everywhere, first_changed))
    return len(arrangement.holidays) + len(arrangement.makeup_workdays)


def _recompute_everywhere(affected_from: datetime.date | None) -> None:
    from banchengshi.tasks import dispatch_to_counties

    kwargs = {"affected_from": affected_from.isoformat()} if affected_from else {}
    dispatch_to_counties.delay(RECOMPUTE_TASK, kwargs)
    # Other processes keep the calendar they read for up to a minute: a step taken there meanwhile
    # counts on the old days again. The same recompute once their copies have expired puts such a
    # case right (and changes nothing where there is none).
    dispatch_to_counties.apply_async((RECOMPUTE_TASK, kwargs), countdown=CALENDAR_TTL_SECONDS + 30)


RECOMPUTE_TASK = "casework.recompute_provisional_deadlines"


def calendar_seed_from_chinesecalendar() -> list[int]:
    """Load every complete year ``chinesecalendar`` knows that is not loaded yet."""
    from sla.calendar import national_calendar_from_chinesecalendar

    holidays, workdays = national_calendar_from_chinesecalendar()
    years = sorted({d.year for d in holidays})
    with schema_context(get_public_schema_name()):
        loaded = set(CalendarYear.objects.values_list("year", flat=True))
    done = []
    for year in years:
        last = known_through(loaded)
        # Years before the first loaded one, or after a gap, cannot be loaded (see calendar_year_load).
        if year in loaded or (last is not None and year != last + 1):
            continue
        calendar_year_load(
            arrangement=YearArrangement(
                year=year,
                holidays={d: n for d, n in holidays.items() if d.year == year},
                makeup_workdays={d: n for d, n in workdays.items() if d.year == year},
                source="chinesecalendar",
            )
        )
        done.append(year)
        loaded.add(year)
    return done


def arrangement_from_file(path: Path) -> YearArrangement:
    """Read a year from a file: ``year``, ``source``, ``holidays`` and ``makeup_workdays`` as date → name."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        year = int(data["year"])
        holidays = {_date(k): str(v) for k, v in (data.get("holidays") or {}).items()}
        workdays = {_date(k): str(v) for k, v in (data.get("makeup_workdays") or {}).items()}
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SlaError(
            SlaErrorCode.CALENDAR_INVALID,
            _("%(file)s is not a calendar file: %(reason)s") % {"file": path.name, "reason": exc},
        ) from exc
    return YearArrangement(
        year=year, holidays=holidays, makeup_workdays=workdays, source=str(data.get("source", path.name))
    )


def _date(value: Any) -> datetime.date:
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(str(value))
