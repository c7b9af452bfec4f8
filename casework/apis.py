"""The casework REST API (``/api/v1/`` on a county's host). One view per operation.

Each view validates its input, calls one service or selector, and renders the output; who may
see or do what is decided in ``selectors`` and ``services``, never here.
"""

from __future__ import annotations

import datetime
from typing import Any, cast

from django.http import FileResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from banchengshi.accounts.models import User
from banchengshi.audit.services import audit_record
from banchengshi.core.fields import CopiedFieldsSerializer
from banchengshi.ratelimit import AddressRateThrottle
from casework import selectors, services
from casework.errors import CaseworkErrorCode, PermissionDeniedError
from casework.forwarding.selectors import forwards_handled_elsewhere
from casework.models import (
    Assignment,
    Case,
    CaseStatus,
    Channel,
    Finding,
    FollowUpOutcome,
    RatingLevel,
    ReplyMethod,
    StaffRole,
)
from casework.policy import Action, mask_phone, may


class IsCountyStaff(BasePermission):
    """Signed in at this county and given a casework role."""

    message = _("Only county staff with a casework role may use this.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        user: Any = request.user
        if not user or not user.is_authenticated:
            return False
        request.staff_profile = selectors.staff_profile_of(user)  # type: ignore[attr-defined]
        return request.staff_profile is not None  # type: ignore[attr-defined]


def _actor(request: Request) -> User:
    # IsCountyStaff has checked that the user is signed in.
    return cast(User, request.user)


# Beyond any real list, and small enough that offset + limit stays a PostgreSQL bigint (a larger
# number was a server error).
MAX_OFFSET = 2**31 - 1


class StaffApi(APIView):
    permission_classes = [IsCountyStaff]


# -- output -----------------------------------------------------------------------------------


class _Ref(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


@extend_schema_field(OpenApiTypes.STR)
class PhoneField(serializers.Field):
    """The citizen's phone: in full for roles that call back, masked (138****5678) for everyone else."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: str) -> str:
        request = self.context.get("request")
        profile = getattr(request, "staff_profile", None)
        if not may(profile, Action.SEE_PHONE):
            return mask_phone(value)
        case_id = getattr(getattr(self.parent, "instance", None), "pk", "")  # audited: a full number was shown
        audit_record(action="case.phone_viewed", object_type="case", object_id=case_id)
        return value


class CaseListOutput(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.CharField()
    matter = serializers.CharField()
    citizen_name = serializers.CharField()
    citizen_phone = PhoneField()
    channel = serializers.CharField()
    kind = _Ref()
    category = _Ref(allow_null=True)
    status = serializers.CharField()
    status_display = serializers.CharField(source="get_status_display")
    is_urgent = serializers.BooleanField()
    registered_at = serializers.DateTimeField()
    reply_due_at = serializers.DateTimeField(allow_null=True)
    resolution_due_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField()


def _dt(value: datetime.datetime | None, zone: datetime.tzinfo) -> str | None:
    """What DRF's ``DateTimeField`` renders (ISO 8601 in the current time zone), for rows built directly.

    DRF looks the current time zone up for every value; a page of 50 rows has 150 of them, so the
    row builders look it up once and pass it here.
    """
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# What a list row shows: a page reads these columns only (no descriptions, no window).
LIST_COLUMNS = (
    "id", "number", "matter", "citizen_name", "citizen_phone", "channel", "status", "is_urgent", "registered_at",
    "reply_due_at", "resolution_due_at", "version", "kind__code", "kind__name", "category__code", "category__name",
)  # fmt: skip


def case_list_rows(cases: list[Case], *, full_phone: bool) -> list[dict[str, Any]]:
    """The rows of ``CaseListOutput`` for cases, built directly (see ``case_list_value_rows``)."""
    return case_list_value_rows(
        [{name: _column(case, name) for name in LIST_COLUMNS} for case in cases], full_phone=full_phone
    )


def _column(row: Any, name: str) -> Any:
    # A model instance's value for a ``.values()`` column name (``kind__code``: its kind's code).
    related, _sep, field = name.partition("__")
    if not field:
        return getattr(row, name)
    target = getattr(row, related)
    return None if target is None else getattr(target, field)


def case_list_value_rows(values: list[dict[str, Any]], *, full_phone: bool) -> list[dict[str, Any]]:
    """The rows of ``CaseListOutput`` from ``Case.objects.values(*LIST_COLUMNS)``.

    DRF's nested serializers, and even model instances, cost most of a list request's time;
    queues are read all day, so their rows are rendered from plain values here.
    ``test_list_rows_match_their_documented_serializer`` keeps both identical.
    """
    status_labels = {value: str(label) for value, label in CaseStatus.choices}
    zone = timezone.get_current_timezone()
    return [
        {
            "id": str(row["id"]),
            "number": row["number"],
            "matter": row["matter"],
            "citizen_name": row["citizen_name"],
            "citizen_phone": row["citizen_phone"] if full_phone else mask_phone(row["citizen_phone"]),
            "channel": row["channel"],
            "kind": {"code": row["kind__code"], "name": row["kind__name"]},
            "category": None
            if row["category__code"] is None
            else {"code": row["category__code"], "name": row["category__name"]},
            "status": row["status"],
            "status_display": status_labels[row["status"]],
            "is_urgent": row["is_urgent"],
            "registered_at": _dt(row["registered_at"], zone),
            "reply_due_at": _dt(row["reply_due_at"], zone),
            "resolution_due_at": _dt(row["resolution_due_at"], zone),
            "version": row["version"],
        }
        for row in values
    ]


class AssignmentOutput(serializers.Serializer):
    id = serializers.UUIDField()
    case_id = serializers.UUIDField()
    department = _Ref()
    role = serializers.CharField()
    status = serializers.CharField()
    instructions = serializers.CharField()
    result = serializers.CharField()
    return_reason = serializers.CharField()
    assigned_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


# What a handler's queue row shows: the assignment and its department, not the case.
ASSIGNMENT_COLUMNS = (
    "id", "case_id", "department__code", "department__name", "role", "status", "instructions", "result",
    "return_reason", "assigned_at", "finished_at",
)  # fmt: skip


def assignment_rows(assignments: list[Assignment]) -> list[dict[str, Any]]:
    """The rows of ``AssignmentOutput`` for assignments (see ``assignment_value_rows``)."""
    return assignment_value_rows([{name: _column(a, name) for name in ASSIGNMENT_COLUMNS} for a in assignments])


def assignment_value_rows(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of ``AssignmentOutput`` from ``.values(*ASSIGNMENT_COLUMNS)``, for the handlers' queue."""
    zone = timezone.get_current_timezone()
    return [
        {
            "id": str(row["id"]),
            "case_id": str(row["case_id"]),
            "department": {"code": row["department__code"], "name": row["department__name"]},
            "role": row["role"],
            "status": row["status"],
            "instructions": row["instructions"],
            "result": row["result"],
            "return_reason": row["return_reason"],
            "assigned_at": _dt(row["assigned_at"], zone),
            "finished_at": _dt(row["finished_at"], zone),
        }
        for row in values
    ]


class CaseDetailOutput(CaseListOutput):
    class EventOutput(serializers.Serializer):
        at = serializers.DateTimeField()
        actor = serializers.CharField(source="actor_label")
        action = serializers.CharField()
        from_status = serializers.CharField()
        to_status = serializers.CharField()
        note = serializers.CharField()
        details = serializers.JSONField(source="data")

    class ReplyOutput(serializers.Serializer):
        method = serializers.CharField()
        content = serializers.CharField()
        replied_at = serializers.DateTimeField()

    class FollowUpOutput(serializers.Serializer):
        outcome = serializers.CharField()
        note = serializers.CharField()
        at = serializers.DateTimeField()

    class RatingOutput(serializers.Serializer):
        level = serializers.IntegerField()
        is_bad = serializers.BooleanField()
        comment = serializers.CharField()
        origin = serializers.CharField(source="source")
        at = serializers.DateTimeField()

    class AttachmentOutput(serializers.Serializer):
        id = serializers.UUIDField()
        original_name = serializers.CharField()
        content_type = serializers.CharField()
        size = serializers.IntegerField()
        sha256 = serializers.CharField()
        uploaded_at = serializers.DateTimeField()

    class ExtensionOutput(serializers.Serializer):
        id = serializers.UUIDField()
        working_days = serializers.IntegerField()
        reason = serializers.CharField()
        status = serializers.CharField()
        requested_at = serializers.DateTimeField()
        decided_at = serializers.DateTimeField(allow_null=True)
        decision_note = serializers.CharField()

    tracking_code = serializers.CharField()
    description = serializers.CharField()
    company_name = serializers.CharField()
    window = _Ref(allow_null=True)
    cause = _Ref(allow_null=True)
    departments_involved = _Ref(many=True)
    escalation_level = serializers.CharField()
    reopen_count = serializers.IntegerField()
    assignments = AssignmentOutput(many=True)
    events = EventOutput(many=True)
    replies = ReplyOutput(many=True)
    follow_ups = FollowUpOutput(many=True)
    ratings = RatingOutput(many=True)
    attachments = AttachmentOutput(many=True)
    extensions = ExtensionOutput(many=True)
    extended_days = serializers.IntegerField()
    accept_due_at = serializers.DateTimeField(allow_null=True)
    deadline_provisional = serializers.BooleanField()


def _case_response(request: Request, case: Case, code: int = status.HTTP_200_OK) -> Response:
    detail = selectors.case_get_for_actor(actor=_actor(request), case_id=case.pk)
    return Response(CaseDetailOutput(detail, context={"request": request}).data, status=code)


# -- cases ------------------------------------------------------------------------------------


class CaseListApi(StaffApi):
    class FilterSerializer(CopiedFieldsSerializer):
        status = serializers.CharField(required=False, default="")
        kind = serializers.CharField(required=False, default="")
        category = serializers.CharField(required=False, default="")
        department = serializers.CharField(required=False, default="")
        window = serializers.CharField(required=False, default="")
        channel = serializers.CharField(required=False, default="")
        overdue = serializers.BooleanField(required=False, allow_null=True, default=None)
        registered_from = serializers.DateField(required=False, allow_null=True, default=None)
        registered_to = serializers.DateField(required=False, allow_null=True, default=None)
        q = serializers.CharField(required=False, default="")
        # Lists mask phone numbers for everyone; a role that calls citizens back asks for them.
        full_phone = serializers.BooleanField(required=False, default=False)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)
        offset = serializers.IntegerField(required=False, min_value=0, max_value=MAX_OFFSET, default=0)

    @extend_schema(parameters=[FilterSerializer], responses=CaseListOutput(many=True))
    def get(self, request: Request) -> Response:
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        values = dict(params.validated_data)
        limit, offset, wants_phone = values.pop("limit"), values.pop("offset"), values.pop("full_phone")
        cases = selectors.case_list_for_actor(actor=_actor(request), filters=selectors.CaseFilters(**values))
        page = list(cases.select_related(None).values(*LIST_COLUMNS)[offset : offset + limit + 1])
        full_phone = wants_phone and may(request.staff_profile, Action.SEE_PHONE)  # type: ignore[attr-defined]
        if full_phone and page:  # every view of a full phone number is audited
            shown = [str(row["id"]) for row in page[:limit]]
            audit_record(action="case.phone_viewed", object_type="case", details={"case_ids": shown})
        return Response(
            {
                "results": case_list_value_rows(page[:limit], full_phone=full_phone),
                "has_more": len(page) > limit,
                "limit": limit,
                "offset": offset,
            }
        )


class CitizenIntakeInput(CopiedFieldsSerializer):
    """What a citizen tells online; how urgent it is, its category and cause are staff's to decide."""

    matter = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000)
    citizen_name = serializers.CharField(max_length=64)
    citizen_phone = serializers.CharField(max_length=32)
    company_name = serializers.CharField(max_length=128, required=False, default="", allow_blank=True)
    kind = serializers.CharField()
    departments = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class CaseIntakeInput(CitizenIntakeInput):
    window = serializers.CharField(required=False, default="", allow_blank=True)
    category = serializers.CharField(required=False, default="", allow_blank=True)
    cause = serializers.CharField(required=False, default="", allow_blank=True)
    is_urgent = serializers.BooleanField(required=False, default=False)


