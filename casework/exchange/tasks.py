"""Exchange tasks (public schema)."""

from celery import shared_task

from banchengshi.tasks import PlatformTask
from casework.exchange import services


@shared_task(base=PlatformTask, name="exchange.relay")
def relay() -> int:
    """Queue again every envelope still undelivered after a while; delivery is idempotent."""
    return services.envelopes_relay()
