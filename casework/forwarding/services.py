"""跨域通办: forwarding a case to another county, and taking over or returning one sent here.

Each side writes only its own schema. A change that the other county must learn about writes an
envelope to the public exchange in the same transaction (``envelope_post``); the task
``forwarding.deliver_envelope`` runs in the receiving county's schema and applies the envelope
with ``envelope_apply``, which marks it delivered in that same transaction. An envelope therefore
takes effect exactly once, whichever worker dies or repeats.

Only what the other county needs crosses: the matter, the description, the citizen's name and
contact, and the attachments the sender chose. Both sides write a processing record (PIPL) of
which personal fields went, to whom and why.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from banchengshi.accounts.models import User
from banchengshi.errors import ApplicationError
from banchengshi.observability.scrub import person_text_cleaner
from banchengshi.personal_data import seal
from banchengshi.tenancy import current_county, current_schema
from casework import services as casework_services
from casework.errors import CaseworkError, CaseworkErrorCode, ConflictError, NotFoundError
from casework.exchange.errors import ExchangeError, ExchangeErrorCode
from casework.exchange.models import Envelope, EnvelopeKind
from casework.exchange.selectors import county_entry, forward_allowed
from casework.exchange.services import (
    envelope_claim,
    envelope_mark_delivered,
    envelope_note_failure,
    envelope_post,
    envelope_set_aside,
    envelopes_rewrite,
)
from casework.forwarding.models import (
    PAYLOAD_PHONE_PURPOSE,
    Forward,
    ForwardDirection,
    ForwardMode,
    ForwardRole,
    ForwardStatus,
    PersonalDataTransfer,
    TransferDirection,
)
from casework.models import (
    ANONYMISED,
    OPEN_STATUSES,
    AssignmentStatus,
    Attachment,
    Case,
    CaseStatus,
    Channel,
    StaffRole,
)
from casework.policy import Action
from casework.workflow import Step, allowed_from
from notifications.services import notifications_scrub
from sla.selectors import paused_working_seconds

logger = logging.getLogger(__name__)

# The personal fields that cross with a forward, named in the processing record.
PERSONAL_FIELDS = ("citizen_name", "citizen_phone", "company_name")


@dataclass(frozen=True)
class ForwardTarget:
    county_code: str
    role: str = ForwardRole.LEAD


def _sentences(*parts: str) -> str:
    """Sentences of a note one after the other: Chinese puts no space between them."""
    language = translation.get_language() or ""
    return ("" if language.startswith("zh") else " ").join(part for part in parts if part)


def exchange_storage() -> FileSystemStorage:
    """Attachments in transit, outside every county's directory; the receiver copies them in."""
    return FileSystemStorage(location=Path(settings.MEDIA_ROOT) / "exchange")


# -- county A: forward -----------------------------------------------------------------------


def case_forward(
    *,
    actor: User,
    case_id: UUID,
    version: int,
    targets: Iterable[ForwardTarget],
    mode: str,
    reason: str,
    attachment_ids: Iterable[UUID] = (),
) -> list[Forward]:
    """Send a case to another county (or, 多地联办, to several with one lead) with a reason."""
    casework_services._require(actor, Action.FORWARD)
    reason = casework_services._required_text(reason, "reason")
    if mode not in ForwardMode.values:
        raise casework_services._invalid("mode", _("Unknown forwarding mode."))
    chosen = _targets_checked(list(targets), mode)
    here = current_county()
    source = county_entry(code=here.code)
    entries = []
    for target in chosen:
        entry = county_entry(code=target.county_code)
        if entry is None or source is None or not forward_allowed(source=source, target=entry):
            raise CaseworkError(
                CaseworkErrorCode.UNKNOWN_REFERENCE,
                _("This county may not forward cases to “%(code)s”.") % {"code": target.county_code},
                details=[{"field": "targets", "code": "not_allowed", "message": target.county_code}],
            )
        entries.append((target, entry))
    wanted = list(dict.fromkeys(attachment_ids))
    attachments = list(Attachment.objects.filter(case_id=case_id, pk__in=wanted))
    if len(attachments) != len(wanted):
        raise CaseworkError(
            CaseworkErrorCode.UNKNOWN_REFERENCE, _("Only this case's own attachments can be sent with it."),
            details=[{"field": "attachment_ids", "code": "unknown_reference", "message": _("Unknown attachment.")}],
        )  # fmt: skip
    group_id = uuid4()
    forwards: list[Forward] = []

    def change(case: Case) -> dict[str, Any]:
        # A case returned by its lead is "accepted" again while a co-handler may still be at work:
        # sent away then, that assignment would wait for ever in a queue nobody can close.
        if case.assignments.filter(status=AssignmentStatus.PENDING).exists():
            raise casework_services._illegal(
                case, _("A department of this county is still working on this case; it can be forwarded once none is.")
            )
        case.paused_from = case.status
        files = _attachments_to_exchange(group_id, attachments)
        for target, entry in entries:
            forward = Forward.objects.create(
                direction=ForwardDirection.OUT, case=case, counterpart_code=entry.code, counterpart_name=entry.name,
                mode=mode, role=target.role, group_id=group_id, reason=reason, created_by=actor,
            )  # fmt: skip
            PersonalDataTransfer.objects.create(
                forward=forward, direction=TransferDirection.PROVIDED, counterpart_code=entry.code,
                counterpart_name=entry.name, fields=list(PERSONAL_FIELDS), purpose=reason, by=actor,
                attachment_names=[f["name"] for f in files],
            )  # fmt: skip
            envelope_post(
                kind=EnvelopeKind.FORWARD, forward_id=forward.pk, source_code=here.code, target_code=entry.code,
                payload={
                    "source_name": here.full_name, "number": case.number, "tracking_code": case.tracking_code,
                    "mode": mode, "role": target.role, "group_id": str(group_id), "reason": reason,
                    "matter": case.matter, "description": case.description, "citizen_name": case.citizen_name,
                    "citizen_phone": seal(case.citizen_phone, purpose=PAYLOAD_PHONE_PURPOSE),
                    "company_name": case.company_name,
                    "is_urgent": case.is_urgent, "kind_code": case.kind.code, "attachments": files,
                    "registered_at": case.registered_at.isoformat(),
                },
            )  # fmt: skip
            forwards.append(forward)
        return {"mode": mode, "targets": [{"county": e.code, "name": e.name, "role": t.role} for t, e in entries]}

    casework_services._transition(
        actor=actor, case_id=case_id, version=version, action=Action.FORWARD, name="forwarded",
        allowed_from=allowed_from(Step.FORWARD), to=CaseStatus.FORWARDING, note=reason, change=change,
    )  # fmt: skip
    return forwards


