"""The provincial console in a real browser: Playwright drives Debian's chromium against gunicorn.

An operator (signed in through a session made here; the sign-in page belongs to accounts) lists
the counties, onboards one from the form, changes its configuration after seeing the difference,
suspends it (its own host then says so) and resumes it; and uploads a CSV of counties with a
template configuration, then watches the batch page while a real Celery worker onboards them.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
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

from conftest import CHROMIUM, env_for_processes, web_server
from sla.sweep.models import DeadlineEntry
from tenants.models import BatchStatus, County, CountyBatch, CountyStatus, Domain
from tenants.tests.test_config import minimal
from tests.processes import CeleryWorker

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots"
CODE = "999950"
# The CSV batch: two counties that onboard, one whose slug another county already has.
BATCH = (("999961", "批量一县", "batchone"), ("999962", "批量二县", "batchtwo"), ("999963", "批量三县", "chengzhong"))

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (make test installs it where it may)",
    ),
]


def _forget_county(code: str = CODE) -> None:
    county = County.objects.filter(code=code).first()
    if county is None:
        return
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{county.schema_name}" CASCADE')
    DeadlineEntry.objects.filter(schema_name=county.schema_name).delete()
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
    with web_server(threads=4) as port:
        try:
            yield {"base": f"http://localhost:{port}", "port": port, "session": session}
        finally:
            with django_db_blocker.unblock(), schema_context("public"):
                for code in (CODE, *(row[0] for row in BATCH)):
                    _forget_county(code)
                CountyBatch.objects.filter(source_name=BATCH_FILE).delete()


@pytest.fixture
def worker(server: dict[str, Any], celery_workers: Callable[..., CeleryWorker]) -> Callable[[], CeleryWorker]:
    """Starts a real Celery worker on the test database and Redis when the test says so."""
    return lambda: celery_workers(env_for_processes(), name="console")


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


BATCH_FILE = "browser-batch.csv"


def test_an_operator_uploads_a_csv_batch_and_watches_it_onboard(
    server: dict[str, Any], browser: Any, worker: Callable[[], CeleryWorker]
) -> None:
    from playwright.sync_api import expect

    base = server["base"]
    context = browser.new_context()
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": server["session"], "domain": "localhost", "path": "/"}]
    )
    page = context.new_page()
    page.goto(f"{base}/")
    page.click("text=批量开通")
    csv_text = "code,name,slug\n" + "".join(f"{code},{name},{slug}\n" for code, name, slug in BATCH)
    template = minimal()
    page.set_input_files(
        "input[name=csv_file]", {"name": BATCH_FILE, "mimeType": "text/csv", "buffer": csv_text.encode()}
    )
    page.set_input_files(
        "input[name=template_file]",
        {"name": "template.yaml", "mimeType": "application/yaml",
         "buffer": yaml.safe_dump(template, allow_unicode=True).encode()},
    )  # fmt: skip
    page.click("[data-testid=start-batch]")
    page.wait_for_selector("[data-testid=batch-progress]")
    assert BATCH_FILE in page.inner_text("h1")
    with translation.override("zh-hans"):
        waiting, finished = str(BatchStatus.PENDING.label), str(BatchStatus.FINISHED.label)
    # No worker yet: the batch is queued and the page says so.
    progress = page.inner_text("[data-testid=batch-progress]")
    with translation.override("zh-hans"):
        assert _done_text(0, len(BATCH), 0) in progress and waiting in progress, progress
    _shot(page, "console-06-batch-waiting")

    worker()
    # The page refreshes itself every 3 s while the batch runs; watch it until the batch is done.
    seen: list[str] = [progress]
    deadline = time.monotonic() + 120
    while finished not in seen[-1]:
        assert time.monotonic() < deadline, f"the batch did not finish: {seen}"
        page.wait_for_timeout(500)
        try:
            seen.append(page.inner_text("[data-testid=batch-progress]", timeout=5000))
        except Exception:  # noqa: BLE001, S112 - the page is reloading itself; read it again
            continue
    with translation.override("zh-hans"):
        expect(page.locator("[data-testid=batch-progress]")).to_contain_text(_done_text(len(BATCH), len(BATCH), 1))
    # What the page showed only ever moved forward.
    counts = [int(re.findall(r"\d+", text)[1]) for text in seen]
    assert counts == sorted(counts) and counts[0] == 0 and counts[-1] == len(BATCH), seen
    assert page.locator("progress").get_attribute("value") == "100"
    problems = page.inner_text("ul")
    assert f"{BATCH_FILE}:4" in problems and "chengzhong" in problems, problems
    _shot(page, "console-07-batch-finished")

    # The two good rows are serving counties now; the refused one was not made.
    with translation.override("zh-hans"):
        active = str(CountyStatus.ACTIVE.label)
    for code, name, _slug in BATCH[:2]:
        page.goto(f"{base}/console/counties/{code}/")
        assert page.inner_text("h1").startswith(name) and page.inner_text("[data-testid=status]") == active
    refused = page.goto(f"{base}/console/counties/{BATCH[2][0]}/")
    assert refused is not None and refused.status == 404


def _done_text(done: int, total: int, failed: int) -> str:
    from django.utils.translation import gettext

    return gettext("%(done)s of %(total)s counties done, %(failed)s failed") % {
        "done": done,
        "total": total,
        "failed": failed,
    }
