"""gunicorn settings for the web process (``gunicorn -c deploy/gunicorn.conf.py banchengshi.wsgi``).

Every value can be changed by the environment; the reasons for the defaults:

- workers = WEB_CONCURRENCY (2): the app is CPU-light and database-bound; scale by adding pods
  or containers rather than by packing one with workers. Each worker holds its own database
  connection per thread (CONN_MAX_AGE), so workers x threads x replicas must stay under the
  PostgreSQL connection limit (or PgBouncer's).
- gthread with 4 threads: requests wait on PostgreSQL and Redis, not on the CPU; threads let a
  worker serve others meanwhile without the memory of more processes.
- timeout 60 s: a request that runs longer is a bug or an export that belongs in a task; the
  worker is killed and restarted rather than left hanging. graceful_timeout 30 s fits inside
  Kubernetes' default 30 s terminationGracePeriod plus the preStop pause.
- max_requests 50000 with jitter: recycles workers slowly, bounding any slow leak, never all at once.
  A restart costs a worker seconds of imports and cold caches, which every request queued behind it
  feels: at 2000 a busy pod (300 requests/s) restarted a worker every 7 s, and the casework
  benchmark's p99 doubled.
- preload_app off: each worker imports the app after the fork, so no database or Redis
  connection or prometheus file is shared between processes.
- no access log: RequestContextMiddleware writes one JSON line per request with the request id,
  the county, the route and the latency; gunicorn's own lines go through the same JSON
  formatter and scrubbing filter.
- Prometheus multiprocess mode: the directory is emptied when the master starts (old files would
  add a previous run's counts) and a dead worker's live gauges are dropped.
"""

from __future__ import annotations

import gc
import os
import shutil
from typing import Any

bind = f"{os.environ.get('GUNICORN_BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "50000"))
max_requests_jitter = max_requests // 10
preload_app = False
# Heartbeat files on tmpfs: a worker blocked on a slow disk must not look dead (and the root
# filesystem is read-only in the container).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# Django decides about X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER); REMOTE_ADDR stays the peer,
# which /metrics' address check relies on.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "banchengshi.observability.logs.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {
        "context": {"()": "banchengshi.observability.logs.ContextFilter"},
        "personal_data": {"()": "banchengshi.observability.logs.PersonalDataFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if os.environ.get("LOG_FORMAT", "json") == "json" else "plain",
            "filters": ["context", "personal_data"],
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}


def on_starting(server: Any) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# A full collection of the oldest generation walks every object of the loaded app (about 140,000
# after Django, DRF and the project are imported: 50-60 ms here), stalling every thread of the
# worker: the casework benchmark's p99 spikes. Objects alive once the app is loaded and warm
# live as long as the worker, so they are moved out of the collector's sight (gc.freeze, as
# Instagram does); cycles made by requests are still collected.
_WARM_AFTER_REQUESTS = 200


def post_worker_init(worker: Any) -> None:
    gc.freeze()
    worker.bcs_requests_seen = 0


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    # Once more after the first requests filled the app's lazy caches (URL resolvers, templates).
    worker.bcs_requests_seen = getattr(worker, "bcs_requests_seen", 0) + 1
    if worker.bcs_requests_seen == _WARM_AFTER_REQUESTS:
        gc.freeze()
