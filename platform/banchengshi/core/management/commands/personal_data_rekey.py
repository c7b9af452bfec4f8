from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context

from banchengshi.personal_data import current_key_id, personal_data_key_use, personal_data_reseal


def _schemas() -> list[str]:
    """Public and every county schema, straight from the catalogue (the template has no data)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'casework_case' "
            "AND table_schema <> 'county_template' ORDER BY table_schema"
        )
        return [get_public_schema_name()] + [row[0] for row in cursor.fetchall()]


class Command(BaseCommand):
    help = (
        "After a new key was put first in FIELD_ENCRYPTION_KEYS: seal every personal value under it again. "
        "The public schema is done here; each active county is queued through the dispatcher (resumable: "
        "run it again after a failure). --status shows which keys still hold values; an old key may be "
        "removed once no schema uses it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--status", action="store_true", help="count values per key id in every schema")
        parser.add_argument("--schema", help="do one schema here and now instead of queueing the counties")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["status"]:
            self.stdout.write(f"current key: {current_key_id()}")
            for schema in _schemas():
                with schema_context(schema):
                    use = personal_data_key_use()
                line = ", ".join(f"{key}={count}" for key, count in sorted(use.items())) or "no sealed values"
                self.stdout.write(f"{schema}: {line}")
            return
        if options["schema"]:
            with schema_context(options["schema"]):
                counts = personal_data_reseal()
            self.stdout.write(f"{options['schema']}: resealed {sum(counts.values())} values")
            return
        with schema_context(get_public_schema_name()):
            counts = personal_data_reseal()
        self.stdout.write(f"public: resealed {sum(counts.values())} values")
        from banchengshi.tasks import dispatch_to_counties

        dispatch_to_counties.delay("platform.personal_data_reseal")
        self.stdout.write("counties: queued (one task per active county); check with --status")
