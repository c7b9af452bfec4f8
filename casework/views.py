"""Staff and citizen pages of a county (served at the county's own host), in Chinese.

Views validate forms, call one service or selector, and render; errors from services are shown
to the person as they are (a Chinese message), and nothing is changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.forms import BaseForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from banchengshi.accounts.models import User
from banchengshi.accounts.services import enrollment_code_notice
from banchengshi.audit.services import audit_record
from banchengshi.errors import ApplicationError, form_errors_add
from banchengshi.ratelimit import allow, client_address
from casework import forms, selectors, services
from casework.errors import CaseworkErrorCode
from casework.forwarding import services as forwarding_services
from casework.forwarding.models import ForwardRole
from casework.models import OPEN_STATUSES, Attachment, Case, CaseStatus, Channel, StaffProfile, StaffRole
from casework.policy import Action, mask_phone, may
from casework.workflow import STEP_LABELS, Step, steps_for
from notifications.selectors import failed_notifications
from notifications.services import notification_retry


def county_home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and selectors.staff_profile_of(request.user):
        return redirect("work-queue")
    return render(
        request,
        "casework/county_home.html",
        {"county": request.tenant, "windows": selectors.window_list(), "departments": selectors.department_list()},  # type: ignore[attr-defined]
    )


def _staff(request: HttpRequest) -> tuple[User, StaffProfile]:
    user = cast(User, request.user)
    profile = selectors.staff_profile_of(user)
    if profile is None:
        raise PermissionDenied(_("Only county staff with a casework role may use this."))
    return user, profile


@login_required
def work_queue(request: HttpRequest) -> HttpResponse:
    """Each role's queue: clerks see new cases and replies due; handlers their department's work;
    supervisors everything open, overdue first."""
    user, profile = _staff(request)
    empty = selectors.CaseFilters()
    cases = selectors.case_list_for_actor(actor=user, filters=empty).filter(status__in=OPEN_STATUSES)
    assignments = None
    if profile.role == StaffRole.WINDOW_CLERK:
        cases = cases.filter(
            status__in=[CaseStatus.REGISTERED, CaseStatus.ACCEPTED, CaseStatus.PROCESSED, CaseStatus.REOPENED]
        )
    elif profile.role == StaffRole.DEPARTMENT_HANDLER:
        assignments = selectors.assignment_queue_for_actor(actor=user)[:100]
    cases = selectors.case_queue_order(cases)[:100]
    return render(
        request,
        "casework/work_queue.html",
        {"county": request.tenant, "profile": profile, "cases": _rows(cases), "assignments": assignments},  # type: ignore[attr-defined]
    )


def _rows(cases: Any) -> list[dict[str, Any]]:
    # Queues mask every phone number; the case page shows it in full to roles that call back. The
    # earliest running deadline (stored on the case) says which are late, as the overdue filter does.
    now = timezone.now()
    return [
        {"case": c, "phone": mask_phone(c.citizen_phone), "overdue": c.next_due_at is not None and c.next_due_at < now}
        for c in cases
    ]


@login_required
def case_new(request: HttpRequest) -> HttpResponse:
    user, _profile = _staff(request)
    form = forms.StaffIntakeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            intake = _intake(data, data["channel"])
            case = services.case_register_once(
                idempotency_key=data["submission"] or None, actor=user, intake=intake
            ).case
        except ApplicationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Registered as %(number)s.") % {"number": case.number})
            return redirect("case-page", case_id=case.pk)
    return render(request, "casework/case_new.html", {"county": request.tenant, "form": form})  # type: ignore[attr-defined]


def _intake(data: dict[str, Any], channel: str) -> services.CaseIntake:
    return services.CaseIntake(
        matter=data["matter"],
        description=data["description"],
        citizen_name=data["citizen_name"],
        citizen_phone=data["citizen_phone"],
        company_name=data.get("company_name", ""),
        channel=channel,
        kind_code=data["kind"],
        window_code=data.get("window", ""),
        category_code=data.get("category", ""),
        department_codes=tuple(data.get("departments", ())),
        is_urgent=data.get("is_urgent", False),
    )


def _form_errors(form: Any, exc: ApplicationError) -> None:
    form_errors_add(form, exc, aliases={"department_codes": "departments"})


@login_required
def case_page(request: HttpRequest, case_id: UUID) -> HttpResponse:
    user, profile = _staff(request)
    return _case_page(request, profile, _case(user, case_id))


# One page holds a form per step, most with a "version" and many with a "reason", and a result form
# per assignment: each has ids of its own, so that a label (tapped, or read out) leads to its own
# form's field. The ids also tell which of them a form sent back with errors takes the place of.
def _step_ids(step: Step) -> str:
    return f"id_{step}_%s"


def _result_ids(assignment_id: UUID) -> str:
    return f"id_assignment_{assignment_id}_%s"


EXTENSION_IDS = "id_extension_%s"


def _case_page(request: HttpRequest, profile: StaffProfile, case: Case, sent: BaseForm | None = None) -> HttpResponse:
    """The case page; ``sent`` is a form that came back with its errors, shown (open) in its place."""
    if may(profile, Action.SEE_PHONE):  # every view of a full phone number is audited
        audit_record(action="case.phone_viewed", actor=request.user, object_type="case", object_id=case.pk)

    def form(form_class: type[BaseForm], ids: str, **kwargs: Any) -> BaseForm:
        return sent if sent is not None and sent.auto_id == ids else form_class(auto_id=ids, **kwargs)

    steps = [
        {
            "step": step,
            "label": STEP_LABELS[step],
            "form": form(forms.STEP_FORMS[step], _step_ids(step), initial={"version": case.version}),
        }
        for step in steps_for(profile, case)
    ]
    my_assignments = [
        {"assignment": a, "form": form(forms.AssignmentResultForm, _result_ids(a.pk))}
        for a in case.assignments.all()
        if a.status == "pending"
        and (profile.role == StaffRole.SUPERVISOR or a.department_id == profile.department_id)
        and may(profile, Action.HANDLE_ASSIGNMENT)
    ]
    return render(
        request,
        "casework/case_page.html",
        {
            "county": request.tenant,  # type: ignore[attr-defined]
            "case": case,
            "phone": case.citizen_phone if may(profile, Action.SEE_PHONE) else mask_phone(case.citizen_phone),
            "steps": steps,
            "my_assignments": my_assignments,
            "extension_form": form(forms.ExtensionRequestForm, EXTENSION_IDS) if my_assignments else None,
            "pending_extension": next((e for e in case.extensions.all() if e.status == "pending"), None)
            if may(profile, Action.DECIDE_EXTENSION)
            else None,
            "decision_form": forms.ExtensionDecisionForm(),
        },
    )


T = TypeVar("T")


def _or_404(load: Callable[..., T], **kwargs: Any) -> T:
    """Load through an access selector; what the person may not see is a plain 404 page."""
    try:
        return load(**kwargs)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


def _case(user: User, case_id: UUID) -> Case:
    return _or_404(selectors.case_get_for_actor, actor=user, case_id=case_id)


STEP_SERVICES: dict[Step, Any] = {
    Step.ACCEPT: lambda u, c, d: services.case_accept(actor=u, case_id=c, version=d["version"], note=d["note"]),
    Step.NOT_ACCEPT: lambda u, c, d: services.case_not_accept(
        actor=u, case_id=c, version=d["version"], reason=d["reason"]
    ),
    Step.ACCEPT_AND_ASSIGN: lambda u, c, d: services.case_accept_and_assign(
        actor=u,
        case_id=c,
        version=d["version"],
        lead_department_code=d["lead_department"],
        co_department_codes=d["co_departments"],
        instructions=d["instructions"],
    ),  # fmt: skip
    Step.CLASSIFY: lambda u, c, d: services.case_classify(
        actor=u,
        case_id=c,
        version=d["version"],
        kind_code=d["kind"],
        category_code=d["category"],
        cause_code=d["cause"],
    ),
    Step.ASSIGN: lambda u, c, d: services.case_assign(
        actor=u,
        case_id=c,
        version=d["version"],
        lead_department_code=d["lead_department"],
        co_department_codes=d["co_departments"],
        instructions=d["instructions"],
    ),  # fmt: skip
    Step.ADD_CO_HANDLERS: lambda u, c, d: services.case_co_handlers_add(
        actor=u, case_id=c, version=d["version"], department_codes=d["co_departments"], instructions=d["instructions"]
    ),
    Step.REQUEST_MATERIALS: lambda u, c, d: services.case_request_materials(
        actor=u, case_id=c, version=d["version"], note=d["note"]
    ),
    Step.MATERIALS_RECEIVED: lambda u, c, d: services.case_materials_received(
        actor=u, case_id=c, version=d["version"], note=d["note"]
    ),
    Step.ESCALATE: lambda u, c, d: services.case_escalate(
        actor=u, case_id=c, version=d["version"], level=d["level"], reason=d["reason"]
    ),
    Step.ESCALATION_ANSWER: lambda u, c, d: services.case_escalation_answer(
        actor=u, case_id=c, version=d["version"], answer=d["answer"]
    ),
    Step.REPLY: lambda u, c, d: services.case_reply(
        actor=u, case_id=c, version=d["version"], method=d["method"], content=d["content"]
    ),
    Step.FOLLOW_UP: lambda u, c, d: services.case_follow_up(
        actor=u, case_id=c, version=d["version"], outcome=d["outcome"], note=d["note"], rating_level=d["rating_level"]
    ),
    Step.ARCHIVE: lambda u, c, d: services.case_archive(actor=u, case_id=c, version=d["version"], note=d["note"]),
    Step.WITHDRAW: lambda u, c, d: services.case_withdraw(actor=u, case_id=c, version=d["version"], reason=d["reason"]),
    Step.FORWARD: lambda u, c, d: forwarding_services.case_forward(
        actor=u,
        case_id=c,
        version=d["version"],
        mode=d["mode"],
        reason=d["reason"],
        targets=[forwarding_services.ForwardTarget(county_code=d["target"])]
        + [
            forwarding_services.ForwardTarget(county_code=code, role=ForwardRole.CO_HANDLER)
            for code in d["co_targets"]
            if code != d["target"]
        ],
        attachment_ids=list(Attachment.objects.filter(case_id=c).values_list("pk", flat=True))
        if d["with_attachments"]
        else [],
    ),  # fmt: skip
    Step.RECALL_FORWARD: lambda u, c, d: forwarding_services.case_forward_recall(
        actor=u, case_id=c, version=d["version"], reason=d["reason"]
    ),
}


@login_required
@require_POST
def case_step(request: HttpRequest, case_id: UUID, step: str) -> HttpResponse:
    user, profile = _staff(request)
    case = _case(user, case_id)
    try:
        chosen = Step(step)
    except ValueError:
        raise Http404(step) from None
    form = forms.STEP_FORMS[chosen](request.POST, auto_id=_step_ids(chosen))
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            text = "；".join(str(error) for error in errors)
            messages.error(request, f"{label}：{text}" if label else text)
        return _case_page(request, profile, case, sent=form)
    try:
        STEP_SERVICES[chosen](user, case.pk, form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Done: %(step)s.") % {"step": STEP_LABELS[chosen]})
    return redirect("case-page", case_id=case.pk)


@login_required
@require_POST
def assignment_step(request: HttpRequest, assignment_id: UUID, outcome: str) -> HttpResponse:
    user, profile = _staff(request)
    assignment = _or_404(selectors.assignment_get_for_actor, actor=user, assignment_id=assignment_id)
    form = forms.AssignmentResultForm(request.POST, auto_id=_result_ids(assignment.pk))
    if form.is_valid():
        text = form.cleaned_data["text"]
        try:
            if outcome == "complete":
                services.assignment_complete(actor=user, assignment_id=assignment.pk, result=text)
            elif outcome == "return":
                services.assignment_return(actor=user, assignment_id=assignment.pk, reason=text)
            else:
                raise Http404(outcome)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Saved."))
    else:
        messages.error(request, _("Write what your department did, or why it returns the case."))
        return _case_page(request, profile, _case(user, assignment.case_id), sent=form)
    return redirect("case-page", case_id=assignment.case_id)


@login_required
@require_POST
def extension_step(request: HttpRequest, case_id: UUID, step: str) -> HttpResponse:
    user, profile = _staff(request)
    case = _case(user, case_id)
    try:
        if step == "request":
            form: Any = forms.ExtensionRequestForm(request.POST, auto_id=EXTENSION_IDS)
            if not form.is_valid():
                messages.error(request, _("Please complete the form."))
                return _case_page(request, profile, case, sent=form)
            services.extension_request(actor=user, case_id=case.pk, **form.cleaned_data)
        elif step == "decide":
            form = forms.ExtensionDecisionForm(request.POST)
            pending = case.extensions.filter(status="pending").first()
            if not form.is_valid() or pending is None:
                raise ApplicationError(CaseworkErrorCode.INVALID, _("Please complete the form."))
            services.extension_decide(actor=user, request_id=pending.pk, **form.cleaned_data)
        else:
            raise Http404(step)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Saved."))
    return redirect("case-page", case_id=case.pk)


@login_required
def ledger(request: HttpRequest) -> HttpResponse:
    user, profile = _staff(request)
    form = forms.FindingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        numbers = [n.strip().upper() for n in data["case_numbers"].replace("，", ",").split(",") if n.strip()]
        ids = list(
            selectors.case_list_for_actor(actor=user, filters=selectors.CaseFilters())
            .filter(number__in=numbers)
            .values_list("pk", flat=True)
        )
        try:
            if len(ids) != len(numbers):
                raise ApplicationError(CaseworkErrorCode.UNKNOWN_REFERENCE, _("Unknown case."))
            services.finding_raise(
                actor=user, title=data["title"], cause_code=data["cause"], department_code=data["department"],
                required_change=data["required_change"], due_date=data["due_date"], case_ids=ids,
            )  # fmt: skip
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Saved."))
            return redirect("ledger")
    writes = may(profile, Action.LEDGER_WRITE)
    # A finding's forms have ids of their own: a label leads to its own finding's field.
    findings = [
        {
            "finding": finding,
            "action_form": forms.FindingActionForm(auto_id=f"id_action_{finding.pk}_%s") if writes else None,
            "look_back_form": forms.LookBackForm(auto_id=f"id_look_back_{finding.pk}_%s") if writes else None,
        }
        for finding in selectors.finding_list_for_actor(actor=user)[:200]
    ]
    return render(
        request,
        "casework/ledger.html",
        {"county": request.tenant, "findings": findings, "form": form if writes else None},  # type: ignore[attr-defined]
    )


@login_required
@require_POST
def finding_step(request: HttpRequest, finding_id: UUID, step: str) -> HttpResponse:
    user, _profile = _staff(request)
    finding = _or_404(selectors.finding_get_for_actor, actor=user, finding_id=finding_id)
    if step not in {"action", "look_back"}:
        raise Http404(step)
    form: Any = forms.FindingActionForm(request.POST) if step == "action" else forms.LookBackForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please complete the form."))
        return redirect("ledger")
    try:
        if step == "action":
            services.finding_action_add(actor=user, finding_id=finding.pk, **form.cleaned_data)
        else:
            services.finding_look_back(actor=user, finding_id=finding.pk, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Saved."))
    return redirect("ledger")


@login_required
def staff_page(request: HttpRequest) -> HttpResponse:
    """The county admin's list of staff accounts, with a form to add one."""
    user, profile = _staff(request)
    if not may(profile, Action.MANAGE_STAFF):
        raise PermissionDenied(_("Your role may not do this."))
    departments = forms.department_choices()
    form = forms.StaffCreateForm(request.POST or None, departments=departments)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.staff_create(
                actor=user, username=data["username"], name=data["name"], role=data["role"],
                password=data["password"], department_code=data["department"],
            )  # fmt: skip
        except ApplicationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            if created.user.enrollment_code:
                messages.warning(request, enrollment_code_notice(created.user.enrollment_code))
            return redirect("staff-page")
    return _staff_list(request, user, form=form, departments=departments)


