"""Writes for connected systems. Cases and ratings are written by casework's own services.

- Client applications: an API key (stored hashed) and a signing key per application.
- 12345 work orders: each good row becomes a case once (its source id is unique per system); a
  bad row is reported with its line and reason and the rest still import.
- Open311 ``POST requests``: a case from a civic app, with what Open311 carries beside it.
- 好差评 callbacks: signed, fresh and never replayed; the rating is a casework rating, and a 差评
  starts the rectification loop (call back, rectify by a working-day deadline, one more rating).
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import hmac
import io
import ipaddress
import json
import re
import secrets
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from banchengshi.accounts.models import User
from banchengshi.errors import ApplicationError
from banchengshi.tenancy import current_county
from casework import services as casework
from casework.interop import selectors
from casework.interop.errors import (
    BatchTooLargeError,
    ConflictError,
    InteropError,
    InteropErrorCode,
    NotAllowedError,
    NotAuthenticatedError,
    NotFoundError,
)
from casework.interop.models import (
    RECTIFICATION_RUNNING,
    ApiClient,
    Dimension,
    ExternalRating,
    ExternalReference,
    InteropSettings,
    Open311Details,
    RatingDetail,
    Rectification,
    RectificationStatus,
    Scope,
)
from casework.models import (
    BAD_RATING_MAX,
    EVENT_LABELS,
    Case,
    Category,
    Channel,
    Department,
    Rating,
    RatingLevel,
    RatingSource,
    RequestKind,
    StaffRole,
    Window,
)
from casework.policy import Action, may
from casework.selectors import staff_profile_of
from notifications.models import Channel as NotificationChannel
from notifications.services import notification_enqueue, webhook_endpoint_deactivate, webhook_endpoint_subscribe
from sla.selectors import county_calendar

# -- client applications ----------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedClient:
    """A new client and its keys: the only moment the API key is seen in full."""

    client: ApiClient
    api_key: str
    signing_secret: str


def api_client_create(
    *,
    actor: User | None,
    name: str,
    source_system: str,
    scopes: Iterable[str],
    webhook_url: str = "",
    webhook_events: Iterable[str] = (),
) -> IssuedClient:
    """Register a client application; with ``webhook_url`` it also receives the county's case events.

    ``actor`` is the county admin; None only for the platform itself (demo data, tests).
    """
    if actor is not None:
        _require_admin(actor)
    name = _required(name, "name", 100)
    source_system = _required(source_system, "source_system", 40)
    scopes = list(dict.fromkeys(scopes))
    unknown = [s for s in scopes if s not in Scope.values]
    if not scopes or unknown:
        raise _invalid("scopes", _("Choose one or more of: %(scopes)s.") % {"scopes": ", ".join(Scope.values)})
    key_id = secrets.token_hex(6)
    api_key = f"{selectors.KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    signing_secret = secrets.token_hex(32)
    if webhook_url:
        webhook_url = _webhook_url_checked(webhook_url)
    webhook_events = list(dict.fromkeys(webhook_events))
    # A misspelt event would be a webhook that silently never hears anything.
    unknown_events = [e for e in webhook_events if e.removeprefix("case.") not in EVENT_LABELS or "." not in e]
    if unknown_events:
        raise _invalid(
            "webhook_events",
            _("Unknown events: %(events)s. Events are named case.<step>, for example case.registered, case.replied.")
            % {"events": ", ".join(unknown_events)},
        )
    with transaction.atomic():
        webhook = None
        if webhook_url:
            # Status changes and replies go back to the system over the signed webhooks of notifications.
            webhook = webhook_endpoint_subscribe(
                name=name, url=webhook_url, secret=signing_secret, events=list(webhook_events)
            )
        client = ApiClient.objects.create(
            name=name,
            source_system=source_system,
            key_id=key_id,
            key_hash=selectors.key_hash(api_key),
            signing_secret=signing_secret,
            scopes=scopes,
            webhook=webhook,
        )
    return IssuedClient(client=client, api_key=api_key, signing_secret=signing_secret)


def _webhook_url_checked(url: str) -> str:
    """An http(s) URL whose host resolves only to public addresses, or to a network the platform allows.

    Our servers POST to this URL: pointed at loopback, a link-local address (the cloud's metadata
    service) or the platform's own private network it would let a county admin reach internal
    services (SSRF). A county whose 12345 platform sits on the government network (政务外网) has
    that network listed in ``INTEROP_WEBHOOK_ALLOWED_NETWORKS`` by the platform's operators.
    """
    url = url.strip()
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in {"http", "https"} or not parts.hostname or port == -1 or parts.username is not None:
        raise _invalid("webhook_url", _("The webhook must be an http or https address."))
    try:
        found = socket.getaddrinfo(parts.hostname, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _invalid("webhook_url", _("The webhook's host name cannot be resolved.")) from None
    allowed = [ipaddress.ip_network(n, strict=False) for n in settings.INTEROP_WEBHOOK_ALLOWED_NETWORKS]
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_global and not any(address in network for network in allowed):
            raise _invalid(
                "webhook_url",
                _("The webhook may not point at a loopback, link-local or other internal address (%(address)s).")
                % {"address": address},
            )
    return url


def api_client_deactivate(*, actor: User, client_id: UUID) -> ApiClient:
    """Revoke a client: its key stops working at once and its webhook gets nothing more."""
    _require_admin(actor)
    with transaction.atomic():
        client = ApiClient.objects.select_for_update().get(pk=client_id)
        client.is_active = False
        client.save(update_fields=["is_active"])
        if client.webhook_id is not None:
            webhook_endpoint_deactivate(endpoint_id=client.webhook_id)
    return client


RECTIFICATION_MAX_DAYS = 60


def interop_settings_set(*, actor: User, rectification_working_days: int) -> InteropSettings:
    """The county sets how many working days a 差评 has to be put right (15 unless it says otherwise)."""
    _require_admin(actor)
    if not 1 <= rectification_working_days <= RECTIFICATION_MAX_DAYS:
        raise _invalid(
            "rectification_working_days",
            _("Between 1 and %(max)d working days.") % {"max": RECTIFICATION_MAX_DAYS},
        )
    row, _created = InteropSettings.objects.update_or_create(
        pk=1, defaults={"rectification_working_days": rectification_working_days}
    )
    return row


# -- 12345 work orders ------------------------------------------------------------------------

WORK_ORDER_FIELDS = (
    "external_id", "matter", "description", "citizen_name", "citizen_phone", "kind", "category", "window",
    "departments", "company_name", "is_urgent",
)  # fmt: skip


@dataclass
class IntakeResult:
    imported: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def work_orders_parse(*, body: bytes, content_type: str) -> list[tuple[int, dict[str, Any]]]:
    """The rows of a batch with the line each came from: CSV (header on line 1) or JSON (``{"orders": [...]}``).

    A batch over the county's limit is refused whole before anything is imported.
    """
    if len(body) > settings.INTEROP_INTAKE_MAX_BYTES:
        raise batch_too_large()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InteropError(InteropErrorCode.UNSUPPORTED_FORMAT, _("The batch must be UTF-8 text.")) from None
    media = content_type.split(";")[0].strip().lower()
    if media == "text/csv":
        reader = csv.DictReader(io.StringIO(text))
        missing = [f for f in ("external_id", "matter") if f not in (reader.fieldnames or [])]
        if missing:
            raise InteropError(
                InteropErrorCode.INVALID,
                _("The CSV header lacks the columns: %(columns)s.") % {"columns": ", ".join(missing)},
            )
        rows: list[tuple[int, dict[str, Any]]] = []
        try:
            for row in reader:
                rows.append((reader.line_num, {k: v for k, v in row.items() if k is not None}))
                _check_count(len(rows))
        except csv.Error:
            # A field over the csv module's limit, or a quote left open to the end of the file.
            raise InteropError(
                InteropErrorCode.INVALID,
                _("The CSV cannot be read from line %(line)d on (a field too long or a quote left open).")
                % {"line": reader.line_num + 1},
            ) from None
        return rows
    if media == "application/json":
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the decoder recurses
            raise InteropError(InteropErrorCode.INVALID, _("The batch is not valid JSON.")) from None
        orders = data.get("orders") if isinstance(data, dict) else None
        if not isinstance(orders, list):
            raise InteropError(InteropErrorCode.INVALID, _("A JSON batch is an object with a list “orders”."))
        _check_count(len(orders))
        return [(index, order if isinstance(order, dict) else {}) for index, order in enumerate(orders, start=1)]
    raise InteropError(
        InteropErrorCode.UNSUPPORTED_FORMAT, _("Send the batch as application/json or text/csv."), http_status=415
    )


def _check_count(count: int) -> None:
    if count > settings.INTEROP_INTAKE_MAX_ORDERS:
        raise batch_too_large()


def batch_too_large() -> BatchTooLargeError:
    return BatchTooLargeError(
        InteropErrorCode.BATCH_TOO_LARGE,
        _("The batch is too large: at most %(orders)d work orders and %(mb)d MB at a time; nothing was imported.")
        % {"orders": settings.INTEROP_INTAKE_MAX_ORDERS, "mb": max(1, settings.INTEROP_INTAKE_MAX_BYTES // 2**20)},
    )


def work_orders_import(*, client: ApiClient, rows: list[tuple[int, dict[str, Any]]]) -> IntakeResult:
    """Import each row as a case of the 12345 channel, once per source id; bad rows are reported, not fatal."""
    if client.source_system == "" or Scope.INTAKE not in client.scopes:
        raise NotAllowedError(InteropErrorCode.NOT_ALLOWED, _("This API key may not be used for this."))
    _check_count(len(rows))
    result = IntakeResult()
    # One query finds every order of the batch that is already here (a re-sent batch is the common case).
    ids = {str(row.get("external_id") or "").strip() for _line, row in rows}
    # PostgreSQL refuses a NUL in any text: such an id would fail the whole lookup (the row is rejected below).
    ids = {i for i in ids if _storable(i) and len(i) <= 64}
    known = {
        r.external_id: r
        for r in ExternalReference.objects.select_related("case").filter(
            source_system=client.source_system, external_id__in=ids
        )
    }
    for line, row in rows:
        external_id = str(row.get("external_id") or "").strip()
        entry: dict[str, Any] = {"line": line, "external_id": external_id}
        try:
            if not external_id or len(external_id) > 64 or not _storable(external_id):
                raise _invalid("external_id", _("Each work order needs its own id (at most 64 characters)."))
            existing = known.get(external_id)
            if existing is not None:
                result.unchanged.append(entry | _case_ref(existing.case))
                continue
            intake = _work_order_intake(row)
            with transaction.atomic():
                case = casework.case_register(actor=None, intake=intake, system=client.source_system)
                known[external_id] = ExternalReference.objects.create(
                    source_system=client.source_system, external_id=external_id, case=case, client=client
                )
            result.imported.append(entry | _case_ref(case))
        except IntegrityError:
            # The same order arrived in another batch at the same moment: that one made the case.
            existing = _reference(client, external_id)
            if existing is None:
                raise
            result.unchanged.append(entry | _case_ref(existing.case))
        except ApplicationError as exc:
            result.rejected.append(entry | {"code": str(exc.code), "message": exc.message, "details": exc.details})
    return result


def _reference(client: ApiClient, external_id: str) -> ExternalReference | None:
    return (
        ExternalReference.objects.select_related("case")
        .filter(source_system=client.source_system, external_id=external_id)
        .first()
    )


def _case_ref(case: Case) -> dict[str, Any]:
    return {"case_id": str(case.pk), "number": case.number}


def _work_order_intake(row: dict[str, Any]) -> casework.CaseIntake:
    unknown = sorted(set(row) - set(WORK_ORDER_FIELDS))
    if unknown:
        raise _invalid(unknown[0], _("Unknown fields: %(fields)s.") % {"fields": ", ".join(unknown)})
    departments = row.get("departments") or []
    if isinstance(departments, str):
        departments = [d for d in departments.replace(";", ",").split(",") if d.strip()]
    if not isinstance(departments, list):
        raise _invalid("departments", _("Departments are a list of department codes."))
    urgent = row.get("is_urgent", False)
    if isinstance(urgent, str):
        urgent = urgent.strip().lower() in {"1", "true", "yes", "是"}
    return casework.CaseIntake(
        matter=_text(row, "matter"),
        description=_text(row, "description"),
        citizen_name=_text(row, "citizen_name"),
        citizen_phone=_text(row, "citizen_phone"),
        channel=Channel.HOTLINE,
        kind_code=_text(row, "kind") or _required_missing("kind"),
        category_code=_text(row, "category"),
        window_code=_text(row, "window"),
        department_codes=tuple(_storable_text(str(d).strip(), "departments") for d in departments),
        company_name=_text(row, "company_name"),
        is_urgent=bool(urgent),
    )


def _text(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise _invalid(name, _("This field must be text."))
    return _storable_text(str(value).strip(), name)


def _storable(value: str) -> bool:
    return "\x00" not in value


def _storable_text(value: str, name: str) -> str:
    if not _storable(value):
        # PostgreSQL cannot store it: the row is refused here instead of failing the batch.
        raise _invalid(name, _("This field contains a character that cannot be stored (NUL)."))
    return value


def _required_missing(name: str) -> str:
    raise _invalid(name, _("This field is required."))


# -- Open311 ----------------------------------------------------------------------------------

OPEN311_ATTRIBUTES = ("matter", "kind", "window", "departments", "company_name")


@dataclass(frozen=True)
class Open311Submission:
    service_code: str
    description: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    email: str = ""
    address_string: str = ""
    address_id: str = ""
    zipcode: str = ""
    lat: Decimal | None = None
    long: Decimal | None = None
    media_url: str = ""
    device_id: str = ""
    account_id: str = ""
    attributes: dict[str, list[str]] = field(default_factory=dict)


def open311_request_create(
    *, client: ApiClient, submission: Open311Submission, idempotency_key: str | None = None
) -> casework.Registration:
    """GeoReport v2 ``POST requests``: a case of the online channel, registered for the client's app.

    With an ``idempotency_key`` a retry of the same submission by the same system answers with
    the case the first one registered (``casework.case_register_once``), writing nothing.
    """
    category = Category.objects.filter(code=submission.service_code, is_active=True).first()
    if category is None:
        raise _invalid("service_code", _("Unknown service_code “%(code)s”.") % {"code": submission.service_code})
    if not (submission.lat is not None and submission.long is not None) and not (
        submission.address_string.strip() or submission.address_id.strip()
    ):
        raise _invalid("location", _("Give a location: lat and long, address_string or address_id."))
    if not submission.description.strip():
        raise _invalid("description", _("Describe what could not be done (description)."))
    name = f"{submission.last_name.strip()}{submission.first_name.strip()}"
    if not name:
        raise _invalid("first_name", _("Give the name of the person reporting (first_name / last_name)."))
    if not submission.phone.strip():
        raise _invalid("phone", _("Give a phone number so that the window can reply."))
    attributes = _open311_attributes(submission.attributes)
    intake = casework.CaseIntake(
        matter=(attributes.get("matter") or [category.name])[0][:200],
        description=submission.description,
        citizen_name=name,
        citizen_phone=submission.phone,
        channel=Channel.ONLINE,
        kind_code=attributes["kind"][0],
        category_code=category.code,
        window_code=(attributes.get("window") or [""])[0],
        department_codes=tuple(attributes.get("departments") or ()),
        company_name=(attributes.get("company_name") or [""])[0],
    )
    with transaction.atomic():
        registration = casework.case_register_once(
            idempotency_key=idempotency_key, actor=None, intake=intake, system=client.source_system,
            request={"open311": asdict(submission)},
        )  # fmt: skip
        if registration.replayed:
            return registration
        case = registration.case
        Open311Details.objects.create(
            case=case, client=client, address_string=submission.address_string[:255],
            address_id=submission.address_id[:64], zipcode=submission.zipcode[:12], lat=submission.lat,
            long=submission.long, media_url=submission.media_url[:500], email=submission.email[:254],
            device_id=submission.device_id[:64], account_id=submission.account_id[:64], attributes=attributes,
        )  # fmt: skip
    return registration


def _open311_attributes(given: dict[str, list[str]]) -> dict[str, list[str]]:
    """Check ``attribute[code]`` values against the service definition (the county's reference lists)."""
    values = {code: [v.strip() for v in vs if v.strip()] for code, vs in given.items()}
    unknown = sorted(set(values) - set(OPEN311_ATTRIBUTES))
    if unknown:
        raise _invalid("attribute", _("Unknown attribute: %(code)s.") % {"code": ", ".join(unknown)})
    if not values.get("kind"):
        raise _invalid("attribute[kind]", _("The attribute “kind” is required."))
    lists: dict[str, Any] = {"kind": RequestKind, "window": Window, "departments": Department}
    for code, model in lists.items():
        chosen = values.get(code) or []
        if code != "departments" and len(chosen) > 1:
            raise _invalid(f"attribute[{code}]", _("The attribute “%(code)s” takes one value.") % {"code": code})
        known = set(model.objects.filter(code__in=chosen, is_active=True).values_list("code", flat=True))
        if set(chosen) - known:
            raise _invalid(
                f"attribute[{code}]",
                _("“%(value)s” is not a value of the attribute “%(code)s”.")
                % {"value": ", ".join(sorted(set(chosen) - known)), "code": code},
            )
    return values


# -- 好差评 callbacks ----------------------------------------------------------------------------


TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")


def signed_callback_verify(
    *, key_id: str, timestamp: str, nonce: str, signature: str, body: bytes, scope: str
) -> ApiClient:
    """The client that signed this request: HMAC-SHA256 of ``"{timestamp}.{nonce}." + body`` with its key.

    The timestamp must be within the county's window and each nonce is accepted once, so a
    captured request cannot be sent again.
    """
    client = selectors.api_client_for_key_id(key_id=key_id, scope=scope)
    window = settings.INTEROP_SIGNATURE_WINDOW_SECONDS
    # ASCII digits only: str.isdigit() also takes "²" or Arabic-Indic digits, which int() then refuses.
    if not TIMESTAMP_RE.fullmatch(timestamp) or abs(time.time() - int(timestamp)) > window:
        raise NotAuthenticatedError(
            InteropErrorCode.STALE_TIMESTAMP,
            _("The request's timestamp is missing or more than %(seconds)d seconds away from ours.")
            % {"seconds": window},
        )
    expected = hmac.new(client.signing_secret.encode(), f"{timestamp}.{nonce}.".encode() + body, hashlib.sha256)
    if not (0 < len(nonce) <= 64) or not hmac.compare_digest(f"sha256={expected.hexdigest()}", signature):
        raise NotAuthenticatedError(InteropErrorCode.BAD_SIGNATURE, _("The request's signature does not match."))
    if not cache.add(f"interop:nonce:{client.pk}:{nonce}", 1, timeout=2 * window):
        raise NotAuthenticatedError(InteropErrorCode.REPLAYED, _("This request was already received once."))
    return client


@dataclass(frozen=True)
class RatingReceipt:
    rating: Rating
    rectification: Rectification | None
    duplicate: bool


def external_rating_receive(
    *,
    client: ApiClient,
    rating_id: str,
    case_number: str,
    level: int,
    comment: str = "",
    dimensions: dict[str, int] | None = None,
) -> RatingReceipt:
    """A rating from the 好差评 system: a casework rating (so it counts in the county's figures),
    its per-dimension scores, and the rectification loop it starts or closes. Sent twice, it counts once."""
    rating_id = _required(rating_id, "rating_id", 64)
    dimensions = dimensions or {}
    bad = [d for d, score in dimensions.items() if d not in Dimension.values or score not in range(1, 6)]
    if bad:
        raise _invalid(
            "dimensions",
            _("Scores are 1 to 5 for the dimensions %(known)s.") % {"known": ", ".join(Dimension.values)},
        )
    earlier = _earlier_rating(client, rating_id)
    if earlier is not None:
        return earlier
    case = Case.objects.filter(number=case_number.strip().upper()).first()
    if case is None:
        raise NotFoundError(InteropErrorCode.NOT_FOUND, _("No case with this number in this county."))
    try:
        with transaction.atomic():
            casework.case_rate_by_citizen(case_id=case.pk, level=level, comment=comment, source=RatingSource.EXTERNAL)
            # The case row is still locked by this transaction: the newest external rating is this one.
            rating = Rating.objects.filter(case=case, source=RatingSource.EXTERNAL).latest("at", "pk")
            ExternalRating.objects.create(
                source_system=client.source_system, external_id=rating_id, rating=rating, client=client
            )
            RatingDetail.objects.bulk_create(
                [RatingDetail(rating=rating, dimension=d, score=s) for d, s in sorted(dimensions.items())]
            )
            rectification = _rating_received(rating)
    except (IntegrityError, ApplicationError):
        # A resend that raced the first delivery waited on the case's lock and then found the case
        # rated ("already rated") or the rating id taken: it is the same rating, answered as a repeat.
        earlier = _earlier_rating(client, rating_id)
        if earlier is None:
            raise
        return earlier
    return RatingReceipt(rating=rating, rectification=rectification, duplicate=False)


def _earlier_rating(client: ApiClient, rating_id: str) -> RatingReceipt | None:
    known = (
        ExternalRating.objects.select_related("rating")
        .filter(source_system=client.source_system, external_id=rating_id)
        .first()
    )
    if known is None:
        return None
    rating = known.rating
    loop = Rectification.objects.filter(Q(bad_rating=rating) | Q(follow_up_rating=rating)).first()
    return RatingReceipt(rating=rating, rectification=loop, duplicate=True)


# -- the rectification loop -------------------------------------------------------------------


def _rating_received(rating: Rating) -> Rectification | None:
    """A new rating: the follow-up of the running loop closes it; otherwise a 差评 opens one."""
    running = Rectification.objects.select_for_update().filter(case_id=rating.case_id, status__in=RECTIFICATION_RUNNING)
    loop = running.first()
    if loop is not None:
        if rating.pk == loop.bad_rating_id or rating.at <= loop.opened_at:
            return loop
        return _rectification_close(loop, rating)
    if rating.level <= BAD_RATING_MAX:
        return _rectification_open(rating)
    return None


def _rectification_open(rating: Rating) -> Rectification:
    now = timezone.now()
    days = selectors.interop_settings().rectification_working_days
    due = county_calendar().add_working_days(now, days)
    loop = Rectification.objects.create(
        case_id=rating.case_id, bad_rating=rating, opened_at=now, due_at=due.due_at, due_provisional=due.provisional
    )
    case = Case.objects.get(pk=rating.case_id)
    values = _values(case, rating, loop)
    if casework.MOBILE_RE.match(case.citizen_phone):
        notification_enqueue(
            key="rating.bad_callback", channel=NotificationChannel.SMS, recipient=case.citizen_phone, values=values,
            idempotency_key=f"{case.pk}:rectification:{loop.pk}:sms",
        )  # fmt: skip
    # The call-back is a task for the window: every supervisor and clerk sees it in the inbox.
    for user_id in _staff(StaffRole.SUPERVISOR, StaffRole.WINDOW_CLERK):
        notification_enqueue(
            key="rating.bad_received", channel=NotificationChannel.INAPP, recipient=str(user_id), values=values,
            idempotency_key=f"{case.pk}:rectification:{loop.pk}:inapp:{user_id}",
        )  # fmt: skip
    return loop


def _rectification_close(loop: Rectification, rating: Rating) -> Rectification:
    accepted = rating.level > BAD_RATING_MAX
    loop.status = RectificationStatus.ACCEPTED if accepted else RectificationStatus.REJECTED
    loop.follow_up_rating = rating
    loop.closed_at = timezone.now()
    loop.version += 1
    loop.save(update_fields=["status", "follow_up_rating", "closed_at", "version"])
    if not accepted:
        case = Case.objects.get(pk=loop.case_id)
        for user_id in _staff(StaffRole.SUPERVISOR, StaffRole.LEADER):
            notification_enqueue(
                key="rating.rectification_rejected", channel=NotificationChannel.INAPP, recipient=str(user_id),
                values=_values(case, rating, loop),
                idempotency_key=f"{case.pk}:rectification:{loop.pk}:rejected:{user_id}",
            )  # fmt: skip
    return loop


def _values(case: Case, rating: Rating, loop: Rectification) -> dict[str, Any]:
    return {
        "county": current_county().full_name,
        "number": case.number,
        "matter": case.matter,
        "tracking_code": case.tracking_code,
        "level": str(RatingLevel(rating.level).label),
        "due": f"{timezone.localtime(loop.due_at):%Y-%m-%d}",
    }


def _staff(*roles: str) -> list[int]:
    from casework.models import StaffProfile

    return list(StaffProfile.objects.filter(role__in=roles, user__is_active=True).values_list("user_id", flat=True))


RATING_LOOKBACK = datetime.timedelta(days=7)


def rectifications_sync() -> int:
    """Ratings from the citizen page and follow-up calls enter the loop too: open or close it for them.

    Safe to run twice: each rating is locked and checked, and a rating opens at most one loop.
    """
    handled = Q(rectification__isnull=False) | Q(rectification_follow_up__isnull=False)
    running = Rectification.objects.filter(status__in=RECTIFICATION_RUNNING).values("case_id")
    candidates = (
        Rating.objects.filter(at__gte=timezone.now() - RATING_LOOKBACK)
        .exclude(handled)
        .filter(Q(level__lte=BAD_RATING_MAX) | Q(case_id__in=running))
        .order_by("at", "pk")
        .values_list("pk", flat=True)
    )
    changed = 0
    for rating_pk in list(candidates):
        with transaction.atomic():
            rating = Rating.objects.select_for_update(of=("self",)).exclude(handled).filter(pk=rating_pk).first()
            if rating is None:
                continue
            loop = _rating_received(rating)
            changed += int(loop is not None and rating.pk in {loop.bad_rating_id, loop.follow_up_rating_id})
    return changed


def rectification_called_back(*, actor: User, rectification_id: UUID, version: int, note: str) -> Rectification:
    """The window called the citizen back about the 差评."""
    note = _required(note, "note", 2000)

    def change(loop: Rectification) -> None:
        loop.called_back_at = timezone.now()
        loop.note = "\n".join(filter(None, [loop.note, note]))

    return _rectification_step(actor, rectification_id, version, {RectificationStatus.OPEN}, change)


def rectification_mark_rectified(*, actor: User, rectification_id: UUID, version: int, note: str) -> Rectification:
    """What was put right; the loop then waits for the citizen's one follow-up rating."""
    note = _required(note, "note", 2000)

    def change(loop: Rectification) -> None:
        loop.status = RectificationStatus.RECTIFIED
        loop.rectified_at = timezone.now()
        loop.rectified_by = actor
        loop.note = "\n".join(filter(None, [loop.note, note]))

    return _rectification_step(actor, rectification_id, version, {RectificationStatus.OPEN}, change)


def _rectification_step(
    actor: User, rectification_id: UUID, version: int, allowed: set[str], change: Any
) -> Rectification:
    if not may(staff_profile_of(actor), Action.FOLLOW_UP):
        raise NotAllowedError(InteropErrorCode.NOT_ALLOWED, _("Your role may not do this."))
    with transaction.atomic():
        loop = Rectification.objects.select_for_update().filter(pk=rectification_id).first()
        if loop is None:
            raise NotFoundError(InteropErrorCode.NOT_FOUND, _("No such rectification."))
        if loop.version != version:
            raise ConflictError(
                InteropErrorCode.ILLEGAL_TRANSITION,
                _("Someone else changed this a moment ago; reload it and try again."),
            )
        if loop.status not in allowed:
            raise ConflictError(InteropErrorCode.ILLEGAL_TRANSITION, _("This step is not possible any more."))
        change(loop)
        loop.version += 1
        loop.save()
    return loop


# -- helpers ----------------------------------------------------------------------------------


def _require_admin(actor: User) -> None:
    profile = staff_profile_of(actor)
    if profile is None or profile.role != StaffRole.COUNTY_ADMIN:
        raise NotAllowedError(InteropErrorCode.NOT_ALLOWED, _("Only the county administrator may do this."))


def _required(value: str, name: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise _invalid(name, _("This field is required."))
    if len(value) > limit:
        raise _invalid(name, _("Too long: at most %(max)d characters.") % {"max": limit})
    return value


def _invalid(name: str, message: str) -> InteropError:
    details = [{"field": name, "code": "invalid", "message": message}]
    return InteropError(InteropErrorCode.INVALID, message, details=details)


# -- retention (a hook of casework.retention) ---------------------------------------------------


def case_open311_anonymise(case: Case, clean: Callable[[str], str]) -> None:
    """Where the citizen was, their picture, device, account and email go with the case's personal data."""
    Open311Details.objects.filter(case=case).update(
        address_string="", address_id="", zipcode="", lat=None, long=None, media_url="", email="", device_id="",
        account_id="", attributes={},
    )  # fmt: skip
    for rectification in Rectification.objects.filter(case=case):
        note = clean(rectification.note)
        if note != rectification.note:
            rectification.note = note
            rectification.save(update_fields=["note"])