def _intake(data: dict[str, Any], channel: str) -> services.CaseIntake:
    return services.CaseIntake(
        matter=data["matter"],
        description=data["description"],
        citizen_name=data["citizen_name"],
        citizen_phone=data["citizen_phone"],
        company_name=data["company_name"],
        channel=channel,
        kind_code=data["kind"],
        window_code=data.get("window", ""),
        category_code=data.get("category", ""),
        cause_code=data.get("cause", ""),
        department_codes=tuple(data["departments"]),
        is_urgent=data.get("is_urgent", False),
    )


# A client that retries a registration after a lost answer sends the same key again (see
# ``services.case_register_once``); without the header nothing about registration changes.
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_KEY_HEADER,
    {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[ -~]+$"},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Optional, 1-128 printable ASCII characters (e.g. a UUID), one per registration. A retry with the same key "
        "and the same body (from the same staff user, connected system, or citizens) answers with the case the first "
        "request registered, the same status and body shape, and the header `Idempotent-Replayed: true`; nothing is "
        "written again. The same key with another body is refused: 422 `casework.idempotency_key_reused`; a "
        "malformed key: 400 `casework.idempotency_key_invalid`. Keys are kept for CASEWORK_INTAKE_KEY_DAYS (7) days."
    ),
)


def idempotency_key_of(request: Request) -> str | None:
    return request.headers.get(IDEMPOTENCY_KEY_HEADER)


