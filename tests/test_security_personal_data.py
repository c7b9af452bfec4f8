"""PIPL art. 51 / 等保 8.1.4.8: citizens' phone numbers and TOTP secrets sealed at rest, found by keyed hash.

Each test reads the database under the ORM (raw SQL) to show the plaintext is not there, and
shows that everything that needs the plaintext (pages, search, the citizen's look-up, SMS,
forwarding) still gets it.
"""

from __future__ import annotations

import importlib
import itertools
import json
from typing import Any

import pyotp
import pytest
from django.apps import apps
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import connection, models
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context
from rest_framework.authtoken.models import Token

from banchengshi.accounts.models import TotpDevice
from banchengshi.accounts.services import totp_verify
from banchengshi.audit.models import AuditRecord
from banchengshi.keyring import key_generate
from banchengshi.personal_data import (
    BlindIndexField,
    EncryptedTextField,
    blind_index,
    column_reseal,
    is_sealed,
    personal_data_key_use,
    personal_data_reseal,
    sealed_key_id,
)
from casework import selectors, services
from casework.errors import NotFoundError
from casework.models import CITIZEN_PHONE_PURPOSE, Case, StaffRole
from casework.tests.conftest import CountyApi
from casework.tests.factories import StaffProfileFactory, UserFactory
from notifications.models import Channel, Notification
from notifications.services import notification_deliver, notification_enqueue

pytestmark = pytest.mark.django_db

PHONE = "13912345678"
_users = itertools.count(1)


@pytest.fixture
def staff_api() -> Any:
    """``staff_api(county, role)``: an API client of that county, signed in with a token of that role."""

    def make(county: Any, role: str) -> CountyApi:
        with tenant_context(county):
            user: Any = UserFactory(username=f"pd-{role}-{next(_users)}")
            StaffProfileFactory(user=user, role=role)
            token = Token.objects.create(user=user).key
        return CountyApi(county, token)

    return make


def _register(county: Any, phone: str = PHONE, name: str = "金先生") -> Case:
    with tenant_context(county):
        clerk: Any = UserFactory(username=f"pd-clerk-{phone}")
        StaffProfileFactory(user=clerk, role=StaffRole.WINDOW_CLERK)
        intake = services.CaseIntake(
            matter="营业执照变更", description="窗口登记", citizen_name=name, citizen_phone=phone,
            channel="window", kind_code="case", category_code="simple",
        )  # fmt: skip
        return services.case_register(actor=clerk, intake=intake)


def _raw(sql: str, params: list[Any]) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def test_the_phone_is_stored_sealed_and_read_in_clear(county_a):
    case = _register(county_a)
    with tenant_context(county_a):
        stored, index = _raw("SELECT citizen_phone, citizen_phone_index FROM casework_case WHERE id = %s", [case.pk])
        assert PHONE not in stored and is_sealed(stored)
        assert index == blind_index(PHONE, purpose=CITIZEN_PHONE_PURPOSE) and PHONE not in index
        assert Case.objects.get(pk=case.pk).citizen_phone == PHONE
        # A query on the plaintext would silently match nothing: it is refused instead.
        with pytest.raises(FieldError):
            Case.objects.filter(citizen_phone=PHONE).exists()


def test_staff_find_a_case_by_the_exact_phone_number(county_a, staff_api):
    case = _register(county_a, phone="13700001111")
    _register(county_a, phone="13700002222")
    api = staff_api(county_a, "supervisor")
    for term in ("13700001111", "137 0000 1111"):
        found = api.get("cases/", {"q": term}).json()["results"]
        assert [row["id"] for row in found] == [str(case.pk)]
    assert api.get("cases/", {"q": "13700003333"}).json()["results"] == []


def test_the_citizen_tracks_a_case_with_its_code_and_the_last_four_digits(county_a):
    case = _register(county_a, phone="13600004321")
    with tenant_context(county_a):
        assert selectors.case_lookup_by_tracking(tracking_code=case.tracking_code, phone_last4="4321").pk == case.pk
        for wrong in ("1234", "", "321", "04321"):
            with pytest.raises(NotFoundError):
                selectors.case_lookup_by_tracking(tracking_code=case.tracking_code, phone_last4=wrong)


def test_every_column_named_for_a_phone_or_id_number_is_sealed():
    """A new model field for a phone or ID number that is a plain text column fails here."""
    personal = ("phone", "id_number", "id_card", "identity_number", "mobile")
    plain = []
    for model in apps.get_models():
        for model_field in model._meta.concrete_fields:
            name = model_field.name.lower()
            text = isinstance(model_field, models.CharField | models.TextField | models.JSONField)
            if (
                text
                and any(word in name for word in personal)
                and not isinstance(model_field, EncryptedTextField | BlindIndexField)
            ):
                plain.append(f"{model._meta.label}.{model_field.name}")
    assert plain == []
    assert isinstance(Case._meta.get_field("citizen_phone"), EncryptedTextField)
    assert isinstance(TotpDevice._meta.get_field("secret"), EncryptedTextField)


