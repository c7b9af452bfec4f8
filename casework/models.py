"""A county's casework data. Every table here lives in the county's own schema."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ReferenceData(models.Model):
    """Configured lists (windows, departments...): identified by a code, deactivated rather than deleted."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=128)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        abstract = True
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.name


class WindowLevel(models.TextChoices):
    COUNTY_HALL = "county_hall", _("County government service centre")
    SUB_CENTRE = "sub_centre", _("Sub-centre")
    STREET = "street", _("Street service centre")
    TOWNSHIP = "township", _("Township service centre")
    VILLAGE = "village", _("Village or community service station")


class Window(ReferenceData):
    """A service window where a problem can be registered (the "办不成事" window and its peers)."""

    level = models.CharField(_("level"), max_length=20, choices=WindowLevel.choices)

    class Meta(ReferenceData.Meta):
        verbose_name = _("window")
        verbose_name_plural = _("windows")


class Department(ReferenceData):
    short_name = models.CharField(_("short name"), max_length=32, blank=True)
    # The office that runs the window (政管办 / 政数局 / 行政审批服务局) supervises every case.
    runs_window = models.BooleanField(_("runs the window"), default=False)

    class Meta(ReferenceData.Meta):
        verbose_name = _("department")
        verbose_name_plural = _("departments")


class RequestKind(ReferenceData):
    """咨询 / 办件 / 求助 / 投诉, as the county configures them."""

    class Meta(ReferenceData.Meta):
        verbose_name = _("request kind")
        verbose_name_plural = _("request kinds")


class Category(ReferenceData):
    description = models.CharField(_("description"), max_length=255, blank=True)

    class Meta(ReferenceData.Meta):
        verbose_name = _("category")
        verbose_name_plural = _("categories")


class CauseSide(models.TextChoices):
    CITIZEN = "citizen", _("Citizen side")
    DEPARTMENT = "department", _("Department side")
    CONDUCT = "conduct", _("Staff conduct")


class Cause(ReferenceData):
    """Why a matter could not be done; feeds the rectification ledger."""

    side = models.CharField(_("side"), max_length=20, choices=CauseSide.choices)

    class Meta(ReferenceData.Meta):
        verbose_name = _("cause")
        verbose_name_plural = _("causes")
