import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django_tenants.utils import schema_context

from banchengshi.accounts.errors import AccountsError
from banchengshi.accounts.models import User
from banchengshi.accounts.services import api_token_issue


class Command(BaseCommand):
    help = (
        "Issue an API token for a person or a system account (an older token stops working; a token works for "
        "API_TOKEN_MAX_AGE_DAYS days, 90 unless set). A role that "
        "signs in with a second factor needs an authenticator and a current code from it (ADR 12)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--schema", default="public", help="the county's schema (c<code>) or public")
        parser.add_argument("--code", default="", help="a current code of the person's authenticator")
        parser.add_argument("--by", required=True, help="who asks for it, for the audit trail")

    def handle(self, *args: Any, **options: Any) -> None:
        with schema_context(options["schema"]):
            user = User.objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(f"{options['schema']}: no user {options['username']}")
            try:
                token = api_token_issue(user=user, code=options["code"], issued_by=f"command:{options['by']}")
            except AccountsError as exc:
                raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(token.key)
        # On stderr, so that scripts reading the key from stdout keep working.
        expires = timezone.localtime(token.created + datetime.timedelta(days=settings.ACCOUNTS_TOKEN_MAX_AGE_DAYS))
        self.stderr.write(f"valid until {expires:%Y-%m-%d %H:%M} ({settings.ACCOUNTS_TOKEN_MAX_AGE_DAYS} days)")
