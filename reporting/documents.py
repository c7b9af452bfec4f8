"""What the quarterly report (季度报告) says, assembled from the figures in ``selectors``.

The dashboard, the PDF and the spreadsheet format the same ``Figures``; this module only picks
which ones a report shows and how a person reads them (percentages, changes, anonymised cases).
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from casework.models import FindingStatus
from reporting import charts
from reporting.province import by_province, province_figures
from reporting.selectors import (
    FIGURE_LABELS,
    LEDGER_LABELS,
    RATES,
    SUMMARY_KEYS,
    Figures,
    Row,
    Scope,
    breakdowns,
    case_replies,
    department_ranking,
    figures,
    figures_by,
    ledger_findings,
    ledger_status,
    months_between,
    previous_quarter,
    quarter_bounds,
    typical_cases,
)

QUARTER_NAMES = {1: "一", 2: "二", 3: "三", 4: "四"}
# The rates and durations compared with the previous quarter, in this order.
COMPARED = (
    "received", "consultations", "cases", "completion_rate", "solve_rate", "on_time_rate", "satisfaction_rate",
    "bad_ratings", "follow_up_rate", "reopen_rate", "return_rate", "reply_days_avg", "complete_days_avg",
)  # fmt: skip
DEPARTMENT_COLUMNS = (
    "received", "completed", "completion_rate", "on_time_rate", "late", "solve_rate", "satisfaction_rate",
    "bad_ratings", "returned", "complete_days_avg",
)  # fmt: skip


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def show(key: str, value: Any) -> str:
    """How a figure reads: rates as percentages, missing values as a dash, days with one decimal."""
    if key in RATES:
        return percent(value)
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def period_label(year: int, quarter: int) -> str:
    return _("%(year)d, quarter %(quarter)s") % {"year": year, "quarter": QUARTER_NAMES[quarter]}


def figure_rows(value: Figures, keys: tuple[str, ...] = SUMMARY_KEYS) -> list[dict[str, str]]:
    data = value.as_dict()
    return [{"key": key, "label": str(FIGURE_LABELS[key]), "value": show(key, data[key])} for key in keys]


def comparison(current: Figures, previous: Figures) -> list[dict[str, str]]:
    now, before = current.as_dict(), previous.as_dict()
    rows = []
    for key in COMPARED:
        a, b = now[key], before[key]
        if a is None or b is None:
            change = "—"
        elif key in RATES:
            change = f"{(a - b) * 100:+.1f}"  # percentage points
        else:
            change = f"{a - b:+g}" if isinstance(a, int) else f"{a - b:+.1f}"
        rows.append(
            {"label": str(FIGURE_LABELS[key]), "current": show(key, a), "previous": show(key, b), "change": change}
        )
    return rows


def breakdown_rows(rows: list[Row]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        data = row.figures.as_dict()
        out.append({"label": row.label, "cells": [show(key, data[key]) for key in DEPARTMENT_COLUMNS]})
    return out


def breakdown_header() -> list[str]:
    return [str(FIGURE_LABELS[key]) for key in DEPARTMENT_COLUMNS]


_DIGITS = re.compile(r"\d[\d\s-]{5,}\d")


def anonymise(text: str, *, name: str, company: str, limit: int = 160) -> str:
    """No personal data leaves in a report: names, companies and long digit runs (phones, ids) go."""
    if name:
        text = text.replace(name, name[:1] + "某")
    if company:
        text = text.replace(company, _("a company"))
    text = _DIGITS.sub("****", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def typical_case_rows(scope: Scope) -> list[dict[str, str]]:
    cases = list(typical_cases(scope=scope))
    replies = case_replies(case_ids=[case.pk for case in cases])
    rows = []
    for case in cases:
        who = case.citizen_name[:1] + "某" if case.citizen_name else ""

        def clean(text: str, case: Any = case) -> str:
            return anonymise(text, name=case.citizen_name, company=case.company_name)

        rows.append(
            {
                "number": case.number,
                "matter": clean(case.matter),
                "who": who,
                "kind": case.kind.name,
                "category": case.category.name if case.category else "—",
                "cause": case.cause.name if case.cause else "—",
                "what": clean(case.description),
                "outcome": clean(replies.get(case.pk, "")),
                "reopened": str(case.reopen_count),
            }
        )
    return rows


def finding_rows(scope: Scope) -> list[dict[str, str]]:
    findings = ledger_findings(scope=scope).select_related("cause", "department").order_by("raised_at", "title")
    labels = dict(FindingStatus.choices)
    return [
        {
            "title": f.title,
            "cause": f.cause.name,
            "department": f.department.short_name or f.department.name,
            "required_change": f.required_change,
            "due": f.due_date.isoformat(),
            "status": str(labels[f.status]),
        }
        for f in findings
    ]


def quarterly_content(
    *, county: Any, year: int, quarter: int, as_of: datetime.datetime, rule: Any, progress: Any = None
) -> dict[str, Any]:
    """Everything the quarterly report shows; ``figures`` in it is what the report stores."""

    def step(percent_done: int, stage: str) -> None:
        if progress is not None:
            progress(percent_done, stage)

    date_from, date_to = quarter_bounds(year, quarter)
    scope = Scope(date_from, date_to)
    prev_year, prev_quarter = previous_quarter(year, quarter)
    previous_scope = Scope(*quarter_bounds(prev_year, prev_quarter))
    step(10, _("Counting the figures"))
    this_quarter = breakdowns(
        scope=scope, dimensions=("kind", "category", "cause", "department", "window", "channel"), now=as_of
    )
    summary, by = this_quarter.total, this_quarter.by
    previous = figures(scope=previous_scope, now=as_of)
    ledger = ledger_status(scope=scope, now=as_of)
    step(25, _("Breaking the figures down"))
    trend_from = (date_to.replace(day=1) - datetime.timedelta(days=300)).replace(day=1)
    trend = figures_by(scope=Scope(trend_from, date_to), dimension="month", now=as_of)
    months = {row.key: row.figures for row in trend}
    month_keys = months_between(trend_from, date_to)
    step(45, _("Ranking the departments"))
    ranking = department_ranking(scope=scope, rule=rule, now=as_of, by_department=by["department"])
    step(55, _("Drawing the charts"))
    received, completed = str(FIGURE_LABELS["received"]), str(FIGURE_LABELS["completed"])
    chart_trend = charts.column_chart(
        [key[2:].replace("-", "/") for key in month_keys],
        [
            (received, [months.get(k, Figures()).received for k in month_keys]),
            (completed, [months.get(k, Figures()).completed for k in month_keys]),
        ],
        title=_("Cases received and completed by month"),
    )
    chart_category = charts.bar_chart(
        [(row.label, row.figures.received) for row in by["category"]], title=_("Cases received by category")
    )
    chart_department = charts.bar_chart(
        [(row.label, row.figures.received) for row in by["department"][:12]], title=_("Cases by lead department")
    )
    chart_on_time = charts.bar_chart(
        [
            (row.label, round((row.figures.on_time_rate or 0) * 100, 1))
            for row in by["department"][:12]
            if row.figures.on_time_rate is not None
        ],
        title=_("On-time completion rate by lead department"),
        unit="%",
    )
    step(65, _("Writing the text"))
    stored = {
        "as_of": as_of.isoformat(),
        "period": [date_from.isoformat(), date_to.isoformat()],
        "summary": summary.as_dict(),
        "previous": previous.as_dict(),
        "ledger": ledger.as_dict(),
        "by": {name: {row.key: row.figures.as_dict() for row in rows} for name, rows in by.items()},
        "ranking": [{"rank": r.rank, "code": r.code, "score": r.score} for r in ranking],
    }
    return {
        "county": county,
        "year": year,
        "quarter": quarter,
        "period": period_label(year, quarter),
        "date_from": date_from,
        "date_to": date_to,
        "as_of": timezone.localtime(as_of),
        "summary": summary,
        "summary_rows": figure_rows(summary),
        "kinds": [
            {"label": row.label, "received": row.figures.received, "completed": row.figures.completed}
            for row in by["kind"]
        ],
        "comparison": comparison(summary, previous),
        "previous_period": period_label(prev_year, prev_quarter),
        "ledger_rows": [
            {"label": str(LEDGER_LABELS[k]), "value": percent(v) if k == "rectification_rate" else str(v)}
            for k, v in ledger.as_dict().items()
        ],
        "breakdown_header": breakdown_header(),
        "breakdowns": [
            (str(_("By lead department")), breakdown_rows(by["department"])),
            (str(_("By category")), breakdown_rows(by["category"])),
            (str(_("By cause")), breakdown_rows(by["cause"])),
            (str(_("By window")), breakdown_rows(by["window"])),
            (str(_("By channel")), breakdown_rows(by["channel"])),
        ],
        "ranking": ranking,
        "rule": rule,
        "chart_trend": chart_trend,
        "chart_category": chart_category,
        "chart_department": chart_department,
        "chart_on_time": chart_on_time,
        "typical_cases": typical_case_rows(scope),
        "findings": finding_rows(scope),
        "figures": stored,
    }


RANKING_SHOWN = 30


def province_content(*, year: int, quarter: int, as_of: datetime.datetime, progress: Any = None) -> dict[str, Any]:
    """The province-wide quarterly report: counts only, never a citizen's data."""
    date_from, date_to = quarter_bounds(year, quarter)
    result = province_figures(scope=Scope(date_from, date_to), now=as_of, progress=progress)
    counties = result.counties
    cut = len(counties) > 2 * RANKING_SHOWN
    shown: list[Any] = counties[:RANKING_SHOWN] + [None] + counties[-RANKING_SHOWN:] if cut else list(counties)
    ranking: list[dict[str, Any]] = []
    for row in shown:
        if row is None:
            ranking.append({"gap": True})
            continue
        data = row.figures.as_dict()
        ranking.append(
            {
                "rank": row.rank,
                "name": row.name,
                "province": row.province,
                "cells": [show(key, data[key]) for key in DEPARTMENT_COLUMNS],
            }
        )
    provinces = by_province(result)
    top = [(row.name, round((row.figures.on_time_rate or 0) * 100, 1)) for row in counties[:15]]
    return {
        "period": period_label(year, quarter),
        "date_from": date_from,
        "date_to": date_to,
        "as_of": timezone.localtime(as_of),
        "county_count": len(counties),
        "refreshed_from": result.refreshed_from,
        "refreshed_to": result.refreshed_to,
        "not_refreshed": result.not_refreshed,
        "summary_rows": figure_rows(result.total),
        "by_province": [
            {"label": name, "cells": [show(key, value.as_dict()[key]) for key in DEPARTMENT_COLUMNS]}
            for name, value in provinces
        ],
        "breakdown_header": breakdown_header(),
        "ranking": ranking,
        "ranking_cut": RANKING_SHOWN if cut else 0,
        "chart_top": charts.bar_chart(top, title=_("On-time completion rate: the first counties"), unit="%"),
        "figures": {
            "as_of": as_of.isoformat(),
            "total": result.total.as_dict(),
            "counties": [{"code": r.code, "rank": r.rank, **r.figures.as_dict()} for r in counties],
        },
        "result": result,
    }
