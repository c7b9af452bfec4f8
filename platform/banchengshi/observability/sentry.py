"""Error reports to Sentry, when ``SENTRY_DSN`` is set: county as a tag, the release, no personal data.

``before_send`` runs the whole event (message, exception values, stack-frame variables, request
data, breadcrumbs, extras) through the shared scrubber, the same one the log filter uses, and adds
the county the failing request or task was working for. Request bodies are never attached:
a registration form is mostly a citizen's personal data.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from banchengshi.observability.context import county_var, request_id_var
from banchengshi.observability.scrub import scrub_data


def release_name(explicit: str = "") -> str:
    """The release Sentry groups errors by: the image's git revision when set, else the package version."""
    if explicit:
        return explicit
    try:
        return f"banchengshi@{version('banchengshi')}"
    except PackageNotFoundError:
        return "banchengshi@unknown"


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    event = scrub_data(event)
    tags = event.setdefault("tags", {})
    county = county_var.get()
    if county:
        tags.setdefault("county", county)
    request_id = request_id_var.get()
    if request_id:
        tags.setdefault("request_id", request_id)
    return event


def before_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    return scrub_data(crumb)


def sentry_init(
    *,
    dsn: str,
    release: str = "",
    environment: str = "production",
    traces_sample_rate: float = 0.0,
    transport: Any = None,
) -> bool:
    """Start the Sentry client if a DSN is given; answer whether it was started."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    options: dict[str, Any] = {
        "dsn": dsn,
        "release": release_name(release),
        "environment": environment,
        "integrations": [
            DjangoIntegration(transaction_style="url"),
            CeleryIntegration(),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
        # send_default_pii stays at its default (off): no user, cookies or client address.
        "max_request_body_size": "never",
        "before_send": before_send,
        "before_send_transaction": before_send,
        "before_breadcrumb": before_breadcrumb,
        "traces_sample_rate": traces_sample_rate,
    }
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
    return True
