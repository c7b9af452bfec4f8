"""The auditors' page: search the trail of this schema, export what was found as CSV (the API)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from banchengshi.audit import selectors
from banchengshi.audit.forms import AuditFilterForm
from banchengshi.audit.policy import may_read_audit

PAGE_ROWS = 200


@login_required
def audit_page(request: HttpRequest) -> HttpResponse:
    if not may_read_audit(request.user):
        raise PermissionDenied(_("Only auditors may read the audit trail."))
    form = AuditFilterForm(request.GET or None)
    values = form.cleaned_data if form.is_bound and form.is_valid() else {}
    filters = selectors.AuditFilters(**{key: value for key, value in values.items() if value})
    records = list(selectors.audit_search_for_actor(actor=request.user, filters=filters)[:PAGE_ROWS])
    query = urlencode({key: request.GET[key] for key in form.fields if request.GET.get(key)})
    export_url = reverse("audit-api:record-export") + (f"?{query}" if query else "")
    return render(
        request,
        "audit/records.html",
        {"form": form, "records": records, "export_url": export_url, "limit": PAGE_ROWS},
    )
