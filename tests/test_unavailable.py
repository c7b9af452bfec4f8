"""PostgreSQL down: requests get a 503 with ``Retry-After`` (JSON on API paths, a Chinese page
otherwise), never Django's HTML 500 or a stack trace; other failures stay 500s, rendered the same way."""

from __future__ import annotations

import psycopg
import pytest
import requests
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import get_resolver

from banchengshi.core.views import server_error
from conftest import free_port, web_server

COUNTY_HOST = f"chengzhong.{settings.COUNTY_DOMAIN_SUFFIX}"
LEAKS = ("Traceback", "OperationalError", "psycopg", "connection", "127.0.0.1", "File ")


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback, whatever proxy the environment names
    return session


def test_with_postgresql_down_the_api_pages_and_probes_answer_503_with_retry_after():
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/x"  # nothing listens there
    with web_server(threads=2, env={"DATABASE_URL": nowhere}) as port:
        base = f"http://127.0.0.1:{port}"
        http = _session()
        api = http.get(f"{base}/api/v1/cases/", headers={"Host": COUNTY_HOST, "Authorization": "Token x"})
        posted = http.post(f"{base}/api/v1/public/submit/", json={"matter": "x"}, headers={"Host": COUNTY_HOST})
        open311 = http.get(f"{base}/open311/v2/services.json", headers={"Host": COUNTY_HOST})
        console_api = http.get(f"{base}/api/v1/forward-agreements/", headers={"Host": "localhost"})
        page = http.get(f"{base}/submit/", headers={"Host": COUNTY_HOST})
        console_page = http.get(f"{base}/", headers={"Host": "localhost"})
        ready = http.get(f"{base}/readyz")

    for response in (api, posted, open311, console_api):
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "30"
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json() == {"error": {"code": "service_unavailable", "message": "服务暂时不可用，请稍后重试。"}}
        assert not any(leak in response.text for leak in LEAKS)
    for response in (page, console_page):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "30"
        assert response.headers["Content-Type"].startswith("text/html")
        assert '<html lang="zh-hans">' in response.text and "<h1>服务暂时不可用</h1>" in response.text
        assert "服务暂时不可用，请稍后重试。" in response.text
        assert not any(leak in response.text for leak in LEAKS)
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "fail", "redis": "ok"}


def _handled(exc: BaseException, path: str) -> HttpResponse:
    # As Django calls it: inside the ``except`` block of convert_exception_to_response.
    try:
        raise exc
    except BaseException:
        return server_error(RequestFactory().get(path, HTTP_HOST=COUNTY_HOST))


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("connection refused"),
        InterfaceError("connection already closed"),
        psycopg.OperationalError("connection failed"),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
    ],
    ids=["django-operational", "django-interface", "psycopg-operational", "psycopg-admin-shutdown"],
)
def test_every_kind_of_unreachable_database_is_a_503(exc):
    response = _handled(exc, "/api/v1/cases/")
    assert response.status_code == 503 and response["Retry-After"] == "30"


def test_an_error_raised_while_the_database_was_failing_is_still_a_503():
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        response = _handled(RuntimeError("while rendering the error"), "/cases/")
    assert response.status_code == 503


def test_other_failures_stay_500_in_the_same_formats_without_retry_after():
    api = _handled(RuntimeError("a bug with a secret 13812345678"), "/api/v1/cases/")
    page = _handled(ValueError("a bug"), "/work/")
    assert api.status_code == 500 and "Retry-After" not in api
    body = api.content.decode()
    assert body == '{"error": {"code": "server_error", "message": "系统内部出错，本次请求未能完成，请稍后再试。"}}'
    assert page.status_code == 500 and "Retry-After" not in page
    html = page.content.decode()
    assert "<h1>出错了</h1>" in html and "a bug" not in html


@pytest.mark.parametrize("urlconf", ["banchengshi.urls_tenant", "banchengshi.urls_public"])
def test_both_urlconfs_use_the_handler(urlconf):
    assert get_resolver(urlconf).resolve_error_handler(500) is server_error
