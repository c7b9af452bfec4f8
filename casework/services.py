"""Writes to casework data. Every function here is a keyword-only service.

The case workflow (登记 → 受理 → 转办 → 答复 → 回访 → 归档, with 不予受理, 退回, 补充材料, 重办,
撤回 and 上报) is enforced here and nowhere else. Each transition locks the case row, checks the
caller's version (two clerks acting at once cannot both win), checks the state, and appends a
timeline event in the same transaction.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID, uuid4

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from PIL import Image
from rest_framework.authtoken.models import Token

from banchengshi.accounts.models import User
from banchengshi.accounts.policy import two_factor_required
from banchengshi.accounts.selectors import has_authenticator
from banchengshi.accounts.services import enrollment_code_issue, user_sessions_end
from banchengshi.audit.services import audit_record
from banchengshi.configuration.selectors import config_cached, configuration_snapshot
from banchengshi.core.rows import row_insert, rows_batched
from banchengshi.personal_data import blind_indexes
from banchengshi.ratelimit import allow, exceeded
from banchengshi.sync import ChangeSummary, sync_rows
from banchengshi.tenancy import current_county
from casework.errors import (
    CaseworkError,
    CaseworkErrorCode,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)
from casework.exchange.models import EnvelopeKind
from casework.exchange.services import envelope_post
from casework.models import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Attachment,
    Case,
    CaseEvent,
    CaseStatus,
    Category,
    Cause,
    Channel,
    Department,
    ExtensionRequest,
    ExtensionStatus,
    Finding,
    FindingAction,
    FindingStatus,
    FollowUp,
    FollowUpOutcome,
    IntakeKey,
    LookBack,
    Rating,
    RatingLevel,
    RatingSource,
    Reply,
    ReplyMethod,
    RequestKind,
    StaffProfile,
    StaffRole,
    Window,
)
from casework.policy import Action, may
from casework.selectors import (
    ACCEPTANCE_RUNNING,
    REPLY_RUNNING,
    RESOLUTION_RUNNING,
    case_lookup_by_tracking,
    staff_profile_of,
)
from casework.workflow import Step, allowed_from
from notifications.models import Channel as NotificationChannel
from notifications.services import notification_enqueue, webhook_event_publish
from sla.calendar import SHANGHAI
from sla.models import Clock
from sla.selectors import (
    CaseFacts,
    calendars_forget_all,
    case_deadlines,
    clock_deadline,
    county_calendar,
    paused_working_seconds,
)
from sla.sweep.selectors import deadline_entry_cases
from sla.sweep.services import deadline_entries_claim, deadline_index_sync

# -- configuration (called by onboarding) ---------------------------------------------------


@dataclass(frozen=True)
class WindowSpec:
    code: str
    name: str
    level: str


@dataclass(frozen=True)
class DepartmentSpec:
    code: str
    name: str
    short_name: str = ""
    runs_window: bool = False


@dataclass(frozen=True)
class RequestKindSpec:
    code: str
    name: str


@dataclass(frozen=True)
class CategorySpec:
    code: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class CauseSpec:
    code: str
    name: str
    side: str


@transaction.atomic
def reference_data_apply(
    *,
    windows: list[WindowSpec],
    departments: list[DepartmentSpec],
    request_kinds: list[RequestKindSpec],
    categories: list[CategorySpec],
    causes: list[CauseSpec],
) -> ChangeSummary:
    """Make the current county's windows, departments, kinds, categories and causes match the specs."""
    return (
        sync_rows(model=Window, specs=windows)
        + sync_rows(model=Department, specs=departments)
        + sync_rows(model=RequestKind, specs=request_kinds)
        + sync_rows(model=Category, specs=categories)
        + sync_rows(model=Cause, specs=causes)
    )


# -- staff ------------------------------------------------------------------------------------


def staff_create(
    *,
    actor: User | None,
    username: str,
    name: str,
    role: str,
    password: str,
    department_code: str = "",
    operator_label: str = "",
) -> StaffProfile:
    """Create a staff account of the current county with its casework role.

    ``actor`` is the county admin. It is None for the platform itself: onboarding, where a
    provincial operator asked for the account (``operator_label`` names them, since they are not a
    user of this county), or demo data, where nobody chose the password but the platform.
    """
    if actor is not None:
        _require(actor, Action.MANAGE_STAFF)
    chosen_by_another = actor is not None or bool(operator_label)
    username = _required_text(username, "username")
    if User.objects.filter(username=username).exists():
        raise _invalid("username", _("This username is already taken in this county."))
    department = _role_department(role, department_code)
    # A password an administrator chose is known to two people: its owner replaces it first thing.
    candidate = User(username=username, name=name.strip(), must_change_password=chosen_by_another)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise _invalid("password", " ".join(exc.messages)) from exc
    with transaction.atomic():
        candidate.set_password(password)
        candidate.save()
        audit_record(
            action="staff.created", actor=actor, actor_label=operator_label, object_type="user",
            object_id=candidate.pk, details={"role": role, "department": department_code},
        )  # fmt: skip
        profile = StaffProfile.objects.create(user=candidate, role=role, department=department)
        if chosen_by_another and two_factor_required(candidate):
            # Someone else chose the password; the first authenticator needs this code besides it.
            candidate.enrollment_code = enrollment_code_issue(user=candidate, actor=actor, actor_label=operator_label)
        return profile


def staff_role_set(*, actor: User, profile_id: UUID, role: str, department_code: str = "") -> StaffProfile:
    """Change what a staff member may do (a county admin's decision).

    Promoted into a role that signs in with a second factor, someone with no authenticator yet
    gets an enrollment code, as a new account of that role does (``profile.user.enrollment_code``,
    shown once to the admin): the password alone must not be enough to put a phone on the account.
    """
    _require(actor, Action.MANAGE_STAFF)
    department = _role_department(role, department_code)
    with transaction.atomic():
        profile = StaffProfile.objects.select_for_update().select_related("user").get(pk=profile_id)
        if profile.user_id == actor.pk and role != StaffRole.COUNTY_ADMIN:
            raise _invalid("role", _("You cannot take away your own administrator role."))
        audit_record(
            action="staff.role_set", actor=actor, object_type="user", object_id=profile.user_id,
            details={"from": profile.role, "to": role, "department": department_code},
        )  # fmt: skip
        promoted = profile.role != role
        profile.role = role
        profile.department = department
        profile.save(update_fields=["role", "department"])
        user = profile.user
        user._staff_profile = profile  # type: ignore[attr-defined]  # the role just set, not one read before
        if promoted and two_factor_required(user) and not has_authenticator(user):
            user.enrollment_code = enrollment_code_issue(user=user, actor=actor)
    return profile


def staff_deactivate(*, actor: User, profile_id: UUID) -> StaffProfile:
    """Switch a staff account off: it can no longer sign in, and its API tokens stop working."""
    _require(actor, Action.MANAGE_STAFF)
    with transaction.atomic():
        profile = StaffProfile.objects.select_for_update().select_related("user").get(pk=profile_id)
        if profile.user_id == actor.pk:
            raise _invalid("user", _("You cannot deactivate your own account."))
        profile.user.is_active = False
        profile.user.save(update_fields=["is_active"])
        Token.objects.filter(user=profile.user).delete()
        user_sessions_end(user_id=profile.user_id)
        audit_record(action="staff.deactivated", actor=actor, object_type="user", object_id=profile.user_id)
    return profile


def _role_department(role: str, department_code: str) -> Department | None:
    if role not in StaffRole.values:
        raise _invalid("role", _("Unknown role."))
    department = _department(department_code, "department") if department_code else None
    if role == StaffRole.DEPARTMENT_HANDLER and department is None:
        raise _invalid("department", _("A department handler needs a department."))
    return department


# -- registration -----------------------------------------------------------------------------

# ASCII digits only: ``\d`` takes Arabic-Indic or full-width digits too, which no SMS gateway dials.
MOBILE_RE = re.compile(r"^1[3-9][0-9]{9}$")
LANDLINE_RE = re.compile(r"^0[0-9]{2,3}-?[0-9]{7,8}$")
TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class CaseIntake:
    """The seeds' intake form: 事项名称, departments involved, citizen and contact, window, what happened."""

    matter: str
    description: str
    citizen_name: str
    citizen_phone: str
    channel: str
    kind_code: str
    window_code: str = ""
    category_code: str = ""
    cause_code: str = ""
    department_codes: tuple[str, ...] = field(default_factory=tuple)
    company_name: str = ""
    is_urgent: bool = False


