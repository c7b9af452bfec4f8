"""Reads of forwards, each through the actor's access."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.utils.translation import gettext as _

from banchengshi.accounts.models import User
from banchengshi.tenancy import current_county
from casework.errors import CaseworkErrorCode, NotFoundError
from casework.exchange.selectors import CountyEntry, counties_on_platform, forward_targets
from casework.forwarding.models import Forward, ForwardDirection, ForwardRole, ForwardStatus
from casework.models import Case
from casework.policy import sees_all_cases
from casework.selectors import _is_uuid, staff_profile_of


def _visible(actor: User) -> bool:
    # Forwards concern the whole window; a department handler sees only its department's work.
    profile = staff_profile_of(actor)
    return profile is not None and sees_all_cases(profile)


def forward_get_for_actor(*, actor: User, forward_id: str | UUID) -> Forward:
    visible = _is_uuid(forward_id) and _visible(actor)
    forward = Forward.objects.filter(pk=forward_id).select_related("case").first() if visible else None
    if forward is None:
        raise NotFoundError(CaseworkErrorCode.NOT_FOUND, _("No such forward."))
    return forward


def forwards_incoming(*, actor: User, status: str = ForwardStatus.PENDING) -> list[Forward]:
    """The window's queue of cases other counties sent here, newest first."""
    if not _visible(actor):
        return []
    rows = Forward.objects.filter(direction=ForwardDirection.IN).select_related("case")
    if status:
        rows = rows.filter(status=status)
    return list(rows[:200])


def forwards_of_case(*, case: Case) -> list[Forward]:
    return list(Forward.objects.filter(case=case).order_by("created_at"))


def forward_target_counties(*, actor: User) -> list[CountyEntry]:
    if not _visible(actor):
        return []
    return forward_targets(source_code=current_county().code)


def forwards_handled_elsewhere(*, case: Case) -> list[dict[str, str]]:
    """For the citizen: the counties that took this case over (the lead first), their number,
    status, the tracking code that finds it there (a new one when this case's was already used
    there) and their host.

    A county that has since left the platform has no host to offer: its last known status stays.
    """
    rows = sorted(
        Forward.objects.filter(case=case, direction=ForwardDirection.OUT, status=ForwardStatus.ACCEPTED),
        key=lambda f: (f.role != ForwardRole.LEAD, f.created_at),
    )
    serving = counties_on_platform(codes={f.counterpart_code for f in rows})
    return [
        {
            "county": f.counterpart_name,
            "role": f.role,
            "number": f.remote_number,
            "status_display": f.remote_status_display,
            "tracking_code": str(f.payload.get("tracking_code") or case.tracking_code),
            "track_host": (
                f"{f.payload.get('county_slug', '')}.{settings.COUNTY_DOMAIN_SUFFIX}"
                if f.counterpart_code in serving and f.payload.get("county_slug")
                else ""
            ),
        }
        for f in rows
    ]


def forward_phone_in_full(forward: Forward) -> bool:
    """Whether a caller's role may see this forward's phone in full: only while it waits for a
    decision. Taken over, the number lives in this county's own case; returned or recalled, this
    county has no reason to call the citizen."""
    return forward.direction == ForwardDirection.IN and forward.status == ForwardStatus.PENDING
