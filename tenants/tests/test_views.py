"""The provincial console: onboarding by form, YAML and CSV batch; configuration versions; suspend and resume;
removal after the retention hold; operators and county admins; break-glass; who may see what."""

from __future__ import annotations

import datetime
import re
import uuid

import pyotp
import pytest
import yaml
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context
from rest_framework.authtoken.models import Token

from banchengshi.accounts.models import PlatformRole, UserSession
from banchengshi.accounts.services import enrollment_code_needed, totp_enroll
from banchengshi.audit.models import AuditRecord
from banchengshi.errors import ApplicationError
from casework.models import StaffProfile, StaffRole
from conftest import county_config_path, host_of
from tenants.models import BatchStatus, BreakGlassGrant, County, CountyBatch, CountyConfigVersion, CountyStatus
from tenants.services import county_batch_run, operator_create
from tenants.tests.test_config import minimal
from tests.markup import Markup

pytestmark = pytest.mark.django_db


def console_user(*, staff: bool = True, role: str = PlatformRole.OPERATOR):
    with schema_context("public"):
        return get_user_model().objects.create_user(
            username=f"op-{uuid.uuid4().hex[:6]}", password="Long-enough-pass-1", name="运维", is_staff=staff,
            platform_role=role,
        )  # fmt: skip


@pytest.fixture
def operator(two_counties):
    return console_user()


@pytest.fixture
def console(operator) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(operator)
    return client


def minimal_yaml(**changes) -> str:
    return yaml.safe_dump(minimal(**changes), allow_unicode=True)


def test_onboarding_from_a_pasted_form_and_from_an_uploaded_yaml(console):
    response = console.post("/console/counties/new/", {"yaml_text": minimal_yaml()})
    data = minimal()
    county = County.objects.get(code=data["county"]["code"])
    assert response.status_code == 302 and response["Location"] == f"/console/counties/{county.code}/"
    assert county.status == CountyStatus.ACTIVE
    assert CountyConfigVersion.objects.get(county=county).number == 1

    upload = SimpleUploadedFile("shaoyang.yaml", county_config_path("shaoyang").read_bytes())
    response = console.post("/console/counties/new/", {"yaml_file": upload})
    assert response.status_code == 302
    assert County.objects.get(code="430523").full_name == "邵阳县"


def test_a_bad_configuration_is_refused_with_its_problems(console):
    data = minimal()
    del data["county"]["province"]
    page = console.post(
        "/console/counties/new/", {"yaml_text": yaml.safe_dump(data, allow_unicode=True)}, follow=True
    ).content.decode()
    assert "county.province" in page and "此项为必填项" in page


def test_a_csv_batch_onboards_every_row_with_progress(console, settings):
    template = SimpleUploadedFile("template.yaml", minimal_yaml().encode())
    rows = SimpleUploadedFile("counties.csv", "code,name\n130101,甲县\n130102,乙县\n130103,\n".encode())
    response = console.post("/console/batches/new/", {"csv_file": rows, "template_file": template}, follow=True)
    assert not CountyBatch.objects.exists()
    assert "counties.csv:4" in response.content.decode()  # the row without a name, by its line

    template = SimpleUploadedFile("template.yaml", minimal_yaml().encode())
    rows = SimpleUploadedFile("counties.csv", "code,name,city\n130101,甲县,石家庄市\n130102,乙县,\n".encode())
    response = console.post("/console/batches/new/", {"csv_file": rows, "template_file": template})
    batch = CountyBatch.objects.get()
    assert response["Location"] == f"/console/batches/{batch.pk}/"
    # The worker's part (tenants.county_batch_run), run here directly.
    county_batch_run(batch_id=batch.pk)
    progress = console.get(f"/api/v1/console/batches/{batch.pk}/").json()
    assert progress == {
        "id": batch.pk,
        "status": BatchStatus.FINISHED,
        "total": 2,
        "done": 2,
        "failed": 0,
        "errors": [],
    }
    first, second = County.objects.get(code="130101"), County.objects.get(code="130102")
    assert (first.name, first.city, first.slug) == ("甲县", "石家庄市", "c130101")
    assert first.case_prefix != second.case_prefix and len(first.case_prefix) == 4
    assert 'data-testid="batch-progress"' in console.get(f"/console/batches/{batch.pk}/").content.decode()
    # Running the batch again changes nothing.
    assert county_batch_run(batch_id=batch.pk).done == 2


