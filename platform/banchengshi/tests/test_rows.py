"""``row_insert`` writes the row ``save()`` would have written, ``joined_get`` reads what
``select_related`` reads; each with its SQL built once."""

from __future__ import annotations

from uuid import UUID

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context
from rest_framework.authtoken.models import Token

from banchengshi.audit.models import AuditRecord
from banchengshi.audit.services import audit_record
from banchengshi.core.rows import joined_get, row_insert, rows_batched, statement_defer
from casework.models import Case, CaseEvent, Department
from casework.services import case_register
from casework.tests.factories import StaffProfileFactory, UserFactory, case_intake
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def _stored(table: str, pk: UUID) -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608 - a test's own table name
        columns = [c.name for c in cursor.description or ()]
        row = cursor.fetchone()
    assert row is not None
    return dict(zip(columns, row, strict=True))


def test_the_row_matches_what_save_writes_sealed_fields_and_json_included(county_a):
    with tenant_context(county_a):
        case = case_register(actor=None, intake=case_intake(channel="online"))
        by_save = Case.objects.get(pk=case.pk)
        copy = Case(**{f.attname: getattr(by_save, f.attname) for f in Case._meta.concrete_fields if not f.primary_key})
        copy.number, copy.tracking_code = "T-ROWS-1", "ROWSTEST01"
        assert row_insert(copy) is True
        assert copy._state.adding is False
        stored, original = _stored("casework_case", copy.pk), _stored("casework_case", case.pk)
        differing = {k for k in stored if stored[k] != original[k]}
        # The phone is sealed afresh (a new nonce) but opens to the same number, with the same keyed
        # hash; ``updated_at`` is set on insert (auto_now), as save() sets it.
        assert differing == {"id", "number", "tracking_code", "citizen_phone", "updated_at"}
        assert Case.objects.get(pk=copy.pk).citizen_phone == case.citizen_phone
        assert stored["citizen_phone"] != case.citizen_phone  # sealed, not plaintext


def test_a_database_generated_key_is_set_on_the_instance(county_a):
    with tenant_context(county_a):
        case = case_register(actor=None, intake=case_intake(channel="online"))
        event = CaseEvent(case=case, actor=None, actor_label="系统", action="noted", data={"说明": "中文"})
        assert event.pk is None
        row_insert(event)
        assert isinstance(event.pk, int)
        assert CaseEvent.objects.get(pk=event.pk).data == {"说明": "中文"}


def test_a_conflict_on_the_named_field_inserts_nothing_and_says_so(county_a):
    with tenant_context(county_a):
        first = Notification(key="test", channel="inapp", recipient="u1", body="一", idempotency_key="rows-test-1")
        again = Notification(key="test", channel="inapp", recipient="u1", body="二", idempotency_key="rows-test-1")
        assert row_insert(first, skip_on_conflict="idempotency_key") is True
        assert row_insert(again, skip_on_conflict="idempotency_key") is False
        assert again._state.adding is True
        assert list(Notification.objects.filter(idempotency_key="rows-test-1").values_list("body", flat=True)) == ["一"]


def test_a_joined_read_gives_what_select_related_gives(county_a):
    path = ("user__staff_profile__department",)
    with tenant_context(county_a):
        handler = StaffProfileFactory(role="department_handler", department=Department.objects.first()).user
        clerk = StaffProfileFactory(role="window_clerk", department=None).user
        nobody = UserFactory()
        for user in (handler, clerk, nobody):
            token = Token.objects.create(user=user)
            expected = Token.objects.select_related(*path).get(pk=token.pk)
            got = joined_get(Token, path, token.pk)
            with CaptureQueriesContext(connection) as queries:
                assert got.user == expected.user and got.user.name == expected.user.name
                profile = got.user._state.fields_cache["staff_profile"]
                assert profile == getattr(expected.user, "staff_profile", None)
                if profile is not None:
                    assert profile.user is got.user
                    assert profile.department == expected.user.staff_profile.department
            assert len(queries) == 0  # everything came with the one query
        assert joined_get(Token, path, "no-such-token") is None


