"""Casework API speed: registration side by side with a bare-DRF create and django-helpdesk, and list/queue latency.

    .venv/bin/python benchmarks/bench_casework_api.py [--cases 100000] [--seconds 10] [--no-helpdesk]

Uses its own database (``banchengshi_bench``) on the configured or embedded PostgreSQL server,
onboards 城中区 into it, seeds ``--cases`` cases by SQL, starts gunicorn with the deployment's settings
(``deploy/gunicorn.conf.py``: gthread, 4 threads a worker; ``--sync`` for sync workers) and 2 workers, and drives
it with 8 keep-alive connections, one process each, then the lists again from one connection.
Prints a table; asserts nothing.

In the same run it measures a real django-helpdesk (``HELPDESK_VERSION``, installed from PyPI into
``var/bench/helpdesk-venv``, reused while the pins match) with the minimal project in
``benchmarks/helpdesk/``: its own database (``helpdesk_bench``) on the same server with 10,000 tickets
in one queue, 2 gthread workers x 4 threads under its own gunicorn command line, the same load
driver. ``--no-helpdesk`` skips it (offline); ``--only-helpdesk`` runs only it (our database is
left alone).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from base64 import b64encode
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "banchengshi_bench"

HELPDESK_VERSION = "2.6.1"
HELPDESK_DB = "helpdesk_bench"
HELPDESK_TICKETS = 10_000
HELPDESK_VENV = ROOT / "var" / "bench" / "helpdesk-venv"
HELPDESK_HOST = "localhost"
ALONE = "1 conn: "


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
                    resolution_due_at, deadline_provisional, paused_seconds, clock_paused_seconds, extended_days,
                    forwarded_from)
                SELECT gen_random_uuid(), 'CZ-2025-' || lpad(g::text, 7, '0'), upper(substr(md5(g::text), 1, 10)),
                    '事项' || g, '描述', '群众' || (g %% 5000), (%s::text[])[1 + g %% 5000],
                    (%s::text[])[1 + g %% 5000], '',
                    (ARRAY['window', 'online', 'hotline_12345', 'proxy'])[1 + g %% 4], %s, %s, g %% 50 = 0,
                    (ARRAY['registered', 'accepted', 'assigned', 'processed', 'replied', 'archived'])[1 + g %% 6],
                    '', 1, 0, '', now() - (g || ' minutes')::interval, now(),
                    now() - (g || ' minutes')::interval + interval '10 days', false, 0, '{}', 0, ''
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
    for _ in range(200):
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("gunicorn did not listen within 20 s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(10)


def helpdesk_requirements() -> list[list[str]]:
    """What to install, best first: helpdesk with our own Django, DRF, gunicorn and driver releases
    (so that the two sides differ only in the application), else whatever pip picks for it."""
    from importlib.metadata import PackageNotFoundError, version

    same = [f"django-helpdesk=={HELPDESK_VERSION}"]
    for package, requirement in (
        ("django", "Django"),
        ("djangorestframework", "djangorestframework"),
        ("gunicorn", "gunicorn"),
        ("psycopg", "psycopg[binary]"),
    ):
        try:
            same.append(f"{requirement}=={version(package)}")
        except PackageNotFoundError:
            same.append(requirement)
    return [same, [f"django-helpdesk=={HELPDESK_VERSION}", "gunicorn", "psycopg[binary]"]]


def helpdesk_venv() -> Path:
    """The throwaway virtualenv with django-helpdesk, built on first use and kept while its pins hold."""
    python = HELPDESK_VENV / "bin" / "python"
    marker = HELPDESK_VENV / "bench-requirements.txt"
    choices = helpdesk_requirements()
    if python.exists() and marker.exists() and marker.read_text().split() in choices:
        return python
    shutil.rmtree(HELPDESK_VENV, ignore_errors=True)
    HELPDESK_VENV.parent.mkdir(parents=True, exist_ok=True)
    print(f"installing django-helpdesk {HELPDESK_VERSION} into {HELPDESK_VENV}", flush=True)
    base = shutil.which("python3.11") or sys.executable
    subprocess.run([base, "-m", "venv", str(HELPDESK_VENV)], check=True, capture_output=True)  # noqa: S603
    failure = ""
    for requirements in choices:
        done = subprocess.run(  # noqa: S603
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode == 0:
            marker.write_text("\n".join(requirements) + "\n")
            return python
        lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("WARNING")]
        failure = " / ".join(lines[-3:]) or f"pip exited with {done.returncode}"
    raise RuntimeError(f"pip install failed: {failure}")


def helpdesk_env(admin_url: str) -> dict[str, str]:
    """The helpdesk processes see nothing of our project: no settings module, no database or Redis URL."""
    ours = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"}
    env = {key: value for key, value in os.environ.items() if key not in ours}
    env.update(
        PYTHONPATH=str(ROOT),  # for benchmarks.helpdesk; nothing else there is imported
        DJANGO_SETTINGS_MODULE="benchmarks.helpdesk.settings",
        HELPDESK_DATABASE_URL=with_database(admin_url, HELPDESK_DB),
        HELPDESK_SECRET_KEY=secrets.token_urlsafe(50),
        HELPDESK_MEDIA_ROOT=str(ROOT / "var" / "bench" / "helpdesk-media"),
    )
    return env


def helpdesk_prepare(admin_url: str) -> dict[str, Any]:
    """Installs (or reuses) helpdesk, rebuilds its database with the tickets; returns how to run and reach it."""
    import psycopg

    python = helpdesk_venv()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {HELPDESK_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {HELPDESK_DB}")
    env = helpdesk_env(admin_url)
    done = subprocess.run(  # noqa: S603
        [str(python), "-m", "benchmarks.helpdesk.seed", "--tickets", str(HELPDESK_TICKETS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"seeding failed: {done.stderr.strip().splitlines()[-1:]}")
    seeded = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"seeded {HELPDESK_TICKETS:,} django-helpdesk tickets in {seeded['seconds']:.1f} s", flush=True)
    return {"python": str(python), "env": env, **seeded}


def helpdesk_start(helpdesk: dict[str, Any], port: int) -> subprocess.Popen[bytes]:
    # Our deployment's shape (2 workers, gthread, 4 threads, 5 s keep-alive, no access log) on a
    # command line of its own: deploy/gunicorn.conf.py imports our project for its logging.
    command = [helpdesk["python"], "-m", "gunicorn", "--workers", "2", "--worker-class", "gthread",
               "--threads", "4", "--keep-alive", "5", "--timeout", "60", "--bind", f"127.0.0.1:{port}",
               "--log-level", "warning", "benchmarks.helpdesk.wsgi:application"]  # fmt: skip
    return start_server(command, helpdesk["env"], port)


def helpdesk_queue_path(port: int, session: str) -> str:
    """The JSON request that helpdesk's staff ticket list (/tickets/) makes for its first page of rows.

    The page names the data URL (its default filter, open and reopened tickets oldest first, as
    base64); DataTables adds its paging and column parameters (25 rows: the default page size).
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/tickets/", headers={"Host": HELPDESK_HOST, "Cookie": f"sessionid={session}"})
    response = conn.getresponse()
    page = response.read().decode()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"the staff ticket list answered {response.status}, not 200")
    found = re.search(r"(/datatables_ticket_list/[A-Za-z0-9+/=]*)", page)
    if found:
        base = found.group(1)
    else:
        query = {"filtering": {"status__in": [1, 2]}, "sorting": "created", "search_string": "", "sortreverse": False}
        base = "/datatables_ticket_list/" + b64encode(json.dumps(query).encode()).decode()
    columns = ["id", "ticket", "priority", "queue", "status", "created", "due_date", "assigned_to", "submitter",
               "last_followup", "kbitem"]  # fmt: skip
    params: list[tuple[str, str]] = [("draw", "1")]
    for n, data in enumerate(columns):
        params += [(f"columns[{n}][data]", data), (f"columns[{n}][name]", ""), (f"columns[{n}][searchable]", "true"),
                   (f"columns[{n}][orderable]", "false" if n == 0 else "true"),
                   (f"columns[{n}][search][value]", ""), (f"columns[{n}][search][regex]", "false")]  # fmt: skip
    params += [("start", "0"), ("length", "25"), ("search[value]", ""), ("search[regex]", "false")]
    return f"{base}?{urlencode(params)}"


