"""Reads for connected systems, always in the current county's schema.

A client application is known by its API key (or its key id and signature); a key of another
county does not exist here, so it is unknown (401), never "forbidden".
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db.models import Case as SqlCase
from django.db.models import IntegerField, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from banchengshi.accounts.models import User
from casework.interop.errors import InteropErrorCode, NotAllowedError, NotAuthenticatedError, NotFoundError
from casework.interop.models import (
    RECTIFICATION_RUNNING,
    ApiClient,
    ExternalReference,
    InteropSettings,
    Open311Details,
    RatingDetail,
    Rectification,
)
from casework.models import Assignment, AssignmentRole, AssignmentStatus, Case, Category, Reply
from casework.policy import sees_all_cases
from casework.selectors import staff_profile_of

KEY_PREFIX = "bcs"


def key_hash(api_key: str) -> str:
    # Keys are 256-bit random strings: a plain SHA-256 is enough (no dictionary to guess from).
    return hashlib.sha256(api_key.encode()).hexdigest()


def key_id_of(api_key: str) -> str:
    parts = api_key.strip().split("_", 2)
    return parts[1] if len(parts) == 3 and parts[0] == KEY_PREFIX else ""


def api_client_for_key(*, api_key: str, scope: str) -> ApiClient:
    """The active client holding this key, if it may use ``scope``; 401 for an unknown key, 403 for a scope."""
    key_id = key_id_of(api_key or "")
    client = ApiClient.objects.filter(key_id=key_id, is_active=True).first() if key_id else None
    if client is None or not hmac.compare_digest(client.key_hash, key_hash(api_key.strip())):
        raise NotAuthenticatedError(InteropErrorCode.NOT_AUTHENTICATED, _("Unknown or revoked API key."))
    return _in_scope(client, scope)


def api_client_for_key_id(*, key_id: str, scope: str) -> ApiClient:
    client = ApiClient.objects.filter(key_id=key_id, is_active=True).first() if key_id else None
    if client is None:
        raise NotAuthenticatedError(InteropErrorCode.NOT_AUTHENTICATED, _("Unknown or revoked API key."))
    return _in_scope(client, scope)


def _in_scope(client: ApiClient, scope: str) -> ApiClient:
    if scope not in client.scopes:
        raise NotAllowedError(InteropErrorCode.NOT_ALLOWED, _("This API key may not be used for this."))
    return client


def api_client_list() -> QuerySet[ApiClient]:
    return ApiClient.objects.select_related("webhook").order_by("name")


def api_client_get(*, client_id: UUID | str) -> ApiClient:
    client = api_client_list().filter(pk=client_id).first() if _is_uuid(client_id) else None
    if client is None:
        raise NotFoundError(InteropErrorCode.NOT_FOUND, _("No such client application."))
    return client


def interop_settings() -> InteropSettings:
    return InteropSettings.objects.filter(pk=1).first() or InteropSettings()


# -- 12345 work orders ------------------------------------------------------------------------


def work_order_get_for_client(*, client: ApiClient, external_id: str) -> ExternalReference:
    """A work order this client's system sent; another system's ids are 404 like unknown ones."""
    reference = (
        ExternalReference.objects.select_related("case")
        .prefetch_related(Prefetch("case__replies", queryset=Reply.objects.order_by("replied_at")))
        .filter(source_system=client.source_system, external_id=external_id)
        .first()
    )
    if reference is None:
        raise NotFoundError(InteropErrorCode.NOT_FOUND, _("No work order with this id."))
    return reference


# -- Open311 ----------------------------------------------------------------------------------


def open311_service_list() -> QuerySet[Category]:
    return Category.objects.filter(is_active=True)


def open311_service_get(*, code: str) -> Category:
    category = open311_service_list().filter(code=code).first()
    if category is None:
        raise NotFoundError(InteropErrorCode.NOT_FOUND, _("No service with the code “%(code)s”.") % {"code": code})
    return category


@dataclass(frozen=True)
class RequestFilters:
    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime.datetime | None = None
    end: datetime.datetime | None = None


OPEN311_DEFAULT_DAYS = 90
OPEN311_MAX_REQUESTS = 1000
OPEN311_MAX_IDS = 200


def _open311_cases() -> QuerySet[Case]:
    lead = Assignment.objects.filter(role=AssignmentRole.LEAD).exclude(status=AssignmentStatus.WITHDRAWN)
    return Case.objects.select_related("category", "open311").prefetch_related(
        Prefetch("assignments", queryset=lead.select_related("department").order_by("-assigned_at"), to_attr="leads")
    )


def open311_request_list(*, filters: RequestFilters) -> list[Case]:
    """GeoReport v2 ``GET requests``: ids override every other filter; otherwise at most 90 days and 1,000 rows."""
    from casework.models import OPEN_STATUSES

    cases = _open311_cases()
    if filters.ids:
        return list(cases.filter(number__in=[i.upper() for i in filters.ids]).order_by("-registered_at"))
    end = filters.end or timezone.now()
    start = filters.start or end - datetime.timedelta(days=OPEN311_DEFAULT_DAYS)
    cases = cases.filter(registered_at__gte=start, registered_at__lte=end)
    if filters.service_codes:
        cases = cases.filter(category__code__in=filters.service_codes)
    if filters.statuses and set(filters.statuses) != {"open", "closed"}:
        is_open = Q(status__in=OPEN_STATUSES)
        cases = cases.filter(is_open) if "open" in filters.statuses else cases.exclude(is_open)
    return list(cases.order_by("-registered_at")[:OPEN311_MAX_REQUESTS])


def open311_request_get(*, request_id: str) -> Case:
    case = _open311_cases().filter(number=request_id.upper()).first()
    if case is None:
        raise NotFoundError(InteropErrorCode.NOT_FOUND, _("No service request with this id."))
    return case


def open311_details(case: Case) -> Open311Details | None:
    try:
        return case.open311
    except Open311Details.DoesNotExist:
        return None


# -- rectification ----------------------------------------------------------------------------


def rectification_list_for_actor(
    *, actor: User, status: str = "", overdue: bool | None = None
) -> QuerySet[Rectification]:
    """The 差评 loops the actor may see: all for the window's staff, their cases' for department handlers."""
    profile = staff_profile_of(actor)
    if profile is None:
        return Rectification.objects.none()
    rows = Rectification.objects.select_related("case", "bad_rating", "follow_up_rating")
    if not sees_all_cases(profile):
        rows = rows.filter(case__assignments__department=profile.department).distinct()
    if status:
        rows = rows.filter(status=status)
    if overdue is not None:
        late = Q(status__in=RECTIFICATION_RUNNING, due_at__lt=timezone.now())
        rows = rows.filter(late) if overdue else rows.exclude(late)
    return rows.order_by("due_at")


def rectification_queue_for_actor(*, actor: User) -> QuerySet[Rectification]:
    """The running loops the actor may see: overdue first, then the nearest deadline."""
    late = SqlCase(When(due_at__lt=timezone.now(), then=Value(0)), default=Value(1), output_field=IntegerField())
    return (
        rectification_list_for_actor(actor=actor)
        .filter(status__in=RECTIFICATION_RUNNING)
        .annotate(late_rank=late)
        .order_by("late_rank", "due_at")
    )


def rectification_closed_for_actor(*, actor: User) -> QuerySet[Rectification]:
    """Loops the follow-up rating closed, the latest first."""
    return rectification_list_for_actor(actor=actor).exclude(status__in=RECTIFICATION_RUNNING).order_by("-closed_at")


def rectification_get_for_actor(*, actor: User, rectification_id: UUID | str) -> Rectification:
    row = (
        rectification_list_for_actor(actor=actor).filter(pk=rectification_id).first()
        if _is_uuid(rectification_id)
        else None
    )
    if row is None:
        raise NotFoundError(InteropErrorCode.NOT_FOUND, _("No such rectification."))
    return row


def rating_scores(*, rating_id: int) -> list[RatingDetail]:
    """The per-dimension scores (效率, 态度, 水平…) a 好差评 rating came with."""
    return list(RatingDetail.objects.filter(rating_id=rating_id).order_by("dimension"))


def is_overdue(row: Rectification) -> bool:
    return row.status in RECTIFICATION_RUNNING and row.due_at < timezone.now()


def _is_uuid(value: Any) -> bool:
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True
