"""``Idempotency-Key`` on registration: a client that retries after a lost answer registers one case.

The same key, sender and body answer with the first case and write nothing; the same key with
another body is refused; two requests at once with one key (real connections, a real server)
make one case.
"""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from typing import Any, cast

import psycopg
import pytest
import requests
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context
from rest_framework.authtoken.models import Token

from banchengshi.audit.models import AuditRecord
from banchengshi.audit.services import LOCK_NAMESPACE
from casework import services
from casework.models import Case, CaseEvent, CaseSequence, IntakeKey
from casework.tests.factories import LIAO_REGISTRATION, StaffProfileFactory, UserFactory
from conftest import database_url_for_processes, host_of, web_server
from notifications.models import Notification

BODY = LIAO_REGISTRATION
CITIZEN_BODY = {k: v for k, v in BODY.items() if k not in {"channel", "window"}}


def register(api: Any, key: str | None, body: dict[str, Any] | None = None, path: str = "cases/create/") -> Any:
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return api.client.post(f"/api/v1/{path}", BODY if body is None else body, format="json", **headers)


def written(county: Any) -> dict[str, Any]:
    """Everything a registration writes, counted (the case numbers given out too)."""
    with tenant_context(county):
        return {
            "cases": Case.objects.count(),
            "events": CaseEvent.objects.count(),
            "outbox": Notification.objects.count(),
            "audit": AuditRecord.objects.count(),
            "keys": IntakeKey.objects.count(),
            "numbers": sorted(CaseSequence.objects.values_list("year", "last")),
        }


@pytest.mark.django_db
def test_a_retry_with_the_same_key_answers_with_the_first_case_and_writes_nothing(county_a, staff_api):
    clerk = staff_api(county_a, "window_clerk")
    key = str(uuid.uuid4())
    first = register(clerk, key)
    assert first.status_code == 201, first.json()
    assert "Idempotent-Replayed" not in first
    before = written(county_a)

    retry = register(clerk, key)

    assert retry.status_code == 201, retry.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()  # the same case, the same shape (nothing changed it since)
    assert written(county_a) == before  # no case, event, SMS, webhook, audit record, key or number
    with tenant_context(county_a):
        assert CaseEvent.objects.filter(case_id=first.json()["id"]).count() == 1


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_refused_and_writes_nothing(county_a, staff_api):
    clerk = staff_api(county_a, "window_clerk")
    key = str(uuid.uuid4())
    assert register(clerk, key).status_code == 201
    before = written(county_a)

    other = register(clerk, key, BODY | {"description": "另一件事：不动产登记材料被退回三次。"})
    # Only the spelling differs: still another request (the client must send what it sent).
    respelled = register(clerk, key, BODY | {"citizen_phone": "13812345678"})

    for response in (other, respelled):
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "casework.idempotency_key_reused"
        assert "Idempotency-Key 已用于另一份不同的请求" in error["message"]
        assert "Idempotent-Replayed" not in response
    assert written(county_a) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "key",
    ["", " ", "x" * 129, "键-1", "tab\there", "new\nline", "del\x7f"],
    ids=["empty", "blank", "too-long", "not-ascii", "tab", "newline", "control"],
)
def test_a_malformed_key_is_refused_with_a_stable_code(county_a, staff_api, key):
    clerk = staff_api(county_a, "window_clerk")
    before = written(county_a)
    response = register(clerk, key)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "casework.idempotency_key_invalid"
    assert error["message"] == "请求头 Idempotency-Key 须为 1 至 128 个可打印的 ASCII 字符。"
    assert written(county_a) == before


