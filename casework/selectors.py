"""Reads of casework data, always in the current county's schema.

Every object named in a request is loaded through an ``*_get_for_actor`` selector: it answers
404 alike for what does not exist and for what the actor may not see.
"""

from __future__ import annotations

import datetime
import hmac
import re
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from banchengshi.accounts.models import User
from banchengshi.personal_data import blind_indexes
from casework.errors import CaseworkErrorCode, NotFoundError

# The clocks' status sets and ``case_next_due`` (the ``as`` imports) live with the model, whose
# stored ``next_due_at`` is computed from them; they are still read from here.
from casework.models import ACCEPTANCE_RUNNING as ACCEPTANCE_RUNNING
from casework.models import CASE_CLOCKS as CASE_CLOCKS
from casework.models import (
    CITIZEN_PHONE_PURPOSE,
    Assignment,
    AssignmentStatus,
    Attachment,
    Case,
    CaseEvent,
    Category,
    Cause,
    Department,
    ExtensionRequest,
    Finding,
    FindingStatus,
    RequestKind,
    StaffProfile,
    Window,
)
from casework.models import REPLY_RUNNING as REPLY_RUNNING
from casework.models import RESOLUTION_RUNNING as RESOLUTION_RUNNING
from casework.models import case_next_due as case_next_due
from casework.policy import Action, may, sees_all_cases


def window_list() -> QuerySet[Window]:
    return Window.objects.filter(is_active=True)


def department_list() -> QuerySet[Department]:
    return Department.objects.filter(is_active=True)


def request_kind_list() -> QuerySet[RequestKind]:
    return RequestKind.objects.filter(is_active=True)


def category_list() -> QuerySet[Category]:
    return Category.objects.filter(is_active=True)


def cause_list() -> QuerySet[Cause]:
    return Cause.objects.filter(is_active=True)


def staff_profile_of(user: Any) -> StaffProfile | None:
    """The casework role of a signed-in user; looked up once per request and kept on the user object."""
    if not user.is_authenticated:
        return None
    if not hasattr(user, "_staff_profile"):
        if "staff_profile" in user._state.fields_cache:  # read with the API token (None: no profile)
            user._staff_profile = user._state.fields_cache["staff_profile"]
        else:
            user._staff_profile = StaffProfile.objects.filter(user=user).select_related("department").first()
    return cast(StaffProfile | None, user._staff_profile)


def staff_list_for_actor(*, actor: User) -> QuerySet[StaffProfile]:
    profile = staff_profile_of(actor)
    if profile is None or not may(profile, Action.MANAGE_STAFF):
        return StaffProfile.objects.none()
    return StaffProfile.objects.select_related("user", "department").order_by("role", "user__username")


def staff_get_for_actor(*, actor: User, profile_id: UUID | str) -> StaffProfile:
    """A staff member, for a county admin; 404 for anyone else and for unknown ids."""
    if not _is_uuid(profile_id):
        raise NotFoundError(CaseworkErrorCode.NOT_FOUND, _("No such staff member."))
    profile = staff_list_for_actor(actor=actor).filter(pk=profile_id).first()
    if profile is None:
        raise NotFoundError(CaseworkErrorCode.NOT_FOUND, _("No such staff member."))
    return profile


def _is_uuid(value: UUID | str) -> bool:
    """Ids in URLs are UUIDs; anything else names nothing (404), never a server error."""
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True


def _not_found() -> NotFoundError:
    return NotFoundError(CaseworkErrorCode.NOT_FOUND, _("No such case."))


def _visible_cases(profile: StaffProfile | None) -> QuerySet[Case]:
    if profile is None:
        return Case.objects.none()
    cases = Case.objects.all()
    if not sees_all_cases(profile):
        given = Assignment.objects.filter(case=OuterRef("pk"), department=profile.department)
        cases = cases.filter(Exists(given))
    return cases


