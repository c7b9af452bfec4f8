# ruff: noqa: S608 - the benchmark builds its SQL from its own constants and numbers
"""Reports at scale: a county's quarterly PDF with 10,000 cases, province-wide figures and PDF over 3,000 counties.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python benchmarks/bench_reports.py [--cases 10000] [--counties 3000] [--per-county 20]

Works in its own database (``banchengshi_bench_reports``, dropped and created again; DATABASE_URL
names the server and a database to connect to first). 城中区 is onboarded for real (every
migration), then ``--cases`` cases of the first quarter of 2025 are written by SQL with replies,
follow-ups, ratings (some 差评), assignments (some returned), reopened and forwarded ones, so every
figure has something to count. The other counties are built cheaply: one schema each holding only
the tables a county's figures read, cloned with ``CREATE TABLE … (LIKE c450202.… INCLUDING ALL)``,
with the reference rows and ``--per-county`` cases copied from 城中区, and a County row each. Then
every county writes its rows of the province's snapshot (background work in production: a county
task every 10 minutes for the days whose cases changed, a full rebuild nightly), and the province's
figures and PDF are read from it. Building 3,000 schemas takes a few minutes.

Times are wall-clock; peak memory is Python's (tracemalloc) in a second, separate run of each step.
Prints a table; asserts nothing. Targets (issue 7): quarterly PDF < 3 s for ~10 pages;
province-wide figures and PDF for 3,000 counties < 30 s.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "banchengshi_bench_reports"
CLONED_TABLES = [
    "casework_requestkind",
    "casework_category",
    "casework_cause",
    "casework_window",
    "casework_department",
    "casework_case",
    "casework_assignment",
    "casework_reply",
    "casework_followup",
    "casework_rating",
    "sla_localholiday",
    "sla_officehours",
]


def _database() -> None:
    if not os.environ.get("DATABASE_URL"):
        from banchengshi import embedded

        os.environ["DATABASE_URL"] = embedded.postgres_url()
    import psycopg

    admin = os.environ["DATABASE_URL"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    parts = urlsplit(admin)
    os.environ["DATABASE_URL"] = urlunsplit((parts.scheme, parts.netloc, f"/{BENCH_DB}", parts.query, ""))


SEED_CASES = """
INSERT INTO casework_case (id, number, tracking_code, matter, description, citizen_name, citizen_phone, company_name,
    window_id, channel, kind_id, category_id, cause_id, is_urgent, status, paused_from, version, reopen_count,
    escalation_level, forwarded_from, registered_at, accepted_at, replied_at, reply_due_at, paused_seconds,
    clock_paused_seconds, extended_days, deadline_provisional, updated_at)
SELECT gen_random_uuid(), 'CZ-2025-' || lpad(g::text, 6, '0'), 'B' || lpad(g::text, 9, '0'),
    '事项' || (g %% 97), '群众反映多次往返未能办成，涉及材料与流程问题。', '群众' || (g %% 500),
    '138' || lpad(g::text, 8, '0'), '',
    (SELECT id FROM casework_window ORDER BY id OFFSET (g %% 9) LIMIT 1),
    (ARRAY['window','hotline_12345','online','proxy','home_visit'])[1 + g %% 5],
    (SELECT id FROM casework_requestkind ORDER BY id OFFSET (g %% 2) LIMIT 1),
    (SELECT id FROM casework_category ORDER BY id OFFSET (g %% 2) LIMIT 1),
    CASE WHEN g %% 4 = 0 THEN NULL ELSE (SELECT id FROM casework_cause ORDER BY id OFFSET (g %% 7) LIMIT 1) END,
    false,
    CASE WHEN g %% 50 = 0 THEN 'not_accepted' WHEN g %% 60 = 0 THEN 'forwarded' WHEN g %% 10 < 6 THEN 'archived'
         WHEN g %% 10 = 6 THEN 'followed_up' WHEN g %% 10 = 7 THEN 'replied' WHEN g %% 10 = 8 THEN 'assigned'
         ELSE 'waiting_materials' END,
    '', 1, CASE WHEN g %% 23 = 0 THEN 1 ELSE 0 END, '', CASE WHEN g %% 40 = 0 THEN '222405' ELSE '' END,
    timestamptz '2025-01-01 09:00+08' + ((g * 7919) %% 89) * interval '1 day' + (g %% 8) * interval '1 hour',
    timestamptz '2025-01-01 09:30+08' + ((g * 7919) %% 89) * interval '1 day' + (g %% 8) * interval '1 hour',
    NULL, NULL, 0, '{}', 0, false, now()
