"""The county migration executor: same schema as Django's migrate, resumable, failures kept out of service."""

from __future__ import annotations

import difflib
import uuid
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from banchengshi.core.hosts import HostCache
from banchengshi.core.middleware import CountyRoutingMiddleware
from banchengshi.errors import ApplicationError
from conftest import database_url_for_processes, host_of
from tenants.errors import TenantsErrorCode
from tenants.migrator import (
    LOCK_NAMESPACE,
    TEMPLATE_SCHEMA,
    counties_migrate,
    counties_up_to_date,
    plan_render,
    schema_fingerprint_lines,
    schema_migrate_with_django,
    schema_plan_load,
)
from tenants.models import County, CountyStatus, MigrationKind

pytestmark = pytest.mark.django_db

PROBE_APP = "sla"


def assert_same_schema(reference: str, others: list[str]) -> None:
    lines = schema_fingerprint_lines([reference, *others])
    for schema in others:
        diff = list(difflib.unified_diff(lines[reference], lines[schema], reference, schema, lineterm=""))
        assert not diff, "\n".join(diff[:60])


def probe_migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, operations: str, imports: str = "") -> str:
    """A migrations package for ``sla``: its real migrations plus one new one, ``9999_probe``."""
    package = f"probe_migrations_{uuid.uuid4().hex[:8]}"
    root = tmp_path / package
    root.mkdir()
    (root / "__init__.py").write_text("")
    loader = MigrationLoader(None, ignore_no_migrations=True)
    names = sorted(name for app, name in loader.disk_migrations if app == PROBE_APP)
    for name in names:
        (root / f"{name}.py").write_text(
            f"from importlib import import_module\nMigration = import_module('sla.migrations.{name}').Migration\n"
        )
    (root / "9999_probe.py").write_text(
        "from django.db import migrations, models\n"
        f"{imports}\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [('{PROBE_APP}', '{names[-1]}')]\n"
        f"    operations = {operations}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return package


ADD_TABLE = """[
        migrations.CreateModel(
            name="Probe",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("label", models.CharField(max_length=20, db_index=True)),
                ("rule", models.ForeignKey("sla.deadlinerule", on_delete=models.CASCADE)),
            ],
        ),
        migrations.AddField("deadlinerule", "probe_note", models.CharField(max_length=10, default="x")),
    ]"""


def test_every_county_schema_equals_a_freshly_migrated_one(county_a, county_b):
    schema_migrate_with_django(schema="fresh_reference")
    assert_same_schema("fresh_reference", [TEMPLATE_SCHEMA, county_a.schema_name, county_b.schema_name])


def test_nothing_to_do_is_known_from_one_query(county_a, county_b, django_assert_max_num_queries):
    counties_migrate()
    plan = schema_plan_load()
    with django_assert_max_num_queries(1):
        assert counties_up_to_date(plan)


def test_a_new_migration_reaches_every_county_and_an_interrupted_run_resumes(county_a, county_b, tmp_path, monkeypatch):
    package = probe_migrations(tmp_path, monkeypatch, operations=ADD_TABLE)
    with override_settings(MIGRATION_MODULES={PROBE_APP: package}):
        plan = schema_plan_load()
        assert not counties_up_to_date(plan)

        class Interrupted(Exception):
            pass

        def stop_after_first(done, total, schema, ok):
            raise Interrupted

        with pytest.raises(Interrupted):
            counties_migrate(progress=stop_after_first)
        migrated = {schema: _has_table(schema, "sla_probe") for schema in (county_a.schema_name, county_b.schema_name)}
        assert sorted(migrated.values()) == [False, True]

        report = counties_migrate()
        assert report.migrated == [schema for schema, done in migrated.items() if not done]
        assert not report.failed
        assert counties_up_to_date(plan)
        schema_migrate_with_django(schema="fresh_reference")
        assert_same_schema("fresh_reference", [TEMPLATE_SCHEMA, county_a.schema_name, county_b.schema_name])


def test_a_county_whose_migration_fails_is_marked_kept_out_of_service_and_recovers(
    county_a, county_b, tmp_path, monkeypatch, settings, django_capture_on_commit_callbacks
):
    # A web process that served both counties before the run, and keeps hosts for an hour: the
    # run's status changes reach it at its next request all the same.
    settings.TENANT_CACHE_SECONDS = 3600
    web = HostCache()
    assert routed_status(county_b, web) == routed_status(county_a, web) == 200
    operations = """[migrations.RunSQL(
        "DO $$ BEGIN IF current_schema() = 'c222405' AND to_regclass('public.probe_fail') IS NOT NULL "
        "THEN RAISE EXCEPTION 'disk full'; END IF; END $$; CREATE TABLE probe_ok (id int);",
        "DROP TABLE probe_ok;",
    )]"""
    package = probe_migrations(tmp_path, monkeypatch, operations=operations)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE public.probe_fail (id int)")
    with override_settings(MIGRATION_MODULES={PROBE_APP: package}):
        with django_capture_on_commit_callbacks(execute=True):
            report = counties_migrate()
        assert list(report.failed) == [county_b.schema_name]
        assert "disk full" in report.failed[county_b.schema_name]
        failed = County.objects.get(pk=county_b.pk)
        assert failed.status == CountyStatus.MIGRATION_FAILED and "disk full" in failed.migration_error
        assert not _has_table(county_b.schema_name, "probe_ok")
        assert _has_table(county_a.schema_name, "probe_ok")
        assert routed_status(county_b, web) == 503
        assert routed_status(county_a, web) == 200

        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE public.probe_fail")
        with django_capture_on_commit_callbacks(execute=True):
            report = counties_migrate()
        assert report.migrated == [county_b.schema_name] and not report.failed
        recovered = County.objects.get(pk=county_b.pk)
        assert recovered.status == CountyStatus.ACTIVE and recovered.migration_error == ""
        assert routed_status(county_b, web) == 200


def test_a_data_migration_runs_through_django_in_every_county(county_a, county_b, tmp_path, monkeypatch):
    operations = """[migrations.RunPython(forwards, migrations.RunPython.noop)]"""
    imports = (
        "def forwards(apps, schema_editor):\n"
        "    Holiday = apps.get_model('sla', 'LocalHoliday')\n"
        "    Holiday.objects.create(key='12-31', name='probe')\n"
    )
    package = probe_migrations(tmp_path, monkeypatch, operations=operations, imports=imports)
    with override_settings(MIGRATION_MODULES={PROBE_APP: package}):
        plan = schema_plan_load()
        assert plan.migrations[[m.key for m in plan.migrations].index((PROBE_APP, "9999_probe"))].kind == (
            MigrationKind.PYTHON
        )
        report = counties_migrate()
        assert sorted(report.migrated) == sorted([county_a.schema_name, county_b.schema_name])
        for schema in (county_a.schema_name, county_b.schema_name, TEMPLATE_SCHEMA):
            with connection.cursor() as cursor:
                cursor.execute(f'SELECT count(*) FROM "{schema}".sla_localholiday WHERE name = %s', ["probe"])  # noqa: S608
                assert cursor.fetchone()[0] == 1


def test_a_changed_migration_file_rebuilds_the_template(county_a, tmp_path, monkeypatch):
    first = probe_migrations(tmp_path, monkeypatch, operations="[migrations.RunSQL('CREATE TABLE probe_a (id int)')]")
    with override_settings(MIGRATION_MODULES={PROBE_APP: first}):
        plan_render()
        assert _has_table(TEMPLATE_SCHEMA, "probe_a")
    second = probe_migrations(tmp_path, monkeypatch, operations="[migrations.RunSQL('CREATE TABLE probe_b (id int)')]")
    with override_settings(MIGRATION_MODULES={PROBE_APP: second}):
        rendered = plan_render()
        assert _has_table(TEMPLATE_SCHEMA, "probe_b") and not _has_table(TEMPLATE_SCHEMA, "probe_a")
        assert "probe_b" in rendered.sql[(PROBE_APP, "9999_probe")]


def routed_status(county: County, hosts: HostCache | None = None) -> int:
    # The routing middleware alone, so the check does not depend on the rest of the stack; with
    # ``hosts``, a web process that keeps the hosts it looked up.
    middleware = CountyRoutingMiddleware(lambda request: HttpResponse("served"), hosts=hosts)
    request = RequestFactory().get("/", HTTP_HOST=host_of(county))
    request.user = AnonymousUser()
    return middleware(request).status_code


def _has_table(schema: str, table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f'"{schema}".{table}'])
        return cursor.fetchone()[0] is not None


