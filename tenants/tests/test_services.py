"""Onboarding counties: each demo county, idempotency, and all-or-nothing failure."""

from __future__ import annotations

import datetime
import threading
from typing import Any

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.db import DataError, connection, connections
from django.utils import timezone
from django_tenants.utils import schema_context, schema_exists, tenant_context

from banchengshi.accounts.models import PlatformRole
from banchengshi.audit.models import AuditRecord
from banchengshi.errors import ApplicationError
from banchengshi.tenancy import current_schema
from casework.models import Department, StaffRole, Window
from casework.services import case_deadlines_recompute, case_register
from casework.tasks import recompute_deadlines
from casework.tests.factories import StaffProfileFactory, UserFactory, case_intake
from conftest import county_config_path
from sla.models import DeadlineRule, LocalHoliday
from tenants import services
from tenants.config import county_config_parse, county_config_read
from tenants.errors import CountyConfigError, TenantsErrorCode
from tenants.models import BatchStatus, CasePrefixClaim, County, CountyBatch, CountyStatus, Domain
from tenants.services import (
    county_batch_create,
    county_batch_run,
    county_onboard,
    county_onboard_by_operator,
    demo_accounts_ensure,
)
from tenants.tests.test_config import MINIMAL, minimal

pytestmark = pytest.mark.django_db


def onboard_minimal(**changes):
    return county_onboard(
        config=county_config_parse(yaml.safe_dump(minimal(**changes), allow_unicode=True), source="t.yaml")
    )


def console_account(username: str, *, role: str = PlatformRole.OPERATOR) -> Any:
    """A console account (public schema) with one platform role."""
    with schema_context("public"):
        return get_user_model().objects.create_user(
            username=username, password="Long-enough-pass-1", name="运维", is_staff=True, platform_role=role
        )


def test_onboarding_shaoyang_creates_schema_domain_and_configuration(two_counties):
    result = county_onboard(config=county_config_read(county_config_path("shaoyang")))
    county = result.county
    assert result.county_created and result.schema_created
    assert county.schema_name == "c430523" and county.code == "430523"
    assert county.status == CountyStatus.ACTIVE
    assert schema_exists("c430523")
    assert Domain.objects.get(tenant=county).domain == "shaoyang.localhost"
    with tenant_context(county):
        assert Window.objects.filter(level="county_hall").exists()
        assert Department.objects.filter(runs_window=True).count() == 1
        assert DeadlineRule.objects.filter(unit="working_days", amount=1).exists()


@pytest.mark.parametrize("slug", ["chengzhong", "longjing"])
def test_onboarding_the_same_file_twice_changes_nothing(two_counties, slug):
    county = County.objects.get(slug=slug)
    before = County.objects.filter(pk=county.pk).values().get()
    result = county_onboard(config=county_config_read(county_config_path(slug)))
    assert not result.changed
    assert result.changes.changed == 0
    assert County.objects.filter(pk=county.pk).values().get() == before


def test_chengzhong_has_its_nine_windows_and_longjing_its_local_holiday(county_a, county_b):
    with tenant_context(county_a):
        assert Window.objects.count() == 9
        assert not LocalHoliday.objects.exists()
    with tenant_context(county_b):
        assert LocalHoliday.objects.filter(key="09-03").exists()
        assert DeadlineRule.objects.filter(unit="immediate").exists()


def test_changing_the_file_updates_and_deactivates_without_deleting(two_counties):
    first = onboard_minimal()
    data = minimal()
    data["windows"] = [dict(MINIMAL["windows"][0], name="新名字")]
    data["departments"] = data["departments"][:1]
    data["deadline_rules"] = data["deadline_rules"][:1]
    result = county_onboard(config=county_config_parse(yaml.safe_dump(data, allow_unicode=True), source="t.yaml"))
    assert not result.county_created and not result.schema_created
    assert result.changes.updated == 1 and result.changes.deactivated == 2
    with tenant_context(first.county):
        assert Window.objects.get(code="hall").name == "新名字"
        assert not Department.objects.get(code="market").is_active
        assert Department.objects.count() == 2


