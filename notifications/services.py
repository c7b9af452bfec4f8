"""Writing to the outbox and delivering from it.

``notification_enqueue`` is called inside the transaction that changes a case, so the message
exists exactly when the change does; delivery is queued after commit, and a periodic relay picks
up whatever the queue missed (Redis down at that moment).
"""

from __future__ import annotations

import datetime
import json
import logging
from functools import partial
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from notifications.channels import sms_backend, webhook_post
from notifications.errors import (
    NotificationsError,
    NotificationsErrorCode,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from notifications.models import Channel, MessageTemplate, Notification, Status, WebhookEndpoint
from notifications.templates import DEFAULT_TEMPLATES, render

logger = logging.getLogger(__name__)

BACKOFF_SECONDS = (30, 120, 600, 1800, 7200)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1


def notification_enqueue(
    *,
    key: str,
    channel: str,
    recipient: str,
    values: dict[str, Any],
    idempotency_key: str,
    urgent: bool = False,
) -> Notification | None:
    """Put one message in the outbox (once per idempotency key); returns None if it was there already."""
    subject_template: Promise | str
    body_template: Promise | str
    subject_template, body_template = DEFAULT_TEMPLATES[key]
    own = MessageTemplate.objects.filter(key=key).first()
    if own is not None:
        subject_template, body_template = own.subject or subject_template, own.body
    now = timezone.now()
    notification = Notification(
        key=key,
        channel=channel,
        recipient=recipient,
        subject=render(str(subject_template), values)[:200],
        body=render(str(body_template), values),
        urgent=urgent,
        idempotency_key=idempotency_key,
        next_attempt_at=_after_quiet_hours(now) if channel == Channel.SMS and not urgent else now,
    )
    if channel == Channel.INAPP:
        # The inbox is the channel: it has arrived once it is stored.
        notification.status = Status.SENT
        notification.sent_at = now
    try:
        with transaction.atomic():
            notification.save()
    except IntegrityError:
        return None
    if notification.status == Status.PENDING and notification.next_attempt_at <= now:
        transaction.on_commit(lambda: _queue(notification.pk))
    return notification


def _queue(notification_id: UUID) -> None:
    from notifications.tasks import deliver

    try:
        deliver.delay(str(notification_id))
    except Exception:  # noqa: BLE001 - the broker is down: the relay delivers it later
        logger.warning("delivery of notification %s not queued; the relay will send it", notification_id)


def _respecting_quiet_hours(notification: Notification, moment: datetime.datetime) -> datetime.datetime:
    if notification.channel == Channel.SMS and not notification.urgent:
        return _after_quiet_hours(moment)
    return moment


def _after_quiet_hours(now: datetime.datetime) -> datetime.datetime:
    """No citizen SMS between 22:00 and 08:00 local time unless urgent: hold it until 08:00."""
    local = timezone.localtime(now)
    start, end = settings.SMS_QUIET_HOURS
    if local.hour >= start:
        local = (local + datetime.timedelta(days=1)).replace(hour=end, minute=0, second=0, microsecond=0)
    elif local.hour < end:
        local = local.replace(hour=end, minute=0, second=0, microsecond=0)
    else:
        return now
    return local


def notification_deliver(*, notification_id: UUID) -> str:
    """Send one pending message. Safe to run twice: the row lock and its status decide who sends."""
    now = timezone.now()
    with transaction.atomic():
        notification = Notification.objects.select_for_update(skip_locked=True).filter(pk=notification_id).first()
        if notification is None:
            return "busy"
        if notification.status != Status.PENDING or notification.next_attempt_at > now:
            return "skipped"
        notification.attempts += 1
        try:
            _send(notification)
        except TransientDeliveryError as exc:
            return _backoff(notification, now, exc.code)
        except PermanentDeliveryError as exc:
            notification.last_error = exc.code
            notification.status = Status.FAILED
            notification.save(update_fields=["attempts", "last_error", "status"])
            return "failed"
        except Exception as exc:  # noqa: BLE001 - a bug or an odd answer must back off, not loop every minute
            logger.exception("notification %s: unexpected delivery error %s", notification.pk, type(exc).__name__)
            return _backoff(notification, now, f"unexpected.{type(exc).__name__}")
        notification.status = Status.SENT
        notification.sent_at = now
        notification.last_error = ""
        notification.save(update_fields=["attempts", "last_error", "status", "sent_at"])
        return "sent"


def _backoff(notification: Notification, now: datetime.datetime, code: str) -> str:
    notification.last_error = code
    if notification.attempts >= MAX_ATTEMPTS:
        notification.status = Status.FAILED
    else:
        delay = BACKOFF_SECONDS[notification.attempts - 1]
        notification.next_attempt_at = _respecting_quiet_hours(notification, now + datetime.timedelta(seconds=delay))
    notification.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
    return "failed" if notification.status == Status.FAILED else "retry"


def _send(notification: Notification) -> None:
    if notification.channel == Channel.SMS:
        sms_backend().send(
            phone=notification.recipient, text=notification.body, idempotency_key=notification.idempotency_key
        )
    elif notification.channel == Channel.WEBHOOK:
        endpoint = WebhookEndpoint.objects.filter(pk=notification.subject, is_active=True).first()
        if endpoint is None:
            raise PermanentDeliveryError("webhook.endpoint_gone")
        webhook_post(
            url=endpoint.url, secret=endpoint.secret, payload=notification.body,
            idempotency_key=notification.idempotency_key,
        )  # fmt: skip
    elif notification.channel == Channel.EMAIL:
        message = EmailMessage(
            subject=notification.subject, body=notification.body, to=[notification.recipient],
            headers={"Message-ID": f"<{notification.pk}@banchengshi>"},
        )  # fmt: skip
        try:
            message.send()
        except OSError:
            raise TransientDeliveryError("email.unreachable") from None


def notifications_relay(*, limit: int = 500) -> list[UUID]:
    """The pending messages that are due and were not queued (or whose worker died): queue them."""
    cutoff = timezone.now()
    due = list(
        Notification.objects.filter(status=Status.PENDING, next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for notification_id in due:
        _queue(notification_id)
    return due


def notification_retry(*, notification_id: UUID) -> Notification:
    """A county admin sends a failed message again."""
    with transaction.atomic():
        notification = Notification.objects.select_for_update().filter(pk=notification_id).first()
        if notification is None:
            raise NotificationsError(NotificationsErrorCode.NOT_FOUND, _("No such message."), http_status=404)
        if notification.status != Status.FAILED:
            raise NotificationsError(NotificationsErrorCode.NOT_RETRYABLE, _("Only a failed message can be retried."))
        notification.status = Status.PENDING
        notification.attempts = 0
        notification.next_attempt_at = _respecting_quiet_hours(notification, timezone.now())
        notification.save(update_fields=["status", "attempts", "next_attempt_at"])
        transaction.on_commit(lambda: _queue(notification.pk))
    return notification


def webhook_event_publish(*, event: str, payload: dict[str, Any], idempotency_key: str) -> int:
    """Queue one signed delivery of ``event`` to every active endpoint of this county that wants it.

    Each delivery is an outbox row (subject = the endpoint), so retries, backoff and the delivery
    log are the same as for messages.
    """
    body = json.dumps({"event": event, "data": payload}, ensure_ascii=False, sort_keys=True, default=str)
    queued = 0
    for endpoint in WebhookEndpoint.objects.filter(is_active=True):
        if endpoint.events and event not in endpoint.events:
            continue
        notification = Notification(
            key=event, channel=Channel.WEBHOOK, recipient=endpoint.url[:500], subject=str(endpoint.pk), body=body,
            idempotency_key=f"{idempotency_key}:webhook:{endpoint.pk}",
        )  # fmt: skip
        try:
            with transaction.atomic():
                notification.save()
        except IntegrityError:
            continue
        transaction.on_commit(partial(_queue, notification.pk))
        queued += 1
    return queued


def message_template_set(*, key: str, subject: str, body: str) -> MessageTemplate:
    """Let a county reword a message; the text must use only the values that message has."""
    if key not in DEFAULT_TEMPLATES:
        raise NotificationsError(NotificationsErrorCode.NOT_FOUND, _("No such message."), http_status=404)
    allowed = set(_placeholders(str(DEFAULT_TEMPLATES[key][1]))) | set(_placeholders(str(DEFAULT_TEMPLATES[key][0])))
    unknown = sorted((set(_placeholders(body)) | set(_placeholders(subject))) - allowed)
    if unknown or not body.strip():
        raise NotificationsError(
            NotificationsErrorCode.TEMPLATE_INVALID,
            _("The text may use only these values: %(allowed)s.") % {"allowed": ", ".join(sorted(allowed))},
            details=[{"field": "body", "code": "invalid", "message": ", ".join(unknown)}],
        )
    template, _created = MessageTemplate.objects.update_or_create(key=key, defaults={"subject": subject, "body": body})
    return template


def _placeholders(text: str) -> list[str]:
    import string

    return [name for _literal, name, _spec, _conv in string.Formatter().parse(text) if name]


def inbox_mark_read(*, user_id: int, notification_id: UUID) -> None:
    Notification.objects.filter(
        pk=notification_id, channel=Channel.INAPP, recipient=str(user_id), read_at__isnull=True
    ).update(read_at=timezone.now())
