"""Request routing: health probes first, then the county (or the console) by host name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django_tenants.middleware.main import TenantMainMiddleware

from banchengshi.core import health
from banchengshi.core.hosts import HostCache, process_hosts
from banchengshi.core.views import API_PREFIXES
from banchengshi.errors import PlatformErrorCode
from banchengshi.tenancy import switch_to_public


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

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse], hosts: HostCache | None = None) -> None:
        super().__init__(get_response)
        self.hosts = process_hosts if hosts is None else hosts

    def get_tenant(self, domain_model: Any, hostname: str) -> Any:
        # Every request needs its county: the process keeps what it looked up until the registry's
        # generation changes (a new slug, domain or status: banchengshi.core.hosts, ADR 26).
        lookup = super().get_tenant
        return self.hosts.county(hostname, lambda: lookup(domain_model, hostname), ttl=settings.TENANT_CACHE_SECONDS)

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
            return county_suspended(request, tenant)
        return response


def county_suspended(request: HttpRequest, county: Any) -> HttpResponse:
    """503 for a county the provincial operators suspended: JSON for programs, a page for people.

    No ``Retry-After``: a suspension lasts until an operator resumes the county, which no client
    can be told, and a retrying 12345 platform or Open311 app should stop and report instead.
    """
    if request.path.startswith(API_PREFIXES):
        message = _("This county's service is suspended. Its data is kept; please contact the provincial operators.")
        return JsonResponse(
            {"error": {"code": str(PlatformErrorCode.COUNTY_SUSPENDED), "message": message}},
            status=503,
            json_dumps_params={"ensure_ascii": False},
        )
    return render(request, "banchengshi/county_suspended.html", {"county": county}, status=503)