def case_get_for_actor(*, actor: User, case_id: UUID | str) -> Case:
    """The case with its timeline and everything on it, if ``actor`` may see it; else 404."""
    if not _is_uuid(case_id):
        raise _not_found()
    case = (
        _visible_cases(staff_profile_of(actor))
        .select_related("kind", "category", "cause", "window")
        .prefetch_related(
            "departments_involved",
            Prefetch("assignments", queryset=Assignment.objects.select_related("department")),
            Prefetch("events", queryset=CaseEvent.objects.order_by("at", "id")),
            "replies",
            "follow_ups",
            "ratings",
            "attachments",
            "extensions",
        )
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise _not_found()
    return case


def case_late(now: datetime.datetime) -> Q:
    """A case is late when any of its clocks is running and past its deadline at ``now``.

    A clock without a deadline (the county has no rule for it) is never late, nor is a case with
    no running clock (``next_due_at`` is NULL). One comparison on the stored column, so the
    ``case_next_due`` index serves it. Its negation (``~`` or ``exclude``) is exactly the cases
    that are not late, NULL included: Django adds ``OR next_due_at IS NULL`` for a nullable column.
    """
    return Q(next_due_at__lt=now)


def case_queue_order(cases: QuerySet[Case]) -> QuerySet[Case]:
    """A supervisor's queue, overdue first: by the earliest deadline among the running clocks
    (the stored ``next_due_at``), cases with no running deadline last, newest first among equals.

    Only an ORDER BY, in the order of the ``case_next_due`` index: a page is its first rows.
    """
    return cases.order_by(F("next_due_at").asc(nulls_last=True), "-registered_at", "pk")


@dataclass(frozen=True)
class CaseFilters:
    status: str = ""
    kind: str = ""
    category: str = ""
    department: str = ""
    window: str = ""
    channel: str = ""
    overdue: bool | None = None
    registered_from: datetime.date | None = None
    registered_to: datetime.date | None = None
    q: str = ""


def attachment_get_for_actor(*, actor: User, case_id: UUID | str, attachment_id: UUID | str) -> Attachment:
    case = case_get_for_actor(actor=actor, case_id=case_id)
    if not _is_uuid(attachment_id):
        raise _not_found()
    attachment = Attachment.objects.filter(case=case, pk=attachment_id).first()
    if attachment is None:
        raise _not_found()
    return attachment


def extension_get_for_actor(*, actor: User, extension_id: UUID | str) -> ExtensionRequest:
    """An extension request, if its case is visible to the actor; else 404."""
    if not _is_uuid(extension_id):
        raise _not_found()
    visible = _visible_cases(staff_profile_of(actor))
    extension = ExtensionRequest.objects.filter(pk=extension_id, case__in=visible).first()
    if extension is None:
        raise _not_found()
    return extension


def case_list_for_actor(*, actor: User, filters: CaseFilters) -> QuerySet[Case]:
    """Cases the actor may see, filtered; a fixed number of queries whatever the page length."""
    cases = _visible_cases(staff_profile_of(actor)).select_related("kind", "category", "window")
    if filters.status:
        cases = cases.filter(status__in=filters.status.split(","))
    if filters.kind:
        cases = cases.filter(kind__code=filters.kind)
    if filters.category:
        cases = cases.filter(category__code=filters.category)
    if filters.window:
        cases = cases.filter(window__code=filters.window)
    if filters.channel:
        cases = cases.filter(channel=filters.channel)
    if filters.department:
        cases = cases.filter(
            Exists(Assignment.objects.filter(case=OuterRef("pk"), department__code=filters.department))
        )
    if filters.overdue is not None:
        late = case_late(timezone.now())
        cases = cases.filter(late) if filters.overdue else cases.exclude(late)
    # Dates are the county's (Asia/Shanghai) days, compared as instants: the index on
    # registered_at serves the range, and the planner can estimate it (a cast to a date it cannot).
    if filters.registered_from:
        cases = cases.filter(registered_at__gte=_local_midnight(filters.registered_from))
    if filters.registered_to and filters.registered_to < datetime.date.max:
        cases = cases.filter(registered_at__lt=_local_midnight(filters.registered_to + datetime.timedelta(days=1)))
    if filters.q:
        cases = cases.filter(_search(filters.q))
    return cases.order_by("-registered_at")


CASE_NUMBER_RE = re.compile(r"^[A-Za-z]{2,4}-\d{4}-\d{1,7}$")


def _search(term: str) -> Q:
    """Search by case number, phone number or the start of the citizen's name; each uses an index."""
    term = term.strip()
    if CASE_NUMBER_RE.match(term):
        return Q(number=term.upper())
    digits = re.sub(r"[\s-]", "", term)
    if digits.isdigit() and len(digits) >= 7:
        # Phones are sealed: exact search through their keyed hashes (ADR 14).
        hashes = {h for value in (digits, term) for h in blind_indexes(value, purpose=CITIZEN_PHONE_PURPOSE)}
        return Q(citizen_phone_index__in=sorted(hashes))
    return Q(citizen_name__startswith=term)


def assignment_get_for_actor(*, actor: User, assignment_id: UUID | str) -> Assignment:
    if not _is_uuid(assignment_id):
        raise _not_found()
    profile = staff_profile_of(actor)
    if profile is None:
        raise _not_found()
    assignments = Assignment.objects.select_related("department", "case")
    if not sees_all_cases(profile):
        assignments = assignments.filter(department=profile.department)
    assignment = assignments.filter(pk=assignment_id).first()
    if assignment is None:
        raise _not_found()
    return assignment


def assignment_queue_for_actor(*, actor: User, include_finished: bool = False) -> QuerySet[Assignment]:
    """A handler's work queue: its department's assignments, oldest first."""
    profile = staff_profile_of(actor)
    if profile is None:
        return Assignment.objects.none()
    assignments = Assignment.objects.select_related("department", "case")
    if not sees_all_cases(profile):
        assignments = assignments.filter(department=profile.department)
    if not include_finished:
        assignments = assignments.filter(status=AssignmentStatus.PENDING)
    return assignments.order_by("assigned_at")


def finding_list_for_actor(*, actor: User) -> QuerySet[Finding]:
    """The ledger the actor may see, each finding annotated ``overdue``: still to be rectified
    (open, or it did not hold) and past its due date."""
    profile = staff_profile_of(actor)
    if profile is None:
        return Finding.objects.none()
    overdue = Q(status__in=[FindingStatus.OPEN, FindingStatus.RELAPSED], due_date__lt=timezone.localdate())
    findings = (
        Finding.objects.select_related("cause", "department")
        .prefetch_related("cases", "actions", "look_backs")
        .annotate(overdue=ExpressionWrapper(overdue, output_field=BooleanField()))
    )
    if not sees_all_cases(profile):
        findings = findings.filter(department=profile.department)
    return findings


def finding_get_for_actor(*, actor: User, finding_id: UUID | str) -> Finding:
    if not _is_uuid(finding_id):
        raise _not_found()
    finding = finding_list_for_actor(actor=actor).filter(pk=finding_id).first()
    if finding is None:
        raise NotFoundError(CaseworkErrorCode.NOT_FOUND, _("No such finding."))
    return finding


def case_lookup_by_tracking(*, tracking_code: str, phone_last4: str) -> Case:
    """A citizen's view of one case: the tracking code and the phone's last 4 digits must both match."""
    case = (
        Case.objects.select_related("kind")
        .prefetch_related(Prefetch("events", queryset=CaseEvent.objects.order_by("at", "id")), "replies")
        .filter(tracking_code=tracking_code.strip().upper())
        .first()
    )
    # The phone is opened (one decryption of the one row the code names) and its last 4 digits
    # compared in constant time; no search column of last digits exists to be guessed (ADR 14).
    last4 = phone_last4.strip()
    if case is None or len(last4) != 4 or not hmac.compare_digest(case.citizen_phone[-4:].encode(), last4.encode()):
        raise NotFoundError(CaseworkErrorCode.LOOKUP_FAILED, _("No case matches this tracking code and phone number."))
    return case


def _local_midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=timezone.get_current_timezone())
