"""Cases get their county's deadlines at registration, keep them through pauses, and show when late."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from casework import services
from casework.models import Case, StaffRole
from casework.selectors import case_late
from casework.tests.factories import StaffProfileFactory, UserFactory, case_intake
from conftest import county_config_path
from sla.selectors import CaseFacts, case_deadlines, county_calendar
from tenants.config import county_config_read
from tenants.services import county_onboard

pytestmark = pytest.mark.django_db


def boss_in(county):
    user = UserFactory(username=f"boss-{county.slug}")
    StaffProfileFactory(user=user, role=StaffRole.SUPERVISOR)
    return user


def test_registration_gives_the_rule_deadline_and_assignments_inherit_it(county_a):
    with tenant_context(county_a):
        boss = boss_in(county_a)
        case = services.case_register(actor=boss, intake=case_intake(category_code="complex"))
        expected = case_deadlines(facts=CaseFacts(kind_code="case", category_code="complex"), start=case.registered_at)
        assert case.reply_due_at == expected.reply.due_at
        assert county_calendar().working_days_between(case.registered_at, case.reply_due_at) == 10
        case = services.case_accept_and_assign(
            actor=boss, case_id=case.pk, version=case.version, lead_department_code="scjgj"
        )
        assert case.assignments.get().due_at == case.resolution_due_at


def test_shaoyang_company_registration_is_due_in_one_working_day_once_assigned(two_counties):
    shaoyang = county_onboard(config=county_config_read(county_config_path("shaoyang"))).county
    with tenant_context(shaoyang):
        boss = boss_in(shaoyang)
        case = services.case_register(actor=boss, intake=case_intake(matter="企业开办"))
        assert case.resolution_due_at is None  # no rule fits yet
        case = services.case_accept_and_assign(
            actor=boss, case_id=case.pk, version=case.version, lead_department_code="scjgj"
        )
        assert county_calendar().working_days_between(case.registered_at, case.resolution_due_at) == 1


def test_waiting_for_materials_moves_the_deadline_by_the_office_time_waited(county_a):
    with tenant_context(county_a):
        boss = boss_in(county_a)
        case = services.case_register(actor=boss, intake=case_intake(category_code="simple"))
        case = services.case_accept(actor=boss, case_id=case.pk, version=case.version)
        before = case.reply_due_at
        case = services.case_request_materials(actor=boss, case_id=case.pk, version=case.version, note="补充证明")
        # Two working days pass while the citizen gathers the papers.
        calendar = county_calendar()
        paused_at = calendar.add_working_days(timezone.now(), 0).due_at - datetime.timedelta(hours=1)
        Case.objects.filter(pk=case.pk).update(paused_at=paused_at - datetime.timedelta(days=4))
        case = services.case_materials_received(actor=boss, case_id=case.pk, version=case.version)
        waited = case.events.last().data["paused_working_seconds"]
        assert waited > 0 and case.paused_seconds == waited
        assert case.reply_due_at > before
        assert calendar.working_seconds_between(before, case.reply_due_at) == waited


def test_asking_for_materials_after_the_deadline_does_not_erase_the_lateness(county_a):
    """A pause that began after a clock's deadline leaves that clock where it was: the case stays late."""
    with tenant_context(county_a):
        boss = boss_in(county_a)
        case = services.case_register(actor=boss, intake=case_intake(category_code="simple"))
        ten_days_ago = timezone.now() - datetime.timedelta(days=10)
        Case.objects.filter(pk=case.pk).update(registered_at=ten_days_ago, clocks_started_at=ten_days_ago)
        case = services.case_classify(actor=boss, case_id=case.pk, version=case.version, category_code="simple")
        case = services.case_accept(actor=boss, case_id=case.pk, version=case.version)
        late = case.reply_due_at
        assert late is not None and late < timezone.now() - datetime.timedelta(days=2)
        case = services.case_request_materials(actor=boss, case_id=case.pk, version=case.version, note="补充证明")
        Case.objects.filter(pk=case.pk).update(paused_at=timezone.now() - datetime.timedelta(days=2))
        case = services.case_materials_received(actor=boss, case_id=case.pk, version=case.version)
        assert case.events.last().data["paused_working_seconds"] > 0
        assert case.reply_due_at == late
        assert Case.objects.filter(case_late(timezone.now()), pk=case.pk).exists()


def test_the_overdue_filter_counts_running_clocks_only(county_a, staff_api):
    api = staff_api(county_a, "supervisor")
    with tenant_context(county_a):
        boss = boss_in(county_a)
        late = services.case_register(actor=boss, intake=case_intake(matter="逾期"))
        paused = services.case_register(actor=boss, intake=case_intake(matter="暂停"))
        paused = services.case_accept(actor=boss, case_id=paused.pk, version=paused.version)
        services.case_request_materials(actor=boss, case_id=paused.pk, version=paused.version, note="等材料")
        yesterday = timezone.now() - datetime.timedelta(days=1)
        Case.objects.filter(pk__in=[late.pk, paused.pk]).update(resolution_due_at=yesterday)
    overdue = {c["matter"] for c in api.get("cases/", {"overdue": "true"}).json()["results"]}
    assert "逾期" in overdue and "暂停" not in overdue


