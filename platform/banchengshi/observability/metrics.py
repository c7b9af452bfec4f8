"""Prometheus metrics: request latency by route, task counts and latency, queue depth, county gauges.

Multiprocess mode: gunicorn and Celery's prefork pool run several processes, and a scrape reaches
only one of them. When ``PROMETHEUS_MULTIPROC_DIR`` is set (the image sets it), prometheus-client
keeps every process's counters and histograms in memory-mapped files in that directory and a
scrape adds them up (``MultiProcessCollector``); gunicorn's config clears the directory at start
and marks dead workers. Without the variable (tests, ``make run``) each process counts alone.

Queue depth and the per-county gauges are not counted by any process: they are read at scrape
time (Redis LLEN; one GROUP BY over the public deadline index) and cached for a few seconds so
that several scrapers cannot turn into a query storm.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

logger = logging.getLogger(__name__)

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if MULTIPROC_DIR:
    # A one-off command in the image has no gunicorn hook to create it.
    os.makedirs(MULTIPROC_DIR, exist_ok=True)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

# Labels are bounded on purpose: the route is the URL pattern (not the path), the status is its
# class, and there is no county label (thousands of counties times routes times buckets would be
# millions of series); per-county figures are the gauges below.
REQUEST_LATENCY = Histogram(
    "banchengshi_http_request_duration_seconds",
    "Time from the first middleware to the response, by URL pattern.",
    ["method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
)
TASKS = Counter(
    "banchengshi_celery_tasks",
    "Celery tasks finished, by task name and outcome (success, failure, retry).",
    ["task", "state"],
)
TASK_LATENCY = Histogram(
    "banchengshi_celery_task_duration_seconds",
    "Run time of Celery tasks, by task name.",
    ["task"],
    buckets=_TASK_BUCKETS,
)

# Kombu's Redis transport keeps a queue with priorities in four lists: the name, then the name
# with these suffixes (priority steps 3, 6, 9).
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class _Cached:
    """Compute at most every ``seconds``; a failure is logged and yields nothing, never a 500."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._at = 0.0
        self._value: list[Metric] = []

    def get(self, compute: Any) -> list[Metric]:
        with self._lock:
            now = time.monotonic()
            if now - self._at >= self.seconds:
                try:
                    self._value = list(compute())
                except Exception:  # a scrape must answer even when a source is down
                    logger.exception("metrics source failed")
                    self._value = []
                self._at = now
            return self._value


class QueueDepthCollector(Collector):
    """Messages waiting in each Celery queue (Redis LLEN) and those taken but not yet acknowledged."""

    def __init__(self, *, redis_url: str, queues: Iterable[str], cache_seconds: float = 5.0) -> None:
        self.redis_url = redis_url
        self.queues = list(queues)
        self._cache = _Cached(cache_seconds)

    def collect(self) -> Iterator[Metric]:
        yield from self._cache.get(self._compute)

    def _compute(self) -> Iterator[Metric]:
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            pipe = client.pipeline(transaction=False)
            for queue in self.queues:
                for suffix in _PRIORITY_SUFFIXES:
                    pipe.llen(queue + suffix)
            pipe.hlen("unacked")
            counts = pipe.execute()
        finally:
            client.close()
        depth = GaugeMetricFamily(
            "banchengshi_celery_queue_length", "Tasks waiting in the queue (Redis LLEN).", labels=["queue"]
        )
        step = len(_PRIORITY_SUFFIXES)
        for index, queue in enumerate(self.queues):
            depth.add_metric([queue], float(sum(counts[index * step : (index + 1) * step])))
        yield depth
        yield GaugeMetricFamily(
            "banchengshi_celery_unacked_tasks",
            "Tasks taken by a worker and not yet acknowledged (running, or reserved with a countdown).",
            value=float(counts[-1]),
        )