FROM generate_series(1, %s) AS g;
UPDATE casework_case SET accepted_at = NULL WHERE status IN ('not_accepted', 'forwarded');
UPDATE casework_case SET reply_due_at = accepted_at + interval '4 days';
UPDATE casework_case SET replied_at = accepted_at + ((abs(hashtext(number)) %% 8) * interval '1 day')
    WHERE status IN ('archived', 'followed_up', 'replied');
"""

SEED_RELATED = """
INSERT INTO casework_reply (case_id, method, content, replied_by_id, replied_at)
    SELECT id, 'phone', '经协调，已为群众办结。', %(user)s, replied_at FROM casework_case WHERE replied_at IS NOT NULL;
INSERT INTO casework_followup (case_id, outcome, note, by_id, at)
    SELECT id, 'solved', '', %(user)s, replied_at + interval '1 day' FROM casework_case
    WHERE status IN ('archived', 'followed_up');
INSERT INTO casework_rating (case_id, level, comment, source, at)
    SELECT id, CASE WHEN abs(hashtext(number)) %% 17 = 0 THEN 1 ELSE 5 END, '', 'follow_up',
        replied_at + interval '1 day' FROM casework_case WHERE status IN ('archived', 'followed_up');
INSERT INTO casework_assignment (id, case_id, department_id, role, status, instructions, result, return_reason,
    assigned_by_id, assigned_at, finished_at)
    SELECT gen_random_uuid(), c.id, (SELECT id FROM casework_department ORDER BY id
        OFFSET (abs(hashtext(c.number)) %% 11) LIMIT 1),
        'lead', CASE WHEN abs(hashtext(c.number)) %% 19 = 0 THEN 'returned' WHEN c.status = 'assigned' THEN 'pending'
        ELSE 'done' END, '', '', '', %(user)s, c.accepted_at + interval '1 hour', NULL
    FROM casework_case c WHERE c.accepted_at IS NOT NULL AND c.kind_id = (SELECT id FROM casework_requestkind
        WHERE code = 'case');
