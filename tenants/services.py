"""Writes to the county registry: onboarding and the demo accounts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _
from django_tenants.utils import get_public_schema_name, schema_context, schema_exists, tenant_context

from banchengshi.errors import ApplicationError
from banchengshi.sync import ChangeSummary
from casework.models import StaffRole
from casework.selectors import department_list
from casework.services import reference_data_apply, staff_create
from sla.services import deadline_configuration_apply
from tenants.config import CountyConfig
from tenants.errors import TenantsErrorCode
from tenants.models import County, CountyStatus, Domain


@dataclass
class OnboardResult:
    county: County
    county_created: bool
    schema_created: bool
    registry_changed: bool
    changes: ChangeSummary

    @property
    def changed(self) -> bool:
        return self.county_created or self.schema_created or self.registry_changed or self.changes.changed > 0


def county_domain(slug: str) -> str:
    return f"{slug}.{settings.COUNTY_DOMAIN_SUFFIX}"


def county_onboard(*, config: CountyConfig) -> OnboardResult:
    """Create or update a county from its configuration, all or nothing.

    The schema, its tables and the county's configuration are made in one transaction
    (PostgreSQL rolls DDL back too), so a failure leaves no half-made county. Running the same
    configuration again changes nothing.
    """
    spec = config.county
    with schema_context(get_public_schema_name()), transaction.atomic():
        _check_conflicts(config)
        county = County.objects.select_for_update().filter(code=spec.code).first()
        county_created = county is None
        if county is None:
            county = County(schema_name=f"c{spec.code}", code=spec.code, status=CountyStatus.ONBOARDING)
        registry = {
            "slug": spec.slug,
            "name": spec.name,
            "full_name": spec.full_name,
            "province": spec.province,
            "city": spec.city,
            "case_prefix": spec.case_prefix,
            "window_name": spec.window_name,
        }
        changed_fields = [name for name, value in registry.items() if getattr(county, name) != value]
        for name in changed_fields:
            setattr(county, name, registry[name])
        if county_created or changed_fields:
            county.save()

        schema_created = not schema_exists(county.schema_name)
        if schema_created:
            county.create_schema(check_if_exists=True, verbosity=0)
        domain_changed = _domain_sync(county)
        with tenant_context(county):
            changes = reference_data_apply(
                windows=config.windows,
                departments=config.departments,
                request_kinds=config.request_kinds,
                categories=config.categories,
                causes=config.causes,
            ) + deadline_configuration_apply(
                rules=config.deadline_rules, holidays=config.holidays, office_hours=config.office_hours
            )

        final = {"config_digest": config.digest}
        if county.status in {CountyStatus.ONBOARDING, CountyStatus.MIGRATION_FAILED}:
            final["status"] = CountyStatus.ACTIVE
        final_changed = [name for name, value in final.items() if getattr(county, name) != value]
        for name in final_changed:
            setattr(county, name, final[name])
        if final_changed:
            county.save(update_fields=[*final_changed, "updated_at"])
    return OnboardResult(
        county=county,
        county_created=county_created,
        schema_created=schema_created,
        registry_changed=bool(changed_fields or domain_changed or final_changed) and not county_created,
        changes=changes,
    )


def _check_conflicts(config: CountyConfig) -> None:
    spec = config.county
    for field, value in (("slug", spec.slug), ("case_prefix", spec.case_prefix)):
        other = County.objects.filter(**{field: value}).exclude(code=spec.code).first()
        if other is not None:
            raise ApplicationError(
                TenantsErrorCode.COUNTY_CONFLICT,
                _("%(source)s: county.%(field)s “%(value)s” is already used by %(other)s (%(code)s).")
                % {
                    "source": config.source,
                    "field": field,
                    "value": value,
                    "other": other.full_name,
                    "code": other.code,
                },
                http_status=409,
            )


def _domain_sync(county: County) -> bool:
    wanted = county_domain(county.slug)
    primary = Domain.objects.filter(tenant=county, is_primary=True).first()
    if primary is None:
        Domain.objects.create(tenant=county, domain=wanted, is_primary=True)
        return True
    if primary.domain != wanted:
        primary.domain = wanted
        primary.save(update_fields=["domain"])
        return True
    return False


@dataclass(frozen=True)
class DemoAccount:
    host: str
    username: str
    password: str


def demo_accounts_ensure() -> list[DemoAccount]:
    """Create the demo operator and one admin per active county, where missing.

    Passwords are random and returned only when the account is created; production settings
    refuse to run this at all.
    """
    if not settings.DEMO_ACCOUNTS_ALLOWED:
        raise ApplicationError(
            TenantsErrorCode.DEMO_NOT_ALLOWED, _("Demo accounts are not allowed in this deployment.")
        )
    created: list[DemoAccount] = []
    with schema_context(get_public_schema_name()):
        counties = list(County.objects.filter(status=CountyStatus.ACTIVE))
        account = _demo_user("operator", _("Provincial operator"), superuser=True)
        if account:
            created.append(DemoAccount(host=settings.COUNTY_DOMAIN_SUFFIX, username="operator", password=account))
    for county in counties:
        with tenant_context(county):
            handler_department = department_list().filter(runs_window=False).first()
            for username, role, department in (
                ("admin", StaffRole.COUNTY_ADMIN, None),
                ("clerk", StaffRole.WINDOW_CLERK, None),
                ("supervisor", StaffRole.SUPERVISOR, None),
                ("handler", StaffRole.DEPARTMENT_HANDLER, handler_department),
                ("leader", StaffRole.LEADER, None),
            ):
                if get_user_model().objects.filter(username=username).exists():
                    continue
                password = secrets.token_urlsafe(9)
                staff_create(
                    actor=None,
                    username=username,
                    name=f"{county.name}{StaffRole(role).label}",
                    role=role,
                    password=password,
                    department_code=department.code if department else "",
                )
                created.append(DemoAccount(host=county_domain(county.slug), username=username, password=password))
    return created


def _demo_user(username: str, name: str, *, superuser: bool) -> str | None:
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        return None
    password = secrets.token_urlsafe(9)
    user_model.objects.create_user(
        username=username, password=password, name=name, is_staff=True, is_superuser=superuser
    )
    return password
