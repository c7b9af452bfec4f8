"""Django's PostgreSQL backend with a faster loader for timestamptz columns, and the planner told
that pages are in memory.

django-tenants wraps this backend (``ORIGINAL_BACKEND``) to switch the search_path per county.

Django loads every timestamptz through its own subclass of psycopg's *Python* loader, only to set
the value's tzinfo; that subclass gives up psycopg's C loader, and the Python one parses each value
with a regular expression. A page of the case list reads about a hundred of them: about 2.4 µs
each, against 1.0 µs through the C loader (``psycopg[binary]``). This loader calls the C loader and
sets the tzinfo as Django's does, so values are the same objects.

``DATABASE_RANDOM_PAGE_COST`` (default 1.1; empty: the server's own) is set on every connection
at start-up, for the planner. PostgreSQL's default (4) assumes spinning disks. With it, the
planner reads the newest cases of every channel and drops the others (about 2,000 rows, 1.0 ms
after a burst of window registrations) rather than walk the (channel, registered_at) index
(51 rows, 0.3 ms). A county's cases sit in memory or on SSD, where 1.1 is PostgreSQL's own advice.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper
from psycopg import adapt, adapters
from psycopg.abc import AdaptContext
from psycopg.postgres import types
from psycopg.pq import Format

TIMESTAMPTZ_OID = types["timestamptz"].oid


class _TzLoader(adapt.Loader):
    """psycopg's own loader (C when available), then the tzinfo Django asks for."""

    timezone: Any = None  # Django compares it with the connection's before each cursor

    def __init__(self, oid: int, context: AdaptContext | None = None):
        super().__init__(oid, context)
        self._load = adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)(oid, context).load  # type: ignore[misc]

    def load(self, data: Any) -> Any:
        return self._load(data).replace(tzinfo=self.timezone)


@lru_cache
def _with_fast_tz_loader(template: adapt.AdaptersMap) -> adapt.AdaptersMap:
    django_loader = template.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    loader = type("TzLoader", (_TzLoader,), {"timezone": getattr(django_loader, "timezone", None)})
    faster = adapt.AdaptersMap(template)
    faster.register_loader("timestamptz", loader)
    return faster


class DatabaseWrapper(PostgresDatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if "context" in params:
            params["context"] = _with_fast_tz_loader(params["context"])
        cost = getattr(settings, "DATABASE_RANDOM_PAGE_COST", "")
        if cost:
            # Startup options: no round trip. Options the URL already carries are kept.
            params["options"] = f"{params.get('options', '')} -c random_page_cost={float(cost)}".strip()
        return params
