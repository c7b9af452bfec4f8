"""Contract: an independent GeoReport v2 client from PyPI (``georeport``) against a real gunicorn server.

``georeport`` reads services, service definitions and requests (JSON and XML); it has no call for
creating a request, so ``POST requests`` is sent as the specification has it (form-encoded, with
``api_key``) by ``requests``. Every field the client reads is checked against the county's data.
"""

from __future__ import annotations

import datetime
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.utils import timezone
from django_tenants.utils import tenant_context
from georeport import GeoReport  # type: ignore[import-untyped]

from casework.interop.tests.conftest import host, issue, replied_case, supervisor
from casework.models import Case, Category, Department, RequestKind, Window
from conftest import web_server

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def localhost_names() -> Iterator[None]:
    """``*.localhost`` is loopback (RFC 6761), as browsers resolve it; this machine's resolver does not."""
    original = socket.getaddrinfo

    def resolve(name: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(name, str) and name.endswith(".localhost"):
            name = "127.0.0.1"
        return original(name, *args, **kwargs)

    setattr(socket, "getaddrinfo", resolve)  # noqa: B010 - a test-wide resolver shim
    yield
    setattr(socket, "getaddrinfo", original)  # noqa: B010


@pytest.fixture(scope="module")
def server(two_counties: Any, django_db_blocker: Any, localhost_names: None) -> Iterator[dict[str, Any]]:
    chengzhong = two_counties[0]
    suffix = uuid.uuid4().hex[:6]
    with django_db_blocker.unblock():
        # Committed, so that the server process sees it: a civic app's key and a handled case.
        issued = issue(chengzhong, "open311", source=f"civic-{suffix}")
        handled = replied_case(chengzhong, supervisor(chengzhong, f"contract-{suffix}"))
    with web_server(threads=2, env={"NO_PROXY": "*"}) as port:
        yield {
            "root": f"http://{host(chengzhong)}:{port}/open311/v2",
            "county": chengzhong,
            "api_key": issued.api_key,
            "handled": handled.number,
        }


def _w3c(moment: datetime.datetime | None) -> str:
    assert moment is not None
    return timezone.localtime(moment).isoformat(timespec="seconds")


def _xml_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_services_and_definitions_read_by_georeport(server, fmt):
    client = GeoReport(server["root"], jurisdiction=host(server["county"]), output_format=fmt)
    services = _xml_list(client.get_service_list())
    with tenant_context(server["county"]):
        categories = {c.code: c for c in Category.objects.filter(is_active=True)}
        kinds = [(k.code, k.name) for k in RequestKind.objects.filter(is_active=True)]
        windows = [(w.code, w.name) for w in Window.objects.filter(is_active=True)]
        departments = [(d.code, d.name) for d in Department.objects.filter(is_active=True)]
        window_name = server["county"].window_name
    assert {s["service_code"] for s in services} == set(categories)
    truth = "true" if fmt == "xml" else True
    for service in services:
        # Every field the client got is one this test checks.
        assert set(service) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
        category = categories[service["service_code"]]
        assert service["service_name"] == category.name
        assert (service["description"] or "") == category.description
        assert service["metadata"] == truth and service["type"] == "realtime"
        assert (service["keywords"] or "") == "" and (service["group"] or "") == window_name
    definition = client.get_service_definition("complex")
    assert set(definition) == {"service_code", "attributes"} and definition["service_code"] == "complex"
    attributes = definition["attributes"] if fmt == "json" else _xml_list(definition["attributes"]["attribute"])
    by_code = {a["code"]: a for a in attributes}
    assert [a["code"] for a in attributes] == ["kind", "matter", "window", "departments", "company_name"]
    expected_lists = {"kind": kinds, "window": windows, "departments": departments}
    for order, attribute in enumerate(attributes, start=1):
        assert set(attribute) == {
            "variable", "code", "datatype", "required", "datatype_description", "order", "description", "values",
        }  # fmt: skip
        assert attribute["variable"] == truth and str(attribute["order"]) == str(order)
        assert attribute["description"] and attribute["datatype_description"] in (None, "")
    falsity = "false" if fmt == "xml" else False
    assert by_code["kind"]["required"] == truth and by_code["window"]["required"] == falsity
    assert by_code["kind"]["datatype"] == "singlevaluelist" and by_code["departments"]["datatype"] == "multivaluelist"
    assert by_code["matter"]["datatype"] == "string"
    for code, expected in expected_lists.items():
        values = by_code[code]["values"] if fmt == "json" else _xml_list(by_code[code]["values"]["value"])
        assert [(v["key"], v["name"]) for v in values] == expected


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_request_posted_then_read_back_by_georeport(server, fmt):
    posted = requests.post(
        f"{server['root']}/requests.{fmt}",
        data={
            "api_key": server["api_key"], "jurisdiction_id": host(server["county"]), "service_code": "complex",
            "lat": "24.3125", "long": "109.4113", "address_string": "城中区政务服务中心一楼",
            "first_name": "先生", "last_name": "曹", "phone": "13912345678", "email": "cao@example.org",
            "device_id": "dev-1", "account_id": "acct-7", "description": "急需办理护照，本人行动不便",
            "media_url": "https://example.org/p.jpg", "attribute[kind]": "case",
            "attribute[departments][]": ["scjgj"], "attribute[matter]": "上门办理护照",
        },
        timeout=30,
    )  # fmt: skip
    assert posted.status_code == 200, posted.text
    if fmt == "json":
        [created] = posted.json()
    else:
        import xmltodict  # type: ignore[import-untyped]

        created = xmltodict.parse(posted.content)["service_requests"]["request"]
    assert created["account_id"] == "acct-7" and created["service_notice"]
    number = created["service_request_id"]

    client = GeoReport(server["root"], jurisdiction=host(server["county"]), output_format=fmt)
    one = client.get_service_request(number)
    with tenant_context(server["county"]):
        case = Case.objects.select_related("category").get(number=number)
        assert case.matter == "上门办理护照" and case.citizen_name == "曹先生"
        expected_due = timezone.localtime(case.resolution_due_at or case.reply_due_at).isoformat(timespec="seconds")
        registered = timezone.localtime(case.registered_at).isoformat(timespec="seconds")
        updated = timezone.localtime(case.updated_at).isoformat(timespec="seconds")
    expected = {
        "service_request_id": number, "status": "open", "status_notes": "已登记", "service_name": "复杂事项",
        "service_code": "complex", "description": "急需办理护照，本人行动不便", "agency_responsible": "",
        "requested_datetime": registered, "expected_datetime": expected_due,
        "address": "城中区政务服务中心一楼", "address_id": "", "zipcode": "", "media_url": "https://example.org/p.jpg",
    }  # fmt: skip
    for name, value in expected.items():
        assert (one[name] or "") == value, name
    assert float(one["lat"]) == 24.3125 and float(one["long"]) == 109.4113
    assert one["updated_datetime"] == updated and updated.endswith("+08:00") and one["service_notice"] in (None, "")
    # Every field the client got is one this test checks.
    assert set(one) == set(expected) | {"lat", "long", "updated_datetime", "service_notice"}

    listed = _xml_list(client.get_service_requests(service_code="complex", status="open"))
    assert number in {r["service_request_id"] for r in listed}
    assert all(r["status"] == "open" and r["service_code"] == "complex" for r in listed)
    both = _xml_list(client.get_service_requests(service_request_id=f"{number},{server['handled']}"))
    rows = {r["service_request_id"]: r for r in both}
    assert set(rows) == {number, server["handled"]}
    handled = rows[server["handled"]]
    assert set(handled) == set(one) and all(set(r) == set(one) for r in listed)
    with tenant_context(server["county"]):
        window_case = Case.objects.select_related("category").get(number=server["handled"])
    # A window case: status, service, agency and times; none of its text or location is published.
    assert {name: value or "" for name, value in handled.items()} == {
        "service_request_id": server["handled"], "status": "closed", "status_notes": "已答复",
        "service_name": window_case.category.name, "service_code": window_case.category.code, "description": "",
        "agency_responsible": "柳州市城中区市场监督管理局", "service_notice": "",
        "requested_datetime": _w3c(window_case.registered_at), "updated_datetime": _w3c(window_case.updated_at),
        "expected_datetime": _w3c(window_case.resolution_due_at or window_case.reply_due_at),
        "address": "", "address_id": "", "zipcode": "", "lat": "", "long": "", "media_url": "",
    }  # fmt: skip
    start = (timezone.localtime() - datetime.timedelta(days=1)).isoformat(timespec="seconds")
    ranged = _xml_list(client.get_service_requests(start_date=start, status="open,closed"))
    assert {number, server["handled"]} <= {r["service_request_id"] for r in ranged}


def test_errors_reach_the_client_in_the_specifications_format(server):
    client = GeoReport(server["root"], output_format="json")
    with pytest.raises(requests.HTTPError) as raised:
        client.get_service_request("CZ-1999-000001")
    assert raised.value.response.status_code == 404
    assert raised.value.response.json() == [{"code": 404, "description": "没有这个服务请求。"}]
    refused = requests.post(
        f"{server['root']}/requests.xml", data={"api_key": "bcs_0000_wrong", "service_code": "complex"}, timeout=30
    )
    assert refused.status_code == 403 and refused.headers["Content-Type"].startswith("text/xml")
    assert refused.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "<errors><error><code>403</code><description>" in refused.text
