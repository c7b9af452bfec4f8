"""Celery's side of observability: task metrics, the task's county and request id in its log lines.

Connected once by ``banchengshi/celery.py``. Celery's own logging setup is skipped so that the
worker logs through Django's LOGGING (JSON, scrubbed) like the web process does. A task queued
during a request carries that request's id in a header, so its log lines can be found from the
request that caused them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from typing import Any

from celery import signals

from banchengshi.observability import context

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x_request_id"
_started: dict[str, tuple[float, Any]] = {}


def _header(task: Any, name: str) -> Any:
    headers = task.request.headers or {}
    return headers.get(name) or task.request.get(name)


def on_setup_logging(**kwargs: Any) -> None:
    from django.conf import settings

    from banchengshi.observability.logs import configure_logging

    configure_logging(settings.LOGGING)


def on_before_task_publish(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    request_id = context.request_id_var.get()
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


def on_task_prerun(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task_id is None or task is None:
        return
    from banchengshi.tasks import schema_of

    tokens = context.bind(request_id=_header(task, REQUEST_ID_HEADER) or task_id, county=schema_of(task))
    _started[task_id] = (time.perf_counter(), tokens)


def on_task_postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    from banchengshi.observability.metrics import TASK_LATENCY, TASKS

    started = _started.pop(task_id or "", None)
    name = getattr(task, "name", "unknown")
    TASKS.labels(name, (state or "unknown").lower()).inc()
    if started is not None:
        TASK_LATENCY.labels(name).observe(time.perf_counter() - started[0])
        # A reset from another context (should not happen) leaves the values as they are.
        with contextlib.suppress(ValueError):
            context.unbind(started[1])


def on_worker_init(**kwargs: Any) -> None:
    # Files of a previous run's processes would be added to this run's counts.
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and os.path.isdir(directory):
        for entry in os.listdir(directory):
            path = os.path.join(directory, entry)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)


def on_worker_ready(**kwargs: Any) -> None:
    port = int(os.environ.get("WORKER_METRICS_PORT", "0") or 0)
    if port:
        from banchengshi.observability.metrics import serve_worker_metrics

        serve_worker_metrics(port=port)
        logger.info("worker metrics on port %d", port)


def connect() -> None:
    signals.setup_logging.connect(on_setup_logging, weak=False)
    signals.before_task_publish.connect(on_before_task_publish, weak=False)
    signals.task_prerun.connect(on_task_prerun, weak=False)
    signals.task_postrun.connect(on_task_postrun, weak=False)
    signals.worker_init.connect(on_worker_init, weak=False)
    signals.worker_ready.connect(on_worker_ready, weak=False)
