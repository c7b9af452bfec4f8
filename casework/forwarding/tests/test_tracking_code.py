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
