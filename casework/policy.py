"""Who may do what in casework. Services ask here; views never decide on their own.

Visibility: a department handler sees the cases its department was ever given; every other staff
role sees every case of its county. Actions are per role; a handler acts only on its own
department's assignments.
"""

from __future__ import annotations

from enum import StrEnum

from casework.models import StaffProfile, StaffRole


class Action(StrEnum):
    REGISTER = "register"
    ACCEPT = "accept"
    ASSIGN = "assign"
    CLASSIFY = "classify"
    PAUSE = "pause"
    REPLY = "reply"
    FOLLOW_UP = "follow_up"
    ARCHIVE = "archive"
    WITHDRAW = "withdraw"
    ESCALATE = "escalate"
    HANDLE_ASSIGNMENT = "handle_assignment"
    ATTACH = "attach"
    LEDGER_WRITE = "ledger_write"
    MANAGE_STAFF = "manage_staff"
    REQUEST_EXTENSION = "request_extension"
    DECIDE_EXTENSION = "decide_extension"
    READ = "read"
    SEE_PHONE = "see_phone"
    # 跨域通办: send a case to another county, and take over or return one sent here.
    FORWARD = "forward"


_CLERK = StaffRole.WINDOW_CLERK
_SUPERVISOR = StaffRole.SUPERVISOR
_HANDLER = StaffRole.DEPARTMENT_HANDLER

ALLOWED: dict[Action, frozenset[str]] = {
    Action.REGISTER: frozenset({_CLERK, _SUPERVISOR}),
    Action.ACCEPT: frozenset({_CLERK, _SUPERVISOR}),
    # 即收即转即办: the clerk who accepts may also assign in the same step.
    Action.ASSIGN: frozenset({_CLERK, _SUPERVISOR}),
    Action.CLASSIFY: frozenset({_CLERK, _SUPERVISOR}),
    Action.PAUSE: frozenset({_CLERK, _SUPERVISOR, _HANDLER}),
    Action.REPLY: frozenset({_CLERK, _SUPERVISOR}),
    Action.FOLLOW_UP: frozenset({_CLERK, _SUPERVISOR}),
    Action.ARCHIVE: frozenset({_CLERK, _SUPERVISOR}),
    Action.WITHDRAW: frozenset({_CLERK, _SUPERVISOR}),
    Action.ESCALATE: frozenset({_SUPERVISOR}),
    Action.HANDLE_ASSIGNMENT: frozenset({_HANDLER, _SUPERVISOR}),
    Action.LEDGER_WRITE: frozenset({_SUPERVISOR}),
    Action.MANAGE_STAFF: frozenset({StaffRole.COUNTY_ADMIN}),
    Action.REQUEST_EXTENSION: frozenset({_HANDLER, _SUPERVISOR}),
    Action.DECIDE_EXTENSION: frozenset({_SUPERVISOR}),
    Action.ATTACH: frozenset({_CLERK, _SUPERVISOR, _HANDLER}),
    Action.READ: frozenset(StaffRole.values),
    # Staff who call citizens back see the full number; everyone else sees 138****5678.
    Action.SEE_PHONE: frozenset({_CLERK, _SUPERVISOR}),
    Action.FORWARD: frozenset({_CLERK, _SUPERVISOR}),
}


def may(profile: StaffProfile | None, action: Action) -> bool:
    return profile is not None and profile.role in ALLOWED[action]


def sees_all_cases(profile: StaffProfile) -> bool:
    return profile.role != StaffRole.DEPARTMENT_HANDLER


def mask_phone(phone: str) -> str:
    if len(phone) < 7:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"


# Asked by the platform layer (registered in CaseworkConfig.ready): who signs in with a second
# factor, and who reads the county's audit trail.
TWO_FACTOR_ROLES = frozenset({StaffRole.COUNTY_ADMIN, StaffRole.SUPERVISOR})


def requires_two_factor(user: object) -> bool:
    # The role looked up once per request (also asked by every API token use, ADR 12).
    from casework.selectors import staff_profile_of  # selectors imports this module

    profile = staff_profile_of(user)
    return profile is not None and profile.role in TWO_FACTOR_ROLES


def reads_audit(user: object) -> bool:
    return StaffProfile.objects.filter(user_id=getattr(user, "pk", 0), role=StaffRole.AUDITOR).exists()
