"""County admins manage their county's staff; nobody else can, and accounts stay in their county."""

from __future__ import annotations

import pyotp
import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from banchengshi.accounts.models import TotpDevice, User
from banchengshi.accounts.services import enrollment_code_needed, totp_enroll
from banchengshi.errors import ApplicationError
from casework import services
from casework.errors import CaseworkError, PermissionDeniedError
from casework.models import StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(county_a):
    with tenant_context(county_a):
        user = UserFactory(username="county-admin")
        StaffProfileFactory(user=user, role=StaffRole.COUNTY_ADMIN)
        yield user


def test_admin_creates_a_handler_who_can_sign_in(county_a, admin, client_for):
    with tenant_context(county_a):
        profile = services.staff_create(
            actor=admin, username="wang", name="王五", role="department_handler", password="Xk3!pass-2026",
            department_code="scjgj",
        )  # fmt: skip
        assert profile.department.code == "scjgj"
    response = client_for(county_a).post("/accounts/login/", {"username": "wang", "password": "Xk3!pass-2026"})
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"role": "department_handler"}, "department"),
        ({"role": "emperor"}, "role"),
        ({"password": "123"}, "password"),
        ({"department_code": "ghost", "role": "department_handler"}, "department"),
    ],
)
def test_bad_staff_input_is_refused_and_nothing_is_created(county_a, admin, changes, field):
    values = {"username": "li", "name": "李四", "role": "window_clerk", "password": "Xk3!pass-2026"} | changes
    with tenant_context(county_a), pytest.raises(CaseworkError) as caught:
        services.staff_create(actor=admin, **values)
    assert caught.value.details[0]["field"] == field
    with tenant_context(county_a):
        assert not User.objects.filter(username="li").exists()


def test_only_a_county_admin_manages_staff(county_a):
    with tenant_context(county_a):
        supervisor = UserFactory(username="sup")
        StaffProfileFactory(user=supervisor, role=StaffRole.SUPERVISOR)
        with pytest.raises(PermissionDeniedError):
            services.staff_create(actor=supervisor, username="x", name="x", role="leader", password="Xk3!pass-2026")


def test_deactivated_staff_cannot_sign_in_and_admins_cannot_lock_themselves_out(county_a, admin, client_for):
    with tenant_context(county_a):
        profile = services.staff_create(
            actor=admin, username="zhao", name="赵六", role="window_clerk", password="Xk3!pass-2026"
        )
        services.staff_deactivate(actor=admin, profile_id=profile.pk)
        with pytest.raises(CaseworkError):
            services.staff_deactivate(actor=admin, profile_id=admin.staff_profile.pk)
        with pytest.raises(CaseworkError):
            services.staff_role_set(actor=admin, profile_id=admin.staff_profile.pk, role="leader")
    response = client_for(county_a).post("/accounts/login/", {"username": "zhao", "password": "Xk3!pass-2026"})
    assert response.status_code == 200  # refused


def test_the_same_username_in_two_counties_is_two_people(county_a, county_b):
    for county in (county_a, county_b):
        with tenant_context(county):
            services.staff_create(actor=None, username="same", name="同名", role="leader", password="Xk3!pass-2026")
    with tenant_context(county_a):
        assert User.objects.filter(username="same").count() == 1


def test_the_staff_api_hands_the_enrollment_code_to_the_admin_once(county_a, staff_api, settings):
    settings.ACCOUNTS_TWO_FACTOR_ENFORCED = True
    api = staff_api(county_a, "county_admin", username="enroll-admin")
    with tenant_context(county_a):
        TotpDevice.objects.create(
            user=User.objects.get(username="enroll-admin"), secret=pyotp.random_base32(), confirmed_at=timezone.now()
        )
    body = {"username": "api-boss", "name": "新科长", "role": "supervisor", "password": "Xk3!pass-2026"}
    created = api.post("staff/create/", body)
    assert created.status_code == 201
    code = created.json()["enrollment_code"]
    assert len(code) == 11 and code[5] == "-"
    clerk = api.post("staff/create/", body | {"username": "api-clerk", "role": "window_clerk"})
    assert clerk.json()["enrollment_code"] == ""  # no second factor, no code
    assert "enrollment_code" not in api.get("staff/").content.decode()  # shown once, at creation
    with tenant_context(county_a):
        boss = User.objects.get(username="api-boss")
        assert boss.enrollment_code_hash and boss.must_change_password


def test_promotion_into_a_second_factor_role_hands_the_admin_an_enrollment_code(county_a, staff_api, settings):
    """Promoted, someone with no authenticator yet sets one up only with a code, as a new account would."""
    settings.ACCOUNTS_TWO_FACTOR_ENFORCED = True
    api = staff_api(county_a, "county_admin", username="promote-admin")
    with tenant_context(county_a):
        TotpDevice.objects.create(
            user=User.objects.get(username="promote-admin"), secret=pyotp.random_base32(), confirmed_at=timezone.now()
        )
    body = {"username": "clerk-to-boss", "name": "晋升", "role": "window_clerk", "password": "Xk3!pass-2026"}
    clerk = api.post("staff/create/", body).json()
    assert clerk["enrollment_code"] == ""
    promoted = api.post(f"staff/{clerk['id']}/role/", {"role": "supervisor"})
    assert promoted.status_code == 200
    code = promoted.json()["enrollment_code"]
    assert len(code) == 11 and code[5] == "-"
    with tenant_context(county_a):
        user = User.objects.get(username="clerk-to-boss")
        assert enrollment_code_needed(user)
        secret = pyotp.random_base32()
        with pytest.raises(ApplicationError):  # the password alone does not put a phone on the account
            totp_enroll(user=user, secret=secret, code=pyotp.TOTP(secret).now())
        totp_enroll(user=user, secret=secret, code=pyotp.TOTP(secret).now(), enrollment_code=code)
    # Already enrolled, demoted, promoted again, or changing department: no new code.
    assert api.post(f"staff/{clerk['id']}/role/", {"role": "leader"}).json()["enrollment_code"] == ""
    assert api.post(f"staff/{clerk['id']}/role/", {"role": "supervisor"}).json()["enrollment_code"] == ""
