"""Reads: a fixed number of queries per page whatever its length; search uses the right field."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from casework import services
from casework.models import Case, StaffRole
from casework.selectors import CaseFilters, case_list_for_actor
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
