"""Forwarding agreements for provincial operators (console host, public schema)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casework.exchange import selectors, services
from casework.exchange.models import ForwardAgreement
from sla.national.apis import IsOperator


class AgreementOutput(serializers.Serializer):
    id = serializers.UUIDField()
    first_code = serializers.CharField()
    second_code = serializers.CharField()
    note = serializers.CharField()
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)


def _operator(request: Request) -> str:
    user: Any = request.user
    return str(user.username)


class AgreementListApi(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses=AgreementOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(AgreementOutput(selectors.agreements_list(), many=True).data)


class AgreementCreateApi(APIView):
    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        first_code = serializers.RegexField(r"^\d{6}$")
        second_code = serializers.RegexField(r"^\d{6}$")
        note = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)

    @extend_schema(request=InputSerializer, responses={201: AgreementOutput})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agreement = services.forward_agreement_create(operator=_operator(request), **data.validated_data)
        return Response(AgreementOutput(agreement).data, status=status.HTTP_201_CREATED)


class AgreementEndApi(APIView):
    permission_classes = [IsOperator]

    @extend_schema(request=None, responses=AgreementOutput)
    def post(self, request: Request, agreement_id: str) -> Response:
        agreement: ForwardAgreement = services.forward_agreement_end(
            operator=_operator(request), agreement_id=agreement_id
        )
        return Response(AgreementOutput(agreement).data)
