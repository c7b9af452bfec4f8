"""Production settings: everything from the environment, nothing embedded, no demo accounts."""

from django.core.exceptions import ImproperlyConfigured

from banchengshi.env import env_bool, env_int, env_list, env_str
from banchengshi.keyring import DEVELOPMENT_KEYS, keyring_parse
from banchengshi.settings.base import *  # noqa: F403

DEBUG = False
DEMO_ACCOUNTS_ALLOWED = False
ACCOUNTS_TWO_FACTOR_ENFORCED = True  # not from the environment: no deployment may switch it off
# Placeholders are refused: deploy/env.example once shipped "change-me-…" values, and a copied file
# with one line left as it was ran with a key anyone can read (forged sessions, reset links).
_PLACEHOLDERS = ("change-me", "changeme")
_SECRET_KEY_MIN_LENGTH = 50  # Django's own deploy check (security.W009) asks at least this


def _placeholder(value: str) -> bool:
    return any(word in value.lower() for word in _PLACEHOLDERS)


SECRET_KEY = env_str("SECRET_KEY")
if SECRET_KEY.startswith("insecure") or _placeholder(SECRET_KEY) or len(SECRET_KEY) < _SECRET_KEY_MIN_LENGTH:
    raise ImproperlyConfigured(
        f"SECRET_KEY must be set to a real secret of at least {_SECRET_KEY_MIN_LENGTH} random characters in "
        "production (openssl rand -base64 48)."
    )
# Old keys still accepted for signatures while a rotation settles (docs/DEPLOY.md, "Rotate secrets").
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
# Personal data is sealed with these keys; without them nothing may start (a lost key loses the
# data it sealed: keep them in the vault, docs/DEPLOY.md "Rotate secrets").
FIELD_ENCRYPTION_KEYS = env_str("FIELD_ENCRYPTION_KEYS")
if DEVELOPMENT_KEYS.partition(":")[2].rstrip("=") in FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must not contain the public development key in production.")
keyring_parse(FIELD_ENCRYPTION_KEYS)  # every mistake in the keys stops the start, with its reason
env_str("DATABASE_URL")
env_str("REDIS_URL")

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_CONTENT_TYPE_NOSNIFF = True

# The SMS provider trusts requests signed with SMS_SECRET; base.py's default is public (local runs).
if SMS_BACKEND == "notifications.channels.HttpSmsBackend" and (  # noqa: F405
    SMS_SECRET == "local-sms-secret" or _placeholder(SMS_SECRET)  # noqa: F405, S105 - the public default, refused
):
    raise ImproperlyConfigured(
        "SMS_SECRET must be set to the secret shared with the SMS provider in production (SMS_BACKEND is "
        "the HTTP provider)."
    )
if METRICS_TOKEN and _placeholder(METRICS_TOKEN):  # noqa: F405
    raise ImproperlyConfigured("METRICS_TOKEN must be a real token (openssl rand -hex 32), not a placeholder.")
