"""Who is asking, and from where, for audit records written deep inside services.

Services do not take the request; the audit middleware puts the source address and the signed-in
user here for the duration of one request. Tasks and commands have no context: their records
carry no address and, unless an actor is given, the system as actor.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from banchengshi.ratelimit import client_address


@dataclass(frozen=True)
class RequestContext:
    address: str
    request: HttpRequest

    def user(self) -> Any:
        # request.user is lazy; token-authenticated API calls set it on the DRF request, which
        # keeps Django's request in sync (``request._request.user``) once authentication ran.
        user = getattr(self.request, "user", None)
        return user if user is not None and user.is_authenticated else None


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("audit_request", default=None)


def current() -> RequestContext | None:
    return _current.get()


@contextmanager
def request_context(request: HttpRequest) -> Iterator[None]:
    token = _current.set(RequestContext(address=client_address(request), request=request))
    try:
        yield
    finally:
        _current.reset(token)
