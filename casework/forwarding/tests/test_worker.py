"""A real Celery worker delivers forwards; killed (SIGKILL) in the middle of a delivery, the forward
still arrives exactly once: one forward in B, and after B takes it over, one case in B and one
record of it in A.

The worker is a subprocess on the test database and Redis. To catch it mid-delivery, the test
holds the envelope's row lock from another connection: the worker blocks inside its delivery
transaction, and is killed there.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from banchengshi.celery import app
from casework import services
from casework.exchange.models import Envelope
from casework.exchange.services import envelopes_relay
from casework.forwarding import services as forwarding_services
from casework.forwarding.models import Forward
from casework.forwarding.tests.conftest import counties_committed
from casework.models import Case, CaseEvent, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from conftest import database_url_for_processes, env_for_processes
from tests.processes import CeleryWorker, wait_for

ROOT = Path(__file__).resolve().parents[3]
# The marker makes pytest-django create the test database; the scenario itself runs in a thread
# of its own, on its own connection outside the test's transaction, so what it writes is committed
# and the worker process sees it.
pytestmark = pytest.mark.django_db


@pytest.fixture
def worker_factory(django_db_blocker: Any, celery_workers: Callable[..., CeleryWorker]) -> Callable[[], CeleryWorker]:
    with django_db_blocker.unblock():
        env = env_for_processes(
            {"PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
        )
    app.control.purge()
    return lambda: celery_workers(env, name="forwarding")


def _blocked_on_envelope(probe: psycopg.Connection[Any]) -> bool:
    row = probe.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE %s",
        ["%exchange_envelope%"],
    ).fetchone()
    return bool(row and row[0])


@pytest.fixture(scope="module")
def own_counties(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: Any) -> tuple[Any, Any]:
    """Two counties of one province for this module alone: what it commits never meets other tests."""
    made = counties_committed(
        (("439901", "fwsend", "FS", "转出测试县"), ("439902", "fwtake", "FT", "转入测试县")),
        django_db_blocker=django_db_blocker, tmp_path_factory=tmp_path_factory,
    )  # fmt: skip
    return made[0], made[1]


def test_a_worker_killed_mid_delivery_leaves_one_forward_one_case_one_record(
    own_counties: Any, django_db_blocker: Any, worker_factory: Callable[[], CeleryWorker]
) -> None:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            _scenario(own_counties, django_db_blocker, worker_factory)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(240)
    assert not thread.is_alive(), "the scenario did not finish"
    if failures:
        raise failures[0]


def _scenario(own_counties: Any, django_db_blocker: Any, worker_factory: Callable[[], CeleryWorker]) -> None:
    county_a, county_b = own_counties
    suffix = str(time.monotonic_ns())[-6:]
    with django_db_blocker.unblock():
        with tenant_context(county_a):
            clerk: Any = UserFactory(username=f"fw-clerk-{suffix}")
            StaffProfileFactory(user=clerk, role=StaffRole.WINDOW_CLERK)
            intake = services.CaseIntake(
                matter="异地补领身份证", description=f"户籍在龙井市 {suffix}", citizen_name="崔先生",
                citizen_phone="13600002222", channel="window", kind_code="case",
            )  # fmt: skip
            case = services.case_register(actor=clerk, intake=intake)
        with tenant_context(county_b):
            taker: Any = UserFactory(username=f"fw-taker-{suffix}")
            StaffProfileFactory(user=taker, role=StaffRole.WINDOW_CLERK)

    probe = psycopg.connect(database_url_for_processes(), autocommit=True)
    blocker = psycopg.connect(database_url_for_processes())
    try:
        with django_db_blocker.unblock():
            with tenant_context(county_a):
                forwarding_services.case_forward(
                    actor=clerk, case_id=case.pk, version=case.version, mode="full_online", reason="户籍地办理",
                    targets=[forwarding_services.ForwardTarget(county_code=county_b.code)],
                )  # fmt: skip
            envelope = Envelope.objects.get(source_code=county_a.code, payload__number=case.number)
        # Hold the envelope's row lock so the worker stops inside its delivery transaction.
        blocker.execute("SELECT id FROM public.exchange_envelope WHERE id = %s FOR UPDATE", [envelope.pk])
        worker = worker_factory()
        wait_for(lambda: _blocked_on_envelope(probe), seconds=60, what="the worker to wait for the envelope's lock")
        worker.kill()
        blocker.rollback()

        # The killed worker's message is not redelivered before the broker's visibility timeout;
        # the relay sends the envelope again, and a new worker delivers it.
        worker_factory()
        with django_db_blocker.unblock():
            assert Envelope.objects.get(pk=envelope.pk).delivered_at is None
            envelopes_relay(older_than_seconds=0)
            envelopes_relay(older_than_seconds=0)  # and once more: a duplicate changes nothing
            wait_for(lambda: Envelope.objects.get(pk=envelope.pk).delivered_at is not None, seconds=60,
                     what="the new worker to deliver the forward")  # fmt: skip
            with tenant_context(county_b):
                incoming = Forward.objects.filter(remote_number=case.number)
                assert incoming.count() == 1
                forward_id = incoming.get().pk
                forwarding_services.forward_accept(actor=taker, forward_id=forward_id, kind_code="case")
            accepted = Envelope.objects.get(forward_id=forward_id, kind="accepted")
            wait_for(lambda: Envelope.objects.get(pk=accepted.pk).delivered_at is not None, seconds=60,
                     what="the worker to deliver the acceptance")  # fmt: skip
            envelopes_relay(older_than_seconds=0)
            time.sleep(1)
            with tenant_context(county_b):
                assert Case.objects.filter(forwarded_from=county_a.code, matter="异地补领身份证",
                                           description__endswith=suffix).count() == 1  # fmt: skip
            with tenant_context(county_a):
                assert Case.objects.get(pk=case.pk).status == "forwarded"
                assert CaseEvent.objects.filter(case_id=case.pk, action="forward_accepted").count() == 1
    finally:
        blocker.close()
        probe.close()
