"""A staff member's inbox of in-app messages."""

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from notifications.selectors import inbox_for
from notifications.services import inbox_mark_read


def _user_id(request: HttpRequest) -> int:
    # login_required has made sure there is a signed-in user.
    return int(request.user.pk or 0)


@login_required
def inbox_page(request: HttpRequest) -> HttpResponse:
    messages = inbox_for(user_id=_user_id(request))[:100]
    return render(request, "notifications/inbox.html", {"county": request.tenant, "inbox": messages})  # type: ignore[attr-defined]


@login_required
@require_POST
def inbox_read(request: HttpRequest, notification_id: UUID) -> HttpResponse:
    inbox_mark_read(user_id=_user_id(request), notification_id=notification_id)
    return redirect("inbox")
