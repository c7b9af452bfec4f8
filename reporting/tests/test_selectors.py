"""Every figure, checked exactly against a county with known cases (reporting/tests/conftest.py).

按期办结率 is counted honestly: open cases past their deadline are late, paused ones are not.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from casework import services
from casework.models import Case, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from reporting.selectors import (
    Figures,
    Scope,
    department_ranking,
    figures,
    figures_by,
    ledger_status,
    on_time_rate,
    percentile_90,
)
from reporting.tests.conftest import AS_OF, Q1

pytestmark = pytest.mark.django_db


def test_on_time_rate_counts_open_overdue_cases_as_late(county_a):
    # The cases are moved to a day of their own: other tests (servers, workers) commit cases today.
    day = datetime.date(2021, 3, 9)
    now = datetime.datetime.combine(day, datetime.time(15), tzinfo=datetime.UTC)
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
            Case.objects.filter(pk=created.pk).update(registered_at=now - 4 * hour, **fields)

        case("on time", replied_at=now - 2 * hour, reply_due_at=now - hour, status="replied")
        case("late, answered", replied_at=now - hour, reply_due_at=now - 2 * hour, status="archived")
        case("late, open", reply_due_at=now - hour, status="assigned")
        case("paused", reply_due_at=now - hour, status="waiting_materials")
        case("not yet due", reply_due_at=now + hour, status="accepted")
        case("withdrawn", reply_due_at=now - hour, status="withdrawn")
        case("resolution only", resolution_due_at=now - hour, reply_due_at=None, status="assigned")
        figures = on_time_rate(registered_from=day, registered_to=day, now=now)
    assert (figures.on_time, figures.late_done, figures.late_open, figures.not_yet_due) == (1, 1, 2, 2)
    assert figures.rate == pytest.approx(1 / 4)


def _registered(boss_name: str, matter: str) -> tuple[Any, Case]:
    """A supervisor and one case of theirs (in the current county)."""
    boss: Any = UserFactory(username=boss_name)
    StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
    intake = services.CaseIntake(
        matter=matter, description="x", citizen_name="x", citizen_phone="13800006667",
        channel="window", kind_code="case", category_code="simple",
    )  # fmt: skip
    return boss, services.case_register(actor=boss, intake=intake)


def test_a_refused_case_stays_refused_once_archived(county_a):
    day = datetime.date(2021, 3, 10)
    now = datetime.datetime.combine(day, datetime.time(15), tzinfo=datetime.UTC) + datetime.timedelta(days=60)
    with tenant_context(county_a):
        boss, case = _registered("boss-refused", "涉诉事项")
        case = services.case_not_accept(actor=boss, case_id=case.pk, version=case.version, reason="已进入诉讼程序")
        Case.objects.filter(pk=case.pk).update(
            registered_at=datetime.datetime.combine(day, datetime.time(9), tzinfo=datetime.UTC)
        )
        refused = figures(scope=Scope(day, day), now=now)
        services.case_archive(actor=boss, case_id=case.pk, version=case.version)
        archived = figures(scope=Scope(day, day), now=now)
    for counted in (refused, archived):
        assert (counted.not_accepted, counted.late_open, counted.on_time_rate) == (1, 0, None)


def test_no_decided_case_gives_no_rate(county_b):
    # A day no test writes cases on (servers and workers of other tests commit cases today).
    day = datetime.date(2021, 3, 10)
    with tenant_context(county_b):
        assert on_time_rate(registered_from=day, registered_to=day).rate is None
        assert figures(scope=Scope(day, day)) == Figures()


# -- every figure of the known county (see conftest.py) -------------------------------------------


def test_every_figure_of_the_known_county_is_exact(county_a, known_cases):
    with tenant_context(county_a):
        value = figures(scope=Q1, now=AS_OF)
    assert value == Figures(
        received=9, consultations=2, accepted=7, not_accepted=1, withdrawn=1,
        completed=4, solved=2,
        on_time=3, late_done=1, late_open=2, not_yet_due=1,
        replied_ever=4, followed_up=3, reopened=1, reopen_total=1,
        assigned=3, returned=1,
        ratings=3, bad_ratings=1, bad_rectified=1,
        forwarded_in=1, forwarded_out=1,
        # Working days from registration: c1 1, c2 4 (over the Spring Festival, with the 01-26 make-up
        # day), c5 1 to the first reply and 5 to the reply after 重办, c9 4.
        reply_days_avg=2.5, reply_days_p90=4, complete_days_avg=3.5, complete_days_p90=5,
    )  # fmt: skip
    assert value.cases == 7
    assert value.completion_rate == pytest.approx(4 / 7)
    assert value.solve_rate == pytest.approx(2 / 7)
    assert value.on_time_rate == pytest.approx(3 / 6)
    assert value.satisfaction_rate == pytest.approx(2 / 3)
    assert value.bad_rectification_rate == 1
    assert value.follow_up_rate == pytest.approx(3 / 4)
    assert value.reopen_rate == pytest.approx(1 / 4)
    assert value.return_rate == pytest.approx(1 / 3)


def test_on_time_rate_is_the_same_figure(county_a, known_cases):
    with tenant_context(county_a):
        alone = on_time_rate(registered_from=Q1.date_from, registered_to=Q1.date_to, now=AS_OF)
    assert (alone.on_time, alone.late_done, alone.late_open, alone.not_yet_due) == (3, 1, 2, 1)


def test_consultations_and_cases_are_counted_apart(county_a, known_cases):
    with tenant_context(county_a):
        rows = {row.key: row for row in figures_by(scope=Q1, dimension="kind", now=AS_OF)}
    assert {key: row.figures.received for key, row in rows.items()} == {"case": 7, "consultation": 2}
    assert rows["consultation"].label == "咨询"
    assert rows["consultation"].figures.late_open == 1
    assert rows["case"].figures.forwarded_out == 1


def test_breakdowns_add_up_and_filters_narrow(county_a, known_cases):
    with tenant_context(county_a):
        departments = {row.key: row.figures for row in figures_by(scope=Q1, dimension="department", now=AS_OF)}
        months = [(row.key, row.figures.received) for row in figures_by(scope=Q1, dimension="month", now=AS_OF)]
        channels = {row.key: row.figures.received for row in figures_by(scope=Q1, dimension="channel", now=AS_OF)}
        scjgj = figures(scope=Scope(Q1.date_from, Q1.date_to, department="scjgj"), now=AS_OF)
        january = figures(scope=Scope(Q1.date_from, datetime.date(2025, 1, 31)), now=AS_OF)
    assert {key: value.received for key, value in departments.items()} == {"scjgj": 2, "zsj": 1, "": 6}
    assert months == [("2025-01", 3), ("2025-02", 3), ("2025-03", 3)]
    assert channels == {"window": 8, "online": 1}
    assert (scjgj.received, scjgj.on_time, scjgj.late_done, scjgj.bad_ratings) == (2, 1, 1, 1)
    assert scjgj == departments["scjgj"]
    assert (january.received, january.completed, january.complete_days_p90) == (3, 2, 4)


def test_the_rectification_ledger_of_the_quarter(county_a, known_cases):
    with tenant_context(county_a):
        ledger = ledger_status(scope=Q1, now=AS_OF)
    assert (ledger.total, ledger.open, ledger.rectified, ledger.verified, ledger.relapsed, ledger.overdue) == (
        3, 1, 1, 1, 0, 1,
    )  # fmt: skip
    assert ledger.rectification_rate == pytest.approx(2 / 3)


def test_department_ranking_follows_the_county_rule(county_a, known_cases):
    from decimal import Decimal

    from reporting.models import ScoringRule

    rule = ScoringRule(
        on_time_points=Decimal(10), solved_points=Decimal(5), overdue_deduction=Decimal(4),
        bad_rating_deduction=Decimal(3), return_deduction=Decimal(2),
    )  # fmt: skip
    with tenant_context(county_a):
        ranking = department_ranking(scope=Q1, rule=rule, now=AS_OF)
    # scjgj: 1 on time (+10), 1 solved (+5), 1 late (-4), 1 差评 (-3) = 8; tcj returned one (-2); zsj late open (-4).
    assert [(r.rank, r.code, r.score) for r in ranking] == [(1, "scjgj", 8.0), (2, "tcj", -2.0), (3, "zsj", -4.0)]
    assert ranking[1].returns_made == 1


def test_percentile_is_nearest_rank():
    assert percentile_90([]) is None
    assert percentile_90([(3, 1)]) == 3
    assert percentile_90([(1, 9), (10, 1)]) == 1
    assert percentile_90([(1, 8), (10, 2)]) == 10


def test_a_lead_that_handed_the_case_back_is_not_credited_with_it(county_a):
    day = datetime.date(2021, 3, 11)
    with tenant_context(county_a):
        boss, case = _registered("boss-returned", "非本局职责")
        case = services.case_accept_and_assign(
            actor=boss, case_id=case.pk, version=case.version, lead_department_code="tcj"
        )
        services.assignment_return(actor=boss, assignment_id=case.assignments.get().pk, reason="不属于本局职责")
        Case.objects.filter(pk=case.pk).update(
            registered_at=datetime.datetime.combine(day, datetime.time(9), tzinfo=datetime.UTC)
        )
        rows = figures_by(scope=Scope(day, day), dimension="department")
    assert "tcj" not in {row.key for row in rows}