def test_the_data_migration_seals_phones_stored_in_clear(county_a):
    case = _register(county_a, phone="13500005555")
    migration = importlib.import_module("casework.migrations.0008_personal_data_encryption")
    with tenant_context(county_a):
        with connection.cursor() as cursor:  # as the rows were before the migration
            cursor.execute(
                "UPDATE casework_case SET citizen_phone = %s, citizen_phone_index = '' WHERE id = %s",
                ["13500005555", case.pk],
            )
        migration.seal_phones(apps, connection.schema_editor())
        stored, index = _raw("SELECT citizen_phone, citizen_phone_index FROM casework_case WHERE id = %s", [case.pk])
        assert is_sealed(stored) and index == blind_index("13500005555", purpose=CITIZEN_PHONE_PURPOSE)
        assert Case.objects.get(pk=case.pk).citizen_phone == "13500005555"


def test_a_phone_left_in_clear_by_the_previous_release_is_read_then_sealed_by_the_rekey(county_a):
    case = _register(county_a, phone="13500006666")
    with tenant_context(county_a):
        with connection.cursor() as cursor:  # an old process wrote it during the upgrade
            cursor.execute(
                "UPDATE casework_case SET citizen_phone = %s, citizen_phone_index = '' WHERE id = %s",
                ["13500006666", case.pk],
            )
        assert Case.objects.get(pk=case.pk).citizen_phone == "13500006666"
        assert personal_data_reseal()["casework.Case.citizen_phone"] >= 1
        stored, index = _raw("SELECT citizen_phone, citizen_phone_index FROM casework_case WHERE id = %s", [case.pk])
        assert is_sealed(stored) and index == blind_index("13500006666", purpose=CITIZEN_PHONE_PURPOSE)


def test_totp_secrets_are_sealed_and_still_verify(county_a):
    with tenant_context(county_a):
        user = UserFactory(username="pd-totp")
        secret = pyotp.random_base32()
        TotpDevice.objects.create(user=user, secret=secret, confirmed_at=timezone.now())
        (stored,) = _raw("SELECT secret FROM accounts_totpdevice WHERE user_id = %s", [user.pk])
        assert secret not in stored and is_sealed(stored)
        assert totp_verify(user=user, code=pyotp.TOTP(secret).now())


def test_sms_recipients_are_sealed_in_the_outbox_and_the_phone_gets_the_message(county_a, settings, tmp_path):
    settings.SMS_BACKEND = "notifications.channels.FileSmsBackend"
    settings.SMS_FILE = str(tmp_path / "sms.log")
    with tenant_context(county_a):
        sms = notification_enqueue(
            key="case.registered", channel=Channel.SMS, recipient=PHONE, urgent=True, idempotency_key="pd-sms",
            values={"county": "城中区", "number": "CZ-1", "matter": "事项", "tracking_code": "ABC", "due": ""},
        )  # fmt: skip
        assert sms is not None
        (stored,) = _raw("SELECT recipient FROM notifications_notification WHERE id = %s", [sms.pk])
        assert PHONE not in stored and is_sealed(stored)
        inapp = notification_enqueue(
            key="case.registered", channel=Channel.INAPP, recipient="42", idempotency_key="pd-inapp",
            values={"county": "城中区", "number": "CZ-1", "matter": "事项", "tracking_code": "ABC", "due": ""},
        )  # fmt: skip
        assert inapp is not None and Notification.objects.get(pk=inapp.pk).recipient == "42"  # the inbox filters on it
        assert notification_deliver(notification_id=sms.pk) == "sent"
    sent = json.loads((tmp_path / "sms.log").read_text(encoding="utf-8").splitlines()[-1])
    assert sent["to"] == PHONE


def test_a_rotation_reseals_every_value_and_search_works_throughout(county_a, settings, staff_api):
    api = staff_api(county_a, "supervisor")
    case = _register(county_a, phone="13400004444")
    _register(county_a, phone="13400005555")
    with tenant_context(county_a):
        user = UserFactory(username="pd-rotate")
        TotpDevice.objects.create(user=user, secret="JBSWY3DPEHPK3PXP", confirmed_at=timezone.now())
    old_keys = settings.FIELD_ENCRYPTION_KEYS
    settings.FIELD_ENCRYPTION_KEYS = f"{key_generate('rot2')},{old_keys}"
    # Before re-sealing: old values open, and the old search hash still finds the case.
    assert [row["id"] for row in api.get("cases/", {"q": "13400004444"}).json()["results"]] == [str(case.pk)]
    with tenant_context(county_a):
        assert Case.objects.get(pk=case.pk).citizen_phone == "13400004444"
        assert personal_data_key_use().get("dev", 0) >= 3
        # Stopped after one row, then run again: it carries on where it stopped.
        count, _last = column_reseal(
            connection, table="casework_case", column="citizen_phone", purpose=CITIZEN_PHONE_PURPOSE,
            index_column="citizen_phone_index", batch=1,
        )  # fmt: skip
        assert count == 1
        counts = personal_data_reseal(batch=2)
        assert counts["casework.Case.citizen_phone"] >= 1 and counts["accounts.TotpDevice.secret"] >= 1
        assert set(personal_data_key_use()) == {"rot2"}
        assert personal_data_reseal() == dict.fromkeys(counts, 0)  # nothing left: repeating changes nothing
        assert AuditRecord.objects.filter(action="personal_data.resealed").exists()
    # The old key can go now.
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS.split(",")[0]
    with tenant_context(county_a):
        assert Case.objects.get(pk=case.pk).citizen_phone == "13400004444"
        (stored,) = _raw("SELECT secret FROM accounts_totpdevice WHERE user_id = %s", [user.pk])
        assert sealed_key_id(stored) == "rot2"
    assert [row["id"] for row in api.get("cases/", {"q": "13400004444"}).json()["results"]] == [str(case.pk)]


