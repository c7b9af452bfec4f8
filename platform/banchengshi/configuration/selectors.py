"""A county's configuration, kept in memory while its generation is current.

Registration, the busiest write, reads the county's reference data, deadline rules, message
templates and webhook endpoints: four queries and a few dozen model instances for data that
changes a few times a year. Inside ``configuration_snapshot()`` those reads come from memory,
checked by one query for the generation; outside it they are read from the database as before.

Objects from the cache are shared between requests and threads: read them, never change them.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import connection

from banchengshi.tenancy import current_schema

T = TypeVar("T")

_snapshot: contextvars.ContextVar[tuple[str, int | None] | None] = contextvars.ContextVar("configuration", default=None)
_cache: dict[tuple[str, str], tuple[int, Any]] = {}


def config_generation() -> int | None:
    """The current county's configuration generation (a new random value on every change).

    None while a county's tables are being restored (no row): nothing is then cached.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM configuration_generation LIMIT 1")
        row = cursor.fetchone()
    return int(row[0]) if row else None


@contextmanager
def configuration_snapshot() -> Iterator[None]:
    """Read the generation once; ``config_cached`` inside serves the county's configuration from memory."""
    token = _snapshot.set((current_schema(), config_generation()))
    try:
        yield
    finally:
        _snapshot.reset(token)


def config_cached(name: str, load: Callable[[], T]) -> T:
    """``load()``, or what it returned earlier under the snapshot's generation of this county.

    Outside a snapshot (or in another schema than the snapshot's) it is simply ``load()``.
    What is loaded is kept under the generation read just before ``load`` runs, so it is never
    older than its generation says. Not under the snapshot's: this transaction may have changed
    the configuration since (a new, still private generation), and what it loads then must not
    reach the requests that read the committed one, least of all if the change is rolled back.
    """
    snapshot = _snapshot.get()
    schema = current_schema()
    if snapshot is None or snapshot[0] != schema or snapshot[1] is None:
        return load()
    key = (schema, name)
    hit = _cache.get(key)
    if hit is not None and hit[0] == snapshot[1]:
        return hit[1]
    # A miss costs a query more (a few times a year per process), a hit none.
    generation = config_generation()
    value = load()
    if generation is not None:
        # Threads filling the same entry at once each load it; the last assignment wins, and either is right.
        _cache[key] = (generation, value)
    return value
