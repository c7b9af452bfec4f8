"""Reads: a fixed number of queries per page whatever its length; search uses the right field."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from casework import services
from casework.models import Assignment, AssignmentRole, Case, CaseStatus, StaffRole
from casework.selectors import CaseFilters, case_list_for_actor, case_queue_order
from casework.tests.factories import StaffProfileFactory, UserFactory

pytestmark = pytest.mark.django_db


def _register(actor, n):
    for i in range(n):
        intake = services.CaseIntake(
            matter=f"事项{i}", description="x", citizen_name=f"群众{i}", citizen_phone=f"1380000{i:04d}",
            channel="window", kind_code="case", window_code="district-hall", category_code="simple",
            department_codes=("scjgj",),
        )  # fmt: skip
        case = services.case_register(actor=actor, intake=intake)
        services.case_accept_and_assign(
            actor=actor, case_id=case.pk, version=case.version, lead_department_code="scjgj"
        )


def _queries(api, path):
    with CaptureQueriesContext(connection) as captured:
        response = api.get(path)
    assert response.status_code == 200
    return len(captured.captured_queries), len(response.json()["results"])


@pytest.mark.parametrize(
    "path", ["cases/?limit=200", "cases/?status=assigned&category=simple&limit=200", "assignments/?limit=200"]
)
def test_list_pages_cost_the_same_queries_for_2_or_12_rows(county_a, staff_api, path):
    api = staff_api(county_a, "department_handler", "scjgj")
    with tenant_context(county_a):
        boss = UserFactory(username="boss-q")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        _register(boss, 2)
    few, rows_few = _queries(api, path)
    with tenant_context(county_a):
        _register(boss, 10)
    many, rows_many = _queries(api, path)
    assert rows_many >= rows_few + 10
    assert few == many


def test_case_detail_costs_a_fixed_number_of_queries(county_a, staff_api):
    api = staff_api(county_a, "supervisor")
    with tenant_context(county_a):
        boss = UserFactory(username="boss-d")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        _register(boss, 1)
    case_id = api.get("cases/").json()["results"][0]["id"]
    with CaptureQueriesContext(connection) as captured:
        assert api.get(f"cases/{case_id}/").status_code == 200
    # 14, and 5 for the audit record of the full phone number shown (savepoint, lock, head, insert, release).
    assert len(captured.captured_queries) <= 19


def test_list_rows_match_their_documented_serializer(county_a, staff_api):
    from rest_framework.test import APIRequestFactory

    from casework.apis import CaseListOutput, case_list_rows
    from casework.models import Case

    with tenant_context(county_a):
        boss = UserFactory(username="boss-r")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        _register(boss, 2)
        cases = list(Case.objects.select_related("kind", "category"))
        request = APIRequestFactory().get("/")
        for full_phone, role in ((True, StaffRole.SUPERVISOR), (False, StaffRole.LEADER)):
            request.staff_profile = StaffProfileFactory.build(role=role)
            documented = CaseListOutput(cases, many=True, context={"request": request}).data
            assert [dict(row) for row in documented] == case_list_rows(cases, full_phone=full_phone)


def test_assignment_rows_match_their_documented_serializer(county_a):
    from casework.apis import AssignmentOutput, assignment_rows
    from casework.models import Assignment

    with tenant_context(county_a):
        boss = UserFactory(username="boss-a")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        _register(boss, 2)
        assignments = list(Assignment.objects.select_related("department"))
        assert [dict(row) for row in AssignmentOutput(assignments, many=True).data] == assignment_rows(assignments)


def test_the_date_range_means_the_countys_calendar_days(county_a):
    """23:30 and 00:30 in Shanghai are two days, though both are the same UTC day (15:30, 16:30)."""
    with tenant_context(county_a):
        boss = UserFactory(username="boss-days")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        _register(boss, 2)
        late, early = Case.objects.filter(registered_by=boss).order_by("number")
        utc = datetime.UTC
        Case.objects.filter(pk=late.pk).update(registered_at=datetime.datetime(2026, 11, 23, 15, 30, tzinfo=utc))
        Case.objects.filter(pk=early.pk).update(registered_at=datetime.datetime(2026, 11, 23, 16, 30, tzinfo=utc))

        def numbers(**dates):
            found = {c.number for c in case_list_for_actor(actor=boss, filters=CaseFilters(**dates))}
            return found & {late.number, early.number}

        day, next_day = datetime.date(2026, 11, 23), datetime.date(2026, 11, 24)
        assert numbers(registered_from=day, registered_to=day) == {late.number}
        assert numbers(registered_from=next_day) == {early.number}
        assert numbers(registered_to=day) == {late.number}
        assert numbers(registered_from=day, registered_to=datetime.date.max) == {late.number, early.number}


HOUR = datetime.timedelta(hours=1)


def _supervisor(username):
    boss = UserFactory(username=username)
    StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
    return boss


def _cases(boss, n):
    """``n`` of 城中区's cases, accepted and assigned to scjgj: only its reply clock has a deadline."""
    _register(boss, n)
    return list(Case.objects.filter(registered_by=boss).order_by("number"))


def _set(case, **fields):
    Case.objects.filter(pk=case.pk).update(**fields)


