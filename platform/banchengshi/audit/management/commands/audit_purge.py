import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django_tenants.utils import schema_context

from banchengshi.audit.errors import AuditError
from banchengshi.audit.management.commands._schemas import audited_schemas
from banchengshi.audit.services import audit_purge


class Command(BaseCommand):
    help = (
        "Delete audit records older than --before (YYYY-MM-DD), never younger than the retention period. "
        "Run it with the owner role's DATABASE_URL: the application's role may not delete."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--before", required=True, help="delete records older than this date (YYYY-MM-DD)")
        parser.add_argument("--schema", action="append", default=[], help="only this schema (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            day = datetime.date.fromisoformat(options["before"])
        except ValueError as exc:
            raise CommandError("--before must be a date, YYYY-MM-DD") from exc
        before = timezone.make_aware(datetime.datetime.combine(day, datetime.time()))
        for schema in options["schema"] or audited_schemas():
            with schema_context(schema):
                try:
                    count = audit_purge(before=before)
                except AuditError as exc:
                    raise CommandError(f"{schema}: {exc.message}") from exc
            self.stdout.write(f"{schema}: {count} records deleted")
