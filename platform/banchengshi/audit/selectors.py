"""Reading the audit trail: auditors' search, one record, and the chain check."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from banchengshi.audit.chain import GENESIS, record_hash
from banchengshi.audit.errors import AuditError, AuditErrorCode
from banchengshi.audit.models import AuditRecord
from banchengshi.audit.policy import may_read_audit


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    actor: str = ""
    object_type: str = ""
    object_id: str = ""
    outcome: str = ""
    source_address: str = ""
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None


def _require_reader(actor: Any) -> None:
    if not may_read_audit(actor):
        raise AuditError(
            AuditErrorCode.PERMISSION_DENIED, _("Only auditors may read the audit trail."), http_status=403
        )


def audit_search_for_actor(*, actor: Any, filters: AuditFilters) -> QuerySet[AuditRecord]:
    """Records of the current schema, newest first. Only auditors may search (403 otherwise)."""
    _require_reader(actor)
    records = AuditRecord.objects.order_by("-seq")
    if filters.action:
        # A prefix finds a family: "auth." is every sign-in event.
        records = records.filter(action__startswith=filters.action)
    if filters.actor:
        records = records.filter(actor_label=filters.actor)
    if filters.object_type:
        records = records.filter(object_type=filters.object_type)
    if filters.object_id:
        records = records.filter(object_id=filters.object_id)
    if filters.outcome:
        records = records.filter(outcome=filters.outcome)
    if filters.source_address:
        records = records.filter(source_address=filters.source_address)
    if filters.since:
        records = records.filter(at__gte=filters.since)
    if filters.until:
        records = records.filter(at__lt=filters.until)
    return records


def audit_get_for_actor(*, actor: Any, record_id: Any) -> AuditRecord:
    """One record of the current schema: 404 alike for what does not exist here and for non-auditors' ids."""
    _require_reader(actor)
    try:
        number = int(record_id)
    except (TypeError, ValueError):
        number = 0
    record = AuditRecord.objects.filter(pk=number).first() if number > 0 else None
    if record is None:
        raise AuditError(AuditErrorCode.NOT_FOUND, _("No such audit record."), http_status=404)
    return record


def audited_schemas() -> list[str]:
    """Every schema with an audit table: public and each county, straight from the catalogue."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'audit_auditrecord' "
            "ORDER BY table_schema = 'public' DESC, table_schema"
        )
        return [row[0] for row in cursor.fetchall()]


@dataclass(frozen=True)
class AuditHead:
    """The newest record of one schema's trail: what an anchor keeps outside the database."""

    schema: str
    seq: int
    hash: str
    at: datetime.datetime | None


HEADS_PER_QUERY = 500


def audit_heads(schemas: list[str]) -> list[AuditHead]:
    """The head of each schema's trail (seq 0 and the genesis hash for an empty one)."""
    quote = connection.ops.quote_name
    heads: dict[str, AuditHead] = {}
    for start in range(0, len(schemas), HEADS_PER_QUERY):
        part = schemas[start : start + HEADS_PER_QUERY]
        # One statement for many schemas: names come from the catalogue and are quoted.
        sql = " UNION ALL ".join(
            f"(SELECT %s, seq, hash, at FROM {quote(schema)}.audit_auditrecord ORDER BY seq DESC LIMIT 1)"  # noqa: S608
            for schema in part
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, part)
            for schema, seq, hash_, at in cursor.fetchall():
                heads[schema] = AuditHead(schema=schema, seq=seq, hash=hash_, at=at)
    return [heads.get(schema, AuditHead(schema=schema, seq=0, hash=GENESIS, at=None)) for schema in schemas]


@dataclass(frozen=True)
class Anchor:
    """A head as it was kept outside the database on ``anchored_at``."""

    schema: str
    seq: int
    hash: str
    anchored_at: str = ""


@dataclass
class ChainReport:
    schema: str
    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def audit_chain_verify(*, chunk_size: int = 5000, anchors: list[Anchor] | tuple[Anchor, ...] = ()) -> ChainReport:
    """Recompute the chain of the current schema and name every record that does not fit.

    A changed record fails its own hash; a removed or inserted one breaks the next record's link
    or the sequence. A purge leaves a record naming the last purged hash, which anchors the rest.
    Removing the newest records leaves a shorter but consistent chain: ``anchors`` (heads kept
    outside the database by ``audit_heads_anchor``) catch that, and a record rewritten together
    with every hash after it.
    """
    report = ChainReport(schema=str(getattr(connection, "schema_name", "")))
    kept = {anchor.seq: anchor for anchor in anchors if anchor.schema == report.schema}
    expected_prev: str | None = None
    expected_seq: int | None = None
    for record in _in_order(chunk_size):
        if expected_seq is None:
            expected_prev, expected_seq = _anchor(record, report)
        if record.seq != expected_seq:
            missing = {"seq": record.seq, "prev": expected_seq - 1}
            report.problems.append(_("Record %(seq)d follows %(prev)d: records are missing.") % missing)
        if record.prev_hash != expected_prev:
            report.problems.append(_("Record %(seq)d does not link to the record before it.") % {"seq": record.seq})
        if record_hash(record) != record.hash:
            report.problems.append(_("Record %(seq)d was changed after it was written.") % {"seq": record.seq})
        anchor = kept.get(record.seq)
        if anchor is not None and anchor.hash != record.hash:
            report.problems.append(
                _("Record %(seq)d differs from the copy of it kept outside the database on %(date)s.")
                % {"seq": record.seq, "date": anchor.anchored_at}
            )
        expected_prev, expected_seq = record.hash, record.seq + 1
        report.checked += 1
        report.head_seq, report.head_hash = record.seq, record.hash
    for anchor in sorted(kept.values(), key=lambda a: a.seq):
        if anchor.seq > report.head_seq:
            report.problems.append(
                _(
                    "The trail ends at record %(head)d, but record %(seq)d was kept outside the database on %(date)s: "
                    "newer records are missing."
                )
                % {"head": report.head_seq, "seq": anchor.seq, "date": anchor.anchored_at}
            )
            break
    return report


def _in_order(chunk_size: int) -> Iterator[AuditRecord]:
    return AuditRecord.objects.order_by("seq").iterator(chunk_size=chunk_size)


def _anchor(first: AuditRecord, report: ChainReport) -> tuple[str, int]:
    if first.seq == 1:
        return GENESIS, 1
    purges = AuditRecord.objects.filter(action="audit.purged", details__through_seq=first.seq - 1)
    for purge in purges:
        return str(purge.details.get("last_hash", "")), first.seq
    report.problems.append(
        _("The trail starts at record %(seq)d and no purge explains the records before it.") % {"seq": first.seq}
    )
    return first.prev_hash, first.seq
