from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from banchengshi.personal_data import EncryptedTextField

TOTP_SECRET_PURPOSE = "accounts.totpdevice.secret"  # noqa: S105 - associated data, not a secret


class PlatformRole(models.TextChoices):
    """What a provincial operator (a staff account of the public schema) may do: 三权分立."""

    OPERATOR = "operator", _("system administrator: counties and their configuration")
    SECURITY_ADMIN = "security_admin", _("security administrator: operator accounts")
    AUDITOR = "auditor", _("audit administrator: the platform's audit trail")


class User(AbstractUser):
    """A person who signs in: a provincial operator (public schema) or county staff (county schema).

    The table exists in every schema, so an account belongs to exactly one county or to the
    province, and the same username in two counties is two unrelated people.
    """

    # Chinese names are not split into first and last name.
    name = models.CharField(_("name"), max_length=64, blank=True)
    # Passwords expire after ACCOUNTS_PASSWORD_MAX_AGE_DAYS; stamped by every set_password.
    password_changed_at = models.DateTimeField(_("password changed at"), default=timezone.now)
    # Set when an administrator chose the password: the person replaces it at their first sign-in.
    must_change_password = models.BooleanField(_("must change password"), default=False)
    # An enrollment code an administrator handed over apart from the password: while set, the
    # first authenticator is set up only with it, so knowing the password is not enough.
    enrollment_code_hash = models.CharField(max_length=64, blank=True)
    enrollment_code_expires_at = models.DateTimeField(null=True, blank=True)
    # Not stored: the code just issued to this account, for the administrator to hand over once.
    enrollment_code: str = ""
    # Only for staff accounts of the public schema (operators); county roles live in casework.
    platform_role = models.CharField(
        _("platform role"), max_length=16, choices=PlatformRole.choices, default=PlatformRole.OPERATOR
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.name or self.username

    def set_password(self, raw_password: str | None) -> None:
        # Every path that sets a password (services, createsuperuser, the admin) restarts its age.
        super().set_password(raw_password)
        self.password_changed_at = timezone.now()


class TotpDevice(models.Model):
    """A person's authenticator app (TOTP, RFC 6238). Confirmed once a first code was right."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device")
    # Sealed with the keyring (ADR 14): a copy of the database alone does not yield the codes.
    secret = EncryptedTextField(purpose=TOTP_SECRET_PURPOSE)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The last accepted 30-second step: a code is good once, so an observed code cannot be replayed.
    last_step = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("authenticator")
        verbose_name_plural = _("authenticators")

    def __str__(self) -> str:
        return f"TOTP {self.user_id}"


class RecoveryCode(models.Model):
    """A one-time code that stands in for the authenticator (a lost phone). Only a keyed hash is kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("recovery code")
        verbose_name_plural = _("recovery codes")
        indexes = [models.Index(fields=["user", "code_hash"], name="accounts_recovery_user_hash")]

    def __str__(self) -> str:
        return f"recovery {self.user_id}"


class UserSession(models.Model):
    """Which server-side sessions belong to whom, so all of a person's sessions can be ended at once."""

    session_key = models.CharField(max_length=40, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user"], name="accounts_usersession_user")]

    def __str__(self) -> str:
        return self.session_key[:8]
