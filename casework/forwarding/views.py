"""Staff pages for 跨域通办: the window's queue of cases other counties sent here."""

from __future__ import annotations

from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from banchengshi.audit.services import audit_record
from banchengshi.errors import ApplicationError
from casework import selectors as casework_selectors
from casework.forwarding import selectors, services
from casework.policy import Action, mask_phone, may

Choices = list[tuple[str, str]]


def accept_choices() -> tuple[Choices, Choices]:
    """The county's request kinds and categories, read once for every form of a page."""
    kinds = [(k.code, k.name) for k in casework_selectors.request_kind_list()]
    categories = [("", "—")] + [(c.code, c.name) for c in casework_selectors.category_list()]
    return kinds, categories


class AcceptForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("request kind"))
    category = forms.ChoiceField(label=gettext_lazy("category"), required=False)

    def __init__(self, *args: object, choices: tuple[Choices, Choices] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        kinds, categories = choices or accept_choices()
        self.fields["kind"].choices = kinds  # type: ignore[attr-defined]
        self.fields["category"].choices = categories  # type: ignore[attr-defined]


class ReturnForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("reason"), max_length=2000)


@login_required
def incoming_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    profile = casework_selectors.staff_profile_of(user)
    if profile is None:
        raise Http404
    full = may(profile, Action.SEE_PHONE)
    forwards = selectors.forwards_incoming(actor=user)  # type: ignore[arg-type]
    may_decide = may(profile, Action.FORWARD)
    choices = accept_choices() if may_decide and forwards else None
    rows = [
        {
            "forward": f,
            "phone": f.citizen_phone if full and selectors.forward_phone_in_full(f) else mask_phone(f.citizen_phone),
            # Two forms a forward, each with ids of its own: a label must lead to its own row's field.
            "accept_form": AcceptForm(auto_id=f"id_accept_{f.pk}_%s", choices=choices) if may_decide else None,
            "return_form": ReturnForm(auto_id=f"id_return_{f.pk}_%s") if may_decide else None,
        }
        for f in forwards
    ]
    shown = [str(f.pk) for f in forwards if full and selectors.forward_phone_in_full(f)]
    if shown:  # every view of a full phone number is audited
        audit_record(action="forward.phone_viewed", object_type="forward", details={"forward_ids": shown})
    return render(
        request,
        "forwarding/incoming.html",
        {"county": request.tenant, "rows": rows, "may_decide": may_decide},  # type: ignore[attr-defined]
    )  # fmt: skip


@login_required
@require_POST
def decide(request: HttpRequest, forward_id: UUID, outcome: str) -> HttpResponse:
    user = request.user
    try:
        forward = selectors.forward_get_for_actor(actor=user, forward_id=forward_id)  # type: ignore[arg-type]
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    if outcome not in {"accept", "return"}:
        raise Http404(outcome)
    form: forms.Form = AcceptForm(request.POST) if outcome == "accept" else ReturnForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please fill in the form."))
        return redirect("forward-incoming-page")
    try:
        if outcome == "accept":
            forward = services.forward_accept(
                actor=user, forward_id=forward.pk, kind_code=form.cleaned_data["kind"],  # type: ignore[arg-type]
                category_code=form.cleaned_data["category"],
            )  # fmt: skip
            messages.success(request, _("Taken over."))
            return redirect("case-page", case_id=forward.case_id)
        services.forward_return(actor=user, forward_id=forward.pk, reason=form.cleaned_data["reason"])  # type: ignore[arg-type]
        messages.success(request, _("Returned."))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("forward-incoming-page")
