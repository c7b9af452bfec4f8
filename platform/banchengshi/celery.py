"""The Celery app. Tasks carry their county's schema in a header (tenant-schemas-celery)."""

import logging
import os
import signal
import threading
from typing import Any

from celery import signals
from tenant_schemas_celery.app import CeleryApp

from banchengshi.observability import celery_hooks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "banchengshi.settings.local")
# Task metrics, the task's county and request id in its log lines, Django's logging in workers.
celery_hooks.connect()

app = CeleryApp("banchengshi", task_cls="banchengshi.tasks:CountyTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


@app.on_after_finalize.connect
def _install_schedules(sender: CeleryApp, **kwargs: object) -> None:
    # Imported here because the schedule names tasks that need the apps to be loaded.
    from banchengshi.schedules import BEAT_SCHEDULE

    sender.conf.beat_schedule = BEAT_SCHEDULE


def _cold_shutdown(seconds: int) -> None:
    logger.warning(
        "worker: tasks still running %d s after the stop was asked for; stopping them and putting their "
        "messages back in the queue for another worker (cold shutdown)",
        seconds,
    )
    os.kill(os.getpid(), signal.SIGQUIT)


@signals.worker_shutting_down.connect(weak=False)
def _requeue_before_the_grace_period_ends(how: str = "", **kwargs: Any) -> None:
    """A warm shutdown (SIGTERM) waits for the running tasks for ever; the orchestrator does not: it
    kills the worker after its grace period, and Redis would hand the killed tasks to another worker
    only after the broker's visibility timeout. WORKER_WARM_SHUTDOWN_SECONDS after the SIGTERM, the
    worker turns to Celery's cold shutdown (SIGQUIT): the running tasks are stopped and their
    messages, never acknowledged (acks late), go back to the queue as the broker connection closes.

    Called in the worker's main process from its signal handler: no logging here, only a timer.
    """
    from django.conf import settings

    seconds = int(getattr(settings, "WORKER_WARM_SHUTDOWN_SECONDS", 0) or 0)
    if how != "Warm" or seconds <= 0:
        return
    timer = threading.Timer(seconds, _cold_shutdown, (seconds,))
    timer.daemon = True  # a worker done before then exits without waiting for it
    timer.start()
