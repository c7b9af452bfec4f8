"""Console work too long for a request: batch onboarding (public schema)."""

from celery import shared_task

from banchengshi.tasks import PlatformTask
from tenants.services import county_batch_run


@shared_task(base=PlatformTask, name="tenants.county_batch_run")
def county_batch_run_task(batch_id: int) -> int:
    """Onboard a batch from where it stopped; safe to run twice (onboarding is idempotent)."""
    return county_batch_run(batch_id=batch_id).done
