import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.migrator import TEMPLATE_SCHEMA, counties_migrate, schema_fingerprints
from tenants.models import County


class Command(BaseCommand):
    help = (
        "Bring every county schema up to the current migrations: planned and rendered once, applied "
        "per county in one transaction each (resumable; failed counties are marked and skipped). "
        "Run `migrate_schemas --shared` first for the public schema."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--schema", action="append", dest="schemas", help="Only this county schema (repeatable).")
        parser.add_argument(
            "--lock-timeout",
            type=int,
            default=10_000,
            help="Milliseconds a county waits for a table lock before it fails and is retried next run (0: forever).",
        )
        parser.add_argument(
            "--verify",
            action="store_true",
            help="Afterwards compare every county's tables, indexes, constraints and triggers with the template.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = int(options["verbosity"])
        last = [time.monotonic()]

        def progress(done: int, total: int, schema: str, ok: bool) -> None:
            now = time.monotonic()
            if not ok:
                self.stderr.write(f"  {schema}: migration failed; county marked migration_failed")
            if verbosity >= 1 and (done == total or now - last[0] >= 2 or verbosity >= 2):
                last[0] = now
                self.stdout.write(f"  {done}/{total} counties ({100 * done // total}%), last {schema}")

        report = counties_migrate(
            schemas=options["schemas"],
            progress=progress,
            stdout=self.stdout if verbosity >= 2 else None,
            lock_timeout_ms=options["lock_timeout"],
        )
        if verbosity >= 1:
            self.stdout.write(
                f"{report.total} counties: {len(report.migrated)} migrated, {report.up_to_date} up to date, "
                f"{len(report.failed)} failed, {report.seconds:.1f} s"
            )
        for schema, error in report.failed.items():
            self.stderr.write(f"{schema}: {error}")
        if options["verify"]:
            schemas = list(County.objects.values_list("schema_name", flat=True))
            digests = schema_fingerprints([TEMPLATE_SCHEMA, *schemas])
            expected = digests.pop(TEMPLATE_SCHEMA)
            different = sorted(schema for schema, digest in digests.items() if digest != expected)
            if different:
                raise CommandError(f"{len(different)} county schema(s) differ from the template: {different[:20]}")
            self.stdout.write(f"verified: {len(schemas)} county schemas equal the template")
        if report.failed:
            raise CommandError(f"{len(report.failed)} county schema(s) failed to migrate.")
