"""Email to staff through Django's SMTP backend, received by a real SMTP server on loopback."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django_tenants.utils import tenant_context

from notifications import services
from notifications.models import Channel, Status

pytestmark = pytest.mark.django_db


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content, policy=default))
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
