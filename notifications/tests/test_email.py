"""Email to staff through Django's SMTP backend, received by a real SMTP server on loopback."""

from __future__ import annotations

import datetime
import email
import socket
from collections.abc import Iterator
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone
from django_tenants.utils import tenant_context

from notifications import services
from notifications.models import Channel, Notification, Status

pytestmark = pytest.mark.django_db


class RefusingInbox:
    """A mail server that knows no such mailbox (550) for one address and defers (451) another."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if address.startswith("nobody@"):
            return "550 5.1.1 No such mailbox"
        if address.startswith("busy@"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


class Inbox:
    """A mailbox that keeps one copy per Message-ID (as many mail stores and clients do)."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.arrivals: list[str] = []  # the Message-ID of every SMTP transaction

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=default)
        self.arrivals.append(message["Message-ID"])
        if message["Message-ID"] not in {m["Message-ID"] for m in self.messages}:
            self.messages.append(message)
        return "250 OK"


@pytest.fixture
def smtp(settings) -> Iterator[Inbox]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    yield inbox
    controller.stop()


def test_an_email_arrives_once_with_its_chinese_text(county_a, smtp):
    with tenant_context(county_a):
        values = {"number": "CZ-2026-000001", "matter": "营业执照", "clock": "答复", "due": "2026-11-24 17:30"}
        notification = services.notification_enqueue(
            key="deadline.overdue", channel=Channel.EMAIL, recipient="supervisor@example.gov.cn", values=values,
            idempotency_key="overdue-email-1",
        )  # fmt: skip
        assert notification is not None
        assert services.notification_deliver(notification_id=notification.pk) == "sent"
        assert services.notification_deliver(notification_id=notification.pk) == "skipped"
        notification.refresh_from_db()
    assert notification.status == Status.SENT
    (message,) = smtp.messages
    assert message["To"] == "supervisor@example.gov.cn"
    assert message["Subject"] == "逾期：CZ-2026-000001"
    assert "案件CZ-2026-000001“营业执照”已逾期" in message.get_content()


def test_an_unreachable_mail_server_is_retried_later(county_a, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1
    with tenant_context(county_a):
        notification = services.notification_enqueue(
            key="deadline.overdue", channel=Channel.EMAIL, recipient="x@example.gov.cn",
            values={"number": "n", "matter": "m", "clock": "c", "due": "d"}, idempotency_key="overdue-email-2",
        )  # fmt: skip
        assert notification is not None
        assert services.notification_deliver(notification_id=notification.pk) == "retry"
        notification.refresh_from_db()
    assert notification.last_error == "email.unreachable" and "x@example" not in notification.last_error


def test_an_email_resent_after_a_crash_carries_the_same_message_id(county_a, smtp):
    """SMTP has no idempotency key: a worker that dies after the server took the message but
    before recording it makes the relay send it again. The repeat carries the same Message-ID,
    derived from the idempotency key, so a mailbox that drops repeated Message-IDs keeps one."""
    with tenant_context(county_a):
        notification = services.notification_enqueue(
            key="deadline.overdue", channel=Channel.EMAIL, recipient="leader@example.gov.cn",
            values={"number": "n", "matter": "m", "clock": "c", "due": "d"}, idempotency_key="overdue-email-3",
        )  # fmt: skip
        assert notification is not None
        assert services.notification_deliver(notification_id=notification.pk) == "sent"
        # As if the worker had died between the server's 250 and recording it: its claim expires.
        Notification.objects.filter(pk=notification.pk).update(
            status=Status.SENDING, lease_expires_at=timezone.now() - datetime.timedelta(minutes=1)
        )
        assert notification.pk in services.notifications_relay(limit=10_000)
        assert services.notification_deliver(notification_id=notification.pk) == "sent"
    expected = services.email_message_id("overdue-email-3")
    assert smtp.arrivals == [expected, expected]
    assert len(smtp.messages) == 1 and "overdue-email-3" not in expected


@pytest.mark.parametrize(
    ("address", "outcome"), [("nobody@example.gov.cn", "failed"), ("busy@example.gov.cn", "retry")]
)
def test_a_mailbox_that_does_not_exist_is_not_retried_for_hours(county_a, settings, address, outcome):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(RefusingInbox(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    try:
        with tenant_context(county_a):
            notification = services.notification_enqueue(
                key="deadline.overdue", channel=Channel.EMAIL, recipient=address,
                values={"number": "n", "matter": "m", "clock": "c", "due": "d"}, idempotency_key=f"refused-{address}",
            )  # fmt: skip
            assert notification is not None
            assert services.notification_deliver(notification_id=notification.pk) == outcome
            notification.refresh_from_db()
            assert notification.last_error == "email.refused"
    finally:
        controller.stop()


@pytest.mark.parametrize(
    "address", ["zhang@@example.gov.cn", "leader@example.gov.cn,", "leader@example.gov.cn\nBcc: x@y.cn"]
)
def test_an_address_the_mail_library_refuses_fails_at_once_and_stays_out_of_the_logs(county_a, smtp, caplog, address):
    """A mistyped address cannot become valid by waiting: no six attempts over hours. Its error
    names the address, which is personal data (sealed in the outbox): only a code is kept and logged."""
    with tenant_context(county_a):
        notification = services.notification_enqueue(
            key="deadline.overdue", channel=Channel.EMAIL, recipient=address,
            values={"number": "n", "matter": "m", "clock": "c", "due": "d"}, idempotency_key=f"bad-{address}",
        )  # fmt: skip
        assert notification is not None
        assert services.notification_deliver(notification_id=notification.pk) == "failed"
        notification.refresh_from_db()
    assert notification.status == Status.FAILED and notification.last_error == "email.invalid_address"
    assert "example.gov.cn" not in caplog.text and smtp.arrivals == []
