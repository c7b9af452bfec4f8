"""The provincial console in a real browser: Playwright drives Debian's chromium against gunicorn.

An operator (signed in through a session made here; the sign-in page belongs to accounts) lists
the counties, onboards one from the form, changes its configuration after seeing the difference,
suspends it (its own host then says so) and resumes it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils import translation
from django_tenants.utils import schema_context

from conftest import database_url_for_processes
from tenants.models import County, CountyStatus, Domain
from tenants.tests.test_config import minimal

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots"
CODE = "999950"

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (make test installs it where it may)",
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _forget_county() -> None:
    county = County.objects.filter(code=CODE).first()
    if county is None:
        return
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{county.schema_name}" CASCADE')
    Domain.objects.filter(tenant=county).delete()
    county.config_versions.all().delete()
    County.objects.filter(pk=county.pk).delete()


@pytest.fixture(scope="module")
def server(two_counties: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    with django_db_blocker.unblock(), schema_context("public"):
        operator = get_user_model().objects.create_user(
            username=f"e2e-op-{uuid.uuid4().hex[:6]}", password="Operator-long-pass-1", name="省运维", is_staff=True
        )
        signed_in = Client(HTTP_HOST="localhost")
        signed_in.force_login(operator)
        session = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
        db_url = database_url_for_processes()
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "banchengshi.settings.test",
        "DATABASE_URL": db_url,
        "REDIS_URL": settings.REDIS_URL,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "banchengshi.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "4", "--log-level", "warning"],
        cwd=ROOT, env=env,
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
        yield {"base": f"http://localhost:{port}", "port": port, "session": session}
    finally:
        process.terminate()
        process.wait(10)
        with django_db_blocker.unblock(), schema_context("public"):
            _forget_county()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )  # fmt: skip
        yield instance
        instance.close()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_an_operator_onboards_configures_suspends_and_resumes_a_county(server: dict[str, Any], browser: Any) -> None:
    base = server["base"]
    context = browser.new_context()
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": server["session"], "domain": "localhost", "path": "/"}]
    )
    page = context.new_page()
    page.goto(f"{base}/")
    assert "柳州市城中区" in page.inner_text("[data-testid=county-list]")
    _shot(page, "console-01-counties")

    data = minimal()
    data["county"].update({"code": CODE, "slug": "browserxian", "case_prefix": "BX", "full_name": "浏览器测试县"})
    page.click("text=开通县区")
    page.fill("textarea[name=yaml_text]", yaml.safe_dump(data, allow_unicode=True))
    page.click("[data-testid=onboard]")
    page.wait_for_selector("[data-testid=status]")
    assert page.inner_text("h1").startswith("浏览器测试县")
    with translation.override("zh-hans"):
        active, suspended = str(CountyStatus.ACTIVE.label), str(CountyStatus.SUSPENDED.label)
    assert page.inner_text("[data-testid=status]") == active
    _shot(page, "console-02-onboarded")

    page.click("[data-testid=change-config]")
    text = page.input_value("textarea[name=yaml_text]")
    page.fill("textarea[name=yaml_text]", text.replace("政务服务中心", "政务服务大厅"))
    page.click("[data-testid=preview]")
    diff = page.inner_text("[data-testid=diff]")
    assert "+" in diff and "政务服务大厅" in diff
    _shot(page, "console-03-diff")
    page.click("[data-testid=apply]")
    page.wait_for_selector("[data-testid=config-history]")
    assert "v2" in page.inner_text("[data-testid=config-history]")

    page.fill("#suspend-reason", "整改检查")
    page.click("[data-testid=suspend]")
    page.wait_for_selector("[data-testid=resume]")
    assert page.inner_text("[data-testid=status]") == suspended
    county_page = context.new_page()
    response = county_page.goto(f"http://browserxian.localhost:{server['port']}/")
    assert response is not None and response.status == 503
    assert "暂停" in county_page.inner_text("body")
    _shot(county_page, "console-04-suspended-county")

    page.click("[data-testid=resume]")
    page.wait_for_selector("[data-testid=suspend]")
    assert page.inner_text("[data-testid=status]") == active
    response = county_page.goto(f"http://browserxian.localhost:{server['port']}/")
    assert response is not None and response.status != 503
    _shot(page, "console-05-resumed")
