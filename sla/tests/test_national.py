"""Loading a year into the national calendar, and what it changes for deadlines already given."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django_tenants.utils import get_public_schema_name, schema_context, tenant_context

from banchengshi.audit.models import AuditRecord
from casework import services
from casework.models import Case, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from sla.errors import SlaError
from sla.national.models import CalendarYear, NationalDay
from sla.national.selectors import calendar_status, national_calendar
from sla.national.services import (
    YearArrangement,
    arrangement_from_file,
    calendar_seed_from_chinesecalendar,
    calendar_year_load,
)

pytestmark = pytest.mark.django_db

# A made-up year far from any real one: the State Council's 2027 arrangement is not invented here.
TEST_YEAR = 2031


def test_a_year_file_loads_and_extends_the_known_calendar(two_counties, calendar_known_through_2030, tmp_path: Path):
    path = tmp_path / "2031.yaml"
    path.write_text(
        "year: 2031\nsource: test\nholidays:\n  2031-01-01: 元旦\n  2031-10-01: 国庆节\n"
        "makeup_workdays:\n  2031-09-28: 国庆节调休\n",
        encoding="utf-8",
    )
    count = calendar_year_load(arrangement=arrangement_from_file(path))
    assert count == 3
    calendar = national_calendar()
    assert calendar.known_until == datetime.date(2031, 12, 31)
    assert datetime.date(2031, 9, 28) in calendar.makeup_workdays
    assert CalendarYear.objects.get(year=TEST_YEAR).source == "test"


@pytest.mark.parametrize(
    ("holidays", "workdays", "needle"),
    [
        ({datetime.date(2030, 1, 1): "元旦"}, {}, "2030-01-01"),
        ({datetime.date(2031, 1, 1): "元旦"}, {datetime.date(2031, 1, 1): "x"}, "both"),
        ({datetime.date(2031, 1, 1): "元旦"}, {datetime.date(2031, 1, 6): "x"}, "weekday"),
        ({}, {}, "holidays"),
    ],
)
def test_a_wrong_year_is_refused_whole(two_counties, holidays, workdays, needle):
    with pytest.raises(SlaError) as caught:
        calendar_year_load(arrangement=YearArrangement(TEST_YEAR, holidays, workdays, "test"))
    assert caught.value.code == "sla.calendar_invalid"
    assert not NationalDay.objects.filter(date__year=TEST_YEAR).exists()


def test_provisional_deadlines_are_recomputed_once_the_year_is_known(county_a, settings):
    with tenant_context(county_a):
        boss = UserFactory(username="boss-cal")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        intake = services.CaseIntake(
            matter="跨年事项", description="x", citizen_name="x", citizen_phone="13800002222",
            channel="window", kind_code="case", category_code="complex",
        )  # fmt: skip
        case = services.case_register(actor=boss, intake=intake)
        # Pretend it arrived just before the end of the known calendar.
        Case.objects.filter(pk=case.pk).update(registered_at=datetime.datetime(2026, 12, 24, 10, tzinfo=datetime.UTC))
        case.refresh_from_db()
        services.case_classify(actor=boss, case_id=case.pk, version=case.version, category_code="complex")
        case.refresh_from_db()
        assert case.deadline_provisional
        guessed = case.reply_due_at

    # 2027: a made-up arrangement that puts a holiday on the guessed day.
    holiday = guessed.astimezone(datetime.timezone(datetime.timedelta(hours=8))).date()
    calendar_year_load(arrangement=YearArrangement(2027, {holiday: "测试假日"}, {}, "test"))
    with tenant_context(county_a):
        assert services.case_deadlines_recompute_provisional() == 1
        case.refresh_from_db()
        assert case.events.last().action == "deadlines_recomputed"
    assert not case.deadline_provisional
    assert case.reply_due_at > guessed


def test_a_year_after_a_gap_is_refused_and_the_next_one_or_a_reload_is_not(two_counties):
    # 2026 is the last year loaded: 2040 would leave 2027–2039 "known" without their holidays.
    with pytest.raises(SlaError) as caught:
        calendar_year_load(arrangement=YearArrangement(2040, {datetime.date(2040, 1, 1): "元旦"}, {}, "test"))
    assert caught.value.code == "sla.calendar_year_not_next" and caught.value.http_status == 409
    assert "2027" in caught.value.message
    assert not CalendarYear.objects.filter(year=2040).exists()
    assert not NationalDay.objects.filter(date__year=2040).exists()
    assert national_calendar().known_until == datetime.date(2026, 12, 31)
    assert calendar_status(today=datetime.date(2026, 11, 1)).needs_next_year
    # A year already loaded can be corrected; the next one extends the calendar.
    calendar_year_load(arrangement=YearArrangement(2026, {datetime.date(2026, 1, 1): "元旦"}, {}, "fix"))
    calendar_year_load(arrangement=YearArrangement(2027, {datetime.date(2027, 1, 1): "元旦"}, {}, "test"))
    assert national_calendar().known_until == datetime.date(2027, 12, 31)


def test_the_seed_loads_no_year_before_or_past_a_gap(two_counties):
    # Everything chinesecalendar knows is loaded; with 2010 missing, the seed fills it and stops there.
    CalendarYear.objects.filter(year=2010).delete()
    NationalDay.objects.filter(date__year=2010).delete()
    assert calendar_seed_from_chinesecalendar() == [2010]
    assert national_calendar().known_until == datetime.date(2026, 12, 31)


def test_loading_a_year_is_audited_without_personal_data(two_counties):
    operator = UserFactory(username="op-calendar")
    calendar_year_load(
        arrangement=YearArrangement(2027, {datetime.date(2027, 1, 1): "元旦"}, {}, "国务院办公厅通知"), actor=operator
    )
    with schema_context(get_public_schema_name()):
        record = AuditRecord.objects.get(action="sla.calendar_year_loaded", object_id="2027")
    assert record.schema == get_public_schema_name()
    assert record.actor_id == operator.pk and record.object_type == "sla.calendar_year"
    assert record.details == {"holidays": 1, "makeup_workdays": 0, "reload": False}
