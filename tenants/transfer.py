"""Export one county to an archive and restore it elsewhere, without pg_dump.

pg_dump reads the whole catalog (seconds and hundreds of MB at thousands of schemas) and needs a
lock per table of every county. Here the county's tables are known from the installed models,
each is copied with ``COPY ... TO STDOUT`` into a tar archive, beside a manifest naming the
county, the migrations its schema has and the columns of every table, and the county's files
(``MEDIA_ROOT/<schema>/``) and the public-schema rows that belong to it (``PUBLIC_TABLES``: its
deadline index entries, configuration history, forwarding agreements and the forwarding envelopes
still waiting to be applied in it). Restoring builds the schema at the archive's migrations from
the rendered plan, copies the rows in, and migrates forward.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import get_public_schema_name, schema_context

from banchengshi.configuration.services import configuration_bump
from banchengshi.errors import ApplicationError
from banchengshi.personal_data import SealError, keyring, personal_data_key_use
from casework.exchange.models import Envelope, ForwardAgreement
from sla.sweep.models import DeadlineEntry
from tenants.errors import TenantsErrorCode
from tenants.migrator import (
    _quote,
    _tenant_app_labels,
    applied_migrations,
    county_schema_apply,
    plan_render,
)
from tenants.models import County, CountyConfigVersion, CountyStatus, Domain
from tenants.services import case_prefix_claim, county_conflicts_check, county_domain, registry_lock

FORMAT = 1
REGISTRY_FIELDS = ("code", "slug", "name", "full_name", "province", "city", "case_prefix", "window_name", "status")
# Registry fields an older archive may lack (restored as blank).
REGISTRY_OPTIONAL = ("config_digest", "personal_data_retention_days")


@dataclass(frozen=True)
class PublicTable:
    """Rows of a public-schema table that belong to one county.

    ``where`` selects them with the parameters ``schema``, ``code`` and ``county_id``. ``dropped``
    columns are not carried: surrogate ids that mean nothing in another deployment and the
    registry id (``county_column``, set to the restored county's). ``replace``: rows already here
    for this county are stale leftovers of an earlier copy and give way; otherwise a row already
    here (same key, or an agreement already in force) is kept and the archived one skipped.
    """

    name: str
    where: str
    dropped: tuple[str, ...] = ()
    county_column: str = ""
    replace: bool = False


PUBLIC_TABLES = (
    # The running clocks of its cases, with what already fired (so nothing fires twice).
    PublicTable(DeadlineEntry._meta.db_table, "schema_name = %(schema)s", dropped=("id",), replace=True),
    # Its configuration history (diff and roll back keep working after a move).
    PublicTable(
        CountyConfigVersion._meta.db_table,
        "county_id = %(county_id)s",
        dropped=("id", "county_id"),
        county_column="county_id",
    ),
    # 跨省通办 agreements it is party to (one row covers both directions).
    PublicTable(ForwardAgreement._meta.db_table, "first_code = %(code)s OR second_code = %(code)s"),
    # Forwards, answers and progress sent to it and not yet applied in its schema: its inbox in
    # transit. Delivered envelopes live on as its Forward rows; what it sent belongs to the receiver.
    PublicTable(Envelope._meta.db_table, "target_code = %(code)s AND delivered_at IS NULL"),
)
PUBLIC_BY_NAME = {table.name: table for table in PUBLIC_TABLES}


@dataclass(frozen=True)
class ExportResult:
    path: Path
    tables: int
    rows: int
    files: int
    seconds: float


@dataclass(frozen=True)
class ImportResult:
    county: County
    tables: int
    rows: int
    files: int
    migrated: int
    seconds: float


def county_tables() -> list[str]:
    """Every table of a county schema: the tenant apps' models (including m2m tables) and the recorder."""
    labels = _tenant_app_labels()
    tables = {"django_migrations"}
    for config in apps.get_app_configs():
        if config.label not in labels:
            continue
        for model in config.get_models(include_auto_created=True):
            if model._meta.managed and not model._meta.proxy:
                tables.add(model._meta.db_table)
    return sorted(tables)


def _raw_cursor(cursor: Any) -> Any:
    return cursor.cursor


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    archive.addfile(info, io.BytesIO(data))


def county_export(*, county: County, destination: Path) -> ExportResult:
    """Write ``destination`` (a .tar.gz): manifest.json, data/<table>.copy, public/<table>.copy, media/."""
    started = time.perf_counter()
    schema = county.schema_name
    quoted = _quote(schema)
    tables_meta: list[dict[str, Any]] = []
    total_rows = 0
    destination.parent.mkdir(parents=True, exist_ok=True)
    media_root = Path(settings.MEDIA_ROOT) / schema
    files = sorted(p for p in media_root.rglob("*") if p.is_file()) if media_root.is_dir() else []
    partial = destination.with_name(destination.name + ".part")
    with schema_context(get_public_schema_name()), tarfile.open(partial, "w:gz", compresslevel=1) as archive:
        # One repeatable-read snapshot: the tables agree with each other.
        outermost = not connection.in_atomic_block
        with transaction.atomic(), connection.cursor() as cursor:
            if outermost:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            raw = _raw_cursor(cursor)
            migrations = sorted(applied_migrations([schema])[schema])
            # Index lookups by name: no scan of a catalog that holds every county's tables.
            cursor.execute(
                "SELECT t FROM unnest(%s::text[]) AS t WHERE to_regclass(quote_ident(%s) || '.' || t) IS NOT NULL",
                [county_tables(), schema],
            )
            for (table,) in cursor.fetchall():
                # Generated columns (``Case.next_due_at``) are PostgreSQL's to compute: COPY refuses
                # them on the way in, and the restored rows get them recomputed.
                cursor.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
                    "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
                    [f"{quoted}.{table}"],
                )
                columns = [name for (name,) in cursor.fetchall()]
                column_list = ", ".join(f'"{c}"' for c in columns)
                buffer = io.BytesIO()
                with raw.copy(f"COPY {quoted}.{table} ({column_list}) TO STDOUT") as copy:
                    for chunk in copy:
                        buffer.write(chunk)
                data = buffer.getvalue()
                rows = data.count(b"\n")
                total_rows += rows
                _add_bytes(archive, f"data/{table}.copy", data)
                tables_meta.append({"name": table, "columns": columns, "rows": rows})
            public_meta = []
            keys = {"schema": schema, "code": county.code, "county_id": county.pk}
            for spec in PUBLIC_TABLES:
                cursor.execute(f"SELECT * FROM public.{spec.name} LIMIT 0")  # noqa: S608 - names from models
                columns = [c.name for c in cursor.description or [] if c.name not in spec.dropped]
                buffer = io.BytesIO()
                column_list = ", ".join(f'"{c}"' for c in columns)
                with raw.copy(
                    f"COPY (SELECT {column_list} FROM public.{spec.name} WHERE {spec.where}) TO STDOUT",  # noqa: S608
                    keys,
                ) as copy:
                    for chunk in copy:
                        buffer.write(chunk)
                _add_bytes(archive, f"public/{spec.name}.copy", buffer.getvalue())
                public_meta.append({"name": spec.name, "columns": columns, "rows": buffer.getvalue().count(b"\n")})
        for path in files:
            archive.add(path, arcname=f"media/{path.relative_to(media_root).as_posix()}")
        manifest = {
            "format": FORMAT,
            "exported_at": timezone.now().isoformat(),
            "county": {name: getattr(county, name) for name in (*REGISTRY_FIELDS, *REGISTRY_OPTIONAL)},
            "schema_name": schema,
            "migrations": [f"{app}.{name}" for app, name in migrations],
            "tables": tables_meta,
            "public_tables": public_meta,
            "media": [path.relative_to(media_root).as_posix() for path in files],
        }
        _add_bytes(archive, "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode())
    partial.replace(destination)
    return ExportResult(
        path=destination,
        tables=len(tables_meta),
        rows=total_rows,
        files=len(files),
        seconds=time.perf_counter() - started,
    )


def _archive_error(message: str, code: TenantsErrorCode = TenantsErrorCode.ARCHIVE_INVALID) -> ApplicationError:
    return ApplicationError(code, message, http_status=400)


def county_import(*, archive_path: Path) -> ImportResult:
    """Restore an exported county into this deployment (which must not have that county yet).

    All or nothing: the registry row, the schema, its rows and the public rows are one
    transaction. An archive from an older deployment is migrated forward; one with migrations
    this deployment does not know is refused.
    """
    started = time.perf_counter()
    with tarfile.open(archive_path, "r:gz") as archive:
        members = {member.name: member for member in archive.getmembers()}
        if "manifest.json" not in members:
            raise _archive_error(_("The archive has no manifest."))
        manifest = json.loads(_read(archive, "manifest.json"))
        if manifest.get("format") != FORMAT:
            raise _archive_error(_("Unknown archive format."))
        registry = manifest["county"]
        schema = manifest["schema_name"]
        _quote(schema)
        unknown_tables = [t["name"] for t in manifest["public_tables"] if t["name"] not in PUBLIC_BY_NAME]
        if unknown_tables:
            raise _archive_error(
                _("The archive was made by a newer version of the platform (unknown tables: %(names)s).")
                % {"names": ", ".join(unknown_tables[:5])},
                TenantsErrorCode.ARCHIVE_NEWER,
            )
        rendered = plan_render()
        plan_keys = {f"{m.app}.{m.name}": m for m in rendered.plan.migrations}
        unknown = [name for name in manifest["migrations"] if name not in plan_keys]
        if unknown:
            raise _archive_error(
                _("The archive was made by a newer version of the platform (unknown migrations: %(names)s).")
                % {"names": ", ".join(unknown[:5])},
                TenantsErrorCode.ARCHIVE_NEWER,
            )
        archived = set(manifest["migrations"])
        at_archive = [m for m in rendered.plan.migrations if f"{m.app}.{m.name}" in archived]
        forward = [m for m in rendered.plan.migrations if f"{m.app}.{m.name}" not in archived]
        rows = 0
        with schema_context(get_public_schema_name()), transaction.atomic():
            registry_lock()
            if (
                County.objects.filter(code=registry["code"]).exists()
                or County.objects.filter(schema_name=schema).exists()
            ):
                raise ApplicationError(
                    TenantsErrorCode.COUNTY_CONFLICT,
                    _("County %(code)s already exists in this deployment.") % {"code": registry["code"]},
                    http_status=409,
                )
            county_conflicts_check(
                source=archive_path.name,
                code=registry["code"],
                slug=registry["slug"],
                case_prefix=registry["case_prefix"],
            )
            status = registry["status"] if registry["status"] != CountyStatus.ONBOARDING else CountyStatus.ACTIVE
            fields = {k: registry[k] for k in (*REGISTRY_FIELDS, *REGISTRY_OPTIONAL) if k in registry}
            county = County.objects.create(schema_name=schema, **{**fields, "status": status})
            case_prefix_claim(code=county.code, prefix=county.case_prefix)
            Domain.objects.create(tenant=county, domain=county_domain(county.slug), is_primary=True)
            county_schema_apply(schema=schema, rendered=rendered, pending=at_archive, create=True)
            quoted = _quote(schema)
            with connection.cursor() as cursor:
                raw = _raw_cursor(cursor)
                # Schema creation filled the recorder, content types and permissions: the
                # archive's own rows replace them (ids included, other rows point at them).
                # Tables are copied in name order; foreign keys are checked at commit.
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                cursor.execute(
                    f"DELETE FROM {quoted}.auth_permission; DELETE FROM {quoted}.django_content_type; "  # noqa: S608
                    f"DELETE FROM {quoted}.django_migrations;"
                )
                if any(table["name"] == "configuration_generation" for table in manifest["tables"]):
                    cursor.execute(f"DELETE FROM {quoted}.configuration_generation")  # noqa: S608
                for table in manifest["tables"]:
                    rows += _copy_in(raw, archive, f"data/{table['name']}.copy", f"{quoted}.{table['name']}", table)
                keys = {"schema": schema, "code": county.code, "county_id": county.pk}
                for table in manifest["public_tables"]:
                    rows += _public_rows_restore(cursor, raw, archive, PUBLIC_BY_NAME[table["name"]], table, keys)
                _identity_sequences_reset(cursor, schema, [t["name"] for t in manifest["tables"]])
            try:
                if forward:
                    county_schema_apply(schema=schema, rendered=rendered, pending=forward)
                with schema_context(schema):
                    # No process may take the restored configuration for one it cached before.
                    configuration_bump()
                    missing = sorted(set(personal_data_key_use()) - set(keyring().key_ids))
            except SealError:
                missing = ["?"]
            if missing:
                # Its personal data was sealed with keys this deployment does not have (ADR 14).
                raise _archive_error(
                    _("The archive's personal data is sealed with keys this deployment lacks (%(keys)s): add them "
                      "to FIELD_ENCRYPTION_KEYS first.") % {"keys": ", ".join(missing)},
                    TenantsErrorCode.ARCHIVE_KEYS_MISSING,
                )  # fmt: skip
            County.objects.filter(pk=county.pk).update(schema_digest=rendered.plan.digest)
            files = _media_restore(archive, schema, manifest["media"])
    return ImportResult(
        county=county,
        tables=len(manifest["tables"]),
        rows=rows,
        files=files,
        migrated=len(forward),
        seconds=time.perf_counter() - started,
    )


def _read(archive: tarfile.TarFile, name: str) -> bytes:
    handle = archive.extractfile(name)
    if handle is None:
        raise _archive_error(_("The archive is damaged: %(name)s is missing.") % {"name": name})
    return handle.read()


def _copy_in(raw: Any, archive: tarfile.TarFile, member: str, target: str, table: dict[str, Any]) -> int:
    if not table["rows"]:
        return 0
    data = _read(archive, member)
    columns = ", ".join(f'"{c}"' for c in table["columns"])
    with raw.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
        copy.write(data)
    return int(table["rows"])


def _public_rows_restore(
    cursor: Any, raw: Any, archive: tarfile.TarFile, spec: PublicTable, table: dict[str, Any], keys: dict[str, Any]
) -> int:
    """Add the county's rows to a public table through a temporary table, keeping rows already here."""
    if spec.replace:
        cursor.execute(f"DELETE FROM public.{spec.name} WHERE {spec.where}", keys)  # noqa: S608 - names from models
    if not table["rows"]:
        return 0
    staging = f"restore_{spec.name}"
    columns = ", ".join(f'"{c}"' for c in table["columns"])
    # Without the table's constraints: the columns the archive carries, nothing else.
    cursor.execute(f"CREATE TEMPORARY TABLE {staging} AS SELECT {columns} FROM public.{spec.name} WITH NO DATA")  # noqa: S608
    with raw.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
        copy.write(_read(archive, f"public/{spec.name}.copy"))
    target, source, params = columns, columns, []
    if spec.county_column:
        target, source, params = f'{columns}, "{spec.county_column}"', f"{columns}, %s", [keys["county_id"]]
    cursor.execute(
        f"INSERT INTO public.{spec.name} ({target}) SELECT {source} FROM {staging} ON CONFLICT DO NOTHING",  # noqa: S608
        params,
    )
    inserted = int(cursor.rowcount)
    cursor.execute(f"DROP TABLE {staging}")
    return inserted


def _identity_sequences_reset(cursor: Any, schema: str, tables: list[str]) -> None:
    cursor.execute(
        "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "WHERE a.attrelid = ANY(%s::regclass[]) AND a.attidentity <> ''",
        [[f'"{schema}".{table}' for table in tables]],
    )
    quoted = _quote(schema)
    for table, column in cursor.fetchall():
        cursor.execute(
            f'SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(max("{column}"), 1), '  # noqa: S608
            f'max("{column}") IS NOT NULL) FROM {quoted}.{table}',
            [f"{quoted}.{table}", column],
        )


def _media_restore(archive: tarfile.TarFile, schema: str, names: list[str]) -> int:
    root = (Path(settings.MEDIA_ROOT) / schema).resolve()
    for name in names:
        target = (root / name).resolve()
        if not target.is_relative_to(root):
            raise _archive_error(_("The archive is damaged: %(name)s is missing.") % {"name": name})
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_read(archive, f"media/{name}"))
    return len(names)
