"""A migration executor for thousands of county schemas: plan once, apply everywhere.

Django (and django-tenants' ``migrate_schemas``) plans and introspects every schema on its own:
seconds per county even with nothing to do. Here the migration graph is planned once, the SQL
of each migration is rendered once against a template schema (``county_template``) and kept in
the public table ``tenants_renderedmigration``, and each county then gets, in one transaction,
its pending SQL, its ``django_migrations`` rows and any new content types and permissions. A
county's own ``django_migrations`` table is the truth; ``County.schema_digest`` caches "this
schema has the whole current plan", so a run with nothing to do is one query.

Data migrations (``RunPython``) cannot be rendered: such a migration is applied in each county's
transaction the way Django's executor applies it, minus the recorder's catalog scan. See
docs/adr/0008.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps as global_apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState
from django.utils.translation import gettext as _
from django_tenants.utils import get_public_schema_name

from banchengshi.core.hosts import registry_generation_bump
from banchengshi.errors import ApplicationError
from tenants.errors import TenantsErrorCode
from tenants.models import County, CountyStatus, MigrationKind, RenderedMigration

logger = logging.getLogger(__name__)

TEMPLATE_SCHEMA = "county_template"
# A connection that touched thousands of schemas keeps their catalog entries cached (hundreds of
# MB); reconnecting every so many counties bounds its memory.
RECYCLE_EVERY = 300
TRUTH_BATCH = 200
LOCK_NAMESPACE = 0x434E5459  # "CNTY": advisory locks of the executor

Node = tuple[str, str]


@dataclass(frozen=True)
class PlannedMigration:
    app: str
    name: str
    source_digest: str
    kind: str
    fresh_sql_only: bool = False

    @property
    def key(self) -> Node:
        return (self.app, self.name)


@dataclass(frozen=True)
class SchemaPlan:
    """Every migration a county schema must have, in the order a fresh migrate applies them."""

    migrations: tuple[PlannedMigration, ...]
    digest: str

    @property
    def keys(self) -> list[Node]:
        return [m.key for m in self.migrations]


@dataclass
class RenderedPlan:
    plan: SchemaPlan
    sql: dict[Node, str]

    def pending_for(self, applied: set[Node]) -> list[PlannedMigration]:
        return [m for m in self.plan.migrations if m.key not in applied]


@dataclass
class MigrateReport:
    total: int = 0
    up_to_date: int = 0
    migrated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


ProgressCallback = Callable[[int, int, str, bool], None]


# Data migrations whose Python code only touches rows an empty schema cannot have yet (content
# types and permissions are created after migrating): a new schema runs only their SQL. A
# migration of ours says the same with ``fresh_schema_sql_only = True``.
FRESH_SCHEMA_SQL_ONLY = {
    ("contenttypes", "0002_remove_content_type_name"),
    ("auth", "0011_update_proxy_permissions"),
}


def _tenant_app_labels() -> set[str]:
    names = set(settings.TENANT_APPS)
    return {config.label for config in global_apps.get_app_configs() if config.name in names}


def _source_digest(migration: Migration) -> str:
    module = inspect.getmodule(type(migration))
    try:
        source = inspect.getsource(module) if module else repr(migration.operations)
    except (OSError, TypeError):
        source = repr(migration.operations)
    return hashlib.sha256(source.encode()).hexdigest()


def _loader() -> MigrationLoader:
    # No connection: the plan is the graph alone, whatever any schema has applied.
    return MigrationLoader(None, ignore_no_migrations=True)


def schema_plan_load(loader: MigrationLoader | None = None) -> SchemaPlan:
    """The full migration plan of a county schema (reads migration files, never the database)."""
    loader = loader or _loader()
    graph = loader.graph
    tenant_labels = _tenant_app_labels()
    seen: set[Node] = set()
    order: list[Node] = []
    for target in sorted(graph.leaf_nodes()):
        for node in graph.forwards_plan(target):
            if node not in seen:
                seen.add(node)
                order.append(node)
    planned = []
    for app, name in order:
        migration = loader.get_migration(app, name)
        if app not in tenant_labels:
            kind = MigrationKind.RECORD
        elif all(operation.reduces_to_sql for operation in migration.operations):
            kind = MigrationKind.SQL
        else:
            kind = MigrationKind.PYTHON
        planned.append(
            PlannedMigration(
                app=app,
                name=name,
                source_digest=_source_digest(migration),
                kind=kind,
                fresh_sql_only=(app, name) in FRESH_SCHEMA_SQL_ONLY
                or bool(getattr(migration, "fresh_schema_sql_only", False)),
            )
        )
    digest = hashlib.sha256("\n".join(f"{m.app}.{m.name}:{m.source_digest}" for m in planned).encode()).hexdigest()
    return SchemaPlan(migrations=tuple(planned), digest=digest)


def _quote(schema: str) -> str:
    if not schema.replace("_", "").isalnum():
        raise ValueError(f"not a schema name: {schema!r}")
    return f'"{schema}"'


def _set_schema(schema: str) -> None:
    cast_connection: Any = connection
    cast_connection.set_schema(schema, include_public=True)


def _to_public() -> None:
    cast_connection: Any = connection
    cast_connection.set_schema_to_public()


def _recorder_table_sql() -> str:
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        editor.create_model(MigrationRecorder.Migration)
    return "\n".join(editor.collected_sql)


def _schema_exists(schema: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
        return cursor.fetchone() is not None


def plan_render(*, plan: SchemaPlan | None = None, stdout: Any = None) -> RenderedPlan:
    """Bring the template schema up to the plan, rendering the SQL of each migration it lacks.

    Each migration is rendered against the template while the template is in the state just
    before it (so Django's few introspecting operations see the right tables), then that exact
    SQL is executed on the template. If a migration file changed after it was rendered, the
    template and every rendered migration are rebuilt from scratch.
    """
    plan = plan or schema_plan_load()
    wanted = {m.key: m for m in plan.migrations}

    def current() -> tuple[dict[Node, RenderedMigration], bool]:
        stored = {(r.app, r.name): r for r in RenderedMigration.objects.all()}
        stale = any(key in wanted and row.source_digest != wanted[key].source_digest for key, row in stored.items())
        missing = any(key not in stored for key in wanted)
        return stored, stale or missing or _schema_exists(TEMPLATE_SCHEMA) != bool(stored)

    stored, needs_work = current()
    if needs_work:
        _to_public()
        with transaction.atomic():
            # Two processes onboarding or migrating at once render the template one after the other.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, 1)", [LOCK_NAMESPACE])
            stored, _ignored = current()
            stale = any(row.source_digest != wanted[key].source_digest for key, row in stored.items() if key in wanted)
            if stale or _schema_exists(TEMPLATE_SCHEMA) != bool(stored):
                _template_drop()
                stored = {}
            if any(key not in stored for key in wanted):
                _template_extend(plan, stored_keys=set(stored), stdout=stdout)
                stored = {(r.app, r.name): r for r in RenderedMigration.objects.all()}
    return RenderedPlan(plan=plan, sql={key: stored[key].sql for key in wanted})


def _template_drop() -> None:
    _to_public()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {_quote(TEMPLATE_SCHEMA)} CASCADE")
        RenderedMigration.objects.all().delete()


def _template_extend(plan: SchemaPlan, *, stored_keys: set[Node], stdout: Any) -> None:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    state = ProjectState(real_apps=loader.unmigrated_apps)
    applied_any = False
    with transaction.atomic():
        _to_public()
        if not _schema_exists(TEMPLATE_SCHEMA):
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE SCHEMA {_quote(TEMPLATE_SCHEMA)}")
        _set_schema(TEMPLATE_SCHEMA)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = 'django_migrations'",
                [TEMPLATE_SCHEMA],
            )
            if cursor.fetchone() is None:
                cursor.execute(_recorder_table_sql())
        position = 0
        for planned in plan.migrations:
            position += 1
            migration = loader.get_migration(*planned.key)
            if planned.key in stored_keys:
                state = migration.mutate_state(state, preserve=False)
                continue
            sql = ""
            if planned.kind == MigrationKind.SQL:
                with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
                    state = migration.apply(state, editor, collect_sql=True)
                sql = "\n".join(editor.collected_sql)
                if sql.strip():
                    with connection.cursor() as cursor:
                        cursor.execute(sql)
            elif planned.kind == MigrationKind.PYTHON:
                # Keep the SQL of its schema operations: a new, empty schema may run only those
                # (see FRESH_SCHEMA_SQL_ONLY); the template runs the whole migration.
                with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
                    migration.apply(state.clone(), editor, collect_sql=True)
                sql = "\n".join(line for line in editor.collected_sql if not line.startswith("--"))
                executor = MigrationExecutor(connection)
                state = executor.apply_migration(state, migration)
            else:
                state = migration.mutate_state(state, preserve=False)
            if planned.kind != MigrationKind.PYTHON:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, now())", list(planned.key)
                    )
            RenderedMigration.objects.update_or_create(
                app=planned.app,
                name=planned.name,
                defaults={
                    "position": position,
                    "source_digest": planned.source_digest,
                    "kind": planned.kind,
                    "sql": sql,
                },
            )
            applied_any = True
            if stdout is not None:
                stdout.write(f"  rendered {planned.app}.{planned.name} ({planned.kind})\n")
        if applied_any:
            # What Django's migrate does after migrating: content types and permissions.
            emit_post_migrate_signal(0, False, connection.alias, apps=state.apps, plan=[])
            # The content type cache now holds the template's ids; the public schema has others.
            ContentType.objects.clear_cache()
    _to_public()


_CONTENT_TYPES_SQL = (
    "INSERT INTO django_content_type (app_label, model) SELECT t.app_label, t.model "
    "FROM {template}.django_content_type t WHERE NOT EXISTS (SELECT 1 FROM django_content_type c "
    "WHERE c.app_label = t.app_label AND c.model = t.model) ORDER BY t.id;"
)
_PERMISSIONS_SQL = (
    "INSERT INTO auth_permission (name, content_type_id, codename) SELECT tp.name, c.id, tp.codename "
    "FROM {template}.auth_permission tp JOIN {template}.django_content_type tc "
    "ON tc.id = tp.content_type_id JOIN django_content_type c ON c.app_label = tc.app_label "
    "AND c.model = tc.model WHERE NOT EXISTS (SELECT 1 FROM auth_permission p "
    "WHERE p.content_type_id = c.id AND p.codename = tp.codename) ORDER BY tp.id;"
)


def _reference_rows_sql() -> str:
    """Copy new content types and permissions from the template (by natural key, never by id)."""
    labels = _tenant_app_labels()
    parts = []
    template = _quote(TEMPLATE_SCHEMA)
    if "contenttypes" in labels:
        parts.append(_CONTENT_TYPES_SQL.format(template=template))
        if "auth" in labels:
            parts.append(_PERMISSIONS_SQL.format(template=template))
    return "\n".join(parts)


def county_schema_apply(
    *,
    schema: str,
    rendered: RenderedPlan,
    pending: Sequence[PlannedMigration],
    create: bool = False,
    lock_timeout_ms: int = 0,
) -> None:
    """Apply ``pending`` to one county schema in one transaction (creating the schema if asked).

    The caller's transaction, if any, is joined: onboarding creates the schema, its tables and
    the county's configuration all or nothing.
    """
    with transaction.atomic():
        if create:
            _to_public()
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE SCHEMA {_quote(schema)}")
        _set_schema(schema)
        with connection.cursor() as cursor:
            if lock_timeout_ms:
                # A county busy with long requests fails fast (and is retried next run) instead
                # of queueing every request behind the migration's lock.
                cursor.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
            if create:
                cursor.execute(_recorder_table_sql())
            batch: list[str] = []
            recorded: list[PlannedMigration] = []

            def flush() -> None:
                script = "\n".join(s for s in batch if s.strip())
                if script:
                    cursor.execute(script)
                if recorded:
                    cursor.execute(
                        "INSERT INTO django_migrations (app, name, applied) "
                        "SELECT unnest(%s::text[]), unnest(%s::text[]), now()",
                        [[m.app for m in recorded], [m.name for m in recorded]],
                    )
                batch.clear()
                recorded.clear()

            for planned in pending:
                if planned.kind == MigrationKind.PYTHON and not (create and planned.fresh_sql_only):
                    flush()
                    _python_migration_apply(planned, digest=rendered.plan.digest)
                # The SQL kind runs as rendered; the Python kind ran above; both are recorded.
                if planned.kind != MigrationKind.PYTHON or (create and planned.fresh_sql_only):
                    batch.append(rendered.sql[planned.key])
                recorded.append(planned)
            flush()
            if pending:
                reference = _reference_rows_sql()
                if reference:
                    cursor.execute(reference)
        _to_public()


# The project state before each data migration, rendered once per process and plan: computing it
# (and its app registry) for every county would cost more than the migration itself.
_states: dict[tuple[str, Node], tuple[Migration, ProjectState]] = {}


def _python_migration_apply(planned: PlannedMigration, *, digest: str) -> None:
    """Run a data migration in the current schema like Django's executor, without its recorder.

    Django's executor asks the recorder whether django_migrations exists, which lists every
    table visible on the search path: a scan of the whole catalog per county at thousands of
    schemas. The caller records the migration itself.
    """
    cache_key = (digest, planned.key)
    if cache_key not in _states:
        loader = _loader()
        state = loader.project_state(planned.key, at_end=False)
        state.apps  # noqa: B018 - render the app registry once; clones reuse it
        if any(key[0] != digest for key in _states):
            _states.clear()
        _states[cache_key] = (loader.get_migration(*planned.key), state)
    migration, state = _states[cache_key]
    with connection.schema_editor(atomic=migration.atomic) as editor:
        migration.apply(state.clone(), editor)


def county_schema_create(*, schema: str, rendered: RenderedPlan | None = None) -> None:
    """Create a county schema with every table of the plan: the fast path of onboarding."""
    rendered = rendered or plan_render()
    county_schema_apply(schema=schema, rendered=rendered, pending=rendered.plan.migrations, create=True)


_RECORDER_SELECT = "SELECT %s, app, name FROM {}.django_migrations"


def applied_migrations(schemas: Iterable[str]) -> dict[str, set[Node]]:
    """What each schema's own django_migrations says, read a batch of schemas per query."""
    schemas = list(schemas)
    result: dict[str, set[Node]] = {schema: set() for schema in schemas}
    _to_public()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'django_migrations' AND c.relkind = 'r' AND n.nspname = ANY(%s)",
            [schemas],
        )
        with_table = [row[0] for row in cursor.fetchall()]
        for start in range(0, len(with_table), TRUTH_BATCH):
            chunk = with_table[start : start + TRUTH_BATCH]
            # Schema names come from pg_namespace and are quoted: no request text reaches SQL.
            query = " UNION ALL ".join(_RECORDER_SELECT.format(_quote(schema)) for schema in chunk)
            cursor.execute(query, chunk)
            for schema, app, name in cursor.fetchall():
                result[schema].add((app, name))
    return result


