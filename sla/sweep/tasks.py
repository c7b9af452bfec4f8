"""The deadline sweep: every minute, one query over the public index, then work per county."""

from celery import current_app, shared_task
from django.utils import timezone

from banchengshi.tasks import PlatformTask, county_apply_async
from sla.sweep.services import due_entries

# A county task fires the events; it lives in casework, which owns the timeline.
FIRE_TASK = "casework.fire_deadlines"
CHUNK = 500


@shared_task(base=PlatformTask, name="sla.deadline_sweep")
def deadline_sweep() -> int:
    due = due_entries(now=timezone.now())
    task = current_app.tasks[FIRE_TASK]
    for schema_name, ids in due.items():
        for start in range(0, len(ids), CHUNK):
            county_apply_async(task, schema_name=schema_name, kwargs={"entry_ids": ids[start : start + CHUNK]})
    return sum(len(ids) for ids in due.values())
