"""The one scrubber of personal data for logs and error reports.

Citizens' phone numbers, names and ID numbers must never leave the database through a log line
or a Sentry event. Two nets: values of fields known to be personal are replaced whatever they
hold, and free text (messages, exception values, SQL parameters) is searched for the shapes of
Chinese mobile and landline numbers, 18-digit resident ID numbers and email addresses.
The patterns err on the side of scrubbing: a 12-digit number starting with 0 inside an id may
be masked too, which costs some debugging comfort and never a citizen's privacy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

# Field names whose values are personal or secret, compared case-insensitively.
PERSONAL_FIELDS = frozenset(
    {
        "citizen_phone",
        "citizen_name",
        "citizen_id_number",
        "citizen_address",
        "company_contact",
        "contact_phone",
        "phone",
        "phone_last4",
        "mobile",
        "telephone",
        "id_number",
        "id_card",
        "email",
        "recipient",
        "address",
        "password",
        "secret",
        "token",
        "api_key",
        "authorization",
        "cookie",
        "sessionid",
        "csrftoken",
        "sms_secret",
        "secret_key",
    }
)

_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Resident ID: 6-digit region, birth date 18xx-20xx, 3-digit sequence, check digit or X.
    (
        re.compile(
            _NOT_ALNUM_BEFORE
            + r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
            + _NOT_ALNUM_AFTER
        ),
        "[id-number]",
    ),
    # Mobile: 1[3-9] and nine digits, optionally +86 / 86 in front and spaces or dashes in 3-4-4.
    (
        re.compile(_NOT_ALNUM_BEFORE + r"(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}" + _NOT_ALNUM_AFTER),
        "[phone]",
    ),
    # Landline: area code 0xx / 0xxx, optional dash or space, 7-8 digits, optional extension.
    (
        re.compile(_NOT_ALNUM_BEFORE + r"0\d{2,3}[\s-]?\d{7,8}(?:-\d{1,5})?" + _NOT_ALNUM_AFTER),
        "[phone]",
    ),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
)


def scrub_text(text: str) -> str:
    """The text with every phone number, ID number and email address replaced by a marker."""
    for pattern, marker in _PATTERNS:
        text = pattern.sub(marker, text)
    return text


def is_personal_field(name: object) -> bool:
    return isinstance(name, str) and name.lower() in PERSONAL_FIELDS


def scrub_data(value: Any, *, _depth: int = 0) -> Any:
    """A copy of ``value`` with personal fields blanked and personal shapes masked in every string.

    Mappings, lists and tuples are walked (to a sane depth); other objects are left alone, as
    Sentry and the log formatter turn them into text later, after the text pass below would run.
    """
    if _depth > 20:
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if is_personal_field(key) and item not in (None, "") else scrub_data(item, _depth=_depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        items = [scrub_data(item, _depth=_depth + 1) for item in value]
        return items if isinstance(value, list) else tuple(items)
    return value
