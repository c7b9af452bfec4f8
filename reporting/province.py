"""Province-wide figures for provincial operators: the same figures, over every active county.

No personal data leaves a county here: only counts. Each county's figures come from the very
SQL the county dashboard runs (``selectors._aggregates`` over the cohort), compiled once and
pointed at each county's schema; the counties of a batch are read in ONE ``UNION ALL`` query,
so 3,000 counties take 3,000 / ``BATCH`` round trips, not 3,000 × n. Working days use each
county's own calendar (national days from ``sla.national`` plus its local holidays).
"""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from django.db import connection
from django.db.models import Count, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from reporting.selectors import (
    _COMPLETED,
    ORDINALS_BY_NAME,
    ORDINALS_NAME,
    Figures,
    Ordinals,
    Scope,
    WorkingDaysBetween,
    _aggregates,
    _duration_aggregates,
    _figures_of,
    _mean,
    _with_case_facts,
    cohort,
    percentile_90,
    working_day_ordinals,
)
from sla.calendar import SHANGHAI, build_calendar
from sla.national.selectors import national_calendar
from tenants.models import County, CountyStatus

BATCH = 250
_SCHEMA = re.compile(r"^c\d{6}$")
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


def active_counties() -> list[County]:
    with schema_context(get_public_schema_name()):
        return list(County.objects.filter(status=CountyStatus.ACTIVE).order_by("code"))


def _compiled(queryset: Any) -> tuple[str, tuple[Any, ...]]:
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    return sql, tuple(params)


def _in_schema(sql: str, schema: str) -> str:
    """The same statement reading the named county's tables (every table is qualified)."""
    if not _SCHEMA.match(schema):
        raise ValueError(f"not a county schema: {schema}")
    return re.sub(r'"((?:casework|sla)_[a-z_]+)"', rf'"{schema}"."\1"', sql)


def _union(
    template: tuple[str, tuple[Any, ...]], schemas: list[str], ordinals: dict[str, list[int]] | None = None
) -> list[dict[str, Any]]:
    """One statement for a batch of counties; each county's working-day ordinals are sent once
    per distinct calendar (a CTE), not once per use."""
    sql, params = template
    arrays: dict[int, tuple[str, list[int]]] = {}
    parts: list[str] = []
    all_params: list[Any] = []
    for schema in schemas:
        member = _in_schema(sql, schema)
        if ordinals is not None:
            values = ordinals[schema]
            name, _values = arrays.setdefault(id(values), (f"o{len(arrays)}", values))
            member = member.replace(ORDINALS_NAME, f"(SELECT a FROM {name})")  # noqa: S608 - o<n>, ours
        # The schema name is checked against c<6 digits> in _in_schema; values travel as parameters.
        parts.append(f"SELECT %s AS schema_name, q.* FROM ({member}) q")  # noqa: S608
        all_params += [schema, *params]
    ctes = ", ".join(f"{name} AS (SELECT %s::int[] AS a)" for name, _values in arrays.values())
    statement = (f"WITH {ctes} " if ctes else "") + " UNION ALL ".join(parts)
    with connection.cursor() as cursor:
        cursor.execute(statement, [values for _name, values in arrays.values()] + all_params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _templates(scope: Scope, now: datetime.datetime) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """The county statements, compiled in the public schema (compiling reads no table)."""
    ordinals = Ordinals(scope.date_from, ORDINALS_BY_NAME)
    expressions = {**_aggregates(now), **_duration_aggregates(ordinals)}
    counts = (
        _with_case_facts(cohort(scope))
        .order_by()
        .annotate(one=Value(1))
        .values("one")
        .annotate(**expressions)
        .values(*expressions)
    )
    # Working days per completed case, counted by value: the province's 90th percentile needs them all.
    start = TruncDate("registered_at", tzinfo=SHANGHAI)
    histogram = (
        _with_case_facts(cohort(scope))
        .filter(_COMPLETED)
        .order_by()
        .annotate(
            reply=WorkingDaysBetween(
                start, TruncDate(Coalesce("first_reply_at", "replied_at"), tzinfo=SHANGHAI), ordinals
            ),
            complete=WorkingDaysBetween(start, TruncDate("replied_at", tzinfo=SHANGHAI), ordinals),
        )
        .values("reply", "complete")
        .annotate(n=Count("pk"))
        .values("reply", "complete", "n")
    )
    holidays = 'SELECT "key" FROM "sla_localholiday" WHERE "is_active"'
    return {"counts": _compiled(counts), "histogram": _compiled(histogram), "holidays": (holidays, ())}


def province_figures(
    *, scope: Scope, now: datetime.datetime | None = None, progress: Callable[[int, str], None] | None = None
) -> ProvinceFigures:
    """Every active county's figures and the province's total, counties ranked by 按期办结率,
    then 解决率, then 满意率 (counties with nothing to rate last)."""
    now = now or timezone.now()
    counties = active_counties()
    templates = _templates(scope, now)
    national = national_calendar()
    ordinals_by_holidays: dict[tuple[str, ...], list[int]] = {}
    rows: dict[str, dict[str, Any]] = {}
    reply: list[tuple[int, int]] = []
    complete: list[tuple[int, int]] = []
    schemas = [c.schema_name for c in counties]
    for start in range(0, len(schemas), BATCH):
        batch = schemas[start : start + BATCH]
        local: dict[str, list[str]] = defaultdict(list)
        for row in _union(templates["holidays"], batch):
            local[row["schema_name"]].append(row["key"])
        ordinals: dict[str, list[int]] = {}
        for schema in batch:
            # Counties share the national calendar; only their local holidays differ.
            key = tuple(sorted(local.get(schema, [])))
            if key not in ordinals_by_holidays:
                calendar = build_calendar(
                    holidays=national.holidays,
                    makeup_workdays=national.makeup_workdays,
                    known_until=national.known_until,
                    local_keys=key,
                )
                ordinals_by_holidays[key] = working_day_ordinals(scope, calendar).values
            ordinals[schema] = ordinals_by_holidays[key]
        for row in _union(templates["counts"], batch, ordinals):
            rows[row["schema_name"]] = row
        for row in _union(templates["histogram"], batch, ordinals):
            reply.append((row["reply"], row["n"]))
            complete.append((row["complete"], row["n"]))
        if progress is not None:
            progress(min(90, 10 + 80 * (start + len(batch)) // max(1, len(schemas))), "")
    results = [
        CountyFigures(c.code, c.full_name, c.province, c.city, _figures_of(rows.get(c.schema_name, {})))
        for c in counties
    ]
    total = Figures(
        **{name: sum(getattr(r.figures, name) for r in results) for name in _COUNT_NAMES},
        reply_days_avg=_mean(reply),
        reply_days_p90=percentile_90(reply),
        complete_days_avg=_mean(complete),
        complete_days_p90=percentile_90(complete),
    )
    return ProvinceFigures(total=total, counties=_ranked(results), as_of=now)


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
