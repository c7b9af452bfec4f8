"""A county's links to its other systems. Every table here lives in the county's own schema.

Cases and ratings themselves stay in casework (written through its services); these tables hold
who may call us, which outside id names which case, and what casework has no column for.
"""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from casework.models import Case, Rating
from notifications.models import WebhookEndpoint


class Scope(models.TextChoices):
    OPEN311 = "open311", _("Open311 service requests")
    INTAKE = "intake", _("Work order intake (12345)")
    RATINGS = "ratings", _("好差评 callbacks")


class ApiClient(models.Model):
    """One client application (the 12345 platform, a 好差评 system, a civic app).

    Only a hash of its API key is stored: a leaked table does not let anyone call us. The signing
    key is kept as given, because both sides need it to compute an HMAC.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=100)
    # What the client's own ids are ids of ("12345", "hcp"...): external references are unique per system.
    source_system = models.SlugField(_("source system"), max_length=40)
    key_id = models.CharField(_("key id"), max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    signing_secret = models.CharField(_("signing key"), max_length=64)
    scopes = models.JSONField(_("scopes"), default=list)
    webhook = models.ForeignKey(
        WebhookEndpoint, verbose_name=_("webhook"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ExternalReference(models.Model):
    """The id another system gives a case: importing the same work order twice finds this row."""

    source_system = models.SlugField(max_length=40)
    external_id = models.CharField(max_length=64)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="external_references")
    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="references")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source_system", "external_id"], name="one_case_per_external_id")
        ]

    def __str__(self) -> str:
        return f"{self.source_system}:{self.external_id}"


class Open311Details(models.Model):
    """What an Open311 request carries that a case has no column for: where, a picture, the device."""

    case = models.OneToOneField(Case, on_delete=models.PROTECT, primary_key=True, related_name="open311")
    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="+")
    address_string = models.CharField(max_length=255, blank=True)
    address_id = models.CharField(max_length=64, blank=True)
    zipcode = models.CharField(max_length=12, blank=True)
    lat = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    long = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    media_url = models.URLField(max_length=500, blank=True)
    email = models.EmailField(blank=True)
    device_id = models.CharField(max_length=64, blank=True)
    account_id = models.CharField(max_length=64, blank=True)
    attributes = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return str(self.case_id)


class Dimension(models.TextChoices):
    """The 好差评 dimensions a rating may score besides its overall level."""

    EFFICIENCY = "efficiency", _("Efficiency (效率)")
    ATTITUDE = "attitude", _("Attitude (态度)")
    COMPETENCE = "competence", _("Competence (水平)")
    CONVENIENCE = "convenience", _("Convenience (便捷)")
    INTEGRITY = "integrity", _("Integrity (廉洁)")


class ExternalRating(models.Model):
    """A rating delivered by a 好差评 system; its own id makes a repeated callback change nothing."""

    source_system = models.SlugField(max_length=40)
    external_id = models.CharField(max_length=64)
    rating = models.OneToOneField(Rating, on_delete=models.PROTECT, related_name="external")
    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source_system", "external_id"], name="one_rating_per_external_id")
        ]

    def __str__(self) -> str:
        return f"{self.source_system}:{self.external_id}"


class RatingDetail(models.Model):
    rating = models.ForeignKey(Rating, on_delete=models.PROTECT, related_name="details")
    dimension = models.CharField(_("dimension"), max_length=20, choices=Dimension.choices)
    score = models.PositiveSmallIntegerField(_("score"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rating", "dimension"], name="one_score_per_dimension"),
            models.CheckConstraint(condition=models.Q(score__gte=1, score__lte=5), name="score_one_to_five"),
        ]

    def __str__(self) -> str:
        return f"{self.rating_id} {self.dimension}={self.score}"


class RectificationStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RECTIFIED = "rectified", _("Rectified, waiting for the follow-up rating")
    ACCEPTED = "accepted", _("Accepted by the citizen")
    REJECTED = "rejected", _("Not accepted by the citizen")


RECTIFICATION_RUNNING = (RectificationStatus.OPEN, RectificationStatus.RECTIFIED)


class Rectification(models.Model):
    """整改: what a 差评 starts. Call the citizen back, put it right by the deadline, then one more rating."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="rectifications")
    bad_rating = models.OneToOneField(Rating, on_delete=models.PROTECT, related_name="rectification")
    status = models.CharField(
        _("status"), max_length=12, choices=RectificationStatus.choices, default=RectificationStatus.OPEN
    )
    opened_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(_("rectify by"))
    due_provisional = models.BooleanField(default=False)
    called_back_at = models.DateTimeField(null=True, blank=True)
    rectified_at = models.DateTimeField(null=True, blank=True)
    rectified_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    note = models.TextField(_("what was put right"), blank=True)
    follow_up_rating = models.OneToOneField(
        Rating, on_delete=models.PROTECT, null=True, blank=True, related_name="rectification_follow_up"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("rectification")
        verbose_name_plural = _("rectifications")
        ordering = ["-opened_at"]
        constraints = [
            # One loop at a time per case: the follow-up rating closes it before another can open.
            models.UniqueConstraint(
                fields=["case"], condition=models.Q(status__in=["open", "rectified"]), name="one_running_rectification"
            )
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="rectification_due")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.status}"


class InteropSettings(models.Model):
    """The county's own choices for its connected systems (one row)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    rectification_working_days = models.PositiveSmallIntegerField(_("working days to rectify a 差评"), default=15)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="interop_settings_single_row")]

    def __str__(self) -> str:
        return f"{self.rectification_working_days}"