def test_a_failure_after_the_schema_is_made_leaves_nothing(two_counties, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("tenants.services.deadline_configuration_apply", explode)
    with pytest.raises(RuntimeError):
        onboard_minimal()
    assert not County.objects.filter(code="999901").exists()
    assert not Domain.objects.filter(domain="testxian.localhost").exists()
    assert not schema_exists("c999901")


def test_a_broken_file_is_refused_before_anything_is_written(two_counties):
    data = minimal()
    data["deadline_rules"][0]["department"] = "ghost"
    with pytest.raises(CountyConfigError):
        county_config_parse(yaml.safe_dump(data, allow_unicode=True), source="t.yaml")
    assert not County.objects.filter(code="999901").exists()


def test_a_slug_taken_by_another_county_is_a_conflict(two_counties):
    data = minimal()
    data["county"]["slug"] = "chengzhong"
    with pytest.raises(ApplicationError) as caught:
        county_onboard(config=county_config_parse(yaml.safe_dump(data, allow_unicode=True), source="t.yaml"))
    assert caught.value.code == TenantsErrorCode.COUNTY_CONFLICT
    assert "城中区" in caught.value.message
    assert not schema_exists("c999901")


def test_demo_accounts_are_made_once_with_random_passwords(two_counties):
    first = demo_accounts_ensure()
    assert {a.username for a in first} == {"operator", "admin", "clerk", "supervisor", "handler", "leader"}
    assert len({a.password for a in first}) == len(first)
    assert demo_accounts_ensure() == []
    assert current_schema() == "public"


def test_demo_accounts_are_refused_where_not_allowed(two_counties, settings):
    settings.DEMO_ACCOUNTS_ALLOWED = False
    with pytest.raises(ApplicationError) as caught:
        demo_accounts_ensure()
    assert caught.value.code == TenantsErrorCode.DEMO_NOT_ALLOWED


def test_the_retention_period_of_the_file_reaches_the_county(two_counties):
    first = onboard_minimal()
    assert first.county.personal_data_retention_days == 1095
    data = minimal()
    data["county"]["personal_data_retention_days"] = 400
    result = county_onboard(config=county_config_parse(yaml.safe_dump(data, allow_unicode=True), source="t.yaml"))
    assert result.registry_changed
    assert County.objects.get(pk=first.county.pk).personal_data_retention_days == 400


def test_reapplying_an_unchanged_configuration_keeps_a_suspended_or_failed_county_out_of_service(two_counties):
    county = onboard_minimal().county
    for status in (CountyStatus.SUSPENDED, CountyStatus.MIGRATION_FAILED):
        County.objects.filter(pk=county.pk).update(status=status)
        text = yaml.safe_dump(minimal(), allow_unicode=True)
        result = county_onboard(config=county_config_parse(text + "\n", source="t.yaml"))
        assert County.objects.get(pk=county.pk).status == status
        assert not result.changed


@pytest.mark.parametrize(
    ("failure", "said"),
    [(DataError("integer out of range"), "数据库"), (RuntimeError("boom"), "意外")],
    ids=["database", "unexpected"],
)
def test_a_batch_row_that_fails_is_that_rows_failure_and_the_batch_finishes(two_counties, monkeypatch, failure, said):
    batch = county_batch_create(
        csv_text="code,name\n160101,一县\n160102,二县\n",
        template_yaml=yaml.safe_dump(minimal(), allow_unicode=True),
        source_name="b.csv",
    )
    real = services.county_onboard

    def fail_first(*, config, **kwargs):
        if config.county.code == "160101":
            # Half made when it fails: the row's savepoint must take this away too.
            County.objects.create(schema_name="c160101", code="160101", slug="half-made", case_prefix="HM")
            raise failure
        return real(config=config, **kwargs)

    monkeypatch.setattr(services, "county_onboard", fail_first)
    done = county_batch_run(batch_id=batch.pk)
    assert (done.status, done.done, done.failed) == (BatchStatus.FINISHED, 2, 1)
    assert done.errors[0]["line"] == "b.csv:2" and said in done.errors[0]["message"]
    assert str(failure) not in done.errors[0]["message"]
    assert not County.objects.filter(code="160101").exists() and County.objects.filter(code="160102").exists()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.FINISHED and batch.finished_at is not None


def test_a_csv_field_over_the_csv_modules_limit_is_a_clear_error(two_counties):
    with pytest.raises(ApplicationError) as error:
        county_batch_create(
            csv_text="code,name\n130101," + "甲" * 200_000 + "\n",
            template_yaml=yaml.safe_dump(minimal(), allow_unicode=True),
            source_name="c.csv",
        )
    assert error.value.code == TenantsErrorCode.BATCH_INVALID
    assert "c.csv:2" in error.value.message and "CSV" in error.value.message and "无法读取" in error.value.message
    assert not CountyBatch.objects.exists()


def test_onboarding_by_an_operator_and_by_a_batch_is_audited(two_counties):
    operator = console_account("op-audit")
    config = county_config_parse(yaml.safe_dump(minimal(), allow_unicode=True), source="t.yaml")
    county_onboard_by_operator(actor=operator, config=config)
    batch = county_batch_create(
        csv_text="code,name\n160301,一县\n",
        template_yaml=yaml.safe_dump(minimal(), allow_unicode=True),
        source_name="b.csv",
        actor_name="op-audit",
    )
    county_batch_run(batch_id=batch.pk)
    with schema_context("public"):
        console = AuditRecord.objects.get(action="tenants.county_onboarded", object_id="999901")
        batched = AuditRecord.objects.get(action="tenants.county_onboarded", object_id="160301")
    assert console.actor_id == operator.pk and console.details["created"] is True
    assert batched.details["batch"] == batch.pk


def test_a_non_operator_cannot_onboard_and_nothing_is_written(two_counties):
    auditor = console_account("aud-x", role=PlatformRole.AUDITOR)
    config = county_config_parse(yaml.safe_dump(minimal(), allow_unicode=True), source="t.yaml")
    with pytest.raises(ApplicationError) as error:
        county_onboard_by_operator(actor=auditor, config=config)
    assert error.value.http_status == 403 and not County.objects.filter(code="999901").exists()


def test_a_case_number_prefix_once_used_is_never_given_to_another_county(two_counties):
    """Case numbers are quoted for years: a prefix a county gave up must not number another county's cases."""
    first = onboard_minimal().county
    onboard_minimal(county={**MINIMAL["county"], "case_prefix": "TY"})
    assert set(CasePrefixClaim.objects.filter(county_code=first.code).values_list("prefix", flat=True)) == {"TX", "TY"}
    other = {**MINIMAL["county"], "code": "999902", "slug": "testxian2", "case_prefix": "TX"}
    with pytest.raises(ApplicationError) as caught:
        onboard_minimal(county=other)
    assert caught.value.code == TenantsErrorCode.COUNTY_CONFLICT and "999901" in caught.value.message
    assert not County.objects.filter(code="999902").exists()
    # The county itself may go back to a prefix of its own.
    assert onboard_minimal().county.case_prefix == "TX"
    # Nor after it has left the platform.
    operator = console_account("op-prefix")
    services.county_removal_request(actor=operator, county=first)
    County.objects.filter(pk=first.pk).update(removal_hold_until=timezone.now() - datetime.timedelta(minutes=1))
    services.county_remove(actor=operator, county=first)
    with pytest.raises(ApplicationError):
        onboard_minimal(county={**other, "case_prefix": "TY"})
    assert onboard_minimal(county={**other, "case_prefix": "TZ"}).county_created


def test_the_demo_counties_hold_their_prefixes(county_a, county_b):
    assert CasePrefixClaim.objects.get(prefix=county_a.case_prefix).county_code == county_a.code
    assert CasePrefixClaim.objects.get(prefix=county_b.case_prefix).county_code == county_b.code


def test_two_operators_onboarding_one_new_county_at_once_both_succeed(two_counties, django_db_blocker):
    """Committed for real, from two connections: the second waits for the first, then changes nothing."""
    text = yaml.safe_dump(minimal(county={**MINIMAL["county"], "code": "999903", "slug": "race", "case_prefix": "RC"}))
    config = county_config_parse(text, source="race.yaml")
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def onboard() -> None:
        try:
            barrier.wait()
            results.append(county_onboard(config=config))
        except BaseException as exc:  # reported below
            results.append(exc)
        finally:
            connections.close_all()

    with django_db_blocker.unblock():
        threads = [threading.Thread(target=onboard) for _ in range(2)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert [type(r).__name__ for r in results] == ["OnboardResult", "OnboardResult"], results
            assert sorted(r.county_created for r in results) == [False, True]
        finally:
            # From a connection of its own: this test's own connection is inside the test's
            # transaction, which is rolled back, and the county would stay for the next files.
            cleanup = threading.Thread(target=_race_county_drop)
            cleanup.start()
            cleanup.join()


def _race_county_drop() -> None:
    try:
        with schema_context("public"), connection.cursor() as cursor:
            cursor.execute('DROP SCHEMA IF EXISTS "c999903" CASCADE')
            County.objects.filter(code="999903").delete()
            CasePrefixClaim.objects.filter(county_code="999903").delete()
    finally:
        connections.close_all()


def test_a_county_changing_its_own_holidays_moves_its_open_cases_deadlines(
    two_counties, monkeypatch, django_capture_on_commit_callbacks
):
    county = onboard_minimal().county
    with tenant_context(county):
        supervisor = UserFactory(username="boss-holiday")
        StaffProfileFactory(user=supervisor, role=StaffRole.SUPERVISOR)
        case = case_register(actor=supervisor, intake=case_intake(kind_code="case", category_code="simple"))
        due = case.reply_due_at
    assert due is not None
    queued: list[dict[str, Any]] = []
    monkeypatch.setattr(recompute_deadlines, "apply_async", lambda **message: queued.append(message))
    holidays = [*MINIMAL["holidays"], {"month_day": f"{timezone.localtime(due):%m-%d}", "name": "新增节日"}]
    with django_capture_on_commit_callbacks(execute=True):
        onboard_minimal(holidays=holidays)
        onboard_minimal(holidays=holidays, windows=[{**MINIMAL["windows"][0], "name": "新窗口"}])  # no calendar change
    message = {"kwargs": {"every_running": True}, "headers": {"_schema_name": county.schema_name}}
    assert queued == [message, {**message, "countdown": 90}]
    with tenant_context(county):  # what the task does there
        assert case_deadlines_recompute(every_running=True) == 1
        case.refresh_from_db()
        assert case.reply_due_at > due and case.events.last().action == "deadlines_recomputed"


def test_a_resumed_county_recounts_its_running_deadlines(two_counties, monkeypatch, django_capture_on_commit_callbacks):
    """While suspended it was left out of every dispatch, a calendar correction's recompute included."""
    county = onboard_minimal().county
    operator = console_account("op-resume")
    services.county_suspend(actor=operator, county=county, reason="整改")
    queued: list[dict[str, Any]] = []
    monkeypatch.setattr(recompute_deadlines, "apply_async", lambda **message: queued.append(message))
    with django_capture_on_commit_callbacks(execute=True):
        services.county_resume(actor=operator, county=county)
    assert [m["kwargs"] for m in queued] == [{"every_running": True}] * 2
    assert {m["headers"]["_schema_name"] for m in queued} == {county.schema_name}
