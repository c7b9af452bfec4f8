#!/bin/sh
# Liveness of Celery beat (the chart's livenessProbe, compose's healthcheck): beat's scheduler
# (banchengshi/beat.py) touches its heartbeat file on every tick, at least every 20 s (a third of
# BEAT_LOCK_SECONDS), whether it sends the schedule or waits for the lock. A beat hung in a tick
# stops touching it; the old check (the schedule file exists) passed such a beat for ever.
#
#   sh beat-alive.sh [MAX_AGE]    exit 0 if the heartbeat is at most MAX_AGE seconds old (120)
set -u
file="${BEAT_HEARTBEAT_FILE:-/tmp/beat-heartbeat}"
max_age="${1:-120}"
if ! modified=$(stat -c %Y "$file" 2>/dev/null); then
    echo "beat: no heartbeat at $file (not started, or never ticked)"
    exit 1
fi
age=$(( $(date +%s) - modified ))
if [ "$age" -gt "$max_age" ]; then
    echo "beat: last heartbeat ${age}s ago at $file (limit ${max_age}s): hung"
    exit 1
fi
exit 0
