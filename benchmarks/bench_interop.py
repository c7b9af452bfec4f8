"""Interop speed: 12345 batch import (new and repeated) and Open311 ``GET requests`` at its 1,000-row limit.

    .venv/bin/python benchmarks/bench_interop.py [--batches 4] [--batch-size 500] [--reads 20]

Uses its own database (``banchengshi_bench_interop``) on the configured or embedded PostgreSQL
server, onboards 城中区, and drives the views in process through Django's test client (so the
numbers are the application's own time, without a web server). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "platform"))
from benchmarks.bench_casework_api import server_url, with_database  # noqa: E402

BENCH_DB = "banchengshi_bench_interop"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--reads", type=int, default=20)
    args = parser.parse_args()

    import psycopg

    admin_url = server_url()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    os.environ["DATABASE_URL"] = with_database(admin_url, BENCH_DB)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django_tenants.utils import tenant_context

    from casework.interop import services
    from tenants.config import county_config_read
    from tenants.services import county_onboard

    call_command("migrate_schemas", "--shared", verbosity=0)
    county = county_onboard(config=county_config_read(ROOT / "tenants" / "counties" / "chengzhong.yaml")).county
    with tenant_context(county):
        issued = services.api_client_create(actor=None, name="12345", source_system="12345", scopes=["intake"])
    settings.INTEROP_INTAKE_MAX_ORDERS = max(settings.INTEROP_INTAKE_MAX_ORDERS, args.batch_size)
    host = f"{county.slug}.{settings.COUNTY_DOMAIN_SUFFIX}"
    web = Client(HTTP_HOST=host, HTTP_AUTHORIZATION=f"ApiKey {issued.api_key}")

    def batch(index: int) -> dict[str, object]:
        return {
            "orders": [
                {"external_id": f"B{index}-{i}", "matter": "营业执照办理", "description": "多次未办成",
                 "citizen_name": "周先生", "citizen_phone": f"138{index:02d}{i:06d}", "kind": "case",
                 "category": "simple"}
                for i in range(args.batch_size)
            ]
        }  # fmt: skip

    rows: list[tuple[str, str]] = []
    new_times, repeat_times = [], []
    for index in range(args.batches):
        body = batch(index)
        started = time.perf_counter()
        response = web.post("/interop/v1/work-orders/", body, content_type="application/json")
        new_times.append(time.perf_counter() - started)
        assert response.status_code == 200 and len(response.json()["imported"]) == args.batch_size
        started = time.perf_counter()
        response = web.post("/interop/v1/work-orders/", body, content_type="application/json")
        repeat_times.append(time.perf_counter() - started)
    total = args.batches * args.batch_size
    rows.append((f"import {args.batch_size} new orders (s per batch, median)", f"{statistics.median(new_times):.2f}"))
    rows.append(("import: new orders per second", f"{total / sum(new_times):.0f}"))
    rows.append(("re-import the same batch (s, median; nothing changes)", f"{statistics.median(repeat_times):.2f}"))

    public = Client(HTTP_HOST=host)
    for fmt in ("json", "xml"):
        times = []
        for _i in range(args.reads):
            started = time.perf_counter()
            response = public.get(f"/open311/v2/requests.{fmt}")
            times.append(time.perf_counter() - started)
        count = len(response.json()) if fmt == "json" else response.content.count(b"<request>")
        times.sort()
        rows.append((f"Open311 GET requests.{fmt}: rows", str(count)))
        rows.append(
            (
                f"Open311 GET requests.{fmt}: p50 / max ms",
                f"{times[len(times) // 2] * 1000:.0f} / {times[-1] * 1000:.0f}",
            )
        )

    width = max(len(name) for name, _v in rows)
    print(f"{'measure'.ljust(width)}  value")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
