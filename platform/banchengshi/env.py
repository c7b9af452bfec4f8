"""Reading configuration from environment variables, with clear failures."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"The environment variable {name} is required.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"The environment variable {name} must be true or false, not {value!r}.")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"The environment variable {name} must be an integer, not {value!r}.") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def database_from_url(url: str, *, conn_max_age: int) -> dict[str, Any]:
    """Turn ``postgresql://user:pass@host:port/name?host=/socket/dir`` into a Django DATABASES entry.

    A socket directory in the ``host`` query parameter wins over the network location, which is
    how pgserver and libpq spell a Unix-socket connection.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(f"DATABASE_URL must be a postgresql:// URL, not {parts.scheme}://.")
    query = parse_qs(parts.query)
    host = query.pop("host", [parts.hostname or ""])[0]
    options = {key: values[-1] for key, values in query.items()}
    return {
        # django-tenants wraps the PostgreSQL backend to switch search_path per county.
        "ENGINE": "django_tenants.postgresql_backend",
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        # Finite lifetimes: a connection never outlives a database failover or a config change.
        "CONN_MAX_AGE": conn_max_age,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": options,
        "TEST": {"NAME": None},
    }


def redis_url_with_db(url: str, db: int) -> str:
    """The same Redis server, another logical database (for keeping test keys apart)."""
    if url.startswith("unix://"):
        return f"{url.split('?', 1)[0]}?db={db}"
    return f"{url.rsplit('/', 1)[0]}/{db}"


def celery_broker_url(redis_url: str) -> str:
    """Kombu spells a Unix-socket Redis ``redis+socket://``; redis-py spells it ``unix://``."""
    if redis_url.startswith("unix://"):
        path, _, query = redis_url.removeprefix("unix://").partition("?")
        return f"redis+socket://{path}" + (f"?virtual_host={query.removeprefix('db=')}" if query else "")
    return redis_url
