"""Every way a request body can be unreadable gets the error envelope with a stable code, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from conftest import host_of

pytestmark = pytest.mark.django_db

TRACK = "/api/v1/public/track/"


def post(county, body: bytes, content_type: str = "application/json"):
    return Client(HTTP_HOST=host_of(county)).post(TRACK, body, content_type=content_type)


def test_json_nested_past_the_recursion_limit_is_a_parse_error(county_a, clean_cache):
    body = b'{"tracking_code":' + b"[" * 100_000 + b"]" * 100_000 + b',"phone_last4":"1234"}'
    response = post(county_a, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_broken_json_is_a_parse_error_in_chinese_with_the_reason_for_programs(county_a, clean_cache):
    error = post(county_a, b"{bad").json()["error"]
    assert error["code"] == "parse_error" and "无法解析" in error["message"]
    assert "JSON parse error" in error["details"][0]["message"]


def test_other_unreadable_requests_have_codes_of_their_own(county_a, clean_cache):
    assert post(county_a, b"x", "text/plain").json()["error"]["code"] == "unsupported_media_type"
    response = Client(HTTP_HOST=host_of(county_a)).get(TRACK)
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_a_body_over_the_upload_limit_is_413_in_the_envelope(county_a, clean_cache, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = post(county_a, b'{"tracking_code":"' + b"A" * 4096 + b'","phone_last4":"1234"}')
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_a_refusal_goes_to_the_field_it_names_else_above_the_form():
    from django import forms

    from banchengshi.errors import ApplicationError, PlatformErrorCode, form_errors_add

    class Form(forms.Form):
        username = forms.CharField()
        departments = forms.CharField()

    def sent(exc: ApplicationError, **aliases: str) -> forms.Form:
        form = Form({"username": "x", "departments": "y"})
        form.is_valid()
        form_errors_add(form, exc, aliases=aliases)
        return form

    code = PlatformErrorCode.VALIDATION
    named = ApplicationError(code, "不行", details=[{"field": "username", "message": "已被使用"}])
    aliased = ApplicationError(code, "不行", details=[{"field": "department_codes"}])
    unnamed = ApplicationError(code, "不行", details=[{"field": "other"}])
    assert sent(named).errors == {"username": ["已被使用"]}
    assert sent(aliased, department_codes="departments").errors == {"departments": ["不行"]}
    assert sent(unnamed).errors == {"__all__": ["不行"]}
