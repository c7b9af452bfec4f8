"""Password rules, generated passwords, and ending every session of a person."""

from __future__ import annotations

import re
from io import StringIO

import pyotp
import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_tenants.utils import tenant_context
from rest_framework.authtoken.models import Token

from banchengshi.accounts.models import RecoveryCode, TotpDevice, UserSession
from banchengshi.accounts.services import password_generate, recovery_codes_issue
from banchengshi.accounts.tests.conftest import PASSWORD
from banchengshi.accounts.validators import character_classes
from banchengshi.audit.models import AuditRecord
from casework import services as casework_services
from casework.models import StaffRole

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "password",
    ["Ab1!", "abcdefgh", "abcdefg1", "ABCDEFG1", "12345678!", "password1"],
)
def test_weak_passwords_are_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


@pytest.mark.parametrize("password", ["Qwzmvb7x", "qzmv7b1!", "QZMV7B1!", "Xk3!pass-2026", "长城abcD1234"])
def test_passwords_with_three_classes_and_eight_characters_pass(password):
    validate_password(password)


def test_character_classes_are_counted():
    assert character_classes("aA1!") == 4
    assert character_classes("aaaa") == 1
    assert character_classes("中文a1") == 3  # other characters count as symbols


def test_generated_passwords_always_meet_the_rules():
    for _ in range(200):
        validate_password(password_generate())


def test_deactivation_ends_every_session_of_that_person(county_a, staff, browser_for):
    admin = staff(StaffRole.COUNTY_ADMIN)
    clerk = staff(StaffRole.WINDOW_CLERK)
    clients = [browser_for(county_a) for _ in range(2)]
    for client in clients:
        assert client.post("/accounts/login/", {"username": clerk.username, "password": PASSWORD}).status_code == 302
    keys = [c.cookies[settings.SESSION_COOKIE_NAME].value for c in clients]
    with tenant_context(county_a):
        assert Session.objects.filter(session_key__in=keys).count() == 2
        casework_services.staff_deactivate(actor=admin, profile_id=clerk.staff_profile.pk)
        assert not Session.objects.filter(session_key__in=keys).exists()
        assert not UserSession.objects.filter(user=clerk).exists()
    assert clients[0].get("/work/").status_code == 302


def test_the_reset_command_removes_a_lost_authenticator_ends_the_sessions_and_is_audited(county_a, staff, browser_for):
    clerk = staff(StaffRole.WINDOW_CLERK)
    client = browser_for(county_a)
    assert client.post("/accounts/login/", {"username": clerk.username, "password": PASSWORD}).status_code == 302
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    with tenant_context(county_a):
        TotpDevice.objects.create(user=clerk, secret=pyotp.random_base32(), confirmed_at=timezone.now())
        recovery_codes_issue(user=clerk)
        token = Token.objects.create(user=clerk)
    out = StringIO()
    call_command("two_factor_reset", clerk.username, "--schema", county_a.schema_name, "--by", "张科长", stdout=out)
    said = out.getvalue().splitlines()
    assert said[0] == "authenticator removed; sessions ended"
    assert re.fullmatch(r"enrollment code for the new authenticator \(.*\): [2-9A-Z]{5}-[2-9A-Z]{5}", said[1])
    with tenant_context(county_a):
        assert not TotpDevice.objects.filter(user=clerk).exists()
        assert not Session.objects.filter(session_key=key).exists()
        assert not Token.objects.filter(pk=token.pk).exists()  # issued against the lost phone
        assert not RecoveryCode.objects.filter(user=clerk).exists()  # they stood in for it
        record = AuditRecord.objects.get(action="auth.2fa.reset", object_id=str(clerk.pk))
        assert record.actor_label == "command:张科长" and record.details == {"removed": True}
    assert client.get("/work/").status_code == 302  # signed out
    with pytest.raises(CommandError, match="no user nobody"):
        call_command("two_factor_reset", "nobody", "--schema", county_a.schema_name, "--by", "张科长")
