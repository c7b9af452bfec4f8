"""Retention (PIPL art. 19 and 47): a closed case keeps its citizen's personal data for the county's
period, then loses it everywhere it was kept.

A case is closed when archived, withdrawn, not accepted or handed over to another county; the
period (``County.personal_data_retention_days``, from the county configuration, 1095 days unless
set) runs from ``closed_at``. ``cases_anonymise_due`` (task ``casework.anonymise_expired``, daily,
dispatched to every county) anonymises each due case in its own transaction:

- the case: citizen's name, phone (and its search hash) and company emptied, the description
  replaced by a marker, the matter scrubbed;
- what staff and citizens wrote about it (timeline notes and data, replies, follow-up notes,
  rating comments, assignment texts, extension reasons): the citizen's name and company, and
  every phone number, ID number and email address, replaced by markers. The timeline stays
  append-only; only this service may rewrite note and data (a transaction-local switch that the
  table's trigger checks);
- the rectification ledger (整改台账): findings raised from the case, their actions and look-backs,
  cleaned the same way (the systemic cause stays, the person goes; the finding's version moves on,
  so an edit made on the old text is refused);
- attachments: rows deleted, files deleted after commit;
- forwards (跨域通办): the personal part of the forward's payload and of the exchange envelopes;
  forwards that were returned and never became a case here expire the same way;
- the outbox: the case's SMS and email lose recipient and text, in-app messages are scrubbed;
- connected systems: every hook registered with ``retention_hook_register`` (casework.interop:
  Open311 location, device and email);
- the cache: keys naming the case (its id, number or tracking code) are deleted after commit;
- stored reports: reporting regenerates the PDFs of quarters with newly anonymised cases
  (``reporting.refresh_after_anonymisation``); spreadsheets are never stored.

Each case gets an ``anonymised`` timeline event and an audit record (ids only). A case already
anonymised is never selected again, so the task may run any number of times.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from banchengshi.audit.services import audit_record
from banchengshi.cache_purge import cache_keys_delete_containing
from banchengshi.observability.scrub import is_personal_field, person_text_cleaner, scrub_text
from banchengshi.tenancy import current_county
from casework.forwarding import services as forwarding_services
from casework.models import (
    ANONYMISED,
    Assignment,
    Attachment,
    Case,
    CaseEvent,
    CaseStatus,
    ExtensionRequest,
    Finding,
    FindingAction,
    FollowUp,
    LookBack,
    Rating,
    Reply,
)
from notifications.services import notifications_scrub

logger = logging.getLogger(__name__)

CLOSED_STATUSES = (CaseStatus.ARCHIVED, CaseStatus.WITHDRAWN, CaseStatus.NOT_ACCEPTED, CaseStatus.FORWARDED)
# Markers put in place of what was removed (stored data, not page text: the same in every language).

Clean = Callable[[str], str]
RetentionHook = Callable[[Case, Clean], None]
_hooks: list[RetentionHook] = []


def retention_hook_register(hook: RetentionHook) -> None:
    """Apps above casework (interop) add what they keep about a case; called in the case's transaction."""
    if hook not in _hooks:
        _hooks.append(hook)


def retention_cutoff(now: datetime.datetime | None = None) -> datetime.datetime:
    """Cases closed before this moment have kept their personal data long enough."""
    days = int(getattr(current_county(), "personal_data_retention_days", 1095))
    return (now or timezone.now()) - datetime.timedelta(days=days)


def cases_due_for_anonymisation(*, cutoff: datetime.datetime) -> list[Any]:
    """Ids only (the partial index ``case_retention_due`` answers it), oldest closed first."""
    return list(
        Case.objects.filter(status__in=CLOSED_STATUSES, closed_at__lt=cutoff, anonymised_at__isnull=True)
        .order_by("closed_at")
        .values_list("pk", flat=True)
    )


def cases_anonymise_due(*, now: datetime.datetime | None = None) -> int:
    """Anonymise every case of this county whose retention period ran out; returns how many.

    Each case is its own transaction: one that fails (logged by id) is left for the next run and
    does not hold up the others.
    """
    cutoff = retention_cutoff(now)
    done, failed = 0, 0
    for case_id in cases_due_for_anonymisation(cutoff=cutoff):
        try:
            done += case_anonymise(case_id=case_id, cutoff=cutoff)
        except Exception:
            failed += 1
            logger.exception("retention: case %s could not be anonymised; the next run tries again", case_id)
    done_forwards = forwarding_services.returned_forwards_anonymise(cutoff=cutoff, clean=scrub_text)
    if done or failed or done_forwards:
        audit_record(
            action="retention.run", actor_label="system",
            details={"cases": done, "failed": failed, "returned_forwards": done_forwards, "cutoff": cutoff.isoformat()},
        )  # fmt: skip
    return done


