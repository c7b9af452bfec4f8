"""Writes to the exchange: posting envelopes, claiming them for delivery, and forwarding agreements."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

from celery import current_app
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from casework.exchange.errors import ExchangeConflictError, ExchangeError, ExchangeErrorCode, ExchangeNotFoundError
from casework.exchange.models import Envelope, EnvelopeKind, ForwardAgreement
from casework.exchange.selectors import county_entry, county_on_platform, envelopes_undelivered

DELIVER_TASK = "forwarding.deliver_envelope"
logger = logging.getLogger(__name__)


def envelope_post(
    *, kind: str, forward_id: UUID, source_code: str, target_code: str, payload: dict[str, Any]
) -> Envelope | None:
    """Write an envelope in the caller's transaction; after commit, queue its delivery in the target county.

    If the queue is unreachable then, the envelope waits in the table and the relay sends it.

    A new forward goes only to a serving county (``case_forward`` checks), but every other
    envelope answers one already made, and reaches its county whatever that county's status: a
    county suspended by the province must not stop another county from taking over, returning
    or working on the cases between them. A county that has left the platform gets nothing: the
    answer is None, and the caller decides what that means (a recall, for one, takes the case back
    at once).
    """
    target = county_entry(code=target_code) if kind == EnvelopeKind.FORWARD else county_on_platform(code=target_code)
    if target is None and kind != EnvelopeKind.FORWARD:
        logger.info("%s envelope for forward %s not posted: county %s left the platform", kind, forward_id, target_code)
        return None
    if target is None:
        raise ExchangeError(ExchangeErrorCode.UNKNOWN_COUNTY, _("That county is not on the platform."))
    envelope = Envelope.objects.create(
        kind=kind, forward_id=forward_id, source_code=source_code, target_code=target_code,
        target_schema=target.schema_name, payload=payload,
    )  # fmt: skip
    transaction.on_commit(lambda: envelope_queue(envelope_id=envelope.pk, target_schema=target.schema_name))
    return envelope


def envelope_queue(*, envelope_id: UUID, target_schema: str) -> None:
    """Queue delivery in the target county's schema; a broker outage is left to the relay."""
    try:
        current_app.send_task(
            DELIVER_TASK, kwargs={"envelope_id": str(envelope_id)}, headers={"_schema_name": target_schema}
        )
    except Exception:  # noqa: BLE001 - any broker failure: the relay delivers it later
        logger.warning("envelope %s not queued; the relay will send it", envelope_id)


def envelope_claim(*, envelope_id: UUID, schema_name: str) -> Envelope | None:
    """Lock an undelivered envelope addressed to this schema; None if it was already delivered.

    Must be called inside the transaction that applies the envelope: the row lock makes a second
    worker wait, then see it delivered.
    """
    envelope = Envelope.objects.select_for_update().filter(pk=envelope_id).first()
    if envelope is None or envelope.delivered_at is not None:
        return None
    if envelope.target_schema != schema_name:
        raise ExchangeError(ExchangeErrorCode.INVALID, "envelope addressed to another county")
    return envelope


def envelope_mark_delivered(*, envelope: Envelope) -> None:
    envelope.delivered_at = timezone.now()
    envelope.attempts += 1
    envelope.save(update_fields=["delivered_at", "attempts"])


def envelopes_rewrite(*, forward_ids: list[UUID], rewrite: Callable[[dict[str, Any]], dict[str, Any]]) -> list[str]:
    """Rewrite the payloads of the forwards' envelopes (retention); returns the file paths they named."""
    paths: list[str] = []
    for envelope in Envelope.objects.select_for_update().filter(forward_id__in=forward_ids):
        paths += [str(item["path"]) for item in envelope.payload.get("attachments", []) if item.get("path")]
        payload = rewrite(envelope.payload)
        if payload != envelope.payload:
            envelope.payload = payload
            envelope.save(update_fields=["payload"])
    return paths


def envelope_note_failure(*, envelope_id: UUID, code: str) -> None:
    """Count a failed attempt (in its own transaction, after the applying one rolled back)."""
    Envelope.objects.filter(pk=envelope_id, delivered_at__isnull=True).update(
        attempts=F("attempts") + 1, last_error=code[:64]
    )


