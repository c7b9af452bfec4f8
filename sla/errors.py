from enum import StrEnum

from banchengshi.errors import ApplicationError


class SlaErrorCode(StrEnum):
    CALENDAR_INVALID = "sla.calendar_invalid"


class SlaError(ApplicationError):
    pass
