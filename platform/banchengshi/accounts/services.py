"""Writes of sign-in and account security: lockout counters, sessions, second factor, passwords.

Lockout counters live in Redis (the cache, whose keys start with the schema, so each county counts
its own): an atomic SET NX starts a 15-minute window, INCR counts in it; the fifth failure for an
account, or from an address, locks it for the lockout period. A locked account is refused even
with the right password, and the answer is the same whether the account exists or not.
"""

from __future__ import annotations

import datetime
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

import pyotp
from django.conf import settings
from django.contrib.auth import SESSION_KEY, login, logout, update_session_auth_hash
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from banchengshi.accounts.errors import AccountsError, AccountsErrorCode, LockedOutError, TwoFactorRequiredError
from banchengshi.accounts.models import RecoveryCode, TotpDevice, User, UserSession
from banchengshi.accounts.policy import two_factor_required
from banchengshi.accounts.selectors import has_authenticator
from banchengshi.audit.models import Outcome
from banchengshi.audit.services import audit_record
from banchengshi.personal_data import SealError, blind_index, blind_indexes, is_sealed, seal, unseal
from banchengshi.ratelimit import limit_key

# Session keys this package keeps.
AUTH_AT = "accounts.auth_at"  # when the person signed in (epoch seconds)
SEEN_AT = "accounts.seen_at"  # the last request (epoch seconds, refreshed at most once a minute)
PENDING = "accounts.pending"  # password was right, the second factor is still to come
ENROLL_SECRET = "accounts.enroll_secret"  # noqa: S105 - a session key: the new authenticator's secret
ENROLL_SECRET_PURPOSE = "accounts.session.enroll_secret"  # noqa: S105 - associated data, not a secret
# Whether this sign-in went through a second factor: a session signed in with the password alone
# ends once its person's role needs one (SessionSecurityMiddleware), as an API token is refused.
SECOND_FACTOR = "accounts.second_factor"
# The sign-in methods of ``login_complete`` that used no second factor.
PASSWORD_ONLY_METHODS = frozenset({"password"})
PENDING_SECONDS = 5 * 60

TOTP_ISSUER = "办成事"


@dataclass(frozen=True)
class Scope:
    kind: str  # "account" or "address"
    value: str


def _scopes(username: str, address: str) -> tuple[Scope, Scope]:
    # An IPv6 client counts as its /64: it could otherwise take a fresh address for every guess.
    return Scope("account", username.strip().lower()), Scope("address", limit_key(address))


def _failures_key(scope: Scope) -> str:
    return f"login-failures:{scope.kind}:{scope.value}"


def _lock_key(scope: Scope) -> str:
    return f"login-locked:{scope.kind}:{scope.value}"


