"""Who may read reports and who sets the scoring rule. Services and selectors ask here."""

from __future__ import annotations

from casework.models import StaffProfile, StaffRole
from casework.policy import Action, may

# Leaders, the office running the window, auditors and the county admin read figures and reports;
# window clerks and department handlers work cases and do not.
READERS = frozenset({StaffRole.LEADER, StaffRole.SUPERVISOR, StaffRole.AUDITOR, StaffRole.COUNTY_ADMIN})
# The leading group sets how departments are scored (绩效考核); the admin keeps the settings.
RULE_SETTERS = frozenset({StaffRole.LEADER, StaffRole.COUNTY_ADMIN})
# Who may request a quarterly report to be (re)generated.
REPORT_MAKERS = frozenset({StaffRole.LEADER, StaffRole.SUPERVISOR, StaffRole.COUNTY_ADMIN})


def may_read(profile: StaffProfile | None) -> bool:
    return profile is not None and profile.role in READERS


def may_set_rule(profile: StaffProfile | None) -> bool:
    return profile is not None and profile.role in RULE_SETTERS


def may_make_reports(profile: StaffProfile | None) -> bool:
    return profile is not None and profile.role in REPORT_MAKERS


def sees_phones(profile: StaffProfile | None) -> bool:
    """Exports show full phone numbers only to the roles casework lets see them."""
    return may(profile, Action.SEE_PHONE)
