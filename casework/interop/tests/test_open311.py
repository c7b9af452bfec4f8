"""Open311 GeoReport v2 on a county's host: filters, limits, status mapping and the error format."""

from __future__ import annotations

import datetime
import json
import uuid
from xml.etree import ElementTree as ET  # noqa: S405 - parsing our own responses in tests

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from casework.interop.tests.conftest import host, issue, replied_case, supervisor
from casework.models import Case

pytestmark = pytest.mark.django_db


def web(county) -> Client:
    return Client(HTTP_HOST=host(county))


def submit(county, api_key: str, fmt: str = "json", **extra):
    headers = {name: extra.pop(name) for name in list(extra) if name.startswith("HTTP_")}
    data = {
        "api_key": api_key, "service_code": "simple", "lat": "24.312", "long": "109.411",
        "address_string": "柳州市城中区政务服务中心", "first_name": "女士", "last_name": "廖",
        "phone": "13812345678", "description": "经营范围无法登记", "attribute[kind]": "case",
        "attribute[departments][]": ["scjgj", "tcj"], "media_url": "https://example.org/photo.jpg",
        **extra,
    }  # fmt: skip
    return web(county).post(f"/open311/v2/requests.{fmt}", data, **headers)


def test_post_creates_a_case_with_its_contact_attributes_and_location(county_a):
    key = issue(county_a, "open311", source="civic-app").api_key
    response = submit(county_a, key)
    assert response.status_code == 200, response.content
    [created] = response.json()
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    with tenant_context(county_a):
        case = Case.objects.get(number=created["service_request_id"])
        assert (case.citizen_name, case.citizen_phone, case.channel) == ("廖女士", "13812345678", "online")
        assert case.category.code == "simple" and case.kind.code == "case"
        assert sorted(d.code for d in case.departments_involved.all()) == ["scjgj", "tcj"]
        assert case.open311.media_url == "https://example.org/photo.jpg" and float(case.open311.lat) == 24.312
    [row] = web(county_a).get(f"/open311/v2/requests/{case.number}.json").json()
    assert row["description"] == "经营范围无法登记" and row["address"] == "柳州市城中区政务服务中心"
    assert row["status"] == "open" and row["status_notes"] == "已登记"
    assert row["requested_datetime"].endswith("+08:00") and row["lat"] == 24.312


def test_post_errors_use_the_open311_format_in_json_and_xml(county_a, county_b):
    key = issue(county_a, "open311").api_key
    missing = submit(county_a, "")
    foreign = submit(county_a, issue(county_b, "open311").api_key, fmt="xml")
    wrong_scope = submit(county_a, issue(county_a, "intake").api_key)
    no_place = submit(county_a, key, lat="", long="", address_string="")
    no_kind = submit(county_a, key, **{"attribute[kind]": ""})
    bad_value = submit(county_a, key, **{"attribute[window]": "nowhere"})
    assert missing.status_code == 403 and missing.json() == [{"code": 403, "description": "未提供 api_key。"}]
    assert foreign.status_code == 403 and foreign["Content-Type"].startswith("text/xml")
    errors = ET.fromstring(foreign.content)  # noqa: S314
    assert errors.tag == "errors" and errors.find("error/code").text == "403"
    assert "API 密钥" in errors.find("error/description").text
    assert wrong_scope.status_code == 403
    assert no_place.status_code == 400 and "位置" in no_place.json()[0]["description"]
    assert no_kind.status_code == 400 and "kind" in no_kind.json()[0]["description"]
    assert bad_value.status_code == 400 and "nowhere" in bad_value.json()[0]["description"]


def test_requests_map_the_workflow_to_open_and_closed_and_hide_window_text(county_a):
    boss = supervisor(county_a)
    replied = replied_case(county_a, boss)
    rows = {r["service_request_id"]: r for r in web(county_a).get("/open311/v2/requests.json").json()}
    row = rows[replied.number]
    assert row["status"] == "closed" and row["status_notes"] == "已答复"
    assert row["agency_responsible"] == "柳州市城中区市场监督管理局"
    assert row["description"] == ""  # registered at the window: its text stays inside
    assert row["expected_datetime"] is not None and row["expected_datetime"].endswith("+08:00")
    closed = web(county_a).get("/open311/v2/requests.json", {"status": "closed"}).json()
    open_ = web(county_a).get("/open311/v2/requests.json", {"status": "open"}).json()
    assert replied.number in {r["service_request_id"] for r in closed}
    assert replied.number not in {r["service_request_id"] for r in open_}
    assert all(r["status"] == "open" for r in open_)
    other_code = web(county_a).get("/open311/v2/requests.json", {"service_code": "simple"}).json()
    assert replied.number not in {r["service_request_id"] for r in other_code}


