"""``row_insert`` writes the row ``save()`` would have written, with the SQL built once."""

from __future__ import annotations

from uuid import UUID

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from banchengshi.core.rows import row_insert
from casework.models import Case, CaseEvent
from casework.services import case_register
from casework.tests.factories import case_intake
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
