"""Rows written and read on every request with SQL built once per process, not compiled per call.

``row_insert``: one model instance INSERTed with SQL built once per model, not by ``save()``.

Registering a case writes six rows, and compiling each INSERT through ``Model.save()`` took
about a tenth of its CPU (``benchmarks/bench_casework_api.py``). Values still pass through each
field's own ``pre_save`` and ``get_db_prep_save`` (sealing, keyed hashes, JSON, time zones), so
a row holds exactly what ``save()`` would have written. No ``pre_save``/``post_save`` signal is
sent: nothing may listen to them here (services call what follows explicitly).

``joined_get``: one row by primary key with related rows joined, as ``select_related(...).
filter(pk=...).first()`` answers it; every API request reads its token this way, and compiling
that four-table join cost more CPU than running it.

``rows_batched``: inside a transaction, INSERTs whose answer nobody needs wait and travel with the
next statement that does need one (or go at the end of the block). A registration sends its six
rows and its audit link in one query string instead of seven round trips. Each round trip costs
PostgreSQL about 120 µs of CPU besides the statement's own work
(``benchmarks/bench_registration_sql.py``, ADR 20).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models.expressions import DatabaseDefault
from django.db.models.fields import AutoFieldMixin
from psycopg import pq


@cache
def _insert_statement(model: type[models.Model], conflict: str) -> tuple[str, str, tuple[models.Field, ...], bool]:
    """The INSERT with its RETURNING clause, the same without it (for a row that waits), its fields."""
    meta = model._meta
    generated = isinstance(meta.pk, AutoFieldMixin)
    # A generated column (``Case.next_due_at``) is PostgreSQL's to compute: naming it is an error.
    fields = tuple(f for f in meta.concrete_fields if not (generated and f is meta.pk) and not f.generated)
    quote = connection.ops.quote_name
    on_conflict = ""
    if conflict:
        unique = meta.get_field(conflict)
        assert isinstance(unique, models.Field)  # noqa: S101 - a column of this table, not a relation's reverse
        on_conflict = f" ON CONFLICT ({quote(str(unique.column))}) DO NOTHING"
    returning = quote(str(meta.pk.column)) if generated else "1"
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(str(f.column)) for f in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}){on_conflict}"
    )
    return f"{sql} RETURNING {returning}", sql, fields, generated


# The statements waiting in the current ``rows_batched`` block, kept on the connection (one per thread).
_PENDING = "_bcs_rows_pending"


class _Waiting(list[tuple[str, int]]):
    """Statement texts with their values in them, each with how many statements (results) it holds.

    Their table names are resolved by the search_path when they arrive, so they may only travel
    while the connection is in the county schema they were written for.
    """

    def __init__(self, schema: str | None) -> None:
        super().__init__()
        self.schema = schema

    def check(self, db: Any) -> None:
        if getattr(db, "schema_name", None) != self.schema:
            raise RuntimeError(
                f"rows waiting for schema {self.schema!r} cannot go to the database from schema "
                f"{getattr(db, 'schema_name', None)!r}: leave rows_batched() before switching schemas"
            )


def row_insert(instance: models.Model, *, skip_on_conflict: str = "") -> bool:
    """INSERT ``instance`` as ``save(force_insert=True)`` would, in one statement.

    Unlike ``save()`` it does not read back generated columns: they stay unloaded on the
    instance, and reading one loads it from the database (one query).

    Inside ``rows_batched`` (and without ``skip_on_conflict``) the statement waits for the next
    one, and a key the database generates stays unknown: the instance's ``pk`` remains None.

    ``skip_on_conflict`` names a unique field: a row already holding the same value there makes
    this insert nothing and answer False (``ON CONFLICT … DO NOTHING``), without the savepoint
    that catching an IntegrityError would need.
    """
    sql, unanswered, fields, generated = _insert_statement(type(instance), skip_on_conflict)
    values = [f.pre_save(instance, add=True) for f in fields]
    if any(isinstance(value, DatabaseDefault) for value in values):
        # A value left to the database's default: the ORM knows how to write DEFAULT for it.
        instance.save(force_insert=True)
        return True
    # The connection itself, not the ``connection`` proxy: each field asks it for its operations,
    # and every attribute read through the proxy is a context-local lookup (about 90 a registration).
    db = connections[DEFAULT_DB_ALIAS]
    prepared = [f.get_db_prep_save(value, db) for f, value in zip(fields, values, strict=True)]
    pending: _Waiting | None = getattr(db, _PENDING, None)
    with db.cursor() as cursor:
        if pending is not None and not skip_on_conflict:
            # Its answer (the generated key) is not needed: the row goes with the next statement.
            pending.check(db)
            pending.append((cursor.mogrify(unanswered, prepared), 1))
            instance._state.adding = False
            instance._state.db = db.alias
            return True
        cursor.execute(sql, prepared)
        row = cursor.fetchone()
    if row is None:
        return False
    if generated:
        setattr(instance, instance._meta.pk.attname, row[0])
    instance._state.adding = False
    instance._state.db = db.alias
    return True


@contextmanager
def rows_batched() -> Iterator[None]:
    """Let ``row_insert`` statements wait and go to the database with the next statement.

    Only inside a transaction, so every waiting row still commits (or rolls back) with the rest.
    Order is kept: any statement run on this connection inside the block (a read, a savepoint,
    another INSERT) is sent in one message after the waiting ones, and sees their rows; what is
    still waiting at the end of the block is sent then. An error in a waiting statement is raised
    by the statement it travelled with, and fails the transaction as it would have anyway.

    What still waits when an exception leaves the block is sent too, before the exception goes
    on: without batching those rows were written already, and a caller that catches the
    exception and commits keeps them (an audit record must not vanish while the change it
    records commits). Only a transaction that can no longer commit (marked for rollback, or
    failed in PostgreSQL) drops them: they would be rolled back with it anyway.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("rows_batched() needs a transaction: waiting rows must commit with the rest")
    if getattr(connection, _PENDING, None) is not None:
        yield  # the enclosing block sends them
        return
    pending = _Waiting(getattr(connection, "schema_name", None))
    setattr(connection, _PENDING, pending)
    try:
        with connection.execute_wrapper(_carrying(pending)):
            try:
                yield
            except Exception:
                # A failure to send them replaces the exception (chained to it), as it would
                # have been raised first without batching; swallowing it would let the caller
                # commit a failed transaction, which PostgreSQL silently turns into a rollback.
                _send_rest(pending, on_error=True)
                raise
            _send_rest(pending, on_error=False)
    finally:
        setattr(connection, _PENDING, None)


