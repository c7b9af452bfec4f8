from enum import StrEnum

from banchengshi.errors import ApplicationError


class CaseworkErrorCode(StrEnum):
    NOT_FOUND = "casework.not_found"
    PERMISSION_DENIED = "casework.permission_denied"
    ILLEGAL_TRANSITION = "casework.illegal_transition"
    VERSION_CONFLICT = "casework.version_conflict"
    INVALID = "casework.invalid"
    UNKNOWN_REFERENCE = "casework.unknown_reference"
    UPLOAD_REJECTED = "casework.upload_rejected"
    LOOKUP_FAILED = "casework.lookup_failed"
    LOOKUP_LOCKED = "casework.lookup_locked"
    IDEMPOTENCY_KEY_INVALID = "casework.idempotency_key_invalid"
    IDEMPOTENCY_KEY_REUSED = "casework.idempotency_key_reused"


class CaseworkError(ApplicationError):
    pass


class NotFoundError(CaseworkError):
    http_status = 404


class PermissionDeniedError(CaseworkError):
    http_status = 403


class ConflictError(CaseworkError):
    http_status = 409