def login_lock_check(*, username: str, address: str) -> None:
    """Raise LockedOutError while the account or the address is locked."""
    for scope in _scopes(username, address):
        if cache.get(_lock_key(scope)):
            raise LockedOutError(
                AccountsErrorCode.LOCKED_OUT,
                _("Too many failed sign-ins. Try again in %(minutes)d minutes.")
                % {"minutes": settings.ACCOUNTS_LOCKOUT_SECONDS // 60},
                details=[{"field": "non_field_errors", "code": "locked_out", "scope": scope.kind}],
            )


def login_failure_record(*, username: str, address: str, user: User | None, reason: str) -> bool:
    """Count one failed sign-in (password or code) for the account and the address; True once locked."""
    window = settings.ACCOUNTS_LOCKOUT_SECONDS
    locked = False
    audit_record(
        action="auth.login",
        actor=user,
        actor_label="" if user is not None else "(unknown)",
        object_type="user" if user is not None else "",
        object_id=user.pk if user is not None else "",
        outcome=Outcome.FAILURE,
        details={"reason": reason},
        source_address=address,
    )
    for scope in _scopes(username, address):
        count = _count(_failures_key(scope), window)
        if count >= settings.ACCOUNTS_LOGIN_FAILURE_LIMIT and cache.add(_lock_key(scope), 1, timeout=window):
            cache.delete(_failures_key(scope))
            locked = True
            audit_record(
                action="auth.lockout",
                actor=user,
                actor_label="" if user is not None else "(unknown)",
                object_type="user" if user is not None else "",
                object_id=user.pk if user is not None else "",
                outcome=Outcome.DENIED,
                details={"scope": scope.kind, "seconds": window},
                source_address=address,
            )
    return locked


def _count(key: str, window: int) -> int:
    if cache.add(key, 1, timeout=window):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # the window ended between add and incr
        cache.add(key, 1, timeout=window)
        return 1


def login_failures_clear(*, username: str) -> None:
    cache.delete(_failures_key(_scopes(username, "")[0]))


def login_pending_start(*, request: HttpRequest, user: User, next_url: str) -> None:
    """The password was right and a code is still due: remember who, for a few minutes only."""
    request.session[PENDING] = {"user_id": user.pk, "at": int(time.time()), "next": next_url}


def login_pending_user(request: HttpRequest) -> tuple[User, str] | None:
    pending = request.session.get(PENDING)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        return None
    user = User.objects.filter(pk=pending["user_id"], is_active=True).first()
    return (user, pending.get("next", "")) if user is not None else None


def login_complete(*, request: HttpRequest, user: User, method: str) -> None:
    """Sign the person in: a new session id, stamps for the timeouts, the session registered, audited."""
    request.session.pop(PENDING, None)
    request.session.pop(ENROLL_SECRET, None)
    if SESSION_KEY in request.session:
        # Signed in already (as anyone): Django would keep the session id; a new login gets a new one.
        request.session.flush()
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")  # cycles the session key
    now = int(time.time())
    request.session[AUTH_AT] = now
    request.session[SEEN_AT] = now
    request.session[SECOND_FACTOR] = method not in PASSWORD_ONLY_METHODS
    request.session.set_expiry(timezone.now() + datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE))
    request.session.save()
    _session_register(request, user)
    login_failures_clear(username=user.get_username())
    audit_record(action="auth.login", actor=user, object_type="user", object_id=user.pk, details={"method": method})


def _session_register(request: HttpRequest, user: User) -> None:
    key = request.session.session_key
    if not key:
        return
    # Forget sessions that expired or were cleared since, so the table stays the size of the live ones.
    stale = UserSession.objects.filter(user=user).exclude(
        session_key__in=Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    )
    stale.delete()
    UserSession.objects.update_or_create(session_key=key, defaults={"user": user})


def logout_complete(*, request: HttpRequest, reason: str = "") -> None:
    """End the request's session on the server (the row is deleted, not only the cookie)."""
    user = request.user if request.user.is_authenticated else None
    key = request.session.session_key
    if user is not None:
        audit_record(
            action="auth.session_expired" if reason else "auth.logout",
            actor=user,
            object_type="user",
            object_id=user.pk,
            details={"reason": reason} if reason else {},
        )
    logout(request)  # flushes: deletes the session row and gives the browser a new empty one
    if key:
        UserSession.objects.filter(session_key=key).delete()


def user_sessions_end(*, user_id: int, keep_session_key: str = "") -> int:
    """End every server-side session of one person (deactivation, password change, reset)."""
    keys = list(
        UserSession.objects.filter(user_id=user_id)
        .exclude(session_key=keep_session_key)
        .values_list("session_key", flat=True)
    )
    with transaction.atomic():
        Session.objects.filter(session_key__in=keys).delete()
        UserSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


# -- passwords --------------------------------------------------------------------------------


