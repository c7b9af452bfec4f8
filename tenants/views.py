"""The provincial console's pages (public schema, served at the console host).

Operators (staff accounts of the public schema) manage counties here. Pages show the registry,
statuses and headline figures only; a county's personal data appears only through a break-glass
grant, and every such view is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_tenants.utils import tenant_context

from banchengshi.accounts.services import enrollment_code_notice
from banchengshi.audit.services import audit_record
from banchengshi.errors import ApplicationError, form_errors_add
from casework.models import Case
from sla.national.selectors import calendar_status
from tenants import forms
from tenants.config import county_config_parse
from tenants.models import BatchStatus, County, CountyStatus
from tenants.selectors import (
    batch_get_for_operator,
    break_glass_active,
    config_diff,
    county_config_current,
    county_config_versions,
    county_get_for_operator,
    county_list,
    county_overview,
    county_registry_row,
    is_operator,
    is_security_admin,
)
from tenants.services import (
    break_glass_grant,
    break_glass_revoke,
    county_admin_create,
    county_batch_create,
    county_config_change,
    county_config_rollback,
    county_onboard_by_operator,
    county_removal_request,
    county_remove,
    county_resume,
    county_suspend,
    operator_create,
    operator_deactivate,
    operator_require,
)
from tenants.tasks import county_batch_run_task
from tenants.transfer import county_export

PER_PAGE = 100
View = Callable[..., HttpResponseBase]


def _console_role_only(allowed: Callable[[Any], bool]) -> Callable[[View], View]:
    """Console pages of one platform role (ADR 19): sign in first; any other account gets 404."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not allowed(request.user):
                raise Http404
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


operator_only = _console_role_only(is_operator)
security_admin_only = _console_role_only(is_security_admin)


def _error(request: HttpRequest, exc: ApplicationError) -> None:
    messages.error(request, exc.message)
    for detail in exc.details or []:
        if isinstance(detail, dict):
            messages.error(request, f"{detail.get('field', '')}: {detail.get('message', '')}")


def _county_url(request: HttpRequest, domain: str) -> str:
    port = request.get_port()
    suffix = "" if port in {"80", "443"} else f":{port}"
    return f"{request.scheme}://{domain}{suffix}/" if domain else ""


def console_home(request: HttpRequest) -> HttpResponse:
    counties = county_list()
    status = request.GET.get("status", "")
    if status in CountyStatus.values:
        counties = counties.filter(status=status)
    page = Paginator(counties, PER_PAGE).get_page(request.GET.get("page"))
    operator = is_operator(request.user)
    # Staff and case figures are for operators; anyone else sees the registry only.
    overview = (
        county_overview(counties=list(page.object_list))
        if operator
        else [county_registry_row(county=county) for county in page.object_list]
    )
    rows = [{"row": row, "county": row.county, "url": _county_url(request, row.domain)} for row in overview]
    return render(
        request,
        "tenants/console_home.html",
        {
            "counties": rows,
            "page": page,
            "status": status,
            "statuses": CountyStatus.choices,
            "calendar": calendar_status(today=timezone.localdate()),
            "operator": operator,
        },
    )


@operator_only
def county_new(request: HttpRequest) -> HttpResponse:
    form = forms.OnboardForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            config = county_config_parse(form.cleaned_data["text"], source=form.cleaned_data["source"])
            result = county_onboard_by_operator(actor=request.user, config=config)
        except ApplicationError as exc:
            _error(request, exc)
        else:
            messages.success(request, _("%(county)s is onboarded.") % {"county": result.county.full_name})
            return redirect("console-county", code=result.county.code)
    return render(request, "tenants/county_new.html", {"form": form})


@operator_only
def county_detail(request: HttpRequest, code: str) -> HttpResponse:
    return _county_page(request, county_get_for_operator(actor=request.user, code=code))


def _county_page(
    request: HttpRequest,
    county: County,
    *,
    admin_form: forms.CountyAdminForm | None = None,
    break_glass_form: forms.BreakGlassForm | None = None,
) -> HttpResponse:
    """The county's page; a form sent back with its errors is shown in its place, as it was typed."""
    rows = county_overview(counties=[county])
    return render(
        request,
        "tenants/county_detail.html",
        {
            "county": county,
            "row": rows[0],
            "url": _county_url(request, rows[0].domain),
            "versions": county_config_versions(county=county)[:20],
            "grant": break_glass_active(actor=request.user, county=county),
            "suspend_form": forms.SuspendForm(),
            "admin_form": admin_form or forms.CountyAdminForm(),
            "break_glass_form": break_glass_form or forms.BreakGlassForm(),
            "removable": county.removal_hold_until is not None and county.removal_hold_until <= timezone.now(),
        },
    )


