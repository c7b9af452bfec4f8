"""按期办结率 counted honestly: open cases past their deadline are late, paused ones are not."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from casework import services
from casework.models import Case, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from reporting.selectors import on_time_rate

pytestmark = pytest.mark.django_db


def test_on_time_rate_counts_open_overdue_cases_as_late(county_a):
    now = timezone.now()
    hour = datetime.timedelta(hours=1)
    with tenant_context(county_a):
        boss = UserFactory(username="boss-rate")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)

        def case(matter: str, **fields):
            intake = services.CaseIntake(
                matter=matter, description="x", citizen_name="x", citizen_phone="13800006666",
                channel="window", kind_code="case", category_code="simple",
            )  # fmt: skip
            created = services.case_register(actor=boss, intake=intake)
            Case.objects.filter(pk=created.pk).update(**fields)

        case("on time", replied_at=now - 2 * hour, reply_due_at=now - hour, status="replied")
        case("late, answered", replied_at=now - hour, reply_due_at=now - 2 * hour, status="archived")
        case("late, open", reply_due_at=now - hour, status="assigned")
        case("paused", reply_due_at=now - hour, status="waiting_materials")
        case("not yet due", reply_due_at=now + hour, status="accepted")
        case("withdrawn", reply_due_at=now - hour, status="withdrawn")
        case("resolution only", resolution_due_at=now - hour, reply_due_at=None, status="assigned")
        today = timezone.localdate()
        figures = on_time_rate(registered_from=today, registered_to=today, now=now)
    assert (figures.on_time, figures.late_done, figures.late_open, figures.not_yet_due) == (1, 1, 2, 2)
    assert figures.rate == pytest.approx(1 / 4)


def test_no_decided_case_gives_no_rate(county_b):
    with tenant_context(county_b):
        today = timezone.localdate()
        assert on_time_rate(registered_from=today, registered_to=today).rate is None
