"""Delivery channels. Each takes a recipient, text and the idempotency key, and raises on failure."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
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
    killed after sending) does not send it again.
    """

    def send(self, *, phone: str, text: str, idempotency_key: str) -> None:
        body = json.dumps({"to": phone, "text": text, "id": idempotency_key}, ensure_ascii=False).encode()
        signature = hmac.new(settings.SMS_SECRET.encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(  # noqa: S310 - the endpoint is configured by the operator
            settings.SMS_ENDPOINT,
            data=body,
            headers={"Content-Type": "application/json", "X-Signature": f"sha256={signature}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.SMS_TIMEOUT_SECONDS) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise TransientDeliveryError(f"sms.http_{exc.code}") from None
            raise PermanentDeliveryError(f"sms.http_{exc.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            raise TransientDeliveryError("sms.unreachable") from None


class FileSmsBackend:
    """For a developer's machine: messages go to ``var/sms.log`` instead of phones."""

    def send(self, *, phone: str, text: str, idempotency_key: str) -> None:
        path = Path(settings.SMS_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"to": phone, "text": text, "id": idempotency_key}, ensure_ascii=False) + "\n")


def webhook_post(*, url: str, secret: str, payload: str, idempotency_key: str) -> None:
    """POST a signed JSON event; 2xx is delivered, 429/5xx/unreachable retried, other 4xx given up."""
    body = payload.encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(  # noqa: S310 - the county configures its own endpoint
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Signature": f"sha256={signature}",
            "Idempotency-Key": idempotency_key,
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.SMS_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise TransientDeliveryError(f"webhook.http_{exc.code}") from None
        raise PermanentDeliveryError(f"webhook.http_{exc.code}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        raise TransientDeliveryError("webhook.unreachable") from None


def sms_backend() -> SmsBackend:
    backend: SmsBackend = import_string(settings.SMS_BACKEND)()
    return backend