# A role form per person, with ids of its own (a label leads to its own person's field); the ids
# also tell which row a role form sent back with errors takes the place of.
def _staff_ids(profile_id: UUID) -> str:
    return f"id_staff_{profile_id}_%s"


def _staff_list(
    request: HttpRequest,
    user: User,
    *,
    form: BaseForm | None = None,
    sent: BaseForm | None = None,
    departments: list[tuple[str, str]] | None = None,
) -> HttpResponse:
    """The staff page; ``sent`` is a person's role form that came back with its errors, shown (open) in its row."""
    departments = forms.department_choices() if departments is None else departments

    def role_form(p: StaffProfile) -> BaseForm:
        if sent is not None and sent.auto_id == _staff_ids(p.pk):
            return sent
        # Set to the person's role and department now.
        return forms.StaffRoleForm(
            auto_id=_staff_ids(p.pk),
            initial={"role": p.role, "department": p.department.code if p.department else ""},
            departments=departments,
        )

    staff = [{"profile": p, "role_form": role_form(p)} for p in selectors.staff_list_for_actor(actor=user)]
    return render(
        request,
        "casework/staff.html",
        {
            "county": request.tenant,  # type: ignore[attr-defined]
            "staff": staff,
            "form": form or forms.StaffCreateForm(departments=departments),
        },
    )


