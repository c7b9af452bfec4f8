"""Schema-per-county at scale: migrate, onboard, export and restore with 100 / 1,000 / 3,000 counties.

    .venv/bin/python benchmarks/bench_tenants_scale.py --sizes 100,1000,3000

Builds, in its own database (``banchengshi_bench_tenants``), county schemas with the real tenant
apps' tables through the batch onboarding (a CSV of division codes and names plus 龙井市's
configuration as the template). At each size it then times: a new migration (a table with a
foreign key and an index, plus a column on an existing table) applied to every county by
``migrate_counties``; a run with nothing to do; onboarding one more county; exporting one
county and restoring it; and it checks that every county's schema equals the template's
(columns, indexes, constraints, triggers, functions, content types, migrations). Prints a table;
asserts nothing. Targets (issue 8, at 3,000): new migration < 5 min, no-op < 30 s, onboard one
< 2 s, 1,000 in a batch < 30 min, export < 2 s.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "banchengshi_bench_tenants"
PROBE_APP = "sla"


def _probe_package(root: Path) -> str:
    """A migrations package for sla: its real migrations, to which each size adds one new migration."""
    from django.db.migrations.loader import MigrationLoader

    package = "bench_probe_migrations"
    folder = root / package
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    loader = MigrationLoader(None, ignore_no_migrations=True)
    for name in sorted(name for app, name in loader.disk_migrations if app == PROBE_APP):
        (folder / f"{name}.py").write_text(
            f"from importlib import import_module\nMigration = import_module('sla.migrations.{name}').Migration\n"
        )
    sys.path.insert(0, str(root))
    return package


def _add_probe_migration(root: Path, package: str, size: int) -> None:
    folder = root / package
    names = sorted(p.stem for p in folder.glob("[0-9]*.py"))
    (folder / f"9{size:07d}_probe.py").write_text(
        "from django.db import migrations, models\n\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [('{PROBE_APP}', '{names[-1]}')]\n"
        "    operations = [\n"
        "        migrations.CreateModel(\n"
        f"            name='Probe{size}',\n"
        "            fields=[\n"
        "                ('id', models.BigAutoField(primary_key=True, serialize=False)),\n"
        "                ('label', models.CharField(max_length=20, db_index=True)),\n"
        "                ('rule', models.ForeignKey('sla.deadlinerule', on_delete=models.CASCADE)),\n"
        "            ],\n"
        "        ),\n"
        f"        migrations.AddField('deadlinerule', 'probe_{size}',\n"
        "            models.CharField(max_length=10, null=True, db_index=True)),\n"
        "    ]\n"
    )
    importlib.invalidate_caches()


def _backend_memory_mb() -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(total_bytes) FROM pg_backend_memory_contexts")
        return float(cursor.fetchone()[0]) / 1e6


def _csv_for(start: int, count: int) -> str:
    # Made-up six-digit codes in a range no real county uses, so nothing clashes with the demo files.
    lines = ["code,name"]
    lines += [f"{900000 + i},基准县{i}" for i in range(start, start + count)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,3000")
    parser.add_argument("--database", default=BENCH_DB, help="The database to (re)create for the benchmark.")
    args = parser.parse_args()
    bench_db = args.database
    sizes = [int(s) for s in args.sizes.split(",")]

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    if not os.environ.get("DATABASE_URL"):
        from banchengshi import embedded

        os.environ["DATABASE_URL"] = embedded.postgres_url()
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")  # not used here
    import psycopg

    admin = os.environ["DATABASE_URL"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{bench_db}"')
    parts = urlsplit(admin)
    os.environ["DATABASE_URL"] = urlunsplit((parts.scheme, parts.netloc, f"/{bench_db}", parts.query, ""))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import override_settings

    from sla.sweep.models import DeadlineEntry
    from tenants.config import county_config_parse
    from tenants.migrator import (
        TEMPLATE_SCHEMA,
        applied_migrations,
        counties_migrate,
        schema_fingerprints,
        schema_migrate_with_django,
    )
    from tenants.models import County, Domain
    from tenants.services import county_batch_create, county_batch_run, county_onboard
    from tenants.transfer import county_export, county_import

    call_command("migrate_schemas", "--shared", verbosity=0)
    template_yaml = (ROOT / "tenants" / "counties" / "longjing.yaml").read_text(encoding="utf-8")
    work = Path(tempfile.mkdtemp(prefix="bench-tenants-"))
    package = _probe_package(work)
    results: list[dict[str, Any]] = []
    built = 0
    with override_settings(MIGRATION_MODULES={PROBE_APP: package}):
        for size in sizes:
            row: dict[str, Any] = {"counties": size}
            # 1. Batch onboarding up to this size.
            count = size - built
            batch = county_batch_create(
                csv_text=_csv_for(built, count), template_yaml=template_yaml, source_name=f"bench-{size}.csv"
            )
            started = time.perf_counter()
            last = [started]

            def progress(b: Any, size: int = size, started: float = started, last: list[float] = last) -> None:
                now = time.perf_counter()
                if now - last[0] > 30:
                    last[0] = now
                    print(f"  [{size}] onboarded {b.done}/{b.total} ({b.done / (now - started):.1f}/s)", flush=True)

            done = county_batch_run(batch_id=batch.pk, progress=progress)
            batch_seconds = time.perf_counter() - started
            built = size
            row["batch"] = f"{count} in {batch_seconds:.0f} s ({batch_seconds / count * 1000 / 60:.1f} min/1,000)"
            row["batch_failed"] = done.failed
            connection.close()

            # 2. A new migration to every county.
            _add_probe_migration(work, package, size)
            peak = [0.0]

            def sample(
                done_count: int, total: int, schema: str, ok: bool, peak: list[float] = peak, size: int = size
            ) -> None:
                if done_count % 100 == 0 or done_count == total:
                    peak[0] = max(peak[0], _backend_memory_mb())
                if done_count % 500 == 0:
                    print(f"  [{size}] migrated {done_count}/{total}", flush=True)

            started = time.perf_counter()
            report = counties_migrate(progress=sample)
            row["migrate_new"] = time.perf_counter() - started
            row["migrate_failed"] = len(report.failed)
            row["peak_mb_recycled"] = peak[0]

            # 3. Nothing to do.
            started = time.perf_counter()
            noop = counties_migrate()
            row["migrate_noop"] = time.perf_counter() - started
            assert not noop.migrated

            # 4. Every county equals the template.
            started = time.perf_counter()
            schemas = list(County.objects.order_by("code").values_list("schema_name", flat=True))
            digests = schema_fingerprints([TEMPLATE_SCHEMA, *schemas])
            expected = digests.pop(TEMPLATE_SCHEMA)
            row["equal"] = f"{sum(1 for d in digests.values() if d == expected)}/{len(digests)}"
            row["verify"] = time.perf_counter() - started
            # The template itself against a schema Django's own migrate makes (timed: the wall).
            started = time.perf_counter()
            schema_migrate_with_django(schema="fresh_reference")
            row["django_one"] = time.perf_counter() - started
            reference = schema_fingerprints(["fresh_reference", TEMPLATE_SCHEMA])
            row["equal"] += " ✓" if reference["fresh_reference"] == reference[TEMPLATE_SCHEMA] else " ✗"
            with connection.cursor() as cursor:
                cursor.execute("DROP SCHEMA fresh_reference CASCADE")

            # 5. One connection that reads every county's tables, never recycled.
            connection.close()
            started = time.perf_counter()
            applied_migrations(schemas)
            row["one_conn_all_mb"] = _backend_memory_mb()
            connection.close()

            # 5b. django-tenants' cloning of the template, for comparison (timed and compared).
            from django_tenants.clone import CloneSchema

            started = time.perf_counter()
            CloneSchema().clone_schema(TEMPLATE_SCHEMA, "clone_probe", set_connection=False)
            row["clone"] = time.perf_counter() - started
            cloned = schema_fingerprints([TEMPLATE_SCHEMA, "clone_probe"])
            row["clone_equal"] = cloned[TEMPLATE_SCHEMA] == cloned["clone_probe"]
            with connection.cursor() as cursor:
                cursor.execute("DROP SCHEMA clone_probe CASCADE")

            # 6. Onboard one more county.
            code = str(990000 + size)
            data = template_yaml.replace('code: "222405"', f'code: "{code}"').replace(
                "slug: longjing", f"slug: one{size}"
            )
            # Two letters: batch counties get four, so this one never clashes with them.
            data = data.replace("case_prefix: LJ", f"case_prefix: O{chr(65 + sizes.index(size))}")
            config = county_config_parse(data, source="one.yaml")
            started = time.perf_counter()
            county_onboard(config=config)
            row["onboard_one"] = time.perf_counter() - started

            # 7. Export one county and restore it after removing it.
            county = County.objects.get(code=code)
            started = time.perf_counter()
            exported = county_export(county=county, destination=work / f"export-{size}.tar.gz")
            row["export"] = time.perf_counter() - started
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA "{county.schema_name}" CASCADE')
            DeadlineEntry.objects.filter(schema_name=county.schema_name).delete()
            Domain.objects.filter(tenant=county).delete()
            County.objects.filter(pk=county.pk).delete()
            started = time.perf_counter()
            county_import(archive_path=exported.path)
            row["restore"] = time.perf_counter() - started
            results.append(row)
            connection.close()
            _print(results)


def _print(results: list[dict[str, Any]]) -> None:
    print()
    print(
        f"{'counties':>8} | {'new migration, all':>18} | {'no-op':>6} | {'onboard one':>11} | "
        f"{'batch onboard':>32} | {'export':>6} | {'restore':>7} | {'= template, ✓ = fresh':>21} | {'verify':>6} | "
        f"{'conn MB recycled':>16} | {'conn MB one pass':>16} | {'Django migrate, one schema':>26} | "
        f"{'django-tenants clone':>20}"
    )
    for r in results:
        print(
            f"{r['counties']:>8} | {r['migrate_new']:>16.1f} s | {r['migrate_noop']:>4.2f} s | "
            f"{r['onboard_one']:>9.2f} s | "
            f"{r['batch']:>32} | {r['export']:>4.2f} s | {r['restore']:>5.2f} s | {r['equal']:>21} | "
            f"{r['verify']:>4.0f} s | {r['peak_mb_recycled']:>16.1f} | {r['one_conn_all_mb']:>16.1f} | "
            f"{r['django_one']:>24.1f} s | {r['clone']:>9.1f} s ({'=' if r['clone_equal'] else '≠'} template)"
        )
    failures = [
        (r["counties"], r["batch_failed"], r["migrate_failed"])
        for r in results
        if r["batch_failed"] or r["migrate_failed"]
    ]
    if failures:
        print(f"failures (size, batch, migrate): {failures}")
    print(flush=True)


if __name__ == "__main__":
    main()