def test_a_configuration_change_is_shown_as_a_difference_applied_and_rolled_back(console):
    console.post("/console/counties/new/", {"yaml_text": minimal_yaml()})
    county = County.objects.get(code=minimal()["county"]["code"])
    changed = minimal_yaml().replace("政务服务中心", "政务服务大厅")
    assert changed != minimal_yaml()

    page = console.post(f"/console/counties/{county.code}/config/", {"yaml_text": changed, "preview": "1"})
    diff = page.content.decode()
    assert 'data-testid="diff"' in diff and "+" in diff and "政务服务大厅" in diff
    assert CountyConfigVersion.objects.filter(county=county).count() == 1  # a preview writes nothing

    response = console.post(f"/console/counties/{county.code}/config/", {"yaml_text": changed, "apply": "1"})
    assert response.status_code == 302
    assert list(CountyConfigVersion.objects.filter(county=county).values_list("number", flat=True)) == [2, 1]
    with tenant_context(county):
        from casework.models import Window

        assert Window.objects.filter(name__contains="政务服务大厅").exists()

    page = console.get(f"/console/counties/{county.code}/config/1/").content.decode()
    assert "政务服务大厅" in page and 'data-testid="rollback"' in page
    console.post(f"/console/counties/{county.code}/config/1/")
    latest = CountyConfigVersion.objects.filter(county=county).first()
    assert (latest.number, latest.rolled_back_to) == (3, 1)
    with tenant_context(county):
        assert not Window.objects.filter(name__contains="政务服务大厅", is_active=True).exists()


def test_suspend_and_resume_keep_the_data_and_the_county_pages_say_so(console, county_b, client_for):
    with tenant_context(county_b):
        staff_before = StaffProfile.objects.count()
    response = console.post(f"/console/counties/{county_b.code}/suspend/", {"reason": "整改检查"})
    assert response.status_code == 302
    assert County.objects.get(pk=county_b.pk).status == CountyStatus.SUSPENDED
    page = client_for(county_b).get("/")
    assert page.status_code == 503 and "暂停" in page.content.decode()
    # Programs (the 12345 platform, Open311 apps) get a stable code, and no invitation to retry.
    for path in ("/api/v1/cases/", "/open311/v2/services.json"):
        answer = client_for(county_b).get(path)
        assert answer.status_code == 503 and "Retry-After" not in answer
        assert answer.json()["error"]["code"] == "platform.county_suspended"
        assert "暂停" in answer.json()["error"]["message"]

    console.post(f"/console/counties/{county_b.code}/resume/")
    assert County.objects.get(pk=county_b.pk).status == CountyStatus.ACTIVE
    assert client_for(county_b).get("/").status_code != 503
    with tenant_context(county_b):
        assert StaffProfile.objects.count() == staff_before


def test_removal_waits_for_the_retention_hold(console, operator):
    console.post("/console/counties/new/", {"yaml_text": minimal_yaml()})
    county = County.objects.get(code=minimal()["county"]["code"])
    console.post(f"/console/counties/{county.code}/request-removal/")
    county.refresh_from_db()
    assert county.status == CountyStatus.SUSPENDED and county.removal_hold_until > timezone.now()

    page = console.post(f"/console/counties/{county.code}/remove/", follow=True).content.decode()
    assert County.objects.filter(pk=county.pk).exists() and "保留期" in page

    County.objects.filter(pk=county.pk).update(removal_hold_until=timezone.now() - datetime.timedelta(minutes=1))
    console.post(f"/console/counties/{county.code}/remove/")
    assert not County.objects.filter(pk=county.pk).exists()
    assert AuditRecord.objects.filter(action="tenants.county_removed", object_id=county.code).exists()


