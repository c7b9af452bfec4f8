"""Endpoints for connected systems on a county's host.

- ``/open311/v2/``: GeoReport v2 (JSON and XML), answered in that specification's own shapes and
  error format; reads are public as the specification has them, ``POST requests`` needs an API key.
- ``/interop/v1/``: the 12345 work-order intake and status (API key), the 好差评 callback (signed),
  the staff's rectification loop, and the county admin's client applications and settings. Errors
  are the platform's ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django.conf import settings
from django.http import Http404, HttpResponse, QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from banchengshi.accounts.models import User
from banchengshi.errors import ApplicationError
from banchengshi.ratelimit import AddressRateThrottle
from banchengshi.tenancy import current_county
from casework.apis import IsCountyStaff, idempotency_key_of, mark_replayed
from casework.interop import open311, selectors, services
from casework.interop.errors import InteropError, InteropErrorCode, NotAllowedError
from casework.interop.models import ApiClient, RectificationStatus, Scope
from casework.models import RatingLevel

# -- Open311 GeoReport v2 ---------------------------------------------------------------------


class Open311Throttle(AddressRateThrottle):
    """``POST requests``: the citizens' rate, like the citizen pages' API."""

    scope = "citizen"


class Open311ReadThrottle(AddressRateThrottle):
    """The public reads: a budget per client address of their own, so a civic app polling for
    status neither runs into the reporting rate nor uses it up."""

    scope = "open311_read"

    def get_rate(self) -> str:
        return str(settings.INTEROP_OPEN311_READ_RATE)


@extend_schema(exclude=True)  # documented by the GeoReport v2 specification, not by our OpenAPI schema
class Open311Api(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get_throttles(self) -> list[Any]:
        return [Open311Throttle()] if self.request.method == "POST" else [Open311ReadThrottle()]

    def handle_exception(self, exc: Exception) -> Any:
        fmt = self.kwargs.get("fmt", "json")
        if isinstance(exc, exceptions.Throttled):
            seconds = max(1, math.ceil(getattr(exc, "wait", None) or 1))
            response = open311.error(
                fmt,
                status.HTTP_429_TOO_MANY_REQUESTS,
                _("Too many requests from this address; try again in %(seconds)d seconds.") % {"seconds": seconds},
            )
            response["Retry-After"] = str(seconds)
            return response
        if isinstance(exc, ApplicationError):
            # The specification answers a missing or invalid api_key with 403.
            code = status.HTTP_403_FORBIDDEN if exc.http_status == status.HTTP_401_UNAUTHORIZED else exc.http_status
            return open311.error(fmt, code, exc.message)
        if isinstance(exc, exceptions.ValidationError):
            return open311.error(fmt, 400, _first_message(exc.detail))
        if isinstance(exc, Http404 | exceptions.NotFound):
            return open311.error(fmt, 404, _("Not found."))
        if isinstance(exc, exceptions.APIException):
            return open311.error(fmt, exc.status_code, str(exc.detail))
        raise exc

    def check_jurisdiction(self, request: Request) -> None:
        given = (request.query_params.get("jurisdiction_id") or _form_text(_form(request), "jurisdiction_id")).strip()
        county = current_county()
        if given and given not in {request.get_host().split(":")[0], county.code, county.slug}:
            raise InteropError(
                InteropErrorCode.NOT_FOUND,
                _("jurisdiction_id “%(given)s” is not served here.") % {"given": given},
                http_status=404,
            )


def _form(request: Request) -> Mapping[str, Any]:
    """The posted fields: a form as the specification has it, or a JSON object; anything else is a 400."""
    data = request.data
    if not isinstance(data, Mapping):
        raise InteropError(InteropErrorCode.INVALID, _("Send the request's fields as a form (or a JSON object)."))
    return data


def _form_text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):  # a JSON body may carry a number or a list where text belongs
        raise InteropError(InteropErrorCode.INVALID, _("%(name)s must be text.") % {"name": name})
    return value


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        name, value = next(iter(detail.items()))
        return f"{name}: {_first_message(value)}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


class Open311ServiceListApi(Open311Api):
    def get(self, request: Request, fmt: str) -> HttpResponse:
        self.check_jurisdiction(request)
        group = current_county().window_name
        rows = [open311.service_row(c, group) for c in selectors.open311_service_list()]
        return open311.respond(fmt, "services", "service", rows)


class Open311ServiceDefinitionApi(Open311Api):
    def get(self, request: Request, code: str, fmt: str) -> HttpResponse:
        self.check_jurisdiction(request)
        category = selectors.open311_service_get(code=code)
        return open311.respond(fmt, "service_definition", None, open311.service_definition(category))


# Far enough apart for any real query, near enough that the 90-day span around them stays a valid date.
OPEN311_EARLIEST = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
OPEN311_LATEST = datetime.datetime(3000, 1, 1, tzinfo=datetime.UTC)


def _when(value: str, name: str) -> datetime.datetime | None:
    if not value:
        return None
    try:
        # None for what is no date at all; ValueError for a well-formed impossible one (2026-13-01).
        parsed = parse_datetime(value.strip().replace(" ", "+"))
    except ValueError:
        parsed = None
    if parsed is None:
        raise InteropError(
            InteropErrorCode.INVALID,
            _("%(name)s must be a date and time such as 2026-03-01T00:00:00+08:00.") % {"name": name},
        )
    # The specification requires an offset; a bare time is read as the county's local time.
    parsed = parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
    if not OPEN311_EARLIEST <= parsed < OPEN311_LATEST:
        raise InteropError(
            InteropErrorCode.INVALID,
            _("%(name)s must lie between the years %(first)d and %(last)d.")
            % {"name": name, "first": OPEN311_EARLIEST.year, "last": OPEN311_LATEST.year - 1},
        )
    return parsed


def _codes(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))


class Open311RequestsApi(Open311Api):
    class FilterSerializer(serializers.Serializer):
        service_request_id = serializers.CharField(required=False, default="")
        service_code = serializers.CharField(required=False, default="")
        status = serializers.CharField(required=False, default="")
        start_date = serializers.CharField(required=False, default="")
        end_date = serializers.CharField(required=False, default="")

    class InputSerializer(serializers.Serializer):
        api_key = serializers.CharField(required=False, default="", allow_blank=True)
        service_code = serializers.CharField(max_length=40)
        lat = serializers.CharField(required=False, default="", allow_blank=True)
        long = serializers.CharField(required=False, default="", allow_blank=True)
        address_string = serializers.CharField(required=False, default="", allow_blank=True, max_length=255)
        address_id = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)
        zipcode = serializers.CharField(required=False, default="", allow_blank=True, max_length=12)
        email = serializers.EmailField(required=False, default="", allow_blank=True)
        device_id = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)
        account_id = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)
        first_name = serializers.CharField(required=False, default="", allow_blank=True, max_length=32)
        last_name = serializers.CharField(required=False, default="", allow_blank=True, max_length=32)
        phone = serializers.CharField(required=False, default="", allow_blank=True, max_length=20)
        description = serializers.CharField(required=False, default="", allow_blank=True, max_length=4000)
        media_url = serializers.URLField(required=False, default="", allow_blank=True, max_length=500)

    def get(self, request: Request, fmt: str) -> HttpResponse:
        self.check_jurisdiction(request)
        data = self.FilterSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        statuses = _codes(values["status"].lower())
        if set(statuses) - {"open", "closed"}:
            raise InteropError(InteropErrorCode.INVALID, _("status is open, closed or both (comma-separated)."))
        start, end = _when(values["start_date"], "start_date"), _when(values["end_date"], "end_date")
        span = datetime.timedelta(days=selectors.OPEN311_DEFAULT_DAYS)
        if start and not end:
            end = start + span
        elif end and not start:
            start = end - span
        if start and end and (end < start or end - start > span):
            raise InteropError(
                InteropErrorCode.INVALID,
                _("start_date and end_date may span at most %(days)d days.") % {"days": span.days},
            )
        ids = _codes(values["service_request_id"])
        if len(ids) > selectors.OPEN311_MAX_IDS:
            # Ids override the date window and the row limit: their number is bounded on its own.
            raise InteropError(
                InteropErrorCode.INVALID,
                _("At most %(max)d service_request_id values at a time.") % {"max": selectors.OPEN311_MAX_IDS},
            )
        filters = selectors.RequestFilters(
            ids=ids,
            service_codes=_codes(values["service_code"]),
            statuses=statuses,
            start=start,
            end=end,
        )
        rows = [open311.request_row(case) for case in selectors.open311_request_list(filters=filters)]
        return open311.respond(fmt, "service_requests", "request", rows)

    def post(self, request: Request, fmt: str) -> HttpResponse:
        self.check_jurisdiction(request)
        form = _form(request)
        api_key = form.get("api_key")
        if not api_key:
            raise NotAllowedError(InteropErrorCode.NOT_AUTHENTICATED, _("api_key was not provided."))
        # Anything but text is no key of ours: refused as an unknown key (403), as the specification has it.
        client = selectors.api_client_for_key(api_key=api_key if isinstance(api_key, str) else "", scope=Scope.OPEN311)
        data = self.InputSerializer(data=form)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        submission = services.Open311Submission(
            service_code=values["service_code"],
            description=values["description"],
            first_name=values["first_name"],
            last_name=values["last_name"],
            phone=values["phone"],
            email=values["email"],
            address_string=values["address_string"],
            address_id=values["address_id"],
            zipcode=values["zipcode"],
            lat=_coordinate(values["lat"], "lat", 90),
            long=_coordinate(values["long"], "long", 180),
            media_url=values["media_url"],
            device_id=values["device_id"],
            account_id=values["account_id"],
            attributes=_attributes(request),
        )
        registration = services.open311_request_create(
            client=client, submission=submission, idempotency_key=idempotency_key_of(request)
        )
        case = registration.case
        notice = _("Registered as %(number)s; the window answers by %(due)s.") % {
            "number": case.number,
            "due": open311.w3c(case.resolution_due_at or case.reply_due_at) or "-",
        }
        row = {"service_request_id": case.number, "service_notice": notice, "account_id": values["account_id"] or None}
        return mark_replayed(open311.respond(fmt, "service_requests", "request", [row]), registration)


def _coordinate(value: str, name: str, limit: int) -> Decimal | None:
    if not value.strip():
        return None
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        number = Decimal(limit + 1)
    if not number.is_finite() or abs(number) > limit:
        raise InteropError(InteropErrorCode.INVALID, _("%(name)s is not a valid coordinate.") % {"name": name})
    return number.quantize(Decimal("0.000001"))


def _attributes(request: Request) -> dict[str, list[str]]:
    """``attribute[code]=value`` and, for multi-value lists, ``attribute[code][]=value`` (repeated)."""
    found: dict[str, list[str]] = {}
    data = _form(request)
    for key in data:
        if not key.startswith("attribute[") or "]" not in key:
            continue
        code = key[len("attribute[") : key.index("]")]
        raw = data.getlist(key) if isinstance(data, QueryDict) else data[key]
        values = raw if isinstance(raw, list) else [raw]
        found.setdefault(code, []).extend(str(v) for v in values)
    return found


class Open311RequestApi(Open311Api):
    def get(self, request: Request, request_id: str, fmt: str) -> HttpResponse:
        self.check_jurisdiction(request)
        case = selectors.open311_request_get(request_id=request_id)
        return open311.respond(fmt, "service_requests", "request", [open311.request_row(case)])


# -- client authentication --------------------------------------------------------------------


def _api_key(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("apikey "):
        return header[7:].strip()
    return request.headers.get("X-Api-Key", "").strip()


class ClientApi(APIView):
    """Called by another system with its API key (``Authorization: ApiKey …``), not by a person."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    scope: str = ""

    def client(self, request: Request) -> ApiClient:
        return selectors.api_client_for_key(api_key=_api_key(request), scope=self.scope)


