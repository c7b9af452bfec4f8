"""Province-wide figures for provincial operators: the same figures, over every active county.

Read from the counties' snapshot (``reporting.snapshots``, public schema) with two grouped queries,
never schema by schema: the first touch of a county schema costs PostgreSQL ~6 ms of catalogue
loading before any work, ~20 s for 3,000 counties (ADR 0013). Each county writes its own rows
(``services.county_snapshot_refresh``) with the very expressions its dashboard counts with; here
they are added up, open cases are judged late with the county's rule (``selectors.judged``), and
averages and percentiles come from the same histograms (``selectors.durations_of``). Nothing but
counts leaves a county.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from django.db.models import Count, Max, Min, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from reporting.selectors import (
    SNAPSHOT_COUNTS,
    Figures,
    Scope,
    durations_of,
    figures_of,
    judged,
)
from reporting.snapshots.models import CountyDayFigures, CountySnapshot
from tenants.models import County, CountyStatus

_COUNT_NAMES = [f.name for f in fields(Figures) if not f.name.endswith(("_avg", "_p90"))]


@dataclass(frozen=True)
class CountyFigures:
    code: str
    name: str
    province: str
    city: str
    figures: Figures
    rank: int = 0


@dataclass(frozen=True)
class ProvinceFigures:
    total: Figures
    counties: list[CountyFigures]  # ranked
    as_of: datetime.datetime
    # The oldest and the newest refresh of the counties' rows, and how many counties have none yet.
    refreshed_from: datetime.datetime | None = None
    refreshed_to: datetime.datetime | None = None
    not_refreshed: int = 0


def active_counties() -> list[County]:
    with schema_context(get_public_schema_name()):
        return list(County.objects.filter(status=CountyStatus.ACTIVE).order_by("code"))


def _sum(name: str, condition: Q | None = None) -> Any:
    return Coalesce(Sum(name, filter=condition), Value(0))


def province_figures(
    *, scope: Scope, now: datetime.datetime | None = None, progress: Callable[[int, str], None] | None = None
) -> ProvinceFigures:
    """Every active county's figures and the province's total, counties ranked by 按期办结率,
    then 解决率, then 满意率 (counties with nothing to rate last). Open cases are judged at ``now``."""
    now = now or timezone.now()
    counties = active_counties()
    codes = [c.code for c in counties]
    with schema_context(get_public_schema_name()):
        rows = CountyDayFigures.objects.filter(
            day__gte=scope.date_from, day__lte=scope.date_to, county_code__in=codes
        ).order_by()
        timeless = [name for name in SNAPSHOT_COUNTS if name not in ("open_running", "open_paused")]
        counts = {
            row["county_code"]: row
            for row in rows.values("county_code").annotate(
                **{name: _sum(name) for name in timeless},
                **judged(
                    now,
                    running=lambda condition: _sum("open_running", condition),
                    paused=_sum("open_paused"),
                    deadline="open_due",
                ),
            )
        }
        if progress is not None:
            progress(50, "")
        histograms: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for row in (
            rows.filter(completed__gt=0)
            .values("county_code", "reply_days", "complete_days")
            .annotate(completed=Sum("completed"))
        ):
            histograms[row["county_code"]].append(row)
        freshness = CountySnapshot.objects.filter(county_code__in=codes).aggregate(
            first=Min("refreshed_at"), last=Max("refreshed_at"), n=Count("pk")
        )
    results = [
        CountyFigures(
            c.code,
            c.full_name,
            c.province,
            c.city,
            figures_of(counts.get(c.code, {}), durations_of(histograms[c.code])),
        )  # fmt: skip
        for c in counties
    ]
    total = Figures(
        **{name: sum(getattr(r.figures, name) for r in results) for name in _COUNT_NAMES},
        **durations_of(row for county_rows in histograms.values() for row in county_rows),
    )
    if progress is not None:
        progress(90, "")
    return ProvinceFigures(
        total=total,
        counties=_ranked(results),
        as_of=now,
        refreshed_from=freshness["first"],
        refreshed_to=freshness["last"],
        not_refreshed=len(codes) - (freshness["n"] or 0),
    )


def _ranked(rows: list[CountyFigures]) -> list[CountyFigures]:
    def key(row: CountyFigures) -> tuple[Any, ...]:
        f = row.figures
        return (
            f.on_time_rate is None,
            -(f.on_time_rate or 0),
            -(f.solve_rate or 0),
            -(f.satisfaction_rate or 0),
            -f.received,
            row.code,
        )

    ordered = sorted(rows, key=key)
    return [
        CountyFigures(r.code, r.name, r.province, r.city, r.figures, rank=index + 1) for index, r in enumerate(ordered)
    ]


def figures_sum(values: list[Figures]) -> Figures:
    """Counts added up (durations are not additive and stay empty)."""
    return Figures(**{name: sum(getattr(v, name) for v in values) for name in _COUNT_NAMES})


def by_province(result: ProvinceFigures) -> list[tuple[str, Figures]]:
    groups: dict[str, list[Figures]] = defaultdict(list)
    for row in result.counties:
        groups[row.province].append(row.figures)
    return sorted(((name, figures_sum(values)) for name, values in groups.items()), key=lambda item: item[0])
