"""The reporting API: county figures (``/api/v1/reports/`` on a county's host) and province-wide
figures for provincial operators (``/api/v1/province/`` on the console host). One view per operation.

Figures are read by leaders, supervisors, auditors and the county admin; clerks and department
handlers get 403. Stored reports are loaded through ``report_get_for_actor`` (404 alike for
another county's ids and for what the actor may not read).
"""

from __future__ import annotations

import datetime
from typing import Any, cast

from django.http import FileResponse, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from banchengshi.accounts.models import User
from casework.apis import IsCountyStaff
from reporting import selectors, services
from reporting.errors import NotFoundError, NotReadyError, ReportingErrorCode
from reporting.models import QuarterlyReport
from reporting.policy import may_read
from reporting.province import province_figures
from reporting.selectors import DIMENSIONS, FILTERS, Scope
from sla.national.apis import IsOperator

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class IsReportReader(IsCountyStaff):
    message = _("Only leaders, supervisors and auditors read the figures.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        return super().has_permission(request, view) and may_read(request.staff_profile)  # type: ignore[attr-defined]


def _actor(request: Request) -> User:
    return cast(User, request.user)


def current_quarter(today: datetime.date | None = None) -> tuple[int, int]:
    today = today or timezone.localdate()
    return today.year, (today.month - 1) // 3 + 1


class ScopeInput(serializers.Serializer):
    """A period (default: the current quarter) and optional filters by code."""

    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    kind = serializers.CharField(required=False, allow_blank=True, max_length=40)
    category = serializers.CharField(required=False, allow_blank=True, max_length=40)
    cause = serializers.CharField(required=False, allow_blank=True, max_length=40)
    department = serializers.CharField(required=False, allow_blank=True, max_length=40)
    window = serializers.CharField(required=False, allow_blank=True, max_length=40)
    channel = serializers.CharField(required=False, allow_blank=True, max_length=20)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        first, last = selectors.quarter_bounds(*current_quarter())
        attrs.setdefault("date_from", first)
        attrs.setdefault("date_to", last)
        problem = selectors.period_problem(attrs["date_from"], attrs["date_to"])
        if problem:
            raise serializers.ValidationError({"date_to": problem})
        return attrs


def scope_from(request: Request) -> Scope:
    data = ScopeInput(data=request.query_params)
    data.is_valid(raise_exception=True)
    values = data.validated_data
    return Scope(values["date_from"], values["date_to"], **{k: values.get(k, "") for k in FILTERS})


class FiguresOutput(serializers.Serializer):
    """Counts, rates (0–1, null when nothing to divide by) and working days, by stable key."""

    received = serializers.IntegerField()
    consultations = serializers.IntegerField()
    cases = serializers.IntegerField()
    accepted = serializers.IntegerField()
    not_accepted = serializers.IntegerField()
    withdrawn = serializers.IntegerField()
    completed = serializers.IntegerField()
    solved = serializers.IntegerField()
    on_time = serializers.IntegerField()
    late_done = serializers.IntegerField()
    late_open = serializers.IntegerField()
    late = serializers.IntegerField()
    not_yet_due = serializers.IntegerField()
    replied_ever = serializers.IntegerField()
    followed_up = serializers.IntegerField()
    reopened = serializers.IntegerField()
    reopen_total = serializers.IntegerField()
    assigned = serializers.IntegerField()
    returned = serializers.IntegerField()
    ratings = serializers.IntegerField()
    bad_ratings = serializers.IntegerField()
    bad_rectified = serializers.IntegerField()
    forwarded_in = serializers.IntegerField()
    forwarded_out = serializers.IntegerField()
    completion_rate = serializers.FloatField(allow_null=True)
    solve_rate = serializers.FloatField(allow_null=True)
    on_time_rate = serializers.FloatField(allow_null=True)
    satisfaction_rate = serializers.FloatField(allow_null=True)
    bad_rectification_rate = serializers.FloatField(allow_null=True)
    follow_up_rate = serializers.FloatField(allow_null=True)
    reopen_rate = serializers.FloatField(allow_null=True)
    return_rate = serializers.FloatField(allow_null=True)
    reply_days_avg = serializers.FloatField(allow_null=True)
    reply_days_p90 = serializers.IntegerField(allow_null=True)
    complete_days_avg = serializers.FloatField(allow_null=True)
    complete_days_p90 = serializers.IntegerField(allow_null=True)


class LedgerOutput(serializers.Serializer):
    total = serializers.IntegerField()
    open = serializers.IntegerField()
    rectified = serializers.IntegerField()
    verified = serializers.IntegerField()
    relapsed = serializers.IntegerField()
    overdue = serializers.IntegerField()
    rectification_rate = serializers.FloatField(allow_null=True)


class FiguresApi(APIView):
    permission_classes = [IsReportReader]

    class OutputSerializer(serializers.Serializer):
        date_from = serializers.DateField()
        date_to = serializers.DateField()
        figures = FiguresOutput()
        ledger = LedgerOutput()

    @extend_schema(parameters=[ScopeInput], responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        scope = scope_from(request)
        body = {
            "date_from": scope.date_from,
            "date_to": scope.date_to,
            "figures": selectors.figures(scope=scope).as_dict(),
            "ledger": selectors.ledger_status(scope=scope).as_dict(),
        }
        return Response(self.OutputSerializer(body).data)


class FiguresByApi(APIView):
    permission_classes = [IsReportReader]

    class OutputSerializer(serializers.Serializer):
        class RowOutput(serializers.Serializer):
            key = serializers.CharField()
            # DRF removes declared fields from the class, so this does not clash with Field.label at run time.
            label = serializers.CharField()  # type: ignore[assignment]
            figures = FiguresOutput()

        dimension = serializers.CharField()
        rows = RowOutput(many=True)

    @extend_schema(
        operation_id="api_v1_reports_figures_by_dimension", parameters=[ScopeInput], responses=OutputSerializer
    )
    def get(self, request: Request, dimension: str) -> Response:
        if dimension not in DIMENSIONS:
            raise NotFoundError(ReportingErrorCode.NOT_FOUND, str(_("No such breakdown.")))
        rows = selectors.figures_by(scope=scope_from(request), dimension=dimension)
        body = {
            "dimension": dimension,
            "rows": [{"key": r.key, "label": r.label, "figures": r.figures.as_dict()} for r in rows],
        }
        return Response(self.OutputSerializer(body).data)


class RankingApi(APIView):
    permission_classes = [IsReportReader]

    class OutputSerializer(serializers.Serializer):
        rank = serializers.IntegerField()
        code = serializers.CharField()
        name = serializers.CharField()
        score = serializers.FloatField()
        returns_made = serializers.IntegerField()
        points = serializers.DictField(child=serializers.FloatField())
        figures = FiguresOutput(source="figures.as_dict")

    @extend_schema(parameters=[ScopeInput], responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        ranking = selectors.department_ranking(scope=scope_from(request), rule=selectors.scoring_rule_get())
        return Response(self.OutputSerializer(ranking, many=True).data)


class ScoringRuleOutput(serializers.Serializer):
    on_time_points = serializers.DecimalField(max_digits=5, decimal_places=2)
    solved_points = serializers.DecimalField(max_digits=5, decimal_places=2)
    overdue_deduction = serializers.DecimalField(max_digits=5, decimal_places=2)
    bad_rating_deduction = serializers.DecimalField(max_digits=5, decimal_places=2)
    return_deduction = serializers.DecimalField(max_digits=5, decimal_places=2)


class ScoringRuleApi(APIView):
    permission_classes = [IsReportReader]

    @extend_schema(responses=ScoringRuleOutput)
    def get(self, request: Request) -> Response:
        return Response(ScoringRuleOutput(selectors.scoring_rule_get()).data)


class ScoringRuleSetApi(APIView):
    permission_classes = [IsCountyStaff]

    class InputSerializer(ScoringRuleOutput):
        pass

    @extend_schema(request=InputSerializer, responses=ScoringRuleOutput)
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.scoring_rule_set(actor=_actor(request), **data.validated_data)
        return Response(ScoringRuleOutput(rule).data)


class ReportOutput(serializers.Serializer):
    id = serializers.UUIDField()
    year = serializers.IntegerField()
    quarter = serializers.IntegerField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    stage = serializers.CharField()
    generation = serializers.IntegerField()
    pages = serializers.IntegerField(allow_null=True)
    as_of = serializers.DateTimeField()
    requested_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class ReportListApi(APIView):
    permission_classes = [IsReportReader]

    @extend_schema(responses=ReportOutput(many=True))
    def get(self, request: Request) -> Response:
        reports = selectors.report_list_for_actor(actor=_actor(request))
        return Response(ReportOutput(reports, many=True).data)


class ReportRequestApi(APIView):
    permission_classes = [IsCountyStaff]

    class InputSerializer(serializers.Serializer):
        year = serializers.IntegerField(min_value=2000, max_value=2100)
        quarter = serializers.IntegerField(min_value=1, max_value=4)

    @extend_schema(request=InputSerializer, responses={202: ReportOutput})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.quarterly_report_request(actor=_actor(request), **data.validated_data)
        return Response(ReportOutput(report).data, status=status.HTTP_202_ACCEPTED)


class ReportDetailApi(APIView):
    permission_classes = [IsCountyStaff]

    @extend_schema(responses=ReportOutput)
    def get(self, request: Request, report_id: str) -> Response:
        report = selectors.report_get_for_actor(actor=_actor(request), report_id=report_id)
        return Response(ReportOutput(report).data)


def report_file_response(report: QuarterlyReport) -> FileResponse:
    if not report.file:
        raise NotReadyError(ReportingErrorCode.NOT_READY, str(_("The report is not ready yet.")))
    return FileResponse(
        report.file.open("rb"),
        as_attachment=True,
        filename=f"{report.year}Q{report.quarter}-report.pdf",
        content_type="application/pdf",
    )


class ReportDownloadApi(APIView):
    permission_classes = [IsCountyStaff]

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request: Request, report_id: str) -> FileResponse:
        report = selectors.report_get_for_actor(actor=_actor(request), report_id=report_id)
        return report_file_response(report)


def xlsx_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class CasesExportApi(APIView):
    permission_classes = [IsReportReader]

    @extend_schema(parameters=[ScopeInput], responses={(200, XLSX): OpenApiTypes.BINARY})
    def get(self, request: Request) -> HttpResponse:
        scope = scope_from(request)
        data, _entry = services.cases_export(actor=_actor(request), scope=scope)
        return xlsx_response(data, f"cases-{scope.date_from}-{scope.date_to}.xlsx")


class FiguresExportApi(APIView):
    permission_classes = [IsReportReader]

    @extend_schema(parameters=[ScopeInput], responses={(200, XLSX): OpenApiTypes.BINARY})
    def get(self, request: Request) -> HttpResponse:
        scope = scope_from(request)
        data, _entry = services.figures_export(actor=_actor(request), scope=scope)
        return xlsx_response(data, f"figures-{scope.date_from}-{scope.date_to}.xlsx")


# -- province-wide (console host) -----------------------------------------------------------------


class ProvinceFiguresApi(APIView):
    permission_classes: list[type[BasePermission]] = [IsOperator]

    class OutputSerializer(serializers.Serializer):
        class CountyOutput(serializers.Serializer):
            rank = serializers.IntegerField()
            code = serializers.CharField()
            name = serializers.CharField()
            province = serializers.CharField()
            city = serializers.CharField()
            figures = FiguresOutput(source="figures.as_dict")

        date_from = serializers.DateField()
        date_to = serializers.DateField()
        total = FiguresOutput(source="total.as_dict")
        counties = CountyOutput(many=True)

    @extend_schema(parameters=[ScopeInput], responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        scope = scope_from(request)
        result = province_figures(scope=Scope(scope.date_from, scope.date_to))
        body = {
            "date_from": scope.date_from,
            "date_to": scope.date_to,
            "total": result.total,
            "counties": result.counties,
        }
        return Response(self.OutputSerializer(body).data)


class ProvinceReportOutput(serializers.Serializer):
    status = serializers.CharField()
    progress = serializers.IntegerField()


class ProvinceReportRequestApi(APIView):
    permission_classes: list[type[BasePermission]] = [IsOperator]

    @extend_schema(request=ReportRequestApi.InputSerializer, responses={202: ProvinceReportOutput})
    def post(self, request: Request) -> Response:
        data = ReportRequestApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        state = services.province_report_request(actor=_actor(request), **data.validated_data)
        return Response(ProvinceReportOutput(state).data, status=status.HTTP_202_ACCEPTED)


class ProvinceReportStatusApi(APIView):
    permission_classes: list[type[BasePermission]] = [IsOperator]

    @extend_schema(responses=ProvinceReportOutput)
    def get(self, request: Request, year: int, quarter: int) -> Response:
        return Response(ProvinceReportOutput(services.province_report_state(year=year, quarter=quarter)).data)


class ProvinceReportDownloadApi(APIView):
    permission_classes: list[type[BasePermission]] = [IsOperator]

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request: Request, year: int, quarter: int) -> FileResponse:
        handle = services.province_report_file(year=year, quarter=quarter)
        return FileResponse(handle, as_attachment=True, filename=f"{year}Q{quarter}-province.pdf")
