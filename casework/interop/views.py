"""Staff pages of the 差评 rectification loop (整改): what a bad rating started, tracked to its deadline.

The list puts overdue loops first; the detail offers the steps the loop's status allows to the
roles that may take them, and every step goes through the interop services (which check role,
version and status again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from banchengshi.accounts.models import User
from banchengshi.audit.services import audit_record
from banchengshi.errors import ApplicationError
from casework import selectors as casework_selectors
from casework.interop import selectors, services
from casework.interop.models import Rectification, RectificationStatus
from casework.models import StaffProfile
from casework.policy import Action, mask_phone, may


class StepForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    note = forms.CharField(label=gettext_lazy("Note"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


# step → (service, label); which steps each status allows (the services check it again).
STEPS: dict[str, tuple[Callable[..., Rectification], Any]] = {
    "called-back": (services.rectification_called_back, gettext_lazy("Record the call-back to the citizen")),
    "rectified": (services.rectification_mark_rectified, gettext_lazy("Mark as rectified")),
}
STEPS_BY_STATUS = {RectificationStatus.OPEN: ("called-back", "rectified")}


def _staff(request: HttpRequest) -> tuple[User, StaffProfile]:
    user = cast(User, request.user)
    profile = casework_selectors.staff_profile_of(user)
    if profile is None:
        raise PermissionDenied(_("Only county staff with a casework role may use this."))
    return user, profile


def _loop(user: User, rectification_id: UUID) -> Rectification:
    try:
        return selectors.rectification_get_for_actor(actor=user, rectification_id=rectification_id)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


@login_required
def rectification_list_page(request: HttpRequest) -> HttpResponse:
    user, _profile = _staff(request)
    running = [
        {"loop": loop, "overdue": selectors.is_overdue(loop)}
        for loop in selectors.rectification_queue_for_actor(actor=user)[:200]
    ]
    return render(
        request,
        "interop/rectification_list.html",
        {
            "county": request.tenant,  # type: ignore[attr-defined]
            "running": running,
            "overdue_count": sum(row["overdue"] for row in running),
            "closed": selectors.rectification_closed_for_actor(actor=user)[:50],
        },
    )


@login_required
def rectification_detail_page(request: HttpRequest, rectification_id: UUID) -> HttpResponse:
    user, profile = _staff(request)
    loop = _loop(user, rectification_id)
    case = loop.case
    full = may(profile, Action.SEE_PHONE)
    if full:  # every view of a full phone number is audited
        audit_record(action="case.phone_viewed", actor=user, object_type="case", object_id=case.pk)
    steps = [
        {
            "step": step,
            "label": STEPS[step][1],
            "form": StepForm(initial={"version": loop.version}, auto_id=f"id_{step}_%s"),
        }
        for step in STEPS_BY_STATUS.get(RectificationStatus(loop.status), ())
        if may(profile, Action.FOLLOW_UP)
    ]
    return render(
        request,
        "interop/rectification_detail.html",
        {
            "county": request.tenant,  # type: ignore[attr-defined]
            "loop": loop,
            "case": case,
            "phone": case.citizen_phone if full else mask_phone(case.citizen_phone),
            "scores": selectors.rating_scores(rating_id=loop.bad_rating_id),
            "overdue": selectors.is_overdue(loop),
            "steps": steps,
        },
    )


@login_required
@require_POST
def rectification_step(request: HttpRequest, rectification_id: UUID, step: str) -> HttpResponse:
    user, _profile = _staff(request)
    loop = _loop(user, rectification_id)
    if step not in STEPS:
        raise Http404(step)
    form = StepForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Write what was done."))
        return redirect("rectification-detail-page", rectification_id=loop.pk)
    service, label = STEPS[step]
    values = form.cleaned_data
    try:
        service(actor=user, rectification_id=loop.pk, version=values["version"], note=values["note"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Done: %(step)s.") % {"step": label})
    return redirect("rectification-detail-page", rectification_id=loop.pk)