def normalize_phone(phone: str) -> str:
    """A mobile (13812345678) or landline (0772-1234567) number, spaces, +86 and a mobile's dashes removed."""
    cleaned = re.sub(r"[\s()]", "", phone or "")
    # People write mobiles as 138-1234-5678 too; a landline keeps the dash after its area code.
    mobile = re.sub(r"^\+?86(?=1[0-9]{10}$)", "", cleaned.replace("-", ""))
    if MOBILE_RE.match(mobile):
        return mobile
    if LANDLINE_RE.match(cleaned):
        return cleaned
    raise _invalid(
        "citizen_phone",
        _("Enter an 11-digit mobile number or a landline number with its area code, e.g. 0772-1234567."),
    )


@dataclass(frozen=True)
class ForwardedIn:
    """Where a case another county forwarded here came from (set only by casework.forwarding)."""

    county_code: str
    forward_id: UUID
    tracking_code: str


def case_register(
    *, actor: User | None, intake: CaseIntake, system: str = "", forwarded: ForwardedIn | None = None
) -> Case:
    """Register a case: from a window clerk, or (with no actor) from a citizen online.

    ``system`` names a connected system that authenticated itself (the 12345 platform, an Open311
    app): it may register on any channel without a staff actor, and is kept on the timeline.
    """
    return _case_register(actor=actor, intake=intake, system=system, forwarded=forwarded, key=None).case


@dataclass(frozen=True)
class Registration:
    """What ``case_register_once`` answers: the case, and whether an earlier request had registered it."""

    case: Case
    replayed: bool = False


@dataclass(frozen=True)
class _KeyedRequest:
    key: str
    scope: str
    # The request's keyed hash under every key of the ring (the current one first), so a key
    # rotation in the middle of a client's retries still recognises its request.
    fingerprints: tuple[str, ...]


class _IntakeKeyTaken(Exception):
    """A concurrent request with the same key committed its case first (raised to roll back)."""


INTAKE_KEY_RE = re.compile(r"[\x20-\x7e]{1,128}")
INTAKE_KEY_PURPOSE = "casework.intake_key.fingerprint"


def case_register_once(
    *,
    idempotency_key: str | None,
    actor: User | None,
    intake: CaseIntake,
    system: str = "",
    request: dict[str, Any] | None = None,
) -> Registration:
    """``case_register`` for a client that may retry: its ``Idempotency-Key`` (as Stripe has it).

    The first request with a key registers the case. A retry with the same key from the same
    sender (this staff user, this connected system, or citizens) and the same request answers
    with that case and writes nothing; the same key with another request is refused (422).
    ``request`` is what the sender sent beside the intake (Open311's location...), so that it
    counts as part of the request. Two requests at once with one key register one case: the
    second waits on the key's unique index until the first commits, then answers with its case.
    With no key (``None``) this is ``case_register``, not one query more.
    """
    if idempotency_key is None:
        return _case_register(actor=actor, intake=intake, system=system, forwarded=None, key=None)
    keyed = _keyed_request(idempotency_key, actor=actor, system=system, intake=intake, request=request)
    try:
        return _case_register(actor=actor, intake=intake, system=system, forwarded=None, key=keyed)
    except _IntakeKeyTaken:
        earlier = _intake_key_earlier(keyed)
        if earlier is None:  # the winner's key was purged in between: nothing sensible to answer
            raise
        return earlier


