"""Two counties on one platform never see each other: rows, pages, cache, files, sessions, tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django_tenants.utils import tenant_context

from banchengshi.tenancy import current_schema
from casework.selectors import department_list, window_list

pytestmark = pytest.mark.django_db


def test_the_same_selector_returns_only_the_current_countys_rows(county_a, county_b):
    with tenant_context(county_a):
        a_windows = set(window_list().values_list("name", flat=True))
        a_departments = set(department_list().values_list("name", flat=True))
    with tenant_context(county_b):
        b_windows = set(window_list().values_list("name", flat=True))
        b_departments = set(department_list().values_list("name", flat=True))
    assert a_windows and b_windows and a_windows.isdisjoint(b_windows)
    assert a_departments.isdisjoint(b_departments)


def test_each_county_host_shows_its_own_page(county_a, county_b, client_for):
    page_a = client_for(county_a).get("/").content.decode()
    page_b = client_for(county_b).get("/").content.decode()
    assert "柳州市城中区" in page_a and "龙井市" not in page_a
    assert "龙井市" in page_b and "城中区" not in page_b
    with tenant_context(county_a):
        assert all(w.name in page_a for w in window_list())
    with tenant_context(county_b):
        assert all(d.name in page_b for d in department_list())


def test_console_lists_every_county_and_no_county_data(county_a, county_b, client_for):
    response = client_for(None).get("/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "柳州市城中区" in page and "龙井市" in page
    assert "http://chengzhong.localhost/" in page
    with tenant_context(county_a):
        assert not any(w.name in page for w in window_list())


def test_an_unknown_host_is_404_not_the_console(two_counties, client_for, db):
    from django.test import Client

    response = Client(HTTP_HOST="nowhere.localhost").get("/")
    assert response.status_code == 404
    assert "nowhere.localhost" in response.content.decode()


def test_cache_keys_differ_per_county_and_values_do_not_cross(county_a, county_b, clean_cache):
    with tenant_context(county_a):
        key_a = cache.make_key("queue")
        cache.set("queue", "城中区的值")
    with tenant_context(county_b):
        key_b = cache.make_key("queue")
        assert cache.get("queue") is None
        cache.set("queue", "龙井市的值")
    with tenant_context(county_a):
        assert cache.get("queue") == "城中区的值"
    assert key_a != key_b
    assert county_a.schema_name in key_a and county_b.schema_name in key_b


def test_stored_files_live_under_each_countys_own_directory(county_a, county_b):
    with tenant_context(county_a):
        name_a = default_storage.save("attachments/a.txt", ContentFile(b"A"))
        path_a = default_storage.path(name_a)
        url_a = default_storage.url(name_a)
    with tenant_context(county_b):
        name_b = default_storage.save("attachments/a.txt", ContentFile(b"B"))
        path_b = default_storage.path(name_b)
        assert not default_storage.exists(name_a) or default_storage.open(name_a).read() == b"B"
    try:
        assert f"/{county_a.schema_name}/" in path_a and f"/{county_b.schema_name}/" in path_b
        assert path_a != path_b
        assert f"/{county_a.schema_name}/" in url_a
        assert Path(path_a).read_bytes() == b"A"
    finally:
        with tenant_context(county_a):
            default_storage.delete(name_a)
        with tenant_context(county_b):
            default_storage.delete(name_b)


def make_user(county, username="clerk", password="S3cure-pass!"):
    with tenant_context(county):
        get_user_model().objects.create_user(username=username, password=password)
    return username, password


def test_a_login_in_one_county_is_worthless_in_another(county_a, county_b, client_for):
    username, password = make_user(county_a)
    client_a = client_for(county_a)
    response = client_a.post("/accounts/login/", {"username": username, "password": password})
    assert response.status_code == 302
    session_cookie = client_a.cookies["sessionid"]
    assert session_cookie["domain"] == ""  # host-only: never sent to a sibling county's host

    client_b = client_for(county_b)
    client_b.cookies["sessionid"] = session_cookie.value
    page = client_b.get("/").content.decode()
    assert "登录" in page and username not in page  # still anonymous in 龙井市
    # ...and the same username and password do not exist there.
    response = client_b.post("/accounts/login/", {"username": username, "password": password})
    assert response.status_code == 200
    assert current_schema() in {"public", county_b.schema_name}


def test_login_page_is_chinese(county_a, client_for):
    page = client_for(county_a).get("/accounts/login/").content.decode()
    assert "用户名" in page and "密码" in page


def test_console_warns_when_the_national_calendar_runs_out_soon(two_counties, client_for, monkeypatch):
    import datetime

    from django.utils import timezone

    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: datetime.date(2026, 11, 23))
    page = client_for(None).get("/").content.decode()
    assert 'data-testid="calendar-warning"' in page and "2026-12-31" in page
