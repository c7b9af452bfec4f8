"""Settings of the processes the fault tests start: Celery workers and the process changing cases.

The database, Redis and SMS provider come from the environment the test sets (DATABASE_URL,
REDIS_URL, TEST_REDIS_DB, SMS_*); see test_faults.py.
"""

import os

from banchengshi.settings.test import *  # noqa: F403

# The tests run at any hour: quiet hours would hold every citizen SMS until 08:00.
SMS_QUIET_HOURS = (24, 0)
# Short, so a claim left by a killed worker is taken back within the test's time.
NOTIFICATIONS_LEASE_SECONDS = int(os.environ.get("NOTIFICATIONS_LEASE_SECONDS", "120"))