def intake_keys_purge(*, now: datetime.datetime | None = None) -> int:
    """Forget registrations' idempotency keys older than ``CASEWORK_INTAKE_KEY_DAYS`` (nightly, per county)."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.CASEWORK_INTAKE_KEY_DAYS)
    deleted, _by_model = IntakeKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _keyed_request(
    key: str, *, actor: User | None, system: str, intake: CaseIntake, request: dict[str, Any] | None
) -> _KeyedRequest:
    if not INTAKE_KEY_RE.fullmatch(key) or not key.strip():
        raise CaseworkError(
            CaseworkErrorCode.IDEMPOTENCY_KEY_INVALID,
            _("The Idempotency-Key header must be 1 to 128 printable ASCII characters."),
        )
    # Each sender has its own keys: two clerks (or a clerk and the 12345 platform) may pick the same one.
    scope = f"user:{actor.pk}" if actor is not None else f"system:{system}" if system else "citizen"
    canonical = json.dumps(
        {"intake": asdict(intake), "request": request or {}},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )  # fmt: skip
    # Keyed (the field-encryption keyring's hash key): a plain hash of a request whose other
    # fields sit in the case row would let anyone holding the table guess the sealed phone number.
    return _KeyedRequest(key=key, scope=scope, fingerprints=tuple(blind_indexes(canonical, purpose=INTAKE_KEY_PURPOSE)))


def _intake_key_earlier(key: _KeyedRequest) -> Registration | None:
    """The case an earlier request with this key registered; or refused when that request was another."""
    row = IntakeKey.objects.select_related("case__kind", "case__category").filter(scope=key.scope, key=key.key).first()
    if row is None:
        return None
    if row.fingerprint not in key.fingerprints:
        raise CaseworkError(
            CaseworkErrorCode.IDEMPOTENCY_KEY_REUSED,
            _(
                "This Idempotency-Key was already used for a different request. "
                "Use a new key for a new registration; nothing was registered."
            ),
            http_status=422,
        )
    return Registration(case=row.case, replayed=True)


def _intake_key_claim(key: _KeyedRequest, case_id: UUID) -> None:
    # ON CONFLICT DO NOTHING waits for a concurrent transaction holding the same key and then
    # returns no row if it committed: the caller's registration is rolled back and replays it.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO casework_intakekey (scope, key, fingerprint, case_id, created_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scope, key) DO NOTHING RETURNING id",
            [key.scope, key.key, key.fingerprints[0], case_id, timezone.now()],
        )
        claimed = cursor.fetchone() is not None
    if not claimed:
        raise _IntakeKeyTaken


def _case_register(
    *, actor: User | None, intake: CaseIntake, system: str, forwarded: ForwardedIn | None, key: _KeyedRequest | None
) -> Registration:
    if actor is not None:
        _require(actor, Action.REGISTER)
    elif intake.channel != Channel.ONLINE and not system:
        raise PermissionDeniedError(CaseworkErrorCode.PERMISSION_DENIED, _("Only staff may register at a window."))
    if key is not None:
        # Before the number is taken: a retry must not use up a case number.
        earlier = _intake_key_earlier(key)
        if earlier is not None:
            return earlier
    if (intake.channel == Channel.CROSS_REGION) != (forwarded is not None):
        raise _invalid("channel", _("Only a case forwarded by another county arrives by that channel."))
    problems: dict[str, str] = {}
    for name, limit in (("matter", 200), ("description", 5000), ("citizen_name", 64), ("company_name", 128)):
        value = getattr(intake, name).strip()
        if not value and name != "company_name":
            problems[name] = _("This field is required.")
        elif len(value) > limit:
            problems[name] = _("Too long: at most %(max)d characters.") % {"max": limit}
    if intake.channel not in Channel.values:
        problems["channel"] = _("Unknown channel.")
    if problems:
        raise CaseworkError(
            CaseworkErrorCode.INVALID,
            _("The case cannot be registered: %(problems)s") % {"problems": "; ".join(problems.values())},
            details=[{"field": f, "code": "invalid", "message": m} for f, m in problems.items()],
        )
    phone = normalize_phone(intake.citizen_phone)
    # One query for the configuration's generation; reference data, deadline rules, message
    # templates and webhook endpoints then come from memory while it is current (ADR 15).
    with configuration_snapshot():
        return _case_write(actor=actor, intake=intake, phone=phone, system=system, forwarded=forwarded, key=key)


def _case_write(
    *,
    actor: User | None,
    intake: CaseIntake,
    phone: str,
    system: str,
    forwarded: ForwardedIn | None,
    key: _KeyedRequest | None,
) -> Registration:
    kind, window, category, cause, departments = _intake_references(intake)

    now = timezone.now()
    year = timezone.localtime(now).year
    # Outside a caller's transaction the number is taken in a statement of its own: the row lock
    # that keeps numbers unique is then held for a moment, not for the whole registration, so
    # registrations of one county run side by side. The price: a registration that fails after
    # this point (the database failing, not bad input, which was refused above) leaves a gap.
    sequence = None if connection.in_atomic_block else _next_sequence(year)
    with transaction.atomic():
        case = Case(
            number=f"{current_county().case_prefix}-{year}-{sequence or _next_sequence(year):06d}",
            tracking_code=_tracking_code(forwarded),
            matter=intake.matter.strip(),
            description=intake.description.strip(),
            citizen_name=intake.citizen_name.strip(),
            citizen_phone=phone,
            company_name=intake.company_name.strip(),
            window=window,
            channel=intake.channel,
            kind=kind,
            category=category,
            cause=cause,
            is_urgent=intake.is_urgent,
            registered_by=actor,
            registered_at=now,
            forwarded_from=forwarded.county_code if forwarded else "",
            forward_id=forwarded.forward_id if forwarded else None,
        )
        if key is not None:
            # First in the transaction, so a concurrent retry waits here before writing anything
            # (the key's foreign key to the case is checked at commit).
            _intake_key_claim(key, case.pk)
        # A new case: its deadlines are known before the row is written, so one INSERT holds them.
        _deadlines_refresh(case, department_codes=tuple(d.code for d in departments), complete=True)
        # The rows travel together (ADR 20): the case, its links, its deadline entries, its event
        # and its audit link go with the SMS outbox row, whose answer is the one needed here.
        with rows_batched():
            row_insert(case)
            # A new case has no links yet: INSERTs, without the related manager's SELECT first.
            through = Case.departments_involved.through
            for department in departments:
                row_insert(through(case_id=case.pk, department_id=department.pk))
            _deadline_index_update(case, new=True)
            origin = {"channel": intake.channel} | ({"system": system} if system else {})
            _event(case, actor, "registered", "", CaseStatus.REGISTERED, data=origin)
            if forwarded is None:  # the citizen already has the tracking code from the first county
                _notify_citizen(case, "case.registered")
    return Registration(case=case)


def _tracking_code(forwarded: ForwardedIn | None) -> str:
    # A forwarded case keeps the citizen's tracking code when this county has not used it.
    if forwarded is not None and not Case.objects.filter(tracking_code=forwarded.tracking_code).exists():
        return forwarded.tracking_code
    return "".join(secrets.choice(TRACKING_ALPHABET) for _i in range(10))


def _next_sequence(year: int) -> int:
    # One statement takes the row lock and returns the new value, so concurrent registrations
    # in one county never share a number.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO casework_casesequence (year, last) VALUES (%s, 1) "
            "ON CONFLICT (year) DO UPDATE SET last = casework_casesequence.last + 1 RETURNING last",
            [year],
        )
        row = cursor.fetchone()
    assert row is not None  # noqa: S101 - RETURNING always yields the row
    return int(row[0])


# -- transitions ------------------------------------------------------------------------------


def case_accept(*, actor: User, case_id: UUID, version: int, note: str = "") -> Case:
    def change(case: Case) -> None:
        case.accepted_at = timezone.now()
        _notify_citizen(case, "case.accepted")

    return _transition(
        actor=actor, case_id=case_id, version=version, action=Action.ACCEPT, name="accepted",
        allowed_from=allowed_from(Step.ACCEPT), to=CaseStatus.ACCEPTED, note=note,
        change=change,
    )  # fmt: skip


def case_not_accept(*, actor: User, case_id: UUID, version: int, reason: str) -> Case:
    """不予受理, e.g. matters in litigation or petitions; the reason is required and kept."""
    reason = _required_text(reason, "reason")

    def change(case: Case) -> None:
        case.closed_at = timezone.now()
        _notify_citizen(case, "case.not_accepted", reason=reason)

    return _transition(
        actor=actor, case_id=case_id, version=version, action=Action.ACCEPT, name="not_accepted",
        allowed_from=allowed_from(Step.NOT_ACCEPT), to=CaseStatus.NOT_ACCEPTED, note=reason, change=change,
    )  # fmt: skip


def case_classify(
    *,
    actor: User,
    case_id: UUID,
    version: int,
    kind_code: str = "",
    category_code: str = "",
    cause_code: str = "",
) -> Case:
    """Set the kind, category and cause once the window knows why the matter failed."""
    kind = _reference(RequestKind, kind_code, "kind", _("request kind")) if kind_code else None
    category = _reference(Category, category_code, "category", _("category")) if category_code else None
    cause = _reference(Cause, cause_code, "cause", _("cause")) if cause_code else None

    def change(case: Case) -> dict[str, Any]:
        before = {"kind": case.kind.code, "category": _code(case.category), "cause": _code(case.cause)}
        if kind is not None:
            case.kind = kind
        if category is not None:
            case.category = category
        if cause is not None:
            case.cause = cause
        _deadlines_refresh(case)
        # The departments at work answer to the new rule's deadline, as after an extension.
        case.assignments.filter(status=AssignmentStatus.PENDING).update(due_at=case.resolution_due_at)
        return {
            "before": before,
            "after": {"kind": case.kind.code, "category": _code(case.category), "cause": _code(case.cause)},
        }

    return _transition(
        actor=actor, case_id=case_id, version=version, action=Action.CLASSIFY, name="classified",
        allowed_from=allowed_from(Step.CLASSIFY), to=None, change=change,
    )  # fmt: skip


def case_assign(
    *,
    actor: User,
    case_id: UUID,
    version: int,
    lead_department_code: str,
    co_department_codes: Iterable[str] = (),
    instructions: str = "",
) -> Case:
    """转办: give the case to one lead department (主办) and any co-handlers (协办)."""
    lead, co = _assignment_departments(lead_department_code, co_department_codes)

    def change(case: Case) -> dict[str, Any]:
        return _create_assignments(case, actor, lead, co, instructions)

    return _transition(
        actor=actor, case_id=case_id, version=version, action=Action.ASSIGN, name="assigned",
        allowed_from=allowed_from(Step.ASSIGN), to=CaseStatus.ASSIGNED,
        note=instructions, change=change,
    )  # fmt: skip


def case_co_handlers_add(
    *, actor: User, case_id: UUID, version: int, department_codes: Iterable[str], instructions: str = ""
) -> Case:
    """增加协办: while the lead department works, more departments join it as co-handlers.

    When a co-handler returns its part as not its business, the lead keeps working: the
    department that should help is added here, without taking the case from the lead.
    """
    departments = [_department(code, "co_departments") for code in dict.fromkeys(department_codes)]
    if not departments:
        raise _invalid("co_departments", _("Choose at least one department."))

    def change(case: Case) -> dict[str, Any]:
        working = set(case.assignments.filter(status=AssignmentStatus.PENDING).values_list("department_id", flat=True))
        for department in departments:
            if department.pk in working:
                raise _invalid(
                    "co_departments", _("%(name)s is already working on this case.") % {"name": department.name}
                )
        # A department's own rule may now apply to the case, and to everyone at work on it.
        _deadlines_refresh(case, department_codes=tuple(d.code for d in departments))
        case.assignments.filter(status=AssignmentStatus.PENDING).update(due_at=case.resolution_due_at)
        for department in departments:
            assignment = Assignment.objects.create(
                case=case, department=department, role=AssignmentRole.CO_HANDLER, instructions=instructions,
                assigned_by=actor, due_at=case.resolution_due_at,
            )  # fmt: skip
            _notify_staff(
                case, "case.assigned", _department_handlers(department.pk), event=f"assigned:{assignment.pk}",
                role=assignment.get_role_display(),
            )  # fmt: skip
        return {"co_handlers": [d.code for d in departments]}

    return _transition(
        actor=actor, case_id=case_id, version=version, action=Action.ASSIGN, name="co_handlers_added",
        allowed_from=allowed_from(Step.ADD_CO_HANDLERS), to=None, note=instructions, change=change,
    )  # fmt: skip


def case_accept_and_assign(
    *,
    actor: User,
    case_id: UUID,
    version: int,
    lead_department_code: str,
    co_department_codes: Iterable[str] = (),
    instructions: str = "",
) -> Case:
    """即收即转即办 (龙井市): accept and assign in one step; both appear on the timeline."""
    _require(actor, Action.ACCEPT)
    co_department_codes = tuple(co_department_codes)
    _assignment_departments(lead_department_code, co_department_codes)  # refuse unknown ones before accepting
    with transaction.atomic():
        case = case_accept(actor=actor, case_id=case_id, version=version, note=_("Accepted and assigned at once."))
        return case_assign(
            actor=actor, case_id=case_id, version=case.version, lead_department_code=lead_department_code,
            co_department_codes=co_department_codes, instructions=instructions,
        )  # fmt: skip


def assignment_complete(*, actor: User, assignment_id: UUID, result: str) -> Assignment:
    """A department records what it did. When the lead department is done, the case is handled."""
    result = _required_text(result, "result")
    return _assignment_finish(actor=actor, assignment_id=assignment_id, text=result, returned=False)


def assignment_return(*, actor: User, assignment_id: UUID, reason: str) -> Assignment:
    """退回: a department sends its assignment back with a reason; a returned lead needs reassigning."""
    reason = _required_text(reason, "reason")
    return _assignment_finish(actor=actor, assignment_id=assignment_id, text=reason, returned=True)


def case_request_materials(*, actor: User, case_id: UUID, version: int, note: str) -> Case:
    """补充材料: wait for the citizen; the deadline clocks pause until the materials arrive."""
    note = _required_text(note, "note")

    def change(case: Case) -> None:
        case.paused_from = case.status
        case.paused_at = timezone.now()
        _notify_citizen(case, "case.materials_requested", event=f"materials:{case.version}", note=note)

    return _transition(
        actor=actor, case_id=case_id, version=version, action=Action.PAUSE, name="materials_requested",
        allowed_from=allowed_from(Step.REQUEST_MATERIALS),
        to=CaseStatus.WAITING_MATERIALS, note=note, change=change,
    )  # fmt: skip


def case_materials_received(*, actor: User, case_id: UUID, version: int, note: str = "") -> Case:
    """The citizen's materials arrived: the clocks run again, later by the office time spent waiting."""
    return _resume(actor, case_id, version, Action.PAUSE, "materials_received", CaseStatus.WAITING_MATERIALS, note)