@login_required
@require_POST
def staff_step(request: HttpRequest, profile_id: UUID, step: str) -> HttpResponse:
    user, _profile = _staff(request)
    target = _or_404(selectors.staff_get_for_actor, actor=user, profile_id=profile_id)  # 404 but for the admin
    if step == "role":
        return _staff_role(request, user, target)
    if step != "deactivate":
        raise Http404(step)
    try:
        services.staff_deactivate(actor=user, profile_id=target.pk)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Saved."))
    return redirect("staff-page")


def _staff_role(request: HttpRequest, user: User, target: StaffProfile) -> HttpResponse:
    form = forms.StaffRoleForm(request.POST, auto_id=_staff_ids(target.pk))
    if not form.is_valid():
        messages.error(request, _("Please complete the form."))
        return _staff_list(request, user, sent=form)
    try:
        changed = services.staff_role_set(
            actor=user, profile_id=target.pk, role=form.cleaned_data["role"],
            department_code=form.cleaned_data["department"],
        )  # fmt: skip
    except ApplicationError as exc:
        # Above the list too: the page opens at its top, and the admin's own row has no form.
        messages.error(request, exc.message)
        _form_errors(form, exc)
        return _staff_list(request, user, sent=form)
    if changed.user.enrollment_code:
        messages.warning(request, enrollment_code_notice(changed.user.enrollment_code))
    messages.success(request, _("Saved."))
    return redirect("staff-page")