def _event(case: Case, note: str) -> CaseEvent:
    return CaseEvent(case=case, actor=None, actor_label="系统", action="noted", note=note, data={"说明": note})


def test_batched_rows_wait_for_the_next_statement_which_sees_them_and_gets_its_own_answer(county_a):
    with tenant_context(county_a):
        case = case_register(actor=None, intake=case_intake(channel="online"))
        with CaptureQueriesContext(connection) as sent, transaction.atomic(), rows_batched():
            start = len(sent)
            first, second = _event(case, "100% 办结"), _event(case, "第二条; 含分号")
            row_insert(first)
            row_insert(second)
            assert first.pk is None and first._state.adding is False  # its key is not known yet
            assert len(sent) == start  # nothing has gone to the database yet
            # A read carries both rows in its one round trip, sees them, and reads its own result.
            notes = list(CaseEvent.objects.filter(case=case, action="noted").values_list("note", flat=True))
            assert len(sent) == start + 1
            assert sorted(notes) == ["100% 办结", "第二条; 含分号"]
            row_insert(_event(case, "末尾"))
            assert len(sent) == start + 1
        # What still waited went at the end of the block, before the transaction ended.
        assert "末尾" in sent[start + 1]["sql"]
        assert CaseEvent.objects.filter(case=case, action="noted").count() == 3


def test_a_statement_holding_several_gets_each_of_their_results_skipped(county_a):
    with tenant_context(county_a):
        case = case_register(actor=None, intake=case_intake(channel="online"))
        with transaction.atomic(), rows_batched():
            assert statement_defer("SELECT 1; SELECT 2;", []) is True
            row_insert(_event(case, "一"))
            with connection.cursor() as cursor:
                cursor.execute("SELECT %s", ["mine"])
                assert cursor.fetchone() == ("mine",)


def test_a_failing_waiting_row_fails_the_statement_it_travels_with_and_nothing_is_kept(county_a):
    with tenant_context(county_a):
        case = case_register(actor=None, intake=case_intake(channel="online"))
        fields = [f for f in Case._meta.concrete_fields if not f.primary_key]
        duplicate = Case(**{f.attname: getattr(case, f.attname) for f in fields})
        with pytest.raises(IntegrityError), transaction.atomic(), rows_batched():
            row_insert(_event(case, "不会留下"))
            row_insert(duplicate)  # same number and tracking code: refused by the unique indexes
            Case.objects.filter(pk=case.pk).exists()
        assert not CaseEvent.objects.filter(case=case, note="不会留下").exists()


def test_a_rolled_back_savepoint_takes_the_rows_that_waited_inside_it(county_a):
    with tenant_context(county_a):
        case = case_register(actor=None, intake=case_intake(channel="online"))
        with transaction.atomic(), rows_batched():
            row_insert(_event(case, "保留"))
            try:
                with transaction.atomic():  # SAVEPOINT carries the first row, ROLLBACK TO the second
                    row_insert(_event(case, "撤销"))
                    raise RuntimeError
            except RuntimeError:
                pass
        notes = set(CaseEvent.objects.filter(case=case, action="noted").values_list("note", flat=True))
        assert notes == {"保留"}


def test_an_executemany_sends_the_waiting_rows_first(county_a):
    with tenant_context(county_a):
        case = case_register(actor=None, intake=case_intake(channel="online"))
        copy = Case(**{f.attname: getattr(case, f.attname) for f in Case._meta.concrete_fields if not f.primary_key})
        copy.number, copy.tracking_code = "T-ROWS-2", "ROWSTEST02"
        with transaction.atomic(), rows_batched():
            row_insert(copy)
            with connection.cursor() as cursor:
                cursor.executemany(
                    "UPDATE casework_case SET matter = matter || %s WHERE id = %s", [["·一", copy.pk], ["·二", copy.pk]]
                )
        assert Case.objects.get(pk=copy.pk).matter == f"{case.matter}·一·二"


