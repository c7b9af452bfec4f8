"""Reporting's own tables, in each county's schema: the scoring rule, stored reports, the export log.

Reporting reads casework's tables and never writes them; what it keeps is its own.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

_POINTS = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


class ScoringRule(models.Model):
    """How the county scores its departments for the annual 绩效考核 (one row per county)."""

    # A single row: the primary key is fixed.
    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    on_time_points = models.DecimalField(
        _("points per case completed on time"), max_digits=5, decimal_places=2, default=Decimal("2"),
        validators=_POINTS,
    )  # fmt: skip
    solved_points = models.DecimalField(
        _("points per case solved"), max_digits=5, decimal_places=2, default=Decimal("1"), validators=_POINTS
    )
    overdue_deduction = models.DecimalField(
        _("deduction per late case"), max_digits=5, decimal_places=2, default=Decimal("2"), validators=_POINTS
    )
    bad_rating_deduction = models.DecimalField(
        _("deduction per bad rating"), max_digits=5, decimal_places=2, default=Decimal("3"), validators=_POINTS
    )
    return_deduction = models.DecimalField(
        _("deduction per return"), max_digits=5, decimal_places=2, default=Decimal("1"), validators=_POINTS
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("scoring rule")
        verbose_name_plural = _("scoring rules")
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="one_scoring_rule")]

    def __str__(self) -> str:
        return str(_("scoring rule"))


class ReportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Being generated")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")


class QuarterlyReport(models.Model):
    """季度报告: one per quarter. Regenerating keeps ``as_of``, so the same cases give the same figures."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    year = models.PositiveSmallIntegerField(_("year"))
    quarter = models.PositiveSmallIntegerField(_("quarter"), validators=[MinValueValidator(1), MaxValueValidator(4)])
    # The moment the figures describe: open cases past their deadline at this moment are late.
    as_of = models.DateTimeField(_("figures as of"))
    status = models.CharField(_("status"), max_length=12, choices=ReportStatus.choices, default=ReportStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    stage = models.CharField(_("stage"), max_length=64, blank=True)
    generation = models.PositiveIntegerField(default=1)
    figures = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to="reports/quarterly/", blank=True)
    pages = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("quarterly report")
        verbose_name_plural = _("quarterly reports")
        ordering = ["-year", "-quarter"]
        constraints = [models.UniqueConstraint(fields=["year", "quarter"], name="one_report_per_quarter")]

    def __str__(self) -> str:
        return f"{self.year} Q{self.quarter}"


class ExportKind(models.TextChoices):
    CASES = "cases", _("Case list")
    FIGURES = "figures", _("Figures")


class ExportLog(models.Model):
    """Who exported what: a spreadsheet of cases carries personal data, so each export is recorded."""

    kind = models.CharField(_("export"), max_length=12, choices=ExportKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=64)
    role = models.CharField(max_length=24)
    at = models.DateTimeField(default=timezone.now)
    scope = models.JSONField(default=dict)
    rows = models.PositiveIntegerField(default=0)
    phones_unmasked = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("export log entry")
        verbose_name_plural = _("export log")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.at:%Y-%m-%d %H:%M}"
