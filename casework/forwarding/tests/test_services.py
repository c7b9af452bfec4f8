"""跨域通办 when a county stops serving: suspended by the province, or gone from the platform."""

from __future__ import annotations

import datetime

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from banchengshi.accounts.models import PlatformRole
from banchengshi.audit.models import AuditRecord
from casework import services
from casework.exchange.errors import ExchangeError
from casework.exchange.models import Envelope, ForwardAgreement
from casework.forwarding.models import Forward
from casework.forwarding.services import envelope_apply, exchange_storage
from casework.forwarding.tests.test_apis import forward, ok, register
from casework.models import Case, CaseEvent
from notifications.models import Notification
from sla.sweep.models import DeadlineEntry
from tenants.config import county_config_parse
from tenants.models import County, CountyStatus
from tenants.services import county_onboard, county_removal_request, county_remove
from tenants.tests.test_config import minimal

pytestmark = pytest.mark.django_db


@pytest.fixture
def county_x(county_a) -> County:
    """测试县, onboarded for this test only (its schema goes with the test's transaction)."""
    text = yaml.safe_dump(minimal(), allow_unicode=True)
    return county_onboard(config=county_config_parse(text, source="testxian.yaml")).county


def suspend(county: County) -> None:
    County.objects.filter(pk=county.pk).update(status=CountyStatus.SUSPENDED)


def remove(county: County) -> None:
    with schema_context("public"):
        operator = get_user_model().objects.create_user(
            username="op-removal", password="Long-enough-pass-1", name="运维", is_staff=True,
            platform_role=PlatformRole.OPERATOR,
        )  # fmt: skip
    county_removal_request(actor=operator, county=county)
    County.objects.filter(pk=county.pk).update(removal_hold_until=timezone.now() - datetime.timedelta(minutes=1))
    county_remove(actor=operator, county=county)


def test_a_suspended_county_still_hears_the_answers_and_does_not_stop_the_other(
    county_a, county_b, staff_api, agreement, deliver
):
    """A county paused by the province must not freeze the cases other counties took from it."""
    agreement()
    clerk_a, clerk_b = staff_api(county_a, "window_clerk"), staff_api(county_b, "supervisor")
    case = ok(forward(clerk_a, register(clerk_a), (county_b.code, "lead")))
    deliver()
    suspend(county_a)

    item = ok(clerk_b.get("forwards/incoming/"))[0]
    taken = ok(clerk_b.post(f"forwards/{item['id']}/accept/", {"kind_code": "case", "category_code": "hard"}))
    b_case = ok(clerk_b.get(f"cases/{taken['case_id']}/"))
    ok(clerk_b.post(f"cases/{b_case['id']}/reply/", {"version": b_case["version"], "method": "sms", "content": "已办"}))
    assert deliver() >= 2  # the acceptance and the progress reach A while it is suspended
    with tenant_context(county_a):
        assert Case.objects.get(pk=case["id"]).status == "forwarded"
        assert Forward.objects.get().remote_status == "replied"


def test_a_forward_to_a_suspended_county_can_still_be_recalled(county_a, county_b, staff_api, agreement, deliver):
    agreement()
    clerk_a = staff_api(county_a, "window_clerk")
    case = ok(clerk_a.post(f"cases/{register(clerk_a)['id']}/accept/", {"version": 1}))
    case = ok(forward(clerk_a, case, (county_b.code, "lead")))
    deliver()
    suspend(county_b)
    ok(clerk_a.post(f"cases/{case['id']}/forward/recall/", {"version": case["version"], "reason": "对方暂停服务"}))
    deliver()
    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    assert case["status"] == "accepted" and case["events"][-1]["action"] == "forward_recalled"