def _overdue(boss, cases, overdue=True):
    found = {c.number for c in case_list_for_actor(actor=boss, filters=CaseFilters(overdue=overdue))}
    return found & {c.number for c in cases}


def _finish_lead(boss, case):
    lead = Assignment.objects.get(case=case, role=AssignmentRole.LEAD)
    services.assignment_complete(actor=boss, assignment_id=lead.pk, result="办结")


def test_a_reply_only_countys_case_is_overdue_once_its_reply_is_due(county_a):
    with tenant_context(county_a):
        boss = _supervisor("boss-reply")
        (case,) = _cases(boss, 1)
        assert case.status == CaseStatus.ASSIGNED
        assert case.accept_due_at is None and case.resolution_due_at is None
        assert case.reply_due_at is not None and case.reply_due_at > timezone.now()
        assert _overdue(boss, [case]) == set()
        _set(case, reply_due_at=timezone.now() - HOUR)
        assert _overdue(boss, [case]) == {case.number}
        # The lead department finishing stops the resolution clock, not the reply clock.
        _finish_lead(boss, case)
        assert Case.objects.get(pk=case.pk).status == CaseStatus.PROCESSED
        assert _overdue(boss, [case]) == {case.number}


def test_a_case_whose_resolution_clock_stopped_is_not_overdue(county_a):
    with tenant_context(county_a):
        boss = _supervisor("boss-resolution")
        (case,) = _cases(boss, 1)
        _set(case, resolution_due_at=timezone.now() - HOUR, reply_due_at=timezone.now() + HOUR)
        assert _overdue(boss, [case]) == {case.number}  # assigned: the resolution clock runs
        _finish_lead(boss, case)
        assert _overdue(boss, [case]) == set()
        assert _overdue(boss, [case], overdue=False) == {case.number}


def test_the_acceptance_clock_stops_once_the_case_is_accepted(county_a):
    with tenant_context(county_a):
        boss = _supervisor("boss-accept")
        (case,) = _cases(boss, 1)
        _set(case, status=CaseStatus.REGISTERED, accept_due_at=timezone.now() - HOUR)
        assert _overdue(boss, [case]) == {case.number}
        _set(case, status=CaseStatus.ACCEPTED)
        assert _overdue(boss, [case]) == set()


def test_a_case_waiting_for_materials_is_not_overdue(county_a):
    with tenant_context(county_a):
        boss = _supervisor("boss-materials")
        (case,) = _cases(boss, 1)
        services.case_request_materials(actor=boss, case_id=case.pk, version=case.version, note="缺营业执照")
        past = timezone.now() - HOUR
        _set(case, accept_due_at=past, reply_due_at=past, resolution_due_at=past)
        assert Case.objects.get(pk=case.pk).status == CaseStatus.WAITING_MATERIALS
        assert _overdue(boss, [case]) == set()
        assert _overdue(boss, [case], overdue=False) == {case.number}


def test_not_overdue_is_exactly_the_complement_of_overdue(county_a):
    with tenant_context(county_a):
        boss = _supervisor("boss-complement")
        cases = _cases(boss, 6)
        past, future = timezone.now() - HOUR, timezone.now() + HOUR
        _set(cases[0], reply_due_at=past)  # late
        _set(cases[1], reply_due_at=future)  # not yet due
        _set(cases[2], reply_due_at=None)  # no deadline at all: never late
        _set(cases[3], status=CaseStatus.PROCESSED, reply_due_at=None, resolution_due_at=past)  # clock stopped
        _set(cases[4], status=CaseStatus.REPLIED, reply_due_at=past, resolution_due_at=past)  # answered
        _set(cases[5], status=CaseStatus.ESCALATED, reply_due_at=None, resolution_due_at=past)  # late
        late, on_time = _overdue(boss, cases), _overdue(boss, cases, overdue=False)
        assert late == {cases[0].number, cases[5].number}
        assert late.isdisjoint(on_time)
        assert late | on_time == {c.number for c in cases}


def test_the_queue_puts_overdue_cases_first_by_their_earliest_running_deadline(county_a):
    with tenant_context(county_a):
        boss = _supervisor("boss-queue")
        cases = _cases(boss, 4)
        now = timezone.now()
        _set(cases[0], reply_due_at=None)  # no running deadline: last
        _set(cases[1], reply_due_at=now + 2 * HOUR)
        # Its resolution deadline is the earliest but stopped: it queues by its reply deadline.
        _set(cases[2], status=CaseStatus.PROCESSED, resolution_due_at=now - 5 * HOUR, reply_due_at=now + HOUR)
        _set(cases[3], reply_due_at=now + 3 * HOUR, resolution_due_at=now - HOUR)  # overdue
        ours = {c.pk for c in cases}
        visible = case_list_for_actor(actor=boss, filters=CaseFilters()).filter(pk__in=ours)
        with CaptureQueriesContext(connection) as captured:
            queue = list(case_queue_order(visible))
        assert len(captured.captured_queries) == 1
        assert [c.pk for c in queue] == [cases[3].pk, cases[2].pk, cases[1].pk, cases[0].pk]
        assert [c.next_due_at for c in queue] == [now - HOUR, now + HOUR, now + 2 * HOUR, None]
