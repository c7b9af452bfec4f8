from enum import StrEnum

from banchengshi.errors import ApplicationError


class SlaErrorCode(StrEnum):
    CALENDAR_INVALID = "sla.calendar_invalid"
    CALENDAR_YEAR_NOT_NEXT = "sla.calendar_year_not_next"


class SlaError(ApplicationError):
    pass