def test_security_admins_manage_operator_accounts_and_operators_onboard_counties(console, county_a):
    """三权分立: the system administrator (operator) runs counties, the security administrator the accounts."""
    security = Client(HTTP_HOST="localhost")
    security.force_login(console_user(role=PlatformRole.SECURITY_ADMIN))
    assert console.get("/console/operators/").status_code == 404  # an operator grants nobody a role
    assert "/console/operators/" not in console.get("/").content.decode()
    assert security.get(f"/console/counties/{county_a.code}/").status_code == 404  # nor runs counties
    security.post(
        "/console/operators/",
        {"username": "op-new", "name": "新审计", "password": "Another-long-pass-2", "role": "auditor"},
    )
    new = get_user_model().objects.get(username="op-new")
    assert new.is_staff and not new.is_superuser and new.platform_role == PlatformRole.AUDITOR
    assert new.must_change_password  # the security admin chose it
    assert AuditRecord.objects.filter(action="tenants.operator_created", details__role="auditor").exists()
    signed_in_elsewhere = Client(HTTP_HOST="localhost")
    signed_in_elsewhere.force_login(new)
    with schema_context("public"):
        UserSession.objects.create(user=new, session_key=signed_in_elsewhere.session.session_key)
        Token.objects.create(user=new)
    security.post("/console/operators/", {"deactivate": new.pk})
    assert not get_user_model().objects.get(pk=new.pk).is_active
    with schema_context("public"):
        # Closed means out now, not at the next check of is_active.
        assert not Session.objects.filter(session_key=signed_in_elsewhere.session.session_key).exists()
        assert not Token.objects.filter(user=new).exists()
    with pytest.raises(ApplicationError):
        operator_create(actor=console_user(), username="self-made", name="x", password="Another-long-pass-2")
    console.post(
        f"/console/counties/{county_a.code}/admin/",
        {"username": "first-admin", "name": "管理员", "password": "Admin-long-pass-3"},
    )
    with tenant_context(county_a):
        assert StaffProfile.objects.get(user__username="first-admin").role == StaffRole.COUNTY_ADMIN


def test_personal_data_only_under_a_reasoned_time_limited_audited_grant(console, operator, county_a):
    with tenant_context(county_a):
        from casework.models import Channel
        from casework.services import CaseIntake, case_register

        case_register(
            actor=None,
            intake=CaseIntake(
                matter="护照加急",
                description="行动不便",
                citizen_name="曹先生",
                citizen_phone="13900000000",
                channel=Channel.ONLINE,
                kind_code="case",
            ),
        )
    assert "曹先生" not in console.get(f"/console/counties/{county_a.code}/").content.decode()
    assert console.get(f"/console/counties/{county_a.code}/support/").status_code == 404

    console.post(f"/console/counties/{county_a.code}/break-glass/", {"reason": "短", "minutes": 30})
    assert not BreakGlassGrant.objects.exists()
    response = console.post(
        f"/console/counties/{county_a.code}/break-glass/",
        {"reason": "工单 2026-118：市民反映无法查询进度", "minutes": 30},
    )
    assert response["Location"] == f"/console/counties/{county_a.code}/support/"
    page = console.get(response["Location"]).content.decode()
    assert "曹先生" in page and "13900000000" in page
    assert AuditRecord.objects.filter(action="tenants.break_glass_granted", object_id=county_a.code).exists()
    assert AuditRecord.objects.filter(action="tenants.personal_data_viewed", object_id=county_a.code).exists()

    BreakGlassGrant.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert console.get(f"/console/counties/{county_a.code}/support/").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/console/counties/450202/",
        "/console/counties/450202/config/",
        "/console/counties/new/",
        "/console/batches/new/",
        "/console/operators/",
        "/api/v1/console/counties/",
    ],
)
def test_only_operators_reach_the_console(two_counties, path):
    anonymous = Client(HTTP_HOST="localhost")
    assert anonymous.get(path).status_code == 302
    citizen = Client(HTTP_HOST="localhost")
    citizen.force_login(console_user(staff=False))
    assert citizen.get(path).status_code == 404


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unknown_county_or_batch_is_404(console, method):
    for path in ("/console/counties/999999/", "/console/counties/999999/suspend/", "/api/v1/console/batches/999/"):
        assert getattr(console, method)(path).status_code in {404, 405}


