"""The platform under load survives real faults of its own processes, and loses and doubles nothing.

A private installation (tests/faults/conftest.py: its own PostgreSQL and Redis) runs the real
processes: gunicorn with ``deploy/gunicorn.conf.py``, a Celery worker (prefork, two children) and
Celery beat with the platform's schedule, and an SMS provider on loopback. Client threads
register cases over HTTP at two counties' window API the whole time. Each test applies one fault:

(a) the worker is SIGKILLed (with its children) while it is sending an SMS, and started again;
(b) Redis crashes (SIGKILL; append-only file as in production) with tasks queued, and restarts;
(c) PostgreSQL is stopped at once (``pg_ctl -m immediate``, a crash) under load, and restarted;
(d) beat is stopped while deadlines fall due, and started again.

Meanwhile deadlines of some of the test's cases fall due (their index entries are moved 20 days
into the past, as if the time had passed). Afterwards, for the test's own cases:

- every case the API accepted (201) exists, and no registration exists twice (each request
  carries a marker in its matter);
- every case's SMS reached the provider and was sent to the phone exactly once (the provider
  drops a repeated message id, as real ones do), and was asked for once: a second request, with
  the same id, only for a message first sent while the fault could cut its send off;
- every overdue notice and escalation of the cases whose deadlines passed fired exactly once.

Duplicated work is made on purpose: while the worker is down the relay runs (as on another
worker) and queues the waiting messages again, and two sweeps wait in the queue; the claims
(notifications ADR 6, deadline index ADR 5) must turn each duplicate into nothing. Removing the
relay, the notification claim's condition or the sweep's state change makes these tests fail.

Each registration carries an ``Idempotency-Key``. Clients retry a refused connection, a 503 (the
database unreachable: possibly after the registration committed) and an answer that never came,
with the same key: a registration that was processed answers with its case, so none is
registered twice and every retried one is accepted. A 500 is not retried (it is a bug).
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.faults.conftest import SMS_SECRET, Installation
from tests.processes import BIN, ROOT, CeleryWorker, Process, free_port, send_as_beat, wait_for
from tests.servers import SmsProvider

# The claim's lease is longer than the provider's timeout (the rule in production too) and short
# enough that a claim left by a killed worker is taken back soon; the relay queues again after
# 20 s what it queued into a Redis that then crashed.
SMS_TIMEOUT_SECONDS = 5
LEASE_SECONDS = 15
REQUEUE_SECONDS = 20
# The relay and the sweep run every minute (beat); a message or a deadline may need a few rounds.
SETTLE_SECONDS = 330
OVERDUE_LEVELS = {("overdue", 1): 1, ("escalated_for_lateness", 2): 1, ("escalated_for_lateness", 3): 1}


@dataclass
class Outcome:
    county: str
    marker: str
    status: int  # 0: no answer before the load stopped
    case_id: str = ""


@dataclass
class Load:
    """Client threads registering cases at the window API of each county, until stopped."""

    port: int
    counties: dict[str, dict[str, str]]
    prefix: str
    threads: int = 3
    outcomes: list[Outcome] = field(default_factory=list)
    retries: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(self.threads)]

    def __enter__(self) -> Load:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(180)

    def accepted(self) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if o.status == 201]

    def wait_accepted(self, count: int, *, seconds: float = 240) -> None:
        start = len(self.accepted())
        wait_for(lambda: len(self.accepted()) >= start + count, seconds=seconds, what=f"{count} more registrations",
                 log=lambda: f"outcomes: {Counter(o.status for o in self.outcomes)}")  # fmt: skip

    def _client(self, index: int) -> None:
        slugs = sorted(self.counties)
        number = 0
        while not self._stop.is_set():
            number += 1
            slug = slugs[(index + number) % len(slugs)]
            marker = f"{self.prefix}-{index}-{number}"
            outcome = self._register(slug, marker)
            with self._lock:
                self.outcomes.append(outcome)
            # A steady load the two cores keep up with; slower when the platform is in trouble.
            time.sleep(0.15 if outcome.status == 201 else 0.3)

    def _register(self, slug: str, marker: str) -> Outcome:
        county = self.counties[slug]
        body = json.dumps({
            "matter": marker, "description": "故障演练：窗口说材料不齐", "citizen_name": "刘女士",
            "citizen_phone": f"139{abs(hash(marker)) % 10**8:08d}", "channel": "window", "kind": "case",
            "category": county["category"],
        }, ensure_ascii=False).encode()  # fmt: skip
        headers = {"Host": county["host"], "Authorization": f"Token {county['token']}",
                   "Content-Type": "application/json", "Idempotency-Key": marker}  # fmt: skip
        while not self._stop.is_set():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                try:
                    connection.connect()
                except OSError:  # refused: the request surely did not arrive
                    self.retries += 1
                    time.sleep(0.5)
                    continue
                try:
                    connection.request("POST", "/api/v1/cases/create/", body=body, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                except OSError:  # sent, but no answer: it may have been processed; the key makes a retry safe
                    self.retries += 1
                    time.sleep(1)
                    continue
            finally:
                connection.close()
            if response.status == 503:
                self.retries += 1
                time.sleep(1)
                continue
            case_id = json.loads(data)["id"] if response.status == 201 else ""
            return Outcome(slug, marker, response.status, case_id)
        return Outcome(slug, marker, 0)


class Platform:
    """The installation's processes: web, worker, beat, and the SMS provider they send to."""

    def __init__(self, installation: Installation) -> None:
        self.installation = installation
        self.provider = SmsProvider(SMS_SECRET)
        self.port = free_port()
        logs = installation.directory
        env = installation.env(
            SMS_BACKEND="notifications.channels.HttpSmsBackend",
            SMS_ENDPOINT=self.provider.url,
            SMS_TIMEOUT_SECONDS=str(SMS_TIMEOUT_SECONDS),
            NOTIFICATIONS_LEASE_SECONDS=str(LEASE_SECONDS),
            NOTIFICATIONS_RELAY_REQUEUE_SECONDS=str(REQUEUE_SECONDS),
            PORT=str(self.port),
            GUNICORN_BIND_HOST="127.0.0.1",
            WEB_CONCURRENCY="2",
            GUNICORN_THREADS="4",
        )
        gunicorn = [str(BIN / "gunicorn"), "--config", str(ROOT / "deploy" / "gunicorn.conf.py"),
                    "banchengshi.wsgi:application"]  # fmt: skip
        self.web = Process("web", gunicorn, env, logs / "web.log")
        self.worker = CeleryWorker(
            "worker", ["-l", "info", "-c", "2", "-n", "faults@%h", "--without-mingle", "--without-gossip"],
            env, logs / "worker.log",
        )  # fmt: skip
        self.beat = Process(
            "beat", [sys.executable, "-m", "celery", "-A", "banchengshi", "beat", "-l", "info",
                     "-s", str(logs / "celerybeat-schedule")],
            env, logs / "beat.log",
        )  # fmt: skip

    def start_web(self) -> None:
        self.web.start(self._healthy)

    def start_worker(self) -> None:
        self.worker.start_ready()

    def start_beat(self) -> None:
        self.beat.start(self.beat.logged(b"beat: Starting"))

    def stop(self) -> None:
        for process in (self.beat, self.worker, self.web):
            process.stop()
        self.provider.close()

    def _healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def send_as_beat(self, entry: str) -> None:
        """What beat sends for this entry of banchengshi.schedules, sent now."""
        send_as_beat(self.installation.redis.url, entry)

    def relay_now(self) -> int:
        """The relay of every county, run at once as the periodic task would on another worker."""
        return int(self.installation.run("-m", "tests.faults.relay").strip().splitlines()[-1])

    def wait_sweeps_done(self) -> None:
        """Every deadline sweep sent so far has run (none waits in the queue or runs now)."""
        redis_client = self.installation.redis.client()

        def done() -> bool:
            log = self.worker.log_bytes().decode(errors="replace")
            started = set(re.findall(r"Task sla\.deadline_sweep\[([0-9a-f-]+)\] received", log))
            ended = set(re.findall(r"Task sla\.deadline_sweep\[([0-9a-f-]+)\] (?:succeeded|raised|failed)", log))
            return int(redis_client.llen("celery")) == 0 and started <= ended  # type: ignore[arg-type]

        wait_for(done, seconds=120, what="the sweeps already sent to finish", log=self.logs)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log()}" for p in (self.web, self.worker, self.beat))

    def load(self, prefix: str) -> Load:
        return Load(self.port, self.installation.counties, prefix)

    # -- reading the private database ------------------------------------------------------------

    def schema(self, slug: str) -> str:
        return self.installation.counties[slug]["schema"]

    def cases(self, slug: str, prefix: str) -> list[tuple[str, str]]:
        rows = self.installation.query(
            "SELECT id, matter FROM {schema}.casework_case WHERE matter LIKE %s", [f"{prefix}-%"],
            schema=self.schema(slug),
        )  # fmt: skip
        return [(str(case_id), matter) for case_id, matter in rows]

    def sms(self, slug: str, case_ids: list[str]) -> dict[str, str]:
        """Status of each case's registration SMS, by idempotency key."""
        keys = [f"{case_id}:case.registered:sms" for case_id in case_ids]
        rows = self.installation.query(
            "SELECT idempotency_key, status FROM {schema}.notifications_notification WHERE idempotency_key = ANY(%s)",
            [keys], schema=self.schema(slug),
        )  # fmt: skip
        return dict(rows)

    def make_overdue(self, slug: str, case_ids: list[str]) -> int:
        """Deadlines fall due: the cases' running clocks were due 20 days ago (warning too late)."""
        with self.installation.postgres.connect("banchengshi") as connection:
            cursor = connection.execute(
                "UPDATE sla_sweep_deadlineentry SET due_at = now() - interval '20 days', warn_at = NULL, "
                "next_check_at = now() - interval '20 days' "
                "WHERE schema_name = %s AND case_id = ANY(%s::uuid[]) AND next_check_at IS NOT NULL",
                [self.schema(slug), case_ids],
            )
            return cursor.rowcount

    def deadline_state(self, slug: str, case_ids: list[str]) -> list[tuple[str, str, int, Any]]:
        return [(str(r[0]), r[1], r[2], r[3]) for r in self.installation.query(
            "SELECT case_id, clock, escalation, next_check_at FROM sla_sweep_deadlineentry "
            "WHERE schema_name = %s AND case_id = ANY(%s::uuid[]) AND due_at < now() - interval '19 days'",
            [self.schema(slug), case_ids],
        )]  # fmt: skip

    def deadline_events(self, slug: str, case_ids: list[str]) -> Counter[tuple[str, str, str, int]]:
        rows = self.installation.query(
            "SELECT case_id, action, data->>'clock', (data->>'level')::int FROM {schema}.casework_caseevent "
            "WHERE case_id = ANY(%s::uuid[]) AND action IN ('deadline_warning', 'overdue', 'escalated_for_lateness')",
            [case_ids], schema=self.schema(slug),
        )  # fmt: skip
        return Counter((str(case_id), action, clock, level) for case_id, action, clock, level in rows)


