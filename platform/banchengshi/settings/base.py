"""Settings shared by every environment. Each value that differs per deployment comes from the environment."""

from __future__ import annotations

from pathlib import Path

from banchengshi.env import celery_broker_url, database_from_url, env_bool, env_int, env_list, env_str
from banchengshi.keyring import DEVELOPMENT_KEYS
from banchengshi.observability.logs import FILTERS as LOG_FILTERS
from banchengshi.observability.logs import FORMATTERS as LOG_FORMATTERS
from banchengshi.observability.sentry import sentry_init

PROJECT_ROOT = Path(__file__).resolve().parents[3]
PACKAGE_DIR = Path(__file__).resolve().parents[1]

SECRET_KEY = env_str("SECRET_KEY", "insecure-local-key-never-used-in-production")
DEBUG = env_bool("DEBUG", False)

# Counties are served at <slug>.<suffix>; the console at the bare suffix. A leading dot admits
# every county subdomain without listing thousands of hosts.
COUNTY_DOMAIN_SUFFIX = env_str("COUNTY_DOMAIN_SUFFIX", "localhost")
CONSOLE_HOSTS = env_list("CONSOLE_HOSTS", [COUNTY_DOMAIN_SUFFIX])
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [COUNTY_DOMAIN_SUFFIX, f".{COUNTY_DOMAIN_SUFFIX}"])

# django-tenants: apps in SHARED_APPS get tables in the public schema, apps in TENANT_APPS in
# every county schema. Accounts, sessions and permissions are in both on purpose: operators live
# in public, a county's staff live in the county, and a session only exists where it was made.
SHARED_APPS = [
    "django_tenants",
    "banchengshi.core",
    "tenants",
    "sla.national",
    "sla.sweep",
    "casework.exchange",
    "reporting.snapshots",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "banchengshi.accounts",
    "banchengshi.audit",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "banchengshi.accounts",
    "banchengshi.audit",
    "banchengshi.configuration",
    "rest_framework.authtoken",
    "casework",
    "casework.forwarding",
    "sla",
    "notifications",
    "reporting",
    "casework.interop",
]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.County"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "banchengshi.urls_public"
ROOT_URLCONF = "banchengshi.urls_tenant"
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
TENANT_LIMIT_SET_CALLS = True
TENANT_CACHE_SECONDS = env_int("TENANT_CACHE_SECONDS", 30)

MIDDLEWARE = [
    # First: the request id and the latency of everything below, probes included.
    "banchengshi.observability.middleware.RequestContextMiddleware",
    # Probes reach pods by address, not by a county host: answer them before tenant routing.
    "banchengshi.core.middleware.HealthCheckMiddleware",
    "banchengshi.observability.middleware.MetricsMiddleware",
    "banchengshi.core.middleware.CountyRoutingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "banchengshi.audit.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "banchengshi.accounts.middleware.SessionSecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "notifications.context_processors.inbox",
                "reporting.context_processors.reports_nav",
                "casework.context_processors.staff_nav",
            ],
        },
    },
]

WSGI_APPLICATION = "banchengshi.wsgi.application"
ASGI_APPLICATION = "banchengshi.asgi.application"

CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 60)
DATABASES = {
    "default": database_from_url(
        env_str("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/banchengshi"), conn_max_age=CONN_MAX_AGE
    )
}
# What django-tenants wraps: Django's PostgreSQL backend with a faster timestamptz loader.
ORIGINAL_BACKEND = "banchengshi.database"
# The planner's cost of a random page read, set on our connections (empty: the server's own).
# Cases sit in memory or on SSD; PostgreSQL's default of 4 is for spinning disks.
DATABASE_RANDOM_PAGE_COST = env_str("DATABASE_RANDOM_PAGE_COST", "1.1")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Every key carries the county schema, so one county never reads another's entries.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "KEY_PREFIX": "bcs",
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "banchengshi.accounts.validators.CharacterClassValidator", "OPTIONS": {"min_classes": 3}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# Sessions live in the schema where they were made and their cookies are host-only: a login at
# one county's host is neither sent to nor valid at another's.
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 60 * 60)