@operator_only
@require_POST
def county_action(request: HttpRequest, code: str, action: str) -> HttpResponse:
    county = county_get_for_operator(actor=request.user, code=code)
    try:
        if action == "suspend":
            form = forms.SuspendForm(request.POST)
            if not form.is_valid():
                messages.error(request, _("Give a reason."))
                return redirect("console-county", code=code)
            county_suspend(actor=request.user, county=county, reason=form.cleaned_data["reason"])
            messages.success(request, _("The county is suspended; its data is kept."))
        elif action == "resume":
            county_resume(actor=request.user, county=county)
            messages.success(request, _("The county is in service again."))
        elif action == "request-removal":
            county = county_removal_request(actor=request.user, county=county)
            messages.success(request, _("Removal requested; the county is suspended until its retention hold ends."))
        elif action == "remove":
            county_remove(actor=request.user, county=county)
            messages.success(request, _("%(county)s was removed.") % {"county": county.full_name})
            return redirect("home")
        else:
            raise Http404
    except ApplicationError as exc:
        _error(request, exc)
    return redirect("console-county", code=code)


@operator_only
def county_config(request: HttpRequest, code: str) -> HttpResponse:
    """Edit → preview the difference → apply: a configuration change is a new version."""
    county = county_get_for_operator(actor=request.user, code=code)
    current = county_config_current(county=county)
    current_text = current.yaml_text if current else ""
    form = forms.ConfigForm(request.POST or None, initial={"yaml_text": current_text})
    diff: list[str] = []
    if request.method == "POST" and form.is_valid():
        text = form.cleaned_data["yaml_text"].replace("\r\n", "\n")
        diff = config_diff(
            current_text,
            text,
            old_label=_("version %(number)s") % {"number": current.number if current else 0},
            new_label=_("new"),
        )
        if "apply" in request.POST:
            try:
                county_config_change(actor=request.user, county=county, yaml_text=text, note=form.cleaned_data["note"])
            except ApplicationError as exc:
                _error(request, exc)
            else:
                messages.success(request, _("The configuration was applied as a new version."))
                return redirect("console-county", code=code)
        elif not diff:
            messages.info(request, _("No difference from the configuration in force."))
    return render(
        request, "tenants/county_config.html", {"county": county, "form": form, "diff": diff, "current": current}
    )


@operator_only
def county_config_version(request: HttpRequest, code: str, number: int) -> HttpResponse:
    county = county_get_for_operator(actor=request.user, code=code)
    version = county_config_versions(county=county).filter(number=number).first()
    current = county_config_current(county=county)
    if version is None or current is None:
        raise Http404
    if request.method == "POST":
        try:
            county_config_rollback(actor=request.user, county=county, number=number)
        except ApplicationError as exc:
            _error(request, exc)
        else:
            messages.success(request, _("Rolled back to version %(number)d.") % {"number": number})
            return redirect("console-county", code=code)
    diff = config_diff(
        current.yaml_text,
        version.yaml_text,
        old_label=_("version %(number)s") % {"number": current.number},
        new_label=_("version %(number)s") % {"number": version.number},
    )
    return render(
        request,
        "tenants/county_config_version.html",
        {"county": county, "version": version, "current": current, "diff": diff},
    )


@operator_only
@require_POST
def county_export_download(request: HttpRequest, code: str) -> HttpResponseBase:
    county = county_get_for_operator(actor=request.user, code=code)
    # The archive holds every citizen's data and the county's accounts: the same reasoned,
    # time-limited, audited access as reading one case on the support page.
    if break_glass_active(actor=request.user, county=county) is None:
        messages.error(
            request, _("An export hands over the county's personal data: open a reasoned, time-limited access first.")
        )
        return redirect("console-county", code=code)
    folder = Path(settings.PROJECT_ROOT) / "var" / "exports"
    result = county_export(county=county, destination=folder / f"{county.code}-{timezone.now():%Y%m%d%H%M%S}.tar.gz")
    audit_record(
        action="tenants.county_exported", actor=request.user, object_type="tenants.county", object_id=county.code
    )
    # Sent, not kept: no copy of a county's personal data is left lying on the web server's disk
    # (the open handle still reads the file after its name is gone).
    handle = result.path.open("rb")
    result.path.unlink()
    return FileResponse(handle, as_attachment=True, filename=result.path.name)


