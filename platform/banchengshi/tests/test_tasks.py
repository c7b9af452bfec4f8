"""A platform task works on the public schema, whichever schema it was queued from."""

from __future__ import annotations

import pytest
from celery import shared_task
from django_tenants.utils import tenant_context

from banchengshi.tasks import PlatformTask
from banchengshi.tenancy import current_schema

pytestmark = pytest.mark.django_db


@shared_task(base=PlatformTask, name="tests.platform_task_schema")
def platform_task_schema() -> str:
    return current_schema()


def test_a_platform_task_queued_from_a_county_still_runs_in_the_public_schema(county_a):
    # Queued inside a county (a console view's on_commit, a county task that hands work on), the
    # header names that county: public-schema work (the operators' authenticators, the exchange)
    # would otherwise read and write the county's tables of the same names.
    with tenant_context(county_a):
        result = platform_task_schema.apply()
    assert result.get() == "public"


def test_a_platform_task_leaves_the_worker_where_it_found_it(county_b):
    with tenant_context(county_b):
        platform_task_schema.apply(headers={"_schema_name": county_b.schema_name}).get()
        assert current_schema() == county_b.schema_name
