"""Casework tasks. Each runs in one county's schema (see banchengshi.tasks.CountyTask)."""

import datetime

from celery import shared_task

from casework import services


# The name predates corrections; messages already queued under it must still find the task.
@shared_task(name="casework.recompute_provisional_deadlines")
def recompute_deadlines(affected_from: str | None = None, every_running: bool = False) -> int:
    """After a national calendar year is loaded: make this county's estimated deadlines exact and,
    after a correction (``affected_from``: the first changed day, ISO), move the running ones it changed;
    after the county changed its own calendar (``every_running``), every running one."""
    return services.case_deadlines_recompute(
        affected_from=datetime.date.fromisoformat(affected_from) if affected_from else None,
        every_running=every_running,
    )


@shared_task(name="casework.fire_deadlines")
def fire_deadlines(entry_ids: list[int]) -> int:
    """Warnings, overdue notices and escalations for this county's due index entries (safe to repeat)."""
    return services.deadline_events_fire(entry_ids=entry_ids)


@shared_task(name="casework.anonymise_expired")
def anonymise_expired() -> int:
    """Retention: closed cases past the county's period lose their personal data (safe to repeat)."""
    from casework.retention import cases_anonymise_due

    return cases_anonymise_due()


@shared_task(name="casework.intake_keys_purge")
def intake_keys_purge() -> int:
    """Forget registrations' idempotency keys past their week (safe to repeat)."""
    return services.intake_keys_purge()