def case_anonymise(*, case_id: Any, cutoff: datetime.datetime) -> int:
    """Remove one closed case's personal data everywhere; 0 if it was not (or no longer) due."""
    with transaction.atomic():
        case = (
            Case.objects.select_for_update()
            .filter(pk=case_id, status__in=CLOSED_STATUSES, closed_at__lt=cutoff, anonymised_at__isnull=True)
            .first()
        )
        if case is None:
            return 0
        clean = _cleaner(case)
        needles = [str(case.pk), case.number, case.tracking_code]
        _related_scrub(case, clean)
        files = _attachments_delete(case)
        forward_ids = forwarding_services.case_forwards_anonymise(case=case, clean=clean)
        notifications_scrub(
            idempotency_key_prefixes=[f"{case.pk}:"]
            + [f"forward-{kind}:{forward_id}:" for forward_id in forward_ids for kind in ("in", "returned")],
            clean=clean,
        )
        for hook in _hooks:
            hook(case, clean)
        now = timezone.now()
        case.citizen_name = ""
        case.citizen_phone = ""
        case.company_name = ""
        case.description = ANONYMISED
        case.matter = _fitted(case, "matter", clean(case.matter))
        case.anonymised_at = now
        case.version += 1
        case.save(
            update_fields=[
                "citizen_name", "citizen_phone", "citizen_phone_index", "company_name", "description", "matter",
                "anonymised_at", "version", "updated_at",
            ]
        )  # fmt: skip
        CaseEvent.objects.create(
            case=case, actor=None, actor_label=_("System"), action="anonymised", from_status=case.status,
            to_status=case.status, data={"retention_days": current_county().personal_data_retention_days},
        )  # fmt: skip
        audit_record(
            action="case.anonymised", actor_label="system", object_type="case", object_id=case.pk,
            details={"attachments": len(files), "forwards": len(forward_ids)},
        )  # fmt: skip
        transaction.on_commit(lambda: _files_delete(files))
        transaction.on_commit(lambda: cache_keys_delete_containing(needles))
    return 1


def _cleaner(case: Case) -> Clean:
    """Text with this citizen's name and company, and every phone, ID number and email, replaced."""
    return person_text_cleaner(
        name=case.citizen_name, company=case.company_name, phone=case.citizen_phone, then=scrub_text
    )


def clean_data(value: Any, clean: Clean) -> Any:
    """A JSON value with every string cleaned and personal fields emptied."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {k: "" if is_personal_field(k) else clean_data(v, clean) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_data(item, clean) for item in value]
    return value


def _fitted(row: models.Model, name: str, text: str) -> str:
    """``text`` cut to its column's length: a marker may be longer than the name it replaced, and a
    value too long to save would fail the case's anonymisation on every run."""
    limit = getattr(row._meta.get_field(name), "max_length", None)
    return text[:limit] if limit else text


def _rewrite(rows: Iterable[models.Model], fields: tuple[str, ...], clean: Clean) -> None:
    changed = []
    for row in rows:
        before = [getattr(row, name) for name in fields]
        for name in fields:
            setattr(row, name, _fitted(row, name, clean(getattr(row, name))))
        if [getattr(row, name) for name in fields] != before:
            changed.append(row)
    for row in changed:
        row.save(update_fields=list(fields))


def _related_scrub(case: Case, clean: Clean) -> None:
    _rewrite(Reply.objects.filter(case=case), ("content",), clean)
    _rewrite(FollowUp.objects.filter(case=case), ("note",), clean)
    _rewrite(Rating.objects.filter(case=case), ("comment",), clean)
    _rewrite(Assignment.objects.filter(case=case), ("instructions", "result", "return_reason"), clean)
    _rewrite(ExtensionRequest.objects.filter(case=case), ("reason", "decision_note"), clean)
    _ledger_scrub(case, clean)
    events = []
    for event in CaseEvent.objects.filter(case=case):
        # An attachment's event names its file, which is deleted: the name goes with it.
        note = ANONYMISED if event.action == "attachment_added" and event.note else clean(event.note)
        data = clean_data(event.data, clean)
        if note != event.note or data != event.data:
            event.note, event.data = note, data
            events.append(event)
    if events:
        with connection.cursor() as cursor:
            # The timeline's trigger lets note and data change only while this is on, in this transaction.
            cursor.execute("SELECT set_config('casework.anonymising', 'on', true)")
            CaseEvent.objects.bulk_update(events, ["note", "data"])
            cursor.execute("SELECT set_config('casework.anonymising', 'off', true)")


def _ledger_scrub(case: Case, clean: Clean) -> None:
    """Findings raised from this case quote its citizen at times; the cause they record stays."""
    for finding in Finding.objects.select_for_update().filter(cases=case).order_by("pk"):
        _rewrite(FindingAction.objects.filter(finding=finding), ("description",), clean)
        _rewrite(LookBack.objects.filter(finding=finding), ("note",), clean)
        title, required_change = _fitted(finding, "title", clean(finding.title)), clean(finding.required_change)
        if (title, required_change) != (finding.title, finding.required_change):
            finding.title, finding.required_change = title, required_change
            finding.version += 1
            finding.save(update_fields=["title", "required_change", "version"])


def _files_delete(names: list[str]) -> None:
    storage = Attachment._meta.get_field("file").storage
    for name in names:
        storage.delete(name)


def _attachments_delete(case: Case) -> list[str]:
    attachments = list(Attachment.objects.filter(case=case))
    names = [a.file.name for a in attachments if a.file.name]
    Attachment.objects.filter(pk__in=[a.pk for a in attachments]).delete()
    return names
