"""Casework API speed: registration side by side with a bare-DRF create, and list/queue latency.

    .venv/bin/python benchmarks/bench_casework_api.py [--cases 100000] [--seconds 10]

Uses its own database (``banchengshi_bench``) on the configured or embedded PostgreSQL server,
onboards 城中区 into it, seeds ``--cases`` cases by SQL, starts gunicorn with the deployment's settings
(``deploy/gunicorn.conf.py``: gthread, 4 threads a worker; ``--sync`` for sync workers) and 2 workers, and drives
it with 8 keep-alive connections from this process. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "banchengshi_bench"


def server_url() -> str:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    if not os.environ.get("DATABASE_URL"):
        from banchengshi import embedded

        os.environ["DATABASE_URL"] = embedded.postgres_url()
    if not os.environ.get("REDIS_URL"):
        from banchengshi import embedded

        os.environ["REDIS_URL"] = embedded.redis_url()
    return os.environ["DATABASE_URL"]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def prepare(cases: int) -> dict[str, str]:
    import psycopg

    admin_url = server_url()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    os.environ["DATABASE_URL"] = with_database(admin_url, BENCH_DB)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import tenant_context
    from rest_framework.authtoken.models import Token

    from casework.models import Department, StaffProfile
    from tenants.config import county_config_read
    from tenants.services import county_onboard

    call_command("migrate_schemas", "--shared", verbosity=0)
    county = county_onboard(config=county_config_read(ROOT / "tenants" / "counties" / "chengzhong.yaml")).county
    tokens: dict[str, str] = {}
    with tenant_context(county):
        from banchengshi.accounts.models import User

        for role, department in (("supervisor", ""), ("window_clerk", ""), ("department_handler", "scjgj")):
            user = User.objects.create_user(username=f"bench-{role}", password="x")  # noqa: S106
            dept = Department.objects.get(code=department) if department else None
            StaffProfile.objects.create(user=user, role=role, department=dept)
            tokens[role] = Token.objects.create(user=user).key
        started = time.perf_counter()
        # Phone numbers are sealed at rest with a keyed search hash (ADR 14): 5,000 distinct ones.
        from banchengshi.personal_data import blind_index, seal
        from casework.models import CITIZEN_PHONE_PURPOSE

        phones = [f"138{n:08d}" for n in range(5000)]
        sealed = [seal(phone, purpose=CITIZEN_PHONE_PURPOSE) for phone in phones]
        indexes = [blind_index(phone, purpose=CITIZEN_PHONE_PURPOSE) for phone in phones]
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM casework_requestkind WHERE code = 'case'")
            kind = cursor.fetchone()[0]
            cursor.execute("SELECT id FROM casework_category ORDER BY id LIMIT 1")
            category = cursor.fetchone()[0]
            cursor.execute("SELECT id FROM casework_department WHERE code = 'scjgj'")
            department = cursor.fetchone()[0]
            cursor.execute("SELECT id FROM accounts_user WHERE username = 'bench-supervisor'")
            boss = cursor.fetchone()[0]
            cursor.execute(
                """
                INSERT INTO casework_case (id, number, tracking_code, matter, description, citizen_name,
                    citizen_phone, citizen_phone_index, company_name, channel, kind_id, category_id, is_urgent,
                    status, paused_from, version, reopen_count, escalation_level, registered_at, updated_at,
                    resolution_due_at, deadline_provisional, paused_seconds, extended_days, forwarded_from)
                SELECT gen_random_uuid(), 'CZ-2025-' || lpad(g::text, 7, '0'), upper(substr(md5(g::text), 1, 10)),
                    '事项' || g, '描述', '群众' || (g %% 5000), (%s::text[])[1 + g %% 5000],
                    (%s::text[])[1 + g %% 5000], '',
                    (ARRAY['window', 'online', 'hotline_12345', 'proxy'])[1 + g %% 4], %s, %s, g %% 50 = 0,
                    (ARRAY['registered', 'accepted', 'assigned', 'processed', 'replied', 'archived'])[1 + g %% 6],
                    '', 1, 0, '', now() - (g || ' minutes')::interval, now(),
                    now() - (g || ' minutes')::interval + interval '10 days', false, 0, 0, ''
                FROM generate_series(1, %s) AS g
                """,
                [sealed, indexes, kind, category, cases],
            )
            cursor.execute(
                """
                INSERT INTO casework_assignment (id, case_id, department_id, role, status, instructions, result,
                    return_reason, assigned_by_id, assigned_at)
                SELECT gen_random_uuid(), id, %s, 'lead', 'pending', '', '', '', %s, registered_at
                FROM casework_case WHERE status = 'assigned'
                """,
                [department, boss],
            )
            cursor.execute("ANALYZE")
        print(f"seeded {cases:,} cases in {time.perf_counter() - started:.1f} s", flush=True)
    return tokens


def _drive(port: int, host: str, request: tuple[str, str, str, Any], n: int, stop_at: float, results: Any) -> None:
    """One keep-alive connection in a process of its own, so the clients never share a GIL."""
    method, path, token, body_of = request
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Host": host, "Authorization": f"Token {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    errors, first_error, i = 0, "", 0
    while time.time() < stop_at:
        i += 1
        body = json.dumps(body_of(n, i)) if body_of else None
        start = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        latencies.append(time.perf_counter() - start)
        if response.status >= 400:
            errors += 1
            first_error = first_error or f"{response.status} {payload[:300]!r}"
    conn.close()
    results.put((latencies, errors, first_error))


class Load:
    """Closed-loop load: each connection sends its next request when the last one is answered."""

    def __init__(self, port: int, host: str) -> None:
        self.port, self.host = port, host

    def run(self, method: str, path: str, token: str, body_of: Any, seconds: float, connections: int) -> dict[str, Any]:
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        began = time.time()
        stop_at = began + 0.2 + seconds  # the processes start within the first 0.2 s
        processes = [
            context.Process(
                target=_drive, args=(self.port, self.host, (method, path, token, body_of), n, stop_at, results)
            )
            for n in range(connections)
        ]
        for process in processes:
            process.start()
        latencies: list[float] = []
        errors = 0
        for _process in processes:
            own, failed, first_error = results.get()
            latencies.extend(own)
            errors += failed
            if first_error:
                print(f"  first error on {path}: {first_error}", flush=True)
        wall = time.time() - began
        for process in processes:
            process.join()
        latencies.sort()
        return {
            "requests": len(latencies),
            "rps": len(latencies) / wall,
            "p50": statistics.median(latencies) * 1000,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            "errors": errors,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--sync", action="store_true", help="sync workers instead of the deployment's gthread")
    parser.add_argument("--prepare-only", action="store_true", help="build the database for profiling, then stop")
    args = parser.parse_args()

    tokens = prepare(args.cases)
    if args.prepare_only:
        print(json.dumps(tokens))
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The deployment's own gunicorn settings (gthread, 4 threads a worker), with 2 workers.
    threads = ["--worker-class", "sync"] if args.sync else []
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "deploy" / "gunicorn.conf.py"), *threads,
         "banchengshi.wsgi:application"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.settings", "WEB_CONCURRENCY": "2",
             "GUNICORN_BIND_HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "warning"},
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        load = Load(port, "chengzhong.localhost")

        def intake(n: int, i: int) -> dict[str, Any]:
            return {"matter": f"压测事项{n}-{i}", "description": "压测", "citizen_name": "压测",
                    "citizen_phone": "13812345678", "channel": "window", "kind": "case",
                    "window": "district-hall", "category": "simple", "departments": ["scjgj"]}  # fmt: skip

        scenarios = [
            ("bare DRF create (reference)", "POST", "/bench/bare/", "supervisor", lambda n, i: {"name": "x"}),
            ("register a case (API)", "POST", "/api/v1/cases/create/", "window_clerk", intake),
            ("supervisor queue: open cases, 50/page", "GET",
             "/api/v1/cases/?status=registered,accepted,assigned,processed&limit=50", "supervisor", None),
            ("filtered list: channel+kind+dates", "GET",
             "/api/v1/cases/?channel=online&kind=case&registered_from=2020-01-01&limit=50", "supervisor", None),
            ("search by phone", "GET", "/api/v1/cases/?q=13800002345", "supervisor", None),
            ("handler queue (assignments)", "GET", "/api/v1/assignments/", "department_handler", None),
        ]  # fmt: skip
        load.run("GET", "/api/v1/cases/?limit=5", tokens["supervisor"], None, 2, args.connections)  # warm up
        results = []
        for name, method, path, role, body in scenarios:
            results.append((name, load.run(method, path, tokens[role], body, args.seconds, args.connections)))
    finally:
        server.terminate()
        server.wait(10)

    workers = "2 sync workers" if args.sync else "2 workers x 4 threads (deploy/gunicorn.conf.py)"
    print(f"\ncasework API, {args.cases:,} cases in the county, gunicorn {workers}, {args.connections} connections")
    print(f"{'scenario':42} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, r in results:
        print(f"{name:42} {r['rps']:8.1f} {r['p50']:8.1f} {r['p99']:8.1f} {r['errors']:7d}")
    bare, register = results[0][1]["rps"], results[1][1]["rps"]
    print(f"\nregister / bare reference = {register / bare:.2f} (target >= 0.80)")
    # The issue measured django-helpdesk at 38/s where a bare DRF create reached 178/s; this run's
    # bare reference shows how much faster this machine and setup are, so both figures are given.
    print(f"register / django-helpdesk's 38/s as quoted = {register / 38:.1f}x (target >= 5x)")
    print(
        f"register / django-helpdesk scaled to this run (38/178 of the bare reference) = "
        f"{register / (bare * 38 / 178):.1f}x"
    )
    print("list and queue targets: p99 < 50 ms")


if __name__ == "__main__":
    main()
