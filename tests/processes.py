"""The processes tests start for real (servers, Celery workers, beat), and waiting on them.

One implementation for every test package: the root ``conftest.py`` (``web_server``, the
``celery_workers`` fixture), the fault suite (``tests/faults``) and the tests that kill a worker
(``notifications/tests/test_faults.py``, ``casework/forwarding/tests/test_worker.py``).

- ``free_port``: a loopback port nothing listens on yet.
- ``wait_for``: poll a condition; fail with a log after a generous time.
- ``Process``: a child process in a session of its own, so SIGKILL reaches its children too.
- ``CeleryWorker``: ``celery -A banchengshi worker`` as such a process.
- ``send_as_beat``: what celery beat sends for an entry of the platform's schedule, sent now.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from celery import Celery

from banchengshi.schedules import BEAT_SCHEDULE

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], *, seconds: float, what: str, log: Callable[[], str] = str) -> None:
    """Poll ``condition`` until it holds; fail with ``log()`` after ``seconds`` (generous: the
    machine may be slow and busy)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {seconds} s waiting for {what}\n{log()}")
        time.sleep(0.25)


class Process:
    """A platform process (web, worker, beat) in a session of its own, logging to a file; without
    a log file its output goes to the test's own (pytest shows it when the test fails)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path | None = None) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready: Callable[[], bool] | None = None, *, seconds: float = 120) -> None:
        """Starts the process; with ``ready``, waits until it holds (failing at once if the process exits)."""
        with contextlib.ExitStack() as files:
            log = files.enter_context(self.log_path.open("ab")) if self.log_path is not None else None
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT if log else None,
                start_new_session=True,
            )  # fmt: skip
        if ready is None:
            return

        def started() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.process.returncode}\n{self.log()}")
            return ready()

        wait_for(started, seconds=seconds, what=f"{self.name} to start", log=self.log)

    def logged(self, text: bytes) -> Callable[[], bool]:
        """Whether ``text`` has been logged since this call (a restarted process appends to its log)."""
        offset = len(self.log_bytes())
        return lambda: text in self.log_bytes()[offset:]

    def log(self) -> str:
        return self.log_bytes().decode(errors="replace")[-4000:]

    def log_bytes(self) -> bytes:
        if self.log_path is None:
            return b""
        try:
            return self.log_path.read_bytes()
        except OSError:
            return b""

    def kill(self) -> None:
        """SIGKILL to the process and every child (a prefork pool dies with its parent)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            # To the main process only, as an orchestrator stops a container: a Celery worker then
            # finishes its running tasks (warm shutdown); its children must not get it directly.
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(60)
        self.kill()  # and whatever is left of the group


class CeleryWorker(Process):
    """``celery -A banchengshi worker`` with the given options, in a session of its own: SIGKILL
    to its group takes a prefork pool with it, as when the machine under a worker dies."""

    def __init__(self, name: str, options: Sequence[str], env: dict[str, str], log_path: Path | None = None) -> None:
        super().__init__(name, [sys.executable, "-m", "celery", "-A", "banchengshi", "worker", *options], env, log_path)

    def start_ready(self, *, seconds: float = 120) -> None:
        """Starts the worker and waits until it says it is ready (it must log at info level to a file)."""
        self.start(self.logged(b" ready."), seconds=seconds)


def send_as_beat(broker_url: str, entry: str) -> None:
    """What celery beat sends for this entry of banchengshi.schedules (every minute, for most), sent now."""
    task = BEAT_SCHEDULE[entry]
    sender = Celery("fault-beat", broker=broker_url, set_as_current=False)
    try:
        sender.send_task(task["task"], args=task.get("args", ()))
    finally:
        sender.close()
