"""The national calendar API for provincial operators (console host, public schema)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from banchengshi.accounts.models import PlatformRole
from banchengshi.accounts.policy import has_platform_role
from sla.national.models import CalendarYear
from sla.national.selectors import calendar_status
from sla.national.services import YearArrangement, calendar_year_load


class IsOperator(BasePermission):
    """A provincial operator: a staff account of the public schema, at the console host."""

    message = _("Only provincial operators may do this.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        # The system administrator's part only (三权分立): not the security or audit administrator's.
        return getattr(request, "tenant", None) is None and has_platform_role(request.user, PlatformRole.OPERATOR)


class CalendarStatusApi(APIView):
    permission_classes = [IsOperator]

    class OutputSerializer(serializers.Serializer):
        known_until = serializers.DateField(allow_null=True)
        days_left = serializers.IntegerField(allow_null=True)
        needs_next_year = serializers.BooleanField()
        years = serializers.ListField(child=serializers.IntegerField())

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        state = calendar_status(today=timezone.localdate())
        body = {
            "known_until": state.known_until,
            "days_left": state.days_left,
            "needs_next_year": state.needs_next_year,
            "years": list(CalendarYear.objects.values_list("year", flat=True)),
        }
        return Response(self.OutputSerializer(body).data)


class CalendarYearLoadApi(APIView):
    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        year = serializers.IntegerField(min_value=2000, max_value=2100)
        # DRF removes declared fields from the class, so this does not clash with Field.source at run time.
        source = serializers.CharField(max_length=200)  # type: ignore[assignment]
        holidays = serializers.DictField(child=serializers.CharField(max_length=64))
        makeup_workdays = serializers.DictField(
            child=serializers.CharField(max_length=64), required=False, default=dict
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            for field in ("holidays", "makeup_workdays"):
                try:
                    attrs[field] = {serializers.DateField().to_internal_value(k): v for k, v in attrs[field].items()}
                except serializers.ValidationError as exc:
                    raise serializers.ValidationError({field: exc.detail}) from exc
            return attrs

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        count = calendar_year_load(
            arrangement=YearArrangement(
                year=values["year"],
                holidays=values["holidays"],
                makeup_workdays=values["makeup_workdays"],
                source=values["source"],
            ),
            actor=request.user,
        )
        return Response({"year": values["year"], "days": count}, status=status.HTTP_201_CREATED)