def _send_rest(pending: _Waiting, *, on_error: bool) -> None:
    if not pending:
        return
    # A transaction that failed in PostgreSQL while no exception leaves the block means an error
    # was swallowed without a savepoint: sending then raises, as the row would have without batching.
    if connection.needs_rollback or (on_error and _transaction_failed()):
        pending.clear()  # rolled back with the transaction (or its savepoint) whatever happens
        return
    pending.check(connection)
    with connection.cursor() as cursor:
        cursor.execute(_take(pending))


def _transaction_failed() -> bool:
    raw = connection.connection
    return raw is None or raw.info.transaction_status == pq.TransactionStatus.INERROR


def statement_defer(sql: str, params: Sequence[Any]) -> bool:
    """Inside ``rows_batched``: let statements whose answers nobody needs wait (True). Outside: False.

    ``sql`` may hold several statements separated by semicolons (none inside its literals: values
    are parameters), so that the statement that carries them can skip each one's result.
    """
    db = connections[DEFAULT_DB_ALIAS]
    pending: _Waiting | None = getattr(db, _PENDING, None)
    if pending is None:
        return False
    pending.check(db)
    with db.cursor() as cursor:
        pending.append((cursor.mogrify(sql, params), sql.strip().rstrip(";").count(";") + 1))
    return True


def _take(pending: _Waiting) -> str:
    text = ";\n".join(statement for statement, _count in pending)
    pending.clear()
    return text