def test_the_county_list_shows_status_staff_and_open_cases(console, county_a, county_b):
    page = console.get("/").content.decode()
    assert "柳州市城中区" in page and "龙井市" in page and "/console/counties/450202/" in page
    data = console.get("/api/v1/console/counties/").json()
    row = next(r for r in data["results"] if r["code"] == county_a.code)
    assert row["status"] == "active" and row["domain"] == host_of(county_a) and isinstance(row["staff"], int)


def test_anyone_else_sees_the_registry_without_figures(two_counties):
    page = Client(HTTP_HOST="localhost").get("/").content.decode()
    assert "柳州市城中区" in page and "在办案件" not in page and "/console/counties/" not in page


def test_a_new_operator_sets_up_the_authenticator_with_a_code_handed_over_apart(two_counties, settings):
    settings.ACCOUNTS_TWO_FACTOR_ENFORCED = True  # operators always sign in with a second factor
    security = console_user(role=PlatformRole.SECURITY_ADMIN)
    with schema_context("public"):
        created = operator_create(actor=security, username="op-coded", name="新运维", password="Another-long-pass-2")
        assert len(created.enrollment_code) == 11
        assert get_user_model().objects.get(pk=created.pk).enrollment_code_hash


def test_a_county_s_first_admin_sets_up_the_authenticator_with_a_code_the_operator_handed_over(
    console, operator, county_a, settings
):
    """The operator chose the password: it is replaced at first sign-in, and it alone puts no phone on the account."""
    settings.ACCOUNTS_TWO_FACTOR_ENFORCED = True
    response = console.post(
        f"/console/counties/{county_a.code}/admin/",
        {"username": "first-admin", "name": "管理员", "password": "Admin-long-pass-3"},
        follow=True,
    )
    shown = " ".join(str(message) for message in response.context["messages"])
    code = re.search(r"绑定码：(\S{5}-\S{5})。", shown)
    assert code is not None, shown
    assert code.group(1) not in console.get(f"/console/counties/{county_a.code}/").content.decode()  # shown once
    with tenant_context(county_a):
        user = get_user_model().objects.get(username="first-admin")
        assert user.must_change_password and enrollment_code_needed(user)
        secret = pyotp.random_base32()
        with pytest.raises(ApplicationError):
            totp_enroll(user=user, secret=secret, code=pyotp.TOTP(secret).now())
        totp_enroll(user=user, secret=secret, code=pyotp.TOTP(secret).now(), enrollment_code=code.group(1))
        # The county's trail names the operator, who is no user of the county: no county user id.
        records = AuditRecord.objects.filter(action__in=["staff.created", "auth.2fa.enrollment_code_issued"])
        assert {(r.actor_id, r.actor_label) for r in records} == {(None, f"operator:{operator.username}")}


@pytest.mark.parametrize(
    "path", ["/console/counties/%00/", "/console/counties/45020%00/support/", "/console/counties/４５０２０２/"]
)
def test_a_county_code_that_is_not_six_digits_is_not_found(console, path):
    assert console.get(path).status_code == 404


def test_an_impossible_date_in_a_pasted_configuration_is_shown_not_a_server_error(console):
    text = minimal_yaml().replace("holidays:\n", "holidays:\n- date: 2026-02-30\n  name: x\n")
    response = console.post("/console/counties/new/", {"yaml_text": text})
    assert response.status_code == 200 and "无法读取" in response.content.decode()
    assert not County.objects.filter(code=minimal()["county"]["code"]).exists()


