"""Sign-in pages: password, second factor (verify or enroll), password change, sign-out.

The person is signed in (``login_complete``) only after every factor they need; until then the
session holds a short-lived pending marker and no authenticated user.
"""

from __future__ import annotations

from typing import Any, cast

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from banchengshi.accounts import forms, services
from banchengshi.accounts.errors import AccountsError, LockedOutError
from banchengshi.accounts.models import User
from banchengshi.accounts.policy import two_factor_required
from banchengshi.accounts.selectors import has_authenticator, password_expired, recovery_codes_left
from banchengshi.audit.models import Outcome
from banchengshi.audit.services import audit_record
from banchengshi.ratelimit import client_address


def _next_url(request: HttpRequest, candidate: str, user: User) -> str:
    if password_expired(user):
        return resolve_url("password-change")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _lockout_message() -> str:
    return _("Too many failed sign-ins. Try again in %(minutes)d minutes.") % {
        "minutes": settings.ACCOUNTS_LOCKOUT_SECONDS // 60
    }


def _locked(request: HttpRequest, exc: AccountsError) -> HttpResponse:
    request.session.pop(services.PENDING, None)
    messages.error(request, exc.message)
    return redirect("login")


def _signed_out_locked(request: HttpRequest, exc: AccountsError) -> HttpResponse:
    """Wrong passwords typed in a signed-in session locked the account: that session ends too."""
    services.logout_complete(request=request, reason="locked")
    messages.error(request, exc.message)
    return redirect("login")


