"""The audit API (``/api/v1/audit/`` on a county's host and on the console): search, one record, CSV export."""

from __future__ import annotations

import csv
import datetime
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from banchengshi.audit import selectors
from banchengshi.audit.models import AuditRecord, Outcome
from banchengshi.audit.services import audit_record
from banchengshi.tenancy import current_schema


class AuditRecordOutput(serializers.Serializer):
    id = serializers.IntegerField()
    seq = serializers.IntegerField()
    at = serializers.DateTimeField()
    schema = serializers.CharField()
    actor_id = serializers.IntegerField(allow_null=True)
    actor_label = serializers.CharField()
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    source_address = serializers.CharField()
    outcome = serializers.CharField()
    details = serializers.JSONField()
    hash = serializers.CharField()


class AuditFilterInput(serializers.Serializer):
    action = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)
    actor = serializers.CharField(required=False, default="", allow_blank=True, max_length=150)
    object_type = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)
    object_id = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)
    outcome = serializers.ChoiceField(choices=[("", "")] + list(Outcome.choices), required=False, default="")
    source_address = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)
    since = serializers.DateTimeField(required=False, allow_null=True, default=None)
    until = serializers.DateTimeField(required=False, allow_null=True, default=None)


def _filters(request: Request) -> tuple[selectors.AuditFilters, dict[str, Any]]:
    params = AuditFilterInput(data=request.query_params)
    params.is_valid(raise_exception=True)
    values = dict(params.validated_data)
    return selectors.AuditFilters(**values), values


class AuditRecordListApi(APIView):
    class PageInput(AuditFilterInput):
        # offset + limit must stay a PostgreSQL bigint: a larger offset was a server error.
        limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)
        offset = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1, default=0)

    @extend_schema(parameters=[PageInput], responses=AuditRecordOutput(many=True))
    def get(self, request: Request) -> Response:
        page_params = self.PageInput(data=request.query_params)
        page_params.is_valid(raise_exception=True)
        limit, offset = page_params.validated_data["limit"], page_params.validated_data["offset"]
        filters, _values = _filters(request)
        records = selectors.audit_search_for_actor(actor=request.user, filters=filters)
        page = list(records[offset : offset + limit + 1])
        return Response(
            {
                "results": AuditRecordOutput(page[:limit], many=True).data,
                "has_more": len(page) > limit,
                "limit": limit,
                "offset": offset,
            }
        )


class AuditRecordDetailApi(APIView):
    @extend_schema(responses=AuditRecordOutput)
    def get(self, request: Request, record_id: str) -> Response:
        record = selectors.audit_get_for_actor(actor=request.user, record_id=record_id)
        return Response(AuditRecordOutput(record).data)


CSV_COLUMNS = (
    "seq", "at", "schema", "actor_id", "actor_label", "action", "object_type", "object_id",
    "source_address", "outcome", "details", "prev_hash", "hash",
)  # fmt: skip


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    elif isinstance(value, datetime.datetime):
        text = value.isoformat()
    else:
        text = "" if value is None else str(value)
    # A spreadsheet would run a cell starting with these as a formula.
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def csv_rows(records: Iterable[AuditRecord]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(CSV_COLUMNS)  # the BOM makes Excel read UTF-8
    for record in records:
        yield writer.writerow([_cell(getattr(record, column)) for column in CSV_COLUMNS])


class AuditRecordExportApi(APIView):
    @extend_schema(
        parameters=[AuditFilterInput],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, UTF-8 with BOM")},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        filters, values = _filters(request)
        records = selectors.audit_search_for_actor(actor=request.user, filters=filters)
        audit_record(
            action="audit.exported",
            actor=request.user,
            details={key: str(value) for key, value in values.items() if value},
        )
        rows = csv_rows(records.iterator(chunk_size=2000))
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="audit-{current_schema()}-{stamp}.csv"'
        return response