def _recycle(done: int) -> None:
    if done and done % RECYCLE_EVERY == 0 and not connection.in_atomic_block:
        connection.close()


def counties_up_to_date(plan: SchemaPlan) -> bool:
    """One query: has every county been brought up to exactly this plan?"""
    return not County.objects.exclude(schema_digest=plan.digest).exists()


def counties_migrate(
    *,
    schemas: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    stdout: Any = None,
    lock_timeout_ms: int = 10_000,
) -> MigrateReport:
    """Bring every county schema (or the named ones) up to the current plan.

    Each county is one transaction, so an interrupted run loses at most the county it was on;
    running again resumes from each schema's own django_migrations. A county whose migration
    fails is rolled back, marked ``migration_failed`` (out of service) and the run goes on.
    """
    started = time.perf_counter()
    plan = schema_plan_load()
    report = MigrateReport()
    _to_public()
    counties = County.objects.all()
    if schemas is not None:
        counties = counties.filter(schema_name__in=list(schemas))
    report.total = counties.count()
    behind = list(counties.exclude(schema_digest=plan.digest).values_list("schema_name", "status"))
    report.up_to_date = report.total - len(behind)
    rendered = plan_render(plan=plan, stdout=stdout)
    if not behind:
        report.seconds = time.perf_counter() - started
        return report
    statuses = dict(behind)
    # One run at a time: a second one would apply the same SQL again and mark counties failed.
    # The lock lives on its own connection, which outlives the recycling of the working one.
    guard = connection.get_new_connection(connection.get_connection_params())
    try:
        guard.autocommit = True
        if not guard.execute("SELECT pg_try_advisory_lock(%s, 2)", [LOCK_NAMESPACE]).fetchone()[0]:
            raise ApplicationError(
                TenantsErrorCode.MIGRATION_RUNNING,
                _("Another migrate_counties run is in progress."),
                http_status=409,
            )
        _counties_apply(
            statuses, rendered=rendered, plan=plan, report=report, progress=progress, lock_timeout_ms=lock_timeout_ms
        )
    finally:
        guard.close()
    report.up_to_date += len(statuses) - len(report.migrated) - len(report.failed)
    report.seconds = time.perf_counter() - started
    return report