class StaffApi(APIView):
    permission_classes = [IsCountyStaff]


def _actor(request: Request) -> User:
    return cast(User, request.user)


# -- 12345 work orders ------------------------------------------------------------------------


class _CaseRef(serializers.Serializer):
    line = serializers.IntegerField()
    external_id = serializers.CharField()
    case_id = serializers.UUIDField()
    number = serializers.CharField()


class _Rejected(serializers.Serializer):
    line = serializers.IntegerField()
    external_id = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.ListField(child=serializers.DictField())


class WorkOrderImportApi(ClientApi):
    scope = Scope.INTAKE

    class OutputSerializer(serializers.Serializer):
        imported = _CaseRef(many=True)
        unchanged = _CaseRef(many=True)
        rejected = _Rejected(many=True)

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT, "text/csv": OpenApiTypes.STR},
        responses={200: OutputSerializer},
        description='12345 work orders as JSON ({"orders": [...]}) or CSV; each source id becomes one case, once.',
    )
    def post(self, request: Request) -> Response:
        client = self.client(request)
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.INTEROP_INTAKE_MAX_BYTES:
            raise services.batch_too_large()
        rows = services.work_orders_parse(body=request.body, content_type=request.content_type or "")
        result = services.work_orders_import(client=client, rows=rows)
        return Response(self.OutputSerializer(result).data)


