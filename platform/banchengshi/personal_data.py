"""Personal data at rest: sealed columns, keyed-hash search columns, and the keyring of the settings.

- ``EncryptedTextField(purpose=...)``: Python sees the plaintext, the database holds AES-256-GCM
  ciphertext (one encryption per save, one decryption per loaded row). It answers no lookup but
  ``isnull``: a query on the plaintext would silently match nothing, so it fails loudly instead.
- ``BlindIndexField(source=..., purpose=...)``: the HMAC-SHA256 of the source field's plaintext,
  recomputed whenever the row is saved with it; exact search filters on it with
  ``blind_indexes(value, purpose=...)`` (one hash per key of the ring, so rows not yet re-sealed
  after a rotation are found too).
- ``seal`` / ``unseal`` for personal values kept inside other columns (JSON payloads, the outbox).

See docs/adr/0014-personal-data-encryption.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models

from banchengshi.keyring import Keyring, SealError, is_sealed, keyring_parse, sealed_key_id

__all__ = [
    "BlindIndexField",
    "EncryptedTextField",
    "SealError",
    "blind_index",
    "blind_indexes",
    "current_key_id",
    "is_sealed",
    "keyring",
    "seal",
    "sealed_key_id",
    "unseal",
]

_rings: dict[str, Keyring] = {}


def keyring() -> Keyring:
    """The ring of ``settings.FIELD_ENCRYPTION_KEYS``, parsed once per distinct value."""
    spec = settings.FIELD_ENCRYPTION_KEYS
    ring = _rings.get(spec)
    if ring is None:
        ring = _rings[spec] = keyring_parse(spec)
    return ring


def current_key_id() -> str:
    return keyring().current_id


def seal(plaintext: str, *, purpose: str) -> str:
    return keyring().seal(plaintext, purpose=purpose)


def unseal(sealed: str, *, purpose: str) -> str:
    return keyring().unseal(sealed, purpose=purpose)


def blind_index(value: str, *, purpose: str) -> str:
    return keyring().blind_index(value, purpose=purpose)


def blind_indexes(value: str, *, purpose: str) -> list[str]:
    return keyring().blind_indexes(value, purpose=purpose)


class EncryptedTextField(models.TextField):
    """A text column sealed with the keyring; ``purpose`` (e.g. ``casework.case.citizen_phone``) binds it."""

    description = "Text encrypted at rest (AES-256-GCM)"

    def __init__(self, *args: Any, purpose: str, **kwargs: Any) -> None:
        self.purpose = purpose
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["purpose"] = self.purpose
        return name, path, args, kwargs

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        # A value in clear (written by a process of the previous release during an upgrade, or
        # seeded by raw SQL) is read as it is; `personal_data_rekey` seals it.
        if value is None or not is_sealed(value):
            return value
        return unseal(value, purpose=self.purpose)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return None if value is None else seal(str(value), purpose=self.purpose)

    def get_lookup(self, lookup_name: str) -> Any:
        # Ciphertext never equals anything: search through the field's BlindIndexField.
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None

    def get_transform(self, lookup_name: str) -> Any:
        return None


class BlindIndexField(models.CharField):
    """The keyed hash of another field's plaintext, set whenever the row is saved with this field."""

    description = "Keyed hash (HMAC-SHA256) of a sealed field, for exact search"

    def __init__(self, *args: Any, source: str, purpose: str, **kwargs: Any) -> None:
        self.source = source
        self.purpose = purpose
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        # Rows inserted by SQL (seeds, benchmarks) get an empty hash rather than an error;
        # personal_data_rekey fills it.
        kwargs.setdefault("db_default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        kwargs["purpose"] = self.purpose
        for key, default in (("max_length", 32), ("blank", True), ("default", ""), ("editable", False)):
            if kwargs.get(key) == default:
                kwargs.pop(key)
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        value = blind_index(getattr(model_instance, self.source) or "", purpose=self.purpose)
        setattr(model_instance, self.attname, value)
        return value


@dataclass(frozen=True)
class SealedLocation:
    """Where sealed values live: a column (or one key of a JSON column) of one model's table.

    ``where`` narrows the rows (a constant SQL condition, e.g. only the SMS rows of the outbox);
    ``index_column`` names the keyed hash kept beside the value.
    """

    model: str  # "app_label.ModelName"
    column: str
    purpose: str
    index_column: str = ""
    json_key: str = ""
    where: str = ""


_locations: list[SealedLocation] = []


def sealed_location_register(location: SealedLocation) -> None:
    """For values sealed inside other columns (apps call it when ready); sealed fields need not."""
    if location not in _locations:
        _locations.append(location)


def sealed_locations() -> list[SealedLocation]:
    """Every place holding sealed values: each ``EncryptedTextField`` and every registered location."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, EncryptedTextField):
                index = next(
                    (
                        str(f.column)
                        for f in model._meta.concrete_fields
                        if isinstance(f, BlindIndexField) and f.source == model_field.name
                    ),
                    "",
                )
                found.append(
                    SealedLocation(
                        model=model._meta.label, column=str(model_field.column), purpose=model_field.purpose,
                        index_column=index,
                    )
                )  # fmt: skip
    return found + list(_locations)


def column_reseal(
    connection: Any,
    *,
    table: str,
    column: str,
    purpose: str,
    index_column: str = "",
    json_key: str = "",
    where: str = "",
    pk: str = "id",
    batch: int = 500,
    after: Any = None,
) -> tuple[int, Any]:
    """Seal one batch of values not yet under the current key; returns (count, last pk).

    Plaintext (a column before its data migration) is sealed, values under an older key are
    opened and sealed again, and the search hash is recomputed with them. Rows already under the
    current key are never selected, so a run interrupted anywhere simply starts again. Names and
    conditions come from code, never from input.
    """
    ring = keyring()
    prefix = f"{ring.current_id}$"
    value = f""""{column}" ->> '{json_key}'""" if json_key else f'"{column}"'
    conditions = [f"{value} <> ''", f"left({value}, %s) <> %s"] + ([f"({where})"] if where else [])
    params: list[Any] = [len(prefix), prefix]
    if after is not None:
        conditions.append(f'"{pk}" > %s')
        params.append(after)
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "{pk}", {value} FROM "{table}" WHERE {" AND ".join(conditions)} '  # noqa: S608
            f'ORDER BY "{pk}" LIMIT %s FOR UPDATE',
            [*params, batch],
        )
        rows = cursor.fetchall()
        updates = []
        for row_pk, text in rows:
            plaintext = ring.unseal(text, purpose=purpose) if is_sealed(text) else text
            sealed = ring.seal(plaintext, purpose=purpose)
            extra = [ring.blind_index(plaintext, purpose=purpose)] if index_column else []
            updates.append((sealed, *extra, row_pk))
        if updates:
            target = f"""jsonb_set("{column}", '{{{json_key}}}', to_jsonb(%s::text))""" if json_key else "%s"
            assignments = f'"{column}" = {target}' + (f', "{index_column}" = %s' if index_column else "")
            cursor.executemany(f'UPDATE "{table}" SET {assignments} WHERE "{pk}" = %s', updates)  # noqa: S608
    return len(rows), (rows[-1][0] if rows else after)


def column_reseal_all(connection: Any, **kwargs: Any) -> int:
    """Every batch of ``column_reseal`` in the caller's transaction (data migrations)."""
    total, after = 0, None
    while True:
        count, after = column_reseal(connection, after=after, **kwargs)
        total += count
        if count == 0:
            return total


# -- key rotation -----------------------------------------------------------------------------


def _locations_here() -> list[tuple[SealedLocation, str]]:
    """The sealed locations whose tables exist in the current schema, with their table names."""
    from django.apps import apps
    from django_tenants.utils import get_public_schema_name

    from banchengshi.tenancy import current_schema

    installed = settings.SHARED_APPS if current_schema() == get_public_schema_name() else settings.TENANT_APPS
    found = []
    for location in sealed_locations():
        model = apps.get_model(location.model)
        if model._meta.app_config.name in installed:
            found.append((location, model._meta.db_table))
    return found


def personal_data_reseal(*, batch: int = 500) -> dict[str, int]:
    """Seal every value of the current schema that is not under the current key again.

    Each batch is its own transaction, so a run stopped anywhere loses nothing and the next run
    starts with what is left (rows already under the current key are never touched again).
    """
    from django.db import connection, transaction

    from banchengshi.audit.services import audit_record

    counts: dict[str, int] = {}
    for location, table in _locations_here():
        name = f"{location.model}.{location.column}" + (f".{location.json_key}" if location.json_key else "")
        total, after = 0, None
        while True:
            with transaction.atomic():
                count, after = column_reseal(
                    connection, table=table, column=location.column, purpose=location.purpose,
                    index_column=location.index_column, json_key=location.json_key, where=location.where,
                    batch=batch, after=after,
                )  # fmt: skip
            total += count
            if count < batch:
                break
        counts[name] = total
    if any(counts.values()):
        audit_record(
            action="personal_data.resealed", actor_label="system",
            details={"key": current_key_id(), "counts": {k: v for k, v in counts.items() if v}},
        )  # fmt: skip
    return counts


def personal_data_key_use() -> dict[str, int]:
    """How many sealed values of the current schema each key id still holds (an old key may go at 0)."""
    from django.db import connection

    use: dict[str, int] = {}
    with connection.cursor() as cursor:
        for location, table in _locations_here():
            value = (
                f""""{location.column}" ->> '{location.json_key}'""" if location.json_key else f'"{location.column}"'
            )
            where = f" AND ({location.where})" if location.where else ""
            # Only sealed-looking values count: plaintext left by an old archive is not a key.
            cursor.execute(
                f"SELECT split_part({value}, '$', 1), count(*) FROM \"{table}\" "  # noqa: S608 - names from code
                f"WHERE {value} LIKE '%%$%%'{where} GROUP BY 1",
                [],
            )
            for key_id, count in cursor.fetchall():
                use[key_id] = use.get(key_id, 0) + int(count)
    return use
