from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from banchengshi.errors import ApplicationError
from tenants.transfer import county_import


class Command(BaseCommand):
    help = "Restore a county exported with county_export into this deployment (all or nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = county_import(archive_path=options["archive"])
        except ApplicationError as exc:
            raise CommandError(f"[{exc.code}] {exc.message}") from exc
        self.stdout.write(
            f"{result.county.full_name} ({result.county.code}): {result.tables} tables, {result.rows} rows, "
            f"{result.files} files, {result.migrated} migrations applied after restoring, {result.seconds:.2f} s"
        )