def mark_replayed(response: Any, registration: services.Registration) -> Any:
    """A retry answered with the earlier registration says so, as Stripe's API does."""
    if registration.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


class CaseRegisterApi(StaffApi):
    class InputSerializer(CaseIntakeInput):
        channel = serializers.ChoiceField(choices=Channel.choices)

    class OutputSerializer(CaseListOutput):
        tracking_code = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer}, parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        intake = _intake(data.validated_data, data.validated_data["channel"])
        registration = services.case_register_once(
            idempotency_key=idempotency_key_of(request), actor=_actor(request), intake=intake
        )
        case = registration.case
        # The new case as registered, rendered like a list row (its detail is one GET away). The
        # phone number is the one the clerk just typed: showing it back is not a view to audit.
        full_phone = may(request.staff_profile, Action.SEE_PHONE)  # type: ignore[attr-defined]
        row = case_list_rows([case], full_phone=full_phone)[0] | {"tracking_code": case.tracking_code}
        return mark_replayed(Response(row, status=status.HTTP_201_CREATED), registration)


class CaseDetailApi(StaffApi):
    @extend_schema(responses=CaseDetailOutput)
    def get(self, request: Request, case_id: str) -> Response:
        case = selectors.case_get_for_actor(actor=_actor(request), case_id=case_id)
        return Response(CaseDetailOutput(case, context={"request": request}).data)