def _carrying(pending: _Waiting) -> Callable[..., Any]:
    def execute_with_waiting(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if not pending:
            return execute(sql, params, many, context)
        pending.check(context["connection"])
        if many:  # executemany sends its statement once per row: the waiting rows go first, alone
            carried = _take(pending)
            context["cursor"].execute(carried)
            return execute(sql, params, many, context)
        count = sum(statements for _text, statements in pending)
        cursor = context["cursor"]
        if params is not None:
            # Its values merged into its own text here: psycopg would otherwise scan the whole
            # string, the waiting rows included, for placeholders.
            sql, params = cursor.mogrify(sql, params), None
        result = execute(f"{_take(pending)};\n{sql}", params, many, context)
        for _skip in range(count):  # past the waiting rows' results, to the caller's own
            cursor.nextset()
        return result

    return execute_with_waiting


@dataclass(frozen=True)
class _Joined:
    """One table of a joined read: its model, its columns' place in the row, and how it hangs on its parent."""

    model: type[models.Model]
    attnames: tuple[str, ...]
    start: int
    parent: int  # index of the parent in the plan; -1 for the row asked for
    relation: Any  # the forward field or reverse one-to-one relation from the parent (None for the root)


@cache
def _joined_plan(model: type[models.Model], related: tuple[str, ...]) -> tuple[str, tuple[_Joined, ...]]:
    quote = connection.ops.quote_name
    plan = [_Joined(model, tuple(f.attname for f in model._meta.concrete_fields), 0, -1, None)]
    columns = [f"t0.{quote(str(f.column))}" for f in model._meta.concrete_fields]
    joins: list[str] = []
    place: dict[tuple[str, ...], int] = {(): 0}
    for chain in related:
        names = tuple(chain.split("__"))
        for depth in range(1, len(names) + 1):
            if names[:depth] in place:
                continue
            parent = place[names[: depth - 1]]
            parent_meta = plan[parent].model._meta
            relation = parent_meta.get_field(names[depth - 1])
            target: type[models.Model] = relation.related_model  # type: ignore[assignment]
            alias = f"t{len(plan)}"
            if isinstance(relation, models.OneToOneRel):  # reverse: the child's column points here
                on = f"{alias}.{quote(str(relation.field.column))} = t{parent}.{quote(str(parent_meta.pk.column))}"
            elif isinstance(relation, models.ForeignKey):  # forward, one-to-one included
                on = f"{alias}.{quote(str(target._meta.pk.column))} = t{parent}.{quote(str(relation.column))}"
            else:
                raise ValueError(f"{chain}: only foreign keys and one-to-one relations can be joined")
            joins.append(f"LEFT JOIN {quote(target._meta.db_table)} {alias} ON {on}")
            fields = target._meta.concrete_fields
            plan.append(_Joined(target, tuple(f.attname for f in fields), len(columns), parent, relation))
            columns += [f"{alias}.{quote(str(f.column))}" for f in fields]
            place[names[:depth]] = len(plan) - 1
    sql = (
        f"SELECT {', '.join(columns)} FROM {quote(model._meta.db_table)} t0 {' '.join(joins)} "  # noqa: S608
        f"WHERE t0.{quote(str(model._meta.pk.column))} = %s LIMIT 1"
    )
    return sql, tuple(plan)


def joined_get(model: type[models.Model], related: Sequence[str], pk: Any) -> Any:
    """``model.objects.select_related(*related).filter(pk=pk).first()``, with the SQL built once.

    ``related`` holds ``select_related`` paths of foreign keys and one-to-one relations (reverse
    ones included); a missing related row is cached as None, as select_related caches it.
    """
    sql, plan = _joined_plan(model, tuple(related))
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        row = cursor.fetchone()
    if row is None:
        return None
    instances: list[models.Model | None] = []
    for step in plan:
        values = row[step.start : step.start + len(step.attnames)]
        parent = instances[step.parent] if step.parent >= 0 else None
        if step.parent >= 0 and parent is None:
            instances.append(None)  # its parent is missing, so is it; nothing to cache it on
            continue
        pk_value = values[step.attnames.index(step.model._meta.pk.attname)]
        instance = None if pk_value is None else step.model.from_db(connection.alias, list(step.attnames), values)
        instances.append(instance)
        if parent is not None:
            step.relation.set_cached_value(parent, instance)
            if instance is not None and isinstance(step.relation, models.OneToOneRel):
                step.relation.field.set_cached_value(instance, parent)
    return instances[0]
