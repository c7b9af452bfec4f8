"""Session timeouts (idle and absolute) and the forced password change, for session sign-ins.

Token-authenticated API calls carry no session and are not affected; DRF authenticates them later.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, resolve_url
from django.utils.translation import gettext as _

from banchengshi.accounts.errors import AccountsErrorCode
from banchengshi.accounts.policy import two_factor_required
from banchengshi.accounts.selectors import password_expired
from banchengshi.accounts.services import AUTH_AT, SECOND_FACTOR, SEEN_AT, logout_complete

SEEN_RESOLUTION_SECONDS = 60  # the last-request stamp is written at most once a minute


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


class SessionSecurityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        if SESSION_KEY in session:
            now = int(time.time())
            auth_at, seen_at = session.get(AUTH_AT), session.get(SEEN_AT)
            reason = ""
            if auth_at is None or seen_at is None:
                # A session made outside the sign-in page (a test's force_login): start its clocks now.
                session[AUTH_AT] = session[SEEN_AT] = now
            elif now - seen_at > settings.ACCOUNTS_IDLE_TIMEOUT_SECONDS:
                reason = "idle"
            elif now - auth_at > settings.SESSION_COOKIE_AGE:
                reason = "absolute"
            elif session.get(SECOND_FACTOR) is False and two_factor_required(request.user):
                # Signed in with the password alone, and the role now needs a second factor (a
                # promotion, the rule switched on): the session ends, as the person's token is refused.
                reason = "second_factor"
            elif now - seen_at >= SEEN_RESOLUTION_SECONDS:
                session[SEEN_AT] = now
            if reason:
                logout_complete(request=request, reason=reason)
                if not _is_api(request):
                    if reason == "second_factor":
                        messages.info(request, _("Your role now signs in with a second factor. Please sign in again."))
                    else:
                        messages.info(request, _("You were signed out after a time without activity."))
                    return redirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': request.get_full_path()})}")
            elif not request.path_info.startswith("/accounts/") and password_expired(request.user):
                return self._password_expired(request)
        return self.get_response(request)

    def _password_expired(self, request: HttpRequest) -> HttpResponse:
        if getattr(request.user, "must_change_password", False):
            message = _("An administrator set this password. Choose your own before you go on.")
        else:
            message = _("Your password has expired. Please change it.")
        if _is_api(request):
            body = {"error": {"code": str(AccountsErrorCode.PASSWORD_EXPIRED), "message": message}}
            return JsonResponse(body, status=403)
        return redirect("password-change")