class _VersionInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


class CaseTransitionApi(StaffApi):
    """Base of the transition endpoints: load the case for the actor (404), validate, call, render."""

    InputSerializer: type[serializers.Serializer] = _VersionInput

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Each step documents its own request body in the OpenAPI schema.
        super().__init_subclass__(**kwargs)

        def post(self: CaseTransitionApi, request: Request, case_id: str) -> Response:
            return self.transition(request, case_id)

        setattr(cls, "post", extend_schema(request=cls.InputSerializer, responses=CaseDetailOutput)(post))  # noqa: B010

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        raise NotImplementedError

    def transition(self, request: Request, case_id: str) -> Response:
        case = selectors.case_get_for_actor(actor=_actor(request), case_id=case_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = self.perform(request, case, dict(data.validated_data))
        return _case_response(request, case)


class _NoteInput(_VersionInput):
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)


class _ReasonInput(_VersionInput):
    reason = serializers.CharField(max_length=2000)


class _AssignInput(_VersionInput):
    lead_department = serializers.CharField()
    co_departments = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    instructions = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)


class CaseAcceptApi(CaseTransitionApi):
    InputSerializer = _NoteInput

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_accept(actor=_actor(request), case_id=case.pk, **data)


class CaseNotAcceptApi(CaseTransitionApi):
    InputSerializer = _ReasonInput

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_not_accept(actor=_actor(request), case_id=case.pk, **data)


class CaseClassifyApi(CaseTransitionApi):
    class InputSerializer(_VersionInput):
        kind = serializers.CharField(required=False, default="", allow_blank=True)
        category = serializers.CharField(required=False, default="", allow_blank=True)
        cause = serializers.CharField(required=False, default="", allow_blank=True)

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_classify(
            actor=_actor(request),
            case_id=case.pk,
            version=data["version"],
            kind_code=data["kind"],
            category_code=data["category"],
            cause_code=data["cause"],
        )