def _drive(
    port: int, host: str, request: tuple[str, str, dict[str, str], Any], n: int, stop_at: float, results: Any
) -> None:
    """One keep-alive connection in a process of its own, so the clients never share a GIL."""
    method, path, extra_headers, body_of = request
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Host": host, "Content-Type": "application/json", **extra_headers}
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
        # A redirect is a failure too: it is how a staff page turns away an expired session.
        if response.status >= 300:
            errors += 1
            first_error = first_error or f"{response.status} {payload[:300]!r}"
    conn.close()
    results.put((latencies, errors, first_error))


class Load:
    """Closed-loop load: each connection sends its next request when the last one is answered."""

    def __init__(self, port: int, host: str) -> None:
        self.port, self.host = port, host

    def run(
        self,
        method: str,
        path: str,
        token: str,
        body_of: Any,
        seconds: float,
        connections: int,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """``token`` goes in as ``Authorization: Token``; empty for a browser's request (``headers``: its cookie)."""
        headers = {**({"Authorization": f"Token {token}"} if token else {}), **(headers or {})}
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        began = time.time()
        stop_at = began + 0.2 + seconds  # the processes start within the first 0.2 s
        processes = [
            context.Process(
                target=_drive, args=(self.port, self.host, (method, path, headers, body_of), n, stop_at, results)
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


HELPDESK_CREATE = "django-helpdesk: create a ticket (API)"
HELPDESK_QUEUE = f"django-helpdesk: staff queue, {HELPDESK_TICKETS:,} tickets"
HELPDESK_PAGE = "django-helpdesk: staff queue page (HTML)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--sync", action="store_true", help="sync workers instead of the deployment's gthread")
    parser.add_argument("--prepare-only", action="store_true", help="build the database for profiling, then stop")
    helpdesk_choice = parser.add_mutually_exclusive_group()
    helpdesk_choice.add_argument("--no-helpdesk", action="store_true", help="skip django-helpdesk (e.g. offline)")
    helpdesk_choice.add_argument(
        "--only-helpdesk", action="store_true", help="measure django-helpdesk alone; our database is left alone"
    )
    args = parser.parse_args()

    admin_url = server_url()
    ours = not args.only_helpdesk
    tokens = prepare(args.cases) if ours else {}
    if args.prepare_only:
        print(json.dumps(tokens))
        return
    helpdesk: dict[str, Any] | None = None
    if not args.no_helpdesk:
        try:
            helpdesk = helpdesk_prepare(admin_url)
        except Exception as error:  # noqa: BLE001 - offline or a broken release: the rest still runs
            print(f"django-helpdesk left out: {error}", flush=True)

    results: dict[str, dict[str, Any]] = {}
    with ExitStack() as servers:
        if ours:
            port = free_port()
            # The deployment's own gunicorn settings (gthread, 4 threads a worker), with 2 workers.
            threads = ["--worker-class", "sync"] if args.sync else []
            server = start_server(
                [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "deploy" / "gunicorn.conf.py"), *threads,
                 "banchengshi.wsgi:application"],
                {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.settings", "WEB_CONCURRENCY": "2",
                 "GUNICORN_BIND_HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "warning"},
                port,
            )  # fmt: skip
            servers.callback(stop_server, server)
            load = Load(port, "chengzhong.localhost")
        if helpdesk:
            try:
                helpdesk_port = free_port()
                servers.callback(stop_server, helpdesk_start(helpdesk, helpdesk_port))
                helpdesk_load = Load(helpdesk_port, HELPDESK_HOST)
                queue_path = helpdesk_queue_path(helpdesk_port, helpdesk["session"])
            except Exception as error:  # noqa: BLE001
                print(f"django-helpdesk left out: {error}", flush=True)
                helpdesk = None

        def intake(n: int, i: int) -> dict[str, Any]:
            return {"matter": f"压测事项{n}-{i}", "description": "压测", "citizen_name": "压测",
                    "citizen_phone": "13812345678", "channel": "window", "kind": "case",
                    "window": "district-hall", "category": "simple", "departments": ["scjgj"]}  # fmt: skip

        def ticket(n: int, i: int) -> dict[str, Any]:
            assert helpdesk
            return {"queue": helpdesk["queue"], "title": f"Bench request {n}-{i}", "description": "Bench",
                    "submitter_email": f"citizen{n}@example.com", "priority": 3}  # fmt: skip

        creates = [
            ("bare DRF create (reference)", "POST", "/bench/bare/", "supervisor", lambda n, i: {"name": "x"}),
            ("register a case (API)", "POST", "/api/v1/cases/create/", "window_clerk", intake),
        ]
        lists = [
            ("supervisor queue: open cases, 50/page", "GET",
             "/api/v1/cases/?status=registered,accepted,assigned,processed&limit=50", "supervisor", None),
            ("filtered list: channel+kind+dates", "GET",
             "/api/v1/cases/?channel=online&kind=case&registered_from=2020-01-01&limit=50", "supervisor", None),
            ("search by phone", "GET", "/api/v1/cases/?q=13800002345", "supervisor", None),
            ("handler queue (assignments)", "GET", "/api/v1/assignments/", "department_handler", None),
        ]  # fmt: skip

        def measure(scenarios: list[tuple[str, str, str, str, Any]]) -> None:
            for name, method, path, role, body in scenarios:
                results[name] = load.run(method, path, tokens[role], body, args.seconds, args.connections)

        if helpdesk:
            # The staff queue first, while helpdesk holds exactly the 10,000 tickets the issue measured.
            browser = {"Cookie": f"sessionid={helpdesk['session']}"}
            helpdesk_load.run("GET", queue_path, "", None, 2, args.connections, browser)  # warm up
            results[HELPDESK_QUEUE] = helpdesk_load.run("GET", queue_path, "", None, args.seconds, args.connections,
                                                        browser)  # fmt: skip
            results[HELPDESK_PAGE] = helpdesk_load.run("GET", "/tickets/", "", None, args.seconds, args.connections,
                                                       browser)  # fmt: skip
        if ours:
            load.run("GET", "/api/v1/cases/?limit=5", tokens["supervisor"], None, 2, args.connections)  # warm up
            measure(creates)
        if helpdesk:
            # Right after our registrations, so that both creates see the machine in the same state.
            results[HELPDESK_CREATE] = helpdesk_load.run(
                "POST", "/api/tickets/", helpdesk["token"], ticket, args.seconds, args.connections
            )
        if ours:
            measure(lists)
            # The same reads from one connection: what one clerk waits for when the server is not
            # saturated, beside the figures above, where 8 busy connections queue for 2 cores.
            for name, method, path, role, body in lists:
                results[ALONE + name] = load.run(method, path, tokens[role], body, args.seconds / 2, 1)

    if not results:
        print("nothing was measured")
        return
    workers = "2 sync workers" if args.sync else "2 workers x 4 threads (deploy/gunicorn.conf.py)"
    if ours:
        print(f"\ncasework API, {args.cases:,} cases in the county, gunicorn {workers}, {args.connections} connections")
    if helpdesk:
        print(
            f"django-helpdesk {HELPDESK_VERSION}, {HELPDESK_TICKETS:,} tickets in one queue, gunicorn 2 workers x 4 "
            f"threads (gthread, own command line), {args.connections} connections, same PostgreSQL server"
        )
    print(f"{'scenario':46} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    shown = [name for name, *_ in creates + lists] + [ALONE + name for name, *_ in lists]
    shown += [HELPDESK_CREATE, HELPDESK_QUEUE, HELPDESK_PAGE]
    for name in shown:
        if name in results:
            r = results[name]
            print(f"{name:46} {r['rps']:8.1f} {r['p50']:8.1f} {r['p99']:8.1f} {r['errors']:7d}")
    if helpdesk:
        print(
            "django-helpdesk, its own endpoints:\n"
            "  create = POST /api/tickets/ (its DRF API; token auth; JSON: queue, title, description,\n"
            "           submitter_email, priority); e-mail notifications go to memory, not to a server\n"
            "  staff queue = GET /datatables_ticket_list/<query>?draw=1&start=0&length=25&... : the JSON the\n"
            "           /tickets/ page loads (open and reopened tickets, 25 rows; session cookie)\n"
            "  page = GET /tickets/ (the list's HTML, without the rows)"
        )
    print()
    if ours:
        bare, register = results["bare DRF create (reference)"]["rps"], results["register a case (API)"]["rps"]
        print(f"register / bare reference = {register / bare:.2f} (target >= 0.80)")
    if ours and helpdesk:
        created = results[HELPDESK_CREATE]["rps"]
        print(f"register / django-helpdesk create, measured in this run = {register / created:.1f}x (target >= 5x)")
        print(f"django-helpdesk create / bare reference = {created / bare:.2f} (the issue's machine: 38/178 = 0.21)")
    if ours:
        # The issue measured django-helpdesk at 38/s where a bare DRF create reached 178/s; this run's
        # bare reference shows how much faster this machine and setup are, so both figures are given.
        print(f"register / django-helpdesk's 38/s as quoted = {register / 38:.1f}x (target >= 5x)")
        print(
            f"register / django-helpdesk scaled to this run (38/178 of the bare reference) = "
            f"{register / (bare * 38 / 178):.1f}x"
        )
    if helpdesk:
        print(f"django-helpdesk staff queue p50 = {results[HELPDESK_QUEUE]['p50']:.0f} ms (the issue quoted 336 ms)")
    if ours:
        print(f"list and queue targets: p99 < 50 ms (rows marked '{ALONE.strip()}': one connection)")


if __name__ == "__main__":
    main()