def _targets_checked(targets: list[ForwardTarget], mode: str) -> list[ForwardTarget]:
    codes = [t.county_code for t in targets]
    leads = [t for t in targets if t.role == ForwardRole.LEAD]
    if not targets or len(set(codes)) != len(codes) or any(t.role not in ForwardRole.values for t in targets):
        raise casework_services._invalid("targets", _("Name each county once, with its role."))
    if mode == ForwardMode.JOINT and (len(targets) < 2 or len(leads) != 1):
        raise casework_services._invalid(
            "targets", _("多地联办 needs at least two counties, exactly one of them the lead.")
        )
    if mode != ForwardMode.JOINT and (len(targets) != 1 or len(leads) != 1):
        raise casework_services._invalid("targets", _("This mode forwards to exactly one county, as the lead."))
    return targets


def _attachments_to_exchange(group_id: UUID, attachments: list[Attachment]) -> list[dict[str, Any]]:
    """Copy the chosen files to the exchange area; the receiving county checks and copies them in."""
    storage = exchange_storage()
    files = []
    for attachment in attachments:
        with attachment.file.open("rb") as handle:
            content = handle.read()
        suffix = Path(attachment.file.name or "").suffix
        path = storage.save(f"{group_id}/{attachment.sha256}{suffix}", ContentFile(content))
        files.append(
            {"name": attachment.original_name, "content_type": attachment.content_type, "size": attachment.size,
             "sha256": attachment.sha256, "path": path}
        )  # fmt: skip
    return files


# -- county B: take over or return ------------------------------------------------------------


def case_forward_recall(*, actor: User, case_id: UUID, version: int, reason: str) -> Case:
    """Ask for a case back before the other county has decided (it never answers, it was a mistake).

    The case stays "being forwarded" until the answer: a forward still waiting there is recalled
    and the case comes back as it left; one already taken over stays taken over, and the case
    becomes "forwarded" as usual. Either county deciding first wins, so nothing is handled twice.
    """
    reason = casework_services._required_text(reason, "reason")
    leads_gone: list[Forward] = []

    def change(case: Case) -> dict[str, Any]:
        waiting = list(
            Forward.objects.select_for_update().filter(
                case=case, direction=ForwardDirection.OUT, status=ForwardStatus.PENDING
            )
        )
        gone = []
        for forward in waiting:
            posted = envelope_post(
                kind=EnvelopeKind.RECALL, forward_id=forward.pk, source_code=current_county().code,
                target_code=forward.counterpart_code, payload={"reason": reason},
            )  # fmt: skip
            if posted is None:
                # That county has left the platform: nobody is left to answer, so the forward is
                # recalled here and now.
                _outgoing_close(forward, case, recalled=True, reason=reason)
                gone.append(forward.counterpart_code)
                if forward.role == ForwardRole.LEAD:
                    leads_gone.append(forward)
        return {"counties": [forward.counterpart_code for forward in waiting], "recalled_at_once": gone}

    with transaction.atomic():
        case = casework_services._transition(
            actor=actor, case_id=case_id, version=version, action=Action.FORWARD, name="forward_recall_requested",
            allowed_from=allowed_from(Step.RECALL_FORWARD), to=None, note=reason, change=change,
        )  # fmt: skip
        for lead in leads_gone:
            # Still locked by the transition: the joint handling ends after the request that ended it.
            _co_handlers_release(lead, case)
    return case


