from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings
from django_tenants.utils import tenant_context
from rest_framework.test import APIClient

from casework import services as casework
from casework.interop import services
from casework.models import Category, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from notifications.channels import signature_of
from tenants.models import County


def host(county: County) -> str:
    return f"{county.slug}.{settings.COUNTY_DOMAIN_SUFFIX}"


def issue(county: County, *scopes: str, source: str = "12345", webhook_url: str = "") -> services.IssuedClient:
    with tenant_context(county):
        return services.api_client_create(
            actor=None, name=f"{source}平台", source_system=source, scopes=list(scopes), webhook_url=webhook_url
        )


def client_api(county: County, api_key: str = "") -> APIClient:
    api = APIClient(HTTP_HOST=host(county))
    if api_key:
        api.credentials(HTTP_AUTHORIZATION=f"ApiKey {api_key}")
    return api


def signed_post(
    county: County, issued: services.IssuedClient, payload: dict[str, Any], *, nonce: str = "", at: int | None = None
) -> Any:
    """POST a 好差评 callback signed as the client's system does it."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    timestamp = str(int(time.time()) if at is None else at)
    nonce = nonce or secrets.token_hex(8)
    digest = hmac.new(issued.signing_secret.encode(), f"{timestamp}.{nonce}.".encode() + body, hashlib.sha256)
    return APIClient(HTTP_HOST=host(county)).generic(
        "POST",
        "/interop/v1/ratings/",
        body.decode(),
        content_type="application/json",
        HTTP_X_KEY_ID=issued.client.key_id,
        HTTP_X_TIMESTAMP=timestamp,
        HTTP_X_NONCE=nonce,
        HTTP_X_SIGNATURE=f"sha256={digest.hexdigest()}",
    )


def supervisor(county: County, username: str = "interop-boss") -> Any:
    with tenant_context(county):
        user = UserFactory(username=username)
        StaffProfileFactory(user=user, role=StaffRole.SUPERVISOR)
        return user


def replied_case(county: County, boss: Any, *, phone: str = "13800001111") -> Any:
    """A case registered, accepted, handled by the market bureau (scjgj in both demo counties) and replied to."""
    with tenant_context(county):
        category = "complex" if Category.objects.filter(code="complex").exists() else "simple"
        intake = casework.CaseIntake(
            matter="经营范围登记", description="窗口未予登记", citizen_name="廖女士", citizen_phone=phone,
            channel="window", kind_code="case", category_code=category,
        )  # fmt: skip
        case = casework.case_register(actor=boss, intake=intake)
        case = casework.case_accept_and_assign(
            actor=boss, case_id=case.pk, version=case.version, lead_department_code="scjgj"
        )
        assignment = case.assignments.get(status="pending")
        casework.assignment_complete(actor=boss, assignment_id=assignment.pk, result="已登记")
        case.refresh_from_db()
        return casework.case_reply(actor=boss, case_id=case.pk, version=case.version, method="phone", content="已办结")


class Receiver:
    """A real HTTP server on loopback: what a connected system receives from our webhooks."""

    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.events: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = signature_of(
                    secret=receiver.secret, timestamp=self.headers.get("X-Timestamp", ""),
                    nonce=self.headers.get("Idempotency-Key", ""), body=body,
                )  # fmt: skip
                if hmac.compare_digest(expected, self.headers.get("X-Signature", "")):
                    receiver.events.append({"key": self.headers["Idempotency-Key"], **json.loads(body)})
                    self.send_response(200)
                else:
                    self.send_response(401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    # Webhooks to loopback are refused unless the network is allowed (SSRF): this one is ours.
    settings.INTEROP_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    running = Receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


def waiting_on_locks(database: Any) -> int:
    """How many sessions of the test database wait on a lock (seen from a separate connection)."""
    row = database.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchone()
    return int(row[0]) if row else 0


def until(condition: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
