"""The forwarding exchange between counties (跨域通办). These tables live in the public schema.

Counties never read each other's schemas: a county writes an envelope here in the same
transaction as its own change, and a task running in the receiving county's schema applies it
there and marks it delivered in one transaction, so each envelope takes effect exactly once.
"""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EnvelopeKind(models.TextChoices):
    FORWARD = "forward", _("Case forwarded")
    ACCEPTED = "accepted", _("Forward accepted")
    RETURNED = "returned", _("Forward returned")
    PROGRESS = "progress", _("Progress of a forwarded case")
    RECALL = "recall", _("Forward recalled")
    # 多地联办: the lead returned the case; a co-handler already at work on its part is told.
    LEAD_RETURNED = "lead_return", _("Lead county returned a joint forward")


class Envelope(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=12, choices=EnvelopeKind.choices)
    # The forward both counties' records share.
    forward_id = models.UUIDField()
    source_code = models.CharField(max_length=6)
    target_code = models.CharField(max_length=6)
    target_schema = models.CharField(max_length=63)
    # Only what the receiving county needs; never the sender's internal ids beyond the forward.
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(
                fields=["created_at"], condition=models.Q(delivered_at__isnull=True), name="envelope_undelivered"
            ),
            models.Index(fields=["forward_id"], name="envelope_forward"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.source_code}→{self.target_code}"


class ForwardAgreement(models.Model):
    """Two counties of different provinces that may forward cases to each other (跨省通办).

    Counties of one province may always forward to each other; across provinces only where the
    provincial operators have recorded an agreement. One row covers both directions.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    first_code = models.CharField(_("county"), max_length=6)
    second_code = models.CharField(_("county"), max_length=6)
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(first_code__lt=models.F("second_code")), name="agreement_ordered"
            ),
            models.UniqueConstraint(
                fields=["first_code", "second_code"], condition=models.Q(ended_at__isnull=True), name="one_agreement"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_code}⇄{self.second_code}"