def forward_accept(
    *, actor: User, forward_id: UUID, kind_code: str, category_code: str = "", note: str = ""
) -> Forward:
    """Take a forwarded case over: it becomes this county's case, on this county's rules and calendar."""
    casework_services._require(actor, Action.FORWARD)
    with transaction.atomic():
        forward = _incoming_locked(forward_id)
        payload = forward.payload
        intake = casework_services.CaseIntake(
            matter=payload["matter"], description=payload["description"], citizen_name=payload["citizen_name"],
            citizen_phone=forward.citizen_phone, company_name=payload.get("company_name", ""),
            channel=Channel.CROSS_REGION, kind_code=kind_code, category_code=category_code,
            is_urgent=bool(payload.get("is_urgent")),
        )  # fmt: skip
        origin = casework_services.ForwardedIn(
            county_code=forward.counterpart_code, forward_id=forward.pk, tracking_code=payload.get("tracking_code", "")
        )
        case = casework_services.case_register(actor=actor, intake=intake, forwarded=origin)
        _attachments_from_exchange(case, actor, payload.get("attachments", []), forward.group_id)
        note = note or _("Taken over from %(county)s (%(number)s).") % {
            "county": forward.counterpart_name, "number": forward.remote_number,
        }  # fmt: skip
        if origin.tracking_code and case.tracking_code != origin.tracking_code:
            # The citizen would look it up with the code they have: staff here must know why it fails.
            note = _sentences(
                note,
                _(
                    "The citizen's tracking code %(old)s is already used by another case here: this case has the new "
                    "code %(code)s, which %(county)s sends to the citizen."
                )
                % {"old": origin.tracking_code, "code": case.tracking_code, "county": forward.counterpart_name},
            )
        case = casework_services.case_accept(actor=actor, case_id=case.pk, version=case.version, note=note)
        forward.case = case
        forward.status = ForwardStatus.ACCEPTED
        forward.decided_at = timezone.now()
        forward.decided_by = actor
        forward.save(update_fields=["case", "status", "decided_at", "decided_by"])
        envelope_post(
            kind=EnvelopeKind.ACCEPTED, forward_id=forward.pk, source_code=current_county().code,
            target_code=forward.counterpart_code,
            payload={"number": case.number, "status": case.status, "version": case.version,
                     "county_slug": current_county().slug, "tracking_code": case.tracking_code},
        )  # fmt: skip
    return forward


def forward_return(*, actor: User, forward_id: UUID, reason: str) -> Forward:
    """Send a forwarded case back with a reason; the sending county handles it again."""
    casework_services._require(actor, Action.FORWARD)
    reason = casework_services._required_text(reason, "reason")
    with transaction.atomic():
        forward = _incoming_locked(forward_id)
        forward.status = ForwardStatus.RETURNED
        forward.return_reason = reason
        forward.decided_at = timezone.now()
        forward.decided_by = actor
        forward.save(update_fields=["status", "return_reason", "decided_at", "decided_by"])
        envelope_post(
            kind=EnvelopeKind.RETURNED, forward_id=forward.pk, source_code=current_county().code,
            target_code=forward.counterpart_code, payload={"reason": reason},
        )  # fmt: skip
    return forward


def county_departure_settle(*, reason: str) -> dict[str, int]:
    """Answer every forward still undecided between this county and others, as it leaves the platform.

    Runs in the leaving county's schema, in the transaction that removes it. A forward sent here
    and not decided (or not even delivered yet) goes back to its sender as returned, or recalled
    if the sender had asked for it back; one sent from here is recalled from the other county's
    inbox. A case taken over from another county and still open here goes back to its sender too
    (``_receive_taken_back``). Otherwise the other counties would keep cases "being forwarded", or
    "taken over", by a county that no longer exists, and entries in their inbox from one that
    cannot hear their answer.
    """
    here = current_county().code
    inbox = Envelope.objects.filter(target_code=here, delivered_at__isnull=True)
    asked_back = set(inbox.filter(kind=EnvelopeKind.RECALL).values_list("forward_id", flat=True))
    senders = {
        forward.pk: forward.counterpart_code
        for forward in Forward.objects.select_for_update().filter(
            direction=ForwardDirection.IN, status=ForwardStatus.PENDING
        )
    }
    # Forwards still in transit: never received here, yet their senders wait too.
    for forward_id, source_code in inbox.filter(kind=EnvelopeKind.FORWARD).values_list("forward_id", "source_code"):
        if not Forward.objects.filter(pk=forward_id).exists():
            senders[forward_id] = source_code
    for forward_id, source_code in senders.items():
        envelope_post(
            kind=EnvelopeKind.RETURNED, forward_id=forward_id, source_code=here, target_code=source_code,
            payload={"reason": reason, "recalled": forward_id in asked_back},
        )  # fmt: skip
    sent = list(
        Forward.objects.select_for_update().filter(direction=ForwardDirection.OUT, status=ForwardStatus.PENDING)
    )
    for forward in sent:
        envelope_post(
            kind=EnvelopeKind.RECALL, forward_id=forward.pk, source_code=here,
            target_code=forward.counterpart_code, payload={"reason": reason},
        )  # fmt: skip
    # Cases taken over from others and still open here would go with this schema: each goes back
    # to its sender, which handles it again. Finished ones stay finished there (their sender's
    # record keeps the last status it heard of).
    taken = list(
        Forward.objects.select_for_update(of=("self",))
        .filter(direction=ForwardDirection.IN, status=ForwardStatus.ACCEPTED, case__status__in=OPEN_STATUSES)
        .select_related("case")
    )
    for forward in taken:
        envelope_post(
            kind=EnvelopeKind.RETURNED, forward_id=forward.pk, source_code=here, target_code=forward.counterpart_code,
            payload={"reason": reason, "taken_back": True},
        )  # fmt: skip
    return {"returned": len(senders), "recalled": len(sent), "taken_back": len(taken)}


def _incoming_locked(forward_id: UUID) -> Forward:
    forward = Forward.objects.select_for_update().filter(pk=forward_id, direction=ForwardDirection.IN).first()
    if forward is None:
        raise NotFoundError(CaseworkErrorCode.NOT_FOUND, _("No such forward."))
    if forward.status != ForwardStatus.PENDING:
        raise ConflictError(CaseworkErrorCode.ILLEGAL_TRANSITION, _("This forward has already been decided."))
    return forward