def test_the_follow_up_clock_runs_from_the_reply(county_a):
    from sla.models import DeadlineRule
    from sla.sweep.models import DeadlineEntry

    with tenant_context(county_a):
        DeadlineRule.objects.create(
            code="follow-up", name="答复后5个工作日内回访", clock="follow_up", unit="working_days", amount=5
        )
        boss = boss_in(county_a)
        case = services.case_register(actor=boss, intake=case_intake(category_code="simple"))
        case = services.case_accept(actor=boss, case_id=case.pk, version=case.version)
        assert case.follow_up_due_at is None
        case = services.case_reply(actor=boss, case_id=case.pk, version=case.version, method="phone", content="已答复")
        assert county_calendar().working_days_between(case.replied_at, case.follow_up_due_at) == 5
        assert DeadlineEntry.objects.get(case_id=case.pk, next_check_at__isnull=False).clock == "follow_up"
        services.case_follow_up(actor=boss, case_id=case.pk, version=case.version, outcome="solved", rating_level=5)
        assert not DeadlineEntry.objects.filter(case_id=case.pk, next_check_at__isnull=False).exists()


def test_classifying_a_paused_case_keeps_where_it_resumes(county_a):
    with tenant_context(county_a):
        boss = boss_in(county_a)
        case = services.case_register(actor=boss, intake=case_intake())
        case = services.case_accept_and_assign(
            actor=boss, case_id=case.pk, version=case.version, lead_department_code="scjgj"
        )
        case = services.case_request_materials(actor=boss, case_id=case.pk, version=case.version, note="补材料")
        case = services.case_classify(actor=boss, case_id=case.pk, version=case.version, category_code="complex")
        case = services.case_materials_received(actor=boss, case_id=case.pk, version=case.version)
        assert case.status == "assigned"


def test_a_reply_closes_the_co_handlers_still_open(county_a):
    with tenant_context(county_a):
        boss = boss_in(county_a)
        case = services.case_register(actor=boss, intake=case_intake())
        case = services.case_accept_and_assign(
            actor=boss, case_id=case.pk, version=case.version, lead_department_code="scjgj", co_department_codes=["tcj"]
        )
        lead = case.assignments.get(role="lead")
        services.assignment_complete(actor=boss, assignment_id=lead.pk, result="已办结")
        case.refresh_from_db()
        services.case_reply(actor=boss, case_id=case.pk, version=case.version, method="phone", content="已答复")
        assert set(case.assignments.values_list("status", flat=True)) == {"done", "withdrawn"}


def test_pause_and_resume_never_fire_the_same_notice_twice_and_rework_gets_fresh_clocks(county_a):
    from casework.models import CaseEvent
    from sla.sweep.models import DeadlineEntry
    from sla.sweep.services import due_entries

    with tenant_context(county_a):
        boss = boss_in(county_a)
        case = services.case_register(actor=boss, intake=case_intake(category_code="simple"))
        case = services.case_accept(actor=boss, case_id=case.pk, version=case.version)
        past = timezone.now() - datetime.timedelta(hours=1)
        DeadlineEntry.objects.filter(case_id=case.pk).update(due_at=past, warn_at=None, next_check_at=past)
        Case.objects.filter(pk=case.pk).update(reply_due_at=past)
        services.deadline_events_fire(entry_ids=due_entries(now=timezone.now())[county_a.schema_name])
        case.refresh_from_db()
        case = services.case_request_materials(actor=boss, case_id=case.pk, version=case.version, note="补材料")
        Case.objects.filter(pk=case.pk).update(paused_at=None)  # resumed at once: the deadline stays past
        case.refresh_from_db()
        case = services.case_materials_received(actor=boss, case_id=case.pk, version=case.version)
        services.deadline_events_fire(
            entry_ids=list(DeadlineEntry.objects.filter(case_id=case.pk).values_list("pk", flat=True))
        )
        assert CaseEvent.objects.filter(case=case, action="overdue").count() == 1

        case = services.case_reply(actor=boss, case_id=case.pk, version=case.version, method="phone", content="已答复")
        case = services.case_follow_up(actor=boss, case_id=case.pk, version=case.version, outcome="not_solved")
        assert case.status == "reopened" and case.reply_due_at > timezone.now()
        entry = DeadlineEntry.objects.get(case_id=case.pk, clock="reply")
        assert entry.overdue_at is None and entry.next_check_at is not None


def test_a_department_at_work_answers_to_the_deadline_of_the_new_classification(county_b):
    with tenant_context(county_b):
        boss = boss_in(county_b)
        case = services.case_register(actor=boss, intake=case_intake())
        case = services.case_accept_and_assign(
            actor=boss, case_id=case.pk, version=case.version, lead_department_code="gaj"
        )
        assert case.resolution_due_at is None and case.assignments.get().due_at is None
        case = services.case_classify(actor=boss, case_id=case.pk, version=case.version, category_code="simple")
        assert case.resolution_due_at is not None  # 龙井市: a simple matter is done at once
        assert case.assignments.get().due_at == case.resolution_due_at


def test_a_follow_up_window_shorter_than_a_working_day_gets_no_warning(county_a):
    from sla.models import DeadlineRule
    from sla.sweep.models import DeadlineEntry

    with tenant_context(county_a):
        DeadlineRule.objects.create(
            code="follow-up-hours", name="答复后2个工作小时内回访", clock="follow_up", unit="working_hours", amount=2
        )
        boss = boss_in(county_a)
        case = services.case_register(actor=boss, intake=case_intake(category_code="simple"))
        # Registered weeks ago: judged from the case's start, the follow-up clock had a warning
        # day long past, and the sweep warned the moment the citizen was answered.
        weeks_ago = timezone.now() - datetime.timedelta(days=20)
        Case.objects.filter(pk=case.pk).update(registered_at=weeks_ago, clocks_started_at=weeks_ago)
        case = services.case_accept(actor=boss, case_id=case.pk, version=case.version)
        case = services.case_reply(actor=boss, case_id=case.pk, version=case.version, method="phone", content="已答复")
        entry = DeadlineEntry.objects.get(case_id=case.pk, clock="follow_up")
    assert entry.due_at == case.follow_up_due_at
    assert entry.warn_at is None and entry.next_check_at == entry.due_at
