"""django-helpdesk as a small site would deploy it, for the benchmark's side-by-side run.

The benchmark passes the database URL and a secret key for the run through the environment.
Choices that differ from helpdesk's defaults are noted where they favour one side.
"""

import os
from urllib.parse import parse_qs, unquote, urlsplit

_database = urlsplit(os.environ["HELPDESK_DATABASE_URL"])
# The embedded server of a local run is reached by a socket named in the query (?host=/path).
_socket = parse_qs(_database.query).get("host", [""])[0]

SECRET_KEY = os.environ["HELPDESK_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    # Token auth, as our API's clients use: DRF's default basic auth would hash the password on
    # every request and make helpdesk look far slower than it is.
    "rest_framework.authtoken",
    "helpdesk",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "benchmarks.helpdesk.urls"
WSGI_APPLICATION = "benchmarks.helpdesk.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _database.path.lstrip("/"),
        "USER": unquote(_database.username or ""),
        "PASSWORD": unquote(_database.password or ""),
        "HOST": _socket or _database.hostname or "",
        "PORT": _database.port or "",
        # The same connection reuse as our deployment (DB_CONN_MAX_AGE), so neither side pays a
        # connection per request.
        "CONN_MAX_AGE": 60,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
SITE_ID = 1
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
MEDIA_ROOT = os.environ.get("HELPDESK_MEDIA_ROOT", "/tmp/helpdesk-bench-media")  # noqa: S108
LOGIN_URL = "helpdesk:login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ]
}

# Notifications are rendered but kept in memory instead of going to a mail server: this favours
# helpdesk, whose ticket creation would otherwise wait on SMTP inside the request (ours queues
# its notifications for a Celery worker).
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEFAULT_FROM_EMAIL = "helpdesk@example.com"

# Teams need the optional pinax-teams package; without them helpdesk serves every staff member
# every queue, which is its default (HELPDESK_ENABLE_PER_QUEUE_STAFF_PERMISSION off).
HELPDESK_TEAMS_MODE_ENABLED = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"level": "WARNING", "handlers": ["console"]},
}
