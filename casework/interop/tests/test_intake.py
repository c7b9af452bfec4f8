"""12345 work orders: idempotent import, partly bad batches, oversized batches, and status going back."""

from __future__ import annotations

import json

import pytest
from django_tenants.utils import tenant_context

from casework import services as casework
from casework.interop.models import ExternalReference
from casework.interop.tests.conftest import client_api, issue, supervisor
from casework.models import Case, CaseEvent, Channel
from notifications import services as notifications
from notifications.models import Channel as NotificationChannel
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def order(external_id: str, **extra: object) -> dict[str, object]:
    return {
        "external_id": external_id,
        "matter": "营业执照办理",
        "description": "来电反映多次跑腿未办成",
        "citizen_name": "周先生",
        "citizen_phone": "13800007777",
        "kind": "case",
        "category": "simple",
        **extra,
    }


def post_json(api, orders):
    return api.post("/interop/v1/work-orders/", {"orders": orders}, format="json")


def test_importing_the_same_orders_twice_changes_nothing(county_a):
    issued = issue(county_a, "intake")
    api = client_api(county_a, issued.api_key)
    first = post_json(api, [order("GD-1"), order("GD-2", departments=["scjgj"])])
    with tenant_context(county_a):
        cases_after_first = Case.objects.count()
        events_after_first = CaseEvent.objects.count()
    second = post_json(api, [order("GD-1"), order("GD-2", departments=["scjgj"])])
    assert first.status_code == 200 and second.status_code == 200
    assert [row["external_id"] for row in first.json()["imported"]] == ["GD-1", "GD-2"]
    assert second.json()["imported"] == [] and second.json()["rejected"] == []
    assert [(r["external_id"], r["number"]) for r in second.json()["unchanged"]] == [
        (r["external_id"], r["number"]) for r in first.json()["imported"]
    ]
    with tenant_context(county_a):
        assert Case.objects.count() == cases_after_first and CaseEvent.objects.count() == events_after_first
        case = Case.objects.get(external_references__external_id="GD-2")
        assert case.channel == Channel.HOTLINE and [d.code for d in case.departments_involved.all()] == ["scjgj"]
        registered = case.events.get(action="registered")
        assert registered.data == {"channel": "hotline_12345", "system": "12345"} and registered.actor is None


def test_a_partly_bad_batch_imports_the_good_rows_and_names_each_bad_line(county_a):
    api = client_api(county_a, issue(county_a, "intake").api_key)
    response = post_json(
        api,
        [
            order("GD-10"),
            order("GD-11", citizen_phone="12345"),
            order("", matter="无编号"),
            order("GD-13", kind="no-such-kind"),
            "not an object",
            order("GD-15"),
        ],
    )
    body = response.json()
    assert response.status_code == 200
    assert [r["external_id"] for r in body["imported"]] == ["GD-10", "GD-15"]
    rejected = {r["line"]: r for r in body["rejected"]}
    assert sorted(rejected) == [2, 3, 4, 5]
    assert rejected[2]["code"] == "casework.invalid" and "手机" in rejected[2]["message"]
    assert rejected[3]["code"] == "interop.invalid" and rejected[3]["details"][0]["field"] == "external_id"
    assert rejected[4]["code"] == "casework.unknown_reference" and "no-such-kind" in rejected[4]["message"]
    with tenant_context(county_a):
        assert not ExternalReference.objects.filter(external_id__in=["GD-11", "GD-13"]).exists()


def test_csv_rows_are_reported_by_their_line_in_the_file(county_a):
    api = client_api(county_a, issue(county_a, "intake").api_key)
    csv_body = (
        "external_id,matter,description,citizen_name,citizen_phone,kind,departments\n"
        "CSV-1,不动产登记,三次未办成,王女士,13900001111,case,scjgj;tcj\n"
        "CSV-2,社保转移,,李先生,13900002222,case,\n"
        "CSV-1,不动产登记,三次未办成,王女士,13900001111,case,scjgj;tcj\n"
    ).encode()
    response = api.generic("POST", "/interop/v1/work-orders/", csv_body, content_type="text/csv; charset=utf-8")
    body = response.json()
    assert [(r["line"], r["external_id"]) for r in body["imported"]] == [(2, "CSV-1")]
    assert [(r["line"], r["external_id"]) for r in body["unchanged"]] == [(4, "CSV-1")]
    assert [(r["line"], r["code"]) for r in body["rejected"]] == [(3, "casework.invalid")]
    assert "此项为必填项" in body["rejected"][0]["message"]


