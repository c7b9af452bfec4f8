from django.conf import settings
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
    # Days from closing a case to removing its personal data (county configuration; casework.retention).
    personal_data_retention_days = models.PositiveIntegerField(
        _("personal data kept (days after closing)"), default=1095
    )
    status = models.CharField(_("status"), max_length=20, choices=CountyStatus.choices, default=CountyStatus.ONBOARDING)
    config_digest = models.CharField(_("configuration digest"), max_length=64, blank=True)
    # The digest of the migration plan this schema was last brought up to by migrate_counties;
    # a cache of the schema's own django_migrations, so a no-op run is one query.
    schema_digest = models.CharField(_("schema version"), max_length=64, blank=True)
    migration_error = models.TextField(_("migration error"), blank=True)
    # What a county whose migration failed goes back to once it succeeds (a suspended county
    # stays suspended).
    status_before_failure = models.CharField(max_length=20, choices=CountyStatus.choices, blank=True)
    suspended_at = models.DateTimeField(_("suspended at"), null=True, blank=True)
    # Removal is allowed only after this moment (set when removal is requested, the county
    # suspended meanwhile); None means no removal has been requested.
    removal_hold_until = models.DateTimeField(_("removal allowed after"), null=True, blank=True)
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


class CasePrefixClaim(models.Model):
    """A case number prefix, kept by the county that first used it for as long as the platform runs.

    Case numbers are quoted by citizens, the 12345 hotline and other counties (跨域通办) long after a
    case closes, so one number must never name two cases: a prefix a county gave up (by changing it,
    or by leaving the platform) is not handed to another county.
    """

    prefix = models.CharField(_("case number prefix"), max_length=4, unique=True)
    county_code = models.CharField(_("county"), max_length=6, db_index=True)
    claimed_at = models.DateTimeField(_("claimed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("case number prefix claim")
        verbose_name_plural = _("case number prefix claims")
        ordering = ["prefix"]

    def __str__(self) -> str:
        return f"{self.prefix} {self.county_code}"


class MigrationKind(models.TextChoices):
    SQL = "sql", _("SQL")
    PYTHON = "python", _("Python (data migration)")
    RECORD = "record", _("Recorded only (not a county app)")


class RenderedMigration(models.Model):
    """One migration of the county schema plan, with its SQL rendered once against the template schema.

    ``migrate_counties`` and onboarding execute this SQL in every county instead of asking Django
    to plan and introspect each schema; see docs/adr (migration executor).
    """

    position = models.PositiveIntegerField()
    app = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    source_digest = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=MigrationKind.choices)
    sql = models.TextField(blank=True)
    rendered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["app", "name"], name="rendered_migration_unique")]

    def __str__(self) -> str:
        return f"{self.app}.{self.name}"


class BatchStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")


class CountyBatch(models.Model):
    """Many counties onboarded from one CSV of division codes and names plus a template configuration.

    ``done`` is where a resumed run starts again; every county is its own transaction.
    """

    source_name = models.CharField(_("file"), max_length=255)
    template_yaml = models.TextField()
    rows = models.JSONField(default=list)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=BatchStatus.choices, default=BatchStatus.PENDING)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.source_name} {self.done}/{self.total}"


class CountyConfigVersion(models.Model):
    """Every configuration a county has had; the newest is the one in force."""

    county = models.ForeignKey(County, on_delete=models.CASCADE, related_name="config_versions")
    number = models.PositiveIntegerField()
    yaml_text = models.TextField()
    digest = models.CharField(max_length=64)
    note = models.CharField(max_length=255, blank=True)
    rolled_back_to = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["county", "-number"]
        constraints = [models.UniqueConstraint(fields=["county", "number"], name="one_config_version_number")]

    def __str__(self) -> str:
        return f"{self.county_id} v{self.number}"


class BreakGlassGrant(models.Model):
    """A time-limited, reasoned access of one operator to one county's personal data, for support."""

    operator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    county = models.ForeignKey(County, on_delete=models.CASCADE, related_name="break_glass_grants")
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.operator_id} → {self.county_id} until {self.expires_at:%Y-%m-%d %H:%M}"
