from enum import StrEnum

from banchengshi.errors import ApplicationError


class AuditErrorCode(StrEnum):
    PERSONAL_DATA = "audit.personal_data"
    RETENTION = "audit.retention"
    INVALID = "audit.invalid"
    PERMISSION_DENIED = "audit.permission_denied"
    NOT_FOUND = "audit.not_found"
    ANCHORS_INVALID = "audit.anchors_invalid"


class AuditError(ApplicationError):
    pass
