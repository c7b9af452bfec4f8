"""The window's page of cases forwarded from other counties: take over or return."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from casework import services
from casework.forwarding import services as forwarding_services
from casework.forwarding.models import Forward
from casework.forwarding.tests.conftest import deliver_all
from casework.models import Case, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from tests.markup import Markup

pytestmark = pytest.mark.django_db


def _signed_in(county: Any, role: str) -> Client:
    client = Client(HTTP_HOST=f"{county.slug}.{settings.COUNTY_DOMAIN_SUFFIX}")
    with tenant_context(county):  # the session and the account live in the county's schema
        user: Any = UserFactory()
        StaffProfileFactory(user=user, role=role)
        client.force_login(user)
    return client


def _forwarded(county_a: Any, county_b: Any) -> None:
    with tenant_context(county_a):
        boss: Any = UserFactory()
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        intake = services.CaseIntake(
            matter="异地开具无犯罪记录证明", description="户籍在龙井市", citizen_name="韩女士",
            citizen_phone="13500003333", channel="window", kind_code="case",
        )  # fmt: skip
        case = services.case_register(actor=boss, intake=intake)
        forwarding_services.case_forward(
            actor=boss, case_id=case.pk, version=case.version, mode="proxy", reason="户籍地出具",
            targets=[forwarding_services.ForwardTarget(county_code=county_b.code)],
        )  # fmt: skip
    deliver_all()


def test_the_window_takes_a_forwarded_case_over_from_its_page(county_a, county_b, agreement):
    agreement()
    _forwarded(county_a, county_b)
    clerk = _signed_in(county_b, StaffRole.WINDOW_CLERK)
    page = clerk.get("/forwards/")
    text = page.content.decode()
    assert page.status_code == 200 and "异地开具无犯罪记录证明" in text and "135****3333" not in text
    assert "13500003333" in text  # a window clerk calls the citizen back
    with tenant_context(county_b):
        forward = Forward.objects.get()
    response = clerk.post(f"/forwards/{forward.pk}/accept/", {"kind": "case", "category": ""})
    assert response.status_code == 302
    with tenant_context(county_b):
        case = Case.objects.get(forward_id=forward.pk)
        assert response["Location"].endswith(f"/cases/{case.pk}/")


def test_each_waiting_forward_has_forms_with_ids_of_their_own(county_a, county_b, agreement):
    agreement()
    clerk = _signed_in(county_b, StaffRole.WINDOW_CLERK)
    _forwarded(county_a, county_b)
    clerk.get("/forwards/")  # the first request of a session reads what later ones find cached
    with CaptureQueriesContext(connection) as one:
        clerk.get("/forwards/")
    _forwarded(county_a, county_b)
    with CaptureQueriesContext(connection) as two:
        text = clerk.get("/forwards/").content.decode()
    assert text.count("/accept/") >= 2
    assert Markup(text).id_problems() == []
    assert len(two) == len(one)  # the forms' choices are read once a page, not once a forward


def test_a_leader_sees_the_queue_masked_and_cannot_decide(county_a, county_b, agreement):
    agreement()
    _forwarded(county_a, county_b)
    leader = _signed_in(county_b, StaffRole.LEADER)
    text = leader.get("/forwards/").content.decode()
    assert "135****3333" in text and "/accept/" not in text
    with tenant_context(county_b):
        forward = Forward.objects.get()
    leader.post(f"/forwards/{forward.pk}/return/", {"reason": "不受理"})
    with tenant_context(county_b):
        assert Forward.objects.get().status == "pending"
    # The sending county shares the forward's id but cannot decide for the receiver.
    sender = _signed_in(county_a, StaffRole.SUPERVISOR)
    assert sender.post(f"/forwards/{forward.pk}/return/", {"reason": "x"}).status_code in {302, 404}
    with tenant_context(county_b):
        assert Forward.objects.get().status == "pending"


def test_the_sender_recalls_a_forward_from_the_case_page(county_a, county_b, agreement):
    agreement()
    _forwarded(county_a, county_b)
    clerk = _signed_in(county_a, StaffRole.WINDOW_CLERK)
    with tenant_context(county_a):
        case = Case.objects.get(matter="异地开具无犯罪记录证明")
    page = clerk.get(f"/cases/{case.pk}/").content.decode()
    assert "撤回转办" in page
    response = clerk.post(
        f"/cases/{case.pk}/step/recall_forward/", {"version": case.version, "reason": "对方长时间未处理"}
    )
    assert response.status_code == 302
    deliver_all()
    with tenant_context(county_a):
        assert Case.objects.get(pk=case.pk).status == "registered"
    with tenant_context(county_b):
        assert Forward.objects.get().status == "recalled"