def password_confirm(*, user: User, password: str, address: str, field: str = "password") -> None:
    """Someone signed in types their password again (to change it, replace the authenticator, …).

    A wrong one counts towards the lockout like a wrong sign-in: otherwise a session left open
    would let anyone at the screen try passwords without limit. Raises ``LockedOutError`` once
    the account (or the address) is locked, ``AccountsError`` for a wrong password.
    """
    login_lock_check(username=user.get_username(), address=address)
    if user.check_password(password):
        return
    if login_failure_record(username=user.get_username(), address=address, user=user, reason="password_confirm"):
        raise LockedOutError(
            AccountsErrorCode.LOCKED_OUT,
            _("Too many failed sign-ins. Try again in %(minutes)d minutes.")
            % {"minutes": settings.ACCOUNTS_LOCKOUT_SECONDS // 60},
            details=[{"field": field, "code": "locked_out", "scope": "account"}],
        )
    raise AccountsError(
        AccountsErrorCode.BAD_CREDENTIALS,
        _("The current password is not right."),
        details=[{"field": field, "code": "invalid", "message": _("The current password is not right.")}],
    )


def password_change(*, request: HttpRequest, user: User, old_password: str, new_password: str, address: str) -> None:
    """Change one's own password: the old one must be right, the new one follow the rules and differ.

    The person's API tokens end with the old password (a password changed because it leaked must
    not leave a working token behind), as do their other sessions.
    """
    try:
        password_confirm(user=user, password=old_password, address=address, field="old_password")
    except AccountsError:
        audit_record(action="auth.password_changed", actor=user, outcome=Outcome.FAILURE, details={"reason": "old"})
        raise
    problems: list[str] = []
    if new_password == old_password:
        problems.append(_("The new password must differ from the current one."))
    try:
        validate_password(new_password, user=user)
    except DjangoValidationError as exc:
        problems += list(exc.messages)
    if problems:
        raise AccountsError(
            AccountsErrorCode.PASSWORD_INVALID,
            " ".join(problems),
            details=[{"field": "new_password", "code": "invalid", "message": m} for m in problems],
        )
    with transaction.atomic():
        user.set_password(new_password)
        user.must_change_password = False
        user.save(update_fields=["password", "password_changed_at", "must_change_password"])
        update_session_auth_hash(request, user)  # keeps this session (with a new id), others end
        user_sessions_end(user_id=user.pk, keep_session_key=request.session.session_key or "")
        _session_register(request, user)
        tokens, _rows = Token.objects.filter(user=user).delete()
        audit_record(
            action="auth.password_changed", actor=user, object_type="user", object_id=user.pk,
            details={"tokens_ended": tokens},
        )  # fmt: skip


def password_generate(length: int = 16) -> str:
    """A random password that meets the rules (for demo and onboarding accounts)."""
    alphabet = string.ascii_letters + string.digits + "-_!@#%"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _i in range(length))
        classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "-_!@#%")
        if all(any(c in chars for c in candidate) for chars in classes):
            return candidate


# -- second factor ----------------------------------------------------------------------------


def totp_secret_new() -> str:
    return pyotp.random_base32()


def totp_enroll_secret(session: Any) -> str:
    """The secret of the authenticator being set up: kept sealed in the session until its first code."""
    stored = session.get(ENROLL_SECRET, "")
    if is_sealed(stored):
        try:
            return unseal(stored, purpose=ENROLL_SECRET_PURPOSE)
        except SealError:
            pass  # sealed under a key dropped since (a rotation): nothing was confirmed, start afresh
    secret = totp_secret_new()
    session[ENROLL_SECRET] = seal(secret, purpose=ENROLL_SECRET_PURPOSE)
    return secret


def totp_uri(*, user: User, secret: str, issuer: str = TOTP_ISSUER) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.get_username(), issuer_name=issuer)


def _matching_step(secret: str, code: str) -> int | None:
    """The 30-second step whose code this is (now, or one step either side for clock drift)."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = timezone.now()
    step = totp.timecode(now)
    for offset in (0, -1, 1):
        if secrets.compare_digest(totp.generate_otp(step + offset), code):
            return step + offset
    return None


# One-time codes (enrollment and recovery): read off paper or a call, typed in any case.
ONE_TIME_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
ONE_TIME_CODE_LENGTH = 10  # 50 bits each


def _one_time_code() -> str:
    return "".join(secrets.choice(ONE_TIME_ALPHABET) for _i in range(ONE_TIME_CODE_LENGTH))


def _one_time_shown(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def _one_time_normal(code: str) -> str:
    """What was typed, as it was issued: upper case, without dashes or spaces."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


ENROLLMENT_CODE_DAYS = 7
ENROLLMENT_CODE_PURPOSE = "accounts.enrollment_code"


def enrollment_code_issue(*, user: User, actor: Any = None, actor_label: str = "") -> str:
    """A one-time code the administrator hands over apart from the password (a call, a note).

    Until it is used, this person's first authenticator can be set up only with it: whoever
    learns the password alone cannot put their own phone on the account. Valid for
    ``ENROLLMENT_CODE_DAYS`` days; a new one replaces it.
    """
    code = _one_time_code()
    user.enrollment_code_hash = blind_index(code, purpose=ENROLLMENT_CODE_PURPOSE)
    user.enrollment_code_expires_at = timezone.now() + datetime.timedelta(days=ENROLLMENT_CODE_DAYS)
    user.save(update_fields=["enrollment_code_hash", "enrollment_code_expires_at"])
    audit_record(
        action="auth.2fa.enrollment_code_issued", actor=actor, actor_label=actor_label, object_type="user",
        object_id=user.pk,
    )  # fmt: skip
    return _one_time_shown(code)


