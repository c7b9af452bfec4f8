"""The citizen side under abuse: limits that a header cannot dodge, guesses counted per code, clean refusals."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from casework.models import Case
from conftest import host_of

pytestmark = pytest.mark.django_db

SUBMISSION = {"matter": "社保转移", "description": "线上办不了", "citizen_name": "吴女士",
              "citizen_phone": "13900007777", "kind": "case"}  # fmt: skip


def submitted(anonymous_api, county, **changes):
    response = anonymous_api(county).post("public/submit/", {**SUBMISSION, **changes})
    return response


def test_a_forged_forwarded_for_header_does_not_escape_the_limit(county_a, anonymous_api, clean_cache, settings):
    settings.TRUSTED_PROXIES = []
    api = anonymous_api(county_a)
    answers = [
        api.client.post(
            "/api/v1/public/track/", {"tracking_code": f"NOPE{i}", "phone_last4": "1234"}, format="json",
            HTTP_X_FORWARDED_FOR=f"10.0.{i}.1",
        ).status_code
        for i in range(31)
    ]  # fmt: skip
    assert answers[-1] == 429 and set(answers[:30]) == {404}


def test_wrong_phone_digits_are_counted_per_tracking_code(county_a, anonymous_api, clean_cache):
    code = submitted(anonymous_api, county_a).json()["tracking_code"]
    guesses = [
        # Each from its own address: the per-address limit alone would not stop them.
        Client(HTTP_HOST=host_of(county_a), REMOTE_ADDR=f"198.51.100.{i}").post(
            "/api/v1/public/track/", {"tracking_code": code, "phone_last4": f"{i:04d}"}, content_type="application/json"
        )
        for i in range(11)
    ]
    assert [g.status_code for g in guesses[:10]] == [404] * 10
    locked = guesses[10].json()["error"]
    assert guesses[10].status_code == 429 and locked["code"] == "casework.lookup_locked"
    right = anonymous_api(county_a).post("public/track/", {"tracking_code": code, "phone_last4": "7777"})
    assert right.status_code == 429  # locked for the hour, even for the right digits
    page = Client(HTTP_HOST=host_of(county_a)).post("/track/", {"tracking_code": code, "phone_last4": "7777"})
    assert "尝试次数过多" in page.content.decode()


def test_the_rating_page_counts_against_the_look_up_limit(county_a, clean_cache):
    citizen = Client(HTTP_HOST=host_of(county_a), REMOTE_ADDR="203.0.113.77")
    for i in range(30):
        citizen.post("/track/rate/", {"tracking_code": f"NOPE{i}", "phone_last4": "1234", "level": "5"})
    refused = citizen.post("/track/rate/", {"tracking_code": "NOPE", "phone_last4": "1234", "level": "5"}, follow=True)
    assert "查询过于频繁" in refused.content.decode()


def test_the_rating_page_names_the_field_that_is_wrong(county_a, clean_cache):
    citizen = Client(HTTP_HOST=host_of(county_a), REMOTE_ADDR="203.0.113.78")
    html = citizen.post("/track/rate/", {"tracking_code": "X", "phone_last4": "12", "level": "5"}, follow=True)
    assert "手机号码" in html.content.decode() and "请选择五个评价等级之一" not in html.content.decode()


@pytest.mark.parametrize("phone", ["138١٢٣٤٥٦٧٨", "13８１２３４５６７８", "0772-١٢٣٤٥٦٧"])
def test_phone_numbers_in_other_scripts_digits_are_refused(county_a, anonymous_api, clean_cache, phone):
    response = submitted(anonymous_api, county_a, citizen_phone=phone)
    assert response.status_code == 400 and response.json()["error"]["details"][0]["field"] == "citizen_phone"
    with tenant_context(county_a):
        assert not Case.objects.filter(matter=SUBMISSION["matter"]).exists()


@pytest.mark.parametrize(("phone", "stored"), [("138-1234-5678", "13812345678"), ("+86 138 1234 5678", "13812345678"),
                                               ("0772-1234567", "0772-1234567")])  # fmt: skip
def test_phone_numbers_are_taken_as_people_write_them(county_a, anonymous_api, clean_cache, phone, stored):
    response = submitted(anonymous_api, county_a, citizen_phone=phone)
    assert response.status_code == 201, response.json()
    with tenant_context(county_a):
        assert Case.objects.get(tracking_code=response.json()["tracking_code"]).citizen_phone == stored


def test_a_citizen_cannot_set_what_staff_decide(county_a, anonymous_api, clean_cache):
    response = submitted(anonymous_api, county_a, is_urgent=True, category="complex", cause="list-missing")
    assert response.status_code == 201
    with tenant_context(county_a):
        case = Case.objects.get(tracking_code=response.json()["tracking_code"])
        assert not case.is_urgent and case.category_id is None and case.cause_id is None


def test_what_a_citizen_types_reaches_the_sms_short_and_without_links(county_a, anonymous_api, clean_cache):
    from notifications.models import Notification

    matter = "中奖通知请点击 https://evil.example/win 或访问 www.evil.example 领 evil.example.com 奖金万元，逾期作废"
    response = submitted(anonymous_api, county_a, matter=matter)
    assert response.status_code == 201
    with tenant_context(county_a):
        case = Case.objects.get(tracking_code=response.json()["tracking_code"])
        sms = Notification.objects.get(idempotency_key__startswith=str(case.pk), channel="sms")
        assert case.matter == matter  # the case keeps what was typed
    body = sms.body
    assert "evil" not in body and "http" not in body and "中奖通知请点击" in body
    long = submitted(anonymous_api, county_a, matter="一" * 60, citizen_phone="13900007778").json()
    with tenant_context(county_a):
        case = Case.objects.get(tracking_code=long["tracking_code"])
        quoted = Notification.objects.get(idempotency_key__startswith=str(case.pk), channel="sms").body
    assert "一" * 29 + "…" in quoted and "一" * 30 not in quoted  # cut at 30 characters
