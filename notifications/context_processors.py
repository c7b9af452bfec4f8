from django.http import HttpRequest

from notifications.selectors import inbox_unread_count


def inbox(request: HttpRequest) -> dict[str, int]:
    """The unread count for the page header of a signed-in person at a county's host."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(request, "tenant", None) is None:
        return {}
    return {"inbox_unread": inbox_unread_count(user_id=user.pk)}
