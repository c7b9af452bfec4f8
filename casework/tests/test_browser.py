"""End to end in a real browser: Playwright drives Debian's chromium against a real gunicorn server.

The server runs as a subprocess on loopback against the test database; the accounts it needs are
committed for it to see.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from casework.models import Department
from casework.tests.factories import StaffProfileFactory, UserFactory
from conftest import CHROMIUM, web_server

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots"

pytestmark = [
    # pytest-django creates the test database only for sessions with a test that asks for it.
    pytest.mark.django_db,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (make test installs it where it may)",
    ),
]


@pytest.fixture(scope="module")
def server(two_counties: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    chengzhong = two_counties[0]
    suffix = uuid.uuid4().hex[:6]
    accounts = {"clerk": f"e2e-clerk-{suffix}", "handler": f"e2e-market-{suffix}"}
    with django_db_blocker.unblock(), tenant_context(chengzhong):
        clerk: Any = UserFactory(username=accounts["clerk"], name="窗口小李")
        StaffProfileFactory(user=clerk, role="window_clerk")
        handler: Any = UserFactory(username=accounts["handler"], name="市场监管局小王")
        StaffProfileFactory(user=handler, role="department_handler", department=Department.objects.get(code="scjgj"))
    with web_server(threads=4) as port:
        yield {"base": f"http://{chengzhong.slug}.localhost:{port}", "accounts": accounts}


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "S3cure-pass!")
    page.click("button[type=submit]")
    try:
        page.wait_for_url(f"{base}/work/", timeout=60_000)
    except Exception as exc:
        _shot(page, f"failed-login-{username}")
        raise AssertionError(
            f"login did not reach the work queue; page shows: {page.inner_text('body')[:500]}"
        ) from exc


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_clerk_registers_assigns_and_replies(server: dict[str, Any], browser: Any) -> None:
    base, accounts = server["base"], server["accounts"]
    clerk = browser.new_page(viewport={"width": 390, "height": 844})  # a phone screen
    _login(clerk, base, accounts["clerk"])
    clerk.click("text=登记")
    clerk.fill("input[name=matter]", "企业登记经营范围“交通安全统筹”")
    clerk.fill("textarea[name=description]", "国民经济行业分类未列此项，未予登记。")
    clerk.fill("input[name=citizen_name]", "廖女士")
    clerk.fill("input[name=citizen_phone]", "13812345678")
    clerk.select_option("select[name=kind]", "case")
    clerk.select_option("select[name=channel]", "window")
    clerk.select_option("select[name=window]", "district-hall")
    clerk.check("input[name=departments][value=scjgj]")
    _shot(clerk, "01-register-form")
    clerk.click("button:has-text('登记')")
    clerk.wait_for_selector("[data-testid=status]")
    assert clerk.inner_text("[data-testid=status]") == "已登记"
    case_url = clerk.url

    clerk.click("summary:has-text('即收即转即办')")
    form = clerk.locator("form[action$='/step/accept_and_assign/']")
    form.locator("select[name=lead_department]").select_option("scjgj")
    form.locator("textarea[name=instructions]").fill("请研究办理")
    form.locator("button[type=submit]").click()
    clerk.wait_for_selector("text=已转办")
    _shot(clerk, "02-assigned")

    handler = browser.new_page()
    _login(handler, base, accounts["handler"])
    handler.goto(case_url)
    assert "138****5678" in handler.content()
    handler.fill("form[action$='/complete/'] textarea[name=text]", "已核准经营范围")
    handler.click("button[name=complete]")
    handler.wait_for_selector("text=部门已办结")

    clerk.goto(case_url)
    clerk.click("summary:has-text('答复群众')")
    reply = clerk.locator("form[action$='/step/reply/']")
    reply.locator("select[name=method]").select_option("phone")
    reply.locator("textarea[name=content]").fill("经营范围已核准，请领取营业执照。")
    reply.locator("button[type=submit]").click()
    clerk.wait_for_selector("[data-testid=status]:has-text('已答复')")
    _shot(clerk, "03-replied")
    assert "assignment_done" not in clerk.content()  # the timeline speaks Chinese
    assert "市场监管局小王" in clerk.content()


def test_a_citizen_submits_and_tracks(server: dict[str, Any], browser: Any) -> None:
    base = server["base"]
    citizen = browser.new_page(viewport={"width": 390, "height": 844})
    citizen.goto(f"{base}/")
    citizen.click("text=反映问题")
    citizen.fill("input[name=matter]", "医保异地备案")
    citizen.fill("textarea[name=description]", "线上提交三次均失败")
    citizen.fill("input[name=citizen_name]", "郑先生")
    citizen.fill("input[name=citizen_phone]", "13900001234")
    citizen.select_option("select[name=kind]", "case")
    citizen.click("button:has-text('提交')")
    code = citizen.inner_text("[data-testid=tracking-code]")
    assert len(code) == 10
    _shot(citizen, "04-citizen-submitted")

    citizen.click("text=查询办理进度")
    citizen.fill("input[name=tracking_code]", code)
    citizen.fill("input[name=phone_last4]", "1234")
    citizen.click("button:has-text('查询')")
    citizen.wait_for_selector("[data-testid=status]")
    assert citizen.inner_text("[data-testid=status]") == "已登记"
    _shot(citizen, "05-citizen-tracked")
