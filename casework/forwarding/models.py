"""Each county's record of forwards (跨域通办). Tables live in the county's schema.

A forward has one id that both counties' rows share: county A keeps an outgoing row, county B an
incoming one. They never read each other's rows; envelopes through the public exchange carry
every change between them.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from banchengshi.personal_data import is_sealed, unseal
from casework.models import Case

# The citizen's phone travels sealed inside envelope and forward payloads (ADR 14).
PAYLOAD_PHONE_PURPOSE = "forwarding.payload.citizen_phone"


class ForwardMode(models.TextChoices):
    """The three modes of 国办发〔2020〕35号."""

    FULL_ONLINE = "full_online", _("Handled online entirely by the other county (全程网办)")
    PROXY = "proxy", _("Papers received here, decided there (异地代收代办)")
    JOINT = "joint", _("Several counties, one lead (多地联办)")


class ForwardDirection(models.TextChoices):
    OUT = "out", _("Forwarded to another county")
    IN = "in", _("Forwarded from another county")


class ForwardStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the other county")
    ACCEPTED = "accepted", _("Accepted")
    RETURNED = "returned", _("Returned")
    RECALLED = "recalled", _("Recalled by the sending county")


class ForwardRole(models.TextChoices):
    LEAD = "lead", _("Lead (主办)")
    CO_HANDLER = "co_handler", _("Co-handler (协办)")


class Forward(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    direction = models.CharField(max_length=3, choices=ForwardDirection.choices)
    # Out: the case that was forwarded. In: the case this county opened when it accepted.
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="forwards", null=True, blank=True)
    counterpart_code = models.CharField(_("other county"), max_length=6)
    counterpart_name = models.CharField(_("other county"), max_length=128)
    mode = models.CharField(_("mode"), max_length=12, choices=ForwardMode.choices)
    role = models.CharField(_("role"), max_length=12, choices=ForwardRole.choices, default=ForwardRole.LEAD)
    # 多地联办: the forwards of one case to several counties share a group.
    group_id = models.UUIDField()
    reason = models.TextField(_("reason"))
    status = models.CharField(_("status"), max_length=10, choices=ForwardStatus.choices, default=ForwardStatus.PENDING)
    return_reason = models.TextField(_("reason for return"), blank=True)
    # Out: the other county's case number and latest status. In: the sending county's number.
    remote_number = models.CharField(max_length=24, blank=True)
    remote_status = models.CharField(max_length=20, blank=True)
    remote_status_display = models.CharField(max_length=64, blank=True)
    remote_version = models.PositiveIntegerField(default=0)
    # In: what crossed (the matter, description, citizen's name and contact, chosen attachments).
    payload = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["direction", "status", "-created_at"], name="forward_queue")]

    def __str__(self) -> str:
        return f"{self.direction} {self.counterpart_code} {self.status}"

    @property
    def citizen_phone(self) -> str:
        """The phone that crossed with an incoming forward, opened (payloads hold it sealed)."""
        value = str(self.payload.get("citizen_phone", ""))
        return unseal(value, purpose=PAYLOAD_PHONE_PURPOSE) if is_sealed(value) else value


class TransferDirection(models.TextChoices):
    PROVIDED = "provided", _("Provided to another county")
    RECEIVED = "received", _("Received from another county")


class PersonalDataTransfer(models.Model):
    """PIPL processing record: which personal fields went to (or came from) whom, and why."""

    forward = models.ForeignKey(Forward, on_delete=models.PROTECT, related_name="transfers")
    direction = models.CharField(max_length=10, choices=TransferDirection.choices)
    counterpart_code = models.CharField(max_length=6)
    counterpart_name = models.CharField(max_length=128)
    fields = models.JSONField(default=list)
    attachment_names = models.JSONField(default=list)
    purpose = models.TextField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at"]

    def __str__(self) -> str:
        return f"{self.direction} {self.counterpart_code}"
