from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from banchengshi.audit.management.commands._schemas import audited_schemas
from banchengshi.audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Recompute the audit trail's hash chain of every schema (or --schema S) and report tampering."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--schema", action="append", default=[], help="only this schema (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        schemas = options["schema"] or audited_schemas()
        known = set(audited_schemas())
        broken = 0
        for schema in schemas:
            if schema not in known:
                raise CommandError(f"{schema}: no audit trail in this schema")
            with schema_context(schema):
                report = audit_chain_verify()
            status = "intact" if report.intact else "TAMPERED"
            self.stdout.write(
                f"{schema}: {report.checked} records, head {report.head_seq} {report.head_hash[:16]}…: {status}"
            )
            for problem in report.problems:
                self.stdout.write(f"  {schema}: {problem}")
            broken += 0 if report.intact else 1
        if broken:
            raise CommandError(f"the audit trail of {broken} schema(s) does not verify")
