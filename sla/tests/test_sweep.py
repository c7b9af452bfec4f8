"""The platform-wide deadline index and the sweep: each warning, overdue and escalation fires once."""

from __future__ import annotations

import datetime
import threading
import uuid
from typing import Any, cast

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from casework import services
from casework.models import Case, CaseEvent, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from sla.sweep.models import DeadlineEntry
from sla.sweep.services import due_entries


def _boss(county: Any, name: str) -> Any:
    user = UserFactory(username=name)
    StaffProfileFactory(user=user, role=StaffRole.SUPERVISOR)
    return user


def _case(boss: Any, **changes: Any) -> Any:
    intake = services.CaseIntake(
        matter="期限", description="x", citizen_name="x", citizen_phone="13800004444", channel="window",
        kind_code="case", category_code="complex",
    )  # fmt: skip
    return services.case_register(actor=boss, intake=intake)


@pytest.mark.django_db
def test_the_index_follows_the_running_clocks_of_a_case(county_a):
    with tenant_context(county_a):
        boss = _boss(county_a, "idx")
        case = _case(boss)
        entry = DeadlineEntry.objects.get(case_id=case.pk, next_check_at__isnull=False)
        assert (entry.schema_name, entry.clock, entry.due_at) == (county_a.schema_name, "reply", case.reply_due_at)
        assert entry.warn_at < entry.due_at and entry.next_check_at == entry.warn_at

        case = services.case_accept(actor=boss, case_id=case.pk, version=case.version)
        case = services.case_request_materials(actor=boss, case_id=case.pk, version=case.version, note="等材料")
        assert not DeadlineEntry.objects.filter(
            case_id=case.pk, next_check_at__isnull=False
        ).exists()  # paused: nothing may fire
        case = services.case_materials_received(actor=boss, case_id=case.pk, version=case.version)
        assert DeadlineEntry.objects.get(case_id=case.pk, next_check_at__isnull=False).due_at == case.reply_due_at
        services.case_reply(actor=boss, case_id=case.pk, version=case.version, method="phone", content="已答复")
        assert not DeadlineEntry.objects.filter(
            case_id=case.pk, next_check_at__isnull=False
        ).exists()  # answered: the clock stopped


@pytest.mark.django_db
def test_overdue_and_escalations_fire_once_however_often_the_sweep_runs(county_a):
    with tenant_context(county_a):
        case = _case(_boss(county_a, "late"))
        four_days_ago = timezone.now() - datetime.timedelta(days=6)
        DeadlineEntry.objects.filter(case_id=case.pk).update(
            due_at=four_days_ago, warn_at=four_days_ago - datetime.timedelta(days=1), next_check_at=four_days_ago
        )
        ids = due_entries(now=timezone.now())[county_a.schema_name]
        first = services.deadline_events_fire(entry_ids=ids)
        again = services.deadline_events_fire(entry_ids=ids)
        actions = list(CaseEvent.objects.filter(case=case).values_list("action", "data__level"))
    assert again == 0 and first >= 2
    assert actions.count(("overdue", 1)) == 1
    assert ("escalated_for_lateness", 2) in actions
    assert not any(action == "deadline_warning" for action, _level in actions)  # too late to warn


@pytest.mark.django_db
def test_a_warning_fires_one_working_day_before(county_a):
    with tenant_context(county_a):
        case = _case(_boss(county_a, "warn"))
        DeadlineEntry.objects.filter(case_id=case.pk).update(
            warn_at=timezone.now() - datetime.timedelta(minutes=1),
            next_check_at=timezone.now() - datetime.timedelta(minutes=1),
        )
        ids = due_entries(now=timezone.now())[county_a.schema_name]
        assert services.deadline_events_fire(entry_ids=ids) == 1
        assert services.deadline_events_fire(entry_ids=ids) == 0
        entry = DeadlineEntry.objects.get(case_id=case.pk, next_check_at__isnull=False)
        assert entry.next_check_at == entry.due_at
        assert CaseEvent.objects.filter(case=case, action="deadline_warning").count() == 1