def _attachments_from_exchange(case: Case, actor: User, files: list[dict[str, Any]], group_id: UUID) -> None:
    for item in files:
        content_type, content = _exchange_file_read(item, group_id)
        name = os.path.basename(str(item.get("name") or "").replace("\\", "/")).strip() or "attachment"
        attachment = Attachment(
            case=case, original_name=name[:255], content_type=content_type, size=len(content),
            sha256=item["sha256"], uploaded_by=actor,
        )  # fmt: skip
        # Named and typed by what it contains, as an upload here would be: the sender's word is data.
        extension = casework_services.FILE_SIGNATURES[content_type][1][0]
        attachment.file.save(f"{uuid4().hex}{extension}", ContentFile(content), save=False)
        attachment.save()


# What the sending county writes: "<group id>/<sha256>[_<storage's suffix>].<ext>" (``exchange_storage``).
EXCHANGE_FILE_NAME_RE = re.compile(r"[0-9A-Za-z_-]{1,100}(\.[0-9A-Za-z]{1,8})?")


def _exchange_file_read(item: Any, group_id: UUID) -> tuple[str, bytes]:
    """One file of an incoming forward, checked: its place, its size, its checksum, what it is.

    The list comes from another county's row: a path outside this forward's own directory of the
    exchange (another forward's file in transit, or anywhere else on disk) is never opened.
    """
    label = str(item.get("name", "")) if isinstance(item, dict) else ""
    path = str(item.get("path", "")) if isinstance(item, dict) else ""
    directory, _slash, file_name = path.partition("/")
    if (
        directory != str(group_id)
        or not EXCHANGE_FILE_NAME_RE.fullmatch(file_name)
        or not re.fullmatch(r"[0-9a-f]{64}", str(item.get("sha256", "")))
    ):
        logger.warning("forwarded attachment refused: path %r is not in its forward's directory", path[:200])
        raise _transit_refused(_("A forwarded attachment arrived damaged."), "damaged", label)
    limit = settings.CASE_ATTACHMENT_MAX_BYTES
    too_large = _transit_refused(
        _("A forwarded attachment is larger than %(limit)d MB.") % {"limit": limit // (1024 * 1024)}, "too_large", label
    )
    storage = exchange_storage()
    try:
        if storage.size(path) > limit:
            raise too_large
        with storage.open(path, "rb") as handle:
            content = handle.read(limit + 1)
    except OSError as exc:
        raise _transit_refused(
            _("A forwarded attachment is missing from the exchange; ask the sending county to forward the case again."),
            "missing", label,
        ) from exc  # fmt: skip
    if len(content) > limit:
        raise too_large
    if hashlib.sha256(content).hexdigest() != item["sha256"]:
        raise _transit_refused(_("A forwarded attachment arrived damaged."), "damaged", label)
    content_type = casework_services.sniff_content_type(content[:16])
    if content_type is None or not casework_services._well_formed(ContentFile(content), content_type):  # type: ignore[arg-type]
        raise _transit_refused(_("A forwarded attachment is not a readable PDF, JPEG or PNG file."), "rejected", label)
    return content_type, content


def _transit_refused(message: str, code: str, name: str) -> CaseworkError:
    return CaseworkError(
        CaseworkErrorCode.UPLOAD_REJECTED, message,
        details=[{"field": "attachments", "code": code, "message": name[:255]}],
    )  # fmt: skip


# -- applying envelopes (in the receiving county's schema) -----------------------------------


class _UnknownForward(Exception):
    """An answer about a forward this county never sent: it can never take effect here."""


UNKNOWN_FORWARD = "forwarding.unknown_forward"


def envelope_apply(*, envelope_id: UUID) -> bool:
    """Apply one envelope addressed to this county; False if it was already applied (a repeat)
    or can never be (set aside)."""
    try:
        with transaction.atomic():
            envelope = envelope_claim(envelope_id=envelope_id, schema_name=current_schema())
            if envelope is None:
                return False
            try:
                with transaction.atomic():
                    APPLY[EnvelopeKind(envelope.kind)](envelope)
            except _UnknownForward:
                # An outgoing forward is written with its forward envelope, before any answer can
                # exist: one missing here never comes (this county re-onboarded under its old
                # code, say). Retried, it would fail every minute for ever.
                logger.warning("%s envelope %s set aside: no forward %s here", envelope.kind, envelope.pk,
                               envelope.forward_id)  # fmt: skip
                envelope_set_aside(envelope=envelope, code=UNKNOWN_FORWARD)
                return False
            envelope_mark_delivered(envelope=envelope)
    except Exception as exc:
        # Recorded outside the rolled-back transaction: the relay sends the least tried first.
        code = exc.code if isinstance(exc, ApplicationError) else type(exc).__name__
        try:
            envelope_note_failure(envelope_id=envelope_id, code=str(code))
        except Exception:  # noqa: BLE001 - the database itself failing: the original error matters
            logger.warning("failure of envelope %s not recorded", envelope_id)
        raise
    return True


def _receive_forward(envelope: Envelope) -> None:
    payload = envelope.payload
    if Forward.objects.filter(pk=envelope.forward_id).exists():
        return
    forward = Forward.objects.create(
        id=envelope.forward_id, direction=ForwardDirection.IN, counterpart_code=envelope.source_code,
        counterpart_name=payload["source_name"], mode=payload["mode"], role=payload["role"],
        group_id=UUID(payload["group_id"]), reason=payload["reason"], remote_number=payload["number"],
        payload=payload,
    )  # fmt: skip
    PersonalDataTransfer.objects.create(
        forward=forward, direction=TransferDirection.RECEIVED, counterpart_code=envelope.source_code,
        counterpart_name=payload["source_name"], fields=list(PERSONAL_FIELDS), purpose=payload["reason"],
        attachment_names=[f["name"] for f in payload.get("attachments", [])],
    )  # fmt: skip
    recipients = casework_services._staff_with_role(StaffRole.WINDOW_CLERK, StaffRole.SUPERVISOR)
    casework_services._notify_users(
        "forward.received", recipients, event=f"forward-in:{forward.pk}",
        values={"county": current_county().full_name, "from_county": forward.counterpart_name,
                "number": forward.remote_number, "matter": payload["matter"], "reason": forward.reason},
    )  # fmt: skip


def _receive_recall(envelope: Envelope) -> None:
    forward = Forward.objects.select_for_update().filter(pk=envelope.forward_id, direction=ForwardDirection.IN).first()
    if forward is None:
        # Envelopes may arrive out of order: undelivered, this one is relayed again after the forward.
        raise ExchangeError(ExchangeErrorCode.NOT_FOUND, "the recalled forward has not arrived yet")
    if forward.status != ForwardStatus.PENDING:
        return  # decided here first: the sender learns it from that decision's own envelope
    forward.status = ForwardStatus.RECALLED
    forward.return_reason = envelope.payload["reason"]
    forward.decided_at = timezone.now()
    forward.save(update_fields=["status", "return_reason", "decided_at"])
    envelope_post(
        kind=EnvelopeKind.RETURNED, forward_id=forward.pk, source_code=current_county().code,
        target_code=forward.counterpart_code, payload={"reason": forward.return_reason, "recalled": True},
    )  # fmt: skip


def _outgoing_locked(envelope: Envelope) -> tuple[Forward, Case]:
    # The case first, then the forward, as a case transition takes them (a recall locks the case,
    # then its forwards): in the other order, an answer arriving during a recall deadlocks with it.
    # An outgoing forward's case never changes, so reading it unlocked is safe.
    case_id = (
        Forward.objects.filter(pk=envelope.forward_id, direction=ForwardDirection.OUT)
        .values_list("case_id", flat=True)
        .first()
    )
    if case_id is None:
        raise _UnknownForward
    case = Case.objects.select_for_update(of=("self",)).select_related("kind", "category", "cause").get(pk=case_id)
    forward = Forward.objects.select_for_update().get(pk=envelope.forward_id)
    return forward, case


def _receive_accepted(envelope: Envelope) -> None:
    forward, case = _outgoing_locked(envelope)
    forward.status = ForwardStatus.ACCEPTED
    forward.decided_at = timezone.now()
    forward.remote_number = envelope.payload["number"]
    _remote_status(forward, envelope.payload)
    # The code that finds the case there: the citizen's own, unless that county had already used it.
    code = str(envelope.payload.get("tracking_code") or case.tracking_code)
    forward.payload = {"county_slug": envelope.payload.get("county_slug", ""), "tracking_code": code}
    from_status = case.status
    handed_over = forward.role == ForwardRole.LEAD and case.status == CaseStatus.FORWARDING
    if handed_over:
        # Where the case comes back to if that county ever stops serving (``_receive_taken_back``).
        forward.payload["left_from"] = case.paused_from
    forward.save()
    _group_files_release(forward)
    note = ""
    if code != case.tracking_code:
        note = _("%(county)s tracks this case under the new code %(code)s: %(old)s was already used there.") % {
            "county": forward.counterpart_name, "code": code, "old": case.tracking_code,
        }  # fmt: skip
    sms = ""
    if handed_over:
        # This county's clocks stop here; the other county's start on its own rules.
        case.status = CaseStatus.FORWARDED
        case.paused_from = ""
        case.closed_at = timezone.now()
        sms = "case.forwarded" if not note else "case.forwarded_new_code"
        casework_services._notify_citizen(
            case, sms, event=f"forwarded:{forward.pk}", to_county=forward.counterpart_name,
            remote_number=forward.remote_number, remote_tracking_code=code,
        )  # fmt: skip
    elif note and forward.role == ForwardRole.CO_HANDLER:
        # That county may call the citizen about its part, and the code they have finds nothing
        # there, or another citizen's case. The lead's SMS says nothing of co-handlers: this one
        # names the county and the code that finds that part there. Once: one per forward.
        sms = "case.co_handled_new_code"
        casework_services._notify_citizen(
            case, sms, event=f"co-handled:{forward.pk}", to_county=forward.counterpart_name,
            remote_number=forward.remote_number, remote_tracking_code=code,
        )  # fmt: skip
    if note and sms and casework_services.MOBILE_RE.match(case.citizen_phone):
        note = _sentences(note, _("The citizen is sent the new code by SMS."))
    elif note and sms:
        note = _sentences(note, _("The citizen has no mobile number for an SMS: tell them the new code."))
    case.version += 1
    case.save()
    casework_services._deadline_index_update(case)
    casework_services._event(
        case, None, "forward_accepted", from_status, case.status, label=forward.counterpart_name, note=note,
        data={"county": forward.counterpart_code, "number": forward.remote_number, "role": forward.role},
    )  # fmt: skip
    if forward.role == ForwardRole.CO_HANDLER:
        lead = Forward.objects.filter(
            group_id=forward.group_id, direction=ForwardDirection.OUT, role=ForwardRole.LEAD
        ).first()
        if lead is not None and lead.status in (ForwardStatus.RETURNED, ForwardStatus.RECALLED):
            # It took its part over while the lead's return or recall (and this county's recall
            # of its own forward) crossed: it is told now, as the others were.
            _co_handlers_release(lead, case, [forward])


def _outgoing_close(forward: Forward, case: Case, *, recalled: bool, reason: str) -> None:
    """A forward from here ends undecided there: a lead's case comes back as it left."""
    forward.status = ForwardStatus.RECALLED if recalled else ForwardStatus.RETURNED
    forward.decided_at = timezone.now()
    forward.return_reason = reason
    forward.save(update_fields=["status", "decided_at", "return_reason"])
    _group_files_release(forward)
    if forward.role == ForwardRole.LEAD and case.status == CaseStatus.FORWARDING:
        case.status = case.paused_from or CaseStatus.ACCEPTED
        case.paused_from = ""


def _group_files_release(forward: Forward) -> None:
    """Once every county a group of forwards went to has decided, its files in transit go.

    A county copies the files into its own case when it takes the case over, before it answers;
    after the last answer nobody will read them again. Kept, they would hold citizens' papers in
    the exchange area until the sending case's retention, years later.
    """
    if Forward.objects.filter(
        group_id=forward.group_id, direction=ForwardDirection.OUT, status=ForwardStatus.PENDING
    ).exists():
        return
    directory = Path(exchange_storage().path(str(forward.group_id)))
    transaction.on_commit(lambda: shutil.rmtree(directory, ignore_errors=True))


def _receive_returned(envelope: Envelope) -> None:
    if envelope.payload.get("taken_back"):
        _receive_taken_back(envelope)
        return
    forward, case = _outgoing_locked(envelope)
    recalled = bool(envelope.payload.get("recalled"))  # the answer to our own recall
    from_status = case.status
    _outgoing_close(forward, case, recalled=recalled, reason=envelope.payload["reason"])
    if from_status != case.status and not recalled:  # staff asked for a recall; a return is news
        _returned_notify(forward, case)
    case.version += 1
    case.save()
    casework_services._deadline_index_update(case)
    casework_services._event(
        case, None, "forward_recalled" if recalled else "forward_returned", from_status, case.status,
        note=forward.return_reason,
        label=forward.counterpart_name, data={"county": forward.counterpart_code, "role": forward.role},
    )  # fmt: skip
    if forward.role == ForwardRole.LEAD:
        # Returned by the lead or recalled from it at our request: either way the joint handling ends.
        _co_handlers_release(forward, case)


def _returned_notify(forward: Forward, case: Case) -> None:
    casework_services._notify_users(
        "forward.returned", casework_services._staff_with_role(StaffRole.WINDOW_CLERK, StaffRole.SUPERVISOR),
        event=f"forward-returned:{forward.pk}",
        values=casework_services._case_values(case) | {"to_county": forward.counterpart_name,
                                                       "reason": forward.return_reason},
    )  # fmt: skip


def _co_handlers_release(lead: Forward, case: Case, co_handlers: list[Forward] | None = None) -> None:
    """多地联办 without its lead: the lead returned the case (or left the platform with it), or this
    county recalled it from the lead, so it is this county's again. Co-handlers still deciding are
    asked to give it back; those already at work on their part are told, and decide with this
    county whether that part is still needed.

    Called with the case locked; the co-handlers' forwards are locked after it, as everywhere.
    """
    recalled = lead.status == ForwardStatus.RECALLED
    if co_handlers is None:
        # A recall asks back every forward of the case still undecided, co-handlers' too: after
        # a recalled lead only those already at work are left to tell.
        undecided = [ForwardStatus.ACCEPTED] if recalled else [ForwardStatus.PENDING, ForwardStatus.ACCEPTED]
        co_handlers = list(
            Forward.objects.select_for_update()
            .filter(group_id=lead.group_id, direction=ForwardDirection.OUT, role=ForwardRole.CO_HANDLER)
            .filter(status__in=undecided)
            .order_by("created_at")
        )
    if not co_handlers:
        return
    here = current_county().code
    values = {"county": lead.counterpart_name, "reason": lead.return_reason}
    if recalled:
        reason = _("The case was recalled from the lead county %(county)s: %(reason)s") % values
    else:
        reason = _("The lead county %(county)s returned the case: %(reason)s") % values
    asked, told, gone = [], [], []
    for forward in co_handlers:
        if forward.status == ForwardStatus.PENDING:
            posted = envelope_post(
                kind=EnvelopeKind.RECALL, forward_id=forward.pk, source_code=here,
                target_code=forward.counterpart_code, payload={"reason": reason},
            )  # fmt: skip
            if posted is None:  # that county has left the platform: nobody is left to answer
                _outgoing_close(forward, case, recalled=True, reason=reason)
                gone.append(forward)
            asked.append(forward)
        else:
            envelope_post(
                kind=EnvelopeKind.LEAD_RETURNED, forward_id=forward.pk, source_code=here,
                target_code=forward.counterpart_code,
                payload={"lead": lead.counterpart_name, "reason": lead.return_reason, "recalled": recalled},
            )  # fmt: skip
            told.append(forward)
    if recalled:
        notes = [_("The case was recalled from the lead county %(county)s.") % {"county": lead.counterpart_name}]
    else:
        notes = [_("The lead county %(county)s returned the case.") % {"county": lead.counterpart_name}]
    if asked:
        notes.append(
            _("Asked back from the co-handling counties that had not decided yet: %(counties)s.")
            % {"counties": "、".join(f.counterpart_name for f in asked)}
        )
    if told:
        notes.append(
            _("Told the co-handling counties already working on their part: %(counties)s.")
            % {"counties": "、".join(f.counterpart_name for f in told)}
        )
    casework_services._event(
        case, None, "joint_lead_recalled" if recalled else "joint_lead_returned", case.status, case.status,
        label=_("System"), note=_sentences(*notes),
        data={"lead": lead.counterpart_code, "recall_requested": [f.counterpart_code for f in asked],
              "recalled_at_once": [f.counterpart_code for f in gone], "told": [f.counterpart_code for f in told]},
    )  # fmt: skip


def _receive_taken_back(envelope: Envelope) -> None:
    """The county that had taken this case over left the platform with the case still open there.

    The forward ends as returned. A lead's case comes back to where a returned forward puts it
    (the status it was forwarded from), open again, its clocks running on from where the hand-over
    stopped them: the time the other county held it counts as a pause.
    """
    forward, case = _outgoing_locked(envelope)
    if forward.status == ForwardStatus.PENDING:
        # Its acceptance was written before this and is still on its way: undelivered, this
        # envelope is relayed again after it.
        raise ExchangeError(ExchangeErrorCode.NOT_FOUND, "the acceptance has not arrived yet")
    if forward.status != ForwardStatus.ACCEPTED:
        return
    from_status = case.status
    forward.status = ForwardStatus.RETURNED
    forward.return_reason = _sentences(
        str(envelope.payload["reason"]),
        _("It had taken this case over as %(number)s (last status there: %(status)s).")
        % {"number": forward.remote_number, "status": forward.remote_status_display or "—"},
    )
    forward.save(update_fields=["status", "return_reason"])
    if forward.role == ForwardRole.LEAD and case.status == CaseStatus.FORWARDED:
        case.status = forward.payload.get("left_from") or CaseStatus.ACCEPTED
        if case.closed_at is not None:
            _clocks_resume(case, stopped_at=case.closed_at)
        case.closed_at = None
        _returned_notify(forward, case)
    case.version += 1
    case.save()
    casework_services._deadline_index_update(case)
    casework_services._event(
        case, None, "forward_returned", from_status, case.status, note=forward.return_reason,
        label=forward.counterpart_name,
        data={"county": forward.counterpart_code, "role": forward.role, "taken_back": True},
    )  # fmt: skip
    if forward.role == ForwardRole.LEAD:
        _co_handlers_release(forward, case)


def _clocks_resume(case: Case, *, stopped_at: datetime.datetime) -> None:
    """Clocks stopped at a hand-over run on: the office time since counts as paused, as waiting for
    materials does (a clock already late then stays late)."""
    paused = paused_working_seconds(paused_at=stopped_at, resumed_at=timezone.now())
    case.paused_at = stopped_at
    case.paused_seconds += paused
    case.clock_paused_seconds = casework_services._clock_pauses_added(case, paused)
    case.paused_at = None
    casework_services._deadlines_refresh(case)


def _receive_lead_returned(envelope: Envelope) -> None:
    """Here a co-handler of a 多地联办 case: its lead returned the case to the sending county, or the
    sending county recalled it from the lead (``recalled``)."""
    case_id = (
        Forward.objects.filter(pk=envelope.forward_id, direction=ForwardDirection.IN)
        .values_list("case_id", flat=True)
        .first()
    )
    if case_id is None:
        raise _UnknownForward  # only sent about a forward this county took over
    # The case first, then the forward, as everywhere.
    case = Case.objects.select_for_update(of=("self",)).select_related("kind", "category", "cause").get(pk=case_id)
    forward = Forward.objects.select_for_update().get(pk=envelope.forward_id)
    payload = envelope.payload
    recalled = bool(payload.get("recalled"))
    values = {"lead": payload["lead"], "county": forward.counterpart_name, "number": forward.remote_number,
              "reason": payload["reason"]}  # fmt: skip
    if recalled:
        note = (
            _(
                "%(county)s recalled this 多地联办 case (%(number)s) from its lead county %(lead)s: %(reason)s. "
                "%(county)s handles it again; agree with it whether this county's part is still needed."
            )
            % values
        )
    else:
        note = (
            _(
                "The lead county %(lead)s returned this 多地联办 case to %(county)s (%(number)s): %(reason)s. "
                "%(county)s handles it again; agree with it whether this county's part is still needed."
            )
            % values
        )
    casework_services._event(
        case, None, "joint_lead_recalled" if recalled else "joint_lead_returned", case.status, case.status,
        label=forward.counterpart_name, note=note,
        data={"lead": payload["lead"], "county": forward.counterpart_code, "number": forward.remote_number},
    )  # fmt: skip
    # Keyed under the case, so the case's retention scrubs it with the case's other messages.
    casework_services._notify_staff(
        case, "forward.lead_recalled" if recalled else "forward.lead_returned",
        casework_services._staff_with_role(StaffRole.WINDOW_CLERK, StaffRole.SUPERVISOR),
        event=f"lead-{'recalled' if recalled else 'returned'}:{forward.pk}", lead_county=payload["lead"],
        from_county=forward.counterpart_name, remote_number=forward.remote_number, reason=payload["reason"],
    )  # fmt: skip


def _receive_progress(envelope: Envelope) -> None:
    forward, case = _outgoing_locked(envelope)
    _remote_status(forward, envelope.payload)
    forward.save(update_fields=["remote_status", "remote_status_display", "remote_version"])
    case.version += 1
    case.save(update_fields=["version", "updated_at"])
    casework_services._event(
        case, None, "forward_progress", case.status, case.status, label=forward.counterpart_name,
        data={"county": forward.counterpart_code, "action": envelope.payload["action"],
              "status": envelope.payload["status"], "number": envelope.payload["number"]},
    )  # fmt: skip


def _remote_status(forward: Forward, payload: dict[str, Any]) -> None:
    # Envelopes may be applied out of order; the other county's case version says which is newer.
    version = int(payload.get("version", 0))
    if version >= forward.remote_version:
        forward.remote_version = version
        forward.remote_status = payload["status"]
        forward.remote_status_display = str(CaseStatus(payload["status"]).label)


APPLY = {
    EnvelopeKind.FORWARD: _receive_forward,
    EnvelopeKind.ACCEPTED: _receive_accepted,
    EnvelopeKind.RETURNED: _receive_returned,
    EnvelopeKind.PROGRESS: _receive_progress,
    EnvelopeKind.RECALL: _receive_recall,
    EnvelopeKind.LEAD_RETURNED: _receive_lead_returned,
}


# -- retention (called by casework.retention) --------------------------------------------------

PAYLOAD_EMPTIED = ("citizen_name", "citizen_phone", "company_name")


def _payload_anonymised(payload: dict[str, Any], clean: Callable[[str], str]) -> dict[str, Any]:
    out = dict(payload)
    for key in PAYLOAD_EMPTIED:
        if key in out:
            out[key] = ""
    if "description" in out:
        out["description"] = ANONYMISED
    for key in ("matter", "reason"):
        if isinstance(out.get(key), str):
            out[key] = clean(out[key])
    if "attachments" in out:
        out["attachments"] = [{**item, "name": ANONYMISED} for item in out["attachments"]]
    return out


def _forwards_anonymise(forwards: list[Forward], clean: Callable[[str], str]) -> list[UUID]:
    """The personal part of these forwards, their processing records, envelopes and files in transit."""
    ids = [f.pk for f in forwards]
    paths = [str(item["path"]) for f in forwards for item in f.payload.get("attachments", []) if item.get("path")]
    for forward in forwards:
        forward.payload = _payload_anonymised(forward.payload, clean)
        forward.reason = clean(forward.reason)
        forward.return_reason = clean(forward.return_reason)
        forward.save(update_fields=["payload", "reason", "return_reason"])
    for transfer in PersonalDataTransfer.objects.filter(forward_id__in=ids):
        # The record that data crossed stays (PIPL art. 55); what it names of the person goes.
        transfer.attachment_names = [ANONYMISED for _name in transfer.attachment_names]
        transfer.purpose = clean(transfer.purpose)
        transfer.save(update_fields=["attachment_names", "purpose"])
    paths += envelopes_rewrite(forward_ids=ids, rewrite=lambda payload: _payload_anonymised(payload, clean))
    transaction.on_commit(lambda: exchange_files_delete(paths))
    return ids


def exchange_files_delete(paths: list[str]) -> None:
    storage = exchange_storage()
    for path in dict.fromkeys(paths):
        # Paths come from envelopes other counties wrote: only a file of a forward's own directory
        # of the exchange is ever deleted.
        directory, _slash, file_name = str(path).partition("/")
        if not (_is_uuid(directory) and EXCHANGE_FILE_NAME_RE.fullmatch(file_name)):
            logger.warning("exchange file not deleted: %r is not a file of the exchange", str(path)[:200])
            continue
        if storage.exists(path):
            storage.delete(path)


def _is_uuid(value: str) -> bool:
    try:
        return str(UUID(value)) == value
    except ValueError:
        return False


def case_forwards_anonymise(*, case: Case, clean: Callable[[str], str]) -> list[UUID]:
    """Every forward of this case (out to others, or the one it came in by): returns their ids."""
    return _forwards_anonymise(list(Forward.objects.select_for_update().filter(case=case)), clean)


def returned_forwards_anonymise(*, cutoff: datetime.datetime, clean: Callable[[str], str]) -> int:
    """Forwards sent here and never a case of this county (returned, or recalled by their sender).

    They expire like closed cases: their payload, texts, processing records, envelopes, files in
    transit and the messages that announced them lose what they said of the person.
    """
    with transaction.atomic():
        forwards = list(
            Forward.objects.select_for_update()
            .filter(
                direction=ForwardDirection.IN,
                status__in=[ForwardStatus.RETURNED, ForwardStatus.RECALLED],
                decided_at__lt=cutoff,
            )
            .exclude(payload__description=ANONYMISED)
        )
        for forward in forwards:
            # The generic cleaner knows phone and ID numbers, not this citizen's name: a clerk's
            # reason or the matter may name them ("金先生户籍在对方县市").
            person_clean = person_text_cleaner(
                name=str(forward.payload.get("citizen_name", "")),
                company=str(forward.payload.get("company_name", "")),
                phone=forward.citizen_phone,
                then=clean,
            )
            _forwards_anonymise([forward], person_clean)
            notifications_scrub(idempotency_key_prefixes=[f"forward-in:{forward.pk}:"], clean=person_clean)
    return len(forwards)
