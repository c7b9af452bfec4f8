"""The text of each message, in Chinese, with ``{placeholders}`` filled from the caller's values.

A county may reword any of them (``MessageTemplate`` rows); these are the defaults.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

DEFAULT_TEMPLATES: dict[str, tuple[Promise | str, Promise]] = {
    "case.registered": (
        "",
        _("[{county}] Your report “{matter}” is registered as {number}. Tracking code: {tracking_code}."),
    ),
    "case.accepted": ("", _("[{county}] Case {number} “{matter}” has been accepted and is being handled.")),
    "case.not_accepted": ("", _("[{county}] Case {number} “{matter}” cannot be accepted: {reason}")),
    "case.materials_requested": (
        "",
        _("[{county}] Case {number}: please provide {note}. The deadline pauses until it arrives."),
    ),
    "case.returned": (
        _("Case {number} returned by a department"),
        _("Case {number} “{matter}” was returned by {department}: {reason}. Please assign it again."),
    ),
    "case.assigned": (
        _("Case {number} assigned to your department"),
        _("Case {number} “{matter}” was assigned to your department ({role}). Due: {due}."),
    ),
    "case.replied": (
        "",
        _("[{county}] Case {number} has been answered. Please rate our service with tracking code {tracking_code}."),
    ),
    "case.extension_approved": (
        "",
        _("[{county}] Case {number}: the deadline was extended by {days} working days, to {due}. Reason: {reason}"),
    ),
    "deadline.warning": (
        _("Deadline tomorrow: {number}"),
        _("Case {number} “{matter}”: one working day left until the {clock} deadline ({due})."),
    ),
    "rating.bad_callback": (
        "",
        _("[{county}] Sorry that case {number} did not satisfy you. Staff will call you back and fix it by {due}."),
    ),
    "rating.bad_received": (
        _("差评 on case {number}"),
        _("Case {number} “{matter}” was rated “{level}”. Call the citizen back and rectify it by {due}."),
    ),
    "rating.rectification_rejected": (
        _("Rectification not accepted: {number}"),
        _("After rectification, case {number} “{matter}” was rated “{level}” again."),
    ),
    "case.forwarded": (
        "",
        _(
            "[{county}] Case {number} “{matter}” is now handled by {to_county} as {remote_number}. "
            "Your tracking code {tracking_code} stays the same."
        ),
    ),
    "case.forwarded_new_code": (
        "",
        _(
            "[{county}] Case {number} “{matter}” is now handled by {to_county} as {remote_number}. "
            "There, look it up with the new tracking code {remote_tracking_code}; {tracking_code} still shows here "
            "where your case went."
        ),
    ),
    "case.co_handled_new_code": (
        "",
        _(
            "[{county}] Case {number} “{matter}”: {to_county} handles part of it as {remote_number}. There, look "
            "that part up with the tracking code {remote_tracking_code}; {tracking_code} still shows here where "
            "each part of your case is."
        ),
    ),
    "forward.received": (
        _("Case forwarded from {from_county}"),
        _("{from_county} forwarded case {number} “{matter}” to {county}: {reason}. Take it over or return it."),
    ),
    "forward.returned": (
        _("Forward returned: {number}"),
        _("{to_county} returned case {number} “{matter}”: {reason}. It is back with this county."),
    ),
    "forward.lead_returned": (
        _("Lead county returned joint case {number}"),
        _(
            "{lead_county}, the lead county of 多地联办 case {number} “{matter}” ({from_county}'s {remote_number}), "
            "returned it to {from_county}: {reason}. Agree with {from_county} whether your part is still needed."
        ),
    ),
    "forward.lead_recalled": (
        _("Joint case {number} recalled from its lead county"),
        _(
            "{from_county} recalled 多地联办 case {number} “{matter}” ({from_county}'s {remote_number}) from its "
            "lead county {lead_county}: {reason}. Agree with {from_county} whether your part is still needed."
        ),
    ),
    "deadline.overdue": (_("Overdue: {number}"), _("Case {number} “{matter}” is overdue ({clock} deadline {due}).")),
    "deadline.escalated": (
        _("Escalated: {number}"),
        _("Case {number} “{matter}” is still overdue ({clock} deadline {due}); escalated to the {level}."),
    ),
}


class _Values(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, values: dict[str, object]) -> str:
    """Fill ``{placeholders}``; an unknown one is left visible rather than failing the message."""
    return template.format_map(_Values(values))
