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
from casework.exchange.models import Envelope, ForwardAgreement
from casework.forwarding.models import Forward
from casework.forwarding.services import exchange_storage
from casework.forwarding.tests.test_apis import forward, ok, register
from casework.models import Case, CaseEvent
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
        assert AuditRecord.objects.get(action="tenants.county_removed").details == {"returned": 2, "recalled": 1}

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
