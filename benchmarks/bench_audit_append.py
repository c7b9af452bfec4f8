"""Audit trail: appends per second (one writer and several at once, serialized by the per-schema
advisory lock) and the chain check's speed.

    .venv/bin/python benchmarks/bench_audit_append.py [--records 5000] [--writers 4]

Uses its own database (``banchengshi_bench_audit``), migrated shared apps only; the public
schema's trail is the one measured. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "banchengshi_bench_audit"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    if not os.environ.get("DATABASE_URL"):
        from banchengshi import embedded

        os.environ["DATABASE_URL"] = embedded.postgres_url()
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")  # not used here
    import psycopg

    admin = os.environ["DATABASE_URL"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    parts = urlsplit(admin)
    os.environ["DATABASE_URL"] = urlunsplit((parts.scheme, parts.netloc, f"/{BENCH_DB}", parts.query, ""))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections, transaction

    from banchengshi.audit.selectors import audit_chain_verify
    from banchengshi.audit.services import audit_record

    call_command("migrate_schemas", "--shared", verbosity=0)

    def write(count: int) -> None:
        try:
            for i in range(count):
                with transaction.atomic():
                    audit_record(action="bench.append", object_type="case", object_id=i, details={"i": i})
        finally:
            connections.close_all()

    print(f"{'writers':>8} {'records':>8} {'seconds':>8} {'records/s':>10}")
    for writers in (1, args.writers):
        per_writer = args.records // writers
        threads = [threading.Thread(target=write, args=(per_writer,)) for _ in range(writers)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        total = per_writer * writers
        print(f"{writers:>8} {total:>8} {elapsed:>8.2f} {total / elapsed:>10.0f}")
    started = time.perf_counter()
    report = audit_chain_verify()
    elapsed = time.perf_counter() - started
    rate = report.checked / elapsed
    print(f"verify: {report.checked} records in {elapsed:.2f} s ({rate:.0f}/s), intact={report.intact}")
    connections.close_all()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
