"""多地联办 when the lead county returns the case, or is asked to give it back: the co-handlers are not
left with half a case."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from casework.exchange import services as exchange_services
from casework.exchange.models import Envelope
from casework.forwarding.models import Forward
from casework.forwarding.services import envelope_apply
from casework.forwarding.tests.test_apis import forward, ok, register
from casework.models import Case, CaseEvent
from notifications.models import Notification
from tenants.models import County

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


def deliver_only(**where):
    """Apply only the undelivered envelopes matching ``where``: answers crossing in a chosen order."""
    applied = 0
    for envelope in Envelope.objects.filter(delivered_at__isnull=True, **where).order_by("created_at"):
        with tenant_context(County.objects.get(schema_name=envelope.target_schema)):
            applied += envelope_apply(envelope_id=envelope.pk)
    return applied


def recall(clerk, case, reason="误转，应由本县办理"):
    case = ok(clerk.get(f"cases/{case['id']}/"))
    return ok(clerk.post(f"cases/{case['id']}/forward/recall/", {"version": case["version"], "reason": reason}))


def test_a_lead_recalled_at_the_senders_request_ends_the_joint_handling_and_co_handlers_at_work_are_told(
    county_a, county_b, county_c, staff_api, deliver, joint
):
    case, lead, co = joint
    clerk_a = staff_api(county_a, "supervisor")
    supervisor_c = staff_api(county_c, "supervisor")
    taken = ok(staff_api(county_c, "window_clerk").post(f"forwards/{co['id']}/accept/", {"kind_code": "case"}))
    deliver()
    recall(clerk_a, case)
    deliver()

    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    assert case["status"] == "accepted"
    assert statuses(clerk_a, case) == {county_b.code: "recalled", county_c.code: "accepted"}
    actions = [e["action"] for e in case["events"]]
    assert actions[-2:] == ["forward_recalled", "joint_lead_recalled"]
    note = case["events"][-1]["note"]
    # Recalled from the lead at A's request: nobody there returned it.
    assert county_b.full_name in note and county_c.full_name in note and "撤回" in note and "退回" not in note
    # C's part stays C's decision, as when a lead returns the case.
    c_case = ok(supervisor_c.get(f"cases/{taken['case_id']}/"))
    assert c_case["status"] == "accepted"
    (told,) = [e for e in c_case["events"] if e["action"] == "joint_lead_recalled"]
    assert county_b.full_name in told["note"] and "误转，应由本县办理" in told["note"] and "退回" not in told["note"]
    with tenant_context(county_c):
        assert Forward.objects.get().status == "accepted"
        messages = Notification.objects.filter(key="forward.lead_recalled", channel="inapp")
        assert messages.count() == 2  # C's window clerk and supervisor
        assert all(c_case["number"] in m.body and county_b.full_name in m.body for m in messages)
        assert all("退回" not in m.subject + m.body for m in messages)
        assert not Notification.objects.filter(key="forward.lead_returned").exists()
    with tenant_context(county_a):
        echoes = CaseEvent.objects.filter(case_id=case["id"], action="forward_progress")
        assert not [e for e in echoes if e.data.get("action", "").startswith("joint_lead")]


@pytest.mark.parametrize("lead_answers_first", [True, False], ids=["lead-answer-first", "acceptance-first"])
def test_a_co_handler_that_takes_over_as_the_lead_is_recalled_is_told_once(
    county_a, county_b, county_c, staff_api, deliver, joint, lead_answers_first
):
    """A's recall and C's acceptance cross: C is told whichever answer reaches A first."""
    case, lead, co = joint
    clerk_a = staff_api(county_a, "supervisor")
    supervisor_c = staff_api(county_c, "supervisor")
    recall(clerk_a, case)
    taken = ok(staff_api(county_c, "window_clerk").post(f"forwards/{co['id']}/accept/", {"kind_code": "case"}))
    if lead_answers_first:
        # B gives the case back and A learns it while C's acceptance is still on its way.
        assert deliver_only(target_code=county_b.code) == 1
        assert deliver_only(target_code=county_a.code, kind="returned") == 1
        assert statuses(clerk_a, case) == {county_b.code: "recalled", county_c.code: "pending"}
    deliver()

    assert statuses(clerk_a, case) == {county_b.code: "recalled", county_c.code: "accepted"}
    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    assert case["status"] == "accepted"
    assert [e["action"] for e in case["events"]].count("joint_lead_recalled") == 1
    c_case = ok(supervisor_c.get(f"cases/{taken['case_id']}/"))
    assert [e["action"] for e in c_case["events"]].count("joint_lead_recalled") == 1
    with tenant_context(county_c):
        assert Notification.objects.filter(key="forward.lead_recalled").count() == 2  # window clerk, supervisor


def test_a_recalled_lead_takes_the_co_handlers_still_deciding_back_with_it(
    county_a, county_b, county_c, staff_api, deliver, joint
):
    """The recall itself asks back every forward still undecided: nothing more to tell anyone."""
    case, lead, co = joint
    clerk_a = staff_api(county_a, "supervisor")
    recall(clerk_a, case)
    deliver()

    assert statuses(clerk_a, case) == {county_b.code: "recalled", county_c.code: "recalled"}
    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    assert case["status"] == "accepted"
    assert "joint_lead_recalled" not in [e["action"] for e in case["events"]]
    assert ok(staff_api(county_c, "window_clerk").get("forwards/incoming/")) == []
    with tenant_context(county_c):
        assert Forward.objects.get().status == "recalled"
        # One recall each: the co-handler is not asked twice.
    assert Envelope.objects.filter(kind="recall", target_code=county_c.code).count() == 1


def test_a_lead_that_left_the_platform_is_recalled_at_once_and_co_handlers_at_work_are_told(
    county_a, county_b, county_c, staff_api, deliver, joint, monkeypatch
):
    case, lead, co = joint
    clerk_a = staff_api(county_a, "supervisor")
    taken = ok(staff_api(county_c, "window_clerk").post(f"forwards/{co['id']}/accept/", {"kind_code": "case"}))
    deliver()
    on_platform = exchange_services.county_on_platform

    def b_gone(*, code):  # B has left the platform: nothing can be posted to it
        return None if code == county_b.code else on_platform(code=code)

    monkeypatch.setattr(exchange_services, "county_on_platform", b_gone)
    recall(clerk_a, case)
    monkeypatch.undo()
    deliver()

    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    assert case["status"] == "accepted"
    assert statuses(clerk_a, case) == {county_b.code: "recalled", county_c.code: "accepted"}
    actions = [e["action"] for e in case["events"]]
    assert actions[-2:] == ["forward_recall_requested", "joint_lead_recalled"]
    c_case = ok(staff_api(county_c, "supervisor").get(f"cases/{taken['case_id']}/"))
    assert [e["action"] for e in c_case["events"]].count("joint_lead_recalled") == 1
