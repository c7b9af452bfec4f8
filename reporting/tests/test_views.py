"""The dashboard and report pages: readers see figures and charts, clerks and handlers do not."""

from __future__ import annotations

from typing import Any

import pytest
from django_tenants.utils import schema_context, tenant_context

from banchengshi.accounts.models import PlatformRole
from casework.models import Department, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from tests.markup import Markup

pytestmark = pytest.mark.django_db


def _signed_in(client_for, county, role: str) -> Any:
    with tenant_context(county):
        user: Any = UserFactory(username=f"page-{role}")
        department = Department.objects.get(code="scjgj") if role == StaffRole.DEPARTMENT_HANDLER else None
        StaffProfileFactory(user=user, role=role, department=department)
        client = client_for(county)
        client.force_login(user)
    return client


def test_the_dashboard_shows_the_figures_and_server_rendered_charts(client_for, county_a, known_cases):
    client = _signed_in(client_for, county_a, StaffRole.LEADER)
    page = client.get("/reports/", {"date_from": "2025-01-01", "date_to": "2025-03-31"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-key="received">9<' in html
    assert 'data-key="on_time_rate">50.0%<' in html
    assert html.count("<svg") == 3 and 'font-family="Noto Sans CJK SC"' in html
    assert "市场监督管理局" in html  # the department table and ranking
    filtered = client.get("/reports/", {"date_from": "2025-01-01", "date_to": "2025-03-31", "kind": "consultation"})
    assert 'data-key="received">2<' in filtered.content.decode()


@pytest.mark.parametrize("role", [StaffRole.WINDOW_CLERK, StaffRole.DEPARTMENT_HANDLER])
def test_clerks_and_handlers_do_not_see_the_dashboard(client_for, county_a, role):
    client = _signed_in(client_for, county_a, role)
    assert client.get("/reports/").status_code == 403
    assert client.get("/reports/export/cases.xlsx").status_code == 403


def test_a_report_requested_from_the_page_shows_its_progress(
    client_for, county_a, known_cases, django_capture_on_commit_callbacks
):
    client = _signed_in(client_for, county_a, StaffRole.SUPERVISOR)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post("/reports/quarterly/", {"year": "2025", "quarter": "1"})
    assert response.status_code == 302 and len(queued) == 1
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert 'http-equiv="refresh"' in page.content.decode()  # queued: the page follows the progress
    assert client.get("/reports/quarterly/not-a-report/").status_code == 404


@pytest.mark.parametrize(
    ("role", "shown"),
    [
        (StaffRole.LEADER, True),
        (StaffRole.SUPERVISOR, True),
        (StaffRole.AUDITOR, True),
        (StaffRole.COUNTY_ADMIN, True),
        (StaffRole.WINDOW_CLERK, False),
        (StaffRole.DEPARTMENT_HANDLER, False),
    ],
)
def test_the_staff_pages_link_to_the_dashboard_for_those_who_read_figures(client_for, county_a, role, shown):
    client = _signed_in(client_for, county_a, role)
    page = client.get("/work/")
    assert page.status_code == 200
    html = page.content.decode()
    link = '<a href="/reports/" data-testid="nav-reports">统计与报告</a>'
    assert (link in html) is shown, html[:2000]
    if shown:
        assert client.get("/reports/").status_code == 200


def test_a_report_whose_task_was_lost_can_be_asked_for_again(
    client_for, county_a, known_cases, django_capture_on_commit_callbacks
):
    import datetime

    from django.utils import timezone

    from reporting.models import QuarterlyReport

    client = _signed_in(client_for, county_a, StaffRole.SUPERVISOR)
    with django_capture_on_commit_callbacks(execute=False) as lost:
        client.post("/reports/quarterly/", {"year": "2025", "quarter": "1"})
    with django_capture_on_commit_callbacks(execute=False) as again:
        client.post("/reports/quarterly/", {"year": "2025", "quarter": "1"})
    assert len(lost) == 1 and len(again) == 0  # on its way: one build is enough
    with tenant_context(county_a):
        QuarterlyReport.objects.update(requested_at=timezone.now() - datetime.timedelta(minutes=20))
    with django_capture_on_commit_callbacks(execute=False) as later:
        client.post("/reports/quarterly/", {"year": "2025", "quarter": "1"})
    assert len(later) == 1


@pytest.mark.parametrize(
    "query",
    [
        {"date_from": "2025-01-01", "date_to": "2025-03-31", "department": "gone"},
        {"date_from": "9999-06-01", "date_to": "9999-12-31"},
        {"date_from": "2025-03-31", "date_to": "2025-01-01"},
    ],
)
def test_a_bad_scope_is_refused_never_widened(client_for, county_a, known_cases, query):
    client = _signed_in(client_for, county_a, StaffRole.SUPERVISOR)
    for export in ("/reports/export/cases.xlsx", "/reports/export/figures.xlsx"):
        response = client.get(export, query)
        assert response.status_code == 400 and response.content.decode().strip()
    page = client.get("/reports/", query)
    assert page.status_code == 200
    assert [m.level_tag for m in page.context["messages"]] == ["error"]


def test_a_far_off_period_is_refused_by_the_api(county_a, known_cases):
    from reporting.tests.test_apis import _client

    response = _client(county_a, StaffRole.SUPERVISOR).get(
        "/api/v1/reports/figures/", {"date_from": "9999-06-01", "date_to": "9999-12-31"}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"


def test_the_province_page_has_the_console_s_navigation(client_for, two_counties):
    """An operator who lands on the province figures gets back to the console, and the console leads there."""
    with schema_context("public"):
        operator: Any = UserFactory(username="operator-nav", is_staff=True, platform_role=PlatformRole.OPERATOR)
    client = client_for(None)
    client.force_login(operator)

    def nav_links(path: str) -> set[str]:
        response = client.get(path)
        assert response.status_code == 200, path
        markup = Markup(response.content.decode())
        return {e.attrs["href"] for e in markup.elements if e.tag == "a" and e.enclosing("nav") is not None}

    assert {"/", "/console/counties/new/", "/reports/province/"} <= nav_links("/reports/province/")
    assert "/reports/province/" in nav_links("/")
