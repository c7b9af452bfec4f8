"""Deleting the current county's cache entries that name something (retention: a case's id, number, code).

Keys are ``<schema>:<prefix>:<version>:<key>`` (``django_tenants.cache.make_key``), so one SCAN of
the county's own keys finds them; other counties' keys are never read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache

from banchengshi.tenancy import current_schema


def cache_keys_delete_containing(needles: Iterable[str]) -> int:
    """Delete this county's cache keys that contain any of ``needles``; returns how many went."""
    wanted = [needle for needle in needles if needle]
    client: Any = getattr(getattr(cache, "_cache", None), "get_client", None)
    if not wanted or client is None:
        return 0
    redis = client(write=True)
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    doomed = [
        key
        for key in redis.scan_iter(match=f"{current_schema()}:{prefix}:*", count=1000)
        if any(needle in (key.decode() if isinstance(key, bytes) else key) for needle in wanted)
    ]
    if doomed:
        redis.delete(*doomed)
    return len(doomed)
