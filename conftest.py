"""Fixtures shared by every test package: real PostgreSQL and Redis, and two onboarded counties."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client

from banchengshi.tenancy import switch_to_public
from sla.selectors import calendars_forget_all
from tenants.config import county_config_read
from tenants.models import County
from tenants.services import county_onboard
from tests.processes import CeleryWorker, free_port


def county_config_path(slug: str) -> Path:
    return Path(settings.COUNTY_CONFIG_DIR) / f"{slug}.yaml"


@pytest.fixture(scope="session")
def two_counties(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> tuple[County, County]:
    """城中区 and 龙井市, onboarded once for the session from their shipped configuration files."""
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        chengzhong = county_onboard(config=county_config_read(county_config_path("chengzhong"))).county
        longjing = county_onboard(config=county_config_read(county_config_path("longjing"))).county
    return chengzhong, longjing


@pytest.fixture
def county_a(two_counties: tuple[County, County], db: None) -> County:
    return two_counties[0]


@pytest.fixture
def county_b(two_counties: tuple[County, County], db: None) -> County:
    return two_counties[1]


# A mainland mobile number or a resident ID number (18 digits, or the first generation's 15), as the
# scan of the run's logs looks for them (written apart from the scrubber it checks).
_PERSONAL_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])(?:1[3-9]\d{9}|[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
    r"|[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})(?![0-9A-Za-z])"
)


def _run_logs() -> list[Path]:
    directory = getattr(settings, "TEST_LOG_DIR", None)
    return sorted(Path(directory).glob("*.log")) if directory else []


def pytest_sessionstart(session: pytest.Session) -> None:
    for path in _run_logs():  # an earlier run's lines
        path.unlink(missing_ok=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """PIPL / 等保: no phone or ID number in any log line the whole run wrote (the scrubber's test)."""
    leaks = []
    for path in _run_logs():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if _PERSONAL_NUMBER.search(line):
                leaks.append(f"{path.name}:{number}: {line[:300]}")
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"personal data in {len(leaks)} log line(s) of this run:", red=True)
            for leak in leaks[:20]:
                reporter.write_line(f"  {leak}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def database_url_for_processes(name: str | None = None) -> str:
    """The test database (pytest-django's ``test_…``) as a URL for the servers and workers a test starts.

    Over TCP, or over a Unix socket (the embedded PostgreSQL of ``make test``). ``name`` points the
    URL at another database on the same server (``postgres`` to create or drop one).
    """
    db = connection.settings_dict
    name = name or db["NAME"]
    auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    host = db["HOST"] or "127.0.0.1"
    if host.startswith("/"):
        return f"postgresql://{auth}@localhost:{db['PORT'] or 5432}/{quote(name)}?host={quote(host)}"
    return f"postgresql://{auth}@{host}:{db['PORT'] or 5432}/{quote(name)}"


def env_for_processes(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a server or worker a test starts: the test settings, database and Redis."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "banchengshi.settings.test",
        "DATABASE_URL": database_url_for_processes(),
        "REDIS_URL": settings.REDIS_URL,
        **(extra or {}),
    }


@contextmanager
def web_server(
    *, threads: int = 4, workers: int = 1, deployed: bool = False, env: dict[str, str] | None = None
) -> Iterator[int]:
    """A gunicorn of the project on the test database and Redis (for browsers and HTTP clients); yields its port.

    ``deployed`` runs it with the deployment's ``deploy/gunicorn.conf.py`` (its hooks: metrics in
    multiprocess mode, the frozen heap), the command line still setting address and size.
    Only committed rows are visible to it: the caller writes its data with the database unblocked.
    """
    root = Path(__file__).resolve().parent
    port = free_port()
    config = ["--config", str(root / "deploy" / "gunicorn.conf.py")] if deployed else []
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", *config, "banchengshi.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", str(threads), "--log-level", "warning"],
        cwd=root, env=env_for_processes(env),
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the test web server did not start") from None
            time.sleep(0.1)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(10)


# A solo pool (tasks run in the worker's own process, one at a time) that logs only warnings.
QUIET_WORKER = (
    "--pool", "solo", "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle",
)  # fmt: skip


@pytest.fixture
def celery_workers() -> Iterator[Callable[..., CeleryWorker]]:
    """``celery_workers(env, name=, options=, log_path=)`` starts a real Celery worker when the test
    says so (``tests/processes.py``); every one started is stopped after the test.

    With a log file, the worker is waited for until it is ready (its options must log at info
    level); without one, its output goes to the test's and nothing waits for it.
    """
    started: list[CeleryWorker] = []

    def start(
        env: dict[str, str],
        *,
        name: str = "worker",
        options: Sequence[str] = QUIET_WORKER,
        log_path: Path | None = None,
    ) -> CeleryWorker:
        worker = CeleryWorker(name, options, env, log_path)
        started.append(worker)
        if log_path is None:
            worker.start()
        else:
            worker.start_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


# Debian's chromium, which Playwright drives in the browser tests (make test installs it where it may).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def browser() -> Iterator[Any]:
    """A chromium of its own for the test, driven by Playwright."""
    # Per test: Playwright's event loop must be gone before the test's database teardown runs.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )  # fmt: skip
        yield instance
        instance.close()


def host_of(county: County) -> str:
    return f"{county.slug}.{settings.COUNTY_DOMAIN_SUFFIX}"


@pytest.fixture
def client_for() -> object:
    """``client_for(county)`` is a test client whose requests go to that county's host."""

    def make(county: County | None) -> Client:
        host = host_of(county) if county is not None else settings.COUNTY_DOMAIN_SUFFIX
        return Client(HTTP_HOST=host)

    return make


@pytest.fixture(autouse=True)
def _back_to_public_schema() -> Iterator[None]:
    # A test that switched to a county must not leak that schema into the next test, nor a
    # calendar it loaded (and rolled back) into the process-wide calendar cache.
    calendars_forget_all()
    yield
    switch_to_public()
    calendars_forget_all()


@pytest.fixture
def clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()
