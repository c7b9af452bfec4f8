"""Settings for the test suite: real PostgreSQL and Redis, embedded when no URL is given."""

import os
from typing import Any, cast

from banchengshi.env import celery_broker_url, database_from_url, env_int, redis_url_with_db
from banchengshi.settings.base import *  # noqa: F403
from banchengshi.settings.base import CONN_MAX_AGE, PROJECT_ROOT
from banchengshi.settings.base import LOGGING as BASE_LOGGING

DEBUG = False
# Tests create and roll back counties, which no process is told of; a test's own web server may keep
# hosts (tenants/tests/test_hosts.py).
TENANT_CACHE_SECONDS = env_int("TENANT_CACHE_SECONDS", 0)
DEMO_ACCOUNTS_ALLOWED = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; tests only
# Pages tests of every package sign in supervisors with a password; the accounts tests switch the
# second factor on themselves (and tests/test_settings.py pins it on in production).
ACCOUNTS_TWO_FACTOR_ENFORCED = False
MEDIA_ROOT = PROJECT_ROOT / "var" / "test-media"
# Serve static files from the apps' folders; tests never run collectstatic.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # type: ignore[assignment]

if not os.environ.get("DATABASE_URL"):
    from banchengshi import embedded

    DATABASES = {"default": database_from_url(embedded.postgres_url(), conn_max_age=CONN_MAX_AGE)}

if not os.environ.get("REDIS_URL"):
    from banchengshi import embedded

    REDIS_URL = embedded.redis_url()

# A separate Redis database keeps test keys away from a developer's running platform; two test
# runs at once on one Redis (CI and a developer, say) each name their own.
REDIS_URL = redis_url_with_db(REDIS_URL, env_int("TEST_REDIS_DB", 15))
CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
CELERY_BROKER_URL = celery_broker_url(REDIS_URL)

# Every log line of a test run (this process and the servers and workers tests start with these
# settings) also goes to var/test-logs/, through the same scrubbing filters as the console; the
# root conftest scans those files when the run ends and fails it on any phone or ID number.
TEST_LOG_DIR = PROJECT_ROOT / "var" / "test-logs"
TEST_LOG_DIR.mkdir(parents=True, exist_ok=True)
_handlers: dict[str, Any] = dict(cast(dict[str, Any], BASE_LOGGING["handlers"]))
_handlers["run_log"] = {
    "class": "logging.FileHandler",
    "filename": str(TEST_LOG_DIR / f"{os.getpid()}.log"),
    "formatter": "json",
    "filters": ["context", "personal_data"],
    "delay": True,
    "encoding": "utf-8",
}
_root: dict[str, Any] = dict(cast(dict[str, Any], BASE_LOGGING["root"]))
_root["handlers"] = [*_root["handlers"], "run_log"]
LOGGING = {**BASE_LOGGING, "handlers": _handlers, "root": _root}
