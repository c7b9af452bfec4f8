"""The hash chain: each record stores sha256(previous hash + its canonical form)."""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any

GENESIS = "0" * 64


def canonical(
    *,
    seq: int,
    at: datetime.datetime,
    schema: str,
    actor_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    source_address: str,
    outcome: str,
    details: dict[str, Any],
) -> str:
    """One fixed text per record: sorted keys, UTC time to the microsecond PostgreSQL keeps."""
    body = {
        "seq": seq,
        "at": at.astimezone(datetime.UTC).isoformat(),
        "schema": schema,
        "actor_id": actor_id,
        "actor_label": actor_label,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "source_address": source_address,
        "outcome": outcome,
        "details": details,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def link(prev_hash: str, text: str) -> str:
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


def record_hash(record: Any) -> str:
    """The hash a stored record must carry, given its own ``prev_hash``."""
    text = canonical(
        seq=record.seq,
        at=record.at,
        schema=record.schema,
        actor_id=record.actor_id,
        actor_label=record.actor_label,
        action=record.action,
        object_type=record.object_type,
        object_id=record.object_id,
        source_address=record.source_address,
        outcome=record.outcome,
        details=record.details,
    )
    return link(record.prev_hash, text)
