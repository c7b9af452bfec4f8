"""Reads of the exchange and of the county registry, for forwarding.

The registry (``tenants.County``) is reached through django-tenants' ``get_tenant_model`` so that
casework does not import the ``tenants`` package, which sits above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django_tenants.utils import get_tenant_model

from casework.exchange.models import Envelope, ForwardAgreement

SERVING = "active"


@dataclass(frozen=True)
class CountyEntry:
    code: str
    name: str
    province: str
    city: str
    schema_name: str
    slug: str


def _entry(row: Any) -> CountyEntry:
    return CountyEntry(
        code=row.code, name=row.full_name, province=row.province, city=row.city,
        schema_name=row.schema_name, slug=row.slug,
    )  # fmt: skip


def county_entry(*, code: str) -> CountyEntry | None:
    """A county that is on the platform and serving, by its division code."""
    row = get_tenant_model().objects.filter(code=code, status=SERVING).first()
    return None if row is None else _entry(row)


def county_on_platform(*, code: str) -> CountyEntry | None:
    """A county still on the platform, serving or not (suspended, its migration failed...)."""
    row = get_tenant_model().objects.filter(code=code).first()
    return None if row is None else _entry(row)


def counties_on_platform(*, codes: set[str]) -> set[str]:
    """Which of these division codes still name a county on the platform, serving or not."""
    if not codes:
        return set()
    return set(get_tenant_model().objects.filter(code__in=codes).values_list("code", flat=True))


def agreement_active(*, first: str, second: str) -> bool:
    low, high = sorted((first, second))
    return ForwardAgreement.objects.filter(first_code=low, second_code=high, ended_at__isnull=True).exists()


def forward_allowed(*, source: CountyEntry, target: CountyEntry) -> bool:
    """The whole province by default; another province only by a recorded agreement."""
    if source.code == target.code:
        return False
    return source.province == target.province or agreement_active(first=source.code, second=target.code)


def forward_targets(*, source_code: str) -> list[CountyEntry]:
    """Every serving county this county may forward to, sorted by province and code."""
    source = county_entry(code=source_code)
    if source is None:
        return []
    agreed = set()
    for first, second in ForwardAgreement.objects.filter(
        Q(first_code=source_code) | Q(second_code=source_code), ended_at__isnull=True
    ).values_list("first_code", "second_code"):
        agreed.add(second if first == source_code else first)
    rows = (
        get_tenant_model()
        .objects.filter(status=SERVING)
        .filter(Q(province=source.province) | Q(code__in=agreed))
        .exclude(code=source_code)
        .order_by("province", "code")
    )
    return [_entry(row) for row in rows]


def agreements_list() -> list[ForwardAgreement]:
    return list(ForwardAgreement.objects.all()[:1000])


def envelopes_undelivered(*, older_than_seconds: int, limit: int = 500) -> list[Envelope]:
    """A batch for the relay: the least tried first, so envelopes that keep failing (a county whose
    schema cannot be reached, a recall whose forward never arrives) never hold back newer ones."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Envelope.objects.filter(delivered_at__isnull=True, created_at__lte=cutoff).order_by("attempts", "created_at")[
            :limit
        ]
    )
