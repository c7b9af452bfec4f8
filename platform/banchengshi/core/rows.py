"""One model instance INSERTed with SQL built once per model, not compiled on every save().

Registering a case writes six rows, and compiling each INSERT through ``Model.save()`` took
about a tenth of its CPU (``benchmarks/bench_casework_api.py``). Values still pass through each
field's own ``pre_save`` and ``get_db_prep_save`` (sealing, keyed hashes, JSON, time zones), so
a row holds exactly what ``save()`` would have written. No ``pre_save``/``post_save`` signal is
sent: nothing may listen to them here (services call what follows explicitly).
"""

from __future__ import annotations

from functools import cache

from django.db import connection, models
from django.db.models.expressions import DatabaseDefault
from django.db.models.fields import AutoFieldMixin


@cache
def _insert_statement(model: type[models.Model], conflict: str) -> tuple[str, tuple[models.Field, ...], bool]:
    meta = model._meta
    generated = isinstance(meta.pk, AutoFieldMixin)
    fields = tuple(f for f in meta.concrete_fields if not (generated and f is meta.pk))
    quote = connection.ops.quote_name
    on_conflict = ""
    if conflict:
        unique = meta.get_field(conflict)
        assert isinstance(unique, models.Field)  # noqa: S101 - a column of this table, not a relation's reverse
        on_conflict = f" ON CONFLICT ({quote(str(unique.column))}) DO NOTHING"
    returning = quote(str(meta.pk.column)) if generated else "1"
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(str(f.column)) for f in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}){on_conflict} RETURNING {returning}"
    )
    return sql, fields, generated


def row_insert(instance: models.Model, *, skip_on_conflict: str = "") -> bool:
    """INSERT ``instance`` as ``save(force_insert=True)`` would, in one statement.

    ``skip_on_conflict`` names a unique field: a row already holding the same value there makes
    this insert nothing and answer False (``ON CONFLICT … DO NOTHING``), without the savepoint
    that catching an IntegrityError would need.
    """
    sql, fields, generated = _insert_statement(type(instance), skip_on_conflict)
    values = [f.pre_save(instance, add=True) for f in fields]
    if any(isinstance(value, DatabaseDefault) for value in values):
        # A value left to the database's default: the ORM knows how to write DEFAULT for it.
        instance.save(force_insert=True)
        return True
    prepared = [f.get_db_prep_save(value, connection) for f, value in zip(fields, values, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, prepared)
        row = cursor.fetchone()
    if row is None:
        return False
    if generated:
        setattr(instance, instance._meta.pk.attname, row[0])
    instance._state.adding = False
    instance._state.db = connection.alias
    return True
