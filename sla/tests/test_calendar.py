"""The working-day arithmetic, by properties (hypothesis) and by the dates the documents promise."""

from __future__ import annotations

import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from sla.calendar import SHANGHAI, build_calendar, national_calendar_from_chinesecalendar

HOLIDAYS, WORKDAYS = national_calendar_from_chinesecalendar()
KNOWN_UNTIL = datetime.date(2026, 12, 31)
NATIONAL = build_calendar(holidays=HOLIDAYS, makeup_workdays=WORKDAYS, known_until=KNOWN_UNTIL)
YANBIAN = build_calendar(holidays=HOLIDAYS, makeup_workdays=WORKDAYS, known_until=KNOWN_UNTIL, local_keys=["09-03"])


def at(y, m, d, hh=10, mm=0):
    return datetime.datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


# hypothesis draws naive datetimes in a range; each is then read as Shanghai local time.
moments = st.datetimes(
    min_value=datetime.datetime(2021, 1, 1),  # noqa: DTZ001
    max_value=datetime.datetime(2026, 10, 31),  # noqa: DTZ001
).map(lambda naive: naive.replace(tzinfo=SHANGHAI))
day_counts = st.integers(min_value=0, max_value=30)


@settings(max_examples=300, deadline=None)
@given(moments, day_counts)
def test_adding_working_days_never_lands_on_a_day_off(start, days):
    due = NATIONAL.add_working_days(start, days).due_at
    assert NATIONAL.is_working_day(due.date())
    assert due.date() not in HOLIDAYS or due.date() in WORKDAYS


@settings(max_examples=300, deadline=None)
@given(moments, st.integers(min_value=1, max_value=30))
def test_counting_the_working_days_back_gives_n(start, days):
    due = NATIONAL.add_working_days(start, days).due_at
    assert NATIONAL.working_days_between(start, due) == days


@settings(max_examples=200, deadline=None)
@given(moments, st.integers(min_value=1, max_value=40 * 3600 * 7))
def test_working_seconds_round_trip(start, seconds):
    due = NATIONAL.add_working_seconds(start, seconds).due_at
    assert NATIONAL.working_seconds_between(start, due) == seconds


@settings(max_examples=200, deadline=None)
@given(moments, st.integers(min_value=1, max_value=10), st.integers(min_value=0, max_value=20 * 3600 * 7),
       st.integers(min_value=0, max_value=20 * 3600 * 7))  # fmt: skip
def test_a_pause_is_excluded_exactly(start, days, into, paused_for):
    original = NATIONAL.add_working_days(start, days).due_at
    paused_at = NATIONAL.add_working_seconds(start, into).due_at
    if paused_at >= original:
        return
    resumed_at = paused_at + datetime.timedelta(seconds=paused_for)
    moved = NATIONAL.resume(original, paused_at, resumed_at).due_at
    left_at_pause = NATIONAL.working_seconds_between(paused_at, original)
    assert NATIONAL.working_seconds_between(resumed_at, moved) == left_at_pause
    assert moved >= original


def test_makeup_saturdays_are_working_days():
    # 2026-02-14 (Saturday) and 2026-09-20 (Sunday) are 调休 working days.
    assert NATIONAL.is_working_day(datetime.date(2026, 2, 14))
    assert NATIONAL.is_working_day(datetime.date(2026, 9, 20))
    assert not NATIONAL.is_working_day(datetime.date(2026, 2, 21))  # an ordinary Spring Festival Saturday


def test_ten_working_days_across_national_day_2026():
    # Registered Wednesday 2026-09-30: 10-01..10-07 are off, 10-10 (Saturday) is a make-up day.
    due = NATIONAL.add_working_days(at(2026, 9, 30, 16), 10).due_at
    assert due == datetime.datetime(2026, 10, 20, 17, 30, tzinfo=SHANGHAI)
    # 3 working days: 10-08, 10-09, 10-10 (the make-up Saturday).
    assert NATIONAL.add_working_days(at(2026, 9, 30), 3).due_at.date() == datetime.date(2026, 10, 10)


def test_longjing_counts_around_the_prefecture_day():
    # 2025-09-03 (Wednesday) is 州庆 in 延边: a day off in 龙井市, a working day in 柳州.
    start = at(2025, 9, 1)
    assert NATIONAL.add_working_days(start, 5).due_at.date() == datetime.date(2025, 9, 8)
    assert YANBIAN.add_working_days(start, 5).due_at.date() == datetime.date(2025, 9, 9)


def test_registration_on_a_day_off_counts_from_the_next_working_day():
    # Saturday 2026-11-21: 1 working day is Monday 11-23; "immediately" is also Monday's close.
    assert NATIONAL.add_working_days(at(2026, 11, 21), 1).due_at.date() == datetime.date(2026, 11, 23)
    assert NATIONAL.immediate(at(2026, 11, 21)).due_at == datetime.datetime(2026, 11, 23, 17, 30, tzinfo=SHANGHAI)


def test_deadlines_past_the_known_calendar_are_provisional():
    assert not NATIONAL.add_working_days(at(2026, 12, 1), 3).provisional
    late = NATIONAL.add_working_days(at(2026, 12, 28), 10)
    assert late.provisional
    assert NATIONAL.is_working_day(late.due_at.date())


def test_working_hours_respect_the_lunch_break():
    due = NATIONAL.add_working_seconds(at(2026, 11, 23, 11, 0), 2 * 3600).due_at
    assert due == datetime.datetime(2026, 11, 23, 15, 30, tzinfo=SHANGHAI)


def test_summer_and_winter_office_hours():
    calendar = build_calendar(
        holidays=HOLIDAYS,
        makeup_workdays=WORKDAYS,
        known_until=KNOWN_UNTIL,
        office_hours=[
            (datetime.time(8, 30), datetime.time(12, 0), ""),
            (datetime.time(15, 0), datetime.time(18, 0), "5,6,7,8,9"),
            (datetime.time(14, 30), datetime.time(17, 30), "1,2,3,4,10,11,12"),
        ],
    )
    assert calendar.add_working_days(at(2026, 7, 1), 1).due_at == datetime.datetime(2026, 7, 2, 18, 0, tzinfo=SHANGHAI)
    assert calendar.add_working_days(at(2026, 11, 2), 1).due_at == datetime.datetime(
        2026, 11, 3, 17, 30, tzinfo=SHANGHAI
    )
    # A summer day holds 3.5 + 3 hours of office time.
    assert calendar.working_seconds_between(at(2026, 7, 1, 0), at(2026, 7, 1, 23)) == 6.5 * 3600


def test_immediately_after_closing_time_means_the_next_working_day():
    # Monday 2026-11-23 at 20:00, after the office closed: due at Tuesday's close, not in the past.
    due = NATIONAL.immediate(at(2026, 11, 23, 20)).due_at
    assert due == datetime.datetime(2026, 11, 24, 17, 30, tzinfo=SHANGHAI)
