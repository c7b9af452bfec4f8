"""Settings of the processes the fault suite starts (web, worker, beat, the preparing commands).

The database, Redis and SMS provider are private to the suite and come from the environment
(DATABASE_URL, REDIS_URL, SMS_*); see servers.py and test_faults.py.
"""

import os
from pathlib import Path

from banchengshi.settings.test import *  # noqa: F403

# The suite runs at any hour: quiet hours would hold every citizen SMS until 08:00.
SMS_QUIET_HOURS = (24, 0)
# A claim left by a killed worker is taken back within the test's time, and a message the relay
# queued into a Redis that then crashed is queued again soon (production: 120 s and 300 s).
NOTIFICATIONS_LEASE_SECONDS = int(os.environ.get("NOTIFICATIONS_LEASE_SECONDS", "120"))
NOTIFICATIONS_RELAY_REQUEUE_SECONDS = int(os.environ.get("NOTIFICATIONS_RELAY_REQUEUE_SECONDS", "300"))
CELERY_BEAT_SCHEDULE_FILENAME = os.environ.get("CELERY_BEAT_SCHEDULE_FILENAME", CELERY_BEAT_SCHEDULE_FILENAME)  # noqa: F405
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", str(MEDIA_ROOT)))  # noqa: F405
# Citizens' rate limit: the load comes from one address.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"citizen": "100000/minute"}}  # noqa: F405
