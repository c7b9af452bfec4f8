"""Celery beat proves it is alive, and never runs twice (ADR 25).

- The scheduler (``banchengshi.beat.GuardedScheduler``, the platform's ``beat_scheduler``) touches a
  heartbeat file on every tick; ``deploy/beat-alive.sh`` (the chart's liveness probe and compose's
  health check) fails when the file is older than its limit. The old probe only checked that the
  schedule file existed, which a hung beat left in place for ever.
- A Redis lock with a time to live, renewed on every tick, lets one beat send the schedule; another
  waits, sending nothing, and takes over once the holder stops renewing (killed, hung, partitioned)
  or releases the lock (stopped). What the holder sent is recorded in Redis, so the one taking over
  neither sends again what was sent nor forgets what fell due while nobody held the lock.

Against the test Redis (the lock and the scheduler) and a private Redis (two real ``celery beat``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
import redis
from celery import Celery
from django.conf import settings

from banchengshi.beat import BeatLock, GuardedScheduler
from tests.processes import Process, wait_for
from tests.servers import PrivateRedis

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "deploy" / "beat-alive.sh"
SH = shutil.which("sh")


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(settings.REDIS_URL)
    yield connection
    connection.close()


@pytest.fixture
def key(client: redis.Redis) -> Iterator[str]:
    """A key prefix of the test's own on the test Redis (the lock and the record of what was sent)."""
    prefix = f"test:beat:{uuid.uuid4().hex}"
    yield prefix
    for name in client.scan_iter(f"{prefix}*"):
        client.delete(name)


# --- the liveness probe ---------------------------------------------------------------------------


def _probe(heartbeat: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert SH is not None
    env = {**os.environ, "BEAT_HEARTBEAT_FILE": str(heartbeat)}
    return subprocess.run([SH, str(PROBE), *args], env=env, capture_output=True, text=True, check=False)  # noqa: S603


@pytest.mark.skipif(SH is None, reason="no POSIX shell")
def test_the_probe_passes_a_fresh_heartbeat_and_fails_a_stale_or_missing_one(tmp_path):
    heartbeat = tmp_path / "beat-heartbeat"
    assert _probe(heartbeat).returncode != 0  # beat never ticked
    heartbeat.write_text("tick\n")
    assert _probe(heartbeat).returncode == 0
    now = time.time()
    os.utime(heartbeat, (now - 100, now - 100))
    assert _probe(heartbeat).returncode == 0  # within the default limit of 120 s
    assert _probe(heartbeat, "60").returncode == 1  # a limit of its own
    os.utime(heartbeat, (now - 600, now - 600))  # a beat hung for ten minutes
    stale = _probe(heartbeat)
    assert stale.returncode == 1
    assert "heartbeat" in stale.stdout


@pytest.mark.skipif(SH is None, reason="no POSIX shell")
def test_the_probe_reads_the_images_heartbeat_path_by_default():
    """The image sets BEAT_HEARTBEAT_FILE; the probe's own default is the same path."""
    text = PROBE.read_text(encoding="utf-8")
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert "BEAT_HEARTBEAT_FILE=/tmp/beat-heartbeat" in dockerfile
    assert '"${BEAT_HEARTBEAT_FILE:-/tmp/beat-heartbeat}"' in text


# --- the lock ---------------------------------------------------------------------------------------


def test_of_two_beats_one_holds_the_lock_and_the_other_takes_over_when_it_stops_renewing(client, key):
    first = BeatLock(client, key=f"{key}:lock", seconds=2)
    second = BeatLock(client, key=f"{key}:lock", seconds=2)
    assert first.hold() is True
    assert second.hold() is False
    assert first.hold() is True  # renewed
    assert second.hold() is False
    assert client.get(f"{key}:lock").decode() == first.token
    # The holder hangs (renews nothing): the other waits out the time to live, then holds.
    deadline = time.monotonic() + 10
    while not second.hold():
        assert time.monotonic() < deadline, "the waiting beat never took over"
        time.sleep(0.2)
    assert time.monotonic() - (deadline - 10) >= 1.5  # not before the lock expired
    # The first one wakes up: it holds nothing now, and cannot take the lock back.
    assert first.hold() is False
    assert second.hold() is True


def test_a_stopping_beat_releases_the_lock_and_the_other_holds_at_once(client, key):
    first = BeatLock(client, key=f"{key}:lock", seconds=60)
    second = BeatLock(client, key=f"{key}:lock", seconds=60)
    assert first.hold() and not second.hold()
    second.release()  # not the holder: changes nothing
    assert client.get(f"{key}:lock").decode() == first.token
    first.release()
    assert second.hold() is True


def test_a_beat_that_cannot_reach_redis_sends_nothing_and_holds_again_when_it_can(client, key):
    lock = BeatLock(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5), key=f"{key}:lock", seconds=5)
    assert lock.hold() is False
    lock.client = client
    assert lock.hold() is True


