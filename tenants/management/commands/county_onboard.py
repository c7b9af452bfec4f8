from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from banchengshi.errors import ApplicationError
from tenants.config import county_config_read
from tenants.services import county_onboard


class Command(BaseCommand):
    help = "Create or update counties from configuration files (idempotent, all or nothing per file)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, help="County configuration YAML files.")

    def handle(self, *args: Any, **options: Any) -> None:
        failures = 0
        for path in options["files"]:
            try:
                result = county_onboard(config=county_config_read(path))
            except ApplicationError as exc:
                failures += 1
                self.stderr.write(f"[{exc.code}] {exc.message}")
                for detail in exc.details:
                    self.stderr.write(
                        f"  {detail.get('file', path.name)}: {detail['field']}: [{detail['code']}] {detail['message']}"
                    )
                continue
            county, changes = result.county, result.changes
            if result.changed:
                self.stdout.write(
                    f"{county.full_name} ({county.code}, {county.schema_name}): "
                    f"{'new' if result.county_created else 'updated'}; "
                    f"{changes.created} created, {changes.updated} updated, {changes.deactivated} deactivated"
                )
            else:
                self.stdout.write(f"{county.full_name} ({county.code}): unchanged")
        if failures:
            raise CommandError(f"{failures} configuration file(s) were not applied.")
