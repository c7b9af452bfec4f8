"""Onboarding counties: each demo county, idempotency, and all-or-nothing failure."""

from __future__ import annotations

import pytest
import yaml
from django_tenants.utils import schema_exists, tenant_context

from banchengshi.errors import ApplicationError
from banchengshi.tenancy import current_schema
from casework.models import Department, Window
from conftest import county_config_path
from sla.models import DeadlineRule, LocalHoliday
from tenants.config import county_config_parse, county_config_read
from tenants.errors import CountyConfigError, TenantsErrorCode
from tenants.models import County, CountyStatus, Domain
from tenants.services import county_onboard, demo_accounts_ensure
from tenants.tests.test_config import MINIMAL, minimal

pytestmark = pytest.mark.django_db


def onboard_minimal(**changes):
    return county_onboard(
        config=county_config_parse(yaml.safe_dump(minimal(**changes), allow_unicode=True), source="t.yaml")
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
