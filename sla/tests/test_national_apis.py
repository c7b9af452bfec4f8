"""Operators load a year through the API at the console host; nobody else can."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import get_public_schema_name, schema_context
from rest_framework.test import APIClient

from banchengshi.audit.models import AuditRecord

pytestmark = pytest.mark.django_db

YEAR = {
    "year": 2031, "source": "测试用年度安排", "holidays": {"2031-01-01": "元旦", "2031-10-01": "国庆节"},
    "makeup_workdays": {"2031-09-28": "国庆节调休"},
}  # fmt: skip


def console(staff: bool) -> APIClient:
    user = get_user_model().objects.create_user(username=f"op-{staff}", password="Xk3!pass-2026", is_staff=staff)
    client = APIClient(HTTP_HOST="localhost")
    client.force_authenticate(user)
    return client


def test_an_operator_loads_a_year_and_sees_the_calendar_extend(two_counties, calendar_known_through_2030):
    operator = console(staff=True)
    response = operator.post("/api/v1/calendar/years/", YEAR, format="json")
    assert response.status_code == 201 and response.json() == {"year": 2031, "days": 3}
    state = operator.get("/api/v1/calendar/").json()
    assert state["known_until"] == "2031-12-31" and 2031 in state["years"]


def test_a_bad_year_is_refused_with_a_code(two_counties):
    operator = console(staff=True)
    bad = {**YEAR, "makeup_workdays": {"2031-01-06": "周一不能调休"}}
    response = operator.post("/api/v1/calendar/years/", bad, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "sla.calendar_invalid"
    response = operator.post("/api/v1/calendar/years/", {**YEAR, "holidays": {"not-a-date": "x"}}, format="json")
    assert response.status_code == 400 and response.json()["error"]["details"][0]["field"] == "holidays"


def test_only_operators_at_the_console(two_counties, county_a):
    assert APIClient(HTTP_HOST="localhost").post("/api/v1/calendar/years/", YEAR, format="json").status_code == 401
    assert console(staff=False).post("/api/v1/calendar/years/", YEAR, format="json").status_code == 403
    assert APIClient(HTTP_HOST="chengzhong.localhost").get("/api/v1/calendar/").status_code == 404


def test_a_year_after_a_gap_is_refused_and_a_load_is_audited_with_its_operator(two_counties):
    operator = console(staff=True)
    response = operator.post("/api/v1/calendar/years/", YEAR, format="json")  # 2026 is the last year loaded
    assert response.status_code == 409 and response.json()["error"]["code"] == "sla.calendar_year_not_next"
    assert operator.get("/api/v1/calendar/").json()["known_until"] == "2026-12-31"
    year = {"year": 2027, "source": "测试用年度安排", "holidays": {"2027-01-01": "元旦"}}
    assert operator.post("/api/v1/calendar/years/", year, format="json").status_code == 201
    with schema_context(get_public_schema_name()):
        record = AuditRecord.objects.get(action="sla.calendar_year_loaded", object_id="2027")
    assert record.actor_id == get_user_model().objects.get(username="op-True").pk
