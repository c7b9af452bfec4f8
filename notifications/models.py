"""The outbox: every message to a citizen or staff member, written with the change that causes it.

This package knows no domain model: callers give a template key, a recipient (phone, email or
user id) and plain values.
"""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from banchengshi.personal_data import is_sealed, unseal


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    INAPP = "inapp", _("In-app")
    WEBHOOK = "webhook", _("Webhook")


# Phone numbers and email addresses are sealed in the outbox (ADR 14); user ids and webhook
# addresses are not personal data and stay searchable (the inbox filters on them).
SEALED_CHANNELS = ("sms", "email")
RECIPIENT_PURPOSE = "notifications.notification.recipient"


class Status(models.TextChoices):
    PENDING = "pending", _("Pending")
    # A worker claimed it and is talking to the channel; the lease says until when the claim holds.
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class WebhookEndpoint(models.Model):
    """Another system of the county (the 12345 platform, a 好差评 system) that wants case events."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("address"), max_length=500)
    # Each request is signed with this key (HMAC-SHA256), so the receiver knows it came from us.
    secret = models.CharField(_("signing key"), max_length=200)
    events = models.JSONField(_("events"), default=list)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.name


class MessageTemplate(models.Model):
    """A county's own wording of one message (its window's name, its tone); falls back to the default."""

    key = models.CharField(_("message"), max_length=64, unique=True)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"))

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")

    def __str__(self) -> str:
        return self.key


class Notification(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key = models.CharField(_("message"), max_length=64)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    recipient = models.CharField(_("recipient"), max_length=500)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    urgent = models.BooleanField(default=False)
    # One message per event, channel and recipient: a repeated event or task sends nothing twice.
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # The claim of the attempt under way: only its owner records the outcome, and once the lease
    # has run out (the worker died) the relay hands the message to another worker.
    attempt_id = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When the relay last queued it: it is queued again only after a while (see the relay's cap).
    relayed_at = models.DateTimeField(null=True, blank=True)
    # An error code only: no phone number or message text ever goes into logs or errors.
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="notification_due", condition=models.Q(status="pending")),
            models.Index(fields=["lease_expires_at"], name="notification_lease", condition=models.Q(status="sending")),
            models.Index(fields=["channel", "recipient", "read_at"], name="notification_inbox"),
            # Retention finds a matter's messages by the start of their idempotency key.
            models.Index(fields=["idempotency_key"], name="notification_key_prefix", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.channel} {self.status}"

    @property
    def address(self) -> str:
        """The recipient as its channel needs it (phone numbers and email addresses are stored sealed)."""
        if self.channel in SEALED_CHANNELS and is_sealed(self.recipient):
            return unseal(self.recipient, purpose=RECIPIENT_PURPOSE)
        return self.recipient
