"""Client applications: the webhook a county admin gives a connected system."""

from __future__ import annotations

from typing import Any

import pytest
from django_tenants.utils import tenant_context
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from casework.interop.models import ApiClient
from casework.interop.tests.conftest import host
from casework.models import StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from notifications.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


def admin_api(county) -> APIClient:
    with tenant_context(county):
        user: Any = UserFactory(username="clients-admin")
        StaffProfileFactory(user=user, role=StaffRole.COUNTY_ADMIN)
        token = Token.objects.create(user=user).key
    api = APIClient(HTTP_HOST=host(county))
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def create(api: APIClient, url: str):
    body = {"name": "ssrf-probe", "source_system": "12345", "scopes": ["intake"], "webhook_url": url}
    return api.post("/interop/v1/clients/create/", body, format="json")


def test_a_webhook_may_not_point_inside_the_platform_unless_the_network_is_allowed(county_a, settings, receiver):
    """Our servers POST to the webhook: a loopback, link-local (cloud metadata) or private address
    would let a county admin reach the platform's own internal services (SSRF)."""
    settings.INTEROP_WEBHOOK_ALLOWED_NETWORKS = []
    api = admin_api(county_a)
    for url in (
        receiver.url,
        "http://localhost:6379/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/hook",
        "http://[::1]:8000/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0:8000/",
    ):
        refused = create(api, url)
        assert refused.status_code == 400, (url, refused.content)
        error = refused.json()["error"]
        assert error["code"] == "interop.invalid" and error["details"][0]["field"] == "webhook_url", url
        assert "内部地址" in error["message"], url
    with tenant_context(county_a):
        assert not ApiClient.objects.filter(name="ssrf-probe").exists()
        assert not WebhookEndpoint.objects.filter(name="ssrf-probe").exists()
    # A county whose 12345 platform sits on the government network names that network.
    settings.INTEROP_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    created = create(api, receiver.url)
    assert created.status_code == 201, created.content
    assert created.json()["webhook_url"] == receiver.url
    assert create(api, "http://169.254.169.254/latest/meta-data/").status_code == 400
    unresolvable = create(api, "http://no-such-host.invalid/hook")
    assert unresolvable.status_code == 400 and unresolvable.json()["error"]["code"] == "interop.invalid"


def test_a_misspelt_webhook_event_is_refused_not_silently_never_sent(county_a, settings, receiver):
    settings.INTEROP_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    api = admin_api(county_a)
    body = {"name": "12345平台", "source_system": "12345", "scopes": ["intake"], "webhook_url": receiver.url}
    refused = api.post(
        "/interop/v1/clients/create/", {**body, "webhook_events": ["case.registred", "replied"]}, format="json"
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["details"][0]["field"] == "webhook_events" and "case.registred" in error["message"]
    assert "未知" in error["message"]
    created = api.post(
        "/interop/v1/clients/create/", {**body, "webhook_events": ["case.registered", "case.replied"]}, format="json"
    )
    assert created.status_code == 201, created.content
