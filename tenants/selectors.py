"""Reads of the county registry (public schema)."""

from django.db.models import QuerySet
from django_tenants.utils import get_public_schema_name, schema_context

from tenants.models import County, CountyStatus


def county_list() -> QuerySet[County]:
    return County.objects.prefetch_related("domains").order_by("code")


def county_schema_names_active() -> list[str]:
    with schema_context(get_public_schema_name()):
        return list(County.objects.filter(status=CountyStatus.ACTIVE).values_list("schema_name", flat=True))
