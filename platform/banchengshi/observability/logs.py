"""JSON log lines with the request id and the county, and no personal data on any handler.

``configure_logging`` is Django's ``LOGGING_CONFIG``: it applies ``settings.LOGGING`` and then
puts the context and scrubbing filters on every handler of every logger, including handlers that
some other part of the settings adds later in the dict, so no handler can print a phone number.
Celery is told to keep Django's logging (banchengshi/celery.py), and gunicorn's config uses the
same formatter and filters for its own lines.
"""

from __future__ import annotations

import datetime
import json
import logging
import logging.config
from typing import Any

from banchengshi.observability.context import county_var, request_id_var
from banchengshi.observability.scrub import REDACTED, is_personal_field, scrub_data, scrub_text

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "request_id", "county", "_scrubbed"}
)


class ContextFilter(logging.Filter):
    """Stamp the request id and county on the record (a line without either says null)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id") or record.request_id is None:
            record.request_id = request_id_var.get()
        if not hasattr(record, "county") or record.county is None:
            record.county = county_var.get()
        return True


class PersonalDataFilter(logging.Filter):
    """Mask phone numbers, ID numbers and personal fields in the message, extras and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_scrubbed", False):
            return True  # the same record reaches several handlers
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the line
            message = str(record.msg)
        record.msg = scrub_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_text(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub_text(record.stack_info)
        for key, value in list(vars(record).items()):
            if key in _STANDARD_ATTRIBUTES:
                continue
            setattr(record, key, REDACTED if is_personal_field(key) else scrub_data(value))
        record._scrubbed = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, county, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "county": getattr(record, "county", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        # An object among the extras (django.request's "request": its repr holds the query string,
        # a searched phone number included) becomes text only here, after the filter ran: scrub it now.
        return json.dumps(entry, ensure_ascii=False, default=lambda value: scrub_text(str(value)))


FILTERS = {
    "context": {"()": "banchengshi.observability.logs.ContextFilter"},
    "personal_data": {"()": "banchengshi.observability.logs.PersonalDataFilter"},
}
FORMATTERS = {
    "json": {"()": "banchengshi.observability.logs.JsonFormatter"},
    "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(county)s %(request_id)s] %(message)s"},
}


def install_filters() -> None:
    """Put the context and scrubbing filters on every handler that exists now."""
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, ContextFilter) for f in handler.filters):
                handler.addFilter(ContextFilter())
            if not any(isinstance(f, PersonalDataFilter) for f in handler.filters):
                handler.addFilter(PersonalDataFilter())


def configure_logging(logging_settings: dict[str, Any] | None) -> None:
    """Django's LOGGING_CONFIG callable: the dict config, then our filters on every handler."""
    if logging_settings:
        logging.config.dictConfig(logging_settings)
    install_filters()
