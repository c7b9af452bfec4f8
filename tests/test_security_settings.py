"""The identity and audit settings that production must hold (docs/SECURITY.md)."""

import importlib
import os
from typing import Any

from django.conf import settings
from django.core import checks

from banchengshi.audit.services import MINIMUM_RETENTION_DAYS
from banchengshi.keyring import key_generate


def _production() -> Any:
    env = {
        "SECRET_KEY": "x" * 50,
        "DATABASE_URL": "postgresql://u@db/x",
        "REDIS_URL": "redis://r:6379/0",
        "FIELD_ENCRYPTION_KEYS": key_generate("prod1"),
    }
    saved = {k: os.environ.get(k) for k in [*env, "TWO_FACTOR_ENFORCED"]}
    os.environ.update(env)
    os.environ["TWO_FACTOR_ENFORCED"] = "0"  # a deployment trying to switch it off
    try:
        return importlib.reload(importlib.import_module("banchengshi.settings.production"))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_production_always_asks_for_the_second_factor_and_has_no_demo_accounts():
    production = _production()
    assert production.ACCOUNTS_TWO_FACTOR_ENFORCED is True
    assert production.DEMO_ACCOUNTS_ALLOWED is False


def test_the_identity_limits_are_those_of_the_requirement():
    production = _production()
    assert production.ACCOUNTS_LOGIN_FAILURE_LIMIT == 5
    assert production.ACCOUNTS_LOCKOUT_SECONDS == 15 * 60
    assert production.ACCOUNTS_IDLE_TIMEOUT_SECONDS == 30 * 60
    assert production.SESSION_COOKIE_AGE == 8 * 60 * 60
    assert 0 < production.ACCOUNTS_PASSWORD_MAX_AGE_DAYS <= 90
    names = [v["NAME"] for v in production.AUTH_PASSWORD_VALIDATORS]
    assert "banchengshi.accounts.validators.CharacterClassValidator" in names


def test_sign_in_controls_and_the_audit_trail_are_wired_in():
    assert "banchengshi.accounts.middleware.SessionSecurityMiddleware" in settings.MIDDLEWARE
    assert "banchengshi.audit.middleware.AuditContextMiddleware" in settings.MIDDLEWARE
    # Operators' actions land in public, staff's in their county.
    assert "banchengshi.audit" in settings.SHARED_APPS and "banchengshi.audit" in settings.TENANT_APPS


def test_api_tokens_go_through_the_second_factor_rule():
    classes = settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
    assert "rest_framework.authentication.TokenAuthentication" not in classes
    assert classes[0] == "banchengshi.accounts.authentication.TwoFactorTokenAuthentication"


def test_audit_retention_below_six_months_fails_the_system_check(settings):
    assert settings.AUDIT_RETENTION_DAYS >= MINIMUM_RETENTION_DAYS
    settings.AUDIT_RETENTION_DAYS = 90
    assert any(m.id == "audit.E001" for m in checks.run_checks())
