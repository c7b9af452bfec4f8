"""The demo counties' rules give the deadlines their documents promise, on their own calendars."""

from __future__ import annotations

import datetime

import pytest
from django_tenants.utils import tenant_context

from sla.calendar import SHANGHAI
from sla.models import DeadlineRule
from sla.national.selectors import calendar_status, national_calendar
from sla.selectors import CaseFacts, case_deadlines, county_calendar, deadline_rule_for

pytestmark = pytest.mark.django_db


def at(y, m, d, hh=10):
    return datetime.datetime(y, m, d, hh, 0, tzinfo=SHANGHAI)


def close(y, m, d):
    return datetime.datetime(y, m, d, 17, 30, tzinfo=SHANGHAI)


def test_the_national_calendar_is_seeded_from_chinesecalendar(two_counties):
    calendar = national_calendar()
    assert datetime.date(2026, 10, 1) in calendar.holidays
    assert datetime.date(2026, 10, 10) in calendar.makeup_workdays
    assert calendar.known_until == datetime.date(2026, 12, 31)


def test_operators_are_warned_well_before_the_calendar_runs_out(two_counties):
    assert calendar_status(today=datetime.date(2026, 6, 1)).needs_next_year is False
    status = calendar_status(today=datetime.date(2026, 11, 23))
    assert status.needs_next_year is True and status.days_left == 38


def test_chengzhong_three_and_ten_working_days_across_national_day(county_a):
    with tenant_context(county_a):
        simple = case_deadlines(facts=CaseFacts(kind_code="case", category_code="simple"), start=at(2026, 9, 30))
        complex_ = case_deadlines(facts=CaseFacts(kind_code="case", category_code="complex"), start=at(2026, 9, 30))
        department = case_deadlines(facts=CaseFacts(kind_code="case", cause_side="department"), start=at(2026, 9, 30))
    assert simple.reply.due_at == close(2026, 10, 10)  # 10-08, 10-09 and the make-up Saturday 10-10
    assert complex_.reply.due_at == close(2026, 10, 20)
    assert department.reply.due_at == close(2026, 10, 20)
    assert simple.resolution is None and not simple.provisional


def test_longjing_immediate_five_and_ten_days_around_the_prefecture_day(county_b):
    with tenant_context(county_b):
        calendar = county_calendar()
        assert not calendar.is_working_day(datetime.date(2025, 9, 3))
        simple = case_deadlines(facts=CaseFacts(kind_code="case", category_code="simple"), start=at(2025, 9, 2))
        cannot = case_deadlines(facts=CaseFacts(kind_code="case", category_code="cannot"), start=at(2025, 9, 1))
        hard = case_deadlines(facts=CaseFacts(kind_code="case", category_code="hard"), start=at(2025, 9, 1))
    assert simple.resolution.due_at == close(2025, 9, 2)  # 即收即转即办: the same working day
    assert cannot.reply.due_at == close(2025, 9, 9)  # 9-2, (9-3 州庆), 9-4, 9-5, 9-8, 9-9
    assert hard.reply.due_at == close(2025, 9, 16)


def test_the_most_specific_rule_wins_and_department_rules_apply_when_the_department_is_on_the_case():
    rules = [
        DeadlineRule(
            code="joint", clock="resolution", category_code="joint", unit="working_days", amount=10, sort_order=0
        ),
        DeadlineRule(
            code="company", clock="resolution", department_code="scjgj", unit="working_days", amount=1, sort_order=1
        ),
        DeadlineRule(
            code="company-joint",
            clock="resolution",
            department_code="scjgj",
            category_code="joint",
            unit="working_days",
            amount=2,
            sort_order=2,
        ),  # fmt: skip
    ]

    def pick(**facts):
        return deadline_rule_for(clock="resolution", facts=CaseFacts(kind_code="case", **facts), rules=rules)

    assert pick(category_code="joint").code == "joint"
    assert pick(department_codes=("scjgj",)).code == "company"
    assert pick(category_code="joint", department_codes=("scjgj", "bdc")).code == "company-joint"
    assert pick(category_code="single") is None


def test_a_deadline_past_the_known_calendar_is_provisional(county_a):
    with tenant_context(county_a):
        late = case_deadlines(facts=CaseFacts(kind_code="case", category_code="complex"), start=at(2026, 12, 24))
    assert late.provisional and late.reply.due_at.year == 2027


def test_a_pause_moves_the_deadline_on_from_the_extended_one(county_a):
    facts = CaseFacts(kind_code="case", category_code="simple")
    hour = 3600
    with tenant_context(county_a):
        plain = case_deadlines(facts=facts, start=at(2026, 12, 1))
        paused = case_deadlines(facts=facts, start=at(2026, 12, 1), paused_seconds=hour)
        extended = case_deadlines(facts=facts, start=at(2026, 12, 1), extended_days=2)
        both = case_deadlines(facts=facts, start=at(2026, 12, 1), paused_seconds=hour, extended_days=2)
    assert plain.reply.due_at == close(2026, 12, 4)  # a Friday
    assert paused.reply.due_at == datetime.datetime(2026, 12, 7, 9, 30, tzinfo=SHANGHAI)
    assert extended.reply.due_at == close(2026, 12, 8)
    # The paused hour still counts after the extension's close of business, not swallowed by it.
    assert both.reply.due_at == datetime.datetime(2026, 12, 9, 9, 30, tzinfo=SHANGHAI)
    assert not both.provisional


def test_a_year_after_a_gap_does_not_make_the_years_between_known(two_counties):
    from sla.national.models import CalendarYear
    from sla.national.selectors import known_through, national_calendar_forget

    assert known_through([]) is None
    assert known_through([2027, 2025, 2026, 2040]) == 2027
    CalendarYear.objects.create(year=2040, source="left over")  # 2027–2039 missing
    national_calendar_forget()
    assert national_calendar().known_until == datetime.date(2026, 12, 31)
    assert calendar_status(today=datetime.date(2026, 11, 1)).needs_next_year
