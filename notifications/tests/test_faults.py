"""Delivery survives real faults, shown with real processes.

- A Celery worker (``celery -A banchengshi worker``) is SIGKILLed while the SMS provider holds its
  request; a new worker and the relay finish the job, and the provider sends the SMS once.
- Redis is stopped while cases change; the outbox keeps every message, and once Redis is back
  the periodic relay delivers each of them once.

The workers and the process that changes cases (as the web server would) use the test database,
so their data is committed: the tests work in a county of their own, dropped afterwards. Redis is
a server of the test's own (``tests/servers.py``: on a free port, without persistence), so
stopping it disturbs nobody.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from conftest import database_url_for_processes
from notifications.models import Channel, Notification, Status
from sla.sweep.models import DeadlineEntry
from tenants.config import county_config_read
from tenants.models import County, Domain
from tenants.services import county_onboard
from tests.processes import CeleryWorker, send_as_beat, wait_for
from tests.servers import PrivateRedis, SmsProvider

# The test's own connection only reads (what the other processes committed); the marker also
# makes pytest-django set the test database up when these tests run alone.
pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SECRET = "fault-secret"
# The claim's lease is longer than the provider's timeout (the rule in production too), and short
# enough that a claim left by the killed worker is taken back within the test.
SMS_TIMEOUT_SECONDS = 5
LEASE_SECONDS = 6


@pytest.fixture(scope="module")
def fault_county(two_counties: Any, django_db_blocker: Any) -> Iterator[County]:
    """A county of these tests' own (邵阳县's configuration under another code), dropped afterwards."""
    config = county_config_read(Path(settings.COUNTY_CONFIG_DIR) / "shaoyang.yaml")
    spec = dataclasses.replace(config.county, code="990001", slug="faultdrill", case_prefix="FD", name="演练县")
    with django_db_blocker.unblock():
        county = county_onboard(config=dataclasses.replace(config, county=spec)).county
    yield county
    with django_db_blocker.unblock(), schema_context("public"):
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{county.schema_name}" CASCADE')
        DeadlineEntry.objects.filter(schema_name=county.schema_name).delete()
        Domain.objects.filter(tenant=county).delete()
        County.objects.filter(pk=county.pk).delete()


@pytest.fixture
def provider() -> Iterator[SmsProvider]:
    running = SmsProvider(SECRET)
    yield running
    running.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    """Without persistence: a restart starts empty."""
    server = PrivateRedis(tmp_path, append_only=False)
    yield server
    server.stop()


@pytest.fixture
def workers(
    tmp_path: Path, celery_workers: Callable[..., CeleryWorker]
) -> Callable[[dict[str, str], str], CeleryWorker]:
    """``celery -A banchengshi worker`` (prefork, one child) with this environment, logging to a file."""

    def start(env: dict[str, str], name: str) -> CeleryWorker:
        log_path = tmp_path / f"fault-{name}-{os.getpid()}.log"
        options = ["-l", "info", "-c", "1", "-n", f"{log_path.stem}@%h", "--without-mingle", "--without-gossip",
                   "--without-heartbeat"]  # fmt: skip
        return celery_workers(env, name=name, options=options, log_path=log_path)

    return start


def _process_env(redis_server: PrivateRedis, provider: SmsProvider) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "notifications.tests.fault_settings",
        "DATABASE_URL": database_url_for_processes(),
        "REDIS_URL": redis_server.url,
        "TEST_REDIS_DB": "0",
        "SMS_BACKEND": "notifications.channels.HttpSmsBackend",
        "SMS_ENDPOINT": provider.url,
        "SMS_SECRET": SECRET,
        "SMS_TIMEOUT_SECONDS": str(SMS_TIMEOUT_SECONDS),
        "NOTIFICATIONS_LEASE_SECONDS": str(LEASE_SECONDS),
    }


def _change_cases(env: dict[str, str], county: County, count: int) -> list[str]:
    """Register cases in another process, as the web server would; returns their ids."""
    done = subprocess.run(
        [sys.executable, "-m", "notifications.tests.fault_writer", county.schema_name, str(count)],
        cwd=ROOT, env=env, capture_output=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    ids: list[str] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return ids


def _sms_of(county: County, case_ids: list[str]) -> list[Notification]:
    with tenant_context(county):
        return [Notification.objects.get(channel=Channel.SMS, idempotency_key__startswith=key) for key in case_ids]


def test_a_worker_killed_mid_send_and_restarted_sends_the_sms_once(fault_county, provider, redis_server, workers):
    redis_server.start()
    env = _process_env(redis_server, provider)
    first = workers(env, "first")
    provider.hold_next = True
    case_ids = _change_cases(env, fault_county, 1)
    assert provider.arrived.wait(60), first.log()
    first.kill()
    provider.release.set()

    (sms,) = _sms_of(fault_county, case_ids)
    # The claim was committed before the provider was called, and nobody finished it.
    assert sms.status == Status.SENDING and sms.attempts == 1 and sms.lease_expires_at is not None
    second = workers(env, "second")
    wait_for(lambda: timezone.now() > sms.lease_expires_at, seconds=LEASE_SECONDS + 1, what="the lease to run out")
    send_as_beat(redis_server.url, "notifications-relay")

    def sent() -> bool:
        return _sms_of(fault_county, case_ids)[0].status == Status.SENT

    wait_for(sent, seconds=40, what="the relay to send the SMS again", log=second.log)
    (sms,) = _sms_of(fault_county, case_ids)
    assert provider.requests.count(sms.idempotency_key) == 2  # the killed attempt and the one after it
    # The relay serves every county: other tests' committed messages may go out too; count ours.
    assert provider.delivered[sms.idempotency_key] == 1
    assert sms.attempts == 2 and sms.last_error == "" and all(provider.signatures_ok)


def test_redis_down_while_cases_change_then_back_every_sms_arrives_once(fault_county, provider, redis_server, workers):
    redis_server.start()
    env = _process_env(redis_server, provider)
    worker = workers(env, "steady")
    redis_server.stop()

    case_ids = _change_cases(env, fault_county, 3)  # commits; queuing each delivery fails
    waiting = _sms_of(fault_county, case_ids)
    assert [(n.status, n.attempts) for n in waiting] == [(Status.PENDING, 0)] * 3
    assert provider.requests == []

    redis_server.start()  # empty: nothing that was queued before survives either
    send_as_beat(redis_server.url, "notifications-relay")

    def all_sent() -> bool:
        return {n.status for n in _sms_of(fault_county, case_ids)} == {Status.SENT}

    wait_for(all_sent, seconds=50, what="the relay to send every SMS", log=worker.log)
    keys = sorted(n.idempotency_key for n in waiting)
    # The relay serves every county: other tests' committed messages may go out too; count ours.
    assert sorted(k for k in provider.requests if k in keys) == keys  # each asked for once
    assert {k: provider.delivered[k] for k in keys} == dict.fromkeys(keys, 1)
    assert all(provider.signatures_ok)