ANALYZE;
"""


def _measure(step: Callable[[], Any]) -> tuple[float, float, Any]:
    """Seconds of one run, then peak MB (tracemalloc) of a second run; and the first run's result."""
    started = time.perf_counter()
    result = step()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return seconds, peak, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--counties", type=int, default=3_000)
    parser.add_argument("--per-county", type=int, default=20)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    _database()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import schema_context

    from banchengshi.accounts.models import User
    from reporting import documents, pdf
    from reporting.selectors import scoring_rule_get
    from tenants.config import county_config_read
    from tenants.models import County, CountyStatus
    from tenants.services import county_onboard

    settings.MEDIA_ROOT = ROOT / "var" / "bench-media"
    load_at_start = os.getloadavg()[0]  # the machine is shared: say how busy it was
    rows: list[tuple[str, str, str]] = []
    started = time.perf_counter()
    call_command("migrate_schemas", "--shared", verbosity=0)
    county = county_onboard(config=county_config_read(ROOT / "tenants" / "counties" / "chengzhong.yaml")).county
    with schema_context(county.schema_name), connection.cursor() as cursor:
        user = User.objects.create(username="bench")
        cursor.execute(SEED_CASES, [args.cases])
        cursor.execute(SEED_RELATED, {"user": user.pk})
    rows.append(("setup: 城中区 onboarded, cases seeded", f"{time.perf_counter() - started:.1f} s", ""))
    as_of = datetime.datetime(2025, 4, 10, 10, tzinfo=datetime.UTC)

    def quarterly_figures() -> Any:
        with schema_context(county.schema_name):
            return documents.quarterly_content(
                county=county, year=2025, quarter=1, as_of=as_of, rule=scoring_rule_get()
            )

    def quarterly_pdf() -> tuple[bytes, int]:
        content = quarterly_figures()
        with schema_context(county.schema_name):
            html = pdf.render_html(
                "reporting/pdf/quarterly.html", content, header_left=county.full_name, header_right=content["period"]
            )
        return pdf.render_pdf(html)

    # A worker process loads WeasyPrint (and its cffi bindings) once; its first PDF pays for it.
    started = time.perf_counter()
    import weasyprint  # type: ignore[import-untyped]  # noqa: F401

    rows.append(("WeasyPrint loaded (once per worker process)", f"{time.perf_counter() - started:.2f} s", ""))

    seconds, peak, content = _measure(quarterly_figures)
    received = content["summary"].received
    rows.append((f"county figures, {received:,} cases in the quarter", f"{seconds:.2f} s", f"{peak:.0f} MB"))
    seconds, peak, (data, pages) = _measure(quarterly_pdf)
    rows.append(
        (f"quarterly PDF: figures + {pages} pages, {len(data) / 1e3:.0f} kB", f"{seconds:.2f} s", f"{peak:.0f} MB")
    )

    # -- 3,000 counties, cheaply ---------------------------------------------------------------
    started = time.perf_counter()
    others = args.counties - 1
    with connection.cursor() as cursor:
        for start in range(0, others, 25):
            statements = []
            for n in range(start, min(others, start + 25)):
                schema = f"c{900000 + n:06d}"
                statements.append(f"CREATE SCHEMA {schema}")
                for table in CLONED_TABLES:
                    statements.append(f"CREATE TABLE {schema}.{table} (LIKE c450202.{table} INCLUDING ALL)")
                for table in CLONED_TABLES[:5] + ["sla_localholiday", "sla_officehours"]:
                    statements.append(f"INSERT INTO {schema}.{table} SELECT * FROM c450202.{table}")
                offset = (n * args.per_county) % max(1, args.cases - args.per_county)
                statements.append(
                    f"INSERT INTO {schema}.casework_case SELECT * FROM c450202.casework_case "
                    f"ORDER BY number OFFSET {offset} LIMIT {args.per_county}"
                )
                for table in ("casework_assignment", "casework_reply", "casework_followup", "casework_rating"):
                    statements.append(
                        f"INSERT INTO {schema}.{table} SELECT t.* FROM c450202.{table} t "
                        f"WHERE t.case_id IN (SELECT id FROM {schema}.casework_case)"
                    )
            cursor.execute(";".join(statements))
    with schema_context("public"):
        County.objects.bulk_create(
            [
                County(
                    schema_name=f"c{900000 + n:06d}",
                    code=f"{900000 + n:06d}",
                    slug=f"bench{n}",
                    name=f"测试县{n}",
                    full_name=f"测试市测试县{n}",
                    province=f"测试省{n % 31}",
                    city=f"测试市{n % 300}",
                    case_prefix=f"Z{n:03X}"[:4],
                    status=CountyStatus.ACTIVE,
                )  # fmt: skip
                for n in range(others)
            ]
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    rows.append((f"setup: {others:,} cloned county schemas", f"{time.perf_counter() - started:.1f} s", ""))

    from django_tenants.utils import tenant_context

    from reporting import province, services
    from reporting.selectors import Scope

    q1 = Scope(datetime.date(2025, 1, 1), datetime.date(2025, 3, 31))

    # Background work, not on the province's request path: every county writes its snapshot rows
    # (the nightly rebuild; the 10-minute refresh counts only the days whose cases changed).
    # Here one after another in one process; in production each county is its own task.
    counties = list(County.objects.filter(status=CountyStatus.ACTIVE).order_by("code"))
    written = 0
    started = time.perf_counter()
    for each in counties:
        with tenant_context(each):
            written += services.county_snapshot_refresh(rebuild=True)
    seconds = time.perf_counter() - started
    rows.append(
        (
            f"snapshot rebuild, all {len(counties):,} counties in turn (background): {written:,} rows",
            f"{seconds:.1f} s",
            "",
        )
    )

    def busiest_refresh() -> int:
        with tenant_context(county):
            return services.county_snapshot_refresh(rebuild=True)

    seconds, peak, written = _measure(busiest_refresh)
    rows.append((f"snapshot rebuild of 城中区 alone: {written:,} rows", f"{seconds:.2f} s", f"{peak:.0f} MB"))

    def province_figures() -> Any:
        with schema_context("public"):
            return province.province_figures(scope=q1, now=as_of)

    def province_pdf() -> tuple[bytes, int]:
        with schema_context("public"):
            content = documents.province_content(year=2025, quarter=1, as_of=as_of)
            html = pdf.render_html("reporting/pdf/province.html", content, header_left="全省", header_right="2025Q1")
            return pdf.render_pdf(html)

    seconds, peak, result = _measure(province_figures)
    rows.append(
        (
            f"province figures: {len(result.counties):,} counties, {result.total.received:,} cases",
            f"{seconds:.2f} s",
            f"{peak:.0f} MB",
        )
    )
    seconds, peak, (data, pages) = _measure(province_pdf)
    rows.append(
        (f"province PDF: figures + {pages} pages, {len(data) / 1e3:.0f} kB", f"{seconds:.2f} s", f"{peak:.0f} MB")
    )

    rows.append(("load average (1 min) at start / at end", f"{load_at_start:.1f} / {os.getloadavg()[0]:.1f}", ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'time':>9}  {'peak mem':>9}")
    for step, seconds_text, memory in rows:
        print(f"{step:<{width}}  {seconds_text:>9}  {memory:>9}")


if __name__ == "__main__":
    main()
