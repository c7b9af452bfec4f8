from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from banchengshi.audit.errors import AuditError
from banchengshi.audit.management.commands._schemas import audited_schemas
from banchengshi.audit.selectors import audit_chain_verify
from banchengshi.audit.services import audit_anchors_read


class Command(BaseCommand):
    help = (
        "Recompute the audit trail's hash chain of every schema (or --schema S) and report tampering; "
        "with --anchors, also compare it with the heads kept outside the database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--schema", action="append", default=[], help="only this schema (repeatable)")
        parser.add_argument(
            "--anchors", type=Path, default=None,
            help="a file of audit_heads_anchor, or a directory of them (AUDIT_ANCHOR_DIR)",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            anchors = audit_anchors_read(options["anchors"]) if options["anchors"] is not None else []
        except (AuditError, OSError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from exc
        schemas = options["schema"] or audited_schemas()
        known = set(audited_schemas())
        broken = 0
        for schema in schemas:
            if schema not in known:
                raise CommandError(f"{schema}: no audit trail in this schema")
            with schema_context(schema):
                report = audit_chain_verify(anchors=anchors)
            status = "intact" if report.intact else "TAMPERED"
            self.stdout.write(
                f"{schema}: {report.checked} records, head {report.head_seq} {report.head_hash[:16]}…: {status}"
            )
            for problem in report.problems:
                self.stdout.write(f"  {schema}: {problem}")
            broken += 0 if report.intact else 1
        if broken:
            raise CommandError(f"the audit trail of {broken} schema(s) does not verify")
