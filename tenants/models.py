from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_tenants.models import DomainMixin, TenantMixin


class CountyStatus(models.TextChoices):
    ONBOARDING = "onboarding", _("Onboarding")
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    MIGRATION_FAILED = "migration_failed", _("Migration failed")


class County(TenantMixin):
    """A county (区 / 县 / 县级市) on the platform: one tenant, one PostgreSQL schema.

    The schema is named after the administrative division code (``c450202``), which never
    changes, so a county's slug and host name can change without moving its data.
    """

    code = models.CharField(
        _("administrative division code"),
        max_length=6,
        unique=True,
        validators=[RegexValidator(r"^\d{6}$", _("The code must be 6 digits."))],
    )
    slug = models.SlugField(_("slug"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=64)
    full_name = models.CharField(_("full name"), max_length=128)
    province = models.CharField(_("province"), max_length=64)
    city = models.CharField(_("city"), max_length=64)
    case_prefix = models.CharField(_("case number prefix"), max_length=4, unique=True)
    window_name = models.CharField(_("window name"), max_length=128, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=CountyStatus.choices, default=CountyStatus.ONBOARDING)
    config_digest = models.CharField(_("configuration digest"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    # Onboarding creates the schema explicitly, inside its own transaction.
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        verbose_name = _("county")
        verbose_name_plural = _("counties")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.full_name

    @property
    def is_serving(self) -> bool:
        return self.status == CountyStatus.ACTIVE


class Domain(DomainMixin):
    class Meta:
        verbose_name = _("domain")
        verbose_name_plural = _("domains")