def case_escalate(*, actor: User, case_id: UUID, version: int, level: str, reason: str) -> Case:
    """上报: what the county cannot solve goes up (city, province); the answer is recorded later."""
    level = _required_text(level, "level")
    reason = _required_text(reason, "reason")

    def change(case: Case) -> dict[str, Any]:
        case.paused_from = case.status
        case.escalation_level = level
        return {"level": level}

    return _transition(
        actor=actor, case_id=case_id, version=version, action=Action.ESCALATE, name="escalated",
        allowed_from=allowed_from(Step.ESCALATE),
        to=CaseStatus.ESCALATED, note=reason, change=change,
    )  # fmt: skip


def case_escalation_answer(*, actor: User, case_id: UUID, version: int, answer: str) -> Case:
    answer = _required_text(answer, "answer")
    return _resume(actor, case_id, version, Action.ESCALATE, "escalation_answered", CaseStatus.ESCALATED, answer)


def case_reply(*, actor: User, case_id: UUID, version: int, method: str, content: str) -> Case:
    """答复: tell the citizen the outcome (a consultation may be answered without assigning)."""
    if method not in ReplyMethod.values:
        raise _invalid("method", _("Unknown reply method."))
    content = _required_text(content, "content")

    def change(case: Case) -> dict[str, Any]:
        if case.assignments.filter(status=AssignmentStatus.PENDING, role=AssignmentRole.LEAD).exists():
            raise _illegal(case, _("The lead department has not finished yet."))
        Reply.objects.create(case=case, method=method, content=content, replied_by=actor)
        case.replied_at = timezone.now()
        # Co-handlers still open are superseded by the answer (their rows stay, marked withdrawn).
        case.assignments.filter(status=AssignmentStatus.PENDING).update(
            status=AssignmentStatus.WITHDRAWN, finished_at=case.replied_at
        )
        _deadlines_refresh(case)  # the follow-up clock starts now
        _notify_citizen(case, "case.replied", event=f"replied:{case.version}")
        return {"method": method}

    return _transition(
        actor=actor, case_id=case_id, version=version, action=Action.REPLY, name="replied",
        allowed_from=allowed_from(Step.REPLY),
        to=CaseStatus.REPLIED, note=content, change=change,
    )  # fmt: skip


def case_follow_up(
    *,
    actor: User,
    case_id: UUID,
    version: int,
    outcome: str,
    note: str = "",
    rating_level: int | None = None,
    rating_comment: str = "",
) -> Case:
    """回访: call the citizen back. "Not solved" or a 差评 reopens the case for 重办."""
    if outcome not in FollowUpOutcome.values:
        raise _invalid("outcome", _("Unknown follow-up outcome."))
    if rating_level is not None and rating_level not in RatingLevel.values:
        raise _invalid("rating_level", _("A rating is one of the five levels, 1 to 5."))
    reopen = outcome == FollowUpOutcome.NOT_SOLVED or (rating_level is not None and _is_bad(rating_level))

    def change(case: Case) -> dict[str, Any]:
        FollowUp.objects.create(case=case, outcome=outcome, note=note, by=actor)
        if rating_level is not None:
            Rating.objects.create(case=case, level=rating_level, comment=rating_comment, source=RatingSource.FOLLOW_UP)
        if reopen:
            _reopen(case)
        return {"outcome": outcome, "rating": rating_level}

    return _transition(
        actor=actor, case_id=case_id, version=version, action=Action.FOLLOW_UP, name="followed_up",
        allowed_from=allowed_from(Step.FOLLOW_UP), to=CaseStatus.REOPENED if reopen else CaseStatus.FOLLOWED_UP,
        note=note, change=change,
    )  # fmt: skip


# Wrong phone digits for one tracking code, counted per county; past the limit the code answers
# nothing for the rest of the window. The per-address limits alone would let many addresses try
# all 10,000 endings of a known code.
LOOKUP_FAILURES_LIMIT = 10
LOOKUP_FAILURES_WINDOW_SECONDS = 3600


def case_lookup_by_citizen(*, tracking_code: str, phone_last4: str) -> Case:
    """The citizen's look-up (tracking, rating): ``selectors.case_lookup_by_tracking``, with wrong guesses counted."""
    # Hashed: whatever a citizen typed becomes a plain cache key.
    code = hashlib.sha256(tracking_code.strip().upper().encode()).hexdigest()[:32]
    if exceeded(scope="track-code-failures", key=code, limit=LOOKUP_FAILURES_LIMIT):
        raise CaseworkError(
            CaseworkErrorCode.LOOKUP_LOCKED,
            _("Too many wrong attempts for this tracking code; please try again in an hour."),
            http_status=429,
        )
    try:
        return case_lookup_by_tracking(tracking_code=tracking_code, phone_last4=phone_last4)
    except NotFoundError:
        allow(scope="track-code-failures", key=code, limit=LOOKUP_FAILURES_LIMIT,
              window_seconds=LOOKUP_FAILURES_WINDOW_SECONDS)  # fmt: skip
        raise


def case_rate_by_citizen(*, case_id: UUID, level: int, comment: str = "", source: str = RatingSource.CITIZEN) -> Case:
    """The citizen rates the reply from the tracking page (or through the external 好差评 system,
    ``source``); a 差评 reopens the case. One rating per source for each reply: after 重办 and a new
    reply the citizen rates once more (the follow-up rating of the rectification loop)."""
    if level not in RatingLevel.values:
        raise _invalid("level", _("A rating is one of the five levels, 1 to 5."))
    if source not in {RatingSource.CITIZEN, RatingSource.EXTERNAL}:
        raise _invalid("source", _("Unknown rating source."))
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if case.status not in {CaseStatus.REPLIED, CaseStatus.FOLLOWED_UP}:
            raise _illegal(case, _("A case can be rated after it has been replied to."))
        rated = case.ratings.filter(source=source)
        if case.replied_at is not None:
            rated = rated.filter(at__gte=case.replied_at)
        if rated.exists():
            raise ConflictError(CaseworkErrorCode.ILLEGAL_TRANSITION, _("This case has already been rated."))
        Rating.objects.create(case=case, level=level, comment=comment, source=source)
        from_status = case.status
        if _is_bad(level):
            case.status = CaseStatus.REOPENED
            _reopen(case)
        case.version += 1
        case.save()
        _deadline_index_update(case)
        _event(case, None, "rated", from_status, case.status, note=comment, data={"level": level, "source": source})
    return case


def case_archive(*, actor: User, case_id: UUID, version: int, note: str = "") -> Case:
    def change(case: Case) -> None:
        case.closed_at = case.closed_at or timezone.now()

    return _transition(
        actor=actor, case_id=case_id, version=version, action=Action.ARCHIVE, name="archived",
        allowed_from=allowed_from(Step.ARCHIVE), to=CaseStatus.ARCHIVED,
        note=note, change=change,
    )  # fmt: skip


def case_withdraw(*, actor: User, case_id: UUID, version: int, reason: str) -> Case:
    """撤回: the citizen withdraws; pending assignments are withdrawn with it."""
    reason = _required_text(reason, "reason")

    def change(case: Case) -> None:
        case.assignments.filter(status=AssignmentStatus.PENDING).update(
            status=AssignmentStatus.WITHDRAWN, finished_at=timezone.now()
        )
        case.closed_at = timezone.now()

    return _transition(
        actor=actor, case_id=case_id, version=version, action=Action.WITHDRAW, name="withdrawn",
        allowed_from=allowed_from(Step.WITHDRAW), to=CaseStatus.WITHDRAWN, note=reason, change=change,
    )  # fmt: skip


# -- deadlines --------------------------------------------------------------------------------


