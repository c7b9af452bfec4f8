"""Console work too long for a request: batch onboarding (public schema)."""

from celery import shared_task

from banchengshi.tasks import PlatformTask
from tenants.models import BatchStatus
from tenants.services import county_batch_run

# A batch runs as a chain of tasks this long each, every one queueing the next: a worker stopping,
# an upgrade or a lost worker costs a slice, not the batch, and no task comes near the time limits.
BATCH_SLICE_SECONDS = 5 * 60


@shared_task(base=PlatformTask, name="tenants.county_batch_run")
def county_batch_run_task(batch_id: int) -> int:
    """Onboard a slice of a batch from where it stopped, then queue the rest; safe to run twice
    (onboarding is idempotent)."""
    batch = county_batch_run(batch_id=batch_id, seconds=BATCH_SLICE_SECONDS)
    if batch.status != BatchStatus.FINISHED:
        county_batch_run_task.delay(batch_id)
    return batch.done