@pytest.mark.django_db
def test_a_key_of_128_printable_characters_with_spaces_is_accepted(county_a, staff_api):
    clerk = staff_api(county_a, "window_clerk")
    key = ("order 7 / retry ~ " * 10)[:128]
    assert register(clerk, key).status_code == 201
    assert register(clerk, key)["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_another_senders_same_key_registers_its_own_case(county_a, staff_api, anonymous_api, clean_cache):
    key = "shared-key-1"
    first = register(staff_api(county_a, "window_clerk"), key).json()
    # Another clerk of the county, and a citizen online, happen to pick the same key.
    colleague = register(staff_api(county_a, "window_clerk", username="clerk-two"), key)
    citizen = register(anonymous_api(county_a), key, CITIZEN_BODY, "public/submit/")
    assert colleague.status_code == 201 and "Idempotent-Replayed" not in colleague
    assert citizen.status_code == 201 and "Idempotent-Replayed" not in citizen
    assert len({first["number"], colleague.json()["number"], citizen.json()["number"]}) == 3
    with tenant_context(county_a):
        scopes = sorted(IntakeKey.objects.filter(key=key).values_list("scope", flat=True))
    assert len(scopes) == 3 and scopes[0] == "citizen" and all(s.startswith("user:") for s in scopes[1:])


@pytest.mark.django_db
def test_a_citizens_retry_online_answers_with_the_first_case(county_a, anonymous_api, clean_cache):
    citizen = anonymous_api(county_a)
    first = register(citizen, "web-form-42", CITIZEN_BODY, "public/submit/")
    assert first.status_code == 201, first.json()
    before = written(county_a)
    retry = register(citizen, "web-form-42", CITIZEN_BODY, "public/submit/")
    assert retry.status_code == 201 and retry["Idempotent-Replayed"] == "true"
    assert retry.json()["tracking_code"] == first.json()["tracking_code"]
    assert retry.json()["number"] == first.json()["number"]
    assert written(county_a) == before


@pytest.mark.django_db
def test_keys_of_one_county_are_unknown_at_another(county_a, county_b, anonymous_api, clean_cache):
    key = "same-key-both-counties"
    at_a = register(anonymous_api(county_a), key, CITIZEN_BODY, "public/submit/")
    at_b = register(anonymous_api(county_b), key, CITIZEN_BODY, "public/submit/")
    assert at_a.status_code == at_b.status_code == 201
    assert "Idempotent-Replayed" not in at_b
    assert at_a.json()["number"].startswith("CZ-") and at_b.json()["number"].startswith("LJ-")
    with tenant_context(county_b):
        assert IntakeKey.objects.get(key=key).case.number == at_b.json()["number"]


@pytest.mark.django_db
def test_without_a_key_nothing_changes_and_the_same_body_registers_twice(county_a, staff_api):
    clerk = staff_api(county_a, "window_clerk")
    numbers = {register(clerk, None).json()["number"] for _ in range(2)}
    assert len(numbers) == 2
    with tenant_context(county_a):
        assert not IntakeKey.objects.filter(case__number__in=numbers).exists()


@pytest.mark.django_db
def test_a_key_costs_two_statements_and_a_replay_one_without_taking_a_number(county_a):
    with tenant_context(county_a):
        actor = UserFactory(username="counting-clerk")
        StaffProfileFactory(user=actor, role="window_clerk")
        intake = services.CaseIntake(
            matter="户籍迁移", description="材料齐全但未受理", citizen_name="张先生",
            citizen_phone="13900001111", channel="window", kind_code="case",
        )  # fmt: skip
        services.case_register(actor=actor, intake=intake)  # warm the per-process caches
        with CaptureQueriesContext(connection) as plain:
            services.case_register(actor=actor, intake=intake)
        with CaptureQueriesContext(connection) as keyed:
            services.case_register_once(idempotency_key="count-1", actor=actor, intake=intake)
        numbers = list(CaseSequence.objects.values_list("year", "last"))
        with CaptureQueriesContext(connection) as replay:
            again = services.case_register_once(idempotency_key="count-1", actor=actor, intake=intake)
        assert list(CaseSequence.objects.values_list("year", "last")) == numbers
    assert again.replayed
    assert len(keyed) == len(plain) + 2  # the lookup before the number, the claim in the transaction
    # The role check, then one query for the key and its case: no number, no write.
    assert not [q for q in replay.captured_queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert len(replay) <= 2


@pytest.mark.django_db
def test_keys_older_than_the_retention_are_purged_and_then_register_anew(county_a, staff_api, settings):
    clerk = staff_api(county_a, "window_clerk")
    old = register(clerk, "old-key").json()
    fresh = register(clerk, "fresh-key").json()
    with tenant_context(county_a):
        IntakeKey.objects.filter(key="old-key").update(created_at=timezone.now() - datetime.timedelta(days=8))
        assert services.intake_keys_purge() == 1
        assert set(IntakeKey.objects.filter(key__in=["old-key", "fresh-key"]).values_list("key", flat=True)) == {
            "fresh-key"
        }
    assert register(clerk, "fresh-key").json()["id"] == fresh["id"]
    again = register(clerk, "old-key")
    assert again.status_code == 201 and again.json()["id"] != old["id"]


@pytest.mark.django_db
def test_the_purge_is_dispatched_to_every_county_at_night_and_runs_in_the_county(county_a, staff_api):
    from banchengshi.schedules import BEAT_SCHEDULE
    from casework.tasks import intake_keys_purge

    [entry] = [e for e in BEAT_SCHEDULE.values() if e.get("args") == ("casework.intake_keys_purge",)]
    assert entry["task"] == "platform.dispatch_to_counties" and entry["schedule"].hour == {1}
    register(staff_api(county_a, "window_clerk"), "purged-by-the-task")
    with tenant_context(county_a):
        IntakeKey.objects.filter(key="purged-by-the-task").update(
            created_at=timezone.now() - datetime.timedelta(days=30)
        )
    # As the dispatcher sends it: the county named in the header.
    assert intake_keys_purge.apply(headers={"_schema_name": county_a.schema_name}).get() >= 1
    with tenant_context(county_a):
        assert not IntakeKey.objects.filter(key="purged-by-the-task").exists()


# -- real concurrency: committed rows, own connections ----------------------------------------


def _committed_clerk(county: Any) -> Any:
    with tenant_context(county):
        user = UserFactory(username=f"race-{uuid.uuid4().hex[:8]}")
        StaffProfileFactory(user=user, role="window_clerk")
        return user


def _waiting_on_locks(database: psycopg.Connection) -> int:
    row = database.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchone()
    return int(row[0]) if row else 0


def _until(condition: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_retry_arriving_while_the_first_request_commits_waits_for_it_and_answers_with_its_case(
    two_counties, django_db_blocker
):
    """Two connections, one key: the second passes the lookup (nothing committed yet), takes its
    number, then waits on the key's unique index inside its transaction; when the first commits it
    rolls back and answers with the first's case. The first is held mid-transaction (after its key
    is written) by holding the county's audit-chain lock, which every registration takes last."""
    county = two_counties[0]
    key = f"race-{uuid.uuid4()}"
    intake = services.CaseIntake(
        matter="护照加急", description="病重无法到厅", citizen_name="曹先生",
        citizen_phone="13904331234", channel="window", kind_code="case",
    )  # fmt: skip
    results: dict[str, services.Registration] = {}
    errors: list[BaseException] = []

    def register_in_thread(name: str, actor: Any) -> None:
        try:
            cast(Any, connection).set_tenant(county)
            results[name] = services.case_register_once(idempotency_key=key, actor=actor, intake=intake)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    with django_db_blocker.unblock():
        clerk = _committed_clerk(county)
        with psycopg.connect(database_url_for_processes(), autocommit=True) as observer:
            with psycopg.connect(database_url_for_processes()) as gate:
                gate.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [LOCK_NAMESPACE, county.schema_name])
                first = threading.Thread(target=register_in_thread, args=("first", clerk))
                first.start()
                _until(lambda: _waiting_on_locks(observer) >= 1)  # first: key written, waiting to audit
                second = threading.Thread(target=register_in_thread, args=("second", clerk))
                second.start()
                _until(lambda: _waiting_on_locks(observer) >= 2)  # second: waiting on the first's key
                gate.rollback()  # the audit lock goes: the first commits
            first.join(30)
            second.join(30)
        with tenant_context(county):
            cases = list(Case.objects.filter(pk__in=IntakeKey.objects.filter(key=key).values("case_id")))
            events = CaseEvent.objects.filter(case__in=cases).count()
    assert not errors, errors
    assert not results["first"].replayed and results["second"].replayed
    assert results["first"].case.pk == results["second"].case.pk
    assert [case.pk for case in cases] == [results["first"].case.pk] and events == 1


def test_concurrent_http_requests_with_one_key_register_one_case(two_counties, django_db_blocker):
    county = two_counties[0]
    key = f"http-race-{uuid.uuid4()}"
    with django_db_blocker.unblock():
        clerk = _committed_clerk(county)
        with tenant_context(county):
            token = Token.objects.create(user=clerk).key
        responses: list[requests.Response] = []
        barrier = threading.Barrier(4)

        def post(port: int) -> None:
            session = requests.Session()
            session.trust_env = False  # loopback, whatever proxy the environment names
            barrier.wait()
            responses.append(
                session.post(
                    f"http://127.0.0.1:{port}/api/v1/cases/create/",
                    json=BODY,
                    headers={"Host": host_of(county), "Authorization": f"Token {token}", "Idempotency-Key": key},
                    timeout=30,
                )
            )

        with web_server(threads=4) as port:
            threads = [threading.Thread(target=post, args=(port,)) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        with tenant_context(county):
            registered = IntakeKey.objects.filter(key=key).count()
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 3
    assert registered == 1
