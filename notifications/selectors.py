from django.db.models import QuerySet

from notifications.models import Channel, Notification, Status


def inbox_for(*, user_id: int) -> QuerySet[Notification]:
    return Notification.objects.filter(channel=Channel.INAPP, recipient=str(user_id)).order_by("-created_at")


def inbox_unread_count(*, user_id: int) -> int:
    return inbox_for(user_id=user_id).filter(read_at__isnull=True).count()


def failed_notifications() -> QuerySet[Notification]:
    return Notification.objects.filter(status=Status.FAILED).order_by("-created_at")