# Identity controls of 等保 level 3 (docs/SECURITY.md). A session ends after SESSION_COOKIE_AGE
# whatever happens, and after ACCOUNTS_IDLE_TIMEOUT_SECONDS without a request.
ACCOUNTS_IDLE_TIMEOUT_SECONDS = env_int("SESSION_IDLE_TIMEOUT", 30 * 60)
ACCOUNTS_PASSWORD_MAX_AGE_DAYS = env_int("PASSWORD_MAX_AGE_DAYS", 90)
# An API token works this long after it was issued; then a new one is issued (api_token_issue).
ACCOUNTS_TOKEN_MAX_AGE_DAYS = env_int("API_TOKEN_MAX_AGE_DAYS", 90)
ACCOUNTS_LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)  # per account and per address
ACCOUNTS_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60)
# Operators, county admins and supervisors sign in with a TOTP code. Production forces it on.
ACCOUNTS_TWO_FACTOR_ENFORCED = env_bool("TWO_FACTOR_ENFORCED", True)
# Audit records are kept at least this long (never below 183 days, 网络安全法 art. 21).
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 365)
# Citizens' phone numbers and TOTP secrets are sealed with these keys (AES-256-GCM; ADR 14):
# "id:base64,id:base64", the first the current one, the others only to open older values until
# `manage.py personal_data_rekey` has re-sealed them. The development key is public: production
# refuses it (settings/production.py).
FIELD_ENCRYPTION_KEYS = env_str("FIELD_ENCRYPTION_KEYS", DEVELOPMENT_KEYS)
# The restricted role the application connects as; migrations (as the owner) revoke its right to
# change or delete audit records. Empty where the app connects as the owner (local machines).
DATABASE_APP_ROLE = env_str("DATABASE_APP_ROLE", "")

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文")]
LOCALE_PATHS = [PROJECT_ROOT / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(PROJECT_ROOT / "var" / "static")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(PROJECT_ROOT / "var" / "media")))
# Where the nightly copy of every trail's head goes: outside the database (the media volume).
AUDIT_ANCHOR_DIR = Path(env_str("AUDIT_ANCHOR_DIR", str(MEDIA_ROOT / "audit-anchors")))
# Stored files go under MEDIA_ROOT/<schema>/, so county files never share a directory.
MULTITENANT_RELATIVE_MEDIA_ROOT = "%s"
STORAGES = {
    "default": {"BACKEND": "django_tenants.files.storage.TenantFileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous API call gets 401 with a WWW-Authenticate header. Tokens of
        # roles that need a second factor work only with an authenticator set up (ADR 12).
        "banchengshi.accounts.authentication.TwoFactorTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "banchengshi.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {"citizen": env_str("CITIZEN_RATE_LIMIT", "30/minute")},
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "banchengshi.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "banchengshi.errors.api_exception_handler",
}
# An API token is read with its user's casework role (casework.selectors.staff_profile_of uses it).
ACCOUNTS_TOKEN_SELECT_RELATED = ["user__staff_profile__department"]
SPECTACULAR_SETTINGS = {
    "TITLE": "办成事 API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "RatingLevelEnum": "casework.models.RatingLevel",
        "ForwardRoleEnum": "casework.forwarding.models.ForwardRole",
        "StaffRoleEnum": "casework.models.StaffRole",
    },
}

# Celery: the broker is Redis; tasks are acknowledged after they run and one is prefetched at a
# time, so a worker that dies mid-task leaves it to another worker instead of losing it.
CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Runaway tasks are stopped: soft (an exception it can clean up after), then hard (the child is
# killed). Batch onboarding, once a half-hour task, runs in 5-minute slices (tenants/tasks.py).
CELERY_TASK_SOFT_TIME_LIMIT = 50 * 60
CELERY_TASK_TIME_LIMIT = 60 * 60
# The longest countdown the code queues a task with: a retry's backoff, capped at Celery's 600 s
# (forwarding.deliver_envelope); the calendar's recomputes wait 90 s. tests/test_deploy.py finds
# every countdown in the code and fails when one exceeds what the visibility timeout allows.
TASK_COUNTDOWN_MAX_SECONDS = 10 * 60
# Redis hands a message nobody acknowledged to another worker after visibility_timeout (ADR 25).
# A message is unacknowledged from the moment a worker takes it: a countdown's wait (the worker
# holds the message until it is due), then the run, up to the hard limit. A shorter timeout runs
# such a task twice at once; a longer one only delays a task whose worker died without a shutdown
# (node lost, OOM-killed): a worker that is stopped puts its running tasks back itself
# (WORKER_WARM_SHUTDOWN_SECONDS below), and the relays queue again the messages, envelopes and
# deadlines that matter. So: countdown + hard limit + 5 minutes (clocks of the machines, the
# restore sweep's round) = 75 minutes, down from 2 hours.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": TASK_COUNTDOWN_MAX_SECONDS + CELERY_TASK_TIME_LIMIT + 5 * 60,
}
# A stopping worker (SIGTERM) first lets its running tasks finish (warm shutdown); after this many
# seconds it stops those still running and puts their messages back in the queue (cold shutdown),
# so another worker runs them at once instead of after the visibility timeout. Set it below the
# orchestrator's grace period (the chart: terminationGracePeriodSeconds - 20). 0: wait for ever.
WORKER_WARM_SHUTDOWN_SECONDS = env_int("WORKER_WARM_SHUTDOWN_SECONDS", 0)
# Workers log through Django's LOGGING (JSON, scrubbed), not Celery's own handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(PROJECT_ROOT / "var" / "celerybeat-schedule")
# Beat sends the schedule only while it holds a lock in Redis, renewed on every tick, and touches a
# heartbeat file on every tick for its liveness probe (banchengshi/beat.py, ADR 25). A second beat
# waits; it takes over at most BEAT_LOCK_SECONDS after the holder stopped renewing.
CELERY_BEAT_SCHEDULER = "banchengshi.beat:GuardedScheduler"
BEAT_LOCK_SECONDS = env_int("BEAT_LOCK_SECONDS", 60)
# Empty: next to the schedule file (<schedule>.heartbeat). The image sets /tmp/beat-heartbeat.
BEAT_HEARTBEAT_FILE = env_str("BEAT_HEARTBEAT_FILE", "")

