"""A clerk recalling a forward while the other county's answer is being applied: no deadlock.

The recall (a case transition) locks the case, then its forwards. Applying an answer in the
sending county must take the same locks in the same order; the other way round, each would wait
for the row the other holds, and PostgreSQL would abort one (the clerk's request, a 500).

Like test_worker, the scenario commits: it runs in a thread on its own connection, in two
counties of its own, with a third connection holding the case as a recall in progress would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.db.models import Q
from django_tenants.utils import tenant_context
from psycopg import sql

from casework import services
from casework.exchange.models import Envelope
from casework.forwarding import services as forwarding_services
from casework.forwarding.models import Forward
from casework.forwarding.tests.conftest import counties_committed
from casework.models import Case, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from conftest import database_url_for_processes
from tests.processes import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def own_counties(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[tuple[Any, Any]]:
    """Two counties of one province for this module alone: what it commits never meets other tests."""
    made = counties_committed(
        (("439903", "lksend", "LS", "锁序转出县"), ("439904", "lktake", "LT", "锁序转入县")),
        django_db_blocker=django_db_blocker, tmp_path_factory=tmp_path_factory,
    )  # fmt: skip
    yield made[0], made[1]
    # The envelopes it committed would otherwise meet the tests that count the exchange's rows.
    codes = [county.code for county in made]
    with django_db_blocker.unblock():
        Envelope.objects.filter(Q(source_code__in=codes) | Q(target_code__in=codes)).delete()


def _in_thread(target: Any) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, failures


def test_an_answer_applied_during_a_recall_waits_for_the_case_before_taking_the_forward(
    own_counties: Any, django_db_blocker: Any
) -> None:
    county_a, county_b = own_counties
    world: dict[str, Any] = {}

    def prepare() -> None:
        suffix = str(time.monotonic_ns())[-6:]
        with django_db_blocker.unblock():
            with tenant_context(county_a):
                clerk: Any = UserFactory(username=f"lk-clerk-{suffix}")
                StaffProfileFactory(user=clerk, role=StaffRole.WINDOW_CLERK)
                intake = services.CaseIntake(
                    matter="异地补领身份证", description=f"户籍在外县 {suffix}", citizen_name="崔先生",
                    citizen_phone="13600002222", channel="window", kind_code="case",
                )  # fmt: skip
                case = services.case_register(actor=clerk, intake=intake)
                (sent,) = forwarding_services.case_forward(
                    actor=clerk, case_id=case.pk, version=case.version, mode="full_online", reason="户籍地办理",
                    targets=[forwarding_services.ForwardTarget(county_code=county_b.code)],
                )  # fmt: skip
            with tenant_context(county_b):
                taker: Any = UserFactory(username=f"lk-taker-{suffix}")
                StaffProfileFactory(user=taker, role=StaffRole.WINDOW_CLERK)
                forwarding_services.envelope_apply(envelope_id=Envelope.objects.get(forward_id=sent.pk).pk)
                forwarding_services.forward_accept(actor=taker, forward_id=sent.pk, kind_code="case")
            world.update(case=case, forward=sent, accepted=Envelope.objects.get(forward_id=sent.pk, kind="accepted"))

    thread, failures = _in_thread(prepare)
    thread.join(120)
    assert not thread.is_alive() and not failures, failures

    def apply() -> None:
        with django_db_blocker.unblock(), tenant_context(county_a):
            forwarding_services.envelope_apply(envelope_id=world["accepted"].pk)

    probe = psycopg.connect(database_url_for_processes(), autocommit=True)
    recall = psycopg.connect(database_url_for_processes())
    try:
        # The recall's transaction has locked the case...
        schema = sql.Identifier(county_a.schema_name)
        recall.execute(
            sql.SQL("SELECT id FROM {}.casework_case WHERE id = %s FOR UPDATE").format(schema), [world["case"].pk]
        )
        applier, failures = _in_thread(apply)
        wait_for(
            lambda: bool(
                probe.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE %s",
                    ["%casework_case%"],
                ).fetchone()[0]  # type: ignore[index]
            ),
            seconds=60, what="the answer to wait for the case",
        )  # fmt: skip
        # ... and next takes its forwards: the answer waiting for the case must not be holding one.
        try:
            recall.execute(
                sql.SQL("SELECT id FROM {}.forwarding_forward WHERE id = %s FOR UPDATE NOWAIT").format(schema),
                [world["forward"].pk],
            )
        except psycopg.errors.LockNotAvailable:
            pytest.fail("applying the answer locked the forward before the case: a recall now deadlocks with it")
        finally:
            recall.rollback()
        applier.join(60)
        assert not applier.is_alive() and not failures, failures
    finally:
        recall.close()
        probe.close()
    with django_db_blocker.unblock(), tenant_context(county_a):
        assert Case.objects.get(pk=world["case"].pk).status == "forwarded"
        assert Forward.objects.get(pk=world["forward"].pk).status == "accepted"
