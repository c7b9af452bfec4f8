"""Production settings: everything from the environment, nothing embedded, no demo accounts."""

from django.core.exceptions import ImproperlyConfigured

from banchengshi.env import env_bool, env_int, env_list, env_str
from banchengshi.keyring import DEVELOPMENT_KEYS, keyring_parse
from banchengshi.settings.base import *  # noqa: F403

DEBUG = False
DEMO_ACCOUNTS_ALLOWED = False
ACCOUNTS_TWO_FACTOR_ENFORCED = True  # not from the environment: no deployment may switch it off
SECRET_KEY = env_str("SECRET_KEY")
if SECRET_KEY.startswith("insecure"):
    raise ImproperlyConfigured("SECRET_KEY must be set to a real secret in production.")
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
