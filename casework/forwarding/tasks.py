"""Forwarding tasks. Each runs in the schema of the county an envelope is addressed to."""

from celery import shared_task
from django.db import OperationalError

from casework.forwarding import services


@shared_task(
    name="forwarding.deliver_envelope",
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=10,
)
def deliver_envelope(envelope_id: str) -> bool:
    """Apply one exchange envelope in this county (a repeat or a second worker changes nothing)."""
    return services.envelope_apply(envelope_id=envelope_id)  # type: ignore[arg-type]