def test_two_concurrent_sweeps_fire_each_event_once(two_counties, django_db_blocker):
    county = two_counties[0]
    with django_db_blocker.unblock():
        with tenant_context(county):
            case = _case(_boss(county, "race"))
            past = timezone.now() - datetime.timedelta(days=6)
            DeadlineEntry.objects.filter(case_id=case.pk).update(due_at=past, warn_at=None, next_check_at=past)
            ids = due_entries(now=timezone.now())[county.schema_name]
        fired: list[int] = []
        barrier = threading.Barrier(2)

        def sweep() -> None:
            try:
                cast(Any, connection).set_tenant(county)
                barrier.wait()
                fired.append(services.deadline_events_fire(entry_ids=ids))
            finally:
                connections.close_all()

        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with tenant_context(county):
            overdue = CaseEvent.objects.filter(case=case, action="overdue").count()
            DeadlineEntry.objects.filter(case_id=case.pk).delete()
    assert overdue == 1
    assert sorted(fired)[0] == 0 or sum(fired) == max(fired)


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["suspended", "migration_failed", "onboarding"])
def test_only_active_counties_get_deadline_work(two_counties, status):
    from unittest import mock

    import casework.tasks  # noqa: F401  registers the county task the sweep queues
    from sla.sweep import tasks
    from tenants.models import County

    active, other = two_counties
    past = timezone.now() - datetime.timedelta(hours=1)
    for county in two_counties:
        DeadlineEntry.objects.create(
            schema_name=county.schema_name, case_id=uuid.uuid4(), clock="reply", due_at=past, next_check_at=past
        )
    County.objects.filter(pk=other.pk).update(status=status)
    due = due_entries(now=timezone.now())
    assert other.schema_name not in due and active.schema_name in due
    with mock.patch.object(tasks, "county_apply_async") as queued:
        tasks.deadline_sweep.run()
    assert {call.kwargs["schema_name"] for call in queued.call_args_list} == {active.schema_name}
    # The entries stay: they fire once the county is active again.
    County.objects.filter(pk=other.pk).update(status="active")
    assert other.schema_name in due_entries(now=timezone.now())


@pytest.mark.django_db
def test_one_county_cannot_take_every_place_in_a_sweep(two_counties):
    """A county whose firing keeps failing keeps its oldest entries due for ever; the others still get theirs."""
    failing, other = two_counties
    long_ago = timezone.now() - datetime.timedelta(days=30)
    for n in range(5):
        DeadlineEntry.objects.create(
            schema_name=failing.schema_name, case_id=uuid.uuid4(), clock="reply", due_at=long_ago,
            next_check_at=long_ago + datetime.timedelta(minutes=n),
        )  # fmt: skip
    DeadlineEntry.objects.create(
        schema_name=other.schema_name, case_id=uuid.uuid4(), clock="reply", due_at=timezone.now(),
        next_check_at=timezone.now() - datetime.timedelta(minutes=1),
    )  # fmt: skip
    due = due_entries(now=timezone.now(), limit=3, per_county=2)
    assert len(due[failing.schema_name]) == 2 and len(due[other.schema_name]) == 1


@pytest.mark.django_db
def test_a_deadline_moved_into_the_past_before_its_warning_fires_overdue_at_the_next_sweep(county_a):
    """城中区: registered as complex (10 working days to reply), found simple a week later (3
    working days). The new deadline has passed already: overdue is due at once, not when the old
    deadline's warning would have come (days later)."""
    with tenant_context(county_a):
        boss = _boss(county_a, "reclass")
        case = _case(boss)
        week_ago = timezone.now() - datetime.timedelta(days=10)
        Case.objects.filter(pk=case.pk).update(registered_at=week_ago, clocks_started_at=week_ago)
        case = services.case_classify(actor=boss, case_id=case.pk, version=case.version, category_code="complex")
        entry = DeadlineEntry.objects.get(case_id=case.pk, clock="reply")
        assert entry.warn_at > timezone.now()  # the 10-day deadline is still ahead, its warning too

        case = services.case_classify(actor=boss, case_id=case.pk, version=case.version, category_code="simple")
        assert case.reply_due_at < timezone.now()
        entry.refresh_from_db()
        assert entry.due_at == case.reply_due_at and entry.next_check_at <= timezone.now()
        ids = due_entries(now=timezone.now())[county_a.schema_name]
        assert services.deadline_events_fire(entry_ids=ids) >= 1
        actions = list(CaseEvent.objects.filter(case=case).values_list("action", flat=True))
    assert actions.count("overdue") == 1 and "deadline_warning" not in actions