def case_deadlines_recompute(*, affected_from: datetime.date | None = None, every_running: bool = False) -> int:
    """Recompute due times after the calendar changed; returns how many cases' deadlines moved.

    Provisional deadlines (estimated past the known calendar) are always recomputed. With
    ``affected_from`` (the first day a correction changed), so is every case with a running clock
    due on or after that day: a deadline due before it was counted over unchanged days only. A
    correction leaves closed cases with the due times they were judged by, and a paused case is
    recomputed when it resumes. ``every_running`` takes every running clock, whatever its due date
    (the county changed its own holidays or office hours, which recur every year). Safe to repeat:
    an unchanged calendar moves and writes nothing.
    """
    # This worker may still hold the calendar from before the load.
    calendars_forget_all()
    affected = _deadlines_affected(affected_from, every_running=every_running)
    count = 0
    for case_id in list(Case.objects.filter(affected).values_list("pk", flat=True)):
        with transaction.atomic():
            # Filtered again under the lock: a case closed since it was listed keeps its due times.
            case = (
                Case.objects.select_for_update(of=("self",))
                .select_related("kind", "category", "cause")
                .filter(affected, pk=case_id)
                .first()
            )
            if case is None:
                continue
            before = {name: getattr(case, name) for name in DEADLINE_FIELDS}
            _deadlines_refresh(case)
            if before == {name: getattr(case, name) for name in DEADLINE_FIELDS}:
                continue
            case.save(update_fields=[*DEADLINE_FIELDS])
            case.assignments.filter(status=AssignmentStatus.PENDING).update(due_at=case.resolution_due_at)
            _deadline_index_update(case)
            _event(
                case, None, "deadlines_recomputed", case.status, case.status,
                data={"reply_due_at": str(case.reply_due_at), "resolution_due_at": str(case.resolution_due_at)},
            )  # fmt: skip
            count += 1
    return count


def _deadlines_affected(affected_from: datetime.date | None, *, every_running: bool = False) -> Q:
    affected = Q(deadline_provisional=True)
    if affected_from is None and not every_running:
        return affected
    since = None
    if affected_from is not None:
        since = datetime.datetime.combine(affected_from, datetime.time.min, tzinfo=SHANGHAI)
    clocks = (
        (ACCEPTANCE_RUNNING, "accept_due_at"),
        (REPLY_RUNNING, "reply_due_at"),
        (RESOLUTION_RUNNING, "resolution_due_at"),
        # 回访 runs once the citizen is answered (as in the deadline index).
        ({CaseStatus.REPLIED}, "follow_up_due_at"),
    )
    for statuses, deadline in clocks:
        due: dict[str, Any] = {f"{deadline}__isnull": False} if since is None else {f"{deadline}__gte": since}
        affected |= Q(status__in=statuses, **due)
    return affected


# -- extensions (延期) -------------------------------------------------------------------------

EXTENSION_MAX_DAYS = 30


def extension_request(*, actor: User, case_id: UUID, working_days: int, reason: str) -> ExtensionRequest:
    """A department asks for more working days, before its deadline, with a reason."""
    profile = _require(actor, Action.REQUEST_EXTENSION)
    reason = _required_text(reason, "reason")
    if not 1 <= working_days <= EXTENSION_MAX_DAYS:
        raise _invalid("working_days", _("Ask for 1 to %(max)d working days.") % {"max": EXTENSION_MAX_DAYS})
    with transaction.atomic():
        case = Case.objects.select_for_update(of=("self",)).select_related("kind").get(pk=case_id)
        pending = case.assignments.filter(status=AssignmentStatus.PENDING)
        if profile.role == StaffRole.DEPARTMENT_HANDLER:
            pending = pending.filter(department=profile.department)
        assignment = pending.select_related("department").first()
        if assignment is None:
            raise _illegal(case, _("Only a department working on the case can ask for more time."))
        due = case.resolution_due_at or case.reply_due_at
        if due is not None and timezone.now() >= due:
            raise _illegal(case, _("An extension must be asked for before the deadline."))
        if case.extensions.filter(status=ExtensionStatus.PENDING).exists():
            raise _illegal(case, _("An extension request is already waiting for a decision."))
        request = ExtensionRequest.objects.create(
            case=case, department=assignment.department, working_days=working_days, reason=reason, requested_by=actor
        )
        _event(
            case, actor, "extension_requested", case.status, case.status, note=reason,
            data={"working_days": working_days, "department": assignment.department.code},
        )  # fmt: skip
    return request


def extension_decide(*, actor: User, request_id: UUID, approve: bool, note: str = "") -> ExtensionRequest:
    """The supervisor approves (the deadlines move by the working days asked for) or refuses."""
    _require(actor, Action.DECIDE_EXTENSION)
    with transaction.atomic():
        request = ExtensionRequest.objects.select_for_update().get(pk=request_id)
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related("kind", "category", "cause")
            .get(pk=request.case_id)
        )
        if request.status != ExtensionStatus.PENDING:
            raise ConflictError(CaseworkErrorCode.ILLEGAL_TRANSITION, _("This request has already been decided."))
        # More time is for a department still at work on an open case: once it has finished, or
        # the case was replied to or withdrawn, the request can only be refused (which clears it).
        if approve and (
            case.status not in RESOLUTION_RUNNING
            or not case.assignments.filter(department=request.department, status=AssignmentStatus.PENDING).exists()
        ):
            raise _illegal(
                case, _("The department is no longer working on this case; the request can only be refused.")
            )
        request.status = ExtensionStatus.APPROVED if approve else ExtensionStatus.REFUSED
        request.decided_by = actor
        request.decided_at = timezone.now()
        request.decision_note = note
        request.save()
        if approve:
            case.extended_days += request.working_days
            _deadlines_refresh(case)
            case.assignments.filter(status=AssignmentStatus.PENDING).update(due_at=case.resolution_due_at)
            _notify_citizen(
                case, "case.extension_approved", event=f"extension:{request.pk}",
                days=request.working_days, reason=request.reason,
                due=_local(case.resolution_due_at or case.reply_due_at),
            )  # fmt: skip
        case.version += 1
        case.save()
        _deadline_index_update(case)
        # The citizen is told either way (notifications pick this event up).
        _event(
            case, actor, "extension_approved" if approve else "extension_refused", case.status, case.status,
            note=note, data={"working_days": request.working_days, "notify_citizen": True,
                             "resolution_due_at": str(case.resolution_due_at)},
        )  # fmt: skip
    return request


# -- attachments ------------------------------------------------------------------------------

# What a file is, judged by its first bytes; the name a browser sends proves nothing.
FILE_SIGNATURES: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "application/pdf": (b"%PDF-", (".pdf",)),
    "image/jpeg": (b"\xff\xd8\xff", (".jpg", ".jpeg")),
    "image/png": (b"\x89PNG\r\n\x1a\n", (".png",)),
}


def sniff_content_type(head: bytes) -> str | None:
    for content_type, (signature, _extensions) in FILE_SIGNATURES.items():
        if head.startswith(signature):
            return content_type
    return None


def _well_formed(upload: UploadedFile, content_type: str) -> bool:
    """Past the first bytes: an image Pillow can read the structure of, a PDF that ends as one does.

    A signature alone lets any file through with five right bytes in front (``%PDF-<html>…``,
    a JPEG marker before a program), which a reviewer's viewer would then be handed.
    """
    upload.seek(0)
    try:
        if content_type == "application/pdf":
            size = upload.size or 0
            upload.seek(max(0, size - 2048))
            return b"%%EOF" in upload.read()
        with Image.open(upload) as image:
            image.verify()
        return Image.MIME.get(image.format or "") == content_type
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False
    finally:
        upload.seek(0)


