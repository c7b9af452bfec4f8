"""The audit trail's periodic work."""

from celery import shared_task

from banchengshi.audit.services import audit_heads_anchor
from banchengshi.tasks import PlatformTask


@shared_task(base=PlatformTask, name="audit.anchor_heads")
def anchor_heads() -> str:
    """Every schema's head in one file, outside the database. One task for all schemas, not one per
    county through the dispatcher: it reads one row of each, in a few statements, into one file."""
    return str(audit_heads_anchor())
