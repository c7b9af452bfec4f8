from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.models import County
from tenants.transfer import county_export


class Command(BaseCommand):
    help = "Export one county (its schema's rows, files and deadline index rows) to a .tar.gz archive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code", help="The county's 6-digit division code.")
        parser.add_argument("--out", type=Path, help="Archive path (default: var/exports/<code>-<time>.tar.gz).")

    def handle(self, *args: Any, **options: Any) -> None:
        county = County.objects.filter(code=options["code"]).first()
        if county is None:
            raise CommandError(f"No county with code {options['code']}.")
        from django.conf import settings
        from django.utils import timezone

        out = options["out"] or (
            Path(settings.PROJECT_ROOT) / "var" / "exports" / f"{county.code}-{timezone.now():%Y%m%d%H%M%S}.tar.gz"
        )
        result = county_export(county=county, destination=out)
        self.stdout.write(
            f"{county.full_name}: {result.tables} tables, {result.rows} rows, {result.files} files "
            f"in {result.seconds:.2f} s → {result.path}"
        )