def test_date_filters_default_to_90_days_and_may_not_span_more(county_a):
    boss = supervisor(county_a)
    replied = replied_case(county_a, boss)
    now = timezone.localtime()
    with tenant_context(county_a):
        Case.objects.filter(pk=replied.pk).update(registered_at=now - datetime.timedelta(days=100))
    default = web(county_a).get("/open311/v2/requests.json").json()
    assert replied.number not in {r["service_request_id"] for r in default}
    window = {
        "start_date": (now - datetime.timedelta(days=120)).isoformat(),
        "end_date": (now - datetime.timedelta(days=60)).isoformat(),
    }
    older = web(county_a).get("/open311/v2/requests.json", window).json()
    assert [r["service_request_id"] for r in older] == [replied.number]
    by_id = web(county_a).get("/open311/v2/requests.json", {"service_request_id": replied.number}).json()
    assert [r["service_request_id"] for r in by_id] == [replied.number]
    too_long = web(county_a).get(
        "/open311/v2/requests.json", {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}
    )
    assert too_long.status_code == 400 and "90" in too_long.json()[0]["description"]
    garbage = web(county_a).get("/open311/v2/requests.json", {"start_date": "yesterday"})
    assert garbage.status_code == 400 and garbage.json()[0]["code"] == 400


def test_another_countys_ids_and_jurisdiction_are_not_found(county_a, county_b):
    other = replied_case(county_b, supervisor(county_b, "b-boss"))
    missing = web(county_a).get(f"/open311/v2/requests/{other.number}.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404
    assert web(county_a).get("/open311/v2/services/no-such.json").status_code == 404
    wrong = web(county_a).get("/open311/v2/services.json", {"jurisdiction_id": host(county_b)})
    assert wrong.status_code == 404 and host(county_b) in wrong.json()[0]["description"]
    right = web(county_a).get("/open311/v2/services.json", {"jurisdiction_id": host(county_a)})
    assert right.status_code == 200 and {s["service_code"] for s in right.json()} == {"simple", "complex"}


def test_reads_are_rate_limited_per_address_in_the_specifications_error_format(county_a, settings):
    settings.INTEROP_OPEN311_READ_RATE = "3/minute"
    # Networks of their own (documentation range; a limit counts an IPv6 client as its /64): no
    # other test's reads count against them.
    address, another = (f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::1" for _ in range(2))
    reader = Client(HTTP_HOST=host(county_a), REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR=address)
    for path in ("services.json", "services/simple.xml", "requests.json"):
        assert reader.get(f"/open311/v2/{path}").status_code == 200, path

    refused = reader.get("/open311/v2/requests.xml")
    assert refused.status_code == 429 and refused["Content-Type"].startswith("text/xml")
    seconds = int(refused["Retry-After"])
    assert 0 < seconds <= 60
    error = ET.fromstring(refused.content).find("error")  # noqa: S314 - our own response
    assert error is not None and error.findtext("code") == "429"
    assert error.findtext("description") == f"此地址的请求过多，请 {seconds} 秒后再试。"
    as_json = reader.get("/open311/v2/services.json")
    assert as_json.status_code == 429
    assert as_json.json() == [{"code": 429, "description": f"此地址的请求过多，请 {as_json['Retry-After']} 秒后再试。"}]
    assert reader.get(f"/open311/v2/requests/{uuid.uuid4().hex[:8]}.json").status_code == 429  # before the lookup

    # Reporting has its own budget (the citizens' rate), and another address is not affected.
    posted = reader.post("/open311/v2/requests.json", {"service_code": "simple"})
    assert posted.status_code == 403 and posted.json()[0]["code"] == 403  # no api_key: read as usual, not throttled
    other = Client(HTTP_HOST=host(county_a), REMOTE_ADDR=another, HTTP_X_FORWARDED_FOR=another)
    assert other.get("/open311/v2/services.json").status_code == 200


def test_post_with_an_idempotency_key_registers_once_and_replays(county_a, clean_cache):
    from casework.interop.models import Open311Details

    key = issue(county_a, "open311", source="civic-retry").api_key
    other_app = issue(county_a, "open311", source="civic-other").api_key
    first = submit(county_a, key, HTTP_IDEMPOTENCY_KEY="app-7f3a")
    assert first.status_code == 200, first.content
    with tenant_context(county_a):
        cases, details = Case.objects.count(), Open311Details.objects.count()

    retry = submit(county_a, key, HTTP_IDEMPOTENCY_KEY="app-7f3a")
    changed = submit(county_a, key, HTTP_IDEMPOTENCY_KEY="app-7f3a", address_string="另一个地址", fmt="xml")
    malformed = submit(county_a, key, HTTP_IDEMPOTENCY_KEY="键")

    assert retry.status_code == 200 and retry["Idempotent-Replayed"] == "true"
    assert retry.json()[0]["service_request_id"] == first.json()[0]["service_request_id"]
    # The specification's error format, in JSON and XML alike.
    assert changed.status_code == 422 and changed["Content-Type"].startswith("text/xml")
    assert "Idempotency-Key" in ET.fromstring(changed.content).find("error/description").text  # noqa: S314
    assert malformed.status_code == 400 and "ASCII" in malformed.json()[0]["description"]
    with tenant_context(county_a):
        assert (Case.objects.count(), Open311Details.objects.count()) == (cases, details)
    # Another connected system's key of the same name is its own.
    elsewhere = submit(county_a, other_app, HTTP_IDEMPOTENCY_KEY="app-7f3a")
    assert elsewhere.status_code == 200 and "Idempotent-Replayed" not in elsewhere
    assert elsewhere.json()[0]["service_request_id"] != first.json()[0]["service_request_id"]


def test_impossible_or_out_of_range_dates_and_too_many_ids_are_a_400_in_the_specifications_format(county_a):
    reader = web(county_a)
    for params in (
        {"start_date": "2026-13-01T00:00:00+08:00"},
        {"end_date": "2026-02-30T00:00:00+08:00"},
        {"start_date": "9999-12-31T23:59:59+00:00"},
        {"end_date": "0001-01-01T00:00:00+00:00"},
    ):
        response = reader.get("/open311/v2/requests.json", params)
        assert response.status_code == 400, (params, response.content)
        [error] = response.json()
        assert error["code"] == 400 and next(iter(params)) in error["description"], params
    # Ids override every other filter, so their number is bounded on its own.
    many = ",".join(f"CZ-2026-{i:06d}" for i in range(1, 202))
    too_many = reader.get("/open311/v2/requests.xml", {"service_request_id": many})
    assert too_many.status_code == 400 and too_many["Content-Type"].startswith("text/xml")
    assert "200" in ET.fromstring(too_many.content).find("error/description").text  # noqa: S314
    assert reader.get("/open311/v2/requests.json", {"service_request_id": many.rsplit(",", 1)[0]}).status_code == 200


def test_a_post_body_that_is_not_a_form_of_strings_is_a_400_not_a_server_error(county_a):
    key = issue(county_a, "open311", source="civic-json").api_key
    api = Client(HTTP_HOST=host(county_a))
    with tenant_context(county_a):  # other tests commit cases for real: count, do not assume none
        before = Case.objects.filter(channel="online").count()
    for body in (
        [1],
        "text",
        {"api_key": 5, "service_code": "simple"},
        {"api_key": key, "jurisdiction_id": 5, "service_code": "simple"},
        {"api_key": [key], "service_code": "simple"},
    ):
        response = api.post("/open311/v2/requests.json", json.dumps(body), content_type="application/json")
        assert response.status_code in {400, 403}, (body, response.content)
        [error] = response.json()
        assert error["code"] == response.status_code and error["description"], body
    with tenant_context(county_a):
        assert Case.objects.filter(channel="online").count() == before
