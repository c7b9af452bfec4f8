from enum import StrEnum

from banchengshi.errors import ApplicationError


class InteropErrorCode(StrEnum):
    NOT_AUTHENTICATED = "interop.not_authenticated"
    NOT_ALLOWED = "interop.not_allowed"
    NOT_FOUND = "interop.not_found"
    INVALID = "interop.invalid"
    BATCH_TOO_LARGE = "interop.batch_too_large"
    UNSUPPORTED_FORMAT = "interop.unsupported_format"
    BAD_SIGNATURE = "interop.bad_signature"
    STALE_TIMESTAMP = "interop.stale_timestamp"
    REPLAYED = "interop.replayed"
    NOT_RATEABLE = "interop.not_rateable"
    ILLEGAL_TRANSITION = "interop.illegal_transition"


class InteropError(ApplicationError):
    pass


class NotAuthenticatedError(InteropError):
    http_status = 401


class NotAllowedError(InteropError):
    http_status = 403


class NotFoundError(InteropError):
    http_status = 404


class ConflictError(InteropError):
    http_status = 409


class BatchTooLargeError(InteropError):
    http_status = 413
