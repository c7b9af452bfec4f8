"""Where a registration's CPU goes, beside a bare DRF create: in process, per request.

    .venv/bin/python benchmarks/bench_registration_cpu.py [--cases 20000] [--requests 600]

Builds the same database as ``bench_casework_api.py`` (``banchengshi_bench``, 城中区 with ``--cases``
cases), then sends each request through Django's test client in this process, one at a time: no
network, no gunicorn, so what is left is the application's own cost. For each scenario it prints
the wall time, this process's CPU time and the PostgreSQL backend's CPU time (read from
``/proc/<pid>/stat``, so only for a server on this machine), per request; then the registration's
parts, each timed inclusively (a part's time includes the parts it calls). Asserts nothing.

The HTTP benchmark's ratio (registration / bare create) follows the totals here: see ADR 18.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The registration's parts: (module, attribute path), timed inclusively.
PARTS = [
    ("banchengshi.accounts.authentication", "TwoFactorTokenAuthentication.authenticate_credentials"),
    ("rest_framework.serializers", "Serializer.is_valid"),
    ("casework.services", "case_register_once"),
    ("casework.services", "_case_write"),
    ("banchengshi.configuration.selectors", "config_generation"),
    ("casework.services", "_next_sequence"),
    ("casework.services", "row_insert"),
    ("casework.services", "_deadline_index_update"),
    ("casework.services", "_notify_citizen"),
    ("casework.services", "_event"),
    ("casework.services", "audit_record"),
    ("notifications.services", "_wake"),
    ("casework.apis", "case_list_rows"),
]


def backend_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # the server runs elsewhere
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_parts() -> dict[str, float]:
    spent: dict[str, float] = {}
    for module_name, path in PARTS:
        owner: Any = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        original: Callable[..., Any] = getattr(owner, name)

        def timed(*args: Any, _original: Callable[..., Any] = original, _path: str = path, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_path] = spent.get(_path, 0.0) + time.process_time() - started

        setattr(owner, name, functools.wraps(original)(timed))
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=600)
    args = parser.parse_args()

    from benchmarks.bench_casework_api import prepare

    tokens = prepare(args.cases)  # sets Django up on the benchmark's database
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_HOST="chengzhong.localhost")

    def intake(n: int) -> dict[str, Any]:
        return {"matter": f"压测事项{n}", "description": "压测", "citizen_name": "压测", "citizen_phone": "13812345678",
                "channel": "window", "kind": "case", "window": "district-hall", "category": "simple",
                "departments": ["scjgj"]}  # fmt: skip

    scenarios: list[tuple[str, str, str, Callable[[int], dict[str, Any]]]] = [
        ("bare DRF create (reference)", "/bench/bare/", "supervisor", lambda n: {"name": "x"}),
        ("register a case (API)", "/api/v1/cases/create/", "window_clerk", intake),
    ]
    spent = timed_parts()
    parts: dict[str, float] = {}
    rows: list[tuple[str, float, float, float | None]] = []
    for label, path, role, body in scenarios:
        headers = {"HTTP_AUTHORIZATION": f"Token {tokens[role]}"}

        def send(
            n: int, path: str = path, body: Callable[[int], dict[str, Any]] = body, headers: dict[str, str] = headers
        ) -> None:
            response = client.post(path, data=json.dumps(body(n)), content_type="application/json", **headers)
            if response.status_code != 201:
                raise SystemExit(f"{path}: {response.status_code} {response.content[:300]!r}")

        for n in range(50):  # warm: caches, the configuration snapshot, compiled SQL
            send(n)
        spent.clear()
        pid = connection.connection.info.backend_pid
        backend_before = backend_cpu_seconds(pid)
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        for n in range(args.requests):
            send(n)
        wall = (time.perf_counter() - wall_before) / args.requests * 1e6
        cpu = (time.process_time() - cpu_before) / args.requests * 1e6
        backend_after = backend_cpu_seconds(pid)
        backend = (
            (backend_after - backend_before) / args.requests * 1e6
            if backend_before is not None and backend_after is not None
            else None
        )
        rows.append((label, wall, cpu, backend))
        if label.startswith("register"):
            parts = {path: seconds / args.requests * 1e6 for path, seconds in spent.items()}

    print(f"\nin process, {args.requests} requests each, µs per request")
    print(f"{'scenario':32} {'wall':>8} {'Python CPU':>11} {'PostgreSQL CPU':>15} {'CPU in all':>11}")
    totals: dict[str, float] = {}
    for label, wall, cpu, backend in rows:
        total = cpu + (backend or 0.0)
        totals[label] = total
        shown = f"{backend:15.0f}" if backend is not None else f"{'n/a':>15}"
        print(f"{label:32} {wall:8.0f} {cpu:11.0f} {shown} {total:11.0f}")
    bare, register = (totals[label] for label, *_rest in rows)
    print(f"\nbare create / registration, CPU in all = {bare / register:.2f} (the issue's target: >= 0.80)")
    beyond = bare / 0.8 - bare
    print(f"a registration at 0.8x would have {beyond:.0f} µs beyond a bare create; it has {register - bare:.0f}")
    print("\nthe registration's parts (inclusive Python CPU, µs per request)")
    for path, micros in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"  {path:64} {micros:7.0f}")


if __name__ == "__main__":
    main()
