"""API tokens keep the second-factor rule (ADR 12): who must use one cannot obtain or use a token without it."""

from __future__ import annotations

import datetime

import pyotp
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_tenants.utils import tenant_context
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from banchengshi.accounts.errors import AccountsError, AccountsErrorCode
from banchengshi.accounts.models import TotpDevice
from banchengshi.accounts.services import api_token_issue, totp_reset
from banchengshi.accounts.tests.conftest import PASSWORD
from banchengshi.audit.models import AuditRecord
from casework.models import StaffProfile, StaffRole
from conftest import host_of

pytestmark = pytest.mark.django_db


def _api(county, key):
    client = APIClient(HTTP_HOST=host_of(county))
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _enroll(user) -> str:
    secret = pyotp.random_base32()
    TotpDevice.objects.create(user=user, secret=secret, confirmed_at=timezone.now())
    return secret


@pytest.mark.parametrize("role", [StaffRole.SUPERVISOR, StaffRole.COUNTY_ADMIN])
def test_a_role_with_two_factor_gets_a_token_only_with_an_authenticator_and_a_code(
    county_a, staff, two_factor_on, role
):
    person = staff(role)
    with tenant_context(county_a):
        with pytest.raises(AccountsError) as refused:
            api_token_issue(user=person, code="123456", issued_by="test")
        assert refused.value.code == AccountsErrorCode.TWO_FACTOR_REQUIRED and refused.value.http_status == 403
        assert not Token.objects.filter(user=person).exists()
        secret = _enroll(person)
        with pytest.raises(AccountsError) as wrong:
            api_token_issue(user=person, code="000000" if pyotp.TOTP(secret).now() != "000000" else "111111",
                            issued_by="test")  # fmt: skip
        assert wrong.value.code == AccountsErrorCode.BAD_CODE
        code = pyotp.TOTP(secret).now()
        token = api_token_issue(user=person, code=code, issued_by="test")
        # The code is used up, as at sign-in.
        with pytest.raises(AccountsError):
            api_token_issue(user=person, code=code, issued_by="test")
        assert Token.objects.get(user=person) == token
        outcomes = set(AuditRecord.objects.filter(action="auth.token_issued", object_id=str(person.pk))
                       .values_list("outcome", flat=True))  # fmt: skip
        assert outcomes == {"denied", "failure", "success"}
    assert _api(county_a, token.key).get("/api/v1/cases/").status_code == 200


def test_clerks_get_tokens_without_a_second_factor(county_a, staff, two_factor_on):
    clerk = staff(StaffRole.WINDOW_CLERK)
    with tenant_context(county_a):
        token = api_token_issue(user=clerk, issued_by="test")
    assert _api(county_a, token.key).get("/api/v1/cases/").status_code == 200


def test_a_token_is_refused_when_its_holder_needs_a_second_factor_and_has_none(county_a, staff, two_factor_on):
    clerk = staff(StaffRole.WINDOW_CLERK)
    with tenant_context(county_a):
        token = api_token_issue(user=clerk, issued_by="test")
        # Promoted to supervisor: the old token no longer works until an authenticator is set up.
        StaffProfile.objects.filter(user=clerk).update(role=StaffRole.SUPERVISOR)
    response = _api(county_a, token.key).get("/api/v1/cases/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "accounts.two_factor_required"
    with tenant_context(county_a):
        _enroll(clerk)
    assert _api(county_a, token.key).get("/api/v1/cases/").status_code == 200
    # A token made around the service (shell, old command) is refused all the same.
    boss = staff(StaffRole.SUPERVISOR)
    with tenant_context(county_a):
        raw = Token.objects.create(user=boss)
    assert _api(county_a, raw.key).get("/api/v1/cases/").status_code == 403


def test_removing_the_authenticator_removes_the_tokens(county_a, staff, two_factor_on):
    boss = staff(StaffRole.SUPERVISOR)
    with tenant_context(county_a):
        secret = _enroll(boss)
        token = api_token_issue(user=boss, code=pyotp.TOTP(secret).now(), issued_by="test")
        totp_reset(user=boss, actor_label="test")
        assert not Token.objects.filter(user=boss).exists()
    assert _api(county_a, token.key).get("/api/v1/cases/").status_code == 401


def test_the_commands_apply_the_rule(county_a, staff, two_factor_on, capsys):
    boss = staff(StaffRole.SUPERVISOR)
    with pytest.raises(CommandError, match="api_token_issue"):
        call_command("drf_create_token", boss.username)
    with pytest.raises(CommandError, match="accounts.two_factor_required"):
        call_command("api_token_issue", boss.username, "--schema", county_a.schema_name, "--by", "ops")
    with tenant_context(county_a):
        secret = _enroll(boss)
    call_command(
        "api_token_issue", boss.username, "--schema", county_a.schema_name, "--by", "ops",
        "--code", pyotp.TOTP(secret).now(),
    )  # fmt: skip
    key = capsys.readouterr().out.strip()
    with tenant_context(county_a):
        assert Token.objects.get(user=boss).key == key


def test_a_token_works_for_its_lifetime_then_is_refused_with_its_own_code(county_a, staff, settings):
    settings.ACCOUNTS_TOKEN_MAX_AGE_DAYS = 30
    person = staff(StaffRole.WINDOW_CLERK)
    with tenant_context(county_a):
        token = api_token_issue(user=person, issued_by="test")
        Token.objects.filter(pk=token.pk).update(created=timezone.now() - datetime.timedelta(days=29, hours=23))
    assert _api(county_a, token.key).get("/api/v1/cases/").status_code == 200
    with tenant_context(county_a):
        Token.objects.filter(pk=token.pk).update(created=timezone.now() - datetime.timedelta(days=30, minutes=1))
    expired = _api(county_a, token.key).get("/api/v1/cases/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert expired.status_code == 401 and expired["WWW-Authenticate"] == "Token"
    assert expired.json()["error"]["code"] == "accounts.token_expired"
    assert "已过期" in expired.json()["error"]["message"] and "30" in expired.json()["error"]["message"]
    with tenant_context(county_a):  # a new token works again, and the old one stays refused
        fresh = api_token_issue(user=person, issued_by="test")
    assert _api(county_a, fresh.key).get("/api/v1/cases/").status_code == 200
    assert _api(county_a, token.key).get("/api/v1/cases/").status_code == 401


def test_the_issue_command_prints_the_key_alone_on_stdout_and_the_expiry_beside_it(county_a, staff, capsys):
    person = staff(StaffRole.WINDOW_CLERK)
    call_command("api_token_issue", person.username, "--schema", county_a.schema_name, "--by", "ops")
    out, err = capsys.readouterr()
    with tenant_context(county_a):
        assert out.strip() == Token.objects.get(user=person).key
    assert "valid until" in err and "(90 days)" in err


def test_changing_the_password_ends_the_api_tokens(county_a, staff, browser_for):
    """A person who changes a password they fear is known must not leave a working token behind."""
    clerk = staff(StaffRole.WINDOW_CLERK)
    with tenant_context(county_a):
        token = api_token_issue(user=clerk, issued_by="test")
    api = _api(county_a, token.key)
    assert api.get("/api/v1/cases/").status_code == 200
    client = browser_for(county_a)
    client.post("/accounts/login/", {"username": clerk.username, "password": PASSWORD})
    new = "N3w-pass-word"
    changed = client.post(
        "/accounts/password/", {"old_password": PASSWORD, "new_password": new, "new_password_again": new}
    )
    assert changed.status_code == 302
    assert api.get("/api/v1/cases/").status_code == 401
    with tenant_context(county_a):
        assert not Token.objects.filter(user=clerk).exists()
