"""Loading a year into the national calendar, and what it changes for deadlines already given."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django_tenants.utils import get_public_schema_name, schema_context, tenant_context

from banchengshi import tasks as platform_tasks
from banchengshi.audit.models import AuditRecord
from banchengshi.celery import app
from casework import services
from casework.models import AssignmentStatus, Case, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory, case_intake
from sla.calendar import SHANGHAI
from sla.errors import SlaError
from sla.models import Clock, DeadlineRule, DurationUnit
from sla.national.models import CalendarYear, DayKind, NationalDay
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


def test_provisional_deadlines_are_recomputed_once_the_year_is_known(
    county_a, settings, django_capture_on_commit_callbacks
):
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
    # A new year: only the estimates past the old end of the calendar are recomputed.
    arrangement = YearArrangement(2027, {holiday: "测试假日"}, {}, "test")
    assert _load_and_run_dispatched(arrangement, django_capture_on_commit_callbacks) == [{}]
    with tenant_context(county_a):
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


def _load_and_run_dispatched(arrangement: YearArrangement, capture: Callable[..., Any]) -> list[dict[str, Any]]:
    """Load a year and run what it queues as the workers would: the dispatcher, then the task in
    every county (``capture``: pytest-django's on-commit fixture). Returns each dispatch's task kwargs."""
    app.loader.import_default_modules()  # as a worker does at start: every app's tasks
    real_dispatch = platform_tasks.dispatch_to_counties
    sent: list[tuple[Any, str, dict[str, Any] | None]] = []
    with (
        mock.patch.object(platform_tasks, "dispatch_to_counties") as dispatch,
        mock.patch.object(
            platform_tasks,
            "county_apply_async",
            lambda task, *, schema_name, kwargs=None: sent.append((task, schema_name, kwargs)),
        ),
    ):
        dispatch.delay.side_effect = lambda *args: real_dispatch.apply(args=args).get()
        with capture(execute=True):
            calendar_year_load(arrangement=arrangement)
    for task, schema_name, kwargs in sent:
        task.apply(kwargs=kwargs, headers={"_schema_name": schema_name}).get()
    assert {call.args[0] for call in dispatch.delay.call_args_list} <= {"casework.recompute_provisional_deadlines"}
    # Each is sent again once other processes' copies of the old calendar have expired.
    assert [call.args[0] for call in dispatch.apply_async.call_args_list] == [
        call.args for call in dispatch.delay.call_args_list
    ]
    assert all(call.kwargs["countdown"] > 60 for call in dispatch.apply_async.call_args_list)
    return [call.args[1] for call in dispatch.delay.call_args_list]


# A Monday with no national day for weeks around it; 2026 is loaded (from chinesecalendar).
MONDAY = datetime.datetime(2026, 3, 2, 10, tzinfo=SHANGHAI)
# The made-up correction: a Tuesday of that fortnight becomes a holiday.
CORRECTED = datetime.date(2026, 3, 10)


def _2026_as_stored(*, extra_holiday: datetime.date | None = None, renamed: bool = False) -> YearArrangement:
    """2026 as it is stored, optionally with one more holiday or every day renamed: a reload."""
    with schema_context(get_public_schema_name()):
        days = list(NationalDay.objects.filter(date__year=2026))
    name = (lambda day: f"{day.name}（更正）") if renamed else (lambda day: day.name)
    holidays = {d.date: name(d) for d in days if d.kind == DayKind.HOLIDAY}
    workdays = {d.date: name(d) for d in days if d.kind == DayKind.MAKEUP_WORKDAY}
    if extra_holiday is not None:
        holidays[extra_holiday] = "测试更正假日"
    return YearArrangement(2026, holidays, workdays, "国务院办公厅更正通知（测试）")


def _registered_on_monday(boss: Any, category_code: str) -> Case:
    case = services.case_register(actor=boss, intake=case_intake(category_code=category_code))
    Case.objects.filter(pk=case.pk).update(registered_at=MONDAY)
    case.refresh_from_db()
    # Classifying recomputes the deadlines, now from the Monday.
    return services.case_classify(actor=boss, case_id=case.pk, version=case.version, category_code=category_code)


def _close_of(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(17, 30), tzinfo=SHANGHAI)


def test_a_corrected_year_moves_the_running_deadlines_counted_over_the_changed_day(
    county_a, django_capture_on_commit_callbacks
):
    with tenant_context(county_a):
        boss = UserFactory(username="boss-correction")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        # 城中区 has no resolution rule; one here shows the departments' due time following the case.
        DeadlineRule.objects.create(
            code="test-resolution", name="测试办结期限", clock=Clock.RESOLUTION, kind_code="case",
            category_code="complex", unit=DurationUnit.WORKING_DAYS, amount=8,
        )  # fmt: skip
        spanning = _registered_on_monday(boss, "complex")  # reply in 10 working days: 16 March
        spanning = services.case_accept_and_assign(
            actor=boss, case_id=spanning.pk, version=spanning.version, lead_department_code="scjgj"
        )
        before_it = _registered_on_monday(boss, "simple")  # 3 working days: 5 March, before the change
        closed = _registered_on_monday(boss, "complex")
        closed = services.case_withdraw(actor=boss, case_id=closed.pk, version=closed.version, reason="群众撤回")
        assert spanning.reply_due_at == closed.reply_due_at == _close_of(datetime.date(2026, 3, 16))
        assert spanning.resolution_due_at == _close_of(datetime.date(2026, 3, 12))
        assert before_it.reply_due_at == _close_of(datetime.date(2026, 3, 5))
        untouched = {c.pk: (c.reply_due_at, c.events.count()) for c in (before_it, closed)}

    dispatched = _load_and_run_dispatched(_2026_as_stored(extra_holiday=CORRECTED), django_capture_on_commit_callbacks)

    assert dispatched == [{"affected_from": "2026-03-10"}]
    with tenant_context(county_a):
        spanning.refresh_from_db()
        assert spanning.reply_due_at == _close_of(datetime.date(2026, 3, 17))
        assert spanning.resolution_due_at == _close_of(datetime.date(2026, 3, 13))
        assert spanning.assignments.get(status=AssignmentStatus.PENDING).due_at == spanning.resolution_due_at
        assert [e.action for e in spanning.events.all()].count("deadlines_recomputed") == 1
        event = spanning.events.last()
        assert event.action == "deadlines_recomputed" and event.actor is None
        assert datetime.datetime.fromisoformat(event.data["reply_due_at"]) == spanning.reply_due_at
        assert {c.pk: (c.reply_due_at, c.events.count()) for c in Case.objects.filter(pk__in=untouched)} == untouched
        # Another run (a redelivered message) finds nothing left to move.
        assert services.case_deadlines_recompute(affected_from=CORRECTED) == 0
        assert [e.action for e in spanning.events.all()].count("deadlines_recomputed") == 1
    with schema_context(get_public_schema_name()):
        record = AuditRecord.objects.filter(action="sla.calendar_year_loaded", object_id="2026").latest("pk")
    assert record.details["reload"] is True and record.details["first_changed_day"] == "2026-03-10"


def test_a_reload_that_changes_no_day_dispatches_nothing_and_a_recompute_moves_nothing(
    county_a, django_capture_on_commit_callbacks
):
    with tenant_context(county_a):
        boss = UserFactory(username="boss-same-year")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        case = _registered_on_monday(boss, "complex")
        events = case.events.count()

    # New names for the same days (the notice reworded) change no deadline.
    assert _load_and_run_dispatched(_2026_as_stored(renamed=True), django_capture_on_commit_callbacks) == []

    with tenant_context(county_a):
        # Even told the whole year changed, a recompute over the same calendar moves nothing. (Its
        # count is not asserted: cases other tests committed for real are in this county too.)
        services.case_deadlines_recompute(affected_from=datetime.date(2026, 1, 1))
        assert case.events.count() == events
        due = case.reply_due_at
        case.refresh_from_db()
        assert case.reply_due_at == due
