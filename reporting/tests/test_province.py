"""Province-wide figures: the same figures over every county, counts only, a county ranking and a PDF."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from banchengshi.schedules import BEAT_SCHEDULE
from casework.forwarding.tests.conftest import agreement, deliver
from casework.models import Case
from casework.tests.conftest import staff_api
from casework.tests.factories import UserFactory
from reporting import services
from reporting.documents import figure_rows
from reporting.province import province_figures
from reporting.selectors import SNAPSHOT_COUNTS, Scope, figures
from reporting.snapshots.models import CountyDayFigures, CountySnapshot
from reporting.tasks import generate_province_report, refresh_snapshot
from reporting.tests.conftest import AS_OF, Q1
from reporting.tests.factories import CaseFactory, at, reply
from reporting.tests.pdf_checks import PAGES_DIR, embedded_fonts, pdf_text, render_pages
from tenants.models import County

pytestmark = pytest.mark.django_db

__all__ = ["agreement", "deliver", "staff_api"]  # fixtures of casework's tests, used here


def _county_b_cases(county_b) -> None:
    with tenant_context(county_b):
        done: Any = CaseFactory(
            number="LJ-2025-000001", tracking_code="LJ00000001", registered_at=at("2025-02-03"),
            accepted_at=at("2025-02-03", "11:00"), replied_at=at("2025-02-04"), reply_due_at=at("2025-02-10"),
            status="followed_up", citizen_name="曹先生", citizen_phone="13900001111",
        )  # fmt: skip
        reply(done, at("2025-02-04"))


def _refresh(*counties) -> None:
    """What the dispatched county task does, in each county's schema."""
    for county in counties:
        with tenant_context(county):
            services.county_snapshot_refresh(rebuild=True)


def test_province_figures_add_up_the_counties_and_rank_them(county_a, county_b, known_cases):
    _county_b_cases(county_b)
    _refresh(county_a, county_b)
    with tenant_context(county_a):
        a = figures(scope=Q1, now=AS_OF)
    with tenant_context(county_b):
        b = figures(scope=Q1, now=AS_OF)
    result = province_figures(scope=Q1, now=AS_OF)
    by_code = {row.code: row for row in result.counties}
    # The same figures as each county's own, durations and open overdue cases included.
    assert by_code["450202"].figures == a
    assert by_code["222405"].figures == b
    assert a.received + b.received == 10
    for name in ("received", "on_time", "late_open", "bad_ratings", "forwarded_out"):
        assert getattr(result.total, name) == sum(getattr(row.figures, name) for row in result.counties)
    # 龙井市 answered its one case on time (100%), 城中区 50%.
    ours = [row for row in result.counties if row.code in {"222405", "450202"}]
    assert [row.code for row in ours] == ["222405", "450202"]
    assert ours[0].rank < ours[1].rank


def test_open_cases_are_judged_late_when_the_province_reads(county_a, known_cases):
    _refresh(county_a)
    # c3's deadline is 02-24 and c11's 04-01: before, between and after them.
    for moment in (at("2025-02-20"), at("2025-03-01"), AS_OF):
        with tenant_context(county_a):
            county = figures(scope=Q1, now=moment)
        row = next(r for r in province_figures(scope=Q1, now=moment).counties if r.code == "450202")
        assert row.figures == county, moment
    assert (county.late_open, county.not_yet_due) == (2, 1)


def test_a_refresh_counts_again_only_the_days_whose_cases_changed(county_a, known_cases):
    with tenant_context(county_a):
        Case.objects.filter(pk__in=[c.pk for c in known_cases.values()]).update(updated_at=AS_OF)
        services.county_snapshot_refresh()  # the first refresh counts every day
        assert services.county_snapshot_refresh() == 0  # nothing changed since
        # c9 (03-14) is answered again later: a changed case bumps its updated_at.
        Case.objects.filter(pk=known_cases["c9"].pk).update(
            replied_at=at("2025-03-28"), status="replied", updated_at=timezone.now()
        )
        written = services.county_snapshot_refresh()
        day_rows = CountyDayFigures.objects.filter(county_code=county_a.code, day=datetime.date(2025, 3, 14))
        assert written == day_rows.count() >= 1
        live = figures(scope=Q1, now=AS_OF)
    row = next(r for r in province_figures(scope=Q1, now=AS_OF).counties if r.code == "450202")
    assert row.figures == live
    assert (live.on_time, live.late_done) == (2, 2)  # c9 was due 03-25


