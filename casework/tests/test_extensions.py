"""延期: asked before the deadline with a reason, decided by the supervisor, the citizen told."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from casework.models import Case
from sla.selectors import county_calendar
from sla.sweep.models import DeadlineEntry

pytestmark = pytest.mark.django_db


def ok(response, status=200):
    assert response.status_code == status, response.json()
    return response.json()


def assigned_case(clerk, supervisor):
    body = {"matter": "食品经营许可", "description": "需要现场核查", "citizen_name": "钱女士",
            "citizen_phone": "13800005555", "channel": "window", "kind": "case", "category": "complex"}  # fmt: skip
    case = ok(clerk.post("cases/create/", body), 201)
    return ok(
        supervisor.post(
            f"cases/{case['id']}/accept-and-assign/", {"version": case["version"], "lead_department": "scjgj"}
        )
    )


def test_an_approved_extension_moves_the_deadlines_by_working_days(county_a, staff_api):
    clerk, supervisor = staff_api(county_a, "window_clerk"), staff_api(county_a, "supervisor")
    market = staff_api(county_a, "department_handler", "scjgj")
    case = assigned_case(clerk, supervisor)
    before = datetime.datetime.fromisoformat(case["reply_due_at"])
    case = ok(market.post(f"cases/{case['id']}/extension/", {"working_days": 5, "reason": "需要现场核查"}), 201)
    (extension,) = case["extensions"]
    assert extension["status"] == "pending"
    again = market.post(f"cases/{case['id']}/extension/", {"working_days": 2, "reason": "再延"})
    assert again.status_code == 409

    assert market.post(f"extensions/{extension['id']}/decide/", {"approve": True}).status_code == 403
    case = ok(supervisor.post(f"extensions/{extension['id']}/decide/", {"approve": True, "note": "同意延期5个工作日"}))
    after = datetime.datetime.fromisoformat(case["reply_due_at"])
    with tenant_context(county_a):
        assert county_calendar().working_days_between(before, after) == 5
        assert DeadlineEntry.objects.get(case_id=case["id"], clock="reply").due_at == after
    assert case["extended_days"] == 5 and case["extensions"][0]["status"] == "approved"
    events = [e["action"] for e in case["events"]]
    assert events[-2:] == ["extension_requested", "extension_approved"]
    assert case["events"][-1]["details"]["notify_citizen"] is True
    assert supervisor.post(f"extensions/{extension['id']}/decide/", {"approve": False}).status_code == 409


def test_a_refused_extension_changes_no_deadline(county_a, staff_api):
    clerk, supervisor = staff_api(county_a, "window_clerk"), staff_api(county_a, "supervisor")
    market = staff_api(county_a, "department_handler", "scjgj")
    case = assigned_case(clerk, supervisor)
    extension = ok(market.post(f"cases/{case['id']}/extension/", {"working_days": 3, "reason": "人手不足"}), 201)
    decided = ok(
        supervisor.post(f"extensions/{extension['extensions'][0]['id']}/decide/", {"approve": False, "note": "不同意"})
    )
    assert decided["reply_due_at"] == case["reply_due_at"] and decided["events"][-1]["action"] == "extension_refused"


def test_an_extension_must_be_asked_for_before_the_deadline(county_a, staff_api):
    clerk, supervisor = staff_api(county_a, "window_clerk"), staff_api(county_a, "supervisor")
    market = staff_api(county_a, "department_handler", "scjgj")
    case = assigned_case(clerk, supervisor)
    with tenant_context(county_a):
        Case.objects.filter(pk=case["id"]).update(reply_due_at=timezone.now() - datetime.timedelta(hours=1))
    response = market.post(f"cases/{case['id']}/extension/", {"working_days": 3, "reason": "晚了"})
    assert response.status_code == 409
    assert "截止" in response.json()["error"]["message"] or "期限" in response.json()["error"]["message"]


def test_only_the_department_on_the_case_can_ask(county_a, staff_api):
    clerk, supervisor = staff_api(county_a, "window_clerk"), staff_api(county_a, "supervisor")
    case = assigned_case(clerk, supervisor)
    other = staff_api(county_a, "department_handler", "tcj")
    assert other.post(f"cases/{case['id']}/extension/", {"working_days": 3, "reason": "x"}).status_code == 404
    assert clerk.post(f"cases/{case['id']}/extension/", {"working_days": 3, "reason": "x"}).status_code == 403
    bad = staff_api(county_a, "department_handler", "scjgj").post(
        f"cases/{case['id']}/extension/", {"working_days": 99, "reason": "x"}
    )
    assert bad.status_code == 400


def test_more_time_is_not_granted_once_the_department_has_finished(county_a, staff_api):
    """Approved after the reply, the deadlines would move and the citizen be told of more time for a done case."""
    clerk, supervisor = staff_api(county_a, "window_clerk"), staff_api(county_a, "supervisor")
    market = staff_api(county_a, "department_handler", "scjgj")
    case = assigned_case(clerk, supervisor)
    case = ok(market.post(f"cases/{case['id']}/extension/", {"working_days": 2, "reason": "需要现场核查"}), 201)
    extension_id = case["extensions"][0]["id"]
    ok(market.post(f"assignments/{case['assignments'][0]['id']}/complete/", {"result": "已办结"}))
    case = ok(clerk.get(f"cases/{case['id']}/"))
    replied = ok(
        clerk.post(f"cases/{case['id']}/reply/", {"version": case["version"], "method": "sms", "content": "已办理"})
    )
    refused = supervisor.post(f"extensions/{extension_id}/decide/", {"approve": True})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "casework.illegal_transition"
    after = ok(clerk.get(f"cases/{case['id']}/"))
    assert after["extended_days"] == 0 and after["reply_due_at"] == replied["reply_due_at"]
    # Refusing still clears the request.
    decided = ok(supervisor.post(f"extensions/{extension_id}/decide/", {"approve": False, "note": "已答复"}))
    assert decided["extensions"][0]["status"] == "refused"
