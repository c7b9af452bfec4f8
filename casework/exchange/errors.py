from enum import StrEnum

from banchengshi.errors import ApplicationError


class ExchangeErrorCode(StrEnum):
    NOT_FOUND = "exchange.not_found"
    INVALID = "exchange.invalid"
    UNKNOWN_COUNTY = "exchange.unknown_county"
    CONFLICT = "exchange.conflict"


class ExchangeError(ApplicationError):
    pass


class ExchangeNotFoundError(ExchangeError):
    http_status = 404


class ExchangeConflictError(ExchangeError):
    http_status = 409
