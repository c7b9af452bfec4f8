from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    """Replaces rest_framework.authtoken's command of this name, which would skip the second-factor rule."""

    help = "Refused: use `manage.py api_token_issue USERNAME --schema S --by NAME [--code CODE]` (ADR 12)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("args", nargs="*")
        parser.add_argument("-r", "--reset", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        raise CommandError(
            "drf_create_token would skip the second-factor rule; use "
            "`manage.py api_token_issue USERNAME --schema S --by NAME [--code CODE]`."
        )
