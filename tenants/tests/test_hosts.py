"""A county's host, slug and status as every process serves them: changed through the services,
seen at the very next request, however long a process keeps the hosts it has looked up."""

from __future__ import annotations

import datetime
import http.client
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils import timezone
from django_tenants.utils import schema_context

from banchengshi.core import hosts
from banchengshi.core.hosts import HostCache, process_hosts
from banchengshi.core.middleware import CountyRoutingMiddleware
from conftest import web_server
from sla.sweep.models import DeadlineEntry
from tenants import services
from tenants.models import CasePrefixClaim, County, Domain
from tenants.tests.test_config import MINIMAL, minimal
from tenants.tests.test_services import console_account, onboard_minimal


@pytest.fixture
def cached_hosts(settings: Any) -> Iterator[None]:
    # Long enough that only an invalidation can explain what a test sees (the tests' own settings
    # turn the cache off, since tests create and roll back counties).
    settings.TENANT_CACHE_SECONDS = 3600
    process_hosts.clear()
    yield
    process_hosts.clear()


def served(host: str) -> tuple[Any, int]:
    """The county a request to ``host`` is served as (None: the unknown-host page), and the status."""
    response = Client(HTTP_HOST=host).get("/accounts/login/")
    return getattr(response.wsgi_request, "tenant", None), response.status_code


def routed(routing: CountyRoutingMiddleware, host: str) -> tuple[Any, int]:
    """The same through the routing middleware alone: one instance stands for one process."""
    request = RequestFactory().get("/", HTTP_HOST=host)
    request.user = AnonymousUser()
    response = routing(request)
    return getattr(request, "tenant", None), response.status_code


def slug_change(county: County, slug: str, *, actor: Any) -> None:
    text = yaml.safe_dump(minimal(county={**MINIMAL["county"], "slug": slug}), allow_unicode=True)
    services.county_config_change(actor=actor, county=county, yaml_text=text)


@pytest.mark.django_db
def test_after_a_slug_change_the_old_host_is_unknown_and_the_new_one_serves_the_county(
    two_counties, cached_hosts, django_capture_on_commit_callbacks
):
    county = onboard_minimal().county
    tenant, status = served("testxian.localhost")
    assert (tenant.code, status) == (county.code, 200)  # looked up, and kept by this process

    with django_capture_on_commit_callbacks(execute=True):
        slug_change(county, "xinxian", actor=console_account("op-hosts"))

    assert served("testxian.localhost") == (None, 404)
    tenant, status = served("xinxian.localhost")
    assert (tenant.code, tenant.slug, status) == (county.code, "xinxian", 200)


@pytest.mark.django_db
def test_two_processes_that_kept_the_old_host_both_serve_the_new_one_at_their_next_request(
    two_counties, settings, django_capture_on_commit_callbacks, django_assert_num_queries
):
    settings.TENANT_CACHE_SECONDS = 3600
    first, second = (CountyRoutingMiddleware(lambda request: HttpResponse(), hosts=HostCache()) for _ in range(2))
    county = onboard_minimal().county
    for routing in (first, second):
        assert routed(routing, "testxian.localhost")[0].code == county.code
        with django_assert_num_queries(0):  # kept: no lookup while nothing changes
            assert routed(routing, "testxian.localhost")[0].code == county.code

    with django_capture_on_commit_callbacks(execute=True):
        slug_change(county, "xinxian", actor=console_account("op-two"))

    for routing in (first, second):
        assert routed(routing, "testxian.localhost") == (None, 404)
        tenant, status = routed(routing, "xinxian.localhost")
        assert (tenant.code, tenant.slug, status) == (county.code, "xinxian", 200)


@pytest.mark.django_db
def test_a_suspended_county_is_out_of_service_at_the_next_request_and_back_after_resuming(
    two_counties, cached_hosts, django_capture_on_commit_callbacks
):
    county = onboard_minimal().county
    assert served("testxian.localhost")[1] == 200
    operator = console_account("op-suspend")
    with django_capture_on_commit_callbacks(execute=True):
        services.county_suspend(actor=operator, county=county, reason="审计期间暂停服务")
    assert served("testxian.localhost")[1] == 503
    with django_capture_on_commit_callbacks(execute=True):
        services.county_resume(actor=operator, county=county)
    assert served("testxian.localhost")[1] == 200


