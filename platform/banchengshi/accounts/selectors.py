"""Reads about accounts: second factor, password age."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from banchengshi.accounts.models import RecoveryCode, TotpDevice


def has_authenticator(user: Any) -> bool:
    return TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def recovery_codes_left(user: Any) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def password_expired(user: Any) -> bool:
    """Too old, or chosen by an administrator: the person changes it before anything else."""
    if getattr(user, "must_change_password", False):
        return True
    changed = getattr(user, "password_changed_at", None)
    if changed is None or settings.ACCOUNTS_PASSWORD_MAX_AGE_DAYS <= 0:
        return False
    return timezone.now() - changed > datetime.timedelta(days=settings.ACCOUNTS_PASSWORD_MAX_AGE_DAYS)
