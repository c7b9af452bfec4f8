"""Celery beat that proves it is alive and never sends the schedule twice (ADR 25).

``GuardedScheduler`` is the platform's ``beat_scheduler`` (settings/base.py), so every beat uses it:
the image's, ``make run``'s and the tests'.

- **One sender.** A Redis lock (``<key>:lock``, a token per process, a time to live of
  ``BEAT_LOCK_SECONDS``) is taken or renewed on every tick; only its holder sends the schedule.
  A second beat (``docker compose up --scale beat=2``, two pods during an upgrade, a forgotten
  ``make run``) waits, sending nothing, and takes over when the holder stops renewing (killed, hung,
  cut off: at most one time to live later) or releases the lock (stopped: at once).
- **One schedule.** The holder records in Redis (``<key>:last-run``) when it sent each entry; a beat
  that gains the lock takes those times over its own state. So nothing the previous holder sent is
  sent again (a standby's own state is as old as the standby), and what fell due while no beat held
  the lock is sent once, at once.
- **A heartbeat.** Every tick, holding or waiting, touches ``BEAT_HEARTBEAT_FILE``; the liveness
  probe (``deploy/beat-alive.sh``) fails when it is older than its limit. No tick sleeps past a
  third of the lock's time to live, so a healthy beat touches it at least every 20 s.

Redis unreachable: the beat sends nothing (it could not: Redis is the broker) and keeps ticking;
the lock and the record are tried again on the next tick.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import redis
from celery.beat import PersistentScheduler, ScheduleEntry
from celery.utils.time import maybe_make_aware

logger = logging.getLogger(__name__)

DEFAULT_KEY = "banchengshi:beat"

# Renew the lock only if this process still holds it; delete it likewise.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class BeatLock:
    """A lock with a time to live, held by one beat at a time and renewed by its holder."""

    def __init__(self, client: redis.Redis, *, key: str, seconds: float, token: str | None = None) -> None:
        self.client = client
        self.key = key
        self.milliseconds = max(1, int(seconds * 1000))
        self.token = token or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False
        self.reachable = True

    def hold(self) -> bool:
        """Renew the lock if held, take it if free; whether this beat holds it now.

        An error talking to Redis answers False for this tick only: ``held`` is left as it was, so the
        next tick renews what the lock still says (or finds it taken by another)."""
        try:
            if self.held and self.client.eval(_RENEW, 1, self.key, self.token, str(self.milliseconds)):
                self.reachable = True
                return True
            self.held = bool(self.client.set(self.key, self.token, nx=True, px=self.milliseconds))
        except redis.RedisError as exc:
            self.reachable = False
            logger.warning("beat: Redis unreachable (%s); sending nothing until it answers", exc)
            return False
        self.reachable = True
        return self.held

    def release(self) -> None:
        """Let another beat take over at once (only if this one still holds the lock)."""
        was_held, self.held = self.held, False
        if not was_held:
            return
        try:
            self.client.eval(_RELEASE, 1, self.key, self.token)
        except redis.RedisError as exc:
            logger.warning("beat: could not release the lock (%s); it expires by itself", exc)

    def holder(self) -> str:
        try:
            value = self.client.get(self.key)
        except redis.RedisError:
            return "unknown (Redis unreachable)"
        return value.decode() if isinstance(value, bytes) else "nobody"


def _setting(name: str, default: Any) -> Any:
    from django.conf import settings

    return getattr(settings, name, default)


class GuardedScheduler(PersistentScheduler):
    """celery beat's file-backed scheduler, sending only while it holds the lock; see the module."""

    def __init__(
        self,
        *args: Any,
        heartbeat_file: str | None = None,
        key: str | None = None,
        lock_seconds: float | None = None,
        redis_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        schedule_filename = kwargs.get("schedule_filename") or "celerybeat-schedule"
        self.heartbeat_file = Path(
            heartbeat_file or _setting("BEAT_HEARTBEAT_FILE", "") or f"{schedule_filename}.heartbeat"
        )
        self.key = key or DEFAULT_KEY
        self.lock_seconds = float(lock_seconds or _setting("BEAT_LOCK_SECONDS", 60))
        self.redis_url = redis_url or _setting("REDIS_URL", "redis://127.0.0.1:6379/0")
        self._lock: BeatLock | None = None
        self.holds = False
        self._told_waiting = False
        super().__init__(*args, **kwargs)

    @property
    def lock(self) -> BeatLock:
        # Made on first use: celery may build a scheduler lazily just to describe it.
        if self._lock is None:
            client = redis.Redis.from_url(
                self.redis_url, socket_connect_timeout=5, socket_timeout=5, health_check_interval=30
            )
            self._lock = BeatLock(client, key=f"{self.key}:lock", seconds=self.lock_seconds)
        return self._lock

    @property
    def renew_every(self) -> float:
        """The longest sleep between ticks: three renewals fit in the lock's time to live."""
        return self.lock_seconds / 3

    def setup_schedule(self) -> None:
        super().setup_schedule()
        self._heartbeat()  # alive from the start, before the first tick

    def tick(self, *args: Any, **kwargs: Any) -> float:
        holds = self.lock.hold()
        if holds and not self.holds:
            self._take_over()
        elif not holds and self.holds and self.lock.reachable:
            logger.warning("beat: the lock %s is no longer this beat's (held by %s); sending nothing",
                           self.lock.key, self.lock.holder())  # fmt: skip
        self.holds = holds
        if holds:
            interval = super().tick(*args, **kwargs)
        else:
            if not self._told_waiting and self.lock.reachable:
                logger.warning("beat: another beat holds %s (%s); waiting, sending nothing",
                               self.lock.key, self.lock.holder())  # fmt: skip
                self._told_waiting = True
            interval = self.renew_every
        self._heartbeat()
        return min(interval, self.renew_every)

    def _take_over(self) -> None:
        """Gained the lock: the installation's record of each entry's last run replaces this beat's.

        Every holder records its runs, so the record is the truth where it exists; this beat's own
        time may be its start (celery's "last run" of an entry it never ran) or hours old (a standby).
        An entry without a record keeps its own."""
        self._told_waiting = False
        try:
            recorded = cast(dict[bytes, bytes], self.lock.client.hgetall(f"{self.key}:last-run"))
        except redis.RedisError:
            recorded = {}
        for raw_name, raw_time in recorded.items():
            entry = self.schedule.get(raw_name.decode())
            if entry is not None:
                entry.last_run_at = datetime.fromtimestamp(float(raw_time), tz=UTC)
        self._heap = None  # re-read the entries' next runs on this tick
        logger.info("beat: this beat now holds %s (%s) and sends the schedule", self.lock.key, self.lock.token)

    def reserve(self, entry: ScheduleEntry) -> ScheduleEntry:
        new_entry = super().reserve(entry)
        try:
            self.lock.client.hset(
                f"{self.key}:last-run", new_entry.name, maybe_make_aware(new_entry.last_run_at).timestamp()
            )
        except redis.RedisError as exc:
            logger.warning("beat: could not record the run of %s (%s)", new_entry.name, exc)
        return new_entry

    def _heartbeat(self) -> None:
        try:
            self.heartbeat_file.parent.mkdir(parents=True, exist_ok=True)
            self.heartbeat_file.write_text(
                f"{time.time():.0f} {'sending' if self.holds else 'waiting'} {self.lock.token}\n", encoding="utf-8"
            )
        except OSError as exc:
            logger.warning("beat: could not write the heartbeat %s (%s)", self.heartbeat_file, exc)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._lock is not None:
                self._lock.release()
                self.holds = False

    @property
    def info(self) -> str:
        lock = f"{self.key}:lock ({self.lock_seconds:g} s)"
        return f"{super().info}\n    . lock -> {lock}\n    . heartbeat -> {self.heartbeat_file}"