def test_a_registration_sends_its_rows_in_one_round_trip_between_begin_and_commit(county_a):
    with tenant_context(county_a):
        clerk = StaffProfileFactory(role="window_clerk").user
        case_register(actor=clerk, intake=case_intake())  # warm: configuration, templates
        with CaptureQueriesContext(connection) as sent:
            case = case_register(actor=clerk, intake=case_intake(department_codes=("scjgj",)))
        writes = [q["sql"] for q in sent if 'INSERT INTO "casework_case"' in q["sql"]]
        assert len(writes) == 1
        for table in ("casework_case_departments_involved", "casework_caseevent", "audit_auditrecord", "notifications"):
            assert table in writes[0]
        assert CaseEvent.objects.filter(case=case, action="registered").exists()
        assert Notification.objects.filter(idempotency_key=f"{case.pk}:case.registered:sms").exists()


def test_rows_never_travel_under_another_schemas_search_path(county_a, county_b):
    with tenant_context(county_a):
        case = case_register(actor=None, intake=case_intake(channel="online"))
        with pytest.raises(RuntimeError), transaction.atomic(), rows_batched():
            row_insert(_event(case, "城中区的"))
            with tenant_context(county_b):
                Case.objects.exists()  # would have written the row into the other county
    with tenant_context(county_b):
        assert not CaseEvent.objects.filter(note="城中区的").exists()
    with tenant_context(county_a):
        assert not CaseEvent.objects.filter(note="城中区的").exists()


def test_rows_still_waiting_when_an_error_leaves_the_block_commit_if_the_transaction_does(county_a):
    """Without batching each row was written at ``row_insert``: an error caught before the commit
    does not undo it. Batched, the rows that waited must not vanish while the rest commits."""
    with tenant_context(county_a):
        case = case_register(actor=None, intake=case_intake(channel="online"))
        with transaction.atomic():
            try:
                with rows_batched():
                    row_insert(_event(case, "先到"))
                    Case.objects.filter(pk=case.pk).exists()  # carries the first row
                    row_insert(_event(case, "后到"))
                    audit_record(action="rows.test", object_type="case", object_id=case.pk)
                    raise LookupError
            except LookupError:
                pass
        notes = set(CaseEvent.objects.filter(case=case, action="noted").values_list("note", flat=True))
        assert notes == {"先到", "后到"}
        assert AuditRecord.objects.filter(action="rows.test", object_id=str(case.pk)).count() == 1


def test_rows_waiting_in_a_transaction_marked_for_rollback_go_with_it_quietly(county_a):
    with tenant_context(county_a):
        case = case_register(actor=None, intake=case_intake(channel="online"))
        with transaction.atomic(), rows_batched():
            row_insert(_event(case, "作废"))
            transaction.set_rollback(True)  # a dry run: as without batching, no error at the end
        assert not CaseEvent.objects.filter(case=case, note="作废").exists()


def test_a_waiting_row_that_fails_as_an_error_leaves_the_block_is_not_swallowed(county_a):
    with tenant_context(county_a):
        case = case_register(actor=None, intake=case_intake(channel="online"))
        fields = [f for f in Case._meta.concrete_fields if not f.primary_key]
        duplicate = Case(**{f.attname: getattr(case, f.attname) for f in fields})
        with pytest.raises(IntegrityError), transaction.atomic():
            try:
                with rows_batched():
                    row_insert(_event(case, "不会留下"))
                    row_insert(duplicate)  # refused: without batching, refused before the error below
                    raise LookupError
            except LookupError:
                pass  # the caller would commit: the refused row must not be quietly forgotten
        assert not CaseEvent.objects.filter(case=case, note="不会留下").exists()
