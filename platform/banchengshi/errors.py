"""One error family for the whole platform and the API handler that renders it.

Every domain defines a ``StrEnum`` of stable codes (``tenants.errors.TenantsErrorCode``...) and
raises ``ApplicationError`` (or a subclass) with a Chinese message for people.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """A failure the caller can act on: a stable ``code`` for programs, a ``message`` for people."""

    http_status: int = status.HTTP_400_BAD_REQUEST

    def __init__(
        self,
        code: StrEnum,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = str(message)
        self.details = details or []
        if http_status is not None:
            self.http_status = http_status

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": str(self.code), "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


def form_errors_add(form: Any, exc: ApplicationError, *, aliases: dict[str, str] | None = None) -> None:
    """A service's refusal told on the page's form sent back: at each field its details name
    (``aliases``: the service's name of a field → the form's), else above the form."""
    placed = False
    for detail in exc.details:
        field = (aliases or {}).get(detail.get("field", ""), detail.get("field"))
        if field in form.fields:
            form.add_error(field, detail.get("message") or exc.message)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


class PlatformErrorCode(StrEnum):
    VALIDATION = "validation_error"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    NOT_AUTHENTICATED = "not_authenticated"
    CONFLICT = "conflict"
    THROTTLED = "throttled"
    PARSE_ERROR = "parse_error"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    REQUEST_TOO_LARGE = "request_too_large"
    BAD_REQUEST = "bad_request"
    ERROR = "error"
    SERVER_ERROR = "server_error"
    SERVICE_UNAVAILABLE = "service_unavailable"
    MISSING_TENANT = "platform.missing_tenant"
    COUNTY_UNAVAILABLE = "platform.county_unavailable"
    COUNTY_SUSPENDED = "platform.county_suspended"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every API error as ``{"error": {"code", "message", "details"?}}``; audit refusals."""
    response = _render(exc, context)
    if response is not None and response.status_code == status.HTTP_403_FORBIDDEN:
        _audit_refusal(context, str(response.data["error"]["code"]))
    return response


def _audit_refusal(context: dict[str, Any], code: str) -> None:
    """A signed-in person asked for something their role may not do: the auditors see it (等保 8.1.4.3).

    Only the route's pattern is kept (no ids, no query string). A 404 is not recorded: it answers
    alike for what does not exist and what may not be seen, and typos would bury the rest.
    """
    request = context.get("request")
    try:
        user = getattr(request, "user", None)
    except ApplicationError:  # the credentials themselves were refused (a token without its second factor)
        return
    if request is None or user is None or not user.is_authenticated:
        return
    from banchengshi.audit.models import Outcome
    from banchengshi.audit.services import audit_record

    match = getattr(request, "resolver_match", None)
    audit_record(
        action="access.denied", actor=user, outcome=Outcome.DENIED, object_type="api",
        details={"route": match.route if match is not None else "", "method": request.method, "code": code},
    )  # fmt: skip


def _render(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        refused = Response({"error": exc.as_dict()}, status=exc.http_status)
        view, request = context.get("view"), context.get("request")
        if exc.http_status == 401 and view is not None and request is not None:
            # As DRF does for its own 401s: say how to authenticate (RFC 9110).
            challenge = view.get_authenticate_header(request)
            if challenge:
                refused["WWW-Authenticate"] = challenge
        return refused
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        too_large = {"code": str(PlatformErrorCode.REQUEST_TOO_LARGE), "message": _("The request body is too large.")}
        return Response({"error": too_large}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    elif isinstance(exc, SuspiciousOperation):  # too many fields or files in a form, a malformed multipart body
        unreadable = {"code": str(PlatformErrorCode.BAD_REQUEST), "message": _("The request could not be read.")}
        return Response({"error": unreadable}, status=status.HTTP_400_BAD_REQUEST)
    response = exception_handler(exc, context)
    if response is None:
        return None
    code = _DRF_CODES.get(type(exc), PlatformErrorCode.ERROR)
    body: dict[str, Any]
    if isinstance(exc, exceptions.ValidationError):
        body = {
            "code": str(PlatformErrorCode.VALIDATION),
            "message": str(exceptions.ValidationError.default_detail),
            "details": _flatten(exc.detail),
        }
    elif isinstance(exc, exceptions.ParseError):
        # DRF's parsers say why in English ("JSON parse error - Expecting ..."): a program may
        # want the reason, a person needs the sentence.
        body = {
            "code": str(code),
            "message": _("The request body could not be read: it is not valid JSON or form data."),
            "details": [{"field": "non_field_errors", "code": str(code), "message": str(exc.detail)}],
        }
    else:
        detail = getattr(exc, "detail", str(exc))
        body = {"code": str(code), "message": str(detail)}
    response.data = {"error": body}
    return response


_DRF_CODES: dict[type[Exception], PlatformErrorCode] = {
    exceptions.NotFound: PlatformErrorCode.NOT_FOUND,
    exceptions.PermissionDenied: PlatformErrorCode.PERMISSION_DENIED,
    exceptions.NotAuthenticated: PlatformErrorCode.NOT_AUTHENTICATED,
    exceptions.AuthenticationFailed: PlatformErrorCode.NOT_AUTHENTICATED,
    exceptions.Throttled: PlatformErrorCode.THROTTLED,
    exceptions.ParseError: PlatformErrorCode.PARSE_ERROR,
    exceptions.UnsupportedMediaType: PlatformErrorCode.UNSUPPORTED_MEDIA_TYPE,
    exceptions.MethodNotAllowed: PlatformErrorCode.METHOD_NOT_ALLOWED,
    exceptions.NotAcceptable: PlatformErrorCode.NOT_ACCEPTABLE,
}


def _flatten(detail: Any, path: str = "") -> list[dict[str, Any]]:
    """DRF's nested error dict as a flat list of ``{"field", "code", "message"}``."""
    if isinstance(detail, dict):
        out: list[dict[str, Any]] = []
        for key, value in detail.items():
            out += _flatten(value, f"{path}.{key}" if path else str(key))
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list)
            out += _flatten(value, f"{path}[{index}]" if nested else path)
        return out
    return [{"field": path or "non_field_errors", "code": getattr(detail, "code", "invalid"), "message": str(detail)}]
