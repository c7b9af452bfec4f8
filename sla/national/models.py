"""The national calendar, shared by every county (public schema)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Statutory holiday")
    MAKEUP_WORKDAY = "makeup_workday", _("Make-up working day (调休)")


class CalendarYear(models.Model):
    """A year whose State Council arrangement is loaded; days past the last one are provisional."""

    year = models.PositiveSmallIntegerField(_("year"), primary_key=True)
    source = models.CharField(_("source"), max_length=200)
    loaded_at = models.DateTimeField(_("loaded at"), auto_now=True)

    class Meta:
        verbose_name = _("calendar year")
        verbose_name_plural = _("calendar years")
        ordering = ["year"]

    def __str__(self) -> str:
        return str(self.year)


class NationalDay(models.Model):
    """A day that differs from the plain week: a holiday on a weekday or weekend, or a working weekend day."""

    date = models.DateField(_("date"), primary_key=True)
    kind = models.CharField(_("kind"), max_length=20, choices=DayKind.choices)
    name = models.CharField(_("name"), max_length=64)

    class Meta:
        verbose_name = _("national calendar day")
        verbose_name_plural = _("national calendar days")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"
