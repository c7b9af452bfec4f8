"""The request id, the request's county, its latency, and the protected ``/metrics`` endpoint.

``RequestContextMiddleware`` goes first: it times everything (health probes included) and binds
the request id for every log line. The county is only known after tenant routing, so it is
bound in ``process_view``, which Django calls after every middleware's request phase.
``MetricsMiddleware`` sits beside the health checks, before tenant routing: Prometheus reaches a
pod by address, not by a county's host name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from banchengshi.observability import context
from banchengshi.observability.metrics import REQUEST_LATENCY, access_allowed, exposition, status_class

logger = logging.getLogger("banchengshi.request")

REQUEST_ID_HEADER = "X-Request-ID"


def _route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.route:
        return "/" + match.route.lstrip("^").removeprefix("/")
    if request.path in ("/healthz", "/readyz", "/metrics"):
        return request.path
    return "<unmatched>"


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = context.request_id_from_header(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        tokens = context.bind(request_id=request_id, county=None)
        try:
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            route = _route_of(request)
            REQUEST_LATENCY.labels(request.method or "", route, status_class(response.status_code)).observe(elapsed)
            response[REQUEST_ID_HEADER] = request_id
            if route not in ("/healthz", "/readyz", "/metrics"):
                # The path is left out on purpose: tracking codes and ids in it are the pattern's
                # business; the route names the page.
                logger.info(
                    "%s %s %s",
                    request.method,
                    route,
                    response.status_code,
                    extra={"status": response.status_code, "duration_ms": round(elapsed * 1000, 1), "route": route},
                )
            return response
        finally:
            context.unbind(tokens)

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> None:
        tenant = getattr(request, "tenant", None)
        context.county_var.set(tenant.schema_name if tenant is not None else "public")


def metrics_allowed(request: HttpRequest) -> bool:
    return access_allowed(
        authorization=request.headers.get("Authorization", ""), peer=request.META.get("REMOTE_ADDR", "")
    )


class MetricsMiddleware:
    """``/metrics`` for any host, before tenant routing; 403 without the token or an allowed address."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path != "/metrics":
            return self.get_response(request)
        if not metrics_allowed(request):
            response = HttpResponse("forbidden\n", status=403, content_type="text/plain; charset=utf-8")
            response["WWW-Authenticate"] = "Bearer"
            return response
        return HttpResponse(exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")
