"""Writing to the outbox and delivering from it.

``notification_enqueue`` is called inside the transaction that changes a case, so the message
exists exactly when the change does; after commit a flush of the county's outbox is queued (one
for a burst of messages), and a periodic relay picks up whatever the queue missed (Redis down at
that moment).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import smtplib
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from banchengshi.core.redis_client import shared_redis
from banchengshi.core.rows import row_insert
from banchengshi.personal_data import seal
from banchengshi.tasks import county_apply_async
from banchengshi.tenancy import current_schema
from notifications.channels import sms_backend, webhook_post
from notifications.errors import (
    NotificationsError,
    NotificationsErrorCode,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from notifications.models import (
    RECIPIENT_PURPOSE,
    SEALED_CHANNELS,
    Channel,
    MessageTemplate,
    Notification,
    Status,
    WebhookEndpoint,
)
from notifications.selectors import message_templates_own, webhook_endpoints_active
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
    own = message_templates_own().get(key)
    if own is not None:
        subject_template, body_template = own.subject or subject_template, own.body
    now = timezone.now()
    notification = Notification(
        key=key,
        channel=channel,
        recipient=seal(recipient, purpose=RECIPIENT_PURPOSE) if channel in SEALED_CHANNELS else recipient,
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
    if not _insert_once(notification):
        return None
    if notification.status == Status.PENDING and notification.next_attempt_at <= now:
        schema_name = current_schema()
        transaction.on_commit(lambda: _wake(schema_name))
    return notification


def _insert_once(notification: Notification) -> bool:
    """INSERT … ON CONFLICT (idempotency_key) DO NOTHING: False when the message is there already.

    One statement, where catching the IntegrityError needed a savepoint around the INSERT (two
    more round trips on every case change).
    """
    return row_insert(notification, skip_on_conflict="idempotency_key")


# How long a county's queued flush stands for the new messages behind it. If that flush is lost
# (Redis crashed before a worker took it), the next message after this wakes another one.
WAKE_SECONDS = 30


def _wake_key(schema_name: str) -> str:
    return f"bcs:notifications:wake:{schema_name}"


def _wake(schema_name: str) -> None:
    """After a commit that put a message in the outbox: have this county's new messages queued.

    One flush task per burst, not one task per message: the first message after a flush started
    queues the next one, the messages behind it find it queued and ride along. Publishing a task
    cost the request about 0.7 ms of CPU, more than writing the message; the flag costs one Redis
    round trip. A flush deletes the flag before it reads the outbox, so a message committed after
    that read sets the flag again and wakes another flush: none is left waiting.
    """
    from notifications.tasks import flush

    key = _wake_key(schema_name)
    try:
        if shared_redis().set(key, 1, nx=True, ex=WAKE_SECONDS):
            try:
                county_apply_async(flush, schema_name=schema_name)
            except Exception:
                shared_redis().delete(key)  # a later message tries again, rather than waiting out the flag
                raise
    except Exception:  # noqa: BLE001 - Redis is down: the periodic relay delivers it later
        logger.warning("new messages of %s not queued; the relay will send them", schema_name)


def notifications_flush() -> list[UUID]:
    """Queue this county's due messages for delivery: the task a burst of new messages wakes."""
    # First: from here on a new message wakes another flush (see ``_wake``).
    shared_redis().delete(_wake_key(current_schema()))
    return notifications_relay()


def _queue(notification_id: UUID) -> bool:
    from notifications.tasks import deliver

    try:
        deliver.delay(str(notification_id))
    except Exception:  # noqa: BLE001 - the broker is down: the relay delivers it later
        logger.warning("delivery of notification %s not queued; the relay will send it", notification_id)
        return False
    return True


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


def lease_seconds() -> int:
    """How long a claim holds: longer than any channel may take to answer, so a live worker keeps it."""
    return int(getattr(settings, "NOTIFICATIONS_LEASE_SECONDS", 120))