@operator_only
@require_POST
def county_admin(request: HttpRequest, code: str) -> HttpResponse:
    county = county_get_for_operator(actor=request.user, code=code)
    form = forms.CountyAdminForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please complete the form."))
        return _county_page(request, county, admin_form=form)
    try:
        enrollment_code = county_admin_create(actor=request.user, county=county, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        form_errors_add(form, exc)
        return _county_page(request, county, admin_form=form)
    messages.success(request, _("The county administrator account was created."))
    if enrollment_code:
        messages.warning(request, enrollment_code_notice(enrollment_code))
    return redirect("console-county", code=code)


@operator_only
@require_POST
def county_break_glass(request: HttpRequest, code: str) -> HttpResponse:
    county = county_get_for_operator(actor=request.user, code=code)
    if "revoke" in request.POST:
        grant = break_glass_active(actor=request.user, county=county)
        if grant is not None:
            break_glass_revoke(actor=request.user, grant=grant)
            messages.success(request, _("Access to personal data was ended."))
        return redirect("console-county", code=code)
    form = forms.BreakGlassForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please complete the form."))
        return _county_page(request, county, break_glass_form=form)
    try:
        break_glass_grant(actor=request.user, county=county, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        form_errors_add(form, exc)
        return _county_page(request, county, break_glass_form=form)
    return redirect("console-county-support", code=code)


@operator_only
def county_support(request: HttpRequest, code: str) -> HttpResponse:
    """A county's recent cases with the citizens' names and phones: only under a break-glass grant."""
    county = county_get_for_operator(actor=request.user, code=code)
    grant = break_glass_active(actor=request.user, county=county)
    if grant is None:
        raise Http404
    with transaction.atomic():
        audit_record(
            action="tenants.personal_data_viewed",
            actor=request.user,
            object_type="tenants.county",
            object_id=county.code,
            details={"grant": grant.pk},
        )
    with tenant_context(county):
        cases = list(
            Case.objects.order_by("-registered_at").values(
                "number", "matter", "citizen_name", "citizen_phone", "status"
            )[:50]
        )
    return render(request, "tenants/county_support.html", {"county": county, "grant": grant, "cases": cases})


@operator_only
def batch_new(request: HttpRequest) -> HttpResponse:
    form = forms.BatchForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            operator_require(request.user)
            batch = county_batch_create(
                csv_text=form.cleaned_data["csv_file"].read().decode("utf-8", errors="replace"),
                template_yaml=form.cleaned_data["template_file"].read().decode("utf-8", errors="replace"),
                source_name=form.cleaned_data["csv_file"].name,
                actor_name=request.user.get_username(),
            )
        except ApplicationError as exc:
            _error(request, exc)
        else:
            transaction.on_commit(lambda: county_batch_run_task.delay(batch.pk))
            return redirect("console-batch", batch_id=batch.pk)
    return render(request, "tenants/batch_new.html", {"form": form})


@operator_only
def batch_detail(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = batch_get_for_operator(actor=request.user, batch_id=batch_id)
    percent = 100 * batch.done // batch.total if batch.total else 100
    return render(
        request,
        "tenants/batch_detail.html",
        {"batch": batch, "percent": percent, "running": batch.status != BatchStatus.FINISHED},
    )


@operator_only
def batch_progress_api(request: HttpRequest, batch_id: int) -> JsonResponse:
    batch = batch_get_for_operator(actor=request.user, batch_id=batch_id)
    return JsonResponse(
        {
            "id": batch.pk,
            "status": batch.status,
            "total": batch.total,
            "done": batch.done,
            "failed": batch.failed,
            "errors": batch.errors[-50:],
        }
    )


@operator_only
def counties_api(request: HttpRequest) -> JsonResponse:
    page = Paginator(county_list(), PER_PAGE).get_page(request.GET.get("page"))
    return JsonResponse(
        {
            "count": page.paginator.count,
            "page": page.number,
            "results": [
                {
                    "code": row.county.code,
                    "name": row.county.full_name,
                    "status": row.county.status,
                    "domain": row.domain,
                    "staff": row.staff,
                    "open_cases": row.open_cases,
                    "overdue_cases": row.overdue_cases,
                    "schema_version": row.county.schema_digest[:12],
                }
                for row in county_overview(counties=list(page.object_list))
            ],
        }
    )


@security_admin_only
def operators(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth import get_user_model

    if request.method == "POST" and "deactivate" in request.POST:
        try:
            operator_deactivate(actor=request.user, user_id=int(request.POST["deactivate"]))
        except (ApplicationError, ValueError):
            messages.error(request, _("This account cannot be closed here."))
        else:
            messages.success(request, _("The operator account was closed."))
        return redirect("console-operators")
    form = forms.OperatorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = operator_create(actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            _error(request, exc)
        else:
            messages.success(request, _("The operator account was created."))
            if created.enrollment_code:
                messages.warning(request, enrollment_code_notice(created.enrollment_code))
            return redirect("console-operators")
    people = get_user_model().objects.filter(is_staff=True).order_by("username")
    return render(request, "tenants/operators.html", {"form": form, "people": people})