def _counties_apply(
    statuses: dict[str, str],
    *,
    rendered: RenderedPlan,
    plan: SchemaPlan,
    report: MigrateReport,
    progress: ProgressCallback | None,
    lock_timeout_ms: int,
) -> None:
    truth = applied_migrations(statuses)
    for done, schema in enumerate(sorted(statuses), start=1):
        pending = rendered.pending_for(truth[schema])
        ok = True
        try:
            county_schema_apply(schema=schema, rendered=rendered, pending=pending, lock_timeout_ms=lock_timeout_ms)
        except Exception as exc:  # noqa: BLE001 - any failure of one county must not stop the others
            ok = False
            _to_public()
            report.failed[schema] = f"{type(exc).__name__}: {exc}"
            logger.exception("migration of %s failed", schema)
            _county_mark_failed(schema=schema, error=report.failed[schema], status=statuses[schema])
        else:
            _county_mark_current(schema=schema, digest=plan.digest, status=statuses[schema])
            if pending:
                report.migrated.append(schema)
        if progress is not None:
            progress(done, len(statuses), schema, ok)
        _recycle(done)


def _county_mark_current(*, schema: str, digest: str, status: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE public.tenants_county SET schema_digest = %s, migration_error = '', "
            "status = CASE WHEN status = %s THEN COALESCE(NULLIF(status_before_failure, ''), %s) ELSE status END, "
            "status_before_failure = '' WHERE schema_name = %s",
            [digest, CountyStatus.MIGRATION_FAILED, CountyStatus.ACTIVE, schema],
        )
    if status == CountyStatus.MIGRATION_FAILED:
        # Back in service at the next request in every web process, which keep the status of the
        # counties they served until told; after the UPDATE (outside a transaction, on_commit
        # runs at once).
        transaction.on_commit(registry_generation_bump)


