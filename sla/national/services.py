"""Loading years into the national calendar."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction
from django.utils.translation import gettext as _
from django_tenants.utils import get_public_schema_name, schema_context

from banchengshi.audit.services import audit_record
from sla.errors import SlaError, SlaErrorCode
from sla.national.models import CalendarYear, DayKind, NationalDay
from sla.national.selectors import known_through, national_calendar_forget


@dataclass(frozen=True)
class YearArrangement:
    year: int
    holidays: dict[datetime.date, str]
    makeup_workdays: dict[datetime.date, str]
    source: str


def calendar_year_load(*, arrangement: YearArrangement, actor: Any = None) -> int:
    """Replace one year's holidays and make-up days; returns the number of days stored.

    Only a year already loaded (a correction) or the year right after the known calendar can be
    loaded: a year after a gap would leave the years between without holidays.
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
        NationalDay.objects.filter(date__year=arrangement.year).delete()
        NationalDay.objects.bulk_create(
            [NationalDay(date=d, kind=DayKind.HOLIDAY, name=n) for d, n in arrangement.holidays.items()]
            + [NationalDay(date=d, kind=DayKind.MAKEUP_WORKDAY, name=n) for d, n in arrangement.makeup_workdays.items()]
        )
        CalendarYear.objects.update_or_create(year=arrangement.year, defaults={"source": arrangement.source})
        audit_record(
            action="sla.calendar_year_loaded",
            actor=actor,
            object_type="sla.calendar_year",
            object_id=arrangement.year,
            details={
                "holidays": len(arrangement.holidays),
                "makeup_workdays": len(arrangement.makeup_workdays),
                "reload": reload,
            },
        )
    national_calendar_forget()
    # Deadlines estimated past the old end of the calendar are recomputed in every county.
    transaction.on_commit(_recompute_everywhere)
    return len(arrangement.holidays) + len(arrangement.makeup_workdays)


def _recompute_everywhere() -> None:
    from banchengshi.tasks import dispatch_to_counties

    dispatch_to_counties.delay("casework.recompute_provisional_deadlines")


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
