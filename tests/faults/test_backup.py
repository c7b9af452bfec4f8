"""Backing up and restoring the whole database, as docs/DEPLOY.md tells operators to.

``pg_dump --format=directory`` of the suite's private database (every county schema and the
public schema in one consistent snapshot), ``pg_restore`` into a new database, and the restored
database holds the same counties, cases, timelines, outbox, deadline index and audit trail, and
the platform works on it (``audit_verify`` finds every hash chain intact).

One county alone is exported and restored with ``county_export`` / ``county_import``
(tenants/transfer.py), tested in tenants/tests/test_transfer.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

from psycopg import sql

from tests.faults.conftest import DATABASE, Installation
from tests.processes import ROOT

RESTORED = "banchengshi_restored"


def _snapshot(installation: Installation, database: str) -> dict[str, tuple[int, str]]:
    """Every table of the public and the county schemas: its row count and a digest of its rows
    (all columns, in a fixed order), so any row lost, added or changed shows."""
    tables = installation.query(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND (table_schema = 'public' OR table_schema IN (SELECT schema_name FROM public.tenants_county)) "
        "ORDER BY 1, 2",
        database=database,
    )
    snapshot = {}
    for schema, table in tables:
        statement = sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
        ).format(table=sql.Identifier(schema, table))
        with installation.postgres.connect(database) as connection:
            count, digest = connection.execute(statement).fetchone() or (0, "")
        snapshot[f"{schema}.{table}"] = (int(count), str(digest))
    return snapshot


def test_a_whole_database_dump_restores_into_a_new_database_with_the_same_data(installation, tmp_path):
    written = json.loads(installation.run("-m", "tests.faults.writer", "backup-drill", "6").strip().splitlines()[-1])
    before = _snapshot(installation, DATABASE)
    assert all(len(ids) == 6 for ids in written.values()) and len(written) == 2
    for slug in written:
        schema = installation.counties[slug]["schema"]
        assert before[f"{schema}.casework_case"][0] >= 6 and before[f"{schema}.casework_caseevent"][0] >= 9
        tables = [name for name in before if name.startswith(f"{schema}.")]
        assert len(tables) > 30  # every table of the county, not only casework's
    assert before["public.sla_sweep_deadlineentry"][0] > 0

    # pg_dump locks every table it dumps in one transaction: docs/DEPLOY.md sizes
    # max_locks_per_transaction from this figure times the number of counties.
    public = [name for name in before if name.startswith("public.")]
    print(f"\ntables per county schema: {len(tables)}, in public: {len(public)}")
    dump = tmp_path / "dump"
    postgres = installation.postgres
    postgres.tool("pg_dump", "--format=directory", "--jobs=2", f"--file={dump}", f"--dbname={postgres.url(DATABASE)}")
    with postgres.connect() as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {RESTORED}")
        connection.execute(f"CREATE DATABASE {RESTORED}")
    postgres.tool("pg_restore", "--jobs=2", "--exit-on-error", f"--dbname={postgres.url(RESTORED)}", str(dump))

    after = _snapshot(installation, RESTORED)
    assert after.keys() == before.keys()
    assert {name: rows for name, rows in after.items() if rows != before[name]} == {}

    # The platform itself works on the restored copy: every audit chain (public and each county)
    # verifies, and there is nothing left to migrate.
    restored_env = installation.env(DATABASE_URL=postgres.url(RESTORED))
    for argv in (["audit_verify"], ["migrate_counties", "-v", "1"]):
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *argv], cwd=ROOT, env=restored_env,
            capture_output=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    with postgres.connect() as connection:
        connection.execute(f"DROP DATABASE {RESTORED}")
