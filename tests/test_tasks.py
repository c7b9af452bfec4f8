"""Celery tasks know their county, refuse to run without one, and fan out through the dispatcher."""

from __future__ import annotations

import pytest
from celery import shared_task
from django_tenants.utils import tenant_context

from banchengshi.celery import app
from banchengshi.schedules import BEAT_SCHEDULE
from banchengshi.tasks import CountyUnavailableError, MissingTenantError, dispatch_to_counties
from banchengshi.tenancy import current_schema

pytestmark = pytest.mark.django_db


@shared_task(name="tests.which_schema")
def which_schema() -> str:
    return current_schema()


def test_a_county_task_sent_from_a_county_runs_in_that_county(county_a):
    with tenant_context(county_a):
        result = which_schema.apply()
    assert result.get() == county_a.schema_name


def test_a_county_task_without_a_county_refuses_to_run(two_counties):
    result = which_schema.apply()  # sent from the public schema: no county in the header
    assert result.failed()
    assert isinstance(result.result, MissingTenantError)
    assert result.result.code == "platform.missing_tenant"


def test_a_county_task_whose_county_cannot_be_reached_refuses_to_run_and_says_why(two_counties):
    # The worker cannot switch to the schema the header names (here it does not exist; after a
    # database crash, the lookup fails): the task must not run elsewhere, and the error must not
    # claim that it was sent without a county.
    result = which_schema.apply(headers={"_schema_name": "c999999"})
    assert result.failed()
    assert isinstance(result.result, CountyUnavailableError)
    assert result.result.code == "platform.county_unavailable" and "c999999" in result.result.message


def test_a_county_task_named_for_a_county_runs_there_from_anywhere(county_b):
    result = which_schema.apply(headers={"_schema_name": county_b.schema_name})
    assert result.get() == county_b.schema_name


def test_the_schema_travels_in_the_message_through_redis(county_a):
    queue = "test-schema-header"
    with app.connection_for_write() as conn:
        conn.SimpleQueue(queue).clear()
        which_schema.apply_async(queue=queue, headers={"_schema_name": county_a.schema_name})
        message = conn.SimpleQueue(queue).get(timeout=5)
        message.ack()
    assert message.headers["_schema_name"] == county_a.schema_name
    assert message.headers["task"] == "tests.which_schema"


def test_the_dispatcher_queues_one_task_per_active_county(two_counties, monkeypatch):
    sent: list[str] = []
    monkeypatch.setattr(
        "banchengshi.tasks.county_apply_async",
        lambda task, *, schema_name, kwargs=None: sent.append(schema_name),
    )
    count = dispatch_to_counties.apply(args=("tests.which_schema",)).get()
    assert count == len(sent) >= 2
    assert {c.schema_name for c in two_counties} <= set(sent)


def test_county_apply_async_names_the_county_whatever_the_current_schema(county_a, county_b):
    queue = "test-explicit-county"
    with app.connection_for_write() as conn:
        conn.SimpleQueue(queue).clear()
        with tenant_context(county_a):
            which_schema.apply_async(queue=queue, headers={"_schema_name": county_b.schema_name})
        message = conn.SimpleQueue(queue).get(timeout=5)
        message.ack()
    assert message.headers["_schema_name"] == county_b.schema_name


def test_a_county_task_named_for_the_public_schema_refuses_to_run(two_counties):
    result = which_schema.apply(headers={"_schema_name": "public"})
    assert result.failed()
    assert isinstance(result.result, MissingTenantError)


def test_a_county_task_named_for_an_unknown_county_refuses_to_run(two_counties):
    # The switch cannot find the county and leaves the connection where it was (here: public);
    # the task notices that it is not in the schema its header names and refuses.
    result = which_schema.apply(headers={"_schema_name": "c999999"})
    assert result.failed()
    assert isinstance(result.result, CountyUnavailableError)


def test_a_county_task_in_another_countys_schema_refuses_to_run(county_a, county_b):
    # Should the schema switch ever not happen, a task named for B must not work on A's tables.
    from celery.signals import task_prerun

    task_prerun.disconnect(dispatch_uid="tenant_schemas_switch_schema")
    try:
        with tenant_context(county_a):
            result = which_schema.apply(headers={"_schema_name": county_b.schema_name})
    finally:
        from tenant_schemas_celery.app import switch_schema

        task_prerun.connect(switch_schema, sender=None, dispatch_uid="tenant_schemas_switch_schema")
    assert result.failed()
    assert isinstance(result.result, CountyUnavailableError)


def test_a_county_task_called_in_process_without_a_message_refuses_to_run(county_a):
    with tenant_context(county_a), pytest.raises(MissingTenantError):
        which_schema()


def test_every_scheduled_task_and_every_dispatched_county_task_is_registered():
    app.loader.import_default_modules()  # what a worker does at start: every app's tasks module
    names = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    names |= {entry["args"][0] for entry in BEAT_SCHEDULE.values() if entry["task"] == "platform.dispatch_to_counties"}
    assert "audit.anchor_heads" in names
    assert sorted(name for name in names if name not in app.tasks) == []
