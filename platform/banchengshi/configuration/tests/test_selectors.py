"""Configuration served from memory is never older than the county's configuration generation."""

from __future__ import annotations

import http.client
import json
import uuid
from typing import Any

import psycopg
import pytest
from django.db import transaction
from django_tenants.utils import tenant_context
from rest_framework.authtoken.models import Token

from banchengshi.configuration.selectors import config_cached, config_generation, configuration_snapshot
from casework import services
from casework.errors import CaseworkError, CaseworkErrorCode
from casework.models import Department, RequestKind, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory, case_intake
from conftest import database_url_for_processes, host_of, web_server
from notifications.models import MessageTemplate, Notification, WebhookEndpoint
from sla.models import DeadlineRule

pytestmark = pytest.mark.django_db


def _intake(**changes: Any) -> services.CaseIntake:
    return case_intake(category_code="simple", **changes)


def test_every_tracked_table_starts_a_new_generation(county_a):
    with tenant_context(county_a):
        seen = [config_generation()]
        RequestKind.objects.filter(code="case").update(name="办件")
        seen.append(config_generation())
        DeadlineRule.objects.filter(code="simple-reply").update(amount=3)
        seen.append(config_generation())
        MessageTemplate.objects.create(key="case.registered", body="{number}")
        seen.append(config_generation())
        WebhookEndpoint.objects.create(name="12345", url="http://127.0.0.1:9/", secret="s", events=[])
        seen.append(config_generation())
        Department.objects.filter(code="scjgj").update(name="市场监督管理局")
        seen.append(config_generation())
    assert None not in seen and len(set(seen)) == len(seen)


def test_outside_a_snapshot_nothing_is_kept(county_a):
    loads = []
    with tenant_context(county_a):
        for _ in range(2):
            config_cached("test.outside", lambda: loads.append(1))
        with configuration_snapshot():
            for _ in range(2):
                config_cached("test.inside", lambda: loads.append(2))
    assert loads == [1, 1, 2]


def test_a_change_is_seen_by_the_next_registration(county_a):
    with tenant_context(county_a):
        boss = UserFactory(username="boss-generation")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        first = services.case_register(actor=boss, intake=_intake())
        DeadlineRule.objects.filter(code="simple-reply").update(amount=20)
        MessageTemplate.objects.update_or_create(key="case.registered", defaults={"body": "新措辞 {number}"})
        later = services.case_register(actor=boss, intake=_intake())
        assert later.reply_due_at > first.reply_due_at
        sms = Notification.objects.get(idempotency_key=f"{later.pk}:case.registered:sms")
        assert sms.body == f"新措辞 {later.number}"
        Department.objects.filter(code="scjgj").update(is_active=False)
        with pytest.raises(CaseworkError) as refused:
            services.case_register(actor=boss, intake=_intake(department_codes=("scjgj",)))
        assert refused.value.code == CaseworkErrorCode.UNKNOWN_REFERENCE


def test_a_change_rolled_back_leaves_no_cache_behind(county_a):
    with tenant_context(county_a):
        boss = UserFactory(username="boss-rollback")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        before = config_generation()
        with pytest.raises(RuntimeError), transaction.atomic():
            MessageTemplate.objects.update_or_create(key="case.registered", defaults={"body": "撤销的 {number}"})
            services.case_register(actor=boss, intake=_intake())  # caches the uncommitted wording
            raise RuntimeError
        assert config_generation() == before
        case = services.case_register(actor=boss, intake=_intake())
        sms = Notification.objects.get(idempotency_key=f"{case.pk}:case.registered:sms")
        assert "撤销的" not in sms.body


def _register_over_http(port: int, county: Any, token: str, **changes: Any) -> tuple[int, dict[str, Any]]:
    body = {
        "matter": "事项", "description": "x", "citizen_name": "x", "citizen_phone": "13800003333",
        "channel": "window", "kind": "case", "category": "simple",
    } | changes  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "POST", "/api/v1/cases/create/", body=json.dumps(body),
        headers={"Host": host_of(county), "Authorization": f"Token {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    return response.status, payload


@pytest.fixture(scope="module")
def clerk_token(two_counties: Any, django_db_blocker: Any) -> str:
    with django_db_blocker.unblock(), tenant_context(two_counties[0]):
        clerk: Any = UserFactory(username=f"clerk-gen-{uuid.uuid4().hex[:6]}")
        StaffProfileFactory(user=clerk, role=StaffRole.WINDOW_CLERK)
        return str(Token.objects.create(user=clerk).key)


def test_another_process_sees_a_committed_change_at_once(county_a, clerk_token):
    """The server caches the county's configuration; a change committed elsewhere reaches its next request."""
    with psycopg.connect(database_url_for_processes(), autocommit=True) as admin:
        admin.execute(f"SET search_path TO {county_a.schema_name}")

        def change(delta: int, active: bool) -> None:
            admin.execute("UPDATE sla_deadlinerule SET amount = amount + %s WHERE code = 'simple-reply'", [delta])
            admin.execute("UPDATE casework_department SET is_active = %s WHERE code = 'scjgj'", [active])

        with web_server(threads=2) as port:
            status, first = _register_over_http(port, county_a, clerk_token, departments=["scjgj"])
            assert status == 201, first
            change(15, False)
            try:
                status, refused = _register_over_http(port, county_a, clerk_token, departments=["scjgj"])
                assert status == 400 and refused["error"]["code"] == CaseworkErrorCode.UNKNOWN_REFERENCE, refused
                status, later = _register_over_http(port, county_a, clerk_token)
                assert status == 201, later
                assert later["reply_due_at"] > first["reply_due_at"]
            finally:
                change(-15, True)


def test_a_change_made_inside_a_snapshot_and_rolled_back_is_never_served(county_a):
    """Loaded after the transaction changed it, the configuration is that transaction's own: it must
    not be kept under the committed generation the snapshot read, which every other request uses."""

    def department_name() -> str:
        return Department.objects.get(code="scjgj").name

    with tenant_context(county_a):
        committed = config_generation()
        with pytest.raises(RuntimeError), transaction.atomic(), configuration_snapshot():
            Department.objects.filter(code="scjgj").update(name="撤销的名字")
            assert config_cached("test.inside-change", department_name) == "撤销的名字"
            raise RuntimeError
        assert config_generation() == committed
        with configuration_snapshot():
            assert config_cached("test.inside-change", department_name) != "撤销的名字"