@login_required
def outbox_page(request: HttpRequest) -> HttpResponse:
    """Messages that could not be delivered, for the county admin to retry."""
    _user, profile = _staff(request)
    if not may(profile, Action.MANAGE_STAFF):
        raise PermissionDenied(_("Your role may not do this."))
    if request.method == "POST":
        try:
            notification_retry(notification_id=UUID(request.POST.get("notification", "")))
        except (ApplicationError, ValueError):
            messages.error(request, _("This message cannot be retried."))
        else:
            messages.success(request, _("The message will be sent again."))
        return redirect("outbox-page")
    failed = [
        {"n": n, "recipient": mask_phone(n.address) if n.address.isdigit() else n.address}
        for n in failed_notifications()[:200]
    ]
    return render(request, "casework/outbox.html", {"county": request.tenant, "failed": failed})  # type: ignore[attr-defined]


# -- citizens ---------------------------------------------------------------------------------


def citizen_submit(request: HttpRequest) -> HttpResponse:
    form = forms.IntakeForm(request.POST or None)
    case = None
    if request.method == "POST":
        if not allow(scope="citizen-submit", key=client_address(request), limit=10, window_seconds=3600):
            form.add_error(None, _("Too many submissions from this address; please try again later."))
        elif form.is_valid():
            try:
                intake = _intake(form.cleaned_data, Channel.ONLINE)
                key = form.cleaned_data["submission"] or None
                case = services.case_register_once(idempotency_key=key, actor=None, intake=intake).case
            except ApplicationError as exc:
                _form_errors(form, exc)
    return render(request, "casework/citizen_submit.html", {"county": request.tenant, "form": form, "case": case})  # type: ignore[attr-defined]


