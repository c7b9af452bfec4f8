"""The answer to an unhandled exception: ``handler500`` of both URLconfs.

Tenant routing reads the county from the database before any view runs, so when PostgreSQL is
down no view, and no DRF exception handler, ever sees the request: Django calls this handler
inside the ``except`` block that caught the error. A database that cannot be reached is a
moment's unavailability, answered 503 with ``Retry-After`` (clients and load balancers retry
later); anything else stays a 500. API paths get the platform's error body
(``{"error": {"code", "message"}}``), pages a Chinese page. Neither shows the exception: it goes
to the log (``django.request``), not to the person.
"""

from __future__ import annotations

import sys

import psycopg
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _

from banchengshi.errors import PlatformErrorCode

# Paths answered in JSON: the REST API, and the connected systems' endpoints beside it.
API_PREFIXES = ("/api/", "/interop/", "/open311/")
RETRY_AFTER_SECONDS = 30
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)


def server_error(request: HttpRequest) -> HttpResponse:
    unavailable = database_unavailable(sys.exc_info()[1])
    if unavailable:
        status, code = 503, PlatformErrorCode.SERVICE_UNAVAILABLE
        title = _("The service is briefly unavailable")
        # Not "nothing was changed": the database may have gone after a commit, mid-request.
        message = _("The service is briefly unavailable. Please try again in a moment.")
    else:
        status, code = 500, PlatformErrorCode.SERVER_ERROR
        title = _("Something went wrong")
        message = _("Something went wrong on our side and the request could not be completed. Please try again later.")
    response: HttpResponse
    if request.path.startswith(API_PREFIXES):
        response = JsonResponse(
            {"error": {"code": str(code), "message": message}}, status=status, json_dumps_params={"ensure_ascii": False}
        )
    else:
        # No request context: its processors (inbox count, navigation) would query the database.
        page = loader.render_to_string("banchengshi/server_error.html", {"title": title, "message": message})
        response = HttpResponse(page, status=status)
    if unavailable:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an exception it was raised from or while handling, is the database unreachable."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, DATABASE_UNAVAILABLE):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler403``: a page the person's role may not open, in Chinese and fit for a phone."""
    return _refused(
        request, 403, PlatformErrorCode.PERMISSION_DENIED, _("Not for your role"),
        _("Your role may not open this page. Ask your county's administrator if you need it."),
    )  # fmt: skip


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404``: no such page (or nothing this person may see under that address)."""
    return _refused(
        request, 404, PlatformErrorCode.NOT_FOUND, _("Page not found"),
        _("There is no such page. Check the address, or go back to the start page."),
    )  # fmt: skip


def _refused(request: HttpRequest, status: int, code: PlatformErrorCode, title: str, message: str) -> HttpResponse:
    if request.path.startswith(API_PREFIXES):
        return JsonResponse(
            {"error": {"code": str(code), "message": message}}, status=status, json_dumps_params={"ensure_ascii": False}
        )
    page = loader.render_to_string("banchengshi/server_error.html", {"title": title, "message": message})
    return HttpResponse(page, status=status)
