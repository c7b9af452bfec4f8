"""Tasks only the tests' own workers load (``celery worker --include tests.worker_tasks``)."""

from __future__ import annotations

import time
from pathlib import Path

from celery import shared_task

from banchengshi.tasks import PlatformTask


@shared_task(base=PlatformTask, name="tests.long_task")
def long_task(marker: str, seconds: float) -> str:
    """Writes down each start in ``marker``, then works for ``seconds`` (a report, a batch)."""
    with Path(marker).open("a", encoding="utf-8") as starts:
        starts.write("started\n")
    time.sleep(seconds)
    return "done"
