"""跨域通办 end to end through the API: forward, take over, progress back, reply, rating; return; 多地联办."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context

from casework import services
from casework.exchange.models import Envelope
from casework.forwarding.models import Forward, PersonalDataTransfer
from casework.models import Attachment, Case, CaseEvent
from notifications.models import Notification
from sla.sweep.models import DeadlineEntry

pytestmark = pytest.mark.django_db


def ok(response, status=200):
    assert response.status_code == status, response.json()
    return response.json()


def register(clerk, **overrides):
    body = {
        "matter": "异地办理营业执照变更",
        "description": "企业注册地在龙井市，申请人在城中区窗口提出。",
        "citizen_name": "金先生",
        "citizen_phone": "13912345678",
        "channel": "window",
        "kind": "case",
        "category": "simple",
    }
    body.update(overrides)
    return ok(clerk.post("cases/create/", body), 201)


def forward(clerk, case, *targets, mode="full_online", **extra):
    body = {
        "version": case["version"],
        "mode": mode,
        "reason": "事项属地在对方县市，由其全程网办。",
        "targets": [{"county_code": code, "role": role} for code, role in targets],
        **extra,
    }
    return clerk.post(f"cases/{case['id']}/forward/", body)


def test_forward_take_over_progress_reply_and_rating(county_a, county_b, staff_api, anonymous_api, agreement, deliver):
    agreement()
    clerk_a = staff_api(county_a, "window_clerk")
    clerk_b = staff_api(county_b, "window_clerk")
    case = register(clerk_a)
    with tenant_context(county_a):
        pdf = SimpleUploadedFile("营业执照.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
        services.attachment_add(actor=Case.objects.get(pk=case["id"]).registered_by, case_id=case["id"], upload=pdf)
    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    attachment_id = case["attachments"][0]["id"]

    assert [c["code"] for c in ok(clerk_a.get("forward-targets/"))] == [county_b.code]
    case = ok(forward(clerk_a, case, (county_b.code, "lead"), attachment_ids=[attachment_id]))
    assert case["status"] == "forwarding"
    # Nothing reaches B until the envelope is delivered; A's clock keeps running meanwhile.
    with tenant_context(county_b):
        assert not Forward.objects.exists()
    assert DeadlineEntry.objects.filter(case_id=case["id"], next_check_at__isnull=False).exists()

    assert deliver() == 1
    incoming = ok(clerk_b.get("forwards/incoming/"))
    assert len(incoming) == 1
    item = incoming[0]
    assert item["counterpart_name"] == county_a.full_name and item["remote_number"] == case["number"]
    assert item["matter"] == "异地办理营业执照变更" and item["citizen_phone"] == "13912345678"
    assert item["attachments"] == ["营业执照.pdf"]
    with tenant_context(county_b):
        record = PersonalDataTransfer.objects.get()
        assert record.direction == "received" and "citizen_phone" in record.fields
        assert Notification.objects.filter(key="forward.received").exists()
    with tenant_context(county_a):
        assert PersonalDataTransfer.objects.get().direction == "provided"

    taken = ok(clerk_b.post(f"forwards/{item['id']}/accept/", {"kind_code": "case", "category_code": "hard"}))
    assert taken["status"] == "accepted"
    with tenant_context(county_b):
        b_case = Case.objects.get(pk=taken["case_id"])
        assert b_case.number.startswith("LJ-") and b_case.status == "accepted" and b_case.channel == "cross_region"
        assert b_case.forwarded_from == county_a.code and b_case.tracking_code == case["tracking_code"]
        # B's clock runs on B's rules from the moment B took it over.
        assert b_case.registered_at >= Forward.objects.get().created_at and b_case.reply_due_at is not None
        copied = Attachment.objects.get(case=b_case)
        assert copied.original_name == "营业执照.pdf" and copied.file.read().startswith(b"%PDF")

    deliver()
    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    assert case["status"] == "forwarded"
    # A's clock stopped: its index entry has nothing left to check.
    assert not DeadlineEntry.objects.filter(case_id=case["id"], next_check_at__isnull=False).exists()
    with tenant_context(county_a):
        assert Notification.objects.filter(key="case.forwarded", channel="sms").count() == 1

    # B works the case; A sees each step on its own timeline.
    supervisor_b = staff_api(county_b, "supervisor")
    b = ok(supervisor_b.get(f"cases/{taken['case_id']}/"))
    reply = {"version": b["version"], "method": "sms", "content": "已变更"}
    b = ok(supervisor_b.post(f"cases/{b['id']}/reply/", reply))
    deliver()
    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    progress = [e for e in case["events"] if e["action"] == "forward_progress"]
    assert progress and progress[-1]["actor"] == county_b.full_name
    forwards = ok(clerk_a.get(f"cases/{case['id']}/forwards/"))
    assert forwards[0]["remote_status"] == "replied" and forwards[0]["remote_number"] == b["number"]

    # The citizen's tracking code works in A (pointing at B) and in B, where the rating happens.
    citizen_a, citizen_b = anonymous_api(county_a), anonymous_api(county_b)
    track = {"tracking_code": case["tracking_code"], "phone_last4": "5678"}
    seen = ok(citizen_a.post("public/track/", track))
    assert seen["status"] == "forwarded" and seen["handled_by"][0]["number"] == b["number"]
    assert seen["handled_by"][0]["track_host"].startswith(county_b.slug)
    rated = ok(citizen_b.post("public/rate/", {**track, "level": 5}))
    assert rated["number"] == b["number"]
    deliver()
    with tenant_context(county_a):
        assert Case.objects.get(pk=case["id"]).status == "forwarded"
        assert CaseEvent.objects.filter(case_id=case["id"], action="forward_progress").count() >= 2


def test_forward_returned_goes_back_to_where_it_was(county_a, county_b, staff_api, agreement, deliver):
    agreement()
    clerk_a = staff_api(county_a, "window_clerk")
    clerk_b = staff_api(county_b, "supervisor")
    case = register(clerk_a)
    case = ok(clerk_a.post(f"cases/{case['id']}/accept/", {"version": case["version"]}))
    case = ok(forward(clerk_a, case, (county_b.code, "lead")))
    deliver()
    item = ok(clerk_b.get("forwards/incoming/"))[0]
    returned = ok(clerk_b.post(f"forwards/{item['id']}/return/", {"reason": "不属于本市管辖"}))
    assert returned["status"] == "returned"
    again = clerk_b.post(f"forwards/{item['id']}/accept/", {"kind_code": "case"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "casework.illegal_transition"
    deliver()
    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    assert case["status"] == "accepted"
    event = case["events"][-1]
    assert event["action"] == "forward_returned" and event["note"] == "不属于本市管辖"
    with tenant_context(county_b):
        assert not Case.objects.exists() or not Case.objects.filter(forwarded_from=county_a.code).exists()
    # Returned, it can be handled here again.
    ok(clerk_a.post(f"cases/{case['id']}/assign/", {"version": case["version"], "lead_department": "scjgj"}))


def test_joint_handling_across_three_counties(county_a, county_b, county_c, staff_api, agreement, deliver):
    agreement(county_a, county_b)
    agreement(county_a, county_c)
    clerk_a = staff_api(county_a, "supervisor")
    case = register(clerk_a)
    response = forward(clerk_a, case, (county_b.code, "lead"), (county_c.code, "co_handler"), mode="joint")
    case = ok(response)
    assert deliver() == 2
    lead_b = ok(staff_api(county_b, "window_clerk").get("forwards/incoming/"))[0]
    co_c = ok(staff_api(county_c, "window_clerk").get("forwards/incoming/"))[0]
    assert lead_b["role"] == "lead" and co_c["role"] == "co_handler" and lead_b["mode"] == "joint"

    ok(staff_api(county_c, "window_clerk").post(f"forwards/{co_c['id']}/accept/", {"kind_code": "case"}))
    deliver()
    # A co-handler taking its part does not hand the case over.
    assert ok(clerk_a.get(f"cases/{case['id']}/"))["status"] == "forwarding"
    ok(staff_api(county_b, "window_clerk").post(f"forwards/{lead_b['id']}/accept/", {"kind_code": "case"}))
    deliver()
    assert ok(clerk_a.get(f"cases/{case['id']}/"))["status"] == "forwarded"
    forwards = ok(clerk_a.get(f"cases/{case['id']}/forwards/"))
    statuses = {f["counterpart_code"]: f["status"] for f in forwards}
    assert statuses == {county_b.code: "accepted", county_c.code: "accepted"}
    for county in (county_b, county_c):
        with tenant_context(county):
            assert Case.objects.filter(forwarded_from=county_a.code).count() == 1


def test_forwarding_across_provinces_needs_an_agreement(county_a, county_b, staff_api):
    clerk_a = staff_api(county_a, "window_clerk")
    assert ok(clerk_a.get("forward-targets/")) == []
    case = register(clerk_a)
    refused = forward(clerk_a, case, (county_b.code, "lead"))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "casework.unknown_reference"
    assert ok(clerk_a.get(f"cases/{case['id']}/"))["status"] == "registered"
    assert not Envelope.objects.exists()


@pytest.mark.parametrize(
    ("targets", "mode"),
    [
        ([], "full_online"),
        ([("222405", "lead"), ("430523", "lead")], "joint"),
        ([("222405", "co_handler")], "full_online"),
        ([("222405", "lead")], "no-such-mode"),
        ([("450202", "lead")], "full_online"),  # itself
    ],
)
def test_bad_forward_requests_change_nothing(county_a, county_b, staff_api, agreement, targets, mode):
    agreement()
    clerk_a = staff_api(county_a, "window_clerk")
    case = register(clerk_a)
    response = forward(clerk_a, case, *targets, mode=mode)
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["message"]
    assert ok(clerk_a.get(f"cases/{case['id']}/"))["status"] == "registered"
    assert not Envelope.objects.exists()


def test_a_repeated_delivery_changes_nothing(county_a, county_b, staff_api, agreement, deliver):
    from casework.forwarding.services import envelope_apply

    agreement()
    clerk_a = staff_api(county_a, "window_clerk")
    case = register(clerk_a)
    ok(forward(clerk_a, case, (county_b.code, "lead")))
    envelope = Envelope.objects.get()
    with tenant_context(county_b):
        assert envelope_apply(envelope_id=envelope.pk) is True
        assert envelope_apply(envelope_id=envelope.pk) is False
        assert Forward.objects.count() == 1


def test_a_case_a_co_handler_still_works_on_is_not_forwarded(county_a, county_b, staff_api, agreement):
    """Its assignment would otherwise wait in the department's queue with no way to close it."""
    agreement()
    clerk = staff_api(county_a, "supervisor")
    investment = staff_api(county_a, "department_handler", "tcj")
    case = register(clerk)
    case = ok(
        clerk.post(
            f"cases/{case['id']}/accept-and-assign/",
            {"version": case["version"], "lead_department": "tcj", "co_departments": ["scjgj"]},
        )
    )
    lead = next(a for a in case["assignments"] if a["department"]["code"] == "tcj")
    ok(investment.post(f"assignments/{lead['id']}/return/", {"reason": "不属于本局职责，应由对方县市办理"}))
    case = ok(clerk.get(f"cases/{case['id']}/"))
    assert case["status"] == "accepted"
    refused = forward(clerk, case, (county_b.code, "lead"))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "casework.illegal_transition"
    with tenant_context(county_a):
        assert not Forward.objects.filter(case_id=case["id"]).exists()