@pytest.fixture(scope="module")
def platform(installation: Installation) -> Iterator[Platform]:
    running = Platform(installation)
    try:
        running.start_web()
        running.start_worker()
        running.start_beat()
        yield running
    finally:
        running.stop()


@pytest.fixture
def healthy(platform: Platform) -> Iterator[Platform]:
    """Whatever a test broke is running again for the next one."""
    yield platform
    installation = platform.installation
    if not installation.redis.up():
        installation.redis.start()
    try:
        installation.query("SELECT 1")
    except Exception:  # noqa: BLE001 - down: start it again
        installation.postgres.start()
    for process, start in ((platform.worker, platform.start_worker), (platform.beat, platform.start_beat)):
        if process.process is None or process.process.poll() is not None:
            start()


def _due_soon(load: Load, count: int) -> dict[str, list[str]]:
    """The first ``count`` accepted cases of each county, whose deadlines the test makes pass."""
    chosen: dict[str, list[str]] = {}
    for outcome in load.accepted():
        ids = chosen.setdefault(outcome.county, [])
        if len(ids) < count:
            ids.append(outcome.case_id)
    return chosen


def _settle_and_check(
    platform: Platform, load: Load, overdue: dict[str, list[str]], *, interrupted: tuple[float, float] | None
) -> None:
    """What the API accepted exists once, each SMS went out once, each deadline event fired once.

    ``interrupted`` is the time window (``time.monotonic()``) in which a fault may have cut a send
    off before its outcome was recorded: a message first asked for then may be asked for once
    more, with the same id; every other message is asked for exactly once.
    """
    accepted = load.accepted()
    assert len(accepted) >= 20, Counter(o.status for o in load.outcomes)
    cases = {slug: platform.cases(slug, load.prefix) for slug in platform.installation.counties}
    for slug, rows in cases.items():
        markers = Counter(matter for _id, matter in rows)
        assert [m for m, n in markers.items() if n > 1] == [], f"registered twice in {slug}"
        matters = dict(rows)
        mine = [o for o in accepted if o.county == slug]
        assert [o.marker for o in mine if matters.get(o.case_id) != o.marker] == [], f"accepted but missing in {slug}"

    def sms_all_sent() -> bool:
        return all(
            set(platform.sms(slug, [case_id for case_id, _m in rows]).values()) <= {"sent"}
            and len(platform.sms(slug, [case_id for case_id, _m in rows])) == len(rows)
            for slug, rows in cases.items()
        )

    def deadlines_done() -> bool:
        states = [(ids, platform.deadline_state(slug, ids)) for slug, ids in overdue.items()]
        return all(
            len(state) >= len(ids) and all(level == 3 and next_check is None for *_x, level, next_check in state)
            for ids, state in states
        )

    wait_for(sms_all_sent, seconds=SETTLE_SECONDS, what="every SMS to be sent", log=platform.logs)
    wait_for(deadlines_done, seconds=SETTLE_SECONDS, what="every deadline to reach 督办", log=platform.logs)

    requests, delivered = platform.provider.snapshot()
    keys = [f"{case_id}:case.registered:sms" for rows in cases.values() for case_id, _m in rows]
    assert {key: delivered[key] for key in keys} == dict.fromkeys(keys, 1)
    repeats = sum(requests[key] - 1 for key in keys)
    # Only a send that a fault interrupted (the worker died, or the database was gone when its
    # outcome was to be recorded) is asked again, once, with the same id. A duplicated task (the
    # relay and the queue, a sweep twice) sends nothing: the claim.
    may_repeat = platform.provider.first_arrived_between(*interrupted) if interrupted else set()
    assert {key: requests[key] for key in keys if requests[key] > (2 if key in may_repeat else 1)} == {}
    assert platform.provider.bad_signatures == 0

    fired_total = 0
    for slug, ids in overdue.items():
        events = platform.deadline_events(slug, ids)
        fired_total += sum(events.values())
        clocks = {(case_id, clock) for case_id, clock, _e, _n in platform.deadline_state(slug, ids)}
        assert clocks, f"no deadline was made to pass in {slug}"
        for case_id, clock in clocks:
            fired = {(action, level): n for (c, action, k, level), n in events.items() if c == case_id and k == clock}
            assert fired == OVERDUE_LEVELS, (slug, case_id, clock, fired)
    outcomes = Counter(o.status for o in load.outcomes)
    print(  # the suite's measurements, shown with -s
        f"\n{load.prefix}: answers {dict(outcomes)}, client retries {load.retries},"
        f" cases {sum(map(len, cases.values()))} (accepted {len(accepted)}), SMS {len(keys)} sent once each,"
        f" repeated requests {repeats},"
        f" deadline events {fired_total} fired once each"
    )


