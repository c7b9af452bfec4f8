"""Which county a request's host names, kept in each process until the county registry changes.

Every request needs its county, and looking it up is a query; so each process keeps what it
looked up. What it keeps is stamped with the registry's *generation*, a random value in Redis that
the services changing a county's slug, domain or status replace after their commit
(``registry_generation_bump``). A request reads the generation first (one Redis round trip, about
50 µs) and uses a kept county only under the same generation: a change reaches every process at
its next request. ``TENANT_CACHE_SECONDS`` still bounds how long a county is kept, for the changes
no service announces (SQL by hand, a bump lost while Redis was down). See ADR 26.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, cast

import redis

from banchengshi.core.redis_client import shared_redis

logger = logging.getLogger(__name__)

REGISTRY_GENERATION_KEY = "bcs:tenants:registry-generation"

# The generation when Redis could not be asked: what was kept is then used for its time to live
# (as before generations), and what is loaded meanwhile is loaded again once Redis answers.
_UNKNOWN: Any = object()
# After Redis failed to answer, a process stops asking it for this long: a Redis that does not
# answer at all would otherwise hold every request up for the client's 2 s timeout.
REDIS_QUIET_SECONDS = 5.0


def registry_generation() -> bytes | None:
    """The registry's generation now (None: never bumped, or Redis lost it); raises RedisError."""
    return cast("bytes | None", shared_redis().get(REGISTRY_GENERATION_KEY))  # a synchronous client


def registry_generation_bump() -> None:
    """Tell every process that a county's host, slug or status changed: call it after the commit.

    Before the commit another process could load the old row again under the new generation and
    keep it. A random value rather than a counter: after Redis lost the key (restarted without its
    data), a counter would start again at values that processes hold with older counties.
    """
    try:
        shared_redis().set(REGISTRY_GENERATION_KEY, secrets.token_hex(8))
    except redis.RedisError:
        # The change is committed and must stand; processes see it when their copy expires.
        logger.warning("The county registry changed but Redis could not be told; processes see it within TTL")


class HostCache:
    """The counties one process has looked up by host name (dict operations are atomic: threads
    share it without a lock, and share the county objects, which they only read)."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[float, Any, Any]] = {}  # host → (expires, generation, county)
        self._redis_quiet_until = 0.0

    def county(self, hostname: str, load: Callable[[], Any], *, ttl: float) -> Any:
        """The county kept for ``hostname`` if still current, else ``load()``'s (its exception,
        for an unknown host, goes to the caller, and nothing is kept)."""
        if ttl <= 0:
            return load()
        # Read before loading: a county loaded after a change but stamped with the generation
        # before the change's bump is merely loaded again at the next request; the other order
        # could keep the old county under the new generation.
        generation = self._generation()
        now = time.monotonic()
        kept = self._kept.get(hostname)
        if kept is not None and kept[0] > now and (generation is _UNKNOWN or kept[1] == generation):
            return kept[2]
        self._kept.pop(hostname, None)
        county = load()
        self._kept[hostname] = (now + ttl, generation, county)
        return county

    def _generation(self) -> Any:
        if time.monotonic() < self._redis_quiet_until:
            return _UNKNOWN
        try:
            return registry_generation()
        except redis.RedisError:
            self._redis_quiet_until = time.monotonic() + REDIS_QUIET_SECONDS
            logger.warning("Redis did not answer: counties are served as kept for up to TENANT_CACHE_SECONDS")
            return _UNKNOWN

    def clear(self) -> None:
        self._kept.clear()
        self._redis_quiet_until = 0.0


# The cache of this process (the routing middleware's).
process_hosts = HostCache()