def citizen_track(request: HttpRequest) -> HttpResponse:
    form = forms.TrackForm(request.POST or None)
    case = None
    rate_form = None
    if request.method == "POST":
        if not allow(scope="citizen-track", key=client_address(request), limit=30, window_seconds=600):
            form.add_error(None, _("Too many look-ups from this address; please try again later."))
        elif form.is_valid():
            try:
                case = services.case_lookup_by_citizen(**form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                if case.status in {CaseStatus.REPLIED, CaseStatus.FOLLOWED_UP}:
                    rate_form = forms.RateForm(initial=form.cleaned_data)
    return render(
        request,
        "casework/citizen_track.html",
        {"county": request.tenant, "form": form, "case": case, "rate_form": rate_form},  # type: ignore[attr-defined]
    )


@require_POST
def citizen_rate(request: HttpRequest) -> HttpResponse:
    form = forms.RateForm(request.POST)
    # The rating names its case as the look-up does, so it counts against the same limit.
    if not allow(scope="citizen-track", key=client_address(request), limit=30, window_seconds=600):
        messages.error(request, _("Too many look-ups from this address; please try again later."))
    elif form.is_valid():
        data = form.cleaned_data
        try:
            case = services.case_lookup_by_citizen(tracking_code=data["tracking_code"], phone_last4=data["phone_last4"])
            services.case_rate_by_citizen(case_id=case.pk, level=data["level"], comment=data["comment"])
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Thank you for your rating."))
            # The citizen stays on their case (as it is now), not on an empty look-up form.
            code, last4 = data["tracking_code"], data["phone_last4"]
            return render(
                request,
                "casework/citizen_track.html",
                {
                    "county": request.tenant,  # type: ignore[attr-defined]
                    "form": forms.TrackForm(initial={"tracking_code": code, "phone_last4": last4}),
                    "case": selectors.case_lookup_by_tracking(tracking_code=code, phone_last4=last4),
                    "rate_form": None,
                },
            )
    else:
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            text = " ".join(str(error) for error in errors)
            messages.error(request, f"{label}: {text}" if label else text)
    return redirect("citizen-track")
