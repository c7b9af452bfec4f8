"""The backend's timestamptz loader gives what Django's own gives: aware UTC datetimes, to the microsecond."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from psycopg.pq import Format

from banchengshi.database.base import TIMESTAMPTZ_OID, DatabaseWrapper, _TzLoader

pytestmark = pytest.mark.django_db

VALUES = [
    datetime.datetime(2026, 11, 24, 12, 34, 56, 123456, tzinfo=datetime.UTC),
    datetime.datetime(2026, 1, 1, 0, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8))),
    datetime.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=datetime.UTC),
    datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.UTC),
]


def test_connections_load_timestamptz_through_the_fast_loader_as_django_would():
    with connection.cursor() as cursor:
        loader = cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        assert issubclass(loader, _TzLoader) and loader.timezone is datetime.UTC
        for value in VALUES:
            cursor.execute("SELECT %s::timestamptz, %s::timestamptz::text", [value, value])
            loaded, text = cursor.fetchone()
            assert loaded == value and loaded.tzinfo is datetime.UTC
            djangos = type("Djangos", (BaseTzLoader,), {"timezone": datetime.UTC})(TIMESTAMPTZ_OID, cursor.cursor)
            assert djangos.load(text.encode()) == loaded
        cursor.execute("SELECT NULL::timestamptz")
        assert cursor.fetchone() == (None,)


def test_connections_tell_the_planner_that_pages_are_in_memory():
    with connection.cursor() as cursor:
        cursor.execute("SHOW random_page_cost")
        assert cursor.fetchone() == ("1.1",)


def test_the_page_cost_joins_options_the_url_already_carries(settings):
    settings.DATABASE_RANDOM_PAGE_COST = "1.5"
    wrapper = DatabaseWrapper({**connection.settings_dict, "OPTIONS": {"options": "-c work_mem=8MB"}}, alias="probe")
    params = wrapper.get_connection_params()
    assert params["options"] == "-c work_mem=8MB -c random_page_cost=1.5"
    settings.DATABASE_RANDOM_PAGE_COST = ""
    assert "options" not in DatabaseWrapper({**connection.settings_dict}, alias="probe").get_connection_params()
