"""Request routing: health probes first, then the county (or the console) by host name."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_tenants.middleware.main import TenantMainMiddleware

from banchengshi.core import health
from banchengshi.tenancy import switch_to_public

_tenant_cache: dict[str, tuple[float, Any]] = {}


class HealthCheckMiddleware:
    """Answer ``/healthz`` and ``/readyz`` for any host, before tenant routing looks at it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return health.liveness()
        if request.path == "/readyz":
            return health.readiness()
        return self.get_response(request)


class CountyRoutingMiddleware(TenantMainMiddleware):
    """``<slug>.<suffix>`` is a county; the console hosts are the public schema; anything else is 404.

    django-tenants can show the public site for every unknown host; we do not, so a mistyped
    county host never lands on the provincial console.
    """

    def get_tenant(self, domain_model: Any, hostname: str) -> Any:
        # Every request needs its county; a short in-process cache saves a query per request.
        # A suspension takes effect within TENANT_CACHE_SECONDS.
        ttl = settings.TENANT_CACHE_SECONDS
        if ttl <= 0:
            return super().get_tenant(domain_model, hostname)
        now = time.monotonic()
        cached = _tenant_cache.get(hostname)
        if cached is not None and cached[0] > now:
            return cached[1]
        tenant = super().get_tenant(domain_model, hostname)
        _tenant_cache[hostname] = (now + ttl, tenant)
        return tenant

    def no_tenant_found(self, request: HttpRequest, hostname: str) -> HttpResponse | None:
        if hostname in settings.CONSOLE_HOSTS:
            switch_to_public()
            request.tenant = None  # type: ignore[attr-defined]
            self.setup_url_routing(request=request, force_public=True)
            return None
        return render(request, "banchengshi/unknown_host.html", {"hostname": hostname}, status=404)

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        response = super().process_request(request)
        tenant = getattr(request, "tenant", None)
        if response is None and tenant is not None and not tenant.is_serving:
            return render(request, "banchengshi/county_suspended.html", {"county": tenant}, status=503)
        return response
