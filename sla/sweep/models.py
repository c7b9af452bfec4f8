"""One row per running clock of every open case of every county, in the public schema.

A sweep over thousands of counties must not visit thousands of schemas; it reads this table by
``next_check_at`` instead. Rows are written in the same transaction as the case change.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Escalation(models.IntegerChoices):
    NONE = 0, _("Not escalated")
    SUPERVISOR = 1, _("Supervising office")
    LEADER = 2, _("Leaders")
    DUBAN = 3, _("督办 notice")


class DeadlineEntry(models.Model):
    schema_name = models.CharField(max_length=63)
    case_id = models.UUIDField()
    clock = models.CharField(max_length=20)
    due_at = models.DateTimeField()
    warn_at = models.DateTimeField(null=True)
    warned_at = models.DateTimeField(null=True)
    overdue_at = models.DateTimeField(null=True)
    escalation = models.PositiveSmallIntegerField(default=Escalation.NONE)
    # The next moment something may have to fire for this clock; None when nothing is left to fire.
    next_check_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["schema_name", "case_id", "clock"], name="one_entry_per_clock"),
        ]
        indexes = [
            models.Index(
                fields=["next_check_at"], name="deadline_next_check", condition=models.Q(next_check_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schema_name} {self.case_id} {self.clock} {self.due_at:%Y-%m-%d %H:%M}"
