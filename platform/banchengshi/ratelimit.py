"""Who is asking, and fixed-window rate limits on the shared Redis cache (keys are per county)."""

from __future__ import annotations

import ipaddress
from functools import cache as memoized
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.throttling import AnonRateThrottle

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@memoized
def _trusted(spec: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def _is_trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: HttpRequest) -> str:
    """The address of whoever sent the request: the limits, lockouts and audit trail key on it.

    The socket's peer, unless that peer is one of our own proxies (``TRUSTED_PROXIES``, CIDRs:
    the ingress controller, the TLS proxy). Then ``X-Forwarded-For`` is read from the right, each
    proxy having appended the address it saw, and the first address that is not one of ours is
    the client. Whatever a client writes into the header itself sits further left and is never
    reached: behind a trusted proxy nobody can pick their own address, and with no trusted proxy
    the header is not read at all.
    """
    peer = str(request.META.get("REMOTE_ADDR") or "unknown")
    networks = _trusted(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _is_trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            # A malformed entry is where the chain of our own proxies ends: the limit keys on it.
            return hop[:64] or peer
    return peer


def limit_key(address: str) -> str:
    """What a per-address limit counts under: an IPv6 client is its /64 network.

    Providers hand every subscriber a /64 at least, from which a client takes any address it
    likes: counted alone, each new address would start from nought. An IPv4 address seen through
    a dual-stack socket (``::ffff:a.b.c.d``) is that IPv4 address. Anything else is unchanged.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return address


class AddressRateThrottle(AnonRateThrottle):
    """DRF's per-address throttle, keyed on ``client_address`` rather than on a header any client can write."""

    def get_ident(self, request: Any) -> str:
        return limit_key(client_address(request))


def allow(*, scope: str, key: str, limit: int, window_seconds: int) -> bool:
    """Count one hit; False once ``limit`` hits were counted in the current window.

    A ``key`` that is a client address counts for its whole IPv6 network (``limit_key``).
    """
    bucket = f"ratelimit:{scope}:{limit_key(key)}"
    if cache.add(bucket, 1, timeout=window_seconds):
        return True
    try:
        return cache.incr(bucket) <= limit
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=window_seconds)
        return True


def exceeded(*, scope: str, key: str, limit: int) -> bool:
    """Whether ``limit`` hits were already counted, without counting one (failures counted apart)."""
    return int(cache.get(f"ratelimit:{scope}:{limit_key(key)}") or 0) >= limit