def test_a_worker_killed_mid_task_and_restarted_loses_and_doubles_nothing(healthy: Platform) -> None:
    platform = healthy
    with platform.load("faults-a") as load:
        load.wait_accepted(10)
        overdue = _due_soon(load, 3)
        for slug, ids in overdue.items():
            assert platform.make_overdue(slug, ids) >= len(ids)
        platform.provider.hold_next = True
        assert platform.provider.arrived.wait(120), platform.logs()
        platform.worker.kill()  # mid-send: the provider holds the request
        killed = time.monotonic()
        platform.provider.release.set()
        load.wait_accepted(10)  # registrations go on while no worker runs; their tasks wait in Redis
        # Meanwhile the periodic relay runs (on another worker): it queues each waiting message
        # again, so each has two tasks; the claim lets one send.
        assert platform.relay_now() > 0
        platform.start_worker()
        load.wait_accepted(20)
    platform.provider.arrived.clear()
    platform.provider.release.clear()
    # Either child may have been sending, or have sent without recording it, when killed.
    _settle_and_check(platform, load, overdue, interrupted=(killed - 2 * SMS_TIMEOUT_SECONDS, killed + 1))


def test_redis_crashed_with_work_queued_and_restarted_loses_and_doubles_nothing(healthy: Platform) -> None:
    platform = healthy
    redis_server = platform.installation.redis
    with platform.load("faults-b") as load:
        load.wait_accepted(10)
        platform.worker.stop()  # a warm shutdown: from here on, work piles up in the queue
        overdue = _due_soon(load, 3)
        for slug, ids in overdue.items():
            assert platform.make_overdue(slug, ids) >= len(ids)
        # Two minutes of beat while no worker runs: two sweeps wait, and will dispatch the same
        # due entries twice; and the relay (on another worker) queues the waiting messages again.
        platform.send_as_beat("deadline-sweep")
        platform.send_as_beat("deadline-sweep")
        load.wait_accepted(15)
        assert platform.relay_now() > 0
        queued = int(redis_server.client().llen("celery"))  # type: ignore[arg-type]
        assert queued > 0
        time.sleep(1.5)  # the append-only file is written every second
        redis_server.kill()
        load.wait_accepted(5)  # registrations go on; their deliveries cannot be queued
        redis_server.start()
        print(f"\nqueued before the crash: {queued}, after the restart: {redis_server.client().llen('celery')}")
        platform.start_worker()
        load.wait_accepted(15)
    _settle_and_check(platform, load, overdue, interrupted=None)


