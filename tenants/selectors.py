"""Reads of the county registry (public schema) and the provincial console's figures."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from banchengshi.accounts.models import PlatformRole
from banchengshi.accounts.policy import has_platform_role
from sla.sweep.models import DeadlineEntry
from tenants.models import BreakGlassGrant, County, CountyBatch, CountyConfigVersion, CountyStatus

COUNTY_CODE_URL_RE = re.compile(r"[0-9]{6}")


def county_list() -> QuerySet[County]:
    return County.objects.prefetch_related("domains").order_by("code")


def county_schema_names_active() -> list[str]:
    with schema_context(get_public_schema_name()):
        return list(County.objects.filter(status=CountyStatus.ACTIVE).values_list("schema_name", flat=True))


def is_operator(actor: Any) -> bool:
    """A system administrator of the province: counties, onboarding, configuration (not accounts, not the trail)."""
    return has_platform_role(actor, PlatformRole.OPERATOR)


def is_security_admin(actor: Any) -> bool:
    """A security administrator: the operators' accounts, nothing of the counties."""
    return has_platform_role(actor, PlatformRole.SECURITY_ADMIN)


def county_get_for_operator(*, actor: Any, code: str) -> County:
    """The county named in a console request; 404 alike for a missing county and a non-operator."""
    # A URL may carry anything (a NUL byte breaks the query); only a division code can name a county.
    valid = isinstance(code, str) and COUNTY_CODE_URL_RE.fullmatch(code) is not None
    county = County.objects.filter(code=code).first() if valid and is_operator(actor) else None
    if county is None:
        raise Http404
    return county


def batch_get_for_operator(*, actor: Any, batch_id: int) -> CountyBatch:
    batch = CountyBatch.objects.filter(pk=batch_id).first() if is_operator(actor) else None
    if batch is None:
        raise Http404
    return batch


@dataclass(frozen=True)
class CountyRow:
    county: County
    domain: str
    staff: int | None
    open_cases: int
    overdue_cases: int


def county_registry_row(*, county: County) -> CountyRow:
    domains = list(county.domains.all())
    return CountyRow(
        county=county, domain=domains[0].domain if domains else "", staff=None, open_cases=0, overdue_cases=0
    )


def county_overview(*, counties: list[County]) -> list[CountyRow]:
    """Status, domain, staff count and headline figures of one page of counties.

    Open and overdue cases come from the public deadline index (one grouped query); staff counts
    from one UNION ALL over the page's schemas, so a page costs the same with 30 or 3,000 counties.
    """
    schemas = [c.schema_name for c in counties]
    figures = {
        row["schema_name"]: row
        for row in DeadlineEntry.objects.filter(schema_name__in=schemas)
        .values("schema_name")
        .annotate(
            open_cases=Count("case_id", distinct=True),
            overdue_cases=Count("case_id", distinct=True, filter=Q(overdue_at__isnull=False)),
        )
    }
    staff = _staff_counts(schemas)
    rows = []
    for county in counties:
        domains = list(county.domains.all())
        found: Any = figures.get(county.schema_name, {})
        rows.append(
            CountyRow(
                county=county,
                domain=domains[0].domain if domains else "",
                staff=staff.get(county.schema_name),
                open_cases=int(found.get("open_cases", 0)),
                overdue_cases=int(found.get("overdue_cases", 0)),
            )
        )
    return rows


def _staff_counts(schemas: list[str]) -> dict[str, int]:
    if not schemas:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s FROM unnest(%s::text[]) AS s "
            "WHERE to_regclass(quote_ident(s) || '.casework_staffprofile') IS NOT NULL",
            [schemas],
        )
        present = [row[0] for row in cursor.fetchall()]
        if not present:
            return {}
        # Schema names come from the registry, not from the request.
        template = 'SELECT %s, count(*) FROM "{}".casework_staffprofile'
        query = " UNION ALL ".join(template.format(schema) for schema in present)
        cursor.execute(query, present)
        return {schema: int(count) for schema, count in cursor.fetchall()}


def county_config_versions(*, county: County) -> QuerySet[CountyConfigVersion]:
    return CountyConfigVersion.objects.filter(county=county).order_by("-number")


def county_config_current(*, county: County) -> CountyConfigVersion | None:
    return county_config_versions(county=county).first()


def config_diff(old: str, new: str, *, old_label: str, new_label: str) -> list[str]:
    """A unified diff of two YAML texts, line by line, for the console to show before applying."""
    return list(
        difflib.unified_diff(old.splitlines(), new.splitlines(), fromfile=old_label, tofile=new_label, lineterm="", n=2)
    )


def break_glass_active(*, actor: Any, county: County) -> BreakGlassGrant | None:
    if not is_operator(actor):
        return None
    return (
        BreakGlassGrant.objects.filter(
            operator=actor, county=county, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .order_by("-expires_at")
        .first()
    )
