from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from banchengshi.tasks import PlatformTask
from banchengshi.tenancy import current_schema


@shared_task(name="core.county_heartbeat")
def county_heartbeat() -> str:
    """Record that the worker reached this county's schema; the console shows the last beat."""
    stamp = timezone.now().isoformat()
    cache.set("heartbeat", stamp, timeout=None)
    return f"{current_schema()} {stamp}"


@shared_task(name="platform.personal_data_reseal")
def personal_data_reseal() -> dict[str, int]:
    """Re-seal this county's personal data under the current key (queued per county by personal_data_rekey)."""
    from banchengshi.personal_data import personal_data_reseal as reseal

    return reseal()


@shared_task(base=PlatformTask, name="platform.personal_data_reseal_public")
def personal_data_reseal_public() -> dict[str, int]:
    """The same for the public schema (operators' authenticators, forwarding envelopes)."""
    from banchengshi.personal_data import personal_data_reseal as reseal

    return reseal()
