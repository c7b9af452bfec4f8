"""Sign-in through the real pages: lockout, session id, timeouts, password age, second factor."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pyotp
import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone, translation
from django_tenants.utils import schema_context, tenant_context

from banchengshi.accounts.errors import AccountsError
from banchengshi.accounts.models import RecoveryCode, TotpDevice, User, UserSession
from banchengshi.accounts.services import (
    AUTH_AT,
    ENROLL_SECRET,
    ENROLL_SECRET_PURPOSE,
    SEEN_AT,
    recovery_code_use,
    recovery_codes_issue,
    totp_enroll,
)
from banchengshi.accounts.tests.conftest import PASSWORD
from banchengshi.audit.models import AuditRecord
from banchengshi.personal_data import is_sealed, unseal
from casework import services as casework_services
from casework.models import StaffRole

pytestmark = pytest.mark.django_db


def sign_in(client: Any, username: str, password: str = PASSWORD) -> Any:
    return client.post("/accounts/login/", {"username": username, "password": password})


def actions(county: Any, since: int = 0) -> list[tuple[str, str]]:
    with tenant_context(county):
        return list(AuditRecord.objects.filter(seq__gt=since).order_by("seq").values_list("action", "outcome"))


def head(county: Any) -> int:
    with tenant_context(county):
        last = AuditRecord.objects.order_by("-seq").first()
        return last.seq if last else 0


def test_a_clerk_signs_in_with_a_new_session_id_and_it_is_audited(county_a, staff, browser_for):
    clerk = staff()
    client = browser_for(county_a)
    with tenant_context(county_a):
        from django.contrib.sessions.backends.db import SessionStore

        before = SessionStore()
        before["planted"] = "by an attacker"
        before.create()
    client.cookies[settings.SESSION_COOKIE_NAME] = before.session_key
    start = head(county_a)
    response = sign_in(client, clerk.username)
    assert response.status_code == 302 and response["Location"] == "/"
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before.session_key  # session fixation: the planted id is worthless
    with tenant_context(county_a):
        assert not Session.objects.filter(session_key=before.session_key).exists()
        assert UserSession.objects.filter(session_key=after, user=clerk).exists()
    assert ("auth.login", "success") in actions(county_a, start)


def test_logout_deletes_the_session_on_the_server(county_a, staff, browser_for):
    clerk = staff()
    client = browser_for(county_a)
    sign_in(client, clerk.username)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get("/work/").status_code == 200
    start = head(county_a)
    assert client.post("/accounts/logout/").status_code == 302
    with tenant_context(county_a):
        assert not Session.objects.filter(session_key=key).exists()
    # Replaying the old cookie gets nowhere.
    client.cookies[settings.SESSION_COOKIE_NAME] = key
    assert client.get("/work/").status_code == 302
    assert ("auth.logout", "success") in actions(county_a, start)


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(county_a, staff, browser_for):
    clerk = staff()
    start = head(county_a)
    for _attempt in range(settings.ACCOUNTS_LOGIN_FAILURE_LIMIT):
        # A new address each time: the account's counter alone must lock it.
        response = sign_in(browser_for(county_a), clerk.username, "Wrong-pass-1")
        assert response.status_code == 200
    page = sign_in(browser_for(county_a), clerk.username)  # the right password, too late
    assert page.status_code == 429
    assert "15" in page.content.decode() and "分钟" in page.content.decode()
    logged = actions(county_a, start)
    assert logged.count(("auth.login", "failure")) == settings.ACCOUNTS_LOGIN_FAILURE_LIMIT
    assert ("auth.lockout", "denied") in logged and ("auth.login", "denied") in logged


def test_five_failures_from_one_address_lock_that_address_for_every_account(county_a, staff, browser_for):
    client = browser_for(county_a, "10.77.0.1")
    for attempt in range(settings.ACCOUNTS_LOGIN_FAILURE_LIMIT):
        sign_in(client, f"nobody-{attempt}", "Wrong-pass-1")  # unknown names count too
    assert sign_in(client, staff().username).status_code == 429
    assert sign_in(browser_for(county_a, "10.77.0.2"), staff().username).status_code == 302


def test_an_ipv6_client_cannot_guess_on_from_a_fresh_address_of_its_network(county_a, staff, browser_for):
    for attempt in range(settings.ACCOUNTS_LOGIN_FAILURE_LIMIT):
        sign_in(browser_for(county_a, f"2001:db8:77:1::{attempt + 1:x}"), f"nobody-{attempt}", "Wrong-pass-1")
    assert sign_in(browser_for(county_a, "2001:db8:77:1::ffff"), staff().username).status_code == 429
    assert sign_in(browser_for(county_a, "2001:db8:77:2::1"), staff().username).status_code == 302


def test_lockout_counters_are_per_county(county_a, county_b, staff, browser_for):
    clerk = staff(username="same-name")
    with tenant_context(county_b):
        from casework.tests.factories import UserFactory

        UserFactory(username="same-name")
    for _attempt in range(settings.ACCOUNTS_LOGIN_FAILURE_LIMIT):
        sign_in(browser_for(county_b), "same-name", "Wrong-pass-1")
    assert sign_in(browser_for(county_b), "same-name").status_code == 429
    assert sign_in(browser_for(county_a), clerk.username).status_code == 302


def _age_session(client: Any, county: Any, **seconds_ago: int) -> None:
    from django.contrib.sessions.backends.db import SessionStore

    with tenant_context(county):
        store = SessionStore(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value)
        now = int(timezone.now().timestamp())
        if "seen" in seconds_ago:
            store[SEEN_AT] = now - seconds_ago["seen"]
        if "auth" in seconds_ago:
            store[AUTH_AT] = now - seconds_ago["auth"]
        store.save()


@pytest.mark.parametrize(
    ("aged", "reason"),
    [
        ({"seen": 31 * 60}, "idle"),
        ({"seen": 10, "auth": 8 * 60 * 60 + 60}, "absolute"),
    ],
)
def test_sessions_end_when_idle_or_too_old(county_a, staff, browser_for, aged, reason):
    clerk = staff()
    client = browser_for(county_a)
    sign_in(client, clerk.username)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    _age_session(client, county_a, **aged)
    start = head(county_a)
    response = client.get("/work/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
    with tenant_context(county_a):
        assert not Session.objects.filter(session_key=key).exists()
        record = AuditRecord.objects.get(seq__gt=start, action="auth.session_expired")
    assert record.details == {"reason": reason}


def test_an_active_session_survives_within_the_idle_limit(county_a, staff, browser_for):
    client = browser_for(county_a)
    sign_in(client, staff().username)
    _age_session(client, county_a, seen=29 * 60)
    assert client.get("/work/").status_code == 200


def test_an_expired_password_must_be_changed_before_anything_else(county_a, staff, browser_for):
    clerk = staff()
    with tenant_context(county_a):
        old = timezone.now() - datetime.timedelta(days=settings.ACCOUNTS_PASSWORD_MAX_AGE_DAYS + 1)
        User.objects.filter(pk=clerk.pk).update(password_changed_at=old)
    client = browser_for(county_a)
    assert sign_in(client, clerk.username)["Location"] == "/accounts/password/"
    assert client.get("/work/")["Location"] == "/accounts/password/"
    api = client.get("/api/v1/cases/")
    assert api.status_code == 403 and api.json()["error"]["code"] == "accounts.password_expired"
    other = browser_for(county_a)
    sign_in(other, clerk.username)  # a second session of the same person
    other_key = other.cookies[settings.SESSION_COOKIE_NAME].value

    weak = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password": "alllowercase", "new_password_again": "alllowercase"},
    )
    assert weak.status_code == 200 and "至少" in weak.content.decode()
    done = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password": "N3w-pass-word", "new_password_again": "N3w-pass-word"},
    )
    assert done.status_code == 302
    assert client.get("/work/").status_code == 200  # this session goes on
    with tenant_context(county_a):
        assert not Session.objects.filter(session_key=other_key).exists()  # the others end
        assert AuditRecord.objects.filter(action="auth.password_changed", outcome="success").exists()


@pytest.mark.parametrize("role", [StaffRole.SUPERVISOR, StaffRole.COUNTY_ADMIN])
def test_admins_and_supervisors_enroll_a_second_factor_then_need_it(county_a, staff, browser_for, two_factor_on, role):
    person = staff(role)
    client = browser_for(county_a)
    response = sign_in(client, person.username)
    assert response["Location"] == "/accounts/two-factor/"
    assert client.get("/work/").status_code == 302  # not signed in yet
    page = client.get("/accounts/two-factor/").content.decode()
    assert "otpauth://totp/" in page and "<svg" in page
    stored = client.session[ENROLL_SECRET]
    assert is_sealed(stored)  # the session table never holds the new secret in clear (ADR 14)
    secret = unseal(stored, purpose=ENROLL_SECRET_PURPOSE)
    totp = pyotp.TOTP(secret)
    assert (
        client.post("/accounts/two-factor/", {"code": "000000" if totp.now() != "000000" else "111111"}).status_code
        == 200
    )
    enrolled = client.post("/accounts/two-factor/", {"code": totp.now()})
    assert enrolled["Location"] == "/accounts/recovery-codes/?next=%2F"  # the recovery codes, once
    codes = re.findall(r"<code>([2-9A-Z]{5}-[2-9A-Z]{5})</code>", client.get(enrolled["Location"]).content.decode())
    assert len(set(codes)) == 10
    assert "<code>" not in client.get(enrolled["Location"]).content.decode()  # not shown again
    assert client.get("/work/").status_code == 200

    later = browser_for(county_a)
    assert sign_in(later, person.username)["Location"] == "/accounts/login/verify/"
    # The code just used cannot be replayed; the next one (clock drift window) is accepted once.
    assert later.post("/accounts/login/verify/", {"code": totp.now()}).status_code == 200
    next_code = totp.at(timezone.now() + datetime.timedelta(seconds=30))
    assert later.post("/accounts/login/verify/", {"code": next_code})["Location"] == "/"
    assert later.get("/work/").status_code == 200
    logged = actions(county_a)
    assert ("auth.2fa.enrolled", "success") in logged and ("auth.2fa.enrolled", "failure") in logged


def test_clerks_need_no_second_factor(county_a, staff, browser_for, two_factor_on):
    assert sign_in(browser_for(county_a), staff(StaffRole.WINDOW_CLERK).username)["Location"] == "/"


def test_wrong_codes_count_towards_the_lockout(county_a, staff, browser_for, two_factor_on):
    person = staff(StaffRole.SUPERVISOR)
    with tenant_context(county_a):
        TotpDevice.objects.create(user=person, secret=pyotp.random_base32(), confirmed_at=timezone.now())
    client = browser_for(county_a)
    for _attempt in range(settings.ACCOUNTS_LOGIN_FAILURE_LIMIT - 1):
        sign_in(client, person.username)
        assert client.post("/accounts/login/verify/", {"code": "123456"}).status_code == 200
    sign_in(client, person.username)
    assert client.post("/accounts/login/verify/", {"code": "123456"})["Location"] == "/accounts/login/"
    assert sign_in(browser_for(county_a), person.username).status_code == 429


def test_the_code_step_cannot_be_skipped(county_a, staff, browser_for, two_factor_on):
    person = staff(StaffRole.SUPERVISOR)
    client = browser_for(county_a)
    sign_in(client, person.username)
    for path in ("/work/", "/api/v1/cases/", "/staff/"):
        assert client.get(path).status_code in {302, 401, 403}


def test_operators_on_the_console_need_a_second_factor(two_counties, browser_for, two_factor_on):
    with schema_context("public"):
        User.objects.create_user(username="op-2fa", password=PASSWORD, is_staff=True)
    from django.test import Client

    client = Client(HTTP_HOST=settings.COUNTY_DOMAIN_SUFFIX, REMOTE_ADDR="10.8.0.1")
    assert sign_in(client, "op-2fa")["Location"] == "/accounts/two-factor/"


def _with_authenticator_and_codes(county: Any, person: Any) -> tuple[pyotp.TOTP, list[str]]:
    secret = pyotp.random_base32()
    with tenant_context(county):
        TotpDevice.objects.create(user=person, secret=secret, confirmed_at=timezone.now())
        codes = recovery_codes_issue(user=person)
    return pyotp.TOTP(secret), codes


def test_a_lost_phone_signs_in_once_per_recovery_code(county_a, staff, browser_for, two_factor_on):
    person = staff(StaffRole.SUPERVISOR)
    _totp, codes = _with_authenticator_and_codes(county_a, person)
    client = browser_for(county_a)
    assert sign_in(client, person.username)["Location"] == "/accounts/login/verify/"
    page = client.get("/accounts/login/verify/").content.decode()
    assert 'name="recovery_code"' in page and "手机丢了？用恢复码登录" in page
    # Typed as people type: lower case, without the dash.
    done = client.post("/accounts/login/verify/", {"recovery_code": codes[0].lower().replace("-", " ")})
    assert done["Location"] == "/" and client.get("/work/").status_code == 200
    assert "未用的恢复码：9 个" in client.get("/accounts/recovery-codes/").content.decode()

    again = browser_for(county_a)
    sign_in(again, person.username)
    refused = again.post("/accounts/login/verify/", {"recovery_code": codes[0]})
    assert refused.status_code == 200 and "已经用过" in refused.content.decode()
    assert again.get("/work/").status_code == 302
    logged = actions(county_a)
    assert ("auth.2fa.recovery_used", "success") in logged and ("auth.2fa.recovery_codes_issued", "success") in logged
    with tenant_context(county_a):
        login = AuditRecord.objects.filter(action="auth.login", outcome="success", object_id=str(person.pk)).first()
        assert login.details == {"method": "recovery_code"}


def test_wrong_recovery_codes_count_towards_the_lockout(county_a, staff, browser_for, two_factor_on):
    person = staff(StaffRole.SUPERVISOR)
    _with_authenticator_and_codes(county_a, person)
    client = browser_for(county_a)
    for _attempt in range(settings.ACCOUNTS_LOGIN_FAILURE_LIMIT - 1):
        sign_in(client, person.username)
        assert client.post("/accounts/login/verify/", {"recovery_code": "AAAAA-BBBBB"}).status_code == 200
    sign_in(client, person.username)
    assert client.post("/accounts/login/verify/", {"recovery_code": "AAAAA-BBBBB"})["Location"] == "/accounts/login/"


def test_new_recovery_codes_need_the_password_and_replace_the_old_ones(county_a, staff, browser_for, two_factor_on):
    person = staff(StaffRole.SUPERVISOR)
    totp, old = _with_authenticator_and_codes(county_a, person)
    client = browser_for(county_a)
    sign_in(client, person.username)
    client.post("/accounts/login/verify/", {"code": totp.now()})
    assert client.get("/work/").status_code == 200
    wrong = client.post("/accounts/recovery-codes/", {"password": "not-the-password"})
    assert wrong.status_code == 200 and "<code>" not in wrong.content.decode()
    made = client.post("/accounts/recovery-codes/", {"password": PASSWORD})
    assert made["Location"] == "/accounts/recovery-codes/"
    new = re.findall(r"<code>([2-9A-Z]{5}-[2-9A-Z]{5})</code>", client.get(made["Location"]).content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    with tenant_context(county_a):
        assert recovery_code_use(user=person, code=old[1]) is None
        assert recovery_code_use(user=person, code=new[1]) == 9
        assert RecoveryCode.objects.filter(user=person).count() == 10
        stored = set(RecoveryCode.objects.filter(user=person).values_list("code_hash", flat=True))
        assert not stored & {code.replace("-", "") for code in new}  # keyed hashes, not the codes


def test_without_an_authenticator_the_recovery_page_leads_to_setting_one_up(county_a, staff, browser_for):
    clerk = staff(StaffRole.WINDOW_CLERK)
    client = browser_for(county_a)
    sign_in(client, clerk.username)
    assert client.get("/accounts/recovery-codes/")["Location"] == "/accounts/two-factor/"


def test_a_password_an_administrator_chose_is_replaced_at_the_first_sign_in(county_a, staff, browser_for):
    admin = staff(StaffRole.COUNTY_ADMIN)
    with tenant_context(county_a):
        casework_services.staff_create(
            actor=admin, username="new-clerk", name="新同事", role=StaffRole.WINDOW_CLERK, password=PASSWORD
        )
        onboarded = casework_services.staff_create(
            actor=None, username="onboarded", name="开通", role=StaffRole.WINDOW_CLERK, password=PASSWORD
        )
    assert not onboarded.user.must_change_password  # the platform's own accounts (onboarding, demo)
    client = browser_for(county_a)
    assert sign_in(client, "new-clerk")["Location"] == "/accounts/password/"
    assert client.get("/work/")["Location"] == "/accounts/password/"
    api = client.get("/api/v1/cases/")
    assert api.status_code == 403 and api.json()["error"]["code"] == "accounts.password_expired"
    assert "管理员" in api.json()["error"]["message"]
    assert "此密码由管理员设置" in client.get("/accounts/password/").content.decode()
    new = "Mine-0wn-pass"
    changed = client.post(
        "/accounts/password/", {"old_password": PASSWORD, "new_password": new, "new_password_again": new}
    )
    assert changed.status_code == 302
    assert client.get("/work/").status_code == 200
    with tenant_context(county_a):
        assert not User.objects.get(username="new-clerk").must_change_password


def test_a_first_authenticator_needs_the_enrollment_code_an_admin_handed_over(
    county_a, staff, browser_for, two_factor_on
):
    admin = staff(StaffRole.COUNTY_ADMIN)
    with tenant_context(county_a):
        profile = casework_services.staff_create(
            actor=admin, username="new-boss", name="新科长", role=StaffRole.SUPERVISOR, password=PASSWORD
        )
        clerk = casework_services.staff_create(
            actor=admin, username="new-clerk-2", name="新窗口", role=StaffRole.WINDOW_CLERK, password=PASSWORD
        )
    code = profile.user.enrollment_code
    assert re.fullmatch(r"[2-9A-Z]{5}-[2-9A-Z]{5}", code) and clerk.user.enrollment_code == ""
    client = browser_for(county_a)
    assert sign_in(client, "new-boss")["Location"] == "/accounts/two-factor/"  # the password alone is not enough
    assert 'name="enrollment_code"' in client.get("/accounts/two-factor/").content.decode()
    totp = pyotp.TOTP(unseal(client.session[ENROLL_SECRET], purpose=ENROLL_SECRET_PURPOSE))
    without = client.post("/accounts/two-factor/", {"code": totp.now()})
    assert without.status_code == 200 and "管理员" in without.content.decode()
    wrong = client.post("/accounts/two-factor/", {"code": totp.now(), "enrollment_code": "AAAAA-BBBBB"})
    assert wrong.status_code == 200
    done = client.post("/accounts/two-factor/", {"code": totp.now(), "enrollment_code": code.lower().replace("-", "")})
    assert done["Location"].startswith("/accounts/recovery-codes/")
    with tenant_context(county_a):
        assert User.objects.get(username="new-boss").enrollment_code_hash == ""  # used up
        denied = AuditRecord.objects.filter(action="auth.2fa.enrolled", outcome="denied", object_id="")
        assert denied.count() >= 2


def test_an_expired_enrollment_code_is_refused(county_a, staff, browser_for, two_factor_on):
    admin = staff(StaffRole.COUNTY_ADMIN)
    with tenant_context(county_a):
        profile = casework_services.staff_create(
            actor=admin, username="late-boss", name="晚到", role=StaffRole.SUPERVISOR, password=PASSWORD
        )
        User.objects.filter(pk=profile.user_id).update(enrollment_code_expires_at=timezone.now())
    client = browser_for(county_a)
    sign_in(client, "late-boss")
    client.get("/accounts/two-factor/")
    totp = pyotp.TOTP(unseal(client.session[ENROLL_SECRET], purpose=ENROLL_SECRET_PURPOSE))
    expired = client.post(
        "/accounts/two-factor/", {"code": totp.now(), "enrollment_code": profile.user.enrollment_code}
    )
    assert expired.status_code == 200 and "已过期" in expired.content.decode()


def test_the_password_alone_cannot_put_another_authenticator_on_an_enrolled_account(
    county_a, staff, browser_for, two_factor_on
):
    """Whoever knows the password stops at the code step: the set-up page is not a way round it."""
    person = staff(StaffRole.SUPERVISOR)
    owners, _codes = _with_authenticator_and_codes(county_a, person)
    with tenant_context(county_a):
        owners_secret = TotpDevice.objects.get(user=person).secret
    intruder = browser_for(county_a)
    assert sign_in(intruder, person.username)["Location"] == "/accounts/login/verify/"
    assert intruder.get("/accounts/two-factor/")["Location"] == "/accounts/login/verify/"
    # Posting straight to the set-up page with a code of a secret of the intruder's own choosing.
    theirs = pyotp.TOTP(pyotp.random_base32())
    refused = intruder.post("/accounts/two-factor/", {"code": theirs.now()})
    assert refused.status_code == 302 and refused["Location"] == "/accounts/login/verify/"
    assert intruder.get("/work/").status_code == 302  # not signed in
    with tenant_context(county_a):
        assert TotpDevice.objects.get(user=person).secret == owners_secret  # the owner's phone still works
        assert not AuditRecord.objects.filter(action="auth.2fa.enrolled", outcome="success").exists()
    with tenant_context(county_a), translation.override("zh-hans"), pytest.raises(AccountsError) as refused_here:
        totp_enroll(user=person, secret=theirs.secret, code=theirs.now())  # the service refuses it too
    assert refused_here.value.code == "accounts.authenticator_exists"
    assert "已设置身份验证器" in refused_here.value.message
    assert owners.now()  # the owner's authenticator is untouched


def test_a_session_without_a_second_factor_ends_when_its_person_is_promoted_to_a_role_that_needs_one(
    county_a, staff, browser_for, two_factor_on
):
    admin = staff(StaffRole.COUNTY_ADMIN)
    clerk = staff(StaffRole.WINDOW_CLERK)
    client = browser_for(county_a)
    assert sign_in(client, clerk.username)["Location"] == "/"  # a clerk: the password is enough
    assert client.get("/work/").status_code == 200
    with tenant_context(county_a):
        casework_services.staff_role_set(actor=admin, profile_id=clerk.staff_profile.pk, role=StaffRole.SUPERVISOR)
    start = head(county_a)
    response = client.get("/work/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "需要双重验证" in client.get(response["Location"]).content.decode()
    api = client.get("/api/v1/cases/")
    assert api.status_code in {401, 403}  # signed out: the API does not take that session either
    with tenant_context(county_a):
        record = AuditRecord.objects.get(seq__gt=start, action="auth.session_expired")
    assert record.details == {"reason": "second_factor"}
    # Signing in again now asks for the second factor.
    assert sign_in(browser_for(county_a), clerk.username)["Location"] == "/accounts/two-factor/"


def test_a_session_that_passed_the_second_factor_survives_a_change_of_role(county_a, staff, browser_for, two_factor_on):
    admin = staff(StaffRole.COUNTY_ADMIN)
    person = staff(StaffRole.SUPERVISOR)
    totp, _codes = _with_authenticator_and_codes(county_a, person)
    client = browser_for(county_a)
    sign_in(client, person.username)
    assert client.post("/accounts/login/verify/", {"code": totp.now()})["Location"] == "/"
    with tenant_context(county_a):
        casework_services.staff_role_set(actor=admin, profile_id=person.staff_profile.pk, role=StaffRole.COUNTY_ADMIN)
    assert client.get("/work/").status_code == 200


@pytest.mark.parametrize(
    ("path", "field", "extra"),
    [
        ("/accounts/password/", "old_password", {"new_password": "N3w-pass-wd", "new_password_again": "N3w-pass-wd"}),
        ("/accounts/two-factor/", "password", {"code": "123456"}),
        ("/accounts/recovery-codes/", "password", {}),
    ],
)
def test_guessing_the_current_password_from_a_signed_in_session_counts_towards_the_lockout(
    county_a, staff, browser_for, path, field, extra
):
    """An unlocked screen must not become an unlimited oracle for the account's password."""
    person = staff(StaffRole.WINDOW_CLERK)
    client = browser_for(county_a)
    assert sign_in(client, person.username)["Location"] == "/"
    if path == "/accounts/recovery-codes/":
        _with_authenticator_and_codes(county_a, person)  # the page asks for the password only then
    start = head(county_a)
    for attempt in range(settings.ACCOUNTS_LOGIN_FAILURE_LIMIT - 1):
        response = client.post(path, {field: f"Guess-{attempt}-pw", **extra})
        assert response.status_code == 200
    last = client.post(path, {field: "Guess-last-pw", **extra})
    assert last.status_code == 302 and last["Location"].startswith("/accounts/login/")
    assert client.get("/work/").status_code == 302  # the session is over
    assert sign_in(browser_for(county_a), person.username).status_code == 429  # and the account locked
    logged = actions(county_a, start)
    assert logged.count(("auth.login", "failure")) >= settings.ACCOUNTS_LOGIN_FAILURE_LIMIT - 1
    assert ("auth.lockout", "denied") in logged


def test_an_enrollment_under_way_survives_the_removal_of_an_old_key(county_a, staff, browser_for, two_factor_on):
    """A session holding a secret sealed under a key since dropped starts a new one instead of failing."""
    from banchengshi.keyring import key_generate, keyring_parse

    person = staff(StaffRole.SUPERVISOR)
    client = browser_for(county_a)
    assert sign_in(client, person.username)["Location"] == "/accounts/two-factor/"
    dropped = keyring_parse(key_generate("gone"))
    session = client.session
    session[ENROLL_SECRET] = dropped.seal(pyotp.random_base32(), purpose=ENROLL_SECRET_PURPOSE)
    session.save()
    page = client.get("/accounts/two-factor/")
    assert page.status_code == 200 and "otpauth://totp/" in page.content.decode()
    totp = pyotp.TOTP(unseal(client.session[ENROLL_SECRET], purpose=ENROLL_SECRET_PURPOSE))
    assert client.post("/accounts/two-factor/", {"code": totp.now()})["Location"].startswith(
        "/accounts/recovery-codes/"
    )
    assert "<code>" in client.get("/accounts/recovery-codes/").content.decode()
