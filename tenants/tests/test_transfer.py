"""Export one county and restore it: the same cases, files, schema and public rows (deadline index,
configuration history, forwarding agreements, envelopes in transit)."""

from __future__ import annotations

import datetime
import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from banchengshi.errors import ApplicationError
from casework.exchange.models import Envelope, EnvelopeKind, ForwardAgreement
from casework.models import Case, CaseEvent, Channel
from casework.services import CaseIntake, case_register, deadline_events_fire
from conftest import database_url_for_processes
from sla.sweep.models import DeadlineEntry
from tenants.errors import TenantsErrorCode
from tenants.migrator import TEMPLATE_SCHEMA, schema_fingerprint_lines
from tenants.models import County, CountyConfigVersion, Domain
from tenants.transfer import county_export, county_import

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def register_case(county: County, matter: str, category_code: str = "") -> Case:
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
                category_code=category_code,
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


def _index_of(county: County) -> list[tuple]:
    return sorted(
        DeadlineEntry.objects.filter(schema_name=county.schema_name).values_list(
            "case_id", "clock", "due_at", "warn_at", "warned_at", "overdue_at", "escalation", "next_check_at"
        )
    )


def _envelope(county: County, *, delivered: bool = False, target: County | None = None) -> Envelope:
    target = target or county
    return Envelope.objects.create(
        kind=EnvelopeKind.FORWARD, forward_id=uuid.uuid4(), source_code="999002", target_code=target.code,
        target_schema=target.schema_name, payload={"matter": "异地代办"},
        delivered_at=timezone.now() if delivered else None,
    )  # fmt: skip


def test_the_countys_public_rows_travel_with_it_and_its_deadline_index_works_after(county_a, county_b, tmp_path):
    case = register_case(county_a, "户籍迁移", "simple")  # 3 working days to reply
    # A warning already fired on one clock: the restored index must remember it (no second notice).
    warned = DeadlineEntry.objects.filter(schema_name=county_a.schema_name, case_id=case.id).order_by("clock").first()
    assert warned is not None, "registering a case indexes its running clocks"
    DeadlineEntry.objects.filter(pk=warned.pk).update(warned_at=timezone.now())
    index = _index_of(county_a)
    versions = list(
        CountyConfigVersion.objects.filter(county=county_a).order_by("number").values_list("number", "yaml_text")
    )
    assert versions, "onboarding recorded the configuration"
    ours = ForwardAgreement.objects.create(first_code=county_a.code, second_code="999001", created_by="op")
    kept = ForwardAgreement.objects.create(first_code="999001", second_code="999003", created_by="op")
    waiting = _envelope(county_a)
    delivered = _envelope(county_a, delivered=True)
    for_b = _envelope(county_a, target=county_b)
    digest = county_a.config_digest

    exported = county_export(county=county_a, destination=tmp_path / "county.tar.gz")
    county_forget(county_a)
    # Another deployment has none of it; the other counties' rows stay where they are.
    ForwardAgreement.objects.filter(pk=ours.pk).delete()
    Envelope.objects.filter(pk__in=[waiting.pk, delivered.pk]).delete()

    county = county_import(archive_path=exported.path).county
    assert _index_of(county) == index
    assert county.config_digest == digest
    assert (
        list(CountyConfigVersion.objects.filter(county=county).order_by("number").values_list("number", "yaml_text"))
        == versions
    )
    assert ForwardAgreement.objects.filter(pk=ours.pk, first_code=county.code, ended_at=None).exists()
    assert ForwardAgreement.objects.filter(pk=kept.pk).count() == 1
    assert set(Envelope.objects.filter(target_code=county.code).values_list("pk", flat=True)) == {waiting.pk}
    assert Envelope.objects.filter(pk=for_b.pk, target_code=county_b.code).exists()

    # The restored index drives the restored cases: a clock that runs out fires on that case.
    past = timezone.now() - datetime.timedelta(minutes=1)
    entry = DeadlineEntry.objects.get(schema_name=county.schema_name, case_id=case.id, clock=warned.clock)
    DeadlineEntry.objects.filter(pk=entry.pk).update(due_at=past, next_check_at=past)
    with tenant_context(county):
        deadline_events_fire(entry_ids=[entry.pk])
        assert CaseEvent.objects.filter(case_id=case.id, action="overdue").count() == 1
        # ... and the warning that had fired before the move does not fire again.
        assert not CaseEvent.objects.filter(case_id=case.id, action="deadline_warning").exists()


