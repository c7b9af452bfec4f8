"""Tasks of connected systems. Each runs in one county's schema (see banchengshi.tasks.CountyTask)."""

from celery import shared_task

from casework.interop import services


@shared_task(name="interop.rectifications_sync")
def rectifications_sync() -> int:
    """差评 from the citizen page and follow-up calls open (and their next rating closes) the loop; safe to repeat."""
    return services.rectifications_sync()