def notification_deliver(*, notification_id: UUID) -> str:
    """Send one due message. Safe to run twice, and no row lock is held while the channel talks.

    1. Claim: one conditional UPDATE turns a due pending row into ``sending`` with a fresh attempt
       id and a lease, and commits, so exactly one worker wins however many tasks arrive.
    2. Send, outside any transaction, with the idempotency key (SMS, webhooks) or a Message-ID
       derived from it (email), so a repeat after a crash is recognisable by the receiver.
    3. Record the outcome, only if the row still carries this attempt id: an attempt whose lease
       ran out and was handed to another worker changes nothing.

    A citizen SMS that reaches a worker during quiet hours is not claimed: it waits until 08:00.
    """
    if _hold_for_quiet_hours(notification_id):
        return "held"
    attempt = _claim(notification_id)
    if attempt is None:
        return "skipped"
    notification, attempt_id = attempt
    now = timezone.now()
    try:
        _send(notification)
    except TransientDeliveryError as exc:
        return _record(notification, attempt_id, _backoff_fields(notification, now, exc.code))
    except PermanentDeliveryError as exc:
        return _record(notification, attempt_id, {"status": Status.FAILED, "last_error": exc.code})
    except Exception as exc:  # noqa: BLE001 - a bug or an odd answer must back off, not loop every minute
        logger.exception("notification %s: unexpected delivery error %s", notification.pk, type(exc).__name__)
        return _record(notification, attempt_id, _backoff_fields(notification, now, f"unexpected.{type(exc).__name__}"))
    return _record(notification, attempt_id, {"status": Status.SENT, "sent_at": timezone.now(), "last_error": ""})


def _quiet_sms() -> Q:
    return Q(channel=Channel.SMS, urgent=False)


def _hold_for_quiet_hours(notification_id: UUID) -> bool:
    """A citizen SMS that fell due before 22:00 but reaches a worker after it (a backlog, the
    relay's next minute) waits for the morning: quiet hours hold at the moment of sending, not
    only when the message was written."""
    now = timezone.now()
    until = _after_quiet_hours(now)
    if until <= now:
        return False
    held = Notification.objects.filter(
        _quiet_sms(), pk=notification_id, status=Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=until, relayed_at=None)
    return bool(held)


def _hold_due_for_quiet_hours(now: datetime.datetime) -> int:
    """In quiet hours the relay moves citizen SMS that fell due before them to the morning
    rather than queueing tasks that would only hold them."""
    until = _after_quiet_hours(now)
    if until <= now:
        return 0
    return Notification.objects.filter(_quiet_sms(), status=Status.PENDING, next_attempt_at__lte=now).update(
        next_attempt_at=until, relayed_at=None
    )


def _claim(notification_id: UUID) -> tuple[Notification, UUID] | None:
    now = timezone.now()
    attempt_id = uuid.uuid4()
    claimable = Notification.objects.filter(pk=notification_id, status=Status.PENDING, next_attempt_at__lte=now)
    if _after_quiet_hours(now) > now:
        claimable = claimable.exclude(_quiet_sms())  # never claimed at night, whoever reads it when
    with transaction.atomic():
        claimed = claimable.update(
            status=Status.SENDING,
            attempt_id=attempt_id,
            lease_expires_at=now + datetime.timedelta(seconds=lease_seconds()),
            attempts=F("attempts") + 1,
            relayed_at=None,
        )
        if not claimed:
            return None
        notification = Notification.objects.get(pk=notification_id)
    return notification, attempt_id


def _record(notification: Notification, attempt_id: UUID, fields: dict[str, Any]) -> str:
    outcome = {
        Status.SENT: "sent",
        Status.FAILED: "failed",
        Status.PENDING: "retry",
    }[fields["status"]]
    recorded = Notification.objects.filter(pk=notification.pk, status=Status.SENDING, attempt_id=attempt_id).update(
        attempt_id=None, lease_expires_at=None, **fields
    )
    if not recorded:
        # The lease ran out while this worker was still sending and another attempt owns the row
        # now; its outcome is the one that counts.
        logger.warning("notification %s: attempt outlived its lease; outcome %s not recorded", notification.pk, outcome)
        return "superseded"
    return outcome


def _backoff_fields(notification: Notification, now: datetime.datetime, code: str) -> dict[str, Any]:
    if notification.attempts >= MAX_ATTEMPTS:
        return {"status": Status.FAILED, "last_error": code}
    delay = BACKOFF_SECONDS[notification.attempts - 1]
    return {
        "status": Status.PENDING,
        "last_error": code,
        "next_attempt_at": _respecting_quiet_hours(notification, now + datetime.timedelta(seconds=delay)),
    }


