"""Fixtures of the sla tests."""

from __future__ import annotations

import pytest
from django_tenants.utils import get_public_schema_name, schema_context

from sla.national.models import CalendarYear
from sla.national.selectors import known_through, national_calendar_forget


@pytest.fixture
def calendar_known_through_2030(db: None) -> None:
    """Years up to 2030 count as loaded (no holidays: none is invented), so 2031 is the next year.

    Only the next year or an already loaded one can be loaded; the tests' made-up year is 2031.
    """
    with schema_context(get_public_schema_name()):
        last = known_through(CalendarYear.objects.values_list("year", flat=True)) or 2030
        CalendarYear.objects.bulk_create([CalendarYear(year=y, source="test") for y in range(last + 1, 2031)])
    national_calendar_forget()
