"""Casework writes its audit trail: case transitions, staff and role changes, every full phone number shown."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from banchengshi.audit.models import AuditRecord
from banchengshi.audit.selectors import audit_chain_verify
from casework import services
from casework.models import Department, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from conftest import host_of

pytestmark = pytest.mark.django_db


def _person(county: Any, role: str, username: str) -> Any:
    with tenant_context(county):
        user = UserFactory(username=username)
        department = Department.objects.get(code="scjgj") if role == StaffRole.DEPARTMENT_HANDLER else None
        StaffProfileFactory(user=user, role=role, department=department)
    return user


def _api(county: Any, user: Any) -> APIClient:
    client = APIClient(HTTP_HOST=host_of(county), REMOTE_ADDR="10.5.0.9")
    with tenant_context(county):
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _since(county: Any, seq: int, action: str) -> list[AuditRecord]:
    with tenant_context(county):
        return list(AuditRecord.objects.filter(seq__gt=seq, action=action).order_by("seq"))


def _head(county: Any) -> int:
    with tenant_context(county):
        last = AuditRecord.objects.order_by("-seq").first()
        return last.seq if last else 0


def _register(clerk_api: APIClient) -> str:
    body = {
        "matter": "开办餐饮店许可", "description": "跑了三次未办成", "citizen_name": "周先生",
        "citizen_phone": "13855556666", "channel": "window", "kind": "case", "window": "district-hall",
    }  # fmt: skip
    response = clerk_api.post("/api/v1/cases/create/", body, format="json")
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


def test_every_case_transition_is_audited_with_who_and_from_where(county_a):
    clerk = _person(county_a, StaffRole.WINDOW_CLERK, "trail-clerk")
    api = _api(county_a, clerk)
    start = _head(county_a)
    case_id = _register(api)
    accepted = api.post(f"/api/v1/cases/{case_id}/accept/", {"version": 1}, format="json")
    assert accepted.status_code == 200
    registered, accept = _since(county_a, start, "case.registered"), _since(county_a, start, "case.accepted")
    assert len(registered) == 1 and len(accept) == 1
    record = accept[0]
    assert (record.actor_id, record.actor_label, record.object_id) == (clerk.pk, "trail-clerk", case_id)
    assert record.source_address == "10.5.0.9" and record.details == {"from": "registered", "to": "accepted"}
    assert record.schema == county_a.schema_name
    with tenant_context(county_a):
        assert audit_chain_verify().intact


def test_full_phone_numbers_shown_are_audited_and_masked_ones_are_not(county_a):
    clerk = _person(county_a, StaffRole.WINDOW_CLERK, "phone-clerk")
    leader = _person(county_a, StaffRole.LEADER, "phone-leader")
    clerk_api = _api(county_a, clerk)
    case_id = _register(clerk_api)
    start = _head(county_a)
    assert clerk_api.get(f"/api/v1/cases/{case_id}/").json()["citizen_phone"] == "13855556666"
    masked = clerk_api.get("/api/v1/cases/").json()["results"]  # lists mask unless asked
    assert {row["citizen_phone"] for row in masked if row["id"] == case_id} == {"138****6666"}
    assert [v.object_id for v in _since(county_a, start, "case.phone_viewed")] == [case_id]
    listed = clerk_api.get("/api/v1/cases/", {"full_phone": "true"}).json()["results"]
    assert any(row["citizen_phone"] == "13855556666" for row in listed)
    views = _since(county_a, start, "case.phone_viewed")
    assert [v.object_id for v in views][:1] == [case_id]
    assert case_id in views[1].details["case_ids"] and views[1].actor_id == clerk.pk
    assert "13855556666" not in str([v.details for v in views])  # ids only, never the number

    start = _head(county_a)
    leader_api = _api(county_a, leader)
    assert leader_api.get(f"/api/v1/cases/{case_id}/").json()["citizen_phone"] == "138****6666"
    listed = leader_api.get("/api/v1/cases/", {"full_phone": "true"}).json()["results"]
    assert {row["citizen_phone"] for row in listed if row["id"] == case_id} == {"138****6666"}
    assert _since(county_a, start, "case.phone_viewed") == []


def test_the_pages_audit_full_phone_numbers_too(county_a, clean_cache):
    clerk = _person(county_a, StaffRole.WINDOW_CLERK, "phone-page-clerk")
    case_id = _register(_api(county_a, clerk))
    page = Client(HTTP_HOST=host_of(county_a), REMOTE_ADDR="10.5.0.10")
    assert (
        page.post("/accounts/login/", {"username": "phone-page-clerk", "password": "S3cure-pass!"}).status_code == 302
    )
    start = _head(county_a)
    assert "13855556666" in page.get(f"/cases/{case_id}/").content.decode()
    queue = page.get("/work/").content.decode()
    assert "13855556666" not in queue and "138****6666" in queue  # the queue masks every number
    views = _since(county_a, start, "case.phone_viewed")
    assert [v.object_id for v in views] == [case_id]
    assert views[0].source_address == "10.5.0.10"


def test_staff_and_role_changes_are_audited(county_a):
    with tenant_context(county_a):
        admin = UserFactory(username="trail-admin")
        StaffProfileFactory(user=admin, role=StaffRole.COUNTY_ADMIN)
    start = _head(county_a)
    with tenant_context(county_a):
        profile = services.staff_create(
            actor=admin, username="trail-new", name="新人", role="window_clerk", password="Xk3!pass-2026"
        )
        services.staff_role_set(actor=admin, profile_id=profile.pk, role="supervisor")
        services.staff_deactivate(actor=admin, profile_id=profile.pk)
    created = _since(county_a, start, "staff.created")
    role = _since(county_a, start, "staff.role_set")
    gone = _since(county_a, start, "staff.deactivated")
    assert created[0].details == {"role": "window_clerk", "department": ""}
    assert role[0].details == {"from": "window_clerk", "to": "supervisor", "department": ""}
    assert gone[0].object_id == str(profile.user_id) and gone[0].actor_id == admin.pk