def _county_mark_failed(*, schema: str, error: str, status: str) -> None:
    before = "" if status == CountyStatus.MIGRATION_FAILED else status
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE public.tenants_county SET migration_error = %s, status = %s, "
            "status_before_failure = CASE WHEN status = %s THEN status_before_failure ELSE %s END "
            "WHERE schema_name = %s",
            [error[:4000], CountyStatus.MIGRATION_FAILED, CountyStatus.MIGRATION_FAILED, before, schema],
        )
    if status != CountyStatus.MIGRATION_FAILED:
        # Out of service at the next request in every web process (see _county_mark_current).
        transaction.on_commit(registry_generation_bump)


# -- schema comparison ------------------------------------------------------------------------

_FINGERPRINT_SQL = """
WITH ns AS (SELECT oid, nspname FROM pg_namespace WHERE nspname = ANY(%(schemas)s))
SELECT ns.nspname, 'column ' || c.relname || '.' || a.attname || ' #' ||
       rank() OVER (PARTITION BY c.oid ORDER BY a.attnum) || ' ' || format_type(a.atttypid, a.atttypmod) ||
       CASE WHEN a.attnotnull THEN ' not null' ELSE '' END ||
       CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END ||
       COALESCE(' default ' || replace(pg_get_expr(d.adbin, d.adrelid), ns.nspname || '.', ''), '')
FROM ns JOIN pg_class c ON c.relnamespace = ns.oid AND c.relkind IN ('r', 'p', 'v', 'm')
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
UNION ALL
SELECT ns.nspname, 'index ' || replace(pg_get_indexdef(i.indexrelid), ns.nspname || '.', '')
FROM ns JOIN pg_class c ON c.relnamespace = ns.oid JOIN pg_index i ON i.indrelid = c.oid
UNION ALL
SELECT ns.nspname, 'constraint ' || c.relname || ' ' || k.conname || ' ' ||
       replace(pg_get_constraintdef(k.oid), ns.nspname || '.', '') ||
       CASE WHEN k.condeferrable THEN ' deferrable' ELSE '' END ||
       CASE WHEN k.condeferred THEN ' deferred' ELSE '' END
FROM ns JOIN pg_constraint k ON k.connamespace = ns.oid JOIN pg_class c ON c.oid = k.conrelid
UNION ALL
SELECT ns.nspname, 'trigger ' || replace(pg_get_triggerdef(t.oid), ns.nspname || '.', '')
FROM ns JOIN pg_class c ON c.relnamespace = ns.oid JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
UNION ALL
SELECT ns.nspname, 'function ' || p.proname || '(' || pg_get_function_arguments(p.oid) || ') ' || md5(p.prosrc)
FROM ns JOIN pg_proc p ON p.pronamespace = ns.oid
UNION ALL
SELECT ns.nspname, 'sequence ' || c.relname
FROM ns JOIN pg_class c ON c.relnamespace = ns.oid AND c.relkind = 'S'
UNION ALL
SELECT ns.nspname, 'content type ' || ct.app_label || '.' || ct.model
FROM ns JOIN {content_types} ct ON ct.ns = ns.nspname
UNION ALL
SELECT ns.nspname, 'migration ' || m.app || '.' || m.name
FROM ns JOIN {migrations} m ON m.ns = ns.nspname
"""


