"""The stored earliest running deadline (``Case.next_due_at``): what it holds in every status, the
overdue filter and the queue order read from it, and writes that neither send nor show it stale."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from casework import services
from casework.models import OPEN_STATUSES, Case, CaseStatus, StaffRole
from casework.selectors import CaseFilters, case_late, case_list_for_actor, case_next_due, case_queue_order
from casework.tests.factories import LIAO_REGISTRATION, StaffProfileFactory, UserFactory, case_intake

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)
# 城中区's rules give a case of this category a reply deadline from its registration.
SIMPLE = {"category_code": "simple", "department_codes": ("scjgj",)}
CLOCKS = {"acceptance": "accept_due_at", "reply": "reply_due_at", "resolution": "resolution_due_at"}

# The rule, written out apart from the sets that implement it: which clocks run in each status.
RUNNING = {
    CaseStatus.REGISTERED: {"acceptance", "reply", "resolution"},
    CaseStatus.ACCEPTED: {"reply", "resolution"},
    CaseStatus.ASSIGNED: {"reply", "resolution"},
    CaseStatus.PROCESSED: {"reply"},  # the lead department is done; the citizen still waits
    CaseStatus.ESCALATED: {"reply", "resolution"},
    CaseStatus.REOPENED: {"reply", "resolution"},
    CaseStatus.FORWARDING: {"reply", "resolution"},  # until the other county takes it over
    CaseStatus.WAITING_MATERIALS: set(),  # paused
    CaseStatus.REPLIED: set(),
    CaseStatus.FOLLOWED_UP: set(),
    CaseStatus.NOT_ACCEPTED: set(),
    CaseStatus.WITHDRAWN: set(),
    CaseStatus.ARCHIVED: set(),
    CaseStatus.FORWARDED: set(),
}


def test_the_rule_covers_every_status():
    assert set(RUNNING) == set(CaseStatus)


def test_the_stored_expression_is_the_status_sets_and_the_migrations_hold_it():
    """The migration froze the expression: changing the sets needs a new migration, or this fails."""
    expected = case_next_due()
    assert Case._meta.get_field("next_due_at").expression == expected
    migrated = MigrationLoader(None, ignore_no_migrations=True).project_state()
    field = migrated.models["casework", "case"].fields["next_due_at"]
    assert field.expression == expected, "the clocks' status sets changed: makemigrations casework"
    assert field.null  # what makes the negated overdue filter keep the NULLs


def _register(**changes):
    return services.case_register(actor=None, intake=case_intake(channel="online", **changes))


def _stored(case, **fields):
    Case.objects.filter(pk=case.pk).update(**fields)
    return Case.objects.get(pk=case.pk).next_due_at


def _late(case, now):
    """Whether the overdue filter finds the case, checked against its negations (exactly one holds):
    a NULL ``next_due_at`` is not late, so ``NOT (next_due_at < now)`` alone would lose it."""
    late = Case.objects.filter(case_late(now), pk=case.pk).exists()
    excluded = Case.objects.exclude(case_late(now)).filter(pk=case.pk).exists()
    negated = Case.objects.filter(~case_late(now), pk=case.pk).exists()
    assert excluded == negated != late
    return late


@pytest.mark.parametrize("status", list(CaseStatus))
def test_each_status_counts_exactly_its_running_clocks(county_a, status):
    now = timezone.now()
    with tenant_context(county_a):
        case = _register()
        for clock, field in CLOCKS.items():
            # This clock alone has a deadline, passed an hour ago.
            deadlines = {f: (now - HOUR if f == field else None) for f in CLOCKS.values()}
            stored = _stored(case, status=status, **deadlines)
            runs = clock in RUNNING[status]
            assert stored == (now - HOUR if runs else None), clock
            assert _late(case, now) is runs, clock
        # Every clock has a deadline, none passed: the earliest running one counts; never late.
        later = {"accept_due_at": now + HOUR, "reply_due_at": now + 3 * HOUR, "resolution_due_at": now + 2 * HOUR}
        running = [later[CLOCKS[clock]] for clock in RUNNING[status]]
        assert _stored(case, status=status, **later) == (min(running) if running else None)
        assert _late(case, now) is False
        # No deadline at all (the county has no rule): never late, whatever runs.
        assert _stored(case, status=status, accept_due_at=None, reply_due_at=None, resolution_due_at=None) is None
        assert _late(case, now) is False


def _supervisor():
    boss = UserFactory(username="boss-next-due")
    StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
    return boss


def test_the_queue_and_the_overdue_list_read_all_three_clocks_and_skip_paused_and_closed_cases(county_a):
    now = timezone.now()
    with tenant_context(county_a):
        boss = _supervisor()
        cases = [_register() for _ in range(7)]
        none = {"accept_due_at": None, "reply_due_at": None, "resolution_due_at": None}
        rows = [
            # acceptance clock two hours late
            {"status": CaseStatus.REGISTERED, "accept_due_at": now - 2 * HOUR, "reply_due_at": now + 5 * HOUR},
            # reply clock an hour late; its earlier resolution deadline stopped with the lead's part done
            {"status": CaseStatus.PROCESSED, "reply_due_at": now - HOUR, "resolution_due_at": now - 5 * HOUR},
            # resolution clock due in an hour
            {"status": CaseStatus.ASSIGNED, "reply_due_at": now + 4 * HOUR, "resolution_due_at": now + HOUR},
            # escalated: the resolution clock runs on
            {"status": CaseStatus.ESCALATED, "resolution_due_at": now + 2 * HOUR},
            # paused for materials, closed, handed over: no running clock, whatever the deadlines say
            {"status": CaseStatus.WAITING_MATERIALS, "reply_due_at": now - 9 * HOUR, "resolution_due_at": now - HOUR},
            {"status": CaseStatus.ARCHIVED, "reply_due_at": now - 9 * HOUR, "resolution_due_at": now - HOUR},
            {"status": CaseStatus.FORWARDED, "accept_due_at": now - 9 * HOUR, "reply_due_at": now - 9 * HOUR},
        ]
        for position, (case, row) in enumerate(zip(cases, rows, strict=True)):
            # Distinct registration times: the clockless ones queue newest first.
            Case.objects.filter(pk=case.pk).update(**none | row, registered_at=now - position * HOUR)
        ours = {c.pk for c in cases}
        visible = case_list_for_actor(actor=boss, filters=CaseFilters()).filter(pk__in=ours)
        with CaptureQueriesContext(connection) as captured:
            queue = list(case_queue_order(visible))
        assert len(captured.captured_queries) == 1
        assert [c.pk for c in queue] == [c.pk for c in cases]
        expected = [now - 2 * HOUR, now - HOUR, now + HOUR, now + 2 * HOUR, None, None, None]
        assert [c.next_due_at for c in queue] == expected
        late = case_list_for_actor(actor=boss, filters=CaseFilters(overdue=True)).filter(pk__in=ours)
        assert {c.pk for c in late} == {cases[0].pk, cases[1].pk}
        on_time = case_list_for_actor(actor=boss, filters=CaseFilters(overdue=False)).filter(pk__in=ours)
        assert {c.pk for c in on_time} == ours - {cases[0].pk, cases[1].pk}


def test_a_registration_neither_writes_nor_reads_the_stored_column_and_its_answer_omits_it(county_a, staff_api):
    with tenant_context(county_a):
        _register(**SIMPLE)  # warm: configuration, templates
        with CaptureQueriesContext(connection) as sent:
            case = _register(**SIMPLE)
        assert not [q["sql"] for q in sent if "next_due_at" in q["sql"]]
        # Unread on the instance; a read loads what PostgreSQL computed (every clock runs).
        assert "next_due_at" not in case.__dict__
        deadlines = [d for d in (case.accept_due_at, case.reply_due_at, case.resolution_due_at) if d is not None]
        assert deadlines and case.next_due_at == min(deadlines)
    response = staff_api(county_a, "window_clerk").post("cases/create/", LIAO_REGISTRATION)
    assert response.status_code == 201 and "next_due_at" not in response.json()


def test_after_a_step_the_case_shows_its_new_next_due_at_not_the_one_it_was_read_with(county_a):
    with tenant_context(county_a):
        boss = _supervisor()
        case = services.case_register(actor=boss, intake=case_intake(**SIMPLE))
        before = Case.objects.get(pk=case.pk).next_due_at
        assert before is not None
        closed = services.case_withdraw(actor=boss, case_id=case.pk, version=case.version, reason="群众撤回")
        assert closed.status == CaseStatus.WITHDRAWN
        assert closed.next_due_at is None  # the clocks stopped; not the value the step's lock read
        # The same with a plain save of a loaded case.
        loaded = Case.objects.get(pk=case.pk)
        assert loaded.next_due_at is None
        loaded.status = CaseStatus.REOPENED
        loaded.save(update_fields=["status"])
        running = [d for d in (loaded.reply_due_at, loaded.resolution_due_at) if d is not None]
        assert running and loaded.next_due_at == min(running)


def test_the_index_has_the_queues_order_and_holds_the_open_cases(county_a):
    """Whether the planner picks it depends on the data and the server's version: ADR 22 measured it
    on a large county (and ``benchmarks/bench_casework_api.py`` times the lists). Here, its shape."""
    with tenant_context(county_a), connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'case_next_due'"
        )
        (definition,) = cursor.fetchone()
    assert "(next_due_at, registered_at DESC, id)" in definition
    assert "WHERE ((next_due_at IS NOT NULL) OR" in definition
    for status in OPEN_STATUSES:
        assert f"'{status}'" in definition
