"""Reads of the public deadline index."""

from __future__ import annotations

from uuid import UUID

from banchengshi.tenancy import current_schema
from sla.sweep.models import DeadlineEntry


def deadline_entry_cases(*, entry_ids: list[int]) -> dict[int, UUID]:
    """The case of each of these entries of the current county (entries of other counties are left out)."""
    return dict(
        DeadlineEntry.objects.filter(pk__in=entry_ids, schema_name=current_schema()).values_list("pk", "case_id")
    )
