from enum import StrEnum

from banchengshi.errors import ApplicationError


class NotificationsErrorCode(StrEnum):
    NOT_FOUND = "notifications.not_found"
    NOT_RETRYABLE = "notifications.not_retryable"
    TEMPLATE_INVALID = "notifications.template_invalid"


class NotificationsError(ApplicationError):
    pass


class TransientDeliveryError(Exception):
    """The channel may accept the message later (timeouts, 5xx, 429): retry with backoff."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class PermanentDeliveryError(Exception):
    """The channel will never accept this message (bad number, 4xx): mark it failed."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code
