"""The Celery app. Tasks carry their county's schema in a header (tenant-schemas-celery)."""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "banchengshi.settings.local")

app = CeleryApp("banchengshi", task_cls="banchengshi.tasks:CountyTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _install_schedules(sender: CeleryApp, **kwargs: object) -> None:
    # Imported here because the schedule names tasks that need the apps to be loaded.
    from banchengshi.schedules import BEAT_SCHEDULE

    sender.conf.beat_schedule = BEAT_SCHEDULE
