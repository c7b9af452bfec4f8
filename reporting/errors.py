from enum import StrEnum

from banchengshi.errors import ApplicationError


class ReportingErrorCode(StrEnum):
    NOT_FOUND = "reporting.not_found"
    PERMISSION_DENIED = "reporting.permission_denied"
    INVALID = "reporting.invalid"
    NOT_READY = "reporting.not_ready"


class ReportingError(ApplicationError):
    pass


class NotFoundError(ReportingError):
    http_status = 404


class PermissionDeniedError(ReportingError):
    http_status = 403


class NotReadyError(ReportingError):
    http_status = 409
