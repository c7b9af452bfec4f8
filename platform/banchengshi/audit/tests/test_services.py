"""The trail in PostgreSQL: append-only (trigger and privileges), hash chain, serialized appends, retention."""

from __future__ import annotations

import datetime
import json
import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Any, cast

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from banchengshi.audit.db import app_role_restrict
from banchengshi.audit.errors import AuditError
from banchengshi.audit.models import AuditRecord
from banchengshi.audit.selectors import audit_chain_verify
from banchengshi.audit.services import audit_heads_anchor, audit_purge, audit_record
from banchengshi.audit.tasks import anchor_heads
from banchengshi.core.rows import rows_batched


def _some(county: Any, n: int = 3) -> list[AuditRecord]:
    with tenant_context(county):
        return [audit_record(action="test.event", object_type="case", object_id=i, details={"n": i}) for i in range(n)]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditrecord SET outcome = 'failure'",
        "DELETE FROM audit_auditrecord",
        "TRUNCATE audit_auditrecord",
    ],
)
def test_the_database_refuses_to_change_or_remove_records(county_a, statement):
    _some(county_a)
    with (
        tenant_context(county_a),
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)


def test_even_the_purge_switch_cannot_delete_young_records(county_a):
    _some(county_a)
    with (
        tenant_context(county_a),
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL audit.purge = 'on'")
        cursor.execute("DELETE FROM audit_auditrecord")


def test_the_app_role_may_read_and_append_but_not_change(county_a):
    """With the trigger off, privileges alone still stop a restricted role (production's app role)."""
    _some(county_a)
    with tenant_context(county_a), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("CREATE ROLE bcs_audit_app_test NOLOGIN")  # rolled back with the test
            cursor.execute(f"GRANT USAGE ON SCHEMA {county_a.schema_name} TO bcs_audit_app_test")
        assert app_role_restrict(connection, "bcs_audit_app_test") is True
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditrecord DISABLE TRIGGER USER")
            cursor.execute("SET LOCAL ROLE bcs_audit_app_test")
        audit_record(action="test.as_app_role")  # reading the head and appending work
        for statement in ("UPDATE audit_auditrecord SET outcome = 'x'", "DELETE FROM audit_auditrecord"):
            with (
                pytest.raises(DatabaseError, match="permission denied"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(statement)
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
            cursor.execute("ALTER TABLE audit_auditrecord ENABLE TRIGGER USER")


def test_the_owner_role_is_left_alone(county_a):
    with tenant_context(county_a), connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (me,) = cursor.fetchone()
        assert app_role_restrict(connection, me) is False


def test_records_are_chained_by_hash(county_a):
    records = _some(county_a, 3)
    assert records[1].prev_hash == records[0].hash and records[2].prev_hash == records[1].hash
    assert [r.seq for r in records] == list(range(records[0].seq, records[0].seq + 3))
    with tenant_context(county_a):
        assert audit_chain_verify().intact


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE audit_auditrecord SET details = '{\"n\": 99}' WHERE seq = %(seq)s",
        "UPDATE audit_auditrecord SET at = at - interval '1 day' WHERE seq = %(seq)s",
        "DELETE FROM audit_auditrecord WHERE seq = %(seq)s",
    ],
)
def test_verify_finds_tampering_by_a_superuser(county_a, tamper, capsys):
    records = _some(county_a, 3)
    call_command("audit_verify", schema=[county_a.schema_name])
    with tenant_context(county_a), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditrecord DISABLE TRIGGER audit_auditrecord_append_only")
        cursor.execute(tamper, {"seq": records[1].seq})
        cursor.execute("ALTER TABLE audit_auditrecord ENABLE TRIGGER audit_auditrecord_append_only")
    with pytest.raises(CommandError, match="does not verify"):
        call_command("audit_verify", schema=[county_a.schema_name])
    out = capsys.readouterr().out
    assert "TAMPERED" in out and str(records[1].seq + (1 if "DELETE" in tamper else 0)) in out


def test_verify_covers_every_schema(county_a, county_b, capsys):
    _some(county_a, 1)
    call_command("audit_verify")
    out = capsys.readouterr().out
    assert "public:" in out and f"{county_a.schema_name}:" in out and f"{county_b.schema_name}:" in out


def test_personal_data_never_enters_the_details(county_a):
    with tenant_context(county_a):
        for bad in ({"phone": "13812345678"}, {"nested": ["see 110101199003071234"]}):
            with pytest.raises(AuditError):
                audit_record(action="test.pii", details=bad)
        audit_record(action="test.ok", details={"case_number": "CZ-2026-000123", "count": 3})


def test_purge_refuses_records_younger_than_the_retention_period(county_a):
    with tenant_context(county_a), pytest.raises(AuditError, match="至少保存|kept"):
        audit_purge(before=timezone.now() - datetime.timedelta(days=30))
    with pytest.raises(CommandError):
        call_command("audit_purge", before=(timezone.localdate() - datetime.timedelta(days=100)).isoformat())


def test_purge_of_old_records_keeps_the_rest_verifiable(county_a, settings):
    settings.AUDIT_RETENTION_DAYS = 183
    old = _some(county_a, 2)
    with tenant_context(county_a), connection.cursor() as cursor:
        # Two records made to look a year old; the chain is recomputed as if written then.
        cursor.execute("ALTER TABLE audit_auditrecord DISABLE TRIGGER audit_auditrecord_append_only")
        cursor.execute("SELECT min(seq) FROM audit_auditrecord")
        (first,) = cursor.fetchone()
        cursor.execute("DELETE FROM audit_auditrecord WHERE seq > %s", [old[-1].seq])
        cursor.execute("UPDATE audit_auditrecord SET at = at - interval '400 days'")
        cursor.execute("ALTER TABLE audit_auditrecord ENABLE TRIGGER audit_auditrecord_append_only")
        from banchengshi.audit.chain import GENESIS, record_hash

        prev = GENESIS
        rows = list(AuditRecord.objects.order_by("seq"))
        cursor.execute("ALTER TABLE audit_auditrecord DISABLE TRIGGER audit_auditrecord_append_only")
        for row in rows:
            row.prev_hash = prev
            row.hash = prev = record_hash(row)
            cursor.execute(
                "UPDATE audit_auditrecord SET prev_hash=%s, hash=%s WHERE id=%s", [row.prev_hash, row.hash, row.pk]
            )
        cursor.execute("ALTER TABLE audit_auditrecord ENABLE TRIGGER audit_auditrecord_append_only")
        assert audit_chain_verify().intact
        audit_record(action="test.recent")
        count = audit_purge(before=timezone.now() - datetime.timedelta(days=200))
        assert count == len(rows) and first == 1
        report = audit_chain_verify()
        assert report.intact, report.problems
        assert not AuditRecord.objects.filter(at__lt=timezone.now() - datetime.timedelta(days=200)).exists()


def test_details_that_look_like_the_record_number_do_not_move_it(county_a):
    """The number is spliced into the canonical text by PostgreSQL: nothing in the details may fool that."""
    tricky = {
        "seq": 7,
        "text": ',"seq":0,"source_address":"x"',
        "nested": {"seq": 0, "source_address": "y"},
        "percent": '100% 办结 \\ "引号" ;',
    }
    with tenant_context(county_a):
        with transaction.atomic():
            record = audit_record(action="test.tricky", details=tricky)
        stored = AuditRecord.objects.get(pk=record.pk)
        assert stored.details == tricky and stored.hash == record.hash
        assert audit_chain_verify().intact


@pytest.mark.parametrize("mode", ["transaction", "own", "batched"])
def test_concurrent_appends_keep_one_unbroken_chain(two_counties, django_db_blocker, mode):
    """Four connections append at once (committed for real); the advisory lock keeps one chain.

    In the caller's transaction, in a query string of its own (no transaction open), and waiting
    in ``rows_batched`` to travel with the transaction's next statement.
    """
    county = two_counties[0]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def append(n: int) -> None:
        try:
            cast(Any, connection).set_tenant(county)
            barrier.wait()
            for i in range(15):
                if mode == "own":
                    audit_record(action="test.race", details={"thread": n, "i": i})
                    continue
                with transaction.atomic(), rows_batched() if mode == "batched" else nullcontext():
                    audit_record(action="test.race", details={"thread": n, "i": i})
                    if mode == "batched":  # a read after it carries it, and sees the row
                        assert AuditRecord.objects.filter(action="test.race", details__thread=n, details__i=i).exists()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    with django_db_blocker.unblock():
        with tenant_context(county):
            before = AuditRecord.objects.filter(action="test.race").count()
        threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with tenant_context(county):
            report = audit_chain_verify()
            appended = AuditRecord.objects.filter(action="test.race").count() - before
    assert not errors
    assert report.intact, report.problems
    assert appended == 60


def _anchor_lines(path: Any) -> dict[str, dict[str, Any]]:
    return {row["schema"]: row for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def test_the_nightly_anchor_keeps_every_schemas_head_outside_the_database(county_a, county_b, settings, tmp_path):
    settings.AUDIT_ANCHOR_DIR = tmp_path / "anchors"
    records = _some(county_a, 2)
    path = anchor_heads.apply().get()  # the scheduled task, from the public schema
    heads = _anchor_lines(Path(path))
    assert {"public", county_a.schema_name, county_b.schema_name} <= set(heads)
    assert heads[county_a.schema_name]["seq"] == records[-1].seq
    assert heads[county_a.schema_name]["hash"] == records[-1].hash
    assert Path(path).name == f"anchors-{timezone.localdate():%Y-%m-%d}.jsonl"
    _some(county_a, 1)
    assert audit_heads_anchor() == Path(path)  # the same day: the file is rewritten whole, not appended to
    assert _anchor_lines(Path(path))[county_a.schema_name]["seq"] == records[-1].seq + 1


def test_anchors_find_the_newest_records_deleted_which_the_chain_alone_cannot(county_a, settings, tmp_path, capsys):
    settings.AUDIT_ANCHOR_DIR = tmp_path
    records = _some(county_a, 3)
    audit_heads_anchor()
    call_command("audit_verify", schema=[county_a.schema_name], anchors=tmp_path)
    with tenant_context(county_a), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditrecord DISABLE TRIGGER audit_auditrecord_append_only")
        cursor.execute("DELETE FROM audit_auditrecord WHERE seq = %s", [records[-1].seq])
        cursor.execute("ALTER TABLE audit_auditrecord ENABLE TRIGGER audit_auditrecord_append_only")
    call_command("audit_verify", schema=[county_a.schema_name])  # a shorter chain still verifies by itself
    with pytest.raises(CommandError, match="does not verify"):
        call_command("audit_verify", schema=[county_a.schema_name], anchors=tmp_path)
    assert "较新的记录缺失" in capsys.readouterr().out  # newer records are missing


def test_anchors_find_a_record_that_differs_from_its_copy(county_a, settings, tmp_path, capsys):
    settings.AUDIT_ANCHOR_DIR = tmp_path
    records = _some(county_a, 2)
    path = audit_heads_anchor()
    # As if the records had been rewritten with every hash after them recomputed: the copy disagrees.
    rows = _anchor_lines(path)
    rows[county_a.schema_name]["hash"] = "f" * 64
    path.write_text("".join(json.dumps(row) + "\n" for row in rows.values()), encoding="utf-8")
    with pytest.raises(CommandError, match="does not verify"):
        call_command("audit_verify", schema=[county_a.schema_name], anchors=path)
    assert f"第 {records[-1].seq} 条记录与" in capsys.readouterr().out  # differs from its copy


def test_a_file_that_is_not_anchors_is_refused_with_its_line(county_a, tmp_path):
    bad = tmp_path / "anchors-2026-11-24.jsonl"
    bad.write_text('{"schema": "public", "seq": 1, "hash": "x"}\nnot json\n', encoding="utf-8")
    with pytest.raises(CommandError, match="第 2 行"):
        call_command("audit_verify", schema=[county_a.schema_name], anchors=tmp_path)
