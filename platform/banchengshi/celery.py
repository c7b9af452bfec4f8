"""The Celery app. Tasks carry their county's schema in a header (tenant-schemas-celery)."""

import os

from tenant_schemas_celery.app import CeleryApp

from banchengshi.observability import celery_hooks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "banchengshi.settings.local")
# Task metrics, the task's county and request id in its log lines, Django's logging in workers.
celery_hooks.connect()

app = CeleryApp("banchengshi", task_cls="banchengshi.tasks:CountyTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _install_schedules(sender: CeleryApp, **kwargs: object) -> None:
    # Imported here because the schedule names tasks that need the apps to be loaded.
    from banchengshi.schedules import BEAT_SCHEDULE

    sender.conf.beat_schedule = BEAT_SCHEDULE