def test_rows_left_by_a_county_of_the_same_code_that_left_the_platform_are_replaced(county_a, known_cases):
    """A county removed and onboarded again keeps its code: the old county's days must not stay counted."""
    day = datetime.date(2020, 1, 6)
    old = timezone.now() - datetime.timedelta(days=400)
    CountySnapshot.objects.create(county_code=county_a.code, refreshed_at=old, changes_seen_until=old, rebuilt_at=old)
    CountyDayFigures.objects.create(county_code=county_a.code, day=day, received=7)
    County.objects.filter(pk=county_a.pk).update(created_at=old + datetime.timedelta(days=1))
    with tenant_context(County.objects.get(pk=county_a.pk)):
        services.county_snapshot_refresh()  # an ordinary refresh, not the nightly rebuild
    assert not CountyDayFigures.objects.filter(county_code=county_a.code, day=day).exists()
    assert CountyDayFigures.objects.filter(county_code=county_a.code).exists()


def test_a_case_forwarded_to_another_county_is_counted_once(county_a, county_b, staff_api, agreement, deliver):
    """跨域通办 for real (casework's forwarding and the exchange): 城中区 forwards a case, 龙井市 takes
    it over. The two cases are then moved to a day of their own, so only this test's rows count."""
    agreement()
    clerk_a, clerk_b = staff_api(county_a, "window_clerk"), staff_api(county_b, "window_clerk")
    body = {
        "matter": "异地办理营业执照变更", "description": "企业注册地在龙井市。", "citizen_name": "金先生",
        "citizen_phone": "13912345678", "channel": "window", "kind": "case", "category": "simple",
    }  # fmt: skip
    case = clerk_a.post("cases/create/", body).json()
    forward = {
        "version": case["version"], "mode": "full_online", "reason": "事项属地在对方县市。",
        "targets": [{"county_code": county_b.code, "role": "lead"}],
    }  # fmt: skip
    assert clerk_a.post(f"cases/{case['id']}/forward/", forward).status_code == 200
    deliver()
    incoming = clerk_b.get("forwards/incoming/").json()[0]
    taken = clerk_b.post(f"forwards/{incoming['id']}/accept/", {"kind_code": "case", "category_code": "simple"})
    deliver()
    day = datetime.date(2021, 6, 15)
    moment = datetime.datetime.combine(day, datetime.time(10), tzinfo=datetime.UTC)
    with tenant_context(county_a):
        assert Case.objects.get(pk=case["id"]).status == "forwarded"
        Case.objects.filter(pk=case["id"]).update(registered_at=moment)
    with tenant_context(county_b):
        Case.objects.filter(pk=taken.json()["case_id"]).update(registered_at=moment)
    _refresh(county_a, county_b)
    scope = Scope(day, day)
    with tenant_context(county_a):
        a = figures(scope=scope)
    with tenant_context(county_b):
        b = figures(scope=scope)
    assert (a.received, a.forwarded_out, a.forwarded_in) == (0, 1, 0)
    assert (b.received, b.forwarded_out, b.forwarded_in) == (1, 0, 1)
    result = province_figures(scope=scope)
    assert (result.total.received, result.total.forwarded_out, result.total.forwarded_in) == (1, 1, 1)


def test_the_snapshot_task_is_scheduled_for_every_county_and_runs_in_its_own(county_a, known_cases):
    dispatched = [
        entry["args"] for entry in BEAT_SCHEDULE.values()
        if entry["task"] == "platform.dispatch_to_counties" and entry["args"][0] == "reporting.refresh_snapshot"
    ]  # fmt: skip
    assert sorted(len(args) for args in dispatched) == [1, 2]  # every 10 minutes; nightly with rebuild
    assert {"rebuild": True} in [args[1] for args in dispatched if len(args) == 2]
    # As the dispatcher sends it: the county named in the header, the task run from anywhere.
    assert refresh_snapshot.apply(headers={"_schema_name": county_a.schema_name}).get() > 0
    with tenant_context(county_a):
        own = figures(scope=Q1, now=AS_OF)
    assert next(r for r in province_figures(scope=Q1, now=AS_OF).counties if r.code == "450202").figures == own


def test_the_snapshot_has_a_column_for_every_count_and_nothing_personal():
    columns = {f.name for f in CountyDayFigures._meta.get_fields()} - {"id"}
    assert columns == {"county_code", "day", "open_due", "reply_days", "complete_days", *SNAPSHOT_COUNTS}


def test_counties_not_yet_refreshed_are_told_apart(county_a, county_b, known_cases):
    _refresh(county_a)
    with schema_context("public"):
        CountySnapshot.objects.filter(county_code=county_b.code).delete()
    result = province_figures(scope=Q1, now=AS_OF)
    assert result.not_refreshed >= 1
    assert result.refreshed_to is not None