@pytest.mark.django_db
def test_a_county_whose_removal_is_requested_then_removed_is_no_longer_served(
    two_counties, cached_hosts, django_capture_on_commit_callbacks
):
    county = onboard_minimal().county
    assert served("testxian.localhost")[1] == 200
    operator = console_account("op-remove")
    with django_capture_on_commit_callbacks(execute=True):
        services.county_removal_request(actor=operator, county=county)
    assert served("testxian.localhost")[1] == 503
    County.objects.filter(pk=county.pk).update(removal_hold_until=timezone.now() - datetime.timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        services.county_remove(actor=operator, county=county)
    assert served("testxian.localhost") == (None, 404)


@pytest.mark.django_db
def test_a_change_that_rolls_back_announces_nothing(two_counties, cached_hosts, django_capture_on_commit_callbacks):
    county = onboard_minimal().county
    before = hosts.registry_generation()
    operator = console_account("op-rollback")
    with (
        django_capture_on_commit_callbacks(execute=True) as announced,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.county_suspend(actor=operator, county=county, reason="回滚测试暂停")
        raise RuntimeError
    assert announced == [] and hosts.registry_generation() == before


@pytest.mark.django_db
def test_applying_an_unchanged_configuration_again_announces_nothing(two_counties, django_capture_on_commit_callbacks):
    """``make run`` applies the demo files at every start: no reason for every process to look its
    counties up again."""
    onboard_minimal()
    with django_capture_on_commit_callbacks() as callbacks:
        assert not onboard_minimal().changed
    assert hosts.registry_generation_bump not in callbacks


@pytest.mark.django_db
def test_with_redis_down_counties_are_served_and_a_change_stands(
    two_counties, cached_hosts, settings, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    """Redis down: requests are served from the database, the suspension is committed (its
    announcement lost, logged), and once Redis answers again the county loaded meanwhile is
    looked up afresh."""
    county = onboard_minimal().county
    monkeypatch.setattr(hosts, "REDIS_QUIET_SECONDS", 0)
    working = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens: refused at once
    caplog.set_level(logging.WARNING, logger="banchengshi.core.hosts")
    assert served("testxian.localhost")[1] == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.county_suspend(actor=console_account("op-redis"), county=county, reason="Redis 故障期间暂停")
    assert County.objects.get(pk=county.pk).status == "suspended"
    assert any("could not be told" in record.getMessage() for record in caplog.records)
    settings.REDIS_URL = working
    assert served("testxian.localhost")[1] == 503


# --- another process for real: committed (no django_db mark) ---------------------------------------

SERVER_CODE, SERVER_SLUG, SERVER_NEW_SLUG = "999971", "hostxian", "hostxinxian"


def _get(port: int, host: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/accounts/login/", headers={"Host": host})
    status = conn.getresponse().status
    conn.close()
    return status


def test_a_web_server_that_kept_the_county_serves_the_new_host_at_its_next_request(two_counties, django_db_blocker):
    """gunicorn, a process of its own, keeps hosts for an hour: only the announcement through Redis
    can tell it that the county's slug changed in this process."""
    spec = {**MINIMAL["county"], "code": SERVER_CODE, "slug": SERVER_SLUG, "case_prefix": "HX"}
    suffix = django_settings.COUNTY_DOMAIN_SUFFIX
    with django_db_blocker.unblock():
        county = onboard_minimal(county=spec).county
        operator = console_account(f"op-server-{uuid.uuid4().hex[:6]}")
    try:
        with web_server(threads=2, env={"TENANT_CACHE_SECONDS": "3600"}) as port:
            assert _get(port, f"{SERVER_SLUG}.{suffix}") == 200
            with django_db_blocker.unblock():
                text = yaml.safe_dump(minimal(county={**spec, "slug": SERVER_NEW_SLUG}), allow_unicode=True)
                services.county_config_change(actor=operator, county=county, yaml_text=text)
            assert _get(port, f"{SERVER_SLUG}.{suffix}") == 404
            assert _get(port, f"{SERVER_NEW_SLUG}.{suffix}") == 200
    finally:
        with django_db_blocker.unblock(), schema_context("public"):
            _committed_county_forget(SERVER_CODE)


def _committed_county_forget(code: str) -> None:
    county = County.objects.get(code=code)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{county.schema_name}" CASCADE')
    DeadlineEntry.objects.filter(schema_name=county.schema_name).delete()
    Domain.objects.filter(tenant=county).delete()
    county.config_versions.all().delete()
    county.delete()
    CasePrefixClaim.objects.filter(county_code=code).delete()