def test_a_forward_nobody_decides_is_recalled_and_the_case_comes_back(
    county_a, county_b, staff_api, agreement, deliver
):
    agreement()
    clerk_a, clerk_b = staff_api(county_a, "window_clerk"), staff_api(county_b, "window_clerk")
    case = ok(clerk_a.post(f"cases/{register(clerk_a)['id']}/accept/", {"version": 1}))  # accepted, then sent away
    case = ok(forward(clerk_a, case, (county_b.code, "lead")))
    deliver()
    assert len(ok(clerk_b.get("forwards/incoming/"))) == 1
    handler = staff_api(county_a, "department_handler", "scjgj")
    refused = handler.post(f"cases/{case['id']}/forward/recall/", {"version": case["version"], "reason": "x"})
    assert refused.status_code in {403, 404}
    case = ok(clerk_a.post(f"cases/{case['id']}/forward/recall/", {"version": case["version"], "reason": "对方未处理"}))
    assert case["status"] == "forwarding"  # until the other county's answer
    deliver()
    assert ok(clerk_b.get("forwards/incoming/")) == []
    with tenant_context(county_b):
        assert Forward.objects.get().status == "recalled" and not Case.objects.exists()
    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    assert case["status"] == "accepted"
    assert [e["action"] for e in case["events"]][-2:] == ["forward_recall_requested", "forward_recalled"]
    assert ok(clerk_a.get(f"cases/{case['id']}/forwards/"))[0]["status"] == "recalled"
    # Back home, it can be handled here again, or withdrawn by the citizen.
    ok(clerk_a.post(f"cases/{case['id']}/withdraw/", {"version": case["version"], "reason": "市民撤回"}))


def test_a_recall_after_the_other_county_took_the_case_over_changes_nothing_there(
    county_a, county_b, staff_api, agreement, deliver
):
    agreement()
    clerk_a, clerk_b = staff_api(county_a, "window_clerk"), staff_api(county_b, "window_clerk")
    case = ok(forward(clerk_a, register(clerk_a), (county_b.code, "lead")))
    deliver()
    item = ok(clerk_b.get("forwards/incoming/"))[0]
    taken = ok(clerk_b.post(f"forwards/{item['id']}/accept/", {"kind_code": "case"}))
    # A asks for it back before B's acceptance has reached A: B decided first, and that holds.
    ok(clerk_a.post(f"cases/{case['id']}/forward/recall/", {"version": case["version"], "reason": "误转"}))
    deliver()
    with tenant_context(county_b):
        assert Forward.objects.get().status == "accepted" and Case.objects.get(pk=taken["case_id"]).status == "accepted"
    assert ok(clerk_a.get(f"cases/{case['id']}/"))["status"] == "forwarded"
