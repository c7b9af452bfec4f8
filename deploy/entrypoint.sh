#!/bin/sh
# One image, every process: web, worker, beat, migrate, or any one-off command.
#   web               gunicorn (deploy/gunicorn.conf.py)
#   worker [args]     Celery worker (prefetch 1, acks late: see docs/DEPLOY.md "Process settings")
#   beat              Celery beat: one sends the schedule, any other waits for its lock (ADR 25);
#                     liveness: sh /app/deploy/beat-alive.sh
#   migrate [args]    the public schema (migrate_schemas --shared), then every county
#                     (migrate_counties [args])
#   manage CMD...     python manage.py CMD...
#   anything else     run as given (python, sh, celery inspect ...)
set -eu
command="${1:-web}"
if [ $# -gt 0 ]; then shift; fi
case "$command" in
    web)
        exec gunicorn --config /app/deploy/gunicorn.conf.py banchengshi.wsgi:application "$@"
        ;;
    worker)
        # --without-gossip/--without-mingle: workers need not talk to each other; with many pods
        # that chatter costs Redis traffic for nothing. max-tasks-per-child bounds slow leaks
        # (WeasyPrint holds on to fonts and images).
        exec celery -A banchengshi worker \
            --loglevel "${LOG_LEVEL:-INFO}" \
            --concurrency "${CELERY_CONCURRENCY:-2}" \
            --prefetch-multiplier 1 \
            --max-tasks-per-child "${CELERY_MAX_TASKS_PER_CHILD:-500}" \
            --without-gossip --without-mingle \
            "$@"
        ;;
    beat)
        # The schedule state lives on tmpfs: the schedule itself is code (banchengshi/schedules.py)
        # and when each entry last ran is also kept in Redis by the beat holding the lock
        # (banchengshi/beat.py), so a new pod neither repeats nor skips a run. The heartbeat is
        # $BEAT_HEARTBEAT_FILE (/tmp/beat-heartbeat, set in the image).
        exec celery -A banchengshi beat --loglevel "${LOG_LEVEL:-INFO}" --schedule /tmp/celerybeat-schedule "$@"
        ;;
    migrate)
        # The public schema with Django's own migrate (its few tables, once), then every county
        # with our executor (manage.py migrate_counties, tenants/migrator.py, ADR 8): planned and
        # rendered once, one transaction per county, resumable; a county whose migration fails is
        # marked migration_failed and the command exits non-zero after doing the others.
        # Arguments go to migrate_counties (--verify, --lock-timeout MS, --schema NAME).
        python /app/manage.py migrate_schemas --shared
        exec python /app/manage.py migrate_counties "$@"
        ;;
    manage)
        exec python /app/manage.py "$@"
        ;;
    *)
        exec "$command" "$@"
        ;;
esac
