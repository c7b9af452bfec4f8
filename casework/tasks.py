"""Casework tasks. Each runs in one county's schema (see banchengshi.tasks.CountyTask)."""

from celery import shared_task

from casework import services


@shared_task(name="casework.recompute_provisional_deadlines")
def recompute_provisional_deadlines() -> int:
    """After a national calendar year is loaded: make this county's estimated deadlines exact."""
    return services.case_deadlines_recompute_provisional()
