"""Retention of forwards on the receiving side: a forward that never became a case here expires too."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from casework.exchange.models import Envelope
from casework.forwarding.models import Forward, PersonalDataTransfer
from casework.forwarding.tests.test_apis import forward, ok, register
from casework.retention import cases_anonymise_due
from notifications.models import Notification

pytestmark = pytest.mark.django_db

YEARS_AGO = timezone.now() - datetime.timedelta(days=4 * 365)
NAME, PHONE, COMPANY = "金先生", "13912345678", "延吉金记商贸有限公司"


def _sent(county_a, county_b, staff_api, agreement, deliver):
    agreement()
    clerk_a = staff_api(county_a, "window_clerk")
    staff_api(county_b, "window_clerk")  # told of the forward when it arrives
    case = register(
        clerk_a, matter=f"{NAME}的营业执照变更", citizen_name=NAME, citizen_phone=PHONE, company_name=COMPANY
    )
    case = ok(forward(clerk_a, case, (county_b.code, "lead"), reason=f"{NAME}户籍在对方县市"))
    deliver()
    return clerk_a, case


def _nothing_personal_left_in(county_b) -> None:
    with tenant_context(county_b):
        incoming = Forward.objects.get(direction="in")
        assert incoming.citizen_phone == "" and incoming.payload["citizen_name"] == ""
        for row in (incoming.payload, incoming.reason, PersonalDataTransfer.objects.get().purpose):
            assert NAME not in str(row) and COMPANY not in str(row) and PHONE not in str(row), row
        received = Notification.objects.filter(key="forward.received").exclude(status="pending")
        assert received.exists()
        for message in received:
            assert NAME not in message.subject + message.body, message.body
    envelope = Envelope.objects.get(kind="forward", target_code=county_b.code)
    assert envelope.payload["citizen_name"] == "" and NAME not in str(envelope.payload)


def test_a_forward_recalled_from_here_expires_like_a_returned_one(county_a, county_b, staff_api, agreement, deliver):
    clerk_a, case = _sent(county_a, county_b, staff_api, agreement, deliver)
    ok(clerk_a.post(f"cases/{case['id']}/forward/recall/", {"version": case["version"], "reason": "误转"}))
    deliver()
    with tenant_context(county_b):
        assert Forward.objects.get().status == "recalled"
        Notification.objects.filter(key="forward.received").update(status="sent")
        Forward.objects.update(decided_at=YEARS_AGO)
        cases_anonymise_due()
    _nothing_personal_left_in(county_b)


def test_a_returned_forward_loses_the_name_in_its_texts_and_messages_too(
    county_a, county_b, staff_api, agreement, deliver
):
    _sent(county_a, county_b, staff_api, agreement, deliver)
    clerk_b = staff_api(county_b, "window_clerk")
    item = ok(clerk_b.get("forwards/incoming/"))[0]
    ok(clerk_b.post(f"forwards/{item['id']}/return/", {"reason": f"{NAME}应到户籍地办理"}))
    with tenant_context(county_b):
        Notification.objects.filter(key="forward.received").update(status="sent")
        Forward.objects.update(decided_at=YEARS_AGO)
        cases_anonymise_due()
        assert NAME not in Forward.objects.get().return_reason
    _nothing_personal_left_in(county_b)


def test_a_forward_decided_recently_is_kept(county_a, county_b, staff_api, agreement, deliver):
    clerk_a, case = _sent(county_a, county_b, staff_api, agreement, deliver)
    ok(clerk_a.post(f"cases/{case['id']}/forward/recall/", {"version": case["version"], "reason": "误转"}))
    deliver()
    with tenant_context(county_b):
        cases_anonymise_due()
        assert Forward.objects.get().payload["citizen_name"] == NAME