# --- the scheduler ------------------------------------------------------------------------------------


@pytest.fixture
def sender(key: str) -> Iterator[tuple[Celery, str]]:
    """A Celery app with one entry due every half second, sending to a queue of the test's own."""
    queue = f"{key}:queue"
    app = Celery("beat-guard-test", broker=settings.CELERY_BROKER_URL, set_as_current=False)
    app.conf.beat_schedule = {
        "ping": {"task": "beat-guard-test.ping", "schedule": 0.5, "options": {"queue": queue}},
        "hourly": {"task": "beat-guard-test.hourly", "schedule": 3600.0, "options": {"queue": queue}},
    }
    yield app, queue
    app.close()


def _scheduler(app: Celery, tmp_path: Path, name: str, key: str, seconds: float = 2) -> GuardedScheduler:
    return GuardedScheduler(
        app=app, schedule_filename=str(tmp_path / f"{name}-schedule"), heartbeat_file=str(tmp_path / f"{name}.alive"),
        key=key, lock_seconds=seconds, redis_url=settings.REDIS_URL,
    )  # fmt: skip


def _tick_for(scheduler: GuardedScheduler, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        scheduler.tick()
        time.sleep(0.05)


def _sent(client: redis.Redis, queue: str) -> list[str]:
    import json

    messages = cast(list[bytes], client.lrange(queue, 0, -1))
    return [json.loads(m)["headers"]["task"] for m in messages]


def test_a_second_beat_sends_nothing_until_the_first_stops_renewing(sender, tmp_path, key, client):
    app, queue = sender
    first = _scheduler(app, tmp_path, "first", key)
    second = _scheduler(app, tmp_path, "second", key)
    try:
        _tick_for(first, 1.2)
        assert first.holds and "beat-guard-test.ping" in _sent(client, queue)
        before = len(_sent(client, queue))
        _tick_for(second, 1.2)  # the first still holds the lock (2 s): the second waits
        assert not second.holds
        assert len(_sent(client, queue)) == before
        # The first hangs: the second takes over after the lock's time to live, and sends.
        wait_for(lambda: (second.tick(), second.holds)[1], seconds=10, what="the second beat to take over")
        _tick_for(second, 1.2)
        assert len(_sent(client, queue)) > before
        # The first wakes up, finds the lock gone, and sends nothing.
        after = len(_sent(client, queue))
        _tick_for(first, 1.2)
        assert not first.holds
        assert len(_sent(client, queue)) == after
    finally:
        first.close()
        second.close()


def test_a_stopped_beat_hands_over_at_once_and_nothing_sent_is_sent_again(sender, tmp_path, key, client):
    """What falls due while no beat holds the lock is sent once by the next holder; what the previous
    holder sent is not sent again, however old the next one's own state (a standby waiting for hours)."""
    app, queue = sender
    client.hset(f"{key}:last-run", "hourly", (datetime.now(UTC) - timedelta(hours=2)).timestamp())
    first = _scheduler(app, tmp_path, "first", key, seconds=60)
    second = _scheduler(app, tmp_path, "second", key, seconds=60)
    try:
        _tick_for(first, 0.3)
        assert _sent(client, queue).count("beat-guard-test.hourly") == 1  # it fell due while nobody held
        _tick_for(second, 0.3)
        assert not second.holds
        second.schedule["hourly"].last_run_at = datetime.now(UTC) - timedelta(hours=3)  # its own view: long ago
        first.close()  # a stopping beat (SIGTERM) releases the lock
        second.tick()
        assert second.holds  # at once, not after the lock's 60 s
        _tick_for(second, 1.2)
        assert _sent(client, queue).count("beat-guard-test.hourly") == 1
    finally:
        second.close()


def test_every_tick_touches_the_heartbeat_whether_holding_or_waiting(sender, tmp_path, key):
    app, _ = sender
    first = _scheduler(app, tmp_path, "first", key)
    second = _scheduler(app, tmp_path, "second", key)
    try:
        first.tick()
        for name, scheduler in (("first", first), ("second", second)):
            heartbeat = tmp_path / f"{name}.alive"
            if heartbeat.exists():
                os.utime(heartbeat, (time.time() - 600, time.time() - 600))
            scheduler.tick()
            assert time.time() - heartbeat.stat().st_mtime < 5, name
        assert first.holds and not second.holds
    finally:
        first.close()
        second.close()


def test_no_tick_sleeps_past_a_third_of_the_locks_time_to_live(sender, tmp_path, key):
    """The lock is renewed only when beat ticks: a sleep of a crontab's minute would let it expire."""
    app, _ = sender
    app.conf.beat_schedule = {"nightly": {"task": "beat-guard-test.nightly", "schedule": 86400.0}}
    holder = _scheduler(app, tmp_path, "holder", key, seconds=30)
    waiting = _scheduler(app, tmp_path, "waiting", key, seconds=30)
    try:
        assert 0 <= holder.tick() <= 10
        assert 0 <= waiting.tick() <= 10
    finally:
        holder.close()
        waiting.close()


def test_the_platform_runs_beat_with_the_guarded_scheduler():
    from banchengshi.celery import app

    assert app.conf.beat_scheduler == "banchengshi.beat:GuardedScheduler"


# --- two real beats -----------------------------------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    directory = tmp_path_factory.mktemp("beat-redis")
    server = PrivateRedis(directory, append_only=False)
    server.start()
    yield server
    server.kill()


def test_two_real_beats_send_the_schedule_once_and_the_survivor_takes_over_a_killed_one(private_redis, tmp_path):
    """`docker compose up --scale beat=2`, or two beat pods during a rolling update."""
    from conftest import database_url_for_processes

    # The deadline sweep last ran five minutes ago: it is due as soon as a beat holds the lock.
    private_redis.client().hset(
        "banchengshi:beat:last-run", "deadline-sweep", (datetime.now(UTC) - timedelta(minutes=5)).timestamp()
    )
    beats = []
    for name in ("beat-a", "beat-b"):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "banchengshi.settings.test",
            "DATABASE_URL": database_url_for_processes(),
            "REDIS_URL": private_redis.url,
            "TEST_REDIS_DB": "0",
            "BEAT_LOCK_SECONDS": "3",
            "BEAT_HEARTBEAT_FILE": str(tmp_path / f"{name}.alive"),
            "LOG_FORMAT": "plain",
        }
        argv = [sys.executable, "-m", "celery", "-A", "banchengshi", "beat", "-l", "info",
                "-s", str(tmp_path / f"{name}-schedule")]  # fmt: skip
        beats.append(Process(name, argv, env, tmp_path / f"{name}.log"))
    try:
        for beat in beats:
            beat.start()
        logs = lambda: "\n".join(f"--- {b.name}\n{b.log()}" for b in beats)  # noqa: E731
        wait_for(lambda: all((tmp_path / f"{b.name}.alive").exists() for b in beats), seconds=120,
                 what="both beats to tick", log=logs)  # fmt: skip
        wait_for(lambda: any(b"Sending due task deadline-sweep" in b.log_bytes() for b in beats), seconds=30,
                 what="the holder to send the sweep", log=logs)  # fmt: skip
        time.sleep(2)
        senders = [b for b in beats if b"Sending due task" in b.log_bytes()]
        assert len(senders) == 1, logs()
        (holder,) = senders
        (standby,) = [b for b in beats if b is not holder]
        assert b"waiting" in standby.log_bytes(), logs()
        # What is in the queue is what the holder says it sent (a minute boundary may add an entry).
        queued = private_redis.client().llen("celery")
        assert 1 <= queued <= holder.log_bytes().count(b"Sending due task"), logs()
        # The holder is killed outright (OOM, node lost): the lock expires and the standby holds it.
        taken = standby.logged(b"now holds")
        assert holder.process is not None
        os.killpg(holder.process.pid, signal.SIGKILL)
        wait_for(taken, seconds=30, what="the standby to take over", log=logs)
        assert (tmp_path / f"{standby.name}.alive").stat().st_mtime > time.time() - 10
    finally:
        for beat in beats:
            beat.stop()


def test_a_holder_that_loses_redis_for_a_while_sends_nothing_then_holds_again(sender, tmp_path, key, client):
    app, queue = sender
    beat = _scheduler(app, tmp_path, "beat", key)
    try:
        _tick_for(beat, 0.6)
        assert beat.holds
        reachable = beat.lock.client
        beat.lock.client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
        before = len(_sent(client, queue))
        _tick_for(beat, 1.0)  # Redis (the broker too, in production) does not answer
        assert not beat.holds and not beat.lock.reachable
        assert len(_sent(client, queue)) == before
        beat.lock.client = reachable
        _tick_for(beat, 1.0)
        assert beat.holds and len(_sent(client, queue)) > before
    finally:
        beat.close()
