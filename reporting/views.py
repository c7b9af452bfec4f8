"""Reporting pages: the county dashboard (leaders, supervisors, auditors, admin) and the province
page on the console host (provincial operators). Views parse, call a selector or a service, render.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from banchengshi.accounts.models import PlatformRole, User
from banchengshi.accounts.policy import has_platform_role
from banchengshi.errors import ApplicationError
from casework.models import Channel
from casework.selectors import (
    category_list,
    cause_list,
    department_list,
    request_kind_list,
    staff_profile_of,
    window_list,
)
from reporting import charts, documents, selectors, services
from reporting.apis import current_quarter, report_file_response, xlsx_response
from reporting.models import ReportStatus
from reporting.policy import may_make_reports, may_read, may_set_rule
from reporting.province import province_figures
from reporting.selectors import FILTERS, Figures, Scope


def _choices(rows: Any) -> list[tuple[str, str]]:
    return [("", _("All")), *[(row.code, row.name) for row in rows]]


class ScopeForm(forms.Form):
    date_from = forms.DateField(label=gettext_lazy("From"), required=False)
    date_to = forms.DateField(label=gettext_lazy("To"), required=False)
    kind = forms.ChoiceField(label=gettext_lazy("Request kind"), required=False)
    category = forms.ChoiceField(label=gettext_lazy("Category"), required=False)
    cause = forms.ChoiceField(label=gettext_lazy("Cause"), required=False)
    department = forms.ChoiceField(label=gettext_lazy("Lead department"), required=False)
    window = forms.ChoiceField(label=gettext_lazy("Window"), required=False)
    channel = forms.ChoiceField(label=gettext_lazy("Channel"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields = cast(dict[str, Any], self.fields)
        fields["kind"].choices = _choices(request_kind_list())
        fields["category"].choices = _choices(category_list())
        fields["cause"].choices = _choices(cause_list())
        fields["department"].choices = _choices(department_list())
        fields["window"].choices = _choices(window_list())
        fields["channel"].choices = [("", _("All")), *Channel.choices]

    def clean(self) -> dict[str, Any]:
        values = super().clean() or {}
        first, last = selectors.quarter_bounds(*current_quarter())
        values["date_from"] = values.get("date_from") or first
        values["date_to"] = values.get("date_to") or last
        problem = selectors.period_problem(values["date_from"], values["date_to"])
        if problem:
            self.add_error("date_to", problem)
        return values

    def scope(self) -> Scope:
        """The chosen period and filters; the current quarter, unfiltered, only when nothing was chosen.

        A form with errors never falls back to a wider scope: the caller shows the errors (the
        page) or refuses (an export), so no one reads or downloads more than they asked for.
        """
        if self.is_bound and not self.is_valid():
            raise ValueError("the scope form has errors")
        values = self.cleaned_data if self.is_bound else {}
        first, last = selectors.quarter_bounds(*current_quarter())
        date_from, date_to = values.get("date_from") or first, values.get("date_to") or last
        return Scope(date_from, date_to, **{name: values.get(name) or "" for name in FILTERS})

    def problems(self) -> str:
        return " ".join(
            f"{self.fields[f].label if f in self.fields else ''}: {' '.join(str(m) for m in e)}"
            for f, e in self.errors.items()
        )


class RuleForm(forms.Form):
    on_time_points = forms.DecimalField(label=gettext_lazy("points per case completed on time"), min_value=0)
    solved_points = forms.DecimalField(label=gettext_lazy("points per case solved"), min_value=0)
    overdue_deduction = forms.DecimalField(label=gettext_lazy("deduction per late case"), min_value=0)
    bad_rating_deduction = forms.DecimalField(label=gettext_lazy("deduction per bad rating"), min_value=0)
    return_deduction = forms.DecimalField(label=gettext_lazy("deduction per return"), min_value=0)


def _reader(request: HttpRequest) -> tuple[User, Any]:
    user = cast(User, request.user)
    profile = staff_profile_of(user)
    if not may_read(profile):
        raise PermissionDenied(_("Only leaders, supervisors and auditors read the figures."))
    return user, profile


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user, profile = _reader(request)
    form = ScopeForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        messages.error(request, form.problems())  # shown; the figures are the current quarter's
        form = ScopeForm()
    scope = form.scope()
    every = selectors.breakdowns(scope=scope, dimensions=("month", "category", "department"))  # one query
    summary, categories, departments = every.total, every.by["category"], every.by["department"]
    month_keys = selectors.months_between(scope.date_from, scope.date_to)
    by_month = {row.key: row.figures for row in every.by["month"]}
    rule = selectors.scoring_rule_get()
    received, completed = str(documents.FIGURE_LABELS["received"]), str(documents.FIGURE_LABELS["completed"])
    context = {
        "county": request.tenant,  # type: ignore[attr-defined]
        "form": form,
        "scope": scope,
        "query": request.GET.urlencode(),
        "summary_rows": documents.figure_rows(summary),
        "ledger_rows": [
            {"label": str(selectors.LEDGER_LABELS[k]), "value": documents.percent(v) if k.endswith("rate") else v}
            for k, v in selectors.ledger_status(scope=scope).as_dict().items()
        ],
        "chart_trend": charts.column_chart(
            month_keys,
            [
                (received, [by_month.get(k, Figures()).received for k in month_keys]),
                (completed, [by_month.get(k, Figures()).completed for k in month_keys]),
            ],
            title=_("Cases received and completed by month"),
        ),
        "chart_category": charts.bar_chart(
            [(r.label, r.figures.received) for r in categories], title=_("Cases received by category")
        ),
        "chart_department": charts.bar_chart(
            [(r.label, r.figures.received) for r in departments[:15]], title=_("Cases by lead department")
        ),
        "breakdown_header": documents.breakdown_header(),
        "department_rows": documents.breakdown_rows(departments),
        "ranking": selectors.department_ranking(scope=scope, rule=rule, by_department=departments),
        "rule": rule,
        "rule_form": RuleForm(initial={name: getattr(rule, name) for name in services.RULE_FIELDS})
        if may_set_rule(profile)
        else None,
        "reports": selectors.report_list_for_actor(actor=user)[:12],
        "may_make_reports": may_make_reports(profile),
        "this_year": timezone.localdate().year,
    }
    return render(request, "reporting/dashboard.html", context)


@login_required
@require_POST
def scoring_rule_save(request: HttpRequest) -> HttpResponse:
    form = RuleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The scoring rule is not valid."))
        return redirect("reporting:dashboard")
    try:
        services.scoring_rule_set(actor=cast(User, request.user), **form.cleaned_data)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The scoring rule is saved."))
    return redirect("reporting:dashboard")


@login_required
@require_POST
def report_request(request: HttpRequest) -> HttpResponse:
    try:
        report = services.quarterly_report_request(
            actor=cast(User, request.user),
            year=int(request.POST.get("year", 0)),
            quarter=int(request.POST.get("quarter", 0)),
        )
    except (ApplicationError, ValueError) as error:
        messages.error(request, getattr(error, "message", _("Name a year and a quarter from 1 to 4.")))
        return redirect("reporting:dashboard")
    return redirect("reporting:report-page", report_id=report.pk)


@login_required
def report_page(request: HttpRequest, report_id: str) -> HttpResponse:
    report = _report(request, report_id)
    running = report.status in {ReportStatus.QUEUED, ReportStatus.RUNNING}
    return render(
        request,
        "reporting/report.html",
        {
            "county": request.tenant,  # type: ignore[attr-defined]
            "report": report,
            "running": running,
            "period": documents.period_label(report.year, report.quarter),
        },
    )


@login_required
def report_download(request: HttpRequest, report_id: str) -> FileResponse:
    return report_file_response(_report(request, report_id))


def _report(request: HttpRequest, report_id: str) -> Any:
    try:
        return selectors.report_get_for_actor(actor=request.user, report_id=report_id)
    except ApplicationError as error:
        raise Http404(error.message) from error


@login_required
def export_cases(request: HttpRequest) -> HttpResponse:
    _reader(request)
    form = ScopeForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponseBadRequest(form.problems(), content_type="text/plain; charset=utf-8")
    scope = form.scope()
    data, _entry = services.cases_export(actor=cast(User, request.user), scope=scope)
    return xlsx_response(data, f"cases-{scope.date_from}-{scope.date_to}.xlsx")


@login_required
def export_figures(request: HttpRequest) -> HttpResponse:
    _reader(request)
    form = ScopeForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponseBadRequest(form.problems(), content_type="text/plain; charset=utf-8")
    scope = form.scope()
    data, _entry = services.figures_export(actor=cast(User, request.user), scope=scope)
    return xlsx_response(data, f"figures-{scope.date_from}-{scope.date_to}.xlsx")


# -- province (console host) ----------------------------------------------------------------------


def _operator(request: HttpRequest) -> User:
    user = cast(User, request.user)
    if not has_platform_role(user, PlatformRole.OPERATOR):  # 三权分立: not the security or audit administrator
        raise PermissionDenied(_("Only provincial operators may do this."))
    return user


@login_required
def province_page(request: HttpRequest) -> HttpResponse:
    _operator(request)
    try:
        year = int(request.GET.get("year", ""))
        quarter = int(request.GET.get("quarter", ""))
        if not 2000 <= year <= 2100:
            raise ValueError(year)
        date_from, date_to = selectors.quarter_bounds(year, quarter)
    except (ValueError, OverflowError):
        year, quarter = current_quarter()
        date_from, date_to = selectors.quarter_bounds(year, quarter)
    result = province_figures(scope=Scope(date_from, date_to))
    context = {
        "year": year,
        "quarter": quarter,
        "period": documents.period_label(year, quarter),
        "summary_rows": documents.figure_rows(result.total),
        "breakdown_header": documents.breakdown_header(),
        "counties": [
            {"rank": r.rank, "name": r.name, "province": r.province, "cells": row["cells"]}
            for r, row in zip(
                result.counties,
                documents.breakdown_rows([selectors.Row(r.code, r.name, r.figures) for r in result.counties]),
                strict=True,
            )
        ],
        "state": services.province_report_state(year=year, quarter=quarter),
        "refreshed_from": result.refreshed_from,
        "refreshed_to": result.refreshed_to,
        "not_refreshed": result.not_refreshed,
    }
    return render(request, "reporting/province.html", context)


@login_required
@require_POST
def province_report_request(request: HttpRequest) -> HttpResponse:
    user = _operator(request)
    try:
        year, quarter = int(request.POST.get("year", 0)), int(request.POST.get("quarter", 0))
        services.province_report_request(actor=user, year=year, quarter=quarter)
    except (ApplicationError, ValueError) as error:
        messages.error(request, getattr(error, "message", _("Name a year and a quarter from 1 to 4.")))
        return redirect("reporting:province")
    messages.success(request, _("The report is being generated."))
    return redirect(f"{reverse('reporting:province')}?year={year}&quarter={quarter}")


@login_required
def province_report_download(request: HttpRequest, year: int, quarter: int) -> FileResponse:
    _operator(request)
    try:
        handle = services.province_report_file(year=year, quarter=quarter)
    except ApplicationError as error:
        raise Http404(error.message) from error
    return FileResponse(handle, as_attachment=True, filename=f"{year}Q{quarter}-province.pdf")