def test_a_case_a_clerk_is_changing_is_left_to_the_next_sweep_not_waited_for(two_counties, django_db_blocker):
    """Committed for real: the clerk's transaction holds the case (as every step does) while the
    sweep runs. Waiting for it while holding the entry would deadlock with the clerk's next statement."""
    county = two_counties[0]
    with django_db_blocker.unblock():
        with tenant_context(county):
            boss = _boss(county, f"lock-order-{uuid.uuid4().hex[:6]}")
            case = _case(boss)
            past = timezone.now() - datetime.timedelta(days=6)
            DeadlineEntry.objects.filter(case_id=case.pk).update(due_at=past, warn_at=None, next_check_at=past)
            ids = list(DeadlineEntry.objects.filter(case_id=case.pk).values_list("pk", flat=True))
        holding, release = threading.Event(), threading.Event()

        def clerk() -> None:
            try:
                cast(Any, connection).set_tenant(county)
                with transaction.atomic():
                    Case.objects.select_for_update().get(pk=case.pk)
                    holding.set()
                    release.wait(5)
            finally:
                connections.close_all()

        thread = threading.Thread(target=clerk)
        thread.start()
        try:
            assert holding.wait(5)
            with tenant_context(county):
                during = services.deadline_events_fire(entry_ids=ids)
        finally:
            release.set()
            thread.join()
        with tenant_context(county):
            after = services.deadline_events_fire(entry_ids=ids)  # overdue, and the escalations since
            overdue = CaseEvent.objects.filter(case=case, action="overdue").count()
            DeadlineEntry.objects.filter(case_id=case.pk).delete()
            case.refresh_from_db()
            services.case_withdraw(actor=boss, case_id=case.pk, version=case.version, reason="测试结束")
    assert during == 0 and after >= 1 and overdue == 1


@pytest.mark.django_db
def test_a_step_that_moves_no_clock_writes_no_index_entry(county_a):
    """Fewer writes, and no row lock for the sweep to meet on a case whose clocks did not move."""
    from django.test.utils import CaptureQueriesContext

    with tenant_context(county_a):
        case = _case(_boss(county_a, "no-op-sync"))
        with CaptureQueriesContext(connection) as queries:
            services._deadline_index_update(case)  # what every step calls, here with nothing changed
    writes = [q["sql"] for q in queries.captured_queries if "sla_sweep_deadlineentry" in q["sql"]]
    assert writes and all(sql.lstrip().upper().startswith("SELECT") for sql in writes)


@pytest.mark.django_db
def test_a_deadline_moved_by_a_short_pause_is_not_warned_of_twice(county_a):
    from sla.selectors import county_calendar
    from sla.sweep.services import deadline_entries_claim, deadline_index_sync

    def sync(due_at: datetime.datetime) -> DeadlineEntry:
        deadline_index_sync(case_id=case_id, started_at=started, running={"reply": due_at}, calendar=calendar)
        return DeadlineEntry.objects.get(case_id=case_id)

    with tenant_context(county_a):
        calendar = county_calendar()
        case_id, now = uuid.uuid4(), timezone.now()
        started = now - datetime.timedelta(days=10)
        entry = sync(now + datetime.timedelta(hours=3))
        assert entry.warn_at is not None and entry.warn_at <= now  # due today: its warning day has come
        first = deadline_entries_claim(entry_ids=[entry.pk], now=now, calendar=calendar)
        entry = sync(now + datetime.timedelta(hours=4))  # an hour waiting for the citizen's materials
        again = deadline_entries_claim(entry_ids=[entry.pk], now=now + datetime.timedelta(minutes=1), calendar=calendar)
        entry = sync(now + datetime.timedelta(days=10))  # extended: a new warning day, a new warning
        assert entry.warned_at is None and entry.warn_at is not None
        later = deadline_entries_claim(entry_ids=[entry.pk], now=entry.warn_at, calendar=calendar)
    assert [f.kind for f in first] == ["warning"]
    assert again == []
    assert [f.kind for f in later] == ["warning"]


@pytest.mark.django_db
def test_a_clock_started_later_is_judged_from_its_own_start(county_a):
    from sla.selectors import county_calendar
    from sla.sweep.services import deadline_index_sync

    with tenant_context(county_a):
        case_id, now = uuid.uuid4(), timezone.now()
        deadline_index_sync(
            case_id=case_id, started_at=now - datetime.timedelta(days=20),
            running={"reply": None, "follow_up": now + datetime.timedelta(hours=2)},
            calendar=county_calendar(), clock_started_at={"follow_up": now},
        )  # fmt: skip
        entry = DeadlineEntry.objects.get(case_id=case_id, clock="follow_up")
    assert entry.warn_at is None  # two hours from its start: shorter than a working day, no warning
