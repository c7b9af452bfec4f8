"""Settings for a developer's machine: embedded servers unless DATABASE_URL / REDIS_URL are set."""

import os

from banchengshi.env import celery_broker_url, database_from_url
from banchengshi.settings.base import *  # noqa: F403
from banchengshi.settings.base import CONN_MAX_AGE

DEBUG = True
DEMO_ACCOUNTS_ALLOWED = True
# Demo admins and supervisors sign in with their password alone here (TWO_FACTOR_ENFORCED=1 to
# try the second factor); an enrolled authenticator is asked for all the same. Never in production.
ACCOUNTS_TWO_FACTOR_ENFORCED = os.environ.get("TWO_FACTOR_ENFORCED", "0").lower() in {"1", "true", "yes", "on"}

if not os.environ.get("DATABASE_URL"):
    from banchengshi import embedded

    DATABASES = {"default": database_from_url(embedded.postgres_url(), conn_max_age=CONN_MAX_AGE)}

if not os.environ.get("REDIS_URL"):
    from banchengshi import embedded

    REDIS_URL = embedded.redis_url()
    CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
    CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
