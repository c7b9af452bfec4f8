"""Writes to casework data. Every function here is a keyword-only service."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from banchengshi.sync import ChangeSummary, sync_rows
from casework.models import Category, Cause, Department, RequestKind, Window


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