def _send(notification: Notification) -> None:
    if notification.channel == Channel.SMS:
        sms_backend().send(
            phone=notification.address, text=notification.body, idempotency_key=notification.idempotency_key
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
            subject=notification.subject, body=notification.body, to=[notification.address],
            headers={"Message-ID": email_message_id(notification.idempotency_key)},
            # A hung mail server must not outlive the lease, or a second worker would send too.
            connection=get_connection(timeout=settings.SMS_TIMEOUT_SECONDS),
        )  # fmt: skip
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as exc:
            # A 5xx answer for the address (no such mailbox) will not change with retries.
            codes = [code for code, _text in exc.recipients.values()]
            permanent = bool(codes) and all(500 <= code < 600 for code in codes)
            raise (PermanentDeliveryError if permanent else TransientDeliveryError)("email.refused") from None
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            permanent = 500 <= exc.smtp_code < 600
            raise (PermanentDeliveryError if permanent else TransientDeliveryError)("email.refused") from None
        except OSError:  # unreachable, timed out, or our own credentials refused: worth another try
            raise TransientDeliveryError("email.unreachable") from None
        except ValueError:
            # The mail library refuses the address (or a header with a line break) before it is
            # sent: waiting will not fix it, and its message quotes the address, so none is kept.
            raise PermanentDeliveryError("email.invalid_address") from None


