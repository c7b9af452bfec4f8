"""Delivery tasks; each runs in one county's schema."""

from celery import shared_task

from notifications import services


@shared_task(name="notifications.deliver")
def deliver(notification_id: str) -> str:
    return services.notification_deliver(notification_id=notification_id)  # type: ignore[arg-type]


@shared_task(name="notifications.flush")
def flush() -> int:
    """Queue the county's new messages: woken after commit by the first of a burst of them."""
    return len(services.notifications_flush())


@shared_task(name="notifications.relay")
def relay() -> int:
    """Queue what is due and not yet sent: messages written while Redis was down, retries, held SMS."""
    return len(services.notifications_relay())