def test_the_rekey_command_does_the_public_schema_and_queues_every_county(county_a, settings, monkeypatch, capsys):
    from banchengshi import tasks

    queued: list[str] = []
    monkeypatch.setattr(tasks.dispatch_to_counties, "delay", lambda name: queued.append(name))
    _register(county_a, phone="13300003333")
    settings.FIELD_ENCRYPTION_KEYS = f"{key_generate('cmd2')},{settings.FIELD_ENCRYPTION_KEYS}"
    call_command("personal_data_rekey")
    assert queued == ["platform.personal_data_reseal"]
    call_command("personal_data_rekey", "--schema", county_a.schema_name)
    call_command("personal_data_rekey", "--status")
    out = capsys.readouterr().out
    assert "current key: cmd2" in out and f"{county_a.schema_name}: cmd2=" in out
    with schema_context(county_a.schema_name):
        assert set(personal_data_key_use()) == {"cmd2"}


def test_forwarded_phones_are_sealed_in_transit_and_shown_in_full_only_to_callers(county_a, county_b, staff_api):
    from casework.exchange.models import Envelope, ForwardAgreement
    from casework.forwarding.models import Forward
    from casework.forwarding.tests.conftest import deliver_all

    low, high = sorted((county_a.code, county_b.code))
    ForwardAgreement.objects.create(first_code=low, second_code=high, created_by="operator")
    clerk_a = staff_api(county_a, "window_clerk")
    case = clerk_a.post(
        "cases/create/",
        {"matter": "异地办理", "description": "x", "citizen_name": "金先生", "citizen_phone": PHONE,
         "channel": "window", "kind": "case", "category": "simple"},
    ).json()  # fmt: skip
    targets = [{"county_code": county_b.code}]
    body = {"version": case["version"], "mode": "full_online", "reason": "属地", "targets": targets}
    assert clerk_a.post(f"cases/{case['id']}/forward/", body).status_code == 200
    envelope = Envelope.objects.get(forward_id__in=_forward_ids(county_a, case["id"]))
    assert PHONE not in json.dumps(envelope.payload) and is_sealed(envelope.payload["citizen_phone"])
    deliver_all()
    with tenant_context(county_b):
        forward = Forward.objects.get(direction="in")
        assert PHONE not in json.dumps(forward.payload) and forward.citizen_phone == PHONE
    clerk_b, leader_b = staff_api(county_b, "window_clerk"), staff_api(county_b, "leader")
    assert clerk_b.get("forwards/incoming/").json()[0]["citizen_phone"] == PHONE
    assert leader_b.get("forwards/incoming/").json()[0]["citizen_phone"] == "139****5678"
    with tenant_context(county_b):
        viewed = AuditRecord.objects.filter(action="forward.phone_viewed").order_by("-seq").first()
        assert viewed is not None and str(forward.pk) in viewed.details["forward_ids"]
    accepted = clerk_b.post(f"forwards/{forward.pk}/accept/", {"kind_code": "case"}).json()
    with tenant_context(county_b):
        assert Case.objects.get(pk=accepted["case_id"]).citizen_phone == PHONE


def _forward_ids(county: Any, case_id: str) -> list[Any]:
    from casework.forwarding.models import Forward

    with tenant_context(county):
        return list(Forward.objects.filter(case_id=case_id).values_list("pk", flat=True))


def test_notifications_to_staff_carry_no_phone_number(county_a):
    with tenant_context(county_a):
        boss: Any = UserFactory(username="pd-notify-boss")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        handler: Any = UserFactory(username="pd-notify-handler")
        StaffProfileFactory(user=handler, role=StaffRole.DEPARTMENT_HANDLER, department_id=_scjgj())
        intake = services.CaseIntake(
            matter="营业执照变更", description=f"来电 {PHONE}", citizen_name="金先生", citizen_phone=PHONE,
            channel="window", kind_code="case", category_code="simple",
        )  # fmt: skip
        case = services.case_register(actor=boss, intake=intake)
        services.case_accept_and_assign(actor=boss, case_id=case.pk, version=case.version, lead_department_code="scjgj")
        inapp = Notification.objects.filter(channel=Channel.INAPP, idempotency_key__startswith=f"{case.pk}:")
        assert inapp.filter(recipient=str(handler.pk)).exists()
        assert all(PHONE not in n.body and PHONE not in n.subject for n in inapp)


def _scjgj() -> int:
    from casework.models import Department

    return Department.objects.get(code="scjgj").pk
