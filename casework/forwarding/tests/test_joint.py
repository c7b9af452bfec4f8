"""多地联办 when the lead county returns the case: the co-handlers are not left with half a case."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from casework.forwarding.models import Forward
from casework.forwarding.tests.test_apis import forward, ok, register
from casework.models import Case, CaseEvent
from notifications.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def joint(county_a, county_b, county_c, staff_api, agreement, deliver):
    """A case of A sent to B (lead) and C (co-handler), delivered to both."""
    agreement(county_a, county_b)
    agreement(county_a, county_c)
    clerk_a = staff_api(county_a, "supervisor")
    case = ok(clerk_a.post(f"cases/{register(clerk_a)['id']}/accept/", {"version": 1}))
    case = ok(forward(clerk_a, case, (county_b.code, "lead"), (county_c.code, "co_handler"), mode="joint"))
    assert deliver() == 2
    lead = ok(staff_api(county_b, "window_clerk").get("forwards/incoming/"))[0]
    co = ok(staff_api(county_c, "window_clerk").get("forwards/incoming/"))[0]
    return case, lead, co


def statuses(clerk, case):
    return {f["counterpart_code"]: f["status"] for f in ok(clerk.get(f"cases/{case['id']}/forwards/"))}


def test_the_leads_return_recalls_the_co_handlers_still_deciding(
    county_a, county_b, county_c, staff_api, deliver, joint
):
    case, lead, co = joint
    clerk_a = staff_api(county_a, "supervisor")
    ok(staff_api(county_b, "window_clerk").post(f"forwards/{lead['id']}/return/", {"reason": "不属于本市管辖"}))
    deliver()

    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    assert case["status"] == "accepted"
    assert statuses(clerk_a, case) == {county_b.code: "returned", county_c.code: "recalled"}
    actions = [e["action"] for e in case["events"]]
    assert actions[-3:] == ["forward_returned", "joint_lead_returned", "forward_recalled"]
    note = next(e for e in case["events"] if e["action"] == "joint_lead_returned")["note"]
    assert county_b.full_name in note and county_c.full_name in note
    # Nothing is left waiting in C's inbox for a case A now handles itself.
    assert ok(staff_api(county_c, "window_clerk").get("forwards/incoming/")) == []
    with tenant_context(county_c):
        recalled = Forward.objects.get()
        assert recalled.status == "recalled" and county_b.full_name in recalled.return_reason
        assert not Case.objects.filter(forwarded_from=county_a.code).exists()
    # Back home, A may send it on again.
    ok(forward(clerk_a, case, (county_c.code, "lead")))


def test_co_handlers_already_at_work_are_told_when_the_lead_returns(
    county_a, county_b, county_c, staff_api, deliver, joint
):
    case, lead, co = joint
    clerk_a = staff_api(county_a, "supervisor")
    supervisor_c = staff_api(county_c, "supervisor")
    taken = ok(staff_api(county_c, "window_clerk").post(f"forwards/{co['id']}/accept/", {"kind_code": "case"}))
    deliver()
    ok(staff_api(county_b, "window_clerk").post(f"forwards/{lead['id']}/return/", {"reason": "不属于本市管辖"}))
    deliver()

    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    assert case["status"] == "accepted"
    # C's part stays C's decision: its case goes on, and A keeps following it.
    assert statuses(clerk_a, case) == {county_b.code: "returned", county_c.code: "accepted"}
    note = next(e for e in case["events"] if e["action"] == "joint_lead_returned")["note"]
    assert county_c.full_name in note
    c_case = ok(supervisor_c.get(f"cases/{taken['case_id']}/"))
    assert c_case["status"] == "accepted"
    told = [e for e in c_case["events"] if e["action"] == "joint_lead_returned"]
    assert len(told) == 1 and county_b.full_name in told[0]["note"] and "不属于本市管辖" in told[0]["note"]
    with tenant_context(county_c):
        messages = Notification.objects.filter(key="forward.lead_returned", channel="inapp")
        assert messages.count() == 2  # C's window clerk and supervisor
        assert all(c_case["number"] in m.body and county_b.full_name in m.body for m in messages)
    # Being told is not progress of C's case: A's timeline gets no echo of it.
    with tenant_context(county_a):
        echoes = CaseEvent.objects.filter(case_id=case["id"], action="forward_progress")
        assert not [e for e in echoes if e.data.get("action") == "joint_lead_returned"]


def test_a_co_handler_that_takes_over_as_the_lead_returns_is_told(
    county_a, county_b, county_c, staff_api, deliver, joint
):
    """Both decide before either answer arrives: A's recall finds C's case taken over, and C is told."""
    case, lead, co = joint
    ok(staff_api(county_b, "window_clerk").post(f"forwards/{lead['id']}/return/", {"reason": "不属于本市管辖"}))
    taken = ok(staff_api(county_c, "window_clerk").post(f"forwards/{co['id']}/accept/", {"kind_code": "case"}))
    deliver()

    clerk_a = staff_api(county_a, "supervisor")
    assert statuses(clerk_a, case) == {county_b.code: "returned", county_c.code: "accepted"}
    assert ok(clerk_a.get(f"cases/{case['id']}/"))["status"] == "accepted"
    c_case = ok(staff_api(county_c, "supervisor").get(f"cases/{taken['case_id']}/"))
    assert [e["action"] for e in c_case["events"]].count("joint_lead_returned") == 1
    with tenant_context(county_c):
        assert Forward.objects.get().status == "accepted"


def test_a_co_handlers_return_leaves_the_lead_alone(county_a, county_b, county_c, staff_api, deliver, joint):
    case, lead, co = joint
    ok(staff_api(county_c, "window_clerk").post(f"forwards/{co['id']}/return/", {"reason": "无需协办"}))
    deliver()
    clerk_a = staff_api(county_a, "supervisor")
    assert statuses(clerk_a, case) == {county_b.code: "pending", county_c.code: "returned"}
    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    assert case["status"] == "forwarding" and "joint_lead_returned" not in [e["action"] for e in case["events"]]
