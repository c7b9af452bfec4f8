"""GeoReport v2 documents: the county's data in the field names, list wrappers and XML shape of the
published specification (wiki.open311.org/GeoReport_v2), and its error format."""

from __future__ import annotations

import datetime
import json
from typing import Any
from xml.etree import ElementTree as ET  # noqa: S405 - we only write XML here, never parse it

from django.http import HttpResponse
from django.utils import timezone

from casework.interop import selectors
from casework.models import OPEN_STATUSES, Case, CaseStatus, Category, Department, RequestKind, Window
from casework.models import Channel as CaseChannel

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"


def respond(fmt: str, root: str, item: str | None, data: Any, status: int = 200) -> HttpResponse:
    """``data`` as JSON, or as XML under ``<root>`` (a list becomes one ``<item>`` element per row)."""
    if fmt == "json":
        return HttpResponse(json.dumps(data, ensure_ascii=False), content_type=JSON_TYPE, status=status)
    element = ET.Element(root)
    if item is None:
        _fill(element, data)
    else:
        for row in data:
            _fill(ET.SubElement(element, item), row)
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element, encoding="utf-8", xml_declaration=False)
    return HttpResponse(body, content_type=XML_TYPE, status=status)


# In XML a list is a wrapper of singular elements: <attributes><attribute/>, <values><value/>.
_SINGULAR = {"attributes": "attribute", "values": "value"}


def _fill(element: ET.Element, data: dict[str, Any]) -> None:
    for key, value in data.items():
        child = ET.SubElement(element, key)
        if isinstance(value, list):
            for row in value:
                _fill(ET.SubElement(child, _SINGULAR.get(key, key.rstrip("s"))), row)
        elif isinstance(value, bool):
            child.text = "true" if value else "false"
        elif value is not None:
            child.text = str(value)


def error(fmt: str, status: int, description: str) -> HttpResponse:
    """The specification's errors: ``[{"code", "description"}]`` or ``<errors><error>``."""
    return respond(fmt, "errors", "error", [{"code": status, "description": description}], status=status)


def w3c(moment: datetime.datetime | None) -> str | None:
    """ISO 8601 with the offset (2026-03-02T09:30:00+08:00), as the specification requires."""
    return None if moment is None else timezone.localtime(moment).isoformat(timespec="seconds")


# -- services ---------------------------------------------------------------------------------


def service_row(category: Category, group: str) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description,
        "metadata": True,
        "type": "realtime",
        "keywords": "",
        "group": group,
    }


def service_definition(category: Category) -> dict[str, Any]:
    """Every service takes the same attributes: the county's reference lists as value lists."""

    def values(model: Any) -> list[dict[str, str]]:
        return [{"key": row.code, "name": row.name} for row in model.objects.filter(is_active=True)]

    def attribute(order: int, code: str, datatype: str, required: bool, description: str, model: Any = None) -> Any:
        return {
            "variable": True,
            "code": code,
            "datatype": datatype,
            "required": required,
            "datatype_description": None,
            "order": order,
            "description": description,
            "values": values(model) if model is not None else [],
        }

    return {
        "service_code": category.code,
        "attributes": [
            attribute(1, "kind", "singlevaluelist", True, "请求类型", RequestKind),
            attribute(2, "matter", "string", False, "事项名称（未填时用服务名称）"),
            attribute(3, "window", "singlevaluelist", False, "在哪个窗口没有办成", Window),
            attribute(4, "departments", "multivaluelist", False, "涉及的部门", Department),
            attribute(5, "company_name", "string", False, "企业名称（企业办事时填写）"),
        ],
    }


# -- service requests -------------------------------------------------------------------------


def open311_status(case: Case) -> str:
    return "open" if case.status in OPEN_STATUSES else "closed"


def status_notes(case: Case) -> str:
    """Our workflow has more states than open/closed: the detail, in Chinese, goes here."""
    notes = str(case.get_status_display())
    if case.status == CaseStatus.ESCALATED and case.escalation_level:
        notes += f"（{case.escalation_level}）"
    return notes


def request_row(case: Case) -> dict[str, Any]:
    details = selectors.open311_details(case)
    leads = getattr(case, "leads", None) or []
    # The window's own registrations may carry personal detail in their text: only what a citizen
    # sent through an Open311 app (to be published there) is shown in full.
    published = details is not None and case.channel == CaseChannel.ONLINE
    return {
        "service_request_id": case.number,
        "status": open311_status(case),
        "status_notes": status_notes(case),
        "service_name": case.category.name if case.category else "",
        "service_code": case.category.code if case.category else "",
        "description": case.description if published else "",
        "agency_responsible": leads[0].department.name if leads else "",
        "service_notice": "",
        "requested_datetime": w3c(case.registered_at),
        "updated_datetime": w3c(case.updated_at),
        "expected_datetime": w3c(case.resolution_due_at or case.reply_due_at),
        "address": details.address_string if details else "",
        "address_id": details.address_id if details else "",
        "zipcode": details.zipcode if details else "",
        "lat": float(details.lat) if details and details.lat is not None else None,
        "long": float(details.long) if details and details.long is not None else None,
        "media_url": details.media_url if details else "",
    }