@sensitive_post_parameters()
@csrf_protect
@never_cache
def login_page(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    form = forms.LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        username, address = form.cleaned_data["username"], client_address(request)
        try:
            services.login_lock_check(username=username, address=address)
        except LockedOutError as exc:
            audit_record(
                action="auth.login", actor_label="(locked)", outcome=Outcome.DENIED,
                details={"reason": "locked"}, source_address=address,
            )  # fmt: skip
            form.add_error(None, exc.message)
            return render(request, "registration/login.html", {"form": form, "next": next_url}, status=429)
        user = authenticate(request, username=username, password=form.cleaned_data["password"])
        if user is None:
            known = User.objects.filter(username=username).first()
            if services.login_failure_record(username=username, address=address, user=known, reason="credentials"):
                form.add_error(None, _lockout_message())
            else:
                form.add_error(None, _("The username or the password is not right."))
        elif has_authenticator(user) or two_factor_required(user):
            services.login_pending_start(request=request, user=user, next_url=next_url)
            return redirect("two-factor-verify" if has_authenticator(user) else "two-factor-setup")
        else:
            services.login_complete(request=request, user=user, method="password")
            return redirect(_next_url(request, next_url, user))
    return render(request, "registration/login.html", {"form": form, "next": next_url})


@sensitive_post_parameters()
@csrf_protect
@never_cache
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    pending = services.login_pending_user(request)
    if pending is None:
        return redirect("login")
    user, next_url = pending
    if not has_authenticator(user):
        return redirect("two-factor-setup")
    if request.method == "POST" and "recovery_code" in request.POST:
        return _recovery_sign_in(request, user, next_url)
    form = forms.CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        address = client_address(request)
        try:
            services.login_lock_check(username=user.get_username(), address=address)
        except LockedOutError as exc:
            return _locked(request, exc)
        if services.totp_verify(user=user, code=form.cleaned_data["code"]):
            services.login_complete(request=request, user=user, method="totp")
            return redirect(_next_url(request, next_url, user))
        if services.login_failure_record(username=user.get_username(), address=address, user=user, reason="totp"):
            request.session.pop(services.PENDING, None)
            messages.error(request, _lockout_message())
            return redirect("login")
        form.add_error("code", _("The code is not right. Check the time on your phone."))
    return render(request, "accounts/two_factor_verify.html", {"form": form, "recovery_form": forms.RecoveryCodeForm()})


def _recovery_sign_in(request: HttpRequest, user: User, next_url: str) -> HttpResponse:
    """The second step with a recovery code (a lost phone): counted like a wrong code when wrong."""
    recovery_form = forms.RecoveryCodeForm(request.POST)
    if recovery_form.is_valid():
        address = client_address(request)
        try:
            services.login_lock_check(username=user.get_username(), address=address)
        except LockedOutError as exc:
            return _locked(request, exc)
        left = services.recovery_code_use(user=user, code=recovery_form.cleaned_data["recovery_code"])
        if left is not None:
            services.login_complete(request=request, user=user, method="recovery_code")
            messages.warning(
                request,
                _(
                    "You signed in with a recovery code; %(left)d remain. If your phone is lost, set up "
                    "the authenticator again on a new one and print new codes."
                )
                % {"left": left},
            )
            return redirect(_next_url(request, next_url, user))
        if services.login_failure_record(username=user.get_username(), address=address, user=user, reason="recovery"):
            request.session.pop(services.PENDING, None)
            messages.error(request, _lockout_message())
            return redirect("login")
        recovery_form.add_error("recovery_code", _("This recovery code is not right, or it was used already."))
    context = {"form": forms.CodeForm(), "recovery_form": recovery_form, "recovery_open": True}
    return render(request, "accounts/two_factor_verify.html", context)


@sensitive_post_parameters()
@csrf_protect
@never_cache
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Enroll an authenticator: while signing in (required, none yet) or later, from one's account."""
    signed_in = request.user.is_authenticated
    if signed_in:
        user, next_url = cast(User, request.user), ""
    else:
        pending = services.login_pending_user(request)
        if pending is None:
            return redirect("login")
        user, next_url = pending
        if has_authenticator(user):
            # The password was right, the code is still due: this page must not stand in for it.
            return redirect("two-factor-verify")
    secret = services.totp_enroll_secret(request.session)
    form = forms.EnrollForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            if signed_in:
                services.password_confirm(
                    user=user, password=form.cleaned_data["password"], address=client_address(request)
                )
        except LockedOutError as exc:
            return _signed_out_locked(request, exc)
        except AccountsError as exc:
            form.add_error("password", exc.message)
        else:
            try:
                services.totp_enroll(
                    user=user, secret=secret, code=form.cleaned_data["code"],
                    enrollment_code=form.cleaned_data["enrollment_code"], replace=signed_in,
                )  # fmt: skip
            except AccountsError as exc:
                form.add_error("code", exc.message)
            else:
                request.session.pop(services.ENROLL_SECRET, None)
                if signed_in:
                    messages.success(request, _("Your authenticator is set up."))
                else:
                    services.login_complete(request=request, user=user, method="totp_enrolled")
                codes = services.recovery_codes_issue(user=user)
                services.recovery_codes_keep_for_display(request.session, codes)
                # Shown once, on their own page, before the person goes on.
                target = _next_url(request, next_url, user)
                return redirect(f"{resolve_url('recovery-codes')}?{urlencode({'next': target})}")
    uri = services.totp_uri(user=user, secret=secret)
    context: dict[str, Any] = {
        "form": form,
        "signed_in": signed_in,
        "needs_enrollment_code": services.enrollment_code_needed(user),
        "uri": uri,
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "qr": segno.make(uri, error="m").svg_inline(scale=4),
    }
    return render(request, "accounts/two_factor_setup.html", context)


@sensitive_post_parameters()
@csrf_protect
@never_cache
@login_required
def recovery_codes_page(request: HttpRequest) -> HttpResponse:
    """The new recovery codes, shown once; or how many are left, and new ones for the password."""
    user = cast(User, request.user)
    fresh = services.recovery_codes_take_for_display(request.session)
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = resolve_url(settings.LOGIN_REDIRECT_URL)
    if fresh:
        return render(request, "accounts/recovery_codes.html", {"codes": fresh, "next": next_url})
    if not has_authenticator(user):
        return redirect("two-factor-setup")
    form = forms.PasswordConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.password_confirm(
                user=user, password=form.cleaned_data["password"], address=client_address(request)
            )
        except LockedOutError as exc:
            return _signed_out_locked(request, exc)
        except AccountsError as exc:
            form.add_error("password", exc.message)
        else:
            services.recovery_codes_keep_for_display(request.session, services.recovery_codes_issue(user=user))
            return redirect("recovery-codes")
    context = {"form": form, "left": recovery_codes_left(user)}
    return render(request, "accounts/recovery_codes.html", context)


@sensitive_post_parameters()
@login_required
def password_change_page(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    form = forms.PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.password_change(
                request=request, user=user, old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"], address=client_address(request),
            )  # fmt: skip
        except LockedOutError as exc:
            return _signed_out_locked(request, exc)
        except AccountsError as exc:
            for detail in exc.details:
                form.add_error(detail["field"], detail["message"])
        else:
            messages.success(request, _("Your password was changed."))
            return redirect(settings.LOGIN_REDIRECT_URL)
    context = {"form": form, "expired": password_expired(user), "chosen_by_admin": user.must_change_password}
    return render(request, "accounts/password_change.html", context)


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    services.logout_complete(request=request)
    return redirect(settings.LOGOUT_REDIRECT_URL)