def test_postgresql_crashed_under_load_and_restarted_loses_and_doubles_nothing(healthy: Platform) -> None:
    platform = healthy
    postgres = platform.installation.postgres
    with platform.load("faults-c") as load:
        load.wait_accepted(10)
        overdue = _due_soon(load, 3)
        for slug, ids in overdue.items():
            assert platform.make_overdue(slug, ids) >= len(ids)
        load.wait_accepted(10)
        crashed = time.monotonic()
        postgres.stop("immediate")
        time.sleep(3)  # requests, deliveries and sweeps fail meanwhile
        postgres.start()
        restarted = time.monotonic()
        load.wait_accepted(20)
    # A send whose outcome could not be recorded (the database was gone) is sent again after its
    # lease, with the same id.
    _settle_and_check(
        platform, load, overdue, interrupted=(crashed - 2 * SMS_TIMEOUT_SECONDS, restarted + 2 * SMS_TIMEOUT_SECONDS)
    )


def test_beat_stopped_while_deadlines_fall_due_then_started_fires_each_once(healthy: Platform) -> None:
    platform = healthy
    with platform.load("faults-d") as load:
        load.wait_accepted(10)
        platform.beat.stop()
        platform.wait_sweeps_done()  # a sweep beat sent just before it stopped must not count
        overdue = _due_soon(load, 3)
        for slug, ids in overdue.items():
            assert platform.make_overdue(slug, ids) >= len(ids)
        load.wait_accepted(10)
        # A minute boundary passes (beat would have swept): nothing fires without it.
        time.sleep(61 - time.time() % 60 + 5)
        assert all(state[2] == 0 for slug, ids in overdue.items() for state in platform.deadline_state(slug, ids))
        platform.start_beat()
        load.wait_accepted(10)
    _settle_and_check(platform, load, overdue, interrupted=None)
