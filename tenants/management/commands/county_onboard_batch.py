import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from banchengshi.errors import ApplicationError
from tenants.models import CountyBatch
from tenants.services import county_batch_create, county_batch_run


class Command(BaseCommand):
    help = (
        "Onboard many counties: a CSV with columns code,name (and optionally slug, full_name, province, city, "
        "case_prefix, window_name) plus a template configuration YAML. Resumable with --resume BATCH_ID."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("csv", nargs="?", type=Path, help="CSV of division codes and names.")
        parser.add_argument("--template", type=Path, help="Template county configuration (YAML).")
        parser.add_argument("--resume", type=int, help="Continue an interrupted batch by its id.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["resume"]:
            batch_id = int(options["resume"])
        else:
            if not options["csv"] or not options["template"]:
                raise CommandError("Give a CSV and --template, or --resume BATCH_ID.")
            try:
                batch = county_batch_create(
                    csv_text=options["csv"].read_text(encoding="utf-8"),
                    template_yaml=options["template"].read_text(encoding="utf-8"),
                    source_name=options["csv"].name,
                    actor_name="command line",
                )
            except ApplicationError as exc:
                for detail in exc.details:
                    self.stderr.write(f"  {detail['field']}: [{detail['code']}] {detail['message']}")
                raise CommandError(f"[{exc.code}] {exc.message}") from exc
            batch_id = batch.pk
            self.stdout.write(f"batch {batch_id}: {batch.total} counties")
        started = time.monotonic()
        last = [started]

        def progress(batch: CountyBatch) -> None:
            now = time.monotonic()
            if now - last[0] >= 2 or batch.done == batch.total:
                last[0] = now
                rate = batch.done / max(now - started, 1e-6)
                self.stdout.write(
                    f"  {batch.done}/{batch.total} ({100 * batch.done // max(batch.total, 1)}%), "
                    f"{batch.failed} failed, {rate:.1f} counties/s"
                )

        batch = county_batch_run(batch_id=batch_id, progress=progress)
        for error in batch.errors:
            self.stderr.write(f"  {error['line']}: [{error['code']}] {error['message']}")
        self.stdout.write(f"batch {batch.pk}: {batch.done - batch.failed} onboarded, {batch.failed} failed")
        if batch.failed:
            raise CommandError(f"{batch.failed} county(ies) of batch {batch.pk} were not onboarded.")