def test_a_county_leaving_the_platform_answers_every_forward_still_undecided(
    county_a, county_x, staff_api, agreement, deliver, django_capture_on_commit_callbacks
):
    agreement(county_a, county_x)
    clerk_a, clerk_x = staff_api(county_a, "window_clerk"), staff_api(county_x, "window_clerk")
    # Delivered to X and not decided there; X's own, waiting in A's inbox.
    delivered = ok(forward(clerk_a, register(clerk_a), (county_x.code, "lead")))
    ok(forward(clerk_x, register(clerk_x), (county_a.code, "lead")))
    assert deliver() == 2
    # Still in transit (as if the worker were down), with a file in the exchange area.
    in_transit = register(clerk_a, matter="异地迁移户口")
    with tenant_context(county_a):
        pdf = SimpleUploadedFile("户口簿.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
        services.attachment_add(
            actor=Case.objects.get(pk=in_transit["id"]).registered_by, case_id=in_transit["id"], upload=pdf
        )
    in_transit = ok(clerk_a.get(f"cases/{in_transit['id']}/"))
    attachment_ids = [in_transit["attachments"][0]["id"]]
    in_transit = ok(forward(clerk_a, in_transit, (county_x.code, "lead"), attachment_ids=attachment_ids))
    (path,) = [item["path"] for item in Envelope.objects.get(delivered_at__isnull=True).payload["attachments"]]
    assert exchange_storage().exists(path)

    with django_capture_on_commit_callbacks(execute=True):
        remove(county_x)
    assert not Envelope.objects.filter(target_code=county_x.code).exists()
    assert not ForwardAgreement.objects.filter(ended_at__isnull=True).exists()
    assert not exchange_storage().exists(path)
    with schema_context("public"):
        details = AuditRecord.objects.get(action="tenants.county_removed").details
        assert details == {"returned": 2, "recalled": 1, "taken_back": 0}

    deliver()
    for sent in (delivered, in_transit):
        case = ok(clerk_a.get(f"cases/{sent['id']}/"))
        assert case["status"] == "registered" and case["events"][-1]["action"] == "forward_returned"
        assert county_x.full_name in case["events"][-1]["note"]
    # X's own forward is withdrawn from A's inbox; A's answer to it goes nowhere.
    with tenant_context(county_a):
        assert Forward.objects.get(direction="in").status == "recalled"
    assert not Envelope.objects.filter(delivered_at__isnull=True).exists()


def test_a_forward_to_a_county_gone_from_the_registry_is_recalled_at_once(
    county_a, county_x, staff_api, agreement, deliver
):
    """A county removed before its forwards were answered (or by hand) leaves nobody to ask."""
    agreement(county_a, county_x)
    clerk_a = staff_api(county_a, "window_clerk")
    case = ok(forward(clerk_a, register(clerk_a), (county_x.code, "lead")))
    County.objects.filter(pk=county_x.pk).delete()
    Envelope.objects.all().delete()
    case = ok(clerk_a.post(f"cases/{case['id']}/forward/recall/", {"version": case["version"], "reason": "对方已撤销"}))
    assert case["status"] == "registered"
    assert case["events"][-1]["action"] == "forward_recall_requested"
    with tenant_context(county_a):
        assert CaseEvent.objects.filter(case_id=case["id"]).latest("at").data["recalled_at_once"] == [county_x.code]
    assert ok(clerk_a.get(f"cases/{case['id']}/forwards/"))[0]["status"] == "recalled"
    assert not Envelope.objects.exists()


def test_files_in_transit_go_once_every_county_has_decided(
    county_a, county_b, staff_api, agreement, deliver, django_capture_on_commit_callbacks
):
    """The receiver copied them into its case before answering; kept, they would wait years for retention."""
    agreement()
    clerk_a, clerk_b = staff_api(county_a, "window_clerk"), staff_api(county_b, "supervisor")
    case = register(clerk_a)
    with tenant_context(county_a):
        pdf = SimpleUploadedFile("营业执照.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
        services.attachment_add(actor=Case.objects.get(pk=case["id"]).registered_by, case_id=case["id"], upload=pdf)
    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    ok(forward(clerk_a, case, (county_b.code, "lead"), attachment_ids=[case["attachments"][0]["id"]]))
    (path,) = [item["path"] for item in Envelope.objects.get(target_code=county_b.code).payload["attachments"]]
    deliver()
    assert exchange_storage().exists(path)
    item = ok(clerk_b.get("forwards/incoming/"))[0]
    taken = ok(clerk_b.post(f"forwards/{item['id']}/accept/", {"kind_code": "case", "category_code": "hard"}))
    with django_capture_on_commit_callbacks(execute=True):
        deliver()
    assert not exchange_storage().exists(path)
    with tenant_context(county_b):
        copied = Case.objects.get(pk=taken["case_id"]).attachments.get()
        assert copied.file.read().startswith(b"%PDF")


def test_a_decided_forward_no_longer_shows_the_citizens_full_phone(county_a, county_b, staff_api, agreement, deliver):
    """Returned, the receiving county has no reason to call the citizen; taken over, its own case has the number."""
    agreement()
    clerk_a, supervisor_b = staff_api(county_a, "window_clerk"), staff_api(county_b, "supervisor")
    ok(forward(clerk_a, register(clerk_a), (county_b.code, "lead")))
    deliver()
    (item,) = ok(supervisor_b.get("forwards/incoming/"))
    assert item["citizen_phone"] == "13912345678"  # pending: the supervisor may call back
    ok(supervisor_b.post(f"forwards/{item['id']}/return/", {"reason": "不属于本县管辖"}))
    (item,) = ok(supervisor_b.get("forwards/incoming/", {"status": "returned"}))
    assert item["citizen_phone"] == "139****5678"


def test_cases_a_leaving_county_had_taken_over_come_back_to_their_senders(
    county_a, county_x, staff_api, anonymous_api, agreement, deliver, django_capture_on_commit_callbacks
):
    """Its schema goes; the cases it was handling must not stay "taken over" by a county that is no more."""
    agreement(county_a, county_x)
    clerk_a, clerk_x = staff_api(county_a, "window_clerk"), staff_api(county_x, "supervisor")
    accepted_here = ok(clerk_a.post(f"cases/{register(clerk_a)['id']}/accept/", {"version": 1}))
    accepted_here = ok(forward(clerk_a, accepted_here, (county_x.code, "lead")))
    registered_here = ok(forward(clerk_a, register(clerk_a, matter="异地迁移户口"), (county_x.code, "lead")))
    finished_there = ok(forward(clerk_a, register(clerk_a, matter="异地补办社保卡"), (county_x.code, "lead")))
    deliver()
    for item in ok(clerk_x.get("forwards/incoming/")):
        taken = ok(clerk_x.post(f"forwards/{item['id']}/accept/", {"kind_code": "case"}))
        if item["remote_number"] == finished_there["number"]:
            x_case = ok(clerk_x.get(f"cases/{taken['case_id']}/"))
            ok(clerk_x.post(f"cases/{x_case['id']}/withdraw/", {"version": x_case["version"], "reason": "市民撤回"}))
    deliver()
    for sent in (accepted_here, registered_here, finished_there):
        assert ok(clerk_a.get(f"cases/{sent['id']}/"))["status"] == "forwarded"
    with tenant_context(county_a):
        # X held the case for two weeks: A's clocks stopped at the hand-over, and that time does not count.
        Case.objects.filter(pk=accepted_here["id"]).update(closed_at=timezone.now() - datetime.timedelta(days=14))
        due_before = Case.objects.get(pk=accepted_here["id"]).reply_due_at

    with django_capture_on_commit_callbacks(execute=True):
        remove(county_x)
    with schema_context("public"):
        details = AuditRecord.objects.get(action="tenants.county_removed").details
        assert details == {"returned": 0, "recalled": 0, "taken_back": 2}
    deliver()

    # Each open case comes back where a returned forward puts it, its clocks running again here.
    for sent, status in ((accepted_here, "accepted"), (registered_here, "registered")):
        case = ok(clerk_a.get(f"cases/{sent['id']}/"))
        assert case["status"] == status
        event = case["events"][-1]
        assert event["action"] == "forward_returned" and county_x.full_name in event["note"]
        assert ok(clerk_a.get(f"cases/{sent['id']}/forwards/"))[0]["status"] == "returned"
        assert DeadlineEntry.objects.filter(case_id=sent["id"], next_check_at__isnull=False).exists()
        with tenant_context(county_a):
            assert Case.objects.get(pk=sent["id"]).closed_at is None
            assert Notification.objects.filter(key="forward.returned", channel="inapp").exists()
        # The citizen's tracking page shows the case at home, not at a county that is gone.
        seen = ok(anonymous_api(county_a).post("public/track/", {"tracking_code": sent["tracking_code"],
                                                                 "phone_last4": "5678"}))  # fmt: skip
        assert seen["status"] == status and seen["handled_by"] == []
    with tenant_context(county_a):
        assert Case.objects.get(pk=accepted_here["id"]).reply_due_at > due_before + datetime.timedelta(days=7)
    # The clerk can take it up again.
    case = ok(clerk_a.get(f"cases/{accepted_here['id']}/"))
    ok(clerk_a.post(f"cases/{case['id']}/assign/", {"version": case["version"], "lead_department": "scjgj"}))

    # A case the county had finished stays finished; only its county's host is no longer offered.
    case = ok(clerk_a.get(f"cases/{finished_there['id']}/"))
    assert case["status"] == "forwarded" and case["events"][-1]["action"] != "forward_returned"
    seen = ok(anonymous_api(county_a).post("public/track/", {"tracking_code": finished_there["tracking_code"],
                                                             "phone_last4": "5678"}))  # fmt: skip
    (there,) = seen["handled_by"]
    assert there["status_display"] == "已撤回" and there["track_host"] == ""
    assert not Envelope.objects.filter(delivered_at__isnull=True).exists()


def test_a_case_taken_back_before_its_acceptance_arrived_waits_for_it(
    county_a, county_x, staff_api, agreement, deliver
):
    """The relay sends the least tried first: the return must not be lost by overtaking the acceptance."""
    agreement(county_a, county_x)
    clerk_a, clerk_x = staff_api(county_a, "window_clerk"), staff_api(county_x, "supervisor")
    case = ok(forward(clerk_a, register(clerk_a), (county_x.code, "lead")))
    deliver()
    item = ok(clerk_x.get("forwards/incoming/"))[0]
    ok(clerk_x.post(f"forwards/{item['id']}/accept/", {"kind_code": "case"}))  # not delivered to A yet
    remove(county_x)
    taken_back = Envelope.objects.get(kind="returned", delivered_at__isnull=True)
    with tenant_context(county_a), pytest.raises(ExchangeError):
        envelope_apply(envelope_id=taken_back.pk)
    assert Envelope.objects.get(pk=taken_back.pk).delivered_at is None
    deliver()
    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    assert case["status"] == "registered"
    assert [e["action"] for e in case["events"]][-2:] == ["forward_accepted", "forward_returned"]
