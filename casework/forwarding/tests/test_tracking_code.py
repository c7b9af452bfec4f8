"""跨域通办 and the citizen's tracking code when the receiving county has already used it."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from casework.forwarding.models import Forward
from casework.forwarding.tests.test_apis import forward, ok, register
from casework.models import Case, CaseEvent
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_a_code_taken_in_the_receiving_county_is_replaced_and_the_citizen_is_told_the_new_one(
    county_a, county_b, staff_api, anonymous_api, client_for, agreement, deliver
):
    agreement()
    clerk_a, clerk_b = staff_api(county_a, "window_clerk"), staff_api(county_b, "window_clerk")
    case = register(clerk_a)  # 金先生, 13912345678
    old_code = case["tracking_code"]
    # Another citizen's case in B already has this code, and a phone ending in the same 4 digits.
    other = register(clerk_b, matter="补办身份证", citizen_name="朴女士", citizen_phone="13600005678")
    with tenant_context(county_b):
        Case.objects.filter(pk=other["id"]).update(tracking_code=old_code)

    ok(forward(clerk_a, case, (county_b.code, "lead")))
    deliver()
    item = ok(clerk_b.get("forwards/incoming/"))[0]
    taken = ok(clerk_b.post(f"forwards/{item['id']}/accept/", {"kind_code": "case"}))
    with tenant_context(county_b):
        b_case = Case.objects.get(pk=taken["case_id"])
        new_code = b_case.tracking_code
        assert new_code != old_code
        # B's staff see why the citizen's code is not the one A gave.
        accepted = CaseEvent.objects.get(case=b_case, action="accepted")
        assert old_code in accepted.note and new_code in accepted.note

    deliver()
    with tenant_context(county_a):
        assert Case.objects.get(pk=case["id"]).status == "forwarded"
        # One SMS about the hand-over, and it gives the new code instead of promising the old one.
        (sms,) = Notification.objects.filter(channel="sms", key__startswith="case.forwarded")
        assert new_code in sms.body and b_case.number in sms.body and "不变" not in sms.body
        # A's staff, whom the citizen may call with the old code, see the new one on the timeline.
        event = CaseEvent.objects.get(case_id=case["id"], action="forward_accepted")
        assert new_code in event.note and old_code in event.note
        assert Forward.objects.get().payload["tracking_code"] == new_code

    # The old code, looked up in A, leads to B and to the code that works there (API and page).
    track = {"tracking_code": old_code, "phone_last4": "5678"}
    seen = ok(anonymous_api(county_a).post("public/track/", track))
    (there,) = seen["handled_by"]
    assert there["number"] == b_case.number and there["tracking_code"] == new_code
    assert there["track_host"].startswith(county_b.slug)
    page = client_for(county_a).post("/track/", track).content.decode()
    assert county_b.full_name in page and b_case.number in page and new_code in page
    assert f"{county_b.slug}." in page

    # In B the new code finds the citizen's case; the old one stays the other citizen's.
    mine = ok(anonymous_api(county_b).post("public/track/", {"tracking_code": new_code, "phone_last4": "5678"}))
    assert mine["number"] == b_case.number


def test_a_code_free_in_the_receiving_county_stays_and_the_page_says_where_to_look(
    county_a, county_b, staff_api, client_for, agreement, deliver
):
    agreement()
    clerk_a, clerk_b = staff_api(county_a, "window_clerk"), staff_api(county_b, "window_clerk")
    case = register(clerk_a)
    ok(forward(clerk_a, case, (county_b.code, "lead")))
    deliver()
    item = ok(clerk_b.get("forwards/incoming/"))[0]
    taken = ok(clerk_b.post(f"forwards/{item['id']}/accept/", {"kind_code": "case"}))
    deliver()
    with tenant_context(county_b):
        b_case = Case.objects.get(pk=taken["case_id"])
        assert b_case.tracking_code == case["tracking_code"]
        assert "查询码" not in CaseEvent.objects.get(case=b_case, action="accepted").note
    with tenant_context(county_a):
        (sms,) = Notification.objects.filter(channel="sms", key__startswith="case.forwarded")
        assert sms.key == "case.forwarded" and "不变" in sms.body
        assert CaseEvent.objects.get(case_id=case["id"], action="forward_accepted").note == ""
    page = client_for(county_a).post("/track/", {"tracking_code": case["tracking_code"], "phone_last4": "5678"})
    text = page.content.decode()
    assert county_b.full_name in text and b_case.number in text and f"{county_b.slug}." in text


def test_a_co_handler_that_gives_its_part_a_new_code_is_named_to_the_citizen_once(
    county_a, county_b, county_c, staff_api, anonymous_api, agreement, deliver
):
    """多地联办: the lead keeps the citizen's code, a co-handler (C) has already used it."""
    agreement(county_a, county_b)
    agreement(county_a, county_c)
    clerk_a = staff_api(county_a, "supervisor")
    clerk_b, clerk_c = staff_api(county_b, "window_clerk"), staff_api(county_c, "window_clerk")
    case = register(clerk_a)  # 金先生, 13912345678
    old_code = case["tracking_code"]
    other = register(
        clerk_c, matter="补办身份证", citizen_name="朴女士", citizen_phone="13600005678", category="single"
    )
    with tenant_context(county_c):
        Case.objects.filter(pk=other["id"]).update(tracking_code=old_code)
    case = ok(clerk_a.post(f"cases/{case['id']}/accept/", {"version": case["version"]}))
    ok(forward(clerk_a, case, (county_b.code, "lead"), (county_c.code, "co_handler"), mode="joint"))
    deliver()
    # The co-handler decides first, then the lead; later progress there changes nothing here.
    co = ok(clerk_c.get("forwards/incoming/"))[0]
    taken = ok(clerk_c.post(f"forwards/{co['id']}/accept/", {"kind_code": "case"}))
    deliver()
    lead = ok(clerk_b.get("forwards/incoming/"))[0]
    ok(clerk_b.post(f"forwards/{lead['id']}/accept/", {"kind_code": "case"}))
    deliver()
    with tenant_context(county_c):
        c_case = Case.objects.get(pk=taken["case_id"])
        new_code = c_case.tracking_code
        assert new_code != old_code

    with tenant_context(county_a):
        forward_c = Forward.objects.get(counterpart_code=county_c.code)
        assert forward_c.payload["tracking_code"] == new_code
        # The lead's SMS: B keeps the code. C's: where that part is and the code that finds it.
        assert Notification.objects.get(channel="sms", key__startswith="case.forwarded").key == "case.forwarded"
        (sms,) = Notification.objects.filter(channel="sms", key="case.co_handled_new_code")
        assert county_c.full_name in sms.body and c_case.number in sms.body
        assert new_code in sms.body and old_code in sms.body
        assert sms.idempotency_key == f"{case['id']}:co-handled:{forward_c.pk}:sms"
        accepted = CaseEvent.objects.get(case_id=case["id"], action="forward_accepted", data__county=county_c.code)
        assert new_code in accepted.note and "已短信告知" in accepted.note

    # C's progress later reaches A; the citizen is not told again.
    ok(
        staff_api(county_c, "supervisor").post(
            f"cases/{taken['case_id']}/withdraw/", {"version": c_case.version, "reason": "无需协办"}
        )
    )
    deliver()
    with tenant_context(county_a):
        assert Notification.objects.filter(channel="sms", key="case.co_handled_new_code").count() == 1

    # With that code, C finds the citizen's part there.
    mine = ok(anonymous_api(county_c).post("public/track/", {"tracking_code": new_code, "phone_last4": "5678"}))
    assert mine["number"] == c_case.number


def test_a_co_handler_that_keeps_the_code_sends_the_citizen_nothing(
    county_a, county_b, county_c, staff_api, agreement, deliver
):
    agreement(county_a, county_b)
    agreement(county_a, county_c)
    clerk_a, clerk_c = staff_api(county_a, "supervisor"), staff_api(county_c, "window_clerk")
    case = register(clerk_a)
    case = ok(clerk_a.post(f"cases/{case['id']}/accept/", {"version": case["version"]}))
    ok(forward(clerk_a, case, (county_b.code, "lead"), (county_c.code, "co_handler"), mode="joint"))
    deliver()
    co = ok(clerk_c.get("forwards/incoming/"))[0]
    ok(clerk_c.post(f"forwards/{co['id']}/accept/", {"kind_code": "case"}))
    deliver()
    with tenant_context(county_a):
        assert not Notification.objects.filter(channel="sms", key__in=["case.co_handled_new_code", "case.forwarded"])
        assert CaseEvent.objects.get(case_id=case["id"], action="forward_accepted").note == ""
