"""Settings that close the known traps of a schema-per-county deployment."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from banchengshi.keyring import DEVELOPMENT_KEYS, key_generate

ROOT = Path(__file__).resolve().parents[1]


def test_cookies_are_host_only_and_connections_finite():
    assert settings.SESSION_COOKIE_DOMAIN is None
    assert settings.CSRF_COOKIE_DOMAIN is None
    assert 0 < settings.DATABASES["default"]["CONN_MAX_AGE"] <= 600
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


def test_cache_keys_and_files_are_per_county():
    assert settings.CACHES["default"]["KEY_FUNCTION"] == "django_tenants.cache.make_key"
    assert settings.STORAGES["default"]["BACKEND"] == "django_tenants.files.storage.TenantFileSystemStorage"


def test_staff_accounts_and_sessions_exist_in_every_county_schema():
    for app in ("banchengshi.accounts", "django.contrib.auth", "django.contrib.sessions"):
        assert app in settings.TENANT_APPS and app in settings.SHARED_APPS


def test_production_settings_refuse_to_start_without_secrets():
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"}}
    env["DJANGO_SETTINGS_MODULE"] = "banchengshi.settings.production"
    code = "import django; django.setup()"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        (None, "FIELD_ENCRYPTION_KEYS is required"),
        (DEVELOPMENT_KEYS, "public development key"),
        (f"{key_generate('k2')},{DEVELOPMENT_KEYS}", "public development key"),
        ("k1:tooshort", "32 random bytes"),
    ],
)
def test_production_settings_refuse_to_start_without_real_field_encryption_keys(keys, reason):
    env = {k: v for k, v in os.environ.items() if k != "FIELD_ENCRYPTION_KEYS"}
    env.update(SECRET_KEY="x" * 50, DATABASE_URL="postgresql://u@db/x", REDIS_URL="redis://r:6379/0")
    env["DJANGO_SETTINGS_MODULE"] = "banchengshi.settings.production"
    if keys is not None:
        env["FIELD_ENCRYPTION_KEYS"] = keys
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, cwd=ROOT, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr and reason.split(" is ")[0] in result.stderr


def test_test_and_local_runs_have_a_development_key():
    assert settings.FIELD_ENCRYPTION_KEYS == DEVELOPMENT_KEYS


def test_production_settings_have_no_demo_accounts():
    env = {
        "SECRET_KEY": "x" * 50,
        "DATABASE_URL": "postgresql://u@db/x",
        "REDIS_URL": "redis://r:6379/0",
        "FIELD_ENCRYPTION_KEYS": key_generate("prod1"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        module = importlib.import_module("banchengshi.settings.production")
        module = importlib.reload(module)
        assert module.DEMO_ACCOUNTS_ALLOWED is False
        assert module.SESSION_COOKIE_SECURE is True
        assert module.DEBUG is False
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_the_test_command_runs_pytest_with_the_test_settings(monkeypatch):
    # Importing the package sets the local settings as a default; the launcher must not inherit it.
    from banchengshi import launcher

    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "banchengshi.settings.local")
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@127.0.0.1/x")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert launcher._services_env("banchengshi.settings.test")["DJANGO_SETTINGS_MODULE"] == "banchengshi.settings.test"


def test_pytest_itself_runs_with_the_test_settings():
    assert settings.SETTINGS_MODULE == "banchengshi.settings.test"
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _production_start(**overrides: str | None) -> subprocess.CompletedProcess[str]:
    """Start Django with the production settings in a child process, with the given environment."""
    env = {k: v for k, v in os.environ.items() if k not in {"SMS_BACKEND", "SMS_SECRET", "METRICS_TOKEN"}}
    env.update(
        SECRET_KEY=key_generate("sk").partition(":")[2] * 2,
        DATABASE_URL="postgresql://u@db/x",
        REDIS_URL="redis://r:6379/0",
        FIELD_ENCRYPTION_KEYS=key_generate("prod1"),
        DJANGO_SETTINGS_MODULE="banchengshi.settings.production",
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, cwd=ROOT, capture_output=True, text=True,
        check=False,
    )  # fmt: skip


def _env_example() -> dict[str, str]:
    lines = (ROOT / "deploy" / "env.example").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_production_refuses_the_placeholder_secret_key_of_env_example():
    """`cp env.example .env` and forgetting one line must not run with a key anyone can read."""
    placeholder = _env_example()["SECRET_KEY"] or "change-me-to-50-random-characters"
    result = _production_start(SECRET_KEY=placeholder)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    short = _production_start(SECRET_KEY="q7Lw2xZ9vB")  # random, but ten characters
    assert short.returncode != 0 and "SECRET_KEY" in short.stderr
    assert _production_start().returncode == 0, _production_start().stderr


def test_production_refuses_the_public_development_sms_secret_with_the_http_provider():
    """base.py's SMS_SECRET default is public: the provider would accept anyone's signed requests."""
    backend = "notifications.channels.HttpSmsBackend"
    unset = _production_start(SMS_BACKEND=backend, SMS_SECRET=None)
    assert unset.returncode != 0 and "SMS_SECRET" in unset.stderr
    public = _production_start(SMS_BACKEND=backend, SMS_SECRET="local-sms-secret")
    assert public.returncode != 0 and "SMS_SECRET" in public.stderr
    assert _production_start(SMS_BACKEND=backend, SMS_SECRET="a-real-shared-secret-0f3c9e").returncode == 0


def test_production_refuses_placeholder_metrics_tokens():
    result = _production_start(METRICS_TOKEN="change-me")
    assert result.returncode != 0 and "METRICS_TOKEN" in result.stderr


def test_env_example_leaves_every_secret_empty_so_compose_refuses_to_start_until_they_are_set():
    """compose.yaml reads them as ${NAME:?...}: an empty value stops `up` with the variable named."""
    example = _env_example()
    for name in ("POSTGRES_PASSWORD", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "METRICS_TOKEN", "SMS_SECRET"):
        assert example[name] == "", name
