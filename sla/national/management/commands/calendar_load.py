from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from banchengshi.errors import ApplicationError
from sla.national.services import arrangement_from_file, calendar_seed_from_chinesecalendar, calendar_year_load


class Command(BaseCommand):
    help = "Load the national calendar: every year chinesecalendar knows, and/or a year from a YAML file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="*", type=Path, help="Year files (year, source, holidays, makeup_workdays).")

    def handle(self, *args: Any, **options: Any) -> None:
        seeded = calendar_seed_from_chinesecalendar()
        if seeded:
            self.stdout.write(f"seeded from chinesecalendar: {', '.join(map(str, seeded))}")
        for path in options["files"]:
            try:
                count = calendar_year_load(arrangement=arrangement_from_file(path))
            except ApplicationError as exc:
                raise CommandError(f"[{exc.code}] {exc.message}") from exc
            self.stdout.write(f"{path.name}: {count} days loaded")