def enrollment_code_notice(code: str) -> str:
    """What the administrator reads once, beside the new account."""
    return _(
        "Enrollment code: %(code)s. Give it to the person yourself, apart from the password: their first "
        "sign-in sets up the authenticator only with it (valid 7 days). It is not shown again."
    ) % {"code": code}


def enrollment_code_needed(user: User) -> bool:
    """A first authenticator waits for the code an administrator handed over."""
    return bool(user.enrollment_code_hash) and not has_authenticator(user)


def totp_enroll(*, user: User, secret: str, code: str, enrollment_code: str = "", replace: bool = False) -> TotpDevice:
    """Confirm a new authenticator with its first code.

    An authenticator already set up is replaced only with ``replace`` (someone signed in with it,
    who typed their password again): in the middle of a sign-in, the password alone must never
    put another phone on the account. A person with an enrollment code pending
    (``enrollment_code_issue``) also gives that code.
    """
    if not replace and has_authenticator(user):
        audit_record(
            action="auth.2fa.enrolled", actor=user, outcome=Outcome.DENIED, details={"reason": "already_enrolled"}
        )
        raise AccountsError(
            AccountsErrorCode.AUTHENTICATOR_EXISTS,
            _("An authenticator is already set up for this account: sign in with its code."),
        )
    if enrollment_code_needed(user):
        expired = user.enrollment_code_expires_at is None or user.enrollment_code_expires_at <= timezone.now()
        matches = user.enrollment_code_hash in blind_indexes(
            _one_time_normal(enrollment_code), purpose=ENROLLMENT_CODE_PURPOSE
        )
        if expired or not matches:
            audit_record(
                action="auth.2fa.enrolled", actor=user, outcome=Outcome.DENIED,
                details={"reason": "enrollment_code_expired" if matches else "enrollment_code"},
            )  # fmt: skip
            message = (
                _("This enrollment code has expired. Ask your administrator for a new one.")
                if matches
                else _("The enrollment code your administrator gave you is not right.")
            )
            raise AccountsError(AccountsErrorCode.BAD_CODE, message)
    step = _matching_step(secret, code)
    if step is None:
        audit_record(action="auth.2fa.enrolled", actor=user, outcome=Outcome.FAILURE)
        raise AccountsError(AccountsErrorCode.BAD_CODE, _("The code is not right. Check the time on your phone."))
    with transaction.atomic():
        if user.enrollment_code_hash:
            user.enrollment_code_hash, user.enrollment_code_expires_at = "", None
            user.save(update_fields=["enrollment_code_hash", "enrollment_code_expires_at"])
        device, _created = TotpDevice.objects.update_or_create(
            user=user, defaults={"secret": secret, "confirmed_at": timezone.now(), "last_step": step}
        )
        audit_record(action="auth.2fa.enrolled", actor=user, object_type="user", object_id=user.pk)
    return device


def totp_verify(*, user: User, code: str) -> bool:
    """Check a sign-in code against the person's authenticator; each code is good once."""
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=False).first()
        step = _matching_step(device.secret, code) if device is not None else None
        if device is None or step is None or step <= device.last_step:
            return False
        device.last_step = step
        device.save(update_fields=["last_step"])
    return True


def totp_reset(*, user: User, actor_label: str) -> bool:
    """Remove a person's authenticator (lost phone); they enroll again at their next sign-in."""
    with transaction.atomic():
        deleted, _rows = TotpDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()  # they stood in for the authenticator removed
        user_sessions_end(user_id=user.pk)
        # A token was issued against the lost authenticator: it goes with it (ADR 12).
        Token.objects.filter(user=user).delete()
        audit_record(
            action="auth.2fa.reset", actor_label=actor_label, object_type="user", object_id=user.pk,
            details={"removed": bool(deleted)},
        )  # fmt: skip
    return bool(deleted)


# -- recovery codes -----------------------------------------------------------------------------

RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_PURPOSE = "accounts.recovery_code"
FRESH_RECOVERY_CODES = "accounts.fresh_recovery_codes"  # session key: shown once, then gone
FRESH_RECOVERY_CODES_PURPOSE = "accounts.session.fresh_recovery_codes"


def recovery_codes_issue(*, user: User) -> list[str]:
    """Ten new one-time codes for signing in without the authenticator; the older ones stop working.

    Only their keyed hashes are stored (the keyring's, ADR 14), so the table does not yield them.
    """
    codes = [_one_time_code() for _n in range(RECOVERY_CODE_COUNT)]
    with transaction.atomic():
        RecoveryCode.objects.filter(user=user).delete()
        RecoveryCode.objects.bulk_create(
            RecoveryCode(user=user, code_hash=blind_index(code, purpose=RECOVERY_CODE_PURPOSE)) for code in codes
        )
        audit_record(
            action="auth.2fa.recovery_codes_issued", actor=user, object_type="user", object_id=user.pk,
            details={"count": len(codes)},
        )  # fmt: skip
    return [_one_time_shown(code) for code in codes]


def recovery_code_use(*, user: User, code: str) -> int | None:
    """Sign-in with a recovery code instead of the authenticator's: the code is used up.

    Answers how many unused codes are left, or None for a wrong (or used) code.
    """
    normal = _one_time_normal(code)
    if len(normal) != ONE_TIME_CODE_LENGTH:
        return None
    with transaction.atomic():
        row = (
            RecoveryCode.objects.select_for_update()
            .filter(user=user, used_at__isnull=True, code_hash__in=blind_indexes(normal, purpose=RECOVERY_CODE_PURPOSE))
            .first()
        )
        if row is None:
            return None
        row.used_at = timezone.now()
        row.save(update_fields=["used_at"])
        left = RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
        audit_record(
            action="auth.2fa.recovery_used", actor=user, object_type="user", object_id=user.pk, details={"left": left}
        )
    return left


def recovery_codes_keep_for_display(session: Any, codes: list[str]) -> None:
    """Hold new codes (sealed) in the session for the one page that shows them."""
    session[FRESH_RECOVERY_CODES] = seal(" ".join(codes), purpose=FRESH_RECOVERY_CODES_PURPOSE)


def recovery_codes_take_for_display(session: Any) -> list[str]:
    """The new codes, once: the page that shows them takes them out of the session."""
    stored = session.pop(FRESH_RECOVERY_CODES, "")
    try:
        return unseal(stored, purpose=FRESH_RECOVERY_CODES_PURPOSE).split() if is_sealed(stored) else []
    except SealError:
        return []  # sealed under a key dropped since: the page offers new codes for the password


# -- API tokens ---------------------------------------------------------------------------------


def api_token_issue(*, user: User, code: str = "", issued_by: str) -> Token:
    """A new API token for ``user`` (an older one stops working).

    The rule of ADR 12: a person who must sign in with a second factor gets a token only with an
    authenticator set up and a current code from it (used up, like a sign-in code); the token is
    refused at every use once the authenticator is gone (``TwoFactorTokenAuthentication``).
    """
    if not user.is_active:
        raise AccountsError(AccountsErrorCode.BAD_CREDENTIALS, _("This account is deactivated."))
    if two_factor_required(user):
        if not has_authenticator(user):
            audit_record(
                action="auth.token_issued", actor_label=issued_by[:150], object_type="user", object_id=user.pk,
                outcome=Outcome.DENIED, details={"reason": "no_2fa"},
            )  # fmt: skip
            raise TwoFactorRequiredError(
                AccountsErrorCode.TWO_FACTOR_REQUIRED,
                _("Your role signs in with a second factor: set up an authenticator before asking for an API token."),
            )
        if not totp_verify(user=user, code=code):
            audit_record(
                action="auth.token_issued", actor_label=issued_by[:150], object_type="user", object_id=user.pk,
                outcome=Outcome.FAILURE, details={"reason": "code"},
            )  # fmt: skip
            raise AccountsError(AccountsErrorCode.BAD_CODE, _("The code is not right. Check the time on your phone."))
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
        audit_record(action="auth.token_issued", actor_label=issued_by[:150], object_type="user", object_id=user.pk)
    return token
