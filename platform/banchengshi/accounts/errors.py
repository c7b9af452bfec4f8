from enum import StrEnum

from rest_framework import status

from banchengshi.errors import ApplicationError


class AccountsErrorCode(StrEnum):
    BAD_CREDENTIALS = "accounts.bad_credentials"
    LOCKED_OUT = "accounts.locked_out"
    BAD_CODE = "accounts.bad_code"
    PASSWORD_INVALID = "accounts.password_invalid"  # noqa: S105 - an error code
    PASSWORD_EXPIRED = "accounts.password_expired"  # noqa: S105 - an error code
    # A token of a person who must use a second factor and has no authenticator (ADR 12).
    TWO_FACTOR_REQUIRED = "accounts.two_factor_required"
    TOKEN_EXPIRED = "accounts.token_expired"  # noqa: S105 - an error code
    # Setting up an authenticator where one exists, without being signed in with it.
    AUTHENTICATOR_EXISTS = "accounts.authenticator_exists"


class AccountsError(ApplicationError):
    pass


class LockedOutError(AccountsError):
    http_status = status.HTTP_429_TOO_MANY_REQUESTS


class TwoFactorRequiredError(AccountsError):
    http_status = status.HTTP_403_FORBIDDEN


class TokenExpiredError(AccountsError):
    http_status = status.HTTP_401_UNAUTHORIZED