class CaseAssignApi(CaseTransitionApi):
    InputSerializer = _AssignInput

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_assign(
            actor=_actor(request),
            case_id=case.pk,
            version=data["version"],
            lead_department_code=data["lead_department"],
            co_department_codes=data["co_departments"],
            instructions=data["instructions"],
        )


class CaseCoHandlersAddApi(CaseTransitionApi):
    class InputSerializer(_VersionInput):
        co_departments = serializers.ListField(child=serializers.CharField(), allow_empty=False)
        instructions = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_co_handlers_add(
            actor=_actor(request), case_id=case.pk, version=data["version"],
            department_codes=data["co_departments"], instructions=data["instructions"],
        )  # fmt: skip


class CaseAcceptAndAssignApi(CaseAssignApi):
    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_accept_and_assign(
            actor=_actor(request),
            case_id=case.pk,
            version=data["version"],
            lead_department_code=data["lead_department"],
            co_department_codes=data["co_departments"],
            instructions=data["instructions"],
        )


class CaseRequestMaterialsApi(CaseTransitionApi):
    class InputSerializer(_VersionInput):
        note = serializers.CharField(max_length=2000)

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_request_materials(actor=_actor(request), case_id=case.pk, **data)


class CaseMaterialsReceivedApi(CaseTransitionApi):
    InputSerializer = _NoteInput

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_materials_received(actor=_actor(request), case_id=case.pk, **data)


class CaseEscalateApi(CaseTransitionApi):
    class InputSerializer(_ReasonInput):
        level = serializers.CharField(max_length=64)

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_escalate(actor=_actor(request), case_id=case.pk, **data)


class CaseEscalationAnswerApi(CaseTransitionApi):
    class InputSerializer(_VersionInput):
        answer = serializers.CharField(max_length=5000)

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_escalation_answer(actor=_actor(request), case_id=case.pk, **data)


class CaseReplyApi(CaseTransitionApi):
    class InputSerializer(_VersionInput):
        method = serializers.ChoiceField(choices=ReplyMethod.choices)
        content = serializers.CharField(max_length=5000)

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_reply(actor=_actor(request), case_id=case.pk, **data)


class CaseFollowUpApi(CaseTransitionApi):
    class InputSerializer(_VersionInput):
        outcome = serializers.ChoiceField(choices=FollowUpOutcome.choices)
        note = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)
        rating_level = serializers.ChoiceField(
            choices=RatingLevel.choices, required=False, allow_null=True, default=None
        )
        rating_comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_follow_up(actor=_actor(request), case_id=case.pk, **data)


class CaseArchiveApi(CaseTransitionApi):
    InputSerializer = _NoteInput

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_archive(actor=_actor(request), case_id=case.pk, **data)


class CaseWithdrawApi(CaseTransitionApi):
    InputSerializer = _ReasonInput

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_withdraw(actor=_actor(request), case_id=case.pk, **data)


class CaseAttachmentAddApi(StaffApi):
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=False)

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={201: CaseDetailOutput})
    def post(self, request: Request, case_id: str) -> Response:
        case = selectors.case_get_for_actor(actor=_actor(request), case_id=case_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.attachment_add(actor=_actor(request), case_id=case.pk, upload=data.validated_data["file"])
        return _case_response(request, case, status.HTTP_201_CREATED)


class CaseAttachmentDownloadApi(StaffApi):
    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, case_id: str, attachment_id: str) -> FileResponse:
        attachment = selectors.attachment_get_for_actor(
            actor=_actor(request), case_id=case_id, attachment_id=attachment_id
        )
        return FileResponse(
            attachment.file.open("rb"),
            as_attachment=True,
            filename=attachment.original_name,
            content_type=attachment.content_type,
        )


class CaseExtensionRequestApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        working_days = serializers.IntegerField(min_value=1, max_value=services.EXTENSION_MAX_DAYS)
        reason = serializers.CharField(max_length=2000)

    @extend_schema(request=InputSerializer, responses={201: CaseDetailOutput})
    def post(self, request: Request, case_id: str) -> Response:
        case = selectors.case_get_for_actor(actor=_actor(request), case_id=case_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.extension_request(actor=_actor(request), case_id=case.pk, **data.validated_data)
        return _case_response(request, case, status.HTTP_201_CREATED)


class ExtensionDecideApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        approve = serializers.BooleanField()
        note = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)

    @extend_schema(request=InputSerializer, responses=CaseDetailOutput)
    def post(self, request: Request, extension_id: str) -> Response:
        extension = selectors.extension_get_for_actor(actor=_actor(request), extension_id=extension_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.extension_decide(actor=_actor(request), request_id=extension.pk, **data.validated_data)
        return _case_response(request, extension.case)


# -- assignments ------------------------------------------------------------------------------


class AssignmentQueueApi(StaffApi):
    class FilterSerializer(serializers.Serializer):
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)
        offset = serializers.IntegerField(required=False, min_value=0, max_value=MAX_OFFSET, default=0)

    @extend_schema(parameters=[FilterSerializer], responses=AssignmentOutput(many=True))
    def get(self, request: Request) -> Response:
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        limit, offset = params.validated_data["limit"], params.validated_data["offset"]
        queue = selectors.assignment_queue_for_actor(actor=_actor(request)).values(*ASSIGNMENT_COLUMNS)
        assignments = list(queue[offset : offset + limit + 1])
        return Response(
            {
                "results": assignment_value_rows(assignments[:limit]),
                "has_more": len(assignments) > limit,
                "limit": limit,
                "offset": offset,
            }
        )


class _AssignmentFinishApi(StaffApi):
    field_name = "result"

    def finish(self, request: Request, assignment: Assignment, text: str) -> Assignment:
        raise NotImplementedError

    def post(self, request: Request, assignment_id: str) -> Response:
        assignment = selectors.assignment_get_for_actor(actor=_actor(request), assignment_id=assignment_id)
        data = self.InputSerializer(data=request.data)  # type: ignore[attr-defined]
        data.is_valid(raise_exception=True)
        assignment = self.finish(request, assignment, data.validated_data[self.field_name])
        return Response(AssignmentOutput(assignment).data)


class AssignmentCompleteApi(_AssignmentFinishApi):
    class InputSerializer(serializers.Serializer):
        result = serializers.CharField(max_length=5000)

    @extend_schema(request=InputSerializer, responses=AssignmentOutput)
    def post(self, request: Request, assignment_id: str) -> Response:
        return super().post(request, assignment_id)

    def finish(self, request: Request, assignment: Assignment, text: str) -> Assignment:
        return services.assignment_complete(actor=_actor(request), assignment_id=assignment.pk, result=text)


class AssignmentReturnApi(_AssignmentFinishApi):
    field_name = "reason"

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000)

    @extend_schema(request=InputSerializer, responses=AssignmentOutput)
    def post(self, request: Request, assignment_id: str) -> Response:
        return super().post(request, assignment_id)

    def finish(self, request: Request, assignment: Assignment, text: str) -> Assignment:
        return services.assignment_return(actor=_actor(request), assignment_id=assignment.pk, reason=text)


# -- rectification ledger ---------------------------------------------------------------------


class FindingOutput(serializers.Serializer):
    class ActionOutput(serializers.Serializer):
        description = serializers.CharField()
        at = serializers.DateTimeField()

    class LookBackOutput(serializers.Serializer):
        held = serializers.BooleanField()
        note = serializers.CharField()
        at = serializers.DateTimeField()

    id = serializers.UUIDField()
    title = serializers.CharField()
    cause = _Ref()
    department = _Ref()
    required_change = serializers.CharField()
    due_date = serializers.DateField()
    status = serializers.CharField()
    overdue = serializers.BooleanField()
    case_numbers = serializers.SerializerMethodField()
    actions = ActionOutput(many=True)
    look_backs = LookBackOutput(many=True)
    version = serializers.IntegerField()

    def get_case_numbers(self, finding: Finding) -> list[str]:
        return sorted(case.number for case in finding.cases.all())


def _finding_response(request: Request, finding: Finding, code: int = status.HTTP_200_OK) -> Response:
    fresh = selectors.finding_get_for_actor(actor=_actor(request), finding_id=finding.pk)
    return Response(FindingOutput(fresh).data, status=code)


class FindingListApi(StaffApi):
    @extend_schema(responses=FindingOutput(many=True))
    def get(self, request: Request) -> Response:
        findings = selectors.finding_list_for_actor(actor=_actor(request))
        return Response({"results": FindingOutput(findings[:200], many=True).data})


class FindingRaiseApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=200)
        cause = serializers.CharField()
        department = serializers.CharField()
        required_change = serializers.CharField(max_length=5000)
        due_date = serializers.DateField()
        case_ids = serializers.ListField(child=serializers.UUIDField(), min_length=1)

    @extend_schema(request=InputSerializer, responses={201: FindingOutput})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        finding = services.finding_raise(
            actor=_actor(request),
            title=values["title"],
            cause_code=values["cause"],
            department_code=values["department"],
            required_change=values["required_change"],
            due_date=values["due_date"],
            case_ids=values["case_ids"],
        )
        return _finding_response(request, finding, status.HTTP_201_CREATED)


class FindingDetailApi(StaffApi):
    @extend_schema(responses=FindingOutput)
    def get(self, request: Request, finding_id: str) -> Response:
        finding = selectors.finding_get_for_actor(actor=_actor(request), finding_id=finding_id)
        return Response(FindingOutput(finding).data)


class FindingActionAddApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        description = serializers.CharField(max_length=5000)
        rectified = serializers.BooleanField(required=False, default=False)

    @extend_schema(request=InputSerializer, responses=FindingOutput)
    def post(self, request: Request, finding_id: str) -> Response:
        finding = selectors.finding_get_for_actor(actor=_actor(request), finding_id=finding_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        finding = services.finding_action_add(actor=_actor(request), finding_id=finding.pk, **data.validated_data)
        return _finding_response(request, finding)


class FindingLookBackApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        held = serializers.BooleanField()
        note = serializers.CharField(required=False, default="", allow_blank=True, max_length=5000)

    @extend_schema(request=InputSerializer, responses=FindingOutput)
    def post(self, request: Request, finding_id: str) -> Response:
        finding = selectors.finding_get_for_actor(actor=_actor(request), finding_id=finding_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        finding = services.finding_look_back(actor=_actor(request), finding_id=finding.pk, **data.validated_data)
        return _finding_response(request, finding)


# -- staff (county admin) ---------------------------------------------------------------------


class StaffOutput(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField(source="user.username")
    name = serializers.CharField(source="user.name")
    role = serializers.CharField()
    department = _Ref(allow_null=True)
    is_active = serializers.BooleanField(source="user.is_active")
    last_login = serializers.DateTimeField(source="user.last_login", allow_null=True)


class StaffEnrollmentOutput(StaffOutput):
    # Shown once, to the admin who created or promoted the account: handed over apart from the password.
    enrollment_code = serializers.CharField(
        source="user.enrollment_code",
        help_text="For an account created in, or promoted into, a role that signs in with a second factor and "
        "with no authenticator yet: the code its first authenticator needs besides the password (valid 7 days). "
        "Empty otherwise.",
    )


class StaffListApi(StaffApi):
    @extend_schema(responses=StaffOutput(many=True))
    def get(self, request: Request) -> Response:
        if not may(request.staff_profile, Action.MANAGE_STAFF):  # type: ignore[attr-defined]
            raise PermissionDeniedError(CaseworkErrorCode.PERMISSION_DENIED, gettext("Your role may not do this."))
        return Response({"results": StaffOutput(selectors.staff_list_for_actor(actor=_actor(request)), many=True).data})


class _RoleInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=StaffRole.choices)
    department = serializers.CharField(required=False, default="", allow_blank=True)


class StaffCreateApi(StaffApi):
    class InputSerializer(_RoleInput):
        username = serializers.CharField(max_length=150)
        name = serializers.CharField(max_length=64)
        password = serializers.CharField(max_length=128, write_only=True)

    @extend_schema(request=InputSerializer, responses={201: StaffEnrollmentOutput})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        profile = services.staff_create(
            actor=_actor(request), username=values["username"], name=values["name"], role=values["role"],
            password=values["password"], department_code=values["department"],
        )  # fmt: skip
        return Response(StaffEnrollmentOutput(profile).data, status=status.HTTP_201_CREATED)


class StaffRoleApi(StaffApi):
    @extend_schema(request=_RoleInput, responses=StaffEnrollmentOutput)
    def post(self, request: Request, profile_id: str) -> Response:
        profile = selectors.staff_get_for_actor(actor=_actor(request), profile_id=profile_id)
        data = _RoleInput(data=request.data)
        data.is_valid(raise_exception=True)
        profile = services.staff_role_set(
            actor=_actor(request), profile_id=profile.pk, role=data.validated_data["role"],
            department_code=data.validated_data["department"],
        )  # fmt: skip
        return Response(StaffEnrollmentOutput(profile).data)


class StaffDeactivateApi(StaffApi):
    @extend_schema(request=None, responses=StaffOutput)
    def post(self, request: Request, profile_id: str) -> Response:
        profile = selectors.staff_get_for_actor(actor=_actor(request), profile_id=profile_id)
        profile = services.staff_deactivate(actor=_actor(request), profile_id=profile.pk)
        return Response(StaffOutput(profile).data)


# -- reference lists --------------------------------------------------------------------------


class ReferenceDataApi(StaffApi):
    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        def rows(queryset: Any) -> list[dict[str, str]]:
            return [{"code": row.code, "name": row.name} for row in queryset]

        return Response(
            {
                "windows": rows(selectors.window_list()),
                "departments": rows(selectors.department_list()),
                "kinds": rows(selectors.request_kind_list()),
                "categories": rows(selectors.category_list()),
                "causes": rows(selectors.cause_list()),
            }
        )


# -- citizens ---------------------------------------------------------------------------------


class CitizenThrottle(AddressRateThrottle):
    scope = "citizen"


class CitizenApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [CitizenThrottle]


class HandledByOutput(serializers.Serializer):
    county = serializers.CharField()
    number = serializers.CharField()
    status_display = serializers.CharField()
    # The code that finds the case there: the citizen's own, or a new one if it was taken there.
    tracking_code = serializers.CharField()
    # Empty once that county has left the platform.
    track_host = serializers.CharField()


class CitizenCaseOutput(serializers.Serializer):
    class EventOutput(serializers.Serializer):
        at = serializers.DateTimeField()
        to_status = serializers.CharField()

    class ReplyOutput(serializers.Serializer):
        content = serializers.CharField()
        replied_at = serializers.DateTimeField()

    number = serializers.CharField()
    tracking_code = serializers.CharField()
    matter = serializers.CharField()
    status = serializers.CharField()
    status_display = serializers.CharField(source="get_status_display")
    registered_at = serializers.DateTimeField()
    events = EventOutput(many=True)
    replies = ReplyOutput(many=True)
    handled_by = serializers.SerializerMethodField()

    @extend_schema_field(HandledByOutput(many=True))
    def get_handled_by(self, case: Case) -> list[dict[str, str]]:
        """跨域通办: the county that took the case over, and the tracking code that works there."""
        return forwards_handled_elsewhere(case=case)


class CitizenSubmitApi(CitizenApi):
    InputSerializer = CitizenIntakeInput

    @extend_schema(
        request=CitizenIntakeInput, responses={201: CitizenCaseOutput}, parameters=[IDEMPOTENCY_KEY_PARAMETER]
    )
    def post(self, request: Request) -> Response:
        data = CitizenIntakeInput(data=request.data)
        data.is_valid(raise_exception=True)
        registration = services.case_register_once(
            idempotency_key=idempotency_key_of(request), actor=None, intake=_intake(data.validated_data, Channel.ONLINE)
        )
        response = Response(CitizenCaseOutput(registration.case).data, status=status.HTTP_201_CREATED)
        return mark_replayed(response, registration)


class _TrackInput(serializers.Serializer):
    tracking_code = serializers.CharField(max_length=16)
    phone_last4 = serializers.RegexField(r"^[0-9]{4}$")


class CitizenTrackApi(CitizenApi):
    @extend_schema(request=_TrackInput, responses=CitizenCaseOutput)
    def post(self, request: Request) -> Response:
        data = _TrackInput(data=request.data)
        data.is_valid(raise_exception=True)
        case = services.case_lookup_by_citizen(**data.validated_data)
        return Response(CitizenCaseOutput(case).data)


class CitizenRateApi(CitizenApi):
    class InputSerializer(_TrackInput):
        level = serializers.ChoiceField(choices=RatingLevel.choices)
        comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)

    @extend_schema(request=InputSerializer, responses=CitizenCaseOutput)
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        case = services.case_lookup_by_citizen(tracking_code=values["tracking_code"], phone_last4=values["phone_last4"])
        case = services.case_rate_by_citizen(case_id=case.pk, level=values["level"], comment=values["comment"])
        case = selectors.case_lookup_by_tracking(
            tracking_code=values["tracking_code"], phone_last4=values["phone_last4"]
        )
        return Response(CitizenCaseOutput(case).data)