def envelope_set_aside(*, envelope: Envelope, code: str) -> None:
    """Close an envelope that can never take effect here, so that it is not relayed for ever."""
    envelope.delivered_at = timezone.now()
    envelope.attempts += 1
    envelope.last_error = code[:64]
    envelope.save(update_fields=["delivered_at", "attempts", "last_error"])


def county_exchange_close(*, code: str, operator: str) -> list[str]:
    """Close the exchange of a county leaving the platform; returns the files in transit to delete.

    What was addressed to it can never be delivered (its schema is about to go) and would be
    relayed for ever: it is deleted. The forwards those envelopes carried are answered first by
    ``county_departure_settle``. Its agreements with other provinces' counties end.
    """
    inbox = Envelope.objects.filter(target_code=code)
    paths = [
        str(item["path"])
        for payload in inbox.filter(kind=EnvelopeKind.FORWARD).values_list("payload", flat=True)
        for item in payload.get("attachments", [])
        if item.get("path")
    ]
    inbox.delete()
    ForwardAgreement.objects.filter(Q(first_code=code) | Q(second_code=code), ended_at__isnull=True).update(
        ended_at=timezone.now(), ended_by=operator[:150]
    )
    return paths


def envelopes_relay(*, older_than_seconds: int = 30) -> int:
    """Queue again what was not delivered (broker down, worker killed); delivery is idempotent."""
    pending = envelopes_undelivered(older_than_seconds=older_than_seconds)
    # Each sending counts: one that is never answered (its county's worker cannot reach the
    # schema, so nothing records a failure) sinks behind the others in the next batch.
    Envelope.objects.filter(pk__in=[envelope.pk for envelope in pending]).update(attempts=F("attempts") + 1)
    for envelope in pending:
        envelope_queue(envelope_id=envelope.pk, target_schema=envelope.target_schema)
    return len(pending)


# -- agreements (provincial operators) --------------------------------------------------------


def forward_agreement_create(*, operator: str, first_code: str, second_code: str, note: str = "") -> ForwardAgreement:
    """Let two counties of different provinces forward cases to each other."""
    first, second = county_entry(code=first_code), county_entry(code=second_code)
    problems = [
        {"field": name, "code": "unknown_county", "message": _("No serving county has this code.")}
        for name, entry in (("first_code", first), ("second_code", second))
        if entry is None
    ]
    if problems:
        raise ExchangeError(ExchangeErrorCode.UNKNOWN_COUNTY, _("No serving county has this code."), details=problems)
    assert first is not None and second is not None  # noqa: S101 - checked above
    if first.code == second.code:
        raise ExchangeError(ExchangeErrorCode.INVALID, _("An agreement needs two different counties."))
    if first.province == second.province:
        raise ExchangeError(ExchangeErrorCode.INVALID, _("Counties of one province may always forward to each other."))
    low, high = sorted((first.code, second.code))
    with transaction.atomic():
        if (
            ForwardAgreement.objects.select_for_update()
            .filter(first_code=low, second_code=high, ended_at__isnull=True)
            .exists()
        ):
            raise ExchangeConflictError(ExchangeErrorCode.CONFLICT, _("These counties already have an agreement."))
        return ForwardAgreement.objects.create(
            first_code=low, second_code=high, note=note.strip()[:255], created_by=operator
        )


def forward_agreement_end(*, operator: str, agreement_id: UUID | str) -> ForwardAgreement:
    try:
        pk = UUID(str(agreement_id))
    except ValueError:
        pk = None
    with transaction.atomic():
        agreement = ForwardAgreement.objects.select_for_update().filter(pk=pk).first() if pk else None
        if agreement is None:
            raise ExchangeNotFoundError(ExchangeErrorCode.NOT_FOUND, _("No such agreement."))
        if agreement.ended_at is None:
            agreement.ended_at = timezone.now()
            agreement.ended_by = operator
            agreement.save(update_fields=["ended_at", "ended_by"])
    return agreement
