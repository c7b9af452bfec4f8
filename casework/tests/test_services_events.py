"""Every timeline event reaches the county's connected systems once: a repeat is dropped, a new event never."""

from __future__ import annotations

import datetime

import pytest
from django_tenants.utils import tenant_context

from casework import services
from casework.models import CaseEvent, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory, case_intake
from notifications.models import Channel, Notification
from notifications.services import webhook_endpoint_subscribe

pytestmark = pytest.mark.django_db


def test_events_that_leave_the_version_alone_each_reach_the_webhook(county_a):
    with tenant_context(county_a):
        boss = UserFactory(username="events-boss")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        webhook_endpoint_subscribe(name="12345", url="http://127.0.0.1:9/hook", secret="s" * 32, events=[])
        case = services.case_register(actor=boss, intake=case_intake())
        for title in ("经营范围清单缺项", "窗口告知不一致"):
            services.finding_raise(
                actor=boss, title=title, cause_code="list-missing", department_code="scjgj", required_change="补充清单",
                due_date=datetime.date(2027, 1, 31), case_ids=[case.pk],
            )  # fmt: skip
        raised = CaseEvent.objects.filter(case=case, action="finding_raised").count()
        hooks = Notification.objects.filter(channel=Channel.WEBHOOK, key="case.finding_raised")
        assert raised == 2 and hooks.count() == 2