def test_restoring_where_the_countys_public_rows_are_still_present_keeps_one_of_each(county_a, tmp_path):
    """Back into the deployment it left: agreements and envelopes still here are not doubled."""
    register_case(county_a, "医保报销", "simple")
    agreement = ForwardAgreement.objects.create(first_code=county_a.code, second_code="999004", created_by="op")
    waiting = _envelope(county_a)
    entries = len(_index_of(county_a))
    exported = county_export(county=county_a, destination=tmp_path / "county.tar.gz")
    county_forget(county_a)

    county = county_import(archive_path=exported.path).county
    assert ForwardAgreement.objects.filter(first_code=county.code, second_code="999004").count() == 1
    assert ForwardAgreement.objects.filter(pk=agreement.pk).exists()
    assert Envelope.objects.filter(pk=waiting.pk).count() == 1
    assert len(_index_of(county)) == entries


def _bytes(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(member)
    return handle.read() if handle is not None else b""


def _with_manifest(exported: Path, altered: Path, change: Any) -> Path:
    """A copy of an export archive whose manifest ``change`` (a function of the dict) rewrote."""
    with tarfile.open(exported, "r:gz") as archive:
        members = [(m, _bytes(archive, m)) for m in archive.getmembers()]
    with tarfile.open(altered, "w:gz") as archive:
        for member, data in members:
            if member.name == "manifest.json":
                manifest = json.loads(data)
                change(manifest)
                data = json.dumps(manifest).encode()
                member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return altered


def test_an_archive_with_public_rows_this_version_does_not_know_is_refused(county_b, tmp_path):
    exported = county_export(county=county_b, destination=tmp_path / "county.tar.gz")

    def add_future_table(manifest: dict[str, Any]) -> None:
        manifest["public_tables"].append({"name": "future_table", "columns": ["x"], "rows": 0})

    altered = _with_manifest(exported.path, tmp_path / "altered.tar.gz", add_future_table)
    with pytest.raises(ApplicationError) as error:
        county_import(archive_path=altered)
    assert error.value.code == TenantsErrorCode.ARCHIVE_NEWER and "future_table" in error.value.message


def test_restoring_a_county_that_exists_is_refused(county_b, tmp_path):
    exported = county_export(county=county_b, destination=tmp_path / "county.tar.gz")
    with pytest.raises(ApplicationError) as error:
        county_import(archive_path=exported.path)
    assert error.value.code == TenantsErrorCode.COUNTY_CONFLICT


def test_a_county_restores_into_an_empty_database(county_b, tmp_path):
    """Another deployment: a new database with only the public schema migrated, restored by command."""
    register_case(county_b, "新生儿一件事", "simple")
    before = cases_of(county_b)
    index = [(str(case_id), clock) for case_id, clock, *_rest in _index_of(county_b)]
    versions = CountyConfigVersion.objects.filter(county=county_b).count()
    agreement = ForwardAgreement.objects.create(first_code=county_b.code, second_code="999005", created_by="op")
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
            restored_index = restored.execute(
                "SELECT case_id::text, clock FROM sla_sweep_deadlineentry WHERE schema_name = %s ORDER BY 1, 2",
                [county_b.schema_name],
            ).fetchall()
            restored_versions = restored.execute(
                "SELECT count(*) FROM tenants_countyconfigversion v JOIN tenants_county c ON c.id = v.county_id "
                "WHERE c.code = %s",
                [county_b.code],
            ).fetchone()
            agreements = restored.execute(
                "SELECT id, first_code, second_code FROM exchange_forwardagreement"
            ).fetchall()
        assert [tuple(row) for row in rows] == before
        assert domain == (f"{county_b.slug}.{settings.COUNTY_DOMAIN_SUFFIX}",)
        assert index and [tuple(row) for row in restored_index] == sorted(index)
        assert restored_versions == (versions,) and versions >= 1
        assert [tuple(row) for row in agreements] == [(agreement.pk, county_b.code, "999005")]
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


def test_restoring_a_county_whose_slug_another_county_has_is_a_conflict(county_a, tmp_path):
    exported = county_export(county=county_a, destination=tmp_path / "county.tar.gz")

    def another_code(manifest: dict[str, Any]) -> None:  # same slug and prefix, another county
        manifest["county"]["code"], manifest["schema_name"] = "999902", "c999902"

    altered = _with_manifest(exported.path, tmp_path / "altered.tar.gz", another_code)
    with pytest.raises(ApplicationError) as error:
        county_import(archive_path=altered)
    assert error.value.code == TenantsErrorCode.COUNTY_CONFLICT and error.value.http_status == 409
    assert "slug" in error.value.message
    assert not County.objects.filter(code="999902").exists()