class WorkOrderDetailApi(ClientApi):
    scope = Scope.INTAKE

    class OutputSerializer(serializers.Serializer):
        class ReplyOutput(serializers.Serializer):
            content = serializers.CharField()
            replied_at = serializers.DateTimeField()

        external_id = serializers.CharField()
        case_id = serializers.UUIDField()
        number = serializers.CharField()
        status = serializers.CharField()
        status_display = serializers.CharField()
        updated_at = serializers.DateTimeField()
        replies = ReplyOutput(many=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, external_id: str) -> Response:
        reference = selectors.work_order_get_for_client(client=self.client(request), external_id=external_id)
        case = reference.case
        data = {
            "external_id": reference.external_id,
            "case_id": case.pk,
            "number": case.number,
            "status": case.status,
            "status_display": case.get_status_display(),
            "updated_at": case.updated_at,
            "replies": list(case.replies.all()),
        }
        return Response(self.OutputSerializer(data).data)


# -- 好差评 -------------------------------------------------------------------------------------


class _RectificationOutput(serializers.Serializer):
    id = serializers.UUIDField()
    case_id = serializers.UUIDField()
    status = serializers.CharField()
    status_display = serializers.CharField(source="get_status_display")
    opened_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    due_provisional = serializers.BooleanField()
    called_back_at = serializers.DateTimeField(allow_null=True)
    rectified_at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField()
    bad_level = serializers.IntegerField(source="bad_rating.level")
    follow_up_level = serializers.IntegerField(source="follow_up_rating.level", allow_null=True, default=None)
    closed_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField()


