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
    The generation is read before ``load`` runs, so what is cached is never older than its
    generation says: a change committed in between makes a newer value that is reloaded next time.
    """
    snapshot = _snapshot.get()
    schema = current_schema()
    if snapshot is None or snapshot[0] != schema or snapshot[1] is None:
        return load()
    generation = snapshot[1]
    key = (schema, name)
    hit = _cache.get(key)
    if hit is not None and hit[0] == generation:
        return hit[1]
    # Threads filling the same entry at once each load it; the last assignment wins, and either is right.
    value = load()
    _cache[key] = (generation, value)
    return value
