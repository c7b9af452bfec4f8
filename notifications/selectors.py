from django.db.models import QuerySet

from banchengshi.configuration.selectors import config_cached
from notifications.models import Channel, MessageTemplate, Notification, Status, WebhookEndpoint


def inbox_for(*, user_id: int) -> QuerySet[Notification]:
    return Notification.objects.filter(channel=Channel.INAPP, recipient=str(user_id)).order_by("-created_at")


def inbox_unread_count(*, user_id: int) -> int:
    return inbox_for(user_id=user_id).filter(read_at__isnull=True).count()


def failed_notifications() -> QuerySet[Notification]:
    return Notification.objects.filter(status=Status.FAILED).order_by("-created_at")


def message_templates_own() -> dict[str, MessageTemplate]:
    """The county's own wordings by key, from memory inside a configuration snapshot (read only)."""
    return config_cached("notifications.templates", lambda: {t.key: t for t in MessageTemplate.objects.all()})


def webhook_endpoints_active() -> list[WebhookEndpoint]:
    """The active endpoints, from memory inside a configuration snapshot (read only)."""
    return config_cached("notifications.webhooks", lambda: list(WebhookEndpoint.objects.filter(is_active=True)))