def attachment_add(*, actor: User, case_id: UUID, upload: UploadedFile) -> Attachment:
    """Attach a PDF, JPEG or PNG to a case, checked by its content and size, not by its name."""
    profile = _require(actor, Action.ATTACH)
    limit = settings.CASE_ATTACHMENT_MAX_BYTES
    name = os.path.basename(upload.name or "").strip() or "attachment"
    if upload.size is None or upload.size > limit:
        raise _upload_rejected(_("The file is larger than %(limit)d MB.") % {"limit": limit // (1024 * 1024)})
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    content_type = sniff_content_type(head)
    if content_type is None:
        raise _upload_rejected(_("Only PDF, JPEG and PNG files can be attached."))
    if not _well_formed(upload, content_type):
        raise _upload_rejected(
            _("The file looks like %(type)s at its start but is not a readable one.") % {"type": content_type}
        )
    extension = os.path.splitext(name)[1].lower()
    if extension not in FILE_SIGNATURES[content_type][1]:
        raise _upload_rejected(
            _("The file's name (%(name)s) does not match what it contains (%(type)s).")
            % {"name": name, "type": content_type}
        )
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if (
            profile.role == StaffRole.DEPARTMENT_HANDLER
            and not case.assignments.filter(department=profile.department, status=AssignmentStatus.PENDING).exists()
        ):
            raise PermissionDeniedError(
                CaseworkErrorCode.PERMISSION_DENIED, _("Your department has no open assignment on this case.")
            )
        attachment = Attachment(
            case=case,
            original_name=name[:255],
            content_type=content_type,
            size=upload.size,
            sha256=digest.hexdigest(),
            uploaded_by=actor,
        )
        # Stored under a random name in the county's own directory; the original name is kept as data.
        attachment.file.save(f"{uuid4().hex}{FILE_SIGNATURES[content_type][1][0]}", upload, save=False)
        attachment.save()
        case.version += 1
        case.save(update_fields=["version", "updated_at"])
        _event(case, actor, "attachment_added", case.status, case.status, note=name, data={"sha256": attachment.sha256})
    return attachment


def _upload_rejected(message: str) -> CaseworkError:
    return CaseworkError(
        CaseworkErrorCode.UPLOAD_REJECTED, message, details=[{"field": "file", "code": "rejected", "message": message}]
    )


# -- rectification ledger ---------------------------------------------------------------------


# A ledger entry is a commitment someone answers for; one due decades away commits nobody.
FINDING_DUE_MAX_DAYS = 3 * 366


def finding_raise(
    *,
    actor: User,
    title: str,
    cause_code: str,
    department_code: str,
    required_change: str,
    due_date: datetime.date,
    case_ids: Iterable[UUID],
) -> Finding:
    """整改台账: record a systemic cause found in one or more cases."""
    _require(actor, Action.LEDGER_WRITE)
    title = _required_text(title, "title")
    required_change = _required_text(required_change, "required_change")
    today = timezone.localdate()
    if due_date < today:
        raise _invalid("due_date", _("A rectification cannot be due before today."))
    if due_date > today + datetime.timedelta(days=FINDING_DUE_MAX_DAYS):
        raise _invalid("due_date", _("A rectification must be due within three years."))
    cause = _reference(Cause, cause_code, "cause", _("cause"))
    department = _department(department_code, "department")
    ids = list(dict.fromkeys(case_ids))
    cases = list(Case.objects.filter(pk__in=ids))
    if not ids or len(cases) != len(ids):
        raise CaseworkError(
            CaseworkErrorCode.UNKNOWN_REFERENCE,
            _("A finding names one or more cases of this county."),
            details=[{"field": "case_ids", "code": "unknown_reference", "message": _("Unknown case.")}],
        )
    with transaction.atomic():
        finding = Finding.objects.create(
            title=title,
            cause=cause,
            department=department,
            required_change=required_change,
            due_date=due_date,
            raised_by=actor,
        )
        finding.cases.set(cases)
        for case in cases:
            _event(
                case, actor, "finding_raised", case.status, case.status, note=title, data={"finding": str(finding.pk)}
            )
    return finding


def finding_action_add(*, actor: User, finding_id: UUID, description: str, rectified: bool = False) -> Finding:
    _require(actor, Action.LEDGER_WRITE)
    description = _required_text(description, "description")
    with transaction.atomic():
        finding = Finding.objects.select_for_update().get(pk=finding_id)
        if finding.status == FindingStatus.VERIFIED:
            raise ConflictError(CaseworkErrorCode.ILLEGAL_TRANSITION, _("This finding is already verified."))
        FindingAction.objects.create(finding=finding, description=description, by=actor)
        if rectified:
            finding.status = FindingStatus.RECTIFIED
        finding.version += 1
        finding.save(update_fields=["status", "version"])
    return finding


def finding_look_back(*, actor: User, finding_id: UUID, held: bool, note: str = "") -> Finding:
    """回头看: check later that the fix held; if it did not, the finding is open again."""
    _require(actor, Action.LEDGER_WRITE)
    with transaction.atomic():
        finding = Finding.objects.select_for_update().get(pk=finding_id)
        if finding.status != FindingStatus.RECTIFIED:
            raise ConflictError(
                CaseworkErrorCode.ILLEGAL_TRANSITION, _("Only a rectified finding can be looked back at.")
            )
        LookBack.objects.create(finding=finding, held=held, note=note, by=actor)
        finding.status = FindingStatus.VERIFIED if held else FindingStatus.RELAPSED
        finding.version += 1
        finding.save(update_fields=["status", "version"])
    return finding


# -- internals --------------------------------------------------------------------------------


def _transition(
    *,
    actor: User,
    case_id: UUID,
    version: int,
    action: Action,
    name: str,
    allowed_from: set[CaseStatus] | frozenset[CaseStatus],
    to: CaseStatus | None,
    note: str = "",
    change: Callable[[Case], dict[str, Any] | None] | None = None,
) -> Case:
    profile = _require(actor, action)
    with transaction.atomic():
        case = _lock(case_id, version)
        if (
            profile.role == StaffRole.DEPARTMENT_HANDLER
            and not case.assignments.filter(department=profile.department, status=AssignmentStatus.PENDING).exists()
        ):
            raise PermissionDeniedError(
                CaseworkErrorCode.PERMISSION_DENIED, _("Your department has no open assignment on this case.")
            )
        if case.status not in allowed_from:
            raise _illegal(
                case,
                _("This step is not possible while the case is “%(status)s”.") % {"status": case.get_status_display()},
            )
        from_status = case.status
        data = (change(case) if change is not None else None) or {}
        if to is not None:
            case.status = to
        # Classifying a paused case keeps it paused: only leaving the pause forgets where it was.
        if case.status not in {CaseStatus.WAITING_MATERIALS, CaseStatus.ESCALATED, CaseStatus.FORWARDING}:
            case.paused_from = ""
        case.version += 1
        case.save()
        _deadline_index_update(case)
        _event(case, actor, name, from_status, case.status, note=note, data=data)
    return case


def _resume(actor: User, case_id: UUID, version: int, action: Action, name: str, paused: CaseStatus, note: str) -> Case:
    def change(case: Case) -> dict[str, Any]:
        resumed = case.paused_from or CaseStatus.ACCEPTED
        case.status = resumed
        data: dict[str, Any] = {"resumed_to": resumed}
        if case.paused_at is not None:
            paused = paused_working_seconds(paused_at=case.paused_at, resumed_at=timezone.now())
            case.paused_seconds += paused
            case.clock_paused_seconds = _clock_pauses_added(case, paused)
            case.paused_at = None
            _deadlines_refresh(case)
            case.assignments.filter(status=AssignmentStatus.PENDING).update(due_at=case.resolution_due_at)
            data["paused_working_seconds"] = paused
        return data

    return _transition(
        actor=actor, case_id=case_id, version=version, action=action, name=name,
        allowed_from={paused}, to=None, note=note, change=change,
    )  # fmt: skip


def _assignment_finish(*, actor: User, assignment_id: UUID, text: str, returned: bool) -> Assignment:
    profile = _require(actor, Action.HANDLE_ASSIGNMENT)
    with transaction.atomic():
        assignment = Assignment.objects.select_related("department").get(pk=assignment_id)
        case = Case.objects.select_for_update().get(pk=assignment.case_id)
        assignment.refresh_from_db()
        if profile.role == StaffRole.DEPARTMENT_HANDLER and assignment.department_id != profile.department_id:
            raise PermissionDeniedError(
                CaseworkErrorCode.PERMISSION_DENIED, _("This assignment belongs to another department.")
            )
        if assignment.status != AssignmentStatus.PENDING:
            raise ConflictError(CaseworkErrorCode.ILLEGAL_TRANSITION, _("This assignment is already finished."))
        if case.status not in {CaseStatus.ASSIGNED, CaseStatus.PROCESSED}:
            raise _illegal(case, _("The case is not with the departments right now."))
        assignment.status = AssignmentStatus.RETURNED if returned else AssignmentStatus.DONE
        assignment.finished_at = timezone.now()
        assignment.finished_by = actor
        if returned:
            assignment.return_reason = text
        else:
            assignment.result = text
        assignment.save()
        from_status = case.status
        if assignment.role == AssignmentRole.LEAD:
            case.status = CaseStatus.ACCEPTED if returned else CaseStatus.PROCESSED
        if returned:
            _notify_staff(
                case, "case.returned", _staff_with_role(StaffRole.SUPERVISOR, StaffRole.WINDOW_CLERK),
                event=f"returned:{assignment.pk}", department=assignment.department.name, reason=text,
            )  # fmt: skip
        case.version += 1
        case.save(update_fields=["status", "version", "updated_at"])
        _deadline_index_update(case)
        _event(
            case,
            actor,
            "assignment_returned" if returned else "assignment_done",
            from_status,
            case.status,
            note=text,
            data={"department": assignment.department.code, "role": assignment.role},
        )
    return assignment


def _assignment_departments(lead_code: str, co_codes: Iterable[str]) -> tuple[Department, list[Department]]:
    lead = _department(lead_code, "lead_department")
    co = [_department(code, "co_departments") for code in dict.fromkeys(co_codes) if code != lead_code]
    return lead, co


def _create_assignments(
    case: Case, actor: User, lead: Department, co: list[Department], instructions: str
) -> dict[str, Any]:
    # A new assignment replaces what is still pending; the old rows stay, marked withdrawn.
    case.assignments.filter(status=AssignmentStatus.PENDING).update(
        status=AssignmentStatus.WITHDRAWN, finished_at=timezone.now()
    )
    # A department's own rule (邵阳县: company registration in 1 working day) now applies.
    _deadlines_refresh(case, department_codes=(lead.code, *(d.code for d in co)))
    Assignment.objects.create(
        case=case,
        department=lead,
        role=AssignmentRole.LEAD,
        instructions=instructions,
        assigned_by=actor,
        due_at=case.resolution_due_at,
    )
    for department in co:
        Assignment.objects.create(
            case=case,
            department=department,
            role=AssignmentRole.CO_HANDLER,
            instructions=instructions,
            assigned_by=actor,
            due_at=case.resolution_due_at,
        )
    for assignment in case.assignments.filter(status=AssignmentStatus.PENDING).select_related("department"):
        _notify_staff(
            case, "case.assigned", _department_handlers(assignment.department_id),
            event=f"assigned:{assignment.pk}", role=assignment.get_role_display(),
        )  # fmt: skip
    return {"lead": lead.code, "co_handlers": [d.code for d in co]}


def _clock_pauses_added(case: Case, paused: int) -> dict[str, int]:
    """Each clock's paused time with this pause added, for the clocks still before their deadline
    when the pause began. A clock already late stays late: asking the citizen for materials after
    the deadline must not move it into the future (and restart its warnings and escalations)."""
    assert case.paused_at is not None  # noqa: S101 - called when a pause ends
    shifts = dict(case.clock_paused_seconds)
    for clock, due_field in PAUSABLE_CLOCKS:
        due = getattr(case, due_field)
        if due is None or case.paused_at < due:
            shifts[clock] = shifts.get(clock, 0) + paused
    return shifts


PAUSABLE_CLOCKS = (
    (Clock.ACCEPTANCE, "accept_due_at"),
    (Clock.REPLY, "reply_due_at"),
    (Clock.RESOLUTION, "resolution_due_at"),
)


def _reopen(case: Case) -> None:
    """重办: the case is handled again, on fresh clocks from now."""
    case.reopen_count += 1
    case.clocks_started_at = timezone.now()
    case.paused_seconds = 0
    case.clock_paused_seconds = {}
    case.extended_days = 0
    case.replied_at = None
    _deadlines_refresh(case)


SYSTEM_ACTIONS = frozenset({"deadlines_recomputed", "deadline_warning", "overdue", "escalated_for_lateness"})
DEADLINE_FIELDS = ("accept_due_at", "reply_due_at", "resolution_due_at", "follow_up_due_at", "deadline_provisional")


def _deadlines_refresh(case: Case, *, department_codes: tuple[str, ...] | None = None, complete: bool = False) -> None:
    """Set the case's due times from the county's rules, its calendar and the time it spent paused.

    Department rules match the departments involved at intake and those the case is assigned to
    (``department_codes`` adds ones about to be assigned), the same set at every recomputation.
    """
    if not complete:  # ``complete``: the caller knows every department (a case being registered)
        involved = [d.code for d in case.departments_involved.all()]
        assigned = list(
            case.assignments.exclude(status=AssignmentStatus.WITHDRAWN).values_list("department__code", flat=True)
        )
        department_codes = tuple(dict.fromkeys([*involved, *assigned, *(department_codes or ())]))
    facts = CaseFacts(
        kind_code=case.kind.code,
        category_code=_code(case.category),
        cause_side=case.cause.side if case.cause is not None else "",
        cause_code=_code(case.cause),
        department_codes=department_codes or (),
    )
    deadlines = case_deadlines(
        facts=facts,
        start=case.clocks_started_at or case.registered_at,
        paused_seconds=case.clock_paused_seconds,
        extended_days=case.extended_days,
    )
    case.accept_due_at = deadlines.acceptance.due_at if deadlines.acceptance else None
    case.reply_due_at = deadlines.reply.due_at if deadlines.reply else None
    case.resolution_due_at = deadlines.resolution.due_at if deadlines.resolution else None
    follow_up = clock_deadline(clock=Clock.FOLLOW_UP, facts=facts, start=case.replied_at) if case.replied_at else None
    case.follow_up_due_at = follow_up.due_at if follow_up else None
    case.deadline_provisional = deadlines.provisional or bool(follow_up and follow_up.provisional)


def _deadline_index_update(case: Case, *, new: bool = False) -> None:
    """Tell the platform-wide deadline index which of this case's clocks are running now.

    Acceptance runs until the case is accepted, reply until the citizen is answered, resolution
    until the lead department is done; none runs while waiting for the citizen's materials.
    """
    deadline_index_sync(
        case_id=case.pk,
        started_at=case.clocks_started_at or case.registered_at,
        running={
            Clock.ACCEPTANCE: case.accept_due_at if case.status in ACCEPTANCE_RUNNING else None,
            Clock.REPLY: case.reply_due_at if case.status in REPLY_RUNNING else None,
            Clock.RESOLUTION: case.resolution_due_at if case.status in RESOLUTION_RUNNING else None,
            Clock.FOLLOW_UP: case.follow_up_due_at if case.status == CaseStatus.REPLIED else None,
        },
        calendar=county_calendar(),
        new=new,
        # Its warning day is judged from the reply: a follow-up window shorter than a working day
        # gets no warning, as any other clock that short.
        clock_started_at={Clock.FOLLOW_UP: case.replied_at} if case.replied_at else None,
    )


DEADLINE_EVENTS = {"warning": "deadline_warning", "overdue": "overdue", "escalation": "escalated_for_lateness"}


def deadline_events_fire(*, entry_ids: list[int]) -> int:
    """Record the warnings, overdue notices and escalations now due on these index entries.

    The claim and the timeline events share one transaction, so each fires exactly once however
    many sweeps or workers see the entry.
    """
    with transaction.atomic():
        # The cases first, then their entries, as every change of a case takes them. The other
        # order deadlocks with a clerk changing one of these cases at this moment: the sweep would
        # hold the entry and wait for the case, the clerk hold the case and wait for the entry. A
        # case being changed right now is left, unclaimed, to the next sweep a minute later.
        entry_cases = deadline_entry_cases(entry_ids=entry_ids)
        cases = {
            c.pk: c
            for c in Case.objects.select_for_update(of=("self",), skip_locked=True).filter(
                pk__in=set(entry_cases.values())
            )
        }
        free = [entry for entry, case_id in entry_cases.items() if case_id in cases]
        firings = deadline_entries_claim(entry_ids=free, now=timezone.now(), calendar=county_calendar())
        for firing in firings:
            case = cases.get(firing.case_id)
            if case is None:
                continue
            _event(
                case, None, DEADLINE_EVENTS[firing.kind], case.status, case.status,
                data={"clock": firing.clock, "level": firing.level, "due_at": firing.due_at.isoformat()},
            )  # fmt: skip
            _notify_deadline(case, firing)
    return len(firings)


# -- notifications ----------------------------------------------------------------------------


def _local(moment: datetime.datetime | None) -> str:
    return "" if moment is None else f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


# Anyone may submit online and name any mobile number: the matter they type goes out in the
# county's SMS. Shortened and without links or web addresses, it cannot carry a spammer's message.
MESSAGE_MATTER_CHARS = 30
WEB_ADDRESS_RE = re.compile(r"(?i)(?:[a-z][a-z0-9+.-]*://|www\.)\S*|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b\S*")


def message_matter(matter: str) -> str:
    """The matter as messages quote it: links and web addresses removed, at most 30 characters."""
    text = " ".join(WEB_ADDRESS_RE.sub("", matter).split())
    return text if len(text) <= MESSAGE_MATTER_CHARS else text[: MESSAGE_MATTER_CHARS - 1] + "…"


def _case_values(case: Case) -> dict[str, Any]:
    return {
        "county": current_county().full_name,
        "number": case.number,
        "matter": message_matter(case.matter),
        "tracking_code": case.tracking_code,
        "due": _local(case.resolution_due_at or case.reply_due_at),
    }


def _notify_citizen(case: Case, key: str, *, event: str = "", **values: Any) -> None:
    """An SMS to the citizen, in the same transaction as the change (landlines get none)."""
    if not MOBILE_RE.match(case.citizen_phone):
        return
    notification_enqueue(
        key=key, channel=NotificationChannel.SMS, recipient=case.citizen_phone,
        values=_case_values(case) | values, idempotency_key=f"{case.pk}:{event or key}:sms",
        urgent=case.is_urgent,
    )  # fmt: skip


def _notify_staff(case: Case, key: str, user_ids: Iterable[int], *, event: str, **values: Any) -> None:
    _notify_users(key, user_ids, event=f"{case.pk}:{event}", values=_case_values(case) | values)


def _notify_users(key: str, user_ids: Iterable[int], *, event: str, values: dict[str, Any]) -> None:
    """In-app messages to staff; ``event`` makes each one's idempotency key."""
    for user_id in user_ids:
        notification_enqueue(
            key=key, channel=NotificationChannel.INAPP, recipient=str(user_id),
            values=values, idempotency_key=f"{event}:inapp:{user_id}",
        )  # fmt: skip


def _staff_with_role(*roles: str) -> list[int]:
    return list(StaffProfile.objects.filter(role__in=roles, user__is_active=True).values_list("user_id", flat=True))


def _department_handlers(department_id: int) -> list[int]:
    return list(
        StaffProfile.objects.filter(
            role=StaffRole.DEPARTMENT_HANDLER, department_id=department_id, user__is_active=True
        ).values_list("user_id", flat=True)
    )


ESCALATION_LABELS = {1: gettext_lazy("supervising office"), 2: gettext_lazy("leaders"), 3: gettext_lazy("督办 notice")}


def _notify_deadline(case: Case, firing: Any) -> None:
    """Warnings go to whoever holds the case; overdue to supervisors; escalations up to leaders."""
    if firing.kind == "warning":
        pending = case.assignments.filter(status=AssignmentStatus.PENDING).values_list("department_id", flat=True)
        users = [u for d in pending for u in _department_handlers(d)] or _staff_with_role(StaffRole.WINDOW_CLERK)
        key = "deadline.warning"
    elif firing.kind == "overdue":
        users, key = _staff_with_role(StaffRole.SUPERVISOR), "deadline.overdue"
    else:
        roles = [StaffRole.LEADER] if firing.level == 2 else [StaffRole.LEADER, StaffRole.SUPERVISOR]
        users, key = _staff_with_role(*roles), "deadline.escalated"
    _notify_staff(
        case, key, users, event=f"{firing.kind}:{firing.clock}:{firing.level}:{firing.due_at.isoformat()}",
        clock=str(Clock(firing.clock).label) if firing.clock in Clock.values else firing.clock,
        level=str(ESCALATION_LABELS.get(firing.level, firing.level)),
        due=_local(firing.due_at),
    )  # fmt: skip


def _lock(case_id: UUID, version: int) -> Case:
    case = (
        Case.objects.select_for_update(of=("self",))
        .select_related("kind", "category", "cause")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise NotFoundError(CaseworkErrorCode.NOT_FOUND, _("No such case."))
    if case.version != version:
        raise ConflictError(
            CaseworkErrorCode.VERSION_CONFLICT,
            _(
                "Someone else changed this case a moment ago (now version %(current)d, you had %(yours)d). "
                "Reload it and try again; nothing was changed."
            )
            % {"current": case.version, "yours": version},
        )
    return case


def _event(
    case: Case,
    actor: User | None,
    action: str,
    from_status: str,
    to_status: str,
    *,
    note: str = "",
    data: dict[str, Any] | None = None,
    label: str = "",
) -> CaseEvent:
    # ``label``: the caller names who acted (another county, a connected system).
    if not label:
        if actor is not None:
            label = actor.name or actor.username
        else:
            label = _("System") if action in SYSTEM_ACTIONS else _("Citizen")
    # Connected systems (12345, 好差评) follow the timeline; no personal data leaves in it. An event
    # that leaves the version alone (a deadline's warning, overdue notice and escalation levels, a
    # finding raised) is told apart by what it says, so only a repeat of the same event is dropped.
    said = json.dumps([from_status, to_status, note, data or {}], sort_keys=True, ensure_ascii=False, default=str)
    webhook_event_publish(
        event=f"case.{action}",
        payload={"case_id": str(case.pk), "number": case.number, "from_status": from_status, "to_status": to_status},
        idempotency_key=f"{case.pk}:{action}:{case.version}:{hashlib.sha256(said.encode()).hexdigest()[:16]}",
    )
    if case.forward_id is not None and action not in FORWARD_SILENT_ACTIONS:
        _forward_progress_publish(case, action)
    event = CaseEvent(
        case=case,
        actor=actor,
        actor_label=label,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
        data=data or {},
    )
    row_insert(event)
    # Last: appending to the audit chain locks the county's trail until commit, so as little as
    # possible comes after it.
    audit_record(
        action=f"case.{action}", actor=actor, actor_label=str(label), object_type="case", object_id=case.pk,
        details={"from": from_status, "to": to_status},
    )  # fmt: skip
    return event


# A forwarded case's registration and acceptance reach the sending county as the acceptance itself.
# A co-handler being told that the lead returned a 多地联办 case (or that it was recalled from the lead)
# is news from there, not progress here.
FORWARD_SILENT_ACTIONS = frozenset(
    {"registered", "accepted", "attachment_added", "joint_lead_returned", "joint_lead_recalled"}
)


def _forward_progress_publish(case: Case, action: str) -> None:
    """Tell the county that forwarded this case how it is going: its status, never personal data."""
    assert case.forward_id is not None  # noqa: S101 - only called for forwarded cases
    envelope_post(
        kind=EnvelopeKind.PROGRESS, forward_id=case.forward_id, source_code=current_county().code,
        target_code=case.forwarded_from,
        payload={"action": action, "status": case.status, "version": case.version, "number": case.number},
    )  # fmt: skip


def _require(actor: User, action: Action) -> StaffProfile:
    profile = staff_profile_of(actor)
    if profile is None or not may(profile, action):
        raise PermissionDeniedError(CaseworkErrorCode.PERMISSION_DENIED, _("Your role may not do this."))
    return profile


REFERENCE_MODELS: tuple[type[Any], ...] = (RequestKind, Window, Category, Cause, Department)


def _reference_data() -> tuple[dict[str, Any], ...]:
    """The county's active kinds, windows, categories, causes and departments, by code.

    Registration is the busiest write: inside a configuration snapshot these come from memory
    while the county's configuration is unchanged (ADR 15), and otherwise in one query.
    """
    return config_cached("casework.references", _reference_data_load)


def _reference_data_load() -> tuple[dict[str, Any], ...]:
    quote = connection.ops.quote_name
    sql = " UNION ALL ".join(
        f"SELECT {position}, row_to_json(t)::text FROM {quote(model._meta.db_table)} t WHERE t.is_active"  # noqa: S608
        for position, model in enumerate(REFERENCE_MODELS)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
    found: tuple[dict[str, Any], ...] = tuple({} for _model in REFERENCE_MODELS)
    for position, row in rows:
        model, data = REFERENCE_MODELS[position], json.loads(row)
        names = [f.attname for f in model._meta.concrete_fields]
        instance = model.from_db(connection.alias, names, [data[name] for name in names])
        found[position][instance.code] = instance
    return found


def _intake_references(
    intake: CaseIntake,
) -> tuple[RequestKind, Window | None, Category | None, Cause | None, list[Department]]:
    """The kind, window, category, cause and departments an intake names (shared objects: read only).

    Unknown or inactive codes get the same errors, in the same order, as looking each up alone.
    """
    found = _reference_data()

    def one(position: int, code: str, field_name: str, label: str) -> Any:
        if not code:
            return None
        if code not in found[position]:
            return _reference(REFERENCE_MODELS[position], code, field_name, label)  # raises the usual error
        return found[position][code]

    kind = one(0, intake.kind_code, "kind", _("request kind"))
    window = one(1, intake.window_code, "window", _("window"))
    category = one(2, intake.category_code, "category", _("category"))
    cause = one(3, intake.cause_code, "cause", _("cause"))
    department_codes = tuple(dict.fromkeys(intake.department_codes))
    departments = [one(4, code, "department_codes", _("department")) for code in department_codes]
    return kind, window, category, cause, departments


def _reference(model: type[Any], code: str, field_name: str, label: str) -> Any:
    row = model.objects.filter(code=code, is_active=True).first()
    if row is None:
        raise CaseworkError(
            CaseworkErrorCode.UNKNOWN_REFERENCE,
            _("Unknown %(label)s “%(code)s”.") % {"label": label, "code": code},
            details=[
                {
                    "field": field_name,
                    "code": "unknown_reference",
                    "message": _("Unknown %(label)s “%(code)s”.") % {"label": label, "code": code},
                }
            ],
        )
    return row


def _department(code: str, field_name: str) -> Department:
    return _reference(Department, code, field_name, _("department"))


def _required_text(value: str, field_name: str) -> str:
    value = (value or "").strip()
    if not value:
        raise _invalid(field_name, _("This field is required."))
    return value


def _invalid(field_name: str, message: str) -> CaseworkError:
    return CaseworkError(
        CaseworkErrorCode.INVALID, message, details=[{"field": field_name, "code": "invalid", "message": message}]
    )


def _illegal(case: Case, message: str) -> ConflictError:
    return ConflictError(CaseworkErrorCode.ILLEGAL_TRANSITION, message, details=[{"status": case.status}])


def _is_bad(level: int) -> bool:
    return level <= RatingLevel.DISSATISFIED


def _code(row: Any) -> str:
    return row.code if row is not None else ""
