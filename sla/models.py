"""Deadline configuration of a county. Working-day arithmetic lives in this package alone.

Rules match casework's kinds, categories, causes and departments by code rather than by foreign
key: ``sla`` sits below ``casework`` and must not import it.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Clock(models.TextChoices):
    ACCEPTANCE = "acceptance", _("Acceptance")
    REPLY = "reply", _("Reply")
    RESOLUTION = "resolution", _("Resolution")
    FOLLOW_UP = "follow_up", _("Follow-up")


class DurationUnit(models.TextChoices):
    WORKING_DAYS = "working_days", _("Working days")
    WORKING_HOURS = "working_hours", _("Working hours")
    IMMEDIATE = "immediate", _("Immediately")


class DeadlineRule(models.Model):
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=128)
    clock = models.CharField(_("clock"), max_length=20, choices=Clock.choices)
    kind_code = models.CharField(_("request kind"), max_length=40, blank=True)
    category_code = models.CharField(_("category"), max_length=40, blank=True)
    cause_side = models.CharField(_("cause side"), max_length=20, blank=True)
    cause_code = models.CharField(_("cause"), max_length=40, blank=True)
    department_code = models.CharField(_("department"), max_length=40, blank=True)
    unit = models.CharField(_("unit"), max_length=20, choices=DurationUnit.choices)
    amount = models.PositiveIntegerField(_("amount"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("deadline rule")
        verbose_name_plural = _("deadline rules")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.name


class LocalHoliday(models.Model):
    """A county holiday on top of the national calendar (延边's 9月3日 州庆...).

    ``key`` is ``MM-DD`` for a holiday every year or ``YYYY-MM-DD`` for one year only.
    """

    key = models.CharField(_("date"), max_length=10, unique=True)
    name = models.CharField(_("name"), max_length=128)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("local holiday")
        verbose_name_plural = _("local holidays")
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key} {self.name}"


class OfficeHours(models.Model):
    """One period of the working day (08:30–12:00, 14:30–17:30...)."""

    key = models.CharField(_("period"), max_length=40, unique=True)
    start = models.TimeField(_("start"))
    end = models.TimeField(_("end"))
    # Summer/winter hours: the months ("5,6,7,8,9") this period applies in; empty for all year.
    months = models.CharField(_("months"), max_length=30, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("office hours")
        verbose_name_plural = _("office hours")
        ordering = ["start"]

    def __str__(self) -> str:
        return self.key
