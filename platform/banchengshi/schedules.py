"""Every periodic schedule of the platform, in one place.

Work over all counties is scheduled as ``platform.dispatch_to_counties`` with the county task's
name, never as a county task directly (it would run without a county and be refused).
"""

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Messages the queue missed (Redis down), retries and SMS held over quiet hours.
    "notifications-relay": {
        "task": "platform.dispatch_to_counties",
        "schedule": crontab(minute="*"),
        "args": ("notifications.relay",),
    },
    # Warnings, overdue notices and escalations: one query over the public deadline index.
    "deadline-sweep": {"task": "sla.deadline_sweep", "schedule": crontab(minute="*")},
    # 差评 given on the citizen page or in a follow-up call enter the rectification loop (interop).
    "interop-rectifications": {
        "task": "platform.dispatch_to_counties",
        "schedule": crontab(minute="*/5"),
        "args": ("interop.rectifications_sync",),
    },
    # 跨域通办 envelopes the queue missed (Redis down, a worker killed); delivery is idempotent.
    "exchange-relay": {"task": "exchange.relay", "schedule": crontab(minute="*")},
    # Retention (PIPL): closed cases past the county's period lose their personal data, at night;
    # then reports that showed them are regenerated.
    "retention-anonymise": {
        "task": "platform.dispatch_to_counties",
        "schedule": crontab(minute="30", hour="2"),
        "args": ("casework.anonymise_expired",),
    },
    "retention-reports": {
        "task": "platform.dispatch_to_counties",
        "schedule": crontab(minute="30", hour="4"),
        "args": ("reporting.refresh_after_anonymisation",),
    },
    # Registrations' Idempotency-Keys older than CASEWORK_INTAKE_KEY_DAYS, at night.
    "intake-keys-purge": {
        "task": "platform.dispatch_to_counties",
        "schedule": crontab(minute="45", hour="1"),
        "args": ("casework.intake_keys_purge",),
    },
    # The counties' figures for the province: days whose cases changed; every day once a night.
    "reporting-snapshot": {
        "task": "platform.dispatch_to_counties",
        "schedule": crontab(minute="*/10"),
        "args": ("reporting.refresh_snapshot",),
    },
    "reporting-snapshot-rebuild": {
        "task": "platform.dispatch_to_counties",
        "schedule": crontab(hour="3", minute="15"),
        "args": ("reporting.refresh_snapshot", {"rebuild": True}),
    },
    # A copy of every audit trail's head outside the database, so that deleting the newest records
    # is found (audit_verify --anchors).
    "audit-anchor-heads": {"task": "audit.anchor_heads", "schedule": crontab(minute="50", hour="23")},
    "county-heartbeat": {
        "task": "platform.dispatch_to_counties",
        "schedule": crontab(minute="*/5"),
        "args": ("core.county_heartbeat",),
    },
}