def test_an_oversized_batch_is_refused_whole_and_imports_nothing(county_a, settings):
    settings.INTEROP_INTAKE_MAX_ORDERS = 3
    api = client_api(county_a, issue(county_a, "intake").api_key)
    with tenant_context(county_a):
        before = Case.objects.count()
    response = post_json(api, [order(f"BIG-{i}") for i in range(4)])
    assert response.status_code == 413
    refused = response.json()["error"]
    assert refused["code"] == "interop.batch_too_large" and "最多 3" in refused["message"]
    settings.INTEROP_INTAKE_MAX_BYTES = 1024
    csv_body = ("external_id,matter\n" + "X,很长的事项名称\n" * 200).encode()
    too_big = api.generic("POST", "/interop/v1/work-orders/", csv_body, content_type="text/csv")
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "interop.batch_too_large"
    with tenant_context(county_a):
        assert Case.objects.count() == before


def test_other_formats_and_broken_json_get_a_clear_error(county_a):
    api = client_api(county_a, issue(county_a, "intake").api_key)
    xml = api.generic("POST", "/interop/v1/work-orders/", b"<orders/>", content_type="application/xml")
    broken = api.generic("POST", "/interop/v1/work-orders/", b"{", content_type="application/json")
    assert xml.status_code == 415 and xml.json()["error"]["code"] == "interop.unsupported_format"
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "interop.invalid"
    assert "JSON" in broken.json()["error"]["message"]


def test_status_and_reply_go_back_to_the_source_over_its_signed_webhook(county_a, receiver):
    issued = issue(county_a, "intake", webhook_url=receiver.url)
    receiver.secret = issued.signing_secret
    api = client_api(county_a, issued.api_key)
    imported = post_json(api, [order("HOOK-1")]).json()["imported"][0]
    boss = supervisor(county_a)
    with tenant_context(county_a):
        case = Case.objects.get(pk=imported["case_id"])
        case = casework.case_accept_and_assign(
            actor=boss, case_id=case.pk, version=case.version, lead_department_code="scjgj"
        )
        casework.assignment_complete(actor=boss, assignment_id=case.assignments.get().pk, result="已办")
        case.refresh_from_db()
        casework.case_reply(actor=boss, case_id=case.pk, version=case.version, method="phone", content="已为您办结")
        hooks = Notification.objects.filter(channel=NotificationChannel.WEBHOOK, subject=str(issued.client.webhook_id))
        outcomes = {notifications.notification_deliver(notification_id=h.pk) for h in hooks}
    assert outcomes == {"sent"}
    received = [(e["event"], e["data"]["to_status"]) for e in receiver.events if e["data"]["case_id"] == str(case.pk)]
    assert ("case.registered", "registered") in received and ("case.replied", "replied") in received
    assert all(e["data"]["number"] == imported["number"] for e in receiver.events)
    # The reply's text is fetched with the source's own id (webhooks carry no personal data).
    status = api.get("/interop/v1/work-orders/HOOK-1/").json()
    assert status["status"] == "replied" and status["status_display"] == "已答复"
    assert status["replies"][0]["content"] == "已为您办结" and status["number"] == imported["number"]
    assert json.dumps(receiver.events, ensure_ascii=False).find("周先生") == -1


def test_one_unreadable_value_is_a_clear_error_not_a_failed_batch(county_a):
    """A NUL byte, a CSV field over the csv module's limit or JSON nested too deep: the hotline's
    batch gets a 400 (or the row a rejection) with a code, never a 500 it would retry forever."""
    api = client_api(county_a, issue(county_a, "intake").api_key)
    nul = post_json(api, [order("NUL-1", matter="营业执照\x00办理"), order("NUL\x002"), order("NUL-3")])
    assert nul.status_code == 200, nul.content
    body = nul.json()
    assert [r["external_id"] for r in body["imported"]] == ["NUL-3"]
    assert [(r["line"], r["code"]) for r in body["rejected"]] == [(1, "interop.invalid"), (2, "interop.invalid")]
    assert body["rejected"][0]["details"][0]["field"] == "matter" and "字符" in body["rejected"][0]["message"]
    csv_nul = api.generic(
        "POST", "/interop/v1/work-orders/", b"external_id,matter,kind\nC\x00,x,case\n", content_type="text/csv"
    )
    assert csv_nul.status_code == 200 and csv_nul.json()["rejected"][0]["code"] == "interop.invalid"
    huge_field = ("external_id,matter\nX," + "长" * 140_000 + "\n").encode()
    too_long = api.generic("POST", "/interop/v1/work-orders/", huge_field, content_type="text/csv")
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "interop.invalid"
    assert "第 2 行" in too_long.json()["error"]["message"]
    deep = api.generic("POST", "/interop/v1/work-orders/", b"[" * 100_000, content_type="application/json")
    assert deep.status_code == 400 and deep.json()["error"]["code"] == "interop.invalid"
    with tenant_context(county_a):
        assert not ExternalReference.objects.filter(external_id__startswith="NUL").exclude(external_id="NUL-3").exists()
