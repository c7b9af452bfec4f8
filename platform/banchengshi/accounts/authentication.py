"""API token authentication that keeps the second-factor rule (ADR 12) and the tokens' lifetime.

A DRF token skips the sign-in page. A person whose role must sign in with a second factor may
use one only while an authenticator is set up: a token issued before a promotion to such a role,
or kept after the authenticator was removed, is refused (403 ``accounts.two_factor_required``).
For everyone else this costs no query: the role is looked up once per request anyway and kept on
the user object.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import get_public_schema_name
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from banchengshi.core.rows import joined_get
from banchengshi.tenancy import current_schema


def token_expiry_cutoff() -> datetime.datetime:
    """A token issued at or before this moment no longer works."""
    return timezone.now() - datetime.timedelta(days=settings.ACCOUNTS_TOKEN_MAX_AGE_DAYS)


class TwoFactorTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        # Imported here: DRF imports this class while rest_framework.views (and so the error
        # module, and the models) are still loading.
        from banchengshi.accounts.errors import AccountsErrorCode, TokenExpiredError, TwoFactorRequiredError
        from banchengshi.accounts.policy import two_factor_required
        from banchengshi.accounts.selectors import has_authenticator

        # In a county the user's role comes with the token (settings name the relation, which
        # exists in county schemas only): one query, not two.
        related = ("user",)
        if current_schema() != get_public_schema_name():
            related += tuple(getattr(settings, "ACCOUNTS_TOKEN_SELECT_RELATED", ()))
        token = joined_get(self.get_model(), related, key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = token.user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        if token.created <= token_expiry_cutoff():
            raise TokenExpiredError(
                AccountsErrorCode.TOKEN_EXPIRED,
                _("This API token has expired: tokens work for %(days)d days after they are issued. Ask for a new one.")
                % {"days": settings.ACCOUNTS_TOKEN_MAX_AGE_DAYS},
            )
        if two_factor_required(user) and not has_authenticator(user):
            raise TwoFactorRequiredError(
                AccountsErrorCode.TWO_FACTOR_REQUIRED,
                _("Your role signs in with a second factor: set up an authenticator before using an API token."),
            )
        return user, token
