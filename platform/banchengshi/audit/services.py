"""Appending to the audit trail (and, after the retention period, purging its oldest part)."""

from __future__ import annotations

import datetime
import json
import logging
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from banchengshi.audit.chain import GENESIS, canonical
from banchengshi.audit.context import current
from banchengshi.audit.errors import AuditError, AuditErrorCode
from banchengshi.audit.models import AuditRecord, Outcome
from banchengshi.audit.selectors import Anchor, audit_heads, audited_schemas
from banchengshi.core.rows import statement_defer
from banchengshi.tenancy import current_schema

logger = logging.getLogger(__name__)

# One advisory lock per schema serializes appends: the lock is taken, then (in a new statement,
# so with a fresh snapshot under READ COMMITTED) the record is inserted after the head of the
# chain. The lock is held until the surrounding transaction ends, so the next appender sees this
# record. Both statements go in one round trip (a simple-protocol query string); the link is
# computed by PostgreSQL from the head it reads: sha256(previous hash + canonical text), the
# record's number spliced into the text the service built (ADR 20).
LOCK_NAMESPACE = 0x41554454  # "AUDT"
APPEND_SQL = (
    "SELECT pg_advisory_xact_lock(%s, hashtext(%s));\n"
    "INSERT INTO audit_auditrecord (seq, at, schema, actor_id, actor_label, action, object_type, object_id, "
    "source_address, outcome, details, prev_hash, hash) "
    "SELECT COALESCE(head.seq, 0) + 1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, COALESCE(head.hash, %s), "
    "encode(sha256(convert_to("
    "COALESCE(head.hash, %s) || %s || (COALESCE(head.seq, 0) + 1)::text || %s, 'UTF8')), 'hex') "
    "FROM (SELECT 1) AS one LEFT JOIN LATERAL "
    "(SELECT seq, hash FROM audit_auditrecord ORDER BY seq DESC LIMIT 1) AS head ON true "
    "RETURNING id, seq, prev_hash, hash"
)
# The record's number in its canonical text: the last such key, since the details (the only
# place another "seq" could be) sort before it and strings keep their quotes escaped.
SEQ_SLOT = ',"seq":0,"source_address":'

# Details are ids and codes. A mainland mobile number or a resident ID number in them is a bug.
PERSONAL_DATA = re.compile(r"(?<!\d)(1[3-9]\d{9}|\d{17}[\dXx])(?!\d)")

MINIMUM_RETENTION_DAYS = 183  # 网络安全法 art. 21: network logs are kept at least six months


def audit_record(
    *,
    action: str,
    actor: Any = None,
    actor_label: str = "",
    object_type: str = "",
    object_id: Any = "",
    outcome: str = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
    source_address: str | None = None,
) -> AuditRecord:
    """Append one record to the current schema's trail, in the caller's transaction.

    ``actor`` defaults to the signed-in user of the current request unless ``actor_label`` names
    who acted (none of either: the system);
    ``source_address`` to the request's. A record written inside a transaction that rolls back
    disappears with it: the trail says what happened, not what was attempted and undone (failed
    attempts are recorded by their own calls, outside such transactions).
    """
    values = dict(details or {})
    _refuse_personal_data(values)
    context = current()
    if actor is None and not actor_label and context is not None:
        # A label names who acted where the request's user is not the actor (an operator
        # creating a county's account is no user of that county).
        actor = context.user()
    if source_address is None:
        source_address = context.address if context is not None else ""
    schema = current_schema()
    record = AuditRecord(
        at=timezone.now(),
        schema=schema,
        actor_id=actor.pk if actor is not None else None,
        actor_label=(actor.get_username() if actor is not None else actor_label or "system")[:150],
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        source_address=source_address[:64],
        outcome=str(outcome),
        details=values,
    )
    before, slot, after = canonical(**_fields(record, seq=0)).rpartition(SEQ_SLOT)
    assert slot, "the canonical text has a record number"  # noqa: S101 - canonical() always writes it
    db = connections[DEFAULT_DB_ALIAS]
    params = [
        LOCK_NAMESPACE, schema,
        *(field.get_db_prep_save(getattr(record, field.attname), db) for field in APPEND_FIELDS),
        GENESIS, GENESIS, f'{before},"seq":', f',"source_address":{after}',
    ]  # fmt: skip
    if statement_defer(APPEND_SQL, params):
        return record  # sent with the transaction's next statement: its number is not known here
    # In the caller's transaction, without a savepoint: a failure here fails the caller's change
    # too, which is what an unauditable change should do. Outside one, the two statements of one
    # query string are a transaction of their own.
    with db.cursor() as cursor:
        cursor.execute(APPEND_SQL, params)
        cursor.nextset()
        row = cursor.fetchone()
    assert row is not None  # noqa: S101 - INSERT … SELECT from a one-row FROM always inserts one row
    record.pk, record.seq, record.prev_hash, record.hash = row
    record._state.adding = False
    return record


