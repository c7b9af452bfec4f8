"""Make a table match a list of specs by natural key: the engine behind idempotent configuration.

Rows missing from the specs are deactivated, never deleted: cases keep pointing at them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.db import models


@dataclass
class ChangeSummary:
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.deactivated

    def __add__(self, other: ChangeSummary) -> ChangeSummary:
        return ChangeSummary(
            created=self.created + other.created,
            updated=self.updated + other.updated,
            deactivated=self.deactivated + other.deactivated,
            unchanged=self.unchanged + other.unchanged,
        )


def sync_rows(*, model: type[models.Model], specs: Sequence[Any], key: str = "code") -> ChangeSummary:
    """Create, update or deactivate rows of ``model`` so they match ``specs`` (dataclasses).

    Each spec's fields are model fields; ``sort_order`` follows the order of the specs and
    ``is_active`` is set for rows named by a spec.
    """
    summary = ChangeSummary()
    existing = {getattr(row, key): row for row in model._default_manager.all()}
    seen = set()
    for position, spec in enumerate(specs):
        values: dict[str, Any] = asdict(spec)
        values["sort_order"] = position
        values["is_active"] = True
        natural_key = values.pop(key)
        seen.add(natural_key)
        row = existing.get(natural_key)
        if row is None:
            model._default_manager.create(**{key: natural_key}, **values)
            summary.created += 1
            continue
        changed = [name for name, value in values.items() if getattr(row, name) != value]
        if changed:
            for name in changed:
                setattr(row, name, values[name])
            row.save(update_fields=changed)
            summary.updated += 1
        else:
            summary.unchanged += 1
    for natural_key, row in existing.items():
        if natural_key not in seen and getattr(row, "is_active", False):
            row.is_active = False  # type: ignore[attr-defined]
            row.save(update_fields=["is_active"])
            summary.deactivated += 1
    return summary