def test_onboarding_from_the_console_is_audited(console, operator):
    console.post("/console/counties/new/", {"yaml_text": minimal_yaml()})
    with schema_context("public"):
        record = AuditRecord.objects.get(action="tenants.county_onboarded", actor_id=operator.pk)
    assert record.object_id == minimal()["county"]["code"] and record.details["created"] is True


def test_a_county_export_needs_a_reasoned_grant_and_leaves_no_copy(console, operator, county_a, settings, tmp_path):
    settings.PROJECT_ROOT = str(tmp_path)
    refused = console.post(f"/console/counties/{county_a.code}/export/")
    assert refused.status_code == 302 and refused["Location"] == f"/console/counties/{county_a.code}/"
    assert not (tmp_path / "var" / "exports").exists() or not any((tmp_path / "var" / "exports").iterdir())
    console.post(
        f"/console/counties/{county_a.code}/break-glass/", {"reason": "工单 2026-121：迁移至新集群", "minutes": 30}
    )
    response = console.post(f"/console/counties/{county_a.code}/export/")
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content)[:2] == b"\x1f\x8b"  # a gzip archive
    assert not any((tmp_path / "var" / "exports").iterdir())  # sent, not kept
    assert AuditRecord.objects.filter(action="tenants.county_exported", object_id=county_a.code).exists()


def test_a_county_administrator_form_sent_with_errors_comes_back_in_place(console, county_a):
    """What the operator typed stays, and each error is read with its field (not only in the messages)."""
    url = f"/console/counties/{county_a.code}/admin/"
    response = console.post(url, {"username": "typed-admin", "name": "", "password": "short"})
    assert response.status_code == 200
    markup = Markup(response.content.decode())
    assert markup.error_problems() == [] and markup.id_problems() == []
    assert {e.attrs["name"] for e in markup.invalid_fields()} == {"name", "password"}
    assert "此项为必填项" in markup.error_of("id_name")
    assert markup.by_id()["id_username"].attrs["value"] == "typed-admin"
    assert markup.by_id()["id_username"].enclosing("form").attrs["action"] == url
    with tenant_context(county_a):
        assert not StaffProfile.objects.filter(user__username="typed-admin").exists()

    # The county's rule (a user name taken in the county) is told at its field too.
    sent = {"username": "first-admin", "name": "管理员", "password": "Admin-long-pass-3"}
    assert console.post(url, sent)["Location"] == f"/console/counties/{county_a.code}/"
    response = console.post(url, sent)
    assert response.status_code == 200
    markup = Markup(response.content.decode())
    assert "同名账号" in markup.error_of("id_username")
    assert markup.by_id()["id_name"].attrs["value"] == "管理员"
    assert markup.error_problems() == [] and markup.id_problems() == []


def test_a_support_access_form_sent_with_errors_comes_back_in_place(console, county_a):
    url = f"/console/counties/{county_a.code}/break-glass/"
    response = console.post(url, {"reason": "工单 2026-130：市民反映进度", "minutes": 10_000})
    assert response.status_code == 200
    markup = Markup(response.content.decode())
    assert markup.error_problems() == [] and markup.id_problems() == []
    assert [e.attrs["name"] for e in markup.invalid_fields()] == ["minutes"]
    assert markup.error_of("id_minutes")
    assert markup.by_id()["id_reason"].text == "工单 2026-130：市民反映进度"
    assert markup.by_id()["id_reason"].enclosing("form").attrs["action"] == url

    # Too short a reason is the service's rule: told on the form, with what was typed kept.
    response = console.post(url, {"reason": "短", "minutes": 45})
    assert response.status_code == 200
    markup = Markup(response.content.decode())
    assert "至少 10 个字" in markup.by_id()["id_reason"].enclosing("form").text
    assert markup.by_id()["id_reason"].text == "短" and markup.by_id()["id_minutes"].attrs["value"] == "45"
    assert not BreakGlassGrant.objects.filter(county=county_a).exists()
