"""Outgoing webhooks: signed, delivered once, retried on transient errors, logged."""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from casework import services as casework
from casework.models import StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from notifications import services
from notifications.channels import signature_of
from notifications.models import Channel, Notification, Status, WebhookEndpoint

pytestmark = pytest.mark.django_db


class Receiver:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = signature_of(
                    secret="county-key", timestamp=self.headers["X-Timestamp"], nonce=self.headers["Idempotency-Key"],
                    body=body,
                )  # fmt: skip
                status = receiver.answers.pop(0) if receiver.answers else 200
                if status == 200 and hmac.compare_digest(expected, self.headers["X-Signature"]):
                    receiver.events.append({"key": self.headers["Idempotency-Key"], **json.loads(body)})
                    receiver.requests.append((dict(self.headers), body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()


def test_case_events_reach_the_connected_system_signed_and_once(county_a, receiver):
    with tenant_context(county_a):
        WebhookEndpoint.objects.create(name="12345平台", url=receiver.url, secret="county-key", events=[])
        boss = UserFactory(username="hook-boss")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        intake = casework.CaseIntake(
            matter="x", description="x", citizen_name="周先生", citizen_phone="13800007777",
            channel="hotline_12345", kind_code="case",
        )  # fmt: skip
        case = casework.case_register(actor=boss, intake=intake)
        case = casework.case_accept(actor=boss, case_id=case.pk, version=case.version)
        hooks = list(Notification.objects.filter(channel=Channel.WEBHOOK, idempotency_key__startswith=str(case.pk)))
        receiver.answers = [503]
        outcomes = [services.notification_deliver(notification_id=h.pk) for h in hooks]
        Notification.objects.filter(pk__in=[h.pk for h in hooks]).update(next_attempt_at=case.registered_at)
        outcomes += [services.notification_deliver(notification_id=h.pk) for h in hooks]
        outcomes += [services.notification_deliver(notification_id=h.pk) for h in hooks]
        statuses = set(Notification.objects.filter(pk__in=[h.pk for h in hooks]).values_list("status", flat=True))
    assert outcomes.count("retry") == 1 and outcomes.count("sent") == 2 and statuses == {Status.SENT}
    assert sorted(e["event"] for e in receiver.events) == ["case.accepted", "case.registered"]
    assert all(e["data"]["number"] == case.number for e in receiver.events)
    assert "13800007777" not in json.dumps(receiver.events, ensure_ascii=False)
    assert "周先生" not in json.dumps(receiver.events, ensure_ascii=False)


def test_an_endpoint_gets_only_the_events_it_asked_for(county_a, receiver):
    with tenant_context(county_a):
        WebhookEndpoint.objects.create(name="好差评", url=receiver.url, secret="county-key", events=["case.rated"])
        assert services.webhook_event_publish(event="case.registered", payload={}, idempotency_key="a") == 0
        assert services.webhook_event_publish(event="case.rated", payload={}, idempotency_key="b") == 1
        assert services.webhook_event_publish(event="case.rated", payload={}, idempotency_key="b") == 0


def test_the_signature_covers_the_time_and_the_key_so_a_captured_event_cannot_be_replayed(county_a, receiver):
    """A receiver that checks the time window and remembers keys refuses a replay, with its key or a new one."""
    with tenant_context(county_a):
        WebhookEndpoint.objects.create(name="12345平台", url=receiver.url, secret="county-key", events=[])
        boss = UserFactory(username="boss-replay")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        casework.case_register(actor=boss, intake=casework.CaseIntake(
            matter="重放", description="x", citizen_name="x", citizen_phone="13800007777", channel="window",
            kind_code="case",
        ))  # fmt: skip
        for notification in Notification.objects.filter(channel=Channel.WEBHOOK):
            services.notification_deliver(notification_id=notification.pk)
    headers, body = receiver.requests[0]
    assert abs(int(headers["X-Timestamp"]) - time.time()) < 60
    assert headers["X-Nonce"] == headers["Idempotency-Key"]

    def valid(timestamp: str, nonce: str) -> bool:
        return hmac.compare_digest(
            signature_of(secret="county-key", timestamp=timestamp, nonce=nonce, body=body), headers["X-Signature"]
        )

    assert valid(headers["X-Timestamp"], headers["X-Nonce"])
    assert not valid(headers["X-Timestamp"], headers["X-Nonce"] + "-again")  # a fresh key for the replay
    assert not valid(str(int(headers["X-Timestamp"]) + 600), headers["X-Nonce"])  # a fresh time for it