# County configuration files shipped with the platform (the three demo counties).
COUNTY_CONFIG_DIR = PROJECT_ROOT / "tenants" / "counties"
DEMO_ACCOUNTS_ALLOWED = False
CASE_ATTACHMENT_MAX_BYTES = env_int("CASE_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
# How long a registration's Idempotency-Key finds its case (at least: the purge runs nightly).
CASEWORK_INTAKE_KEY_DAYS = env_int("CASEWORK_INTAKE_KEY_DAYS", 7)
# Connected systems (casework.interop): the largest work-order batch, and how old a signed callback may be.
INTEROP_INTAKE_MAX_ORDERS = env_int("INTEROP_INTAKE_MAX_ORDERS", 500)
INTEROP_INTAKE_MAX_BYTES = env_int("INTEROP_INTAKE_MAX_BYTES", 2 * 1024 * 1024)
INTEROP_SIGNATURE_WINDOW_SECONDS = env_int("INTEROP_SIGNATURE_WINDOW_SECONDS", 300)
# Open311 reads are public: requests per client address and county (DRF's throttle, as "citizen").
INTEROP_OPEN311_READ_RATE = env_str("INTEROP_OPEN311_READ_RATE", "120/minute")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # One JSON object per line with request_id and county (LOG_FORMAT=plain for a human at a
    # terminal). LOGGING_CONFIG below also puts the scrubbing filter on every handler.
    "formatters": LOG_FORMATTERS,
    "filters": LOG_FILTERS,
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env_str("LOG_FORMAT", "json"),
            "filters": ["context", "personal_data"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # The embedded PostgreSQL narrates every start and stop at INFO.
    "loggers": {"pgserver": {"level": "WARNING"}},
}
LOGGING_CONFIG = "banchengshi.observability.logs.configure_logging"

SENTRY_DSN = env_str("SENTRY_DSN", "")
sentry_init(
    dsn=SENTRY_DSN,
    release=env_str("SENTRY_RELEASE", ""),
    environment=env_str("SENTRY_ENVIRONMENT", "production"),
    traces_sample_rate=float(env_str("SENTRY_TRACES_SAMPLE_RATE", "0")),
)

# Our own proxies in front of gunicorn (the ingress controller, the TLS proxy), as CIDRs: behind
# them the client's address is read from X-Forwarded-For (banchengshi.ratelimit.client_address).
# Empty: the socket's peer is the client, and the header is never read.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])

# Connected systems' webhooks (casework.interop) may not point inside the platform's own networks:
# a URL resolving to a loopback, private or link-local address is refused, unless it falls in one
# of these CIDRs (a county's 12345 platform on the government extranet, 政务外网).
INTEROP_WEBHOOK_ALLOWED_NETWORKS = env_list("INTEROP_WEBHOOK_ALLOWED_NETWORKS", [])

# /metrics answers a bearer METRICS_TOKEN, or a peer inside METRICS_ALLOWED_NETWORKS (CIDRs);
# with neither, nobody. Gauges read at scrape time are cached this many seconds.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", [])
METRICS_CACHE_SECONDS = env_int("METRICS_CACHE_SECONDS", 30)
METRICS_CELERY_QUEUES = env_list("METRICS_CELERY_QUEUES", ["celery"])

# Notifications. Local runs write SMS to a file; production points at the provider's endpoint.
SMS_BACKEND = env_str("SMS_BACKEND", "notifications.channels.FileSmsBackend")
SMS_ENDPOINT = env_str("SMS_ENDPOINT", "http://127.0.0.1:9/sms")
SMS_SECRET = env_str("SMS_SECRET", "local-sms-secret")
SMS_TIMEOUT_SECONDS = env_int("SMS_TIMEOUT_SECONDS", 10)
SMS_FILE = env_str("SMS_FILE", str(PROJECT_ROOT / "var" / "sms.log"))
SMS_QUIET_HOURS = (22, 8)  # no non-urgent citizen SMS from 22:00 to 08:00 local time
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "noreply@banchengshi.localhost")
