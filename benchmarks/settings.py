"""Settings for the benchmarks: the local settings plus a bare-DRF reference endpoint."""

from banchengshi.settings.local import *  # noqa: F403

DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "benchmarks.urls"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"level": "WARNING", "handlers": ["console"]},
}
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"citizen": "1000000/second"}}  # noqa: F405
INTEROP_OPEN311_READ_RATE = "1000000/second"
# Never quiet: at night (22:00-08:00 in Shanghai) a citizen SMS is held and registration skips the
# outbox wake, which would make night-time figures look cheaper than the day's.
SMS_QUIET_HOURS = (24, 0)