def _operator_client() -> APIClient:
    with schema_context("public"):
        user: Any = UserFactory(username="operator-report", is_staff=True)
        token = Token.objects.create(user=user).key
    client = APIClient(HTTP_HOST="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_only_operators_read_province_figures_and_no_personal_data_leaves(county_a, county_b, known_cases):
    _county_b_cases(county_b)
    _refresh(county_a, county_b)
    anonymous = APIClient(HTTP_HOST="localhost")
    assert (
        anonymous.get("/api/v1/province/figures/", {"date_from": "2025-01-01", "date_to": "2025-03-31"}).status_code
        == 401
    )
    response = _operator_client().get("/api/v1/province/figures/", {"date_from": "2025-01-01", "date_to": "2025-03-31"})
    assert response.status_code == 200
    body = response.content.decode()
    counties = {row["code"]: row for row in response.json()["counties"]}
    assert counties["450202"]["figures"]["received"] == 9 and counties["222405"]["figures"]["received"] == 1
    for personal in ("廖女士", "曹先生", "13812345678", "13900001111", "RP-2025", "LJ-2025"):
        assert personal not in body
    # The county API is not served at the console host, and the province API not at a county host.
    county_host = APIClient(HTTP_HOST=f"{county_a.slug}.localhost")
    assert county_host.get("/api/v1/province/figures/").status_code == 404


def test_the_province_page_shows_counts_only_and_only_to_operators(county_a, county_b, known_cases, client_for):
    _county_b_cases(county_b)
    _refresh(county_a, county_b)
    with schema_context("public"):
        operator: Any = UserFactory(username="operator-page", is_staff=True)
        someone: Any = UserFactory(username="not-an-operator")
    page_url = "/reports/province/"
    client = client_for(None)
    client.force_login(someone)
    assert client.get(page_url).status_code == 403
    client.force_login(operator)
    page = client.get(page_url, {"year": 2025, "quarter": 1})
    assert page.status_code == 200
    html = page.content.decode()
    assert "柳州市城中区" in html and "龙井市" in html and 'data-testid="freshness"' in html
    for personal in ("廖女士", "曹先生", "13812345678", "13900001111", "RP-2025", "LJ-2025", "多次往返"):
        assert personal not in html


def test_the_province_pdf_is_built_by_a_platform_task(
    county_a, county_b, known_cases, django_capture_on_commit_callbacks
):
    _county_b_cases(county_b)
    _refresh(county_a, county_b)
    client = _operator_client()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post("/api/v1/province/reports/create/", {"year": 2025, "quarter": 1}, format="json")
    assert response.status_code == 202 and len(queued) == 1
    with schema_context("public"):
        for name in ("reports/province/2025-Q1.json", "reports/province/2025-Q1.pdf"):
            if default_storage.exists(name):
                default_storage.delete(name)  # a fresh as_of
    assert generate_province_report.apply(args=(2025, 1)).get() == "done"
    status = client.get("/api/v1/province/reports/2025/1/").json()
    assert status == {"status": "done", "progress": 100}
    download = client.get("/api/v1/province/reports/2025/1/download/")
    data = b"".join(download.streaming_content)
    with schema_context("public"), default_storage.open("reports/province/2025-Q1.json") as handle:
        stored = json.load(handle)
    expected = province_figures(scope=Q1, now=datetime.datetime.fromisoformat(stored["as_of"]))
    assert stored["total"] == expected.total.as_dict()
    text = re.sub(r"[ \t]+", " ", pdf_text(data))
    assert "全省" in text and "龙井市" in text and "柳州市城中区" in text
    for row in figure_rows(expected.total):
        assert re.search(rf"^\s*{re.escape(row['label'])}\s+{re.escape(row['value'])}\s*$", text, re.M), row
    assert "各县数据更新于" in text
    assert "廖女士" not in text and "13812345678" not in text and "曹先生" not in text
    fonts = embedded_fonts(data)
    assert any(re.search(r"Noto-?Sans-?CJK-?SC", name) for name in fonts), fonts
    pages = render_pages(data, PAGES_DIR, "province")
    assert pages and all(png.stat().st_size > 5_000 for png in pages)
    # Regenerating keeps the figures (same as_of, same cases), a refresh of the snapshot in between.
    _refresh(county_a, county_b)
    with schema_context("public"):
        again = services.province_report_generate(year=2025, quarter=1)
        with default_storage.open("reports/province/2025-Q1.json") as handle:
            assert json.load(handle) == stored
    assert again["status"] == "done"


@pytest.mark.parametrize("role", ["security_admin", "auditor"])
def test_the_security_and_audit_administrators_do_not_read_province_figures(county_a, role):
    """三权分立: the province's figures are the system administrator's part."""
    with schema_context("public"):
        user: Any = UserFactory(username=f"console-{role}", is_staff=True, platform_role=role)
        token = Token.objects.create(user=user).key
    client = APIClient(HTTP_HOST="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert (
        client.get("/api/v1/province/figures/", {"date_from": "2025-01-01", "date_to": "2025-03-31"}).status_code == 403
    )
    page = Client(HTTP_HOST="localhost")
    page.force_login(user)
    assert page.get("/reports/province/").status_code == 403