def audit_heads_anchor(*, now: datetime.datetime | None = None) -> Path:
    """Keep every schema's head outside the database: one JSON line per schema in the day's file.

    A superuser who deletes the newest records leaves a shorter chain that still verifies by
    itself; ``audit_verify --anchors`` compares it with these files (under ``AUDIT_ANCHOR_DIR``, the
    media volume unless set: backed up with it, not with the database). Run again the same day,
    it rewrites that day's file whole.
    """
    now = now or timezone.now()
    directory = Path(settings.AUDIT_ANCHOR_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = timezone.localtime(now)
    lines = [
        json.dumps(
            {
                "schema": head.schema,
                "seq": head.seq,
                "hash": head.hash,
                "at": head.at.isoformat() if head.at else None,
                "anchored_at": stamp.isoformat(),
            },
            sort_keys=True,
        )  # fmt: skip
        for head in audit_heads(audited_schemas())
    ]
    target = directory / f"anchors-{stamp:%Y-%m-%d}.jsonl"
    partial = target.with_suffix(".jsonl.partial")
    partial.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    partial.replace(target)  # a reader never sees half a file
    logger.info("audit heads of %d schemas anchored in %s", len(lines), target)
    return target


def audit_anchors_read(path: Path) -> list[Anchor]:
    """Anchors from a file of ``audit_heads_anchor``, or every such file of a directory."""
    files = sorted(path.glob("anchors-*.jsonl")) if path.is_dir() else [path]
    anchors: list[Anchor] = []
    for file in files:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                anchors.append(
                    Anchor(schema=str(row["schema"]), seq=int(row["seq"]), hash=str(row["hash"]),
                           anchored_at=str(row.get("anchored_at", ""))[:10])
                )  # fmt: skip
            except (ValueError, KeyError, TypeError) as exc:
                raise AuditError(
                    AuditErrorCode.ANCHORS_INVALID,
                    _("%(file)s, line %(line)d: not an audit anchor.") % {"file": file.name, "line": number},
                ) from exc
    return anchors


def audit_purge(*, before: datetime.datetime) -> int:
    """Delete the records older than ``before`` in the current schema, which must be past retention.

    Runs as the database owner role (the app role may not delete). The purge itself is recorded
    with the last purged record's hash, so ``audit_verify`` can still check the rest of the chain.
    """
    retention = max(settings.AUDIT_RETENTION_DAYS, MINIMUM_RETENTION_DAYS)
    oldest_allowed = timezone.now() - datetime.timedelta(days=retention)
    if before > oldest_allowed:
        raise AuditError(
            AuditErrorCode.RETENTION,
            _("Audit records are kept for %(days)d days; nothing younger may be deleted.") % {"days": retention},
        )
    schema = current_schema()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [LOCK_NAMESPACE, schema])
        last = AuditRecord.objects.filter(at__lt=before).order_by("-seq").first()
        if last is None:
            return 0
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL audit.purge = 'on'")
            cursor.execute("DELETE FROM audit_auditrecord WHERE seq <= %s", [last.seq])
            count = cursor.rowcount
            cursor.execute("SET LOCAL audit.purge = 'off'")
        audit_record(
            action="audit.purged",
            actor_label="system",
            details={"through_seq": last.seq, "last_hash": last.hash, "count": count},
        )
    return int(count)


# The columns APPEND_SQL sets from the record, in its order.
APPEND_FIELDS: tuple[models.Field[Any, Any], ...] = tuple(
    field
    for name in (
        "at", "schema", "actor_id", "actor_label", "action", "object_type", "object_id", "source_address",
        "outcome", "details",
    )
    if isinstance(field := AuditRecord._meta.get_field(name), models.Field)
)  # fmt: skip


def _fields(record: AuditRecord, *, seq: int | None = None) -> dict[str, Any]:
    return {
        "seq": record.seq if seq is None else seq,
        "at": record.at,
        "schema": record.schema,
        "actor_id": record.actor_id,
        "actor_label": record.actor_label,
        "action": record.action,
        "object_type": record.object_type,
        "object_id": record.object_id,
        "source_address": record.source_address,
        "outcome": record.outcome,
        "details": record.details,
    }


def _refuse_personal_data(values: Any) -> None:
    if isinstance(values, dict):
        for value in values.values():
            _refuse_personal_data(value)
    elif isinstance(values, list | tuple):
        for value in values:
            _refuse_personal_data(value)
    elif isinstance(values, str) and PERSONAL_DATA.search(values):
        raise AuditError(AuditErrorCode.PERSONAL_DATA, _("Audit details must not contain personal data."))
    elif isinstance(values, float):
        # jsonb may print a float differently from Python, which would break the chain's hash.
        raise AuditError(AuditErrorCode.INVALID, _("Audit details hold text, whole numbers and booleans only."))