class CountyDeadlineCollector(Collector):
    """Per county: cases with a clock the deadline index still watches, and those of them overdue.

    Read from the public deadline index (``sla_sweep.DeadlineEntry``) in one GROUP BY, so a scrape
    costs one query whatever the number of counties. The index keeps a stopped clock's row (so a
    notice never fires twice) with nothing left to check, as it does for a clock already at the
    last escalation (督办): "open" counts the rows still checked, and a case at 督办 is counted by
    ``banchengshi_county_cases_duban`` instead.
    """

    # Shared by every web process of every pod through the cache (Redis): at a million index rows
    # the query takes about a second, and forty processes each running it every 30 s would
    # cost the database more than the platform's own work.
    CACHE_KEY = "observability:county-deadlines"

    def __init__(self, *, cache_seconds: float = 30.0) -> None:
        self.cache_seconds = cache_seconds
        self._cache = _Cached(min(cache_seconds, 5.0))

    def collect(self) -> Iterator[Metric]:
        yield from self._cache.get(self._compute)

    def _rows(self) -> list[tuple[str, int, int, int]]:
        from django.core.cache import cache

        from banchengshi.tenancy import switch_to_public

        switch_to_public()  # cache keys carry the schema; the index is platform-wide
        if self.cache_seconds <= 0:
            return self._query()
        rows: list[tuple[str, int, int, int]] | None = cache.get(self.CACHE_KEY)
        if rows is not None:
            return rows
        # One process recomputes; the others answer with the last figures meanwhile.
        if cache.add(self.CACHE_KEY + ":lock", 1, timeout=60):
            try:
                rows = self._query()
                cache.set(self.CACHE_KEY, rows, timeout=self.cache_seconds)
                cache.set(self.CACHE_KEY + ":last", rows, timeout=None)
            finally:
                cache.delete(self.CACHE_KEY + ":lock")
            return rows
        return cache.get(self.CACHE_KEY + ":last") or []

    def _query(self) -> list[tuple[str, int, int, int]]:
        from django.apps import apps
        from django.db import connection, transaction

        table = connection.ops.quote_name(apps.get_model("sla_sweep", "DeadlineEntry")._meta.db_table)
        with transaction.atomic(), connection.cursor() as cursor:
            # A scrape must never hold the database for long, whatever the index size.
            cursor.execute("SET LOCAL statement_timeout = '10s'")
            cursor.execute(
                "SELECT schema_name,"  # noqa: S608 - the table name comes from the model, not from input
                " COUNT(DISTINCT case_id) FILTER (WHERE next_check_at IS NOT NULL),"
                " COUNT(DISTINCT case_id) FILTER (WHERE next_check_at IS NOT NULL AND overdue_at IS NOT NULL),"
                " COUNT(DISTINCT case_id) FILTER (WHERE escalation >= 3)"
                f" FROM {table} GROUP BY schema_name"
            )
            return [(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in cursor.fetchall()]

    def _compute(self) -> Iterator[Metric]:
        rows = self._rows()
        open_cases = GaugeMetricFamily(
            "banchengshi_county_cases_open", "Cases with a running deadline clock, by county schema.", labels=["county"]
        )
        overdue = GaugeMetricFamily(
            "banchengshi_county_cases_overdue", "Cases with a running clock past its deadline.", labels=["county"]
        )
        duban = GaugeMetricFamily(
            "banchengshi_county_cases_duban", "Cases whose lateness reached a 督办 notice.", labels=["county"]
        )
        for schema_name, open_count, overdue_count, duban_count in rows:
            open_cases.add_metric([schema_name], float(open_count))
            overdue.add_metric([schema_name], float(overdue_count))
            duban.add_metric([schema_name], float(duban_count))
        yield open_cases
        yield overdue
        yield duban


def process_registry() -> CollectorRegistry:
    """The counters and histograms of this process, or of all processes in multiprocess mode."""
    if not MULTIPROC_DIR:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=MULTIPROC_DIR)
    return registry


_scrape_collectors: list[Collector] = []
_scrape_lock = threading.Lock()


def _scrape_time_registry() -> CollectorRegistry:
    from django.conf import settings

    with _scrape_lock:
        if not _scrape_collectors:
            queues = getattr(settings, "METRICS_CELERY_QUEUES", ["celery"])
            _scrape_collectors.append(QueueDepthCollector(redis_url=settings.REDIS_URL, queues=queues))
            _scrape_collectors.append(CountyDeadlineCollector(cache_seconds=settings.METRICS_CACHE_SECONDS))
    registry = CollectorRegistry(auto_describe=False)
    for collector in _scrape_collectors:
        registry.register(collector)
    return registry


def reset_scrape_collectors() -> None:
    """Forget the cached scrape-time collectors (tests change settings between scrapes)."""
    with _scrape_lock:
        _scrape_collectors.clear()


def exposition() -> bytes:
    """The text a scrape of the web process returns."""
    return generate_latest(process_registry()) + generate_latest(_scrape_time_registry())


@cache
def _networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def access_allowed(*, authorization: str, peer: str) -> bool:
    """A bearer token equal to METRICS_TOKEN, or a peer address inside METRICS_ALLOWED_NETWORKS.

    Only the socket's peer address counts, never X-Forwarded-For, which any client can write.
    With neither setting, nobody may scrape.
    """
    from django.conf import settings

    token: str = settings.METRICS_TOKEN
    if (
        token
        and authorization.startswith("Bearer ")
        and hmac.compare_digest(authorization[7:].encode(), token.encode())
    ):
        return True
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS)))


def serve_worker_metrics(*, port: int, address: str = "0.0.0.0") -> Any:  # noqa: S104 - pods are reached by their address
    """Serve this Celery worker's metrics (all pool processes) on their own port, same protection as the web."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO") == "/healthz":  # the worker's liveness: its main process answers
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if not access_allowed(authorization=environ.get("HTTP_AUTHORIZATION", ""), peer=environ.get("REMOTE_ADDR", "")):
            start_response("403 Forbidden", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"forbidden\n"]
        start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])
        return [generate_latest(process_registry())]

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            return

    server = make_server(address, port, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True)
    thread.start()
    return server
