from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from banchengshi.tenancy import current_schema


@shared_task(name="core.county_heartbeat")
def county_heartbeat() -> str:
    """Record that the worker reached this county's schema; the console shows the last beat."""
    stamp = timezone.now().isoformat()
    cache.set("heartbeat", stamp, timeout=None)
    return f"{current_schema()} {stamp}"
