"""Retention: a closed case past the county's period loses its personal data everywhere, once."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from banchengshi.audit.models import AuditRecord
from casework import selectors, services
from casework.errors import NotFoundError
from casework.interop.models import ApiClient, Open311Details
from casework.models import (
    ANONYMISED,
    Assignment,
    Attachment,
    Case,
    CaseEvent,
    CaseStatus,
    Finding,
    FindingAction,
    FollowUp,
    LookBack,
    Reply,
    StaffRole,
)
from casework.retention import cases_anonymise_due
from casework.tests.factories import StaffProfileFactory, UserFactory
from notifications.models import Notification

pytestmark = pytest.mark.django_db

PHONE = "13912345678"
NAME = "廖女士"
COMPANY = "金记商贸有限公司"
YEARS_AGO = timezone.now() - datetime.timedelta(days=4 * 365)


def _closed_case(county: Any, *, phone: str = PHONE, closed_at: datetime.datetime = YEARS_AGO) -> Case:
    """A case worked from registration to archive, with personal data in every place it can be."""
    with tenant_context(county):
        clerk: Any = UserFactory(username=f"ret-clerk-{phone}")
        StaffProfileFactory(user=clerk, role=StaffRole.SUPERVISOR)
        handler: Any = UserFactory(username=f"ret-handler-{phone}")
        StaffProfileFactory(user=handler, role=StaffRole.DEPARTMENT_HANDLER, department_id=_department_id("scjgj"))
        intake = services.CaseIntake(
            matter=f"{COMPANY}经营范围变更", description=f"{NAME}（{phone}，身份证110101199003071234）来窗口反映",
            citizen_name=NAME, citizen_phone=phone, company_name=COMPANY, channel="window", kind_code="case",
            category_code="simple", department_codes=("scjgj",),
        )  # fmt: skip
        case = services.case_register(actor=clerk, intake=intake)
        pdf = SimpleUploadedFile(f"{NAME}身份证.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
        services.attachment_add(actor=clerk, case_id=case.pk, upload=pdf)
        case = Case.objects.get(pk=case.pk)
        case = services.case_accept_and_assign(
            actor=clerk, case_id=case.pk, version=case.version, lead_department_code="scjgj"
        )
        assignment = Assignment.objects.get(case=case)
        services.assignment_complete(actor=handler, assignment_id=assignment.pk, result=f"已联系{NAME}，电话{phone}")
        case = Case.objects.get(pk=case.pk)
        case = services.case_reply(
            actor=clerk, case_id=case.pk, version=case.version, method="phone", content=f"已电话答复{NAME} {phone}"
        )
        case = services.case_follow_up(
            actor=clerk, case_id=case.pk, version=case.version, outcome="solved", note=f"{NAME}满意",
            rating_level=5, rating_comment=f"谢谢，我是{NAME}",
        )  # fmt: skip
        case = services.case_archive(actor=clerk, case_id=case.pk, version=case.version, note=f"归档，联系电话{phone}")
        client = ApiClient.objects.create(
            name="civic app", source_system="civic", key_id=f"k{phone[-6:]}", key_hash="x" * 64, signing_secret="s"
        )
        Open311Details.objects.create(
            case=case, client=client, address_string="城中区文昌路8号", email="liao@example.cn", device_id="dev-1",
            lat=24.3, long=109.4,
        )  # fmt: skip
        # Messages long delivered.
        Notification.objects.filter(idempotency_key__startswith=f"{case.pk}:").update(status="sent")
        Case.objects.filter(pk=case.pk).update(closed_at=closed_at)
        return Case.objects.get(pk=case.pk)


def _department_id(code: str) -> int:
    from casework.models import Department

    return Department.objects.get(code=code).pk


def _everything_text(case: Case) -> str:
    """Every piece of text the county still keeps about the case."""
    parts: list[str] = [case.matter, case.description, case.citizen_name, case.citizen_phone, case.company_name]
    for event in CaseEvent.objects.filter(case=case):
        parts += [event.note, str(event.data)]
    parts += [r.content for r in Reply.objects.filter(case=case)]
    parts += [f.note for f in FollowUp.objects.filter(case=case)]
    parts += [r.comment for r in case.ratings.all()]
    for a in Assignment.objects.filter(case=case):
        parts += [a.instructions, a.result, a.return_reason]
    for n in Notification.objects.filter(idempotency_key__startswith=f"{case.pk}:"):
        parts += [n.address, n.subject, n.body]
    return "\n".join(parts)


def test_a_closed_case_past_its_period_loses_its_personal_data_everywhere(county_a, django_capture_on_commit_callbacks):
    case = _closed_case(county_a)
    with tenant_context(county_a):
        before = _everything_text(case)
        assert NAME in before and PHONE in before and COMPANY in before
        attachment = Attachment.objects.get(case=case)
        path = Path(attachment.file.path)
        assert path.exists()
        cache.set(f"casework:track:{case.tracking_code}", "cached page", 600)
        cache.set("casework:other", "kept", 600)
        with django_capture_on_commit_callbacks(execute=True):
            assert cases_anonymise_due() >= 1

        case = Case.objects.get(pk=case.pk)
        assert case.anonymised_at is not None
        assert (case.citizen_name, case.citizen_phone, case.company_name) == ("", "", "")
        assert case.citizen_phone_index == "" and case.description == ANONYMISED
        after = _everything_text(case)
        for personal in (NAME, PHONE, COMPANY, "110101199003071234", "文昌路"):
            assert personal not in after, personal
        # Database: attachments gone, row and file; the timeline keeps its shape.
        assert not Attachment.objects.filter(case=case).exists() and not path.exists()
        assert CaseEvent.objects.filter(case=case, action="attachment_added").get().note == ANONYMISED
        assert CaseEvent.objects.filter(case=case, action="anonymised").count() == 1
        sms = Notification.objects.filter(idempotency_key__startswith=f"{case.pk}:", channel="sms")
        assert sms.exists() and all(n.recipient == "" and n.body == "" for n in sms)
        details = Open311Details.objects.get(case=case)
        assert (details.address_string, details.email, details.device_id, details.lat) == ("", "", "", None)
        # Caches: keys naming the case are gone, others stay.
        assert cache.get(f"casework:track:{case.tracking_code}") is None
        assert cache.get("casework:other") == "kept"
        # The citizen's look-up no longer finds it; the audit trail says what happened (ids only).
        with pytest.raises(NotFoundError):
            selectors.case_lookup_by_tracking(tracking_code=case.tracking_code, phone_last4=PHONE[-4:])
        record = AuditRecord.objects.filter(action="case.anonymised", object_id=str(case.pk)).get()
        assert record.details["attachments"] == 1
        assert AuditRecord.objects.filter(action="retention.run").exists()


def test_anonymising_is_idempotent(county_a):
    case = _closed_case(county_a, phone="13811112222")
    with tenant_context(county_a):
        assert cases_anonymise_due() >= 1
        events = CaseEvent.objects.filter(case=case).count()
        version = Case.objects.get(pk=case.pk).version
        records = AuditRecord.objects.filter(action="case.anonymised", object_id=str(case.pk)).count()
        assert cases_anonymise_due() == 0
        assert CaseEvent.objects.filter(case=case).count() == events
        assert Case.objects.get(pk=case.pk).version == version
        assert AuditRecord.objects.filter(action="case.anonymised", object_id=str(case.pk)).count() == records


def test_only_closed_cases_past_the_countys_period_are_touched(county_a):
    recent = _closed_case(county_a, phone="13822223333", closed_at=timezone.now() - datetime.timedelta(days=1000))
    old = _closed_case(county_a, phone="13833334444", closed_at=timezone.now() - datetime.timedelta(days=1100))
    with tenant_context(county_a):
        clerk: Any = UserFactory(username="ret-open")
        StaffProfileFactory(user=clerk, role=StaffRole.WINDOW_CLERK)
        intake = services.CaseIntake(
            matter="事项", description="x", citizen_name=NAME, citizen_phone="13844445555", channel="window",
            kind_code="case",
        )  # fmt: skip
        open_case = services.case_register(actor=clerk, intake=intake)
        Case.objects.filter(pk=open_case.pk).update(registered_at=YEARS_AGO)
        assert county_a.personal_data_retention_days == 1095
        cases_anonymise_due()
        assert Case.objects.get(pk=old.pk).anonymised_at is not None
        assert Case.objects.get(pk=recent.pk).citizen_phone == "13822223333"
        assert Case.objects.get(pk=open_case.pk).citizen_phone == "13844445555"
        # A county that keeps data 30 days: the 1000-day-old case goes too.
        county_a.personal_data_retention_days = 30
        try:
            cases_anonymise_due()
        finally:
            county_a.personal_data_retention_days = 1095
        assert Case.objects.get(pk=recent.pk).anonymised_at is not None
        assert Case.objects.get(pk=open_case.pk).status == CaseStatus.REGISTERED


def test_the_timeline_stays_append_only_outside_the_anonymiser(county_a):
    case = _closed_case(county_a, phone="13855556666")
    with tenant_context(county_a):
        event = CaseEvent.objects.filter(case=case).first()
        assert event is not None
        switch_on = "SELECT set_config('casework.anonymising', 'on', true)"
        for statements in (
            ["UPDATE casework_caseevent SET note = 'x' WHERE id = %s"],
            ["DELETE FROM casework_caseevent WHERE id = %s"],
            # Even with the anonymiser's switch on, only note and data may change.
            [switch_on, "UPDATE casework_caseevent SET action = 'x' WHERE id = %s"],
            [switch_on, "DELETE FROM casework_caseevent WHERE id = %s"],
        ):
            with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql, [event.pk] if "%s" in sql else [])


def test_forwards_and_their_envelopes_lose_the_personal_data_on_both_sides(
    county_a, county_b, django_capture_on_commit_callbacks
):
    from casework.exchange.models import Envelope, ForwardAgreement
    from casework.forwarding import services as forwarding
    from casework.forwarding.models import Forward
    from casework.forwarding.tests.conftest import deliver_all

    low, high = sorted((county_a.code, county_b.code))
    ForwardAgreement.objects.create(first_code=low, second_code=high, created_by="operator")
    with tenant_context(county_a):
        clerk: Any = UserFactory(username="ret-fwd-a")
        StaffProfileFactory(user=clerk, role=StaffRole.WINDOW_CLERK)
        intake = services.CaseIntake(
            matter="异地办理", description=f"{NAME}来办", citizen_name=NAME, citizen_phone=PHONE, channel="window",
            kind_code="case", company_name=COMPANY,
        )  # fmt: skip
        case = services.case_register(actor=clerk, intake=intake)
        pdf = SimpleUploadedFile("材料.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
        attachment = services.attachment_add(actor=clerk, case_id=case.pk, upload=pdf)
        case = Case.objects.get(pk=case.pk)
        forwarding.case_forward(
            actor=clerk, case_id=case.pk, version=case.version, targets=[forwarding.ForwardTarget(county_b.code)],
            mode="full_online", reason="属地", attachment_ids=[attachment.pk],
        )  # fmt: skip
    deliver_all()
    with tenant_context(county_b):
        clerk_b: Any = UserFactory(username="ret-fwd-b")
        StaffProfileFactory(user=clerk_b, role=StaffRole.WINDOW_CLERK)
        incoming = Forward.objects.get(direction="in")
        forwarding.forward_accept(actor=clerk_b, forward_id=incoming.pk, kind_code="case")
    deliver_all()
    envelope = Envelope.objects.get(forward_id=incoming.pk, kind="forward")
    exchange_file = forwarding.exchange_storage().path(envelope.payload["attachments"][0]["path"])
    assert Path(exchange_file).exists()

    with tenant_context(county_a):
        assert Case.objects.get(pk=case.pk).status == CaseStatus.FORWARDED
        Case.objects.filter(pk=case.pk).update(closed_at=YEARS_AGO)
        with django_capture_on_commit_callbacks(execute=True):
            assert cases_anonymise_due() >= 1
    envelope.refresh_from_db()
    assert envelope.payload["citizen_phone"] == "" and envelope.payload["citizen_name"] == ""
    assert envelope.payload["description"] == ANONYMISED and not Path(exchange_file).exists()

    with tenant_context(county_b):
        b_case = Case.objects.get(forward_id=incoming.pk)
        b_case = services.case_withdraw(actor=clerk_b, case_id=b_case.pk, version=b_case.version, reason="撤回")
        Case.objects.filter(pk=b_case.pk).update(closed_at=YEARS_AGO)
        assert cases_anonymise_due() >= 1
        incoming.refresh_from_db()
        assert incoming.citizen_phone == "" and incoming.payload["citizen_name"] == ""
        assert NAME not in str(incoming.payload) and COMPANY not in str(incoming.payload)
        assert Case.objects.get(pk=b_case.pk).citizen_phone == ""


def test_returned_forwards_expire_too(county_a, county_b):
    from casework.exchange.models import ForwardAgreement
    from casework.forwarding import services as forwarding
    from casework.forwarding.models import Forward
    from casework.forwarding.tests.conftest import deliver_all

    low, high = sorted((county_a.code, county_b.code))
    ForwardAgreement.objects.create(first_code=low, second_code=high, created_by="operator")
    with tenant_context(county_a):
        clerk: Any = UserFactory(username="ret-ret-a")
        StaffProfileFactory(user=clerk, role=StaffRole.WINDOW_CLERK)
        intake = services.CaseIntake(
            matter="异地办理", description=f"{NAME}来办", citizen_name=NAME, citizen_phone=PHONE, channel="window",
            kind_code="case",
        )  # fmt: skip
        case = services.case_register(actor=clerk, intake=intake)
        forwarding.case_forward(
            actor=clerk, case_id=case.pk, version=case.version, targets=[forwarding.ForwardTarget(county_b.code)],
            mode="full_online", reason="属地",
        )  # fmt: skip
    deliver_all()
    with tenant_context(county_b):
        clerk_b: Any = UserFactory(username="ret-ret-b")
        StaffProfileFactory(user=clerk_b, role=StaffRole.WINDOW_CLERK)
        incoming = Forward.objects.get(direction="in")
        forwarding.forward_return(actor=clerk_b, forward_id=incoming.pk, reason="不属本地")
        Forward.objects.filter(pk=incoming.pk).update(decided_at=YEARS_AGO)
        cases_anonymise_due()
        incoming.refresh_from_db()
        assert incoming.citizen_phone == "" and NAME not in str(incoming.payload)


def test_a_case_that_fails_is_left_for_the_next_run_and_the_others_go_on(county_a, monkeypatch):
    import casework.retention as retention

    broken = _closed_case(county_a, phone="13866667777")
    fine = _closed_case(county_a, phone="13877778888")

    def hook(case, clean):
        if case.pk == broken.pk:
            raise RuntimeError("disk full")

    monkeypatch.setattr(retention, "_hooks", [hook])
    with tenant_context(county_a):
        cases_anonymise_due()
        assert Case.objects.get(pk=fine.pk).anonymised_at is not None
        untouched = Case.objects.get(pk=broken.pk)
        assert untouched.anonymised_at is None and untouched.citizen_phone == "13866667777"
        assert Attachment.objects.filter(case=untouched).exists()  # its transaction rolled back whole
        run = AuditRecord.objects.filter(action="retention.run").order_by("-seq").first()
        assert run is not None and run.details["failed"] == 1
        monkeypatch.setattr(retention, "_hooks", [])
        cases_anonymise_due()
        assert Case.objects.get(pk=broken.pk).anonymised_at is not None


def test_the_rectification_ledger_loses_the_citizens_data_with_the_case(county_a):
    """A finding raised from a case may quote its citizen: the ledger keeps the cause, not the person."""
    case = _closed_case(county_a, phone="13866667777")
    with tenant_context(county_a):
        lead: Any = UserFactory(username="ret-ledger")
        StaffProfileFactory(user=lead, role=StaffRole.SUPERVISOR)
        finding = services.finding_raise(
            actor=lead, title=f"{COMPANY}经营范围未列入清单（{NAME}反映）", cause_code="list-missing",
            department_code="scjgj", required_change=f"补充清单；回访{NAME}，电话13866667777",
            due_date=timezone.localdate() + datetime.timedelta(days=30), case_ids=[case.pk],
        )  # fmt: skip
        services.finding_action_add(
            actor=lead, finding_id=finding.pk, description=f"已联系{NAME}（13866667777）说明", rectified=True
        )
        services.finding_look_back(actor=lead, finding_id=finding.pk, held=True, note=f"{NAME}办成了")
        version = Finding.objects.get(pk=finding.pk).version
        assert cases_anonymise_due() >= 1
        finding = Finding.objects.get(pk=finding.pk)
        kept = "\n".join(
            [finding.title, finding.required_change]
            + [a.description for a in FindingAction.objects.filter(finding=finding)]
            + [lb.note for lb in LookBack.objects.filter(finding=finding)]
        )
        for personal in (NAME, COMPANY, "13866667777"):
            assert personal not in kept, personal
        assert "经营范围未列入清单" in finding.title and "补充清单" in finding.required_change  # the cause stays
        assert finding.version == version + 1  # a stale edit of the old text is refused


def test_a_text_at_its_full_length_is_still_anonymised(county_a):
    """A marker longer than the name it replaces must not make the row too long to save (and the case never done)."""
    case = _closed_case(county_a, phone="13888889999")
    with tenant_context(county_a):
        longest = Case._meta.get_field("matter").max_length
        Case.objects.filter(pk=case.pk).update(matter="事" * (longest - len(NAME)) + NAME)
        assert cases_anonymise_due() >= 1
        case = Case.objects.get(pk=case.pk)
        assert case.anonymised_at is not None
        assert NAME not in case.matter and len(case.matter) <= longest
        assert not AuditRecord.objects.filter(action="retention.run", details__failed__gt=0).exists()


def test_a_staff_message_at_its_full_length_is_still_anonymised(county_a):
    """The same for an in-app message's subject, which names the case's citizen."""
    case = _closed_case(county_a, phone="13888887777")
    with tenant_context(county_a):
        from notifications.models import Channel as NotificationChannel
        from notifications.models import Notification, Status

        longest = Notification._meta.get_field("subject").max_length
        message = Notification.objects.create(
            key="case.assigned", channel=NotificationChannel.INAPP, recipient="1", status=Status.SENT,
            subject="事" * (longest - len(NAME)) + NAME, body=f"{NAME}的事项",
            idempotency_key=f"{case.pk}:long:inapp:1",
        )  # fmt: skip
        assert cases_anonymise_due() >= 1
        message.refresh_from_db()
        assert NAME not in message.subject and NAME not in message.body
        assert Case.objects.get(pk=case.pk).anonymised_at is not None
