"""The audit trail: one append-only, hash-chained table in every schema (public and each county)."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Outcome(models.TextChoices):
    SUCCESS = "success", _("Succeeded")
    FAILURE = "failure", _("Failed")
    DENIED = "denied", _("Denied")


class AuditRecord(models.Model):
    """Who did what to which object, from where, and how it ended.

    PostgreSQL refuses UPDATE, DELETE and TRUNCATE on this table (a trigger; migrations 0002), the
    application's role has no such privilege either, and ``hash`` chains every record to the one
    before it, so ``manage.py audit_verify`` finds a changed, removed or inserted record.
    ``details`` never holds personal data: ids and codes only.
    """

    seq = models.BigIntegerField(_("sequence"), unique=True)
    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    schema = models.CharField(_("tenant"), max_length=63)
    actor_id = models.BigIntegerField(_("actor id"), null=True, blank=True)
    actor_label = models.CharField(_("actor"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    source_address = models.CharField(_("source address"), max_length=64, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    details = models.JSONField(_("details"), default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("audit record")
        verbose_name_plural = _("audit records")
        indexes = [
            models.Index(fields=["actor_id", "at"], name="audit_actor_at"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.seq} {self.action}"
