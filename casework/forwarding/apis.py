"""跨域通办 API on a county's host: forward a case, the incoming queue, take over or return."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from banchengshi.audit.services import audit_record
from casework import selectors as casework_selectors
from casework.apis import CaseTransitionApi, StaffApi, _actor
from casework.forwarding import selectors, services
from casework.forwarding.models import Forward, ForwardMode, ForwardRole, ForwardStatus
from casework.models import Case
from casework.policy import Action, mask_phone, may


class ForwardOutput(serializers.Serializer):
    id = serializers.UUIDField()
    direction = serializers.CharField()
    counterpart_code = serializers.CharField()
    counterpart_name = serializers.CharField()
    mode = serializers.CharField()
    mode_display = serializers.CharField(source="get_mode_display")
    role = serializers.CharField()
    reason = serializers.CharField()
    status = serializers.CharField()
    status_display = serializers.CharField(source="get_status_display")
    return_reason = serializers.CharField()
    remote_number = serializers.CharField()
    remote_status = serializers.CharField()
    remote_status_display = serializers.CharField()
    case_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)


class IncomingForwardOutput(ForwardOutput):
    """What the sending county passed on, and nothing else of it."""

    matter = serializers.CharField(source="payload.matter")
    description = serializers.CharField(source="payload.description")
    citizen_name = serializers.CharField(source="payload.citizen_name")
    citizen_phone = serializers.SerializerMethodField()
    attachments = serializers.SerializerMethodField()

    def get_citizen_phone(self, forward: Forward) -> str:
        # Full only for roles that call back; the view audits what it showed in full.
        profile = getattr(self.context.get("request"), "staff_profile", None)
        full = may(profile, Action.SEE_PHONE) and selectors.forward_phone_in_full(forward)
        return forward.citizen_phone if full else mask_phone(forward.citizen_phone)

    def get_attachments(self, forward: Forward) -> list[str]:
        return [str(item["name"]) for item in forward.payload.get("attachments", [])]


class ForwardTargetsApi(StaffApi):
    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        name = serializers.CharField()
        province = serializers.CharField()
        city = serializers.CharField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        counties = selectors.forward_target_counties(actor=_actor(request))
        return Response(self.OutputSerializer(counties, many=True).data)


class CaseForwardApi(CaseTransitionApi):
    class InputSerializer(serializers.Serializer):
        class TargetSerializer(serializers.Serializer):
            county_code = serializers.RegexField(r"^\d{6}$")
            role = serializers.ChoiceField(choices=ForwardRole.choices, default=ForwardRole.LEAD)

        version = serializers.IntegerField(min_value=1)
        mode = serializers.ChoiceField(choices=ForwardMode.choices)
        reason = serializers.CharField(max_length=2000)
        targets = TargetSerializer(many=True, allow_empty=False)
        attachment_ids = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        services.case_forward(
            actor=_actor(request), case_id=case.pk, version=data["version"], mode=data["mode"],
            reason=data["reason"], attachment_ids=data["attachment_ids"],
            targets=[services.ForwardTarget(county_code=t["county_code"], role=t["role"]) for t in data["targets"]],
        )  # fmt: skip
        return case


class CaseForwardsApi(StaffApi):
    @extend_schema(responses=ForwardOutput(many=True))
    def get(self, request: Request, case_id: str) -> Response:
        case = casework_selectors.case_get_for_actor(actor=_actor(request), case_id=case_id)
        return Response(ForwardOutput(selectors.forwards_of_case(case=case), many=True).data)


class IncomingForwardListApi(StaffApi):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=[("", ""), *ForwardStatus.choices], required=False, default="pending")

    @extend_schema(parameters=[FilterSerializer], responses=IncomingForwardOutput(many=True))
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = selectors.forwards_incoming(actor=_actor(request), status=filters.validated_data["status"])
        _audit_full_phones(request, rows)
        return Response(IncomingForwardOutput(rows, many=True, context={"request": request}).data)


def _audit_full_phones(request: Request, forwards: list[Forward]) -> None:
    """Every response showing a citizen's full phone number is audited (forward ids only)."""
    shown = [str(f.pk) for f in forwards if selectors.forward_phone_in_full(f) and f.citizen_phone]
    if shown and may(getattr(request, "staff_profile", None), Action.SEE_PHONE):
        audit_record(action="forward.phone_viewed", object_type="forward", details={"forward_ids": shown})


def _forward_response(request: Request, forward: Forward) -> Response:
    output = IncomingForwardOutput if forward.direction == "in" else ForwardOutput
    _audit_full_phones(request, [forward])
    return Response(output(forward, context={"request": request}).data, status=status.HTTP_200_OK)


class ForwardDetailApi(StaffApi):
    @extend_schema(responses=IncomingForwardOutput)
    def get(self, request: Request, forward_id: str) -> Response:
        return _forward_response(request, selectors.forward_get_for_actor(actor=_actor(request), forward_id=forward_id))


class ForwardAcceptApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        kind_code = serializers.CharField(max_length=40)
        category_code = serializers.CharField(max_length=40, required=False, default="")
        note = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)

    @extend_schema(request=InputSerializer, responses=IncomingForwardOutput)
    def post(self, request: Request, forward_id: str) -> Response:
        forward = selectors.forward_get_for_actor(actor=_actor(request), forward_id=forward_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        forward = services.forward_accept(actor=_actor(request), forward_id=forward.pk, **data.validated_data)
        return _forward_response(request, forward)


class ForwardReturnApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000)

    @extend_schema(request=InputSerializer, responses=IncomingForwardOutput)
    def post(self, request: Request, forward_id: str) -> Response:
        forward = selectors.forward_get_for_actor(actor=_actor(request), forward_id=forward_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        forward = services.forward_return(actor=_actor(request), forward_id=forward.pk, **data.validated_data)
        return _forward_response(request, forward)


class CaseForwardRecallApi(CaseTransitionApi):
    """Ask for a forwarded case back; it comes back if the other county has not decided yet."""

    class InputSerializer(serializers.Serializer):
        version = serializers.IntegerField(min_value=1)
        reason = serializers.CharField(max_length=2000)

    def perform(self, request: Request, case: Case, data: dict[str, Any]) -> Case:
        return services.case_forward_recall(
            actor=_actor(request), case_id=case.pk, version=data["version"], reason=data["reason"]
        )