def _per_schema_union(schemas: list[str], table: str, columns: str) -> str:
    select = "SELECT '{name}' AS ns, {columns} FROM {schema}.{table}"
    parts = [select.format(name=s, columns=columns, schema=_quote(s), table=table) for s in schemas]
    return "(" + " UNION ALL ".join(parts) + ")"


def schema_fingerprint_lines(schemas: Sequence[str]) -> dict[str, list[str]]:
    """Columns, indexes, constraints, triggers, functions, sequences, content types and migrations
    of each schema, as sorted text lines with the schema's own name removed."""
    schemas = list(schemas)
    for schema in schemas:
        _quote(schema)
    sql = _FINGERPRINT_SQL.format(
        content_types=_per_schema_union(schemas, "django_content_type", "app_label, model"),
        migrations=_per_schema_union(schemas, "django_migrations", "app, name"),
    )
    lines: dict[str, list[str]] = {schema: [] for schema in schemas}
    _to_public()
    with connection.cursor() as cursor:
        cursor.execute(sql, {"schemas": schemas})
        for schema, line in cursor.fetchall():
            lines[schema].append(line)
    return {schema: sorted(found) for schema, found in lines.items()}


def schema_fingerprints(schemas: Sequence[str], *, batch: int = 100) -> dict[str, str]:
    """A digest of :func:`schema_fingerprint_lines` per schema, for comparing thousands at once."""
    digests: dict[str, str] = {}
    schemas = list(schemas)
    for start in range(0, len(schemas), batch):
        for schema, found in schema_fingerprint_lines(schemas[start : start + batch]).items():
            digests[schema] = hashlib.sha256("\n".join(found).encode()).hexdigest()
        if not connection.in_atomic_block:
            connection.close()
    return digests


def schema_migrate_with_django(*, schema: str) -> None:
    """Create and migrate a schema with Django's own executor: the reference a test compares to."""
    from django.core.management import call_command
    from django.core.management.commands.migrate import Command as DjangoMigrate

    _to_public()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
    cast_connection: Any = connection
    cast_connection.set_schema(schema, include_public=False)
    MigrationRecorder(connection).ensure_schema()
    _set_schema(schema)
    try:
        call_command(DjangoMigrate(), interactive=False, verbosity=0, skip_checks=True)
    finally:
        _to_public()


def public_schema() -> str:
    return get_public_schema_name()
