"""What every log line and error report of the current request or task is about.

Context variables, not thread locals: they follow the work whether it runs in a gunicorn thread,
a Celery child process or an asyncio task. Kept free of Django imports so that gunicorn's master
process can format its own lines with the same code.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token

request_id_var: ContextVar[str | None] = ContextVar("banchengshi_request_id", default=None)
county_var: ContextVar[str | None] = ContextVar("banchengshi_county", default=None)

# An incoming X-Request-ID is kept when it looks like an id (a proxy's or a client's), so one
# request can be followed through the load balancer, the web process and the tasks it queued;
# anything else (too long, odd characters that could forge log lines) is replaced.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_from_header(value: str | None) -> str:
    if value and _REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def bind(*, request_id: str | None, county: str | None) -> tuple[Token[str | None], Token[str | None]]:
    return request_id_var.set(request_id), county_var.set(county)


def unbind(tokens: tuple[Token[str | None], Token[str | None]]) -> None:
    request_id_var.reset(tokens[0])
    county_var.reset(tokens[1])