class RatingCallbackApi(APIView):
    """Signed by the 好差评 system: ``X-Key-Id``, ``X-Timestamp``, ``X-Nonce`` and ``X-Signature``."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        rating_id = serializers.CharField(max_length=64)
        case_number = serializers.CharField(max_length=24)
        level = serializers.ChoiceField(choices=RatingLevel.choices)
        comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)
        dimensions = serializers.DictField(child=serializers.IntegerField(), required=False, default=dict)

    class OutputSerializer(serializers.Serializer):
        rating_id = serializers.CharField()
        case_number = serializers.CharField()
        level = serializers.IntegerField()
        is_bad = serializers.BooleanField()
        duplicate = serializers.BooleanField()
        rectification = _RectificationOutput(allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer},
        parameters=[
            OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True)
            for name in ("X-Key-Id", "X-Timestamp", "X-Nonce", "X-Signature")
        ],
    )
    def post(self, request: Request) -> Response:
        body = request.body
        client = services.signed_callback_verify(
            key_id=request.headers.get("X-Key-Id", ""),
            timestamp=request.headers.get("X-Timestamp", ""),
            nonce=request.headers.get("X-Nonce", ""),
            signature=request.headers.get("X-Signature", ""),
            body=body,
            scope=Scope.RATINGS,
        )
        try:
            payload = json.loads(body)
        except ValueError:
            raise InteropError(InteropErrorCode.INVALID, _("The body is not valid JSON.")) from None
        data = self.InputSerializer(data=payload)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        receipt = services.external_rating_receive(
            client=client,
            rating_id=values["rating_id"],
            case_number=values["case_number"],
            level=values["level"],
            comment=values["comment"],
            dimensions=values["dimensions"],
        )
        out = {
            "rating_id": values["rating_id"],
            "case_number": receipt.rating.case.number,
            "level": receipt.rating.level,
            "is_bad": receipt.rating.is_bad,
            "duplicate": receipt.duplicate,
            "rectification": receipt.rectification,
        }
        return Response(self.OutputSerializer(out).data)


# -- the staff's rectification loop -----------------------------------------------------------


class RectificationListApi(StaffApi):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=RectificationStatus.choices, required=False, default="")
        overdue = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(parameters=[FilterSerializer], responses=_RectificationOutput(many=True))
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = selectors.rectification_list_for_actor(actor=_actor(request), **filters.validated_data)[:500]
        return Response(_RectificationOutput(rows, many=True).data)


class RectificationDetailApi(StaffApi):
    @extend_schema(responses=_RectificationOutput)
    def get(self, request: Request, rectification_id: str) -> Response:
        row = selectors.rectification_get_for_actor(actor=_actor(request), rectification_id=rectification_id)
        return Response(_RectificationOutput(row).data)


class _StepInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    note = serializers.CharField(max_length=2000)


class RectificationCalledBackApi(StaffApi):
    InputSerializer = _StepInput

    @extend_schema(request=_StepInput, responses=_RectificationOutput)
    def post(self, request: Request, rectification_id: str) -> Response:
        row = selectors.rectification_get_for_actor(actor=_actor(request), rectification_id=rectification_id)
        data = _StepInput(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.rectification_called_back(actor=_actor(request), rectification_id=row.pk, **data.validated_data)
        return Response(_RectificationOutput(row).data)


class RectificationRectifiedApi(StaffApi):
    InputSerializer = _StepInput

    @extend_schema(request=_StepInput, responses=_RectificationOutput)
    def post(self, request: Request, rectification_id: str) -> Response:
        row = selectors.rectification_get_for_actor(actor=_actor(request), rectification_id=rectification_id)
        data = _StepInput(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.rectification_mark_rectified(
            actor=_actor(request), rectification_id=row.pk, **data.validated_data
        )
        return Response(_RectificationOutput(row).data)


# -- the county admin: client applications and settings ---------------------------------------


class _ClientOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    source_system = serializers.CharField()
    key_id = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    webhook_url = serializers.CharField(source="webhook.url", allow_null=True, default=None)
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


def _require_admin_read(request: Request) -> None:
    profile = request.staff_profile  # type: ignore[attr-defined]
    if profile.role != "county_admin":
        raise NotAllowedError(InteropErrorCode.NOT_ALLOWED, _("Only the county administrator may do this."))


class ClientListApi(StaffApi):
    @extend_schema(responses=_ClientOutput(many=True))
    def get(self, request: Request) -> Response:
        _require_admin_read(request)
        return Response(_ClientOutput(selectors.api_client_list(), many=True).data)


class ClientCreateApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        source_system = serializers.SlugField(max_length=40)
        scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), min_length=1)
        webhook_url = serializers.URLField(required=False, default="", allow_blank=True, max_length=500)
        webhook_events = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list)

    class OutputSerializer(_ClientOutput):
        api_key = serializers.CharField()
        signing_secret = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.api_client_create(actor=_actor(request), **data.validated_data)
        out = _ClientOutput(issued.client).data | {"api_key": issued.api_key, "signing_secret": issued.signing_secret}
        return Response(out, status=status.HTTP_201_CREATED)


class ClientDeactivateApi(StaffApi):
    @extend_schema(request=None, responses=_ClientOutput)
    def post(self, request: Request, client_id: str) -> Response:
        _require_admin_read(request)
        client = selectors.api_client_get(client_id=client_id)
        client = services.api_client_deactivate(actor=_actor(request), client_id=client.pk)
        return Response(_ClientOutput(client).data)


class SettingsApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        rectification_working_days = serializers.IntegerField()

    class OutputSerializer(serializers.Serializer):
        rectification_working_days = serializers.IntegerField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(selectors.interop_settings()).data)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.interop_settings_set(actor=_actor(request), **data.validated_data)
        return Response(self.OutputSerializer(row).data)