def email_message_id(idempotency_key: str) -> str:
    """The same Message-ID for every attempt at one message: SMTP has no idempotency key, but a
    receiver (or mailbox) that drops repeated Message-IDs then drops a resend after a crash."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "banchengshi.localhost"
    return f"<{digest}@{domain}>"


# At most this many messages of one county are in flight (queued by the relay and not yet taken,
# or being sent) at once, so a county whose provider hangs cannot fill the workers' queue and
# starve the others; the relay queues a waiting message again only after a while.
RELAY_IN_FLIGHT_CAP = 200


def relay_requeue_seconds() -> int:
    """How long a message the relay queued waits before the relay queues it again (its task may
    have been lost with a crashed Redis, or failed while the database was down)."""
    return int(getattr(settings, "NOTIFICATIONS_RELAY_REQUEUE_SECONDS", 300))


def notifications_relay(*, limit: int = RELAY_IN_FLIGHT_CAP) -> list[UUID]:
    """Queue what is due and was not queued (Redis down, retries, held SMS), and take back claims
    whose lease ran out (the worker died mid-send): they are sent again with the same key."""
    now = timezone.now()
    _reclaim_expired(now, limit=limit)
    _hold_due_for_quiet_hours(now)
    recently = now - datetime.timedelta(seconds=relay_requeue_seconds())
    in_flight = Notification.objects.filter(
        Q(status=Status.SENDING) | Q(status=Status.PENDING, relayed_at__gt=recently)
    ).count()
    # Marked before the tasks are published, in a transaction of its own: a worker that takes a
    # task at once clears the mark with its claim, and a mark written after that would hold its
    # retry back for the whole requeue interval. Skipping locked rows keeps a flush and the relay
    # running side by side from queueing the same message twice.
    with transaction.atomic():
        due = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, next_attempt_at__lte=now)
            .exclude(relayed_at__gt=recently)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[: max(0, min(limit, RELAY_IN_FLIGHT_CAP - in_flight))]
        )
        Notification.objects.filter(pk__in=due).update(relayed_at=now)
    queued = [notification_id for notification_id in due if _queue(notification_id)]
    if len(queued) < len(due):
        # The broker is down: these were not queued, the next relay takes them.
        Notification.objects.filter(pk__in=set(due) - set(queued), status=Status.PENDING, relayed_at=now).update(
            relayed_at=None
        )
    return queued


def _reclaim_expired(now: datetime.datetime, *, limit: int) -> int:
    expired = Notification.objects.filter(status=Status.SENDING, lease_expires_at__lte=now)
    # A message whose workers keep dying while sending it (it crashes them) stops here; the county
    # admin sees it among the failed ones.
    given_up = expired.filter(attempts__gte=MAX_ATTEMPTS).update(
        status=Status.FAILED, attempt_id=None, lease_expires_at=None, last_error="delivery.worker_lost"
    )
    reclaimed = 0
    for notification in expired.filter(attempts__lt=MAX_ATTEMPTS)[:limit]:
        # Conditional on the same expired claim, so an attempt that records its outcome right now wins.
        reclaimed += Notification.objects.filter(
            pk=notification.pk, status=Status.SENDING, attempt_id=notification.attempt_id
        ).update(
            status=Status.PENDING,
            attempt_id=None,
            lease_expires_at=None,
            last_error="delivery.worker_lost",
            next_attempt_at=_respecting_quiet_hours(notification, now),
        )
    if given_up or reclaimed:
        logger.warning("relay: %d expired claims taken back, %d given up", reclaimed, given_up)
    return reclaimed


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
    for endpoint in webhook_endpoints_active():
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


def webhook_endpoint_subscribe(*, name: str, url: str, secret: str, events: list[str]) -> WebhookEndpoint:
    """Connect another system of the county (the 12345 platform, a 好差评 system) to case events."""
    return WebhookEndpoint.objects.create(name=name[:100], url=url, secret=secret, events=list(events))


def webhook_endpoint_deactivate(*, endpoint_id: UUID) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(is_active=False)


def message_template_set(*, key: str, subject: str, body: str) -> MessageTemplate:
    """Let a county reword a message; the text must use only the values that message has."""
    if key not in DEFAULT_TEMPLATES:
        raise NotificationsError(NotificationsErrorCode.NOT_FOUND, _("No such message."), http_status=404)
    allowed = set(_placeholders(str(DEFAULT_TEMPLATES[key][1]))) | set(_placeholders(str(DEFAULT_TEMPLATES[key][0])))
    try:
        unknown = sorted((set(_placeholders(body)) | set(_placeholders(subject))) - allowed)
        # Tried once with every value, as a message would be: "{number!x}" or "{number:d}" parse
        # but fail to render, and a failing template would stop every registration of the county.
        sample: dict[str, object] = dict.fromkeys(allowed, "")
        render(body, sample), render(subject, sample)
    except (ValueError, IndexError, KeyError, AttributeError):
        unknown = ["{…}"]
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

    names = []
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        # Plain {name} only: a positional {}, an attribute, an index, a conversion or a format
        # spec is refused (as an unknown value) rather than trusted to render.
        plain = name.isidentifier() and not spec and not conversion
        names.append(name if plain else f"{{{name}}}")
    return names


def inbox_mark_read(*, user_id: int, notification_id: UUID) -> None:
    Notification.objects.filter(
        pk=notification_id, channel=Channel.INAPP, recipient=str(user_id), read_at__isnull=True
    ).update(read_at=timezone.now())


def notifications_scrub(*, idempotency_key_prefixes: list[str], clean: Callable[[str], str]) -> int:
    """Retention: messages of one matter (by idempotency key prefix) lose their personal data.

    SMS and email keep no recipient and no text; in-app messages and webhooks keep their text
    with ``clean`` applied (the caller's idea of what is personal). Messages still waiting to be
    sent are left alone. Returns how many rows changed.
    """
    if not idempotency_key_prefixes:
        return 0
    matching = Q()
    for prefix in idempotency_key_prefixes:
        matching |= Q(idempotency_key__startswith=prefix)
    changed = 0
    for notification in Notification.objects.filter(matching).exclude(status__in=[Status.PENDING, Status.SENDING]):
        before = (notification.recipient, notification.subject, notification.body)
        if notification.channel in SEALED_CHANNELS:
            notification.recipient, notification.subject, notification.body = "", "", ""
        else:
            # A marker may be longer than the name it replaces: cut to the column, or the save (and
            # with it the whole case's anonymisation) would fail every night.
            subject_max = Notification._meta.get_field("subject").max_length or 0
            notification.subject = clean(notification.subject)[:subject_max]
            notification.body = clean(notification.body)
        if (notification.recipient, notification.subject, notification.body) != before:
            notification.save(update_fields=["recipient", "subject", "body"])
            changed += 1
    return changed