def test_a_county_whose_tables_stay_locked_fails_fast_and_the_others_go_on(county_a, county_b, tmp_path, monkeypatch):
    package = probe_migrations(tmp_path, monkeypatch, operations=ADD_TABLE)
    with (
        psycopg.connect(database_url_for_processes()) as other,
        override_settings(MIGRATION_MODULES={PROBE_APP: package}),
    ):
        other.execute(f'LOCK TABLE "{county_b.schema_name}".sla_deadlinerule IN ACCESS EXCLUSIVE MODE')
        report = counties_migrate(lock_timeout_ms=300)
        other.rollback()
    assert list(report.failed) == [county_b.schema_name] and "lock" in report.failed[county_b.schema_name]
    assert report.migrated == [county_a.schema_name]
    assert County.objects.get(pk=county_b.pk).status == CountyStatus.MIGRATION_FAILED


def test_a_second_run_at_the_same_time_is_refused(county_a, tmp_path, monkeypatch):
    package = probe_migrations(tmp_path, monkeypatch, operations=ADD_TABLE)
    with (
        psycopg.connect(database_url_for_processes(), autocommit=True) as other,
        override_settings(MIGRATION_MODULES={PROBE_APP: package}),
    ):
        other.execute("SELECT pg_advisory_lock(%s, 2)", [LOCK_NAMESPACE])
        with pytest.raises(ApplicationError) as error:
            counties_migrate()
    assert error.value.code == TenantsErrorCode.MIGRATION_RUNNING
    assert not _has_table(county_a.schema_name, "sla_probe")
