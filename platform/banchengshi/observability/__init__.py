"""Logs, metrics and error reports of the running platform, with personal data kept out of all three.

- ``scrub``: the one scrubber of personal data (phone numbers, ID numbers, known personal fields)
  used by the logging filter and by Sentry's ``before_send``.
- ``logs``: JSON log lines carrying the request id and the county.
- ``middleware``: the request id, the county of the request, request latency and ``/metrics``.
- ``metrics``: Prometheus metrics (multiprocess-safe under gunicorn and Celery's prefork pool).
- ``sentry``: error reporting when ``SENTRY_DSN`` is set.
- ``celery``: task metrics, task context in logs, and Celery's logging left to Django's.

Nothing here imports a domain package; the per-county gauges read the deadline index through the
app registry.
"""
