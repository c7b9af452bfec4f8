"""Delivery channels. Each takes a recipient, text and the idempotency key, and raises on failure."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from notifications.errors import PermanentDeliveryError, TransientDeliveryError

logger = logging.getLogger(__name__)


class SmsBackend(Protocol):
    def send(self, *, phone: str, text: str, idempotency_key: str) -> None: ...


class HttpSmsBackend:
    """A provider reached by HTTPS: a signed JSON request; its answer mapped to retry or give up.

    The request carries the idempotency key, so a provider that saw a message already (a worker
    killed after sending) does not send it again; it answers 2xx, or 409 Conflict ("this id is
    known"), and either means the message is on its way.
    """

    def send(self, *, phone: str, text: str, idempotency_key: str) -> None:
        body = json.dumps({"to": phone, "text": text, "id": idempotency_key}, ensure_ascii=False).encode()
        try:
            post_signed(
                url=settings.SMS_ENDPOINT, secret=settings.SMS_SECRET, body=body, nonce=idempotency_key,
                error_prefix="sms",
            )  # fmt: skip
        except PermanentDeliveryError as exc:
            if exc.code != "sms.http_409":
                raise


class FileSmsBackend:
    """For a developer's machine: messages go to ``var/sms.log`` instead of phones."""

    def send(self, *, phone: str, text: str, idempotency_key: str) -> None:
        path = Path(settings.SMS_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"to": phone, "text": text, "id": idempotency_key}, ensure_ascii=False) + "\n")


def webhook_post(*, url: str, secret: str, payload: str, idempotency_key: str) -> None:
    post_signed(
        url=url, secret=secret, body=payload.encode(), nonce=idempotency_key, error_prefix="webhook",
        headers={"Idempotency-Key": idempotency_key},
    )  # fmt: skip


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib follows a 301/302/303 to a POST with a GET that carries no body; a 200 to that GET
    read as "delivered" lost the message. A redirect is an answer like any other (final)."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def signature_of(*, secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "{timestamp}.{nonce}." + body>``: the scheme the platform asks of
    the systems that call it (README, 好差评 callbacks), used for what it sends them too."""
    signed = f"{timestamp}.{nonce}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def post_signed(
    *, url: str, secret: str, body: bytes, nonce: str, error_prefix: str, headers: dict[str, str] | None = None
) -> None:
    """POST JSON signed with HMAC-SHA256; 2xx is delivered, 429/5xx and an unreachable peer are
    worth retrying, any other answer is final. Errors are codes only.

    The signature covers the time of sending (``X-Timestamp``, Unix seconds) and the message's
    once-only key (``X-Nonce``, the same as its ``Idempotency-Key``), not only the body: a receiver
    that checks the time window and remembers the keys cannot be made to take a captured request
    again, with its old key or a new one.
    """
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 - operators and counties configure these endpoints
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Timestamp": timestamp,
            "X-Nonce": nonce,
            "X-Signature": signature_of(secret=secret, timestamp=timestamp, nonce=nonce, body=body),
            **(headers or {}),
        },
        method="POST",
    )
    try:
        with _opener.open(request, timeout=settings.SMS_TIMEOUT_SECONDS) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise TransientDeliveryError(f"{error_prefix}.http_{exc.code}") from None
        raise PermanentDeliveryError(f"{error_prefix}.http_{exc.code}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        raise TransientDeliveryError(f"{error_prefix}.unreachable") from None


def sms_backend() -> SmsBackend:
    backend: SmsBackend = import_string(settings.SMS_BACKEND)()
    return backend
