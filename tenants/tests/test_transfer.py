"""Export one county and restore it: the same cases, files, deadline index rows and schema."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from banchengshi.errors import ApplicationError
from casework.models import Case, CaseEvent, Channel
from casework.services import CaseIntake, case_register
from conftest import database_url_for_processes
from sla.sweep.models import DeadlineEntry
from tenants.errors import TenantsErrorCode
from tenants.migrator import TEMPLATE_SCHEMA, schema_fingerprint_lines
from tenants.models import County, Domain
from tenants.transfer import county_export, county_import

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def register_case(county: County, matter: str) -> Case:
    with tenant_context(county):
        return case_register(
            actor=None,
            intake=CaseIntake(
                matter=matter,
                description="经营范围“交通安全统筹”不在行业分类中，未予登记。",
                citizen_name="廖女士",
                citizen_phone="13800000000",
                channel=Channel.ONLINE,
                kind_code="case",
            ),
        )


def cases_of(county: County) -> list[tuple[str, str, str, str, int]]:
    with tenant_context(county):
        return [
            (c.number, c.matter, c.citizen_name, c.status, CaseEvent.objects.filter(case=c).count())
            for c in Case.objects.order_by("number")
        ]


def county_forget(county: County) -> None:
    """Remove the county from this deployment entirely, as if it had never been here."""
    with connection.cursor() as cursor:
        # The test's own transaction still holds deferred foreign-key checks on these tables.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f'DROP SCHEMA "{county.schema_name}" CASCADE')
    DeadlineEntry.objects.filter(schema_name=county.schema_name).delete()
    Domain.objects.filter(tenant=county).delete()
    County.objects.filter(pk=county.pk).delete()


def test_an_exported_county_restores_with_the_same_cases_files_and_schema(county_a, tmp_path):
    first = register_case(county_a, "公司经营范围登记")
    register_case(county_a, "护照加急")
    DeadlineEntry.objects.get_or_create(
        schema_name=county_a.schema_name, case_id=first.id, clock="reply", defaults={"due_at": timezone.now()}
    )
    media = Path(settings.MEDIA_ROOT) / county_a.schema_name / f"probe-{uuid.uuid4().hex[:6]}" / "材料.txt"
    media.parent.mkdir(parents=True, exist_ok=True)
    media.write_text("附件", encoding="utf-8")
    before = cases_of(county_a)
    entries = sorted(DeadlineEntry.objects.filter(schema_name=county_a.schema_name).values_list("case_id", "clock"))
    assert len(before) >= 2 and entries

    exported = county_export(county=county_a, destination=tmp_path / "county.tar.gz")
    assert exported.rows > 0 and exported.files >= 1
    county_forget(county_a)
    media.unlink()

    restored = county_import(archive_path=exported.path)
    county = restored.county
    assert (county.code, county.slug, county.schema_name) == (county_a.code, county_a.slug, county_a.schema_name)
    assert cases_of(county) == before
    assert sorted(DeadlineEntry.objects.filter(schema_name=county.schema_name).values_list("case_id", "clock")) == (
        entries
    )
    assert media.read_text(encoding="utf-8") == "附件"
    lines = schema_fingerprint_lines([TEMPLATE_SCHEMA, county.schema_name])
    assert lines[TEMPLATE_SCHEMA] == lines[county.schema_name]
    # New rows continue after the restored ones (identity sequences were moved on).
    register_case(county, "新的诉求")
    assert len(cases_of(county)) == len(before) + 1


def test_restoring_a_county_that_exists_is_refused(county_b, tmp_path):
    exported = county_export(county=county_b, destination=tmp_path / "county.tar.gz")
    with pytest.raises(ApplicationError) as error:
        county_import(archive_path=exported.path)
    assert error.value.code == TenantsErrorCode.COUNTY_CONFLICT


def test_a_county_restores_into_an_empty_database(county_b, tmp_path):
    """Another deployment: a new database with only the public schema migrated, restored by command."""
    register_case(county_b, "新生儿一件事")
    before = cases_of(county_b)
    exported = county_export(county=county_b, destination=tmp_path / "county.tar.gz")
    target = f"{connection.settings_dict['NAME']}_restore"
    with psycopg.connect(database_url_for_processes("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{target}"')
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_processes(target),
        "DJANGO_SETTINGS_MODULE": "banchengshi.settings.test",
    }
    try:
        for argv in (["migrate_schemas", "--shared", "-v", "0"], ["county_import", str(exported.path)]):
            subprocess.run([sys.executable, str(ROOT / "manage.py"), *argv], env=env, cwd=ROOT, check=True)  # noqa: S603
        with psycopg.connect(database_url_for_processes(target)) as restored:
            rows = restored.execute(
                f'SELECT c.number, c.matter, c.citizen_name, c.status, (SELECT count(*) FROM "{county_b.schema_name}"'  # noqa: S608
                f'.casework_caseevent e WHERE e.case_id = c.id) FROM "{county_b.schema_name}".casework_case c '
                "ORDER BY c.number"
            ).fetchall()
            domain = restored.execute("SELECT domain FROM tenants_domain").fetchone()
        assert [tuple(row) for row in rows] == before
        assert domain == (f"{county_b.slug}.{settings.COUNTY_DOMAIN_SUFFIX}",)
    finally:
        with psycopg.connect(database_url_for_processes("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


def test_an_archive_sealed_with_keys_this_deployment_lacks_is_refused(county_a, tmp_path, settings):
    from banchengshi.keyring import key_generate
    from tenants.errors import TenantsErrorCode

    register_case(county_a, "公司经营范围登记")
    exported = county_export(county=county_a, destination=tmp_path / "county.tar.gz")
    county_forget(county_a)
    settings.FIELD_ENCRYPTION_KEYS = key_generate("other")  # another deployment's ring
    with pytest.raises(ApplicationError) as refused:
        county_import(archive_path=exported.path)
    assert refused.value.code == TenantsErrorCode.ARCHIVE_KEYS_MISSING and "dev" in refused.value.message
    assert not County.objects.filter(code=county_a.code).exists()
