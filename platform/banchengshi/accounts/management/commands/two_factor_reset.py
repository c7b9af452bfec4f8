from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from banchengshi.accounts.models import User
from banchengshi.accounts.services import enrollment_code_issue, totp_reset


class Command(BaseCommand):
    help = "Remove a person's authenticator (lost phone): they set up a new one at their next sign-in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--schema", default="public", help="the county's schema (c<code>) or public")
        parser.add_argument("--by", required=True, help="who asks for it, for the audit trail")

    def handle(self, *args: Any, **options: Any) -> None:
        with schema_context(options["schema"]):
            user = User.objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(f"{options['schema']}: no user {options['username']}")
            removed = totp_reset(user=user, actor_label=f"command:{options['by']}"[:150])
            # The new phone is set up with a code handed over apart from the password.
            code = enrollment_code_issue(user=user, actor_label=f"command:{options['by']}"[:150])
        self.stdout.write("authenticator removed; sessions ended" if removed else "no authenticator; sessions ended")
        self.stdout.write(f"enrollment code for the new authenticator (give it to the person, valid 7 days): {code}")
