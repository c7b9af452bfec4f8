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
from collections.abc import Callable, Mapping
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
_SEP = r"[\s-]?"
# The country code as people write it: +86, 0086, 86, (+86), followed by a space or dash or not.
_COUNTRY = r"\(?(?:\+|00)?86\)?" + _SEP
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Resident ID: 6-digit region, birth date 18xx-20xx, 3-digit sequence, check digit or X;
    # forms and letters often group it 6-8-4 with spaces or dashes.
    (
        re.compile(
            _NOT_ALNUM_BEFORE
            + r"[1-9]\d{5}"
            + _SEP
            + r"(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
            + _SEP
            + r"\d{3}[\dXx]"
            + _NOT_ALNUM_AFTER
        ),
        "[id-number]",
    ),
    # Mobile: 1[3-9] and nine digits, the country code in front or not, grouped 3-4-4 or 4-3-4.
    (
        re.compile(
            _NOT_ALNUM_BEFORE
            + f"(?:{_COUNTRY})?"
            + r"1[3-9]\d(?:(?:[\s-]?\d{4}){2}|\d[\s-]\d{3}[\s-]?\d{4})"
            + _NOT_ALNUM_AFTER
        ),
        "[phone]",
    ),
    # Landline: area code 0xx / 0xxx, in brackets or not, then 7-8 digits (grouped 3-4 or 4-4 or
    # not), optional extension; from abroad the country code replaces the area code's 0.
    (
        re.compile(
            _NOT_ALNUM_BEFORE
            + rf"(?:\(?0\d{{2,3}}\)?|{_COUNTRY}(?:\(0\){_SEP})?\(?0?[1-9]\d{{1,2}}\)?)"
            + _SEP
            + r"\d{3,4}[\s-]?\d{4}(?:-\d{1,5})?"
            + _NOT_ALNUM_AFTER
        ),
        "[phone]",
    ),
    # "%40" is the @ of an address in a logged URL or form body.
    (re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
)

# Chinese input methods type full-width digits and signs (１３８…, （０７７２）, ＠): read them as
# the ASCII ones, or every pattern above misses them.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９＋－（）＠\u3000", "0123456789+-()@ ")


def person_text_cleaner(
    *, name: str, company: str, phone: str, then: Callable[[str], str] = lambda text: text
) -> Callable[[str], str]:
    """A cleaner of free text that replaces this person's name, company and phone with markers,
    then applies ``then`` (``scrub_text``, or a caller's own): what retention needs, since a name
    has no shape a pattern could find."""
    # A one-character "name" would blank that character everywhere; names are longer in practice.
    marks = [
        (value.strip(), mark) for value, mark in ((name, "[name]"), (company, "[company]")) if len(value.strip()) >= 2
    ]

    def clean(text: str) -> str:
        if not text:
            return text
        for value, mark in marks:
            text = text.replace(value, mark)
        if phone:
            text = text.replace(phone, "[phone]")
        return then(text)

    return clean


def scrub_text(text: str) -> str:
    """The text with every phone number, ID number and email address replaced by a marker."""
    text = text.translate(_FULL_WIDTH)
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
