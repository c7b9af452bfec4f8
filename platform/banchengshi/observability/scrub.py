"""The one scrubber of personal data for logs and error reports.

Citizens' phone numbers, names and ID numbers must never leave the database through a log line
or a Sentry event. Two nets: values of fields known to be personal are replaced whatever they
hold, and free text (messages, exception values, SQL parameters) is searched for the shapes of
Chinese mobile and landline numbers, resident ID numbers (18 and 15 digits) and email addresses
(in any script: 张三@例子.中国).
The patterns err on the side of scrubbing: a 12-digit number starting with 0 inside an id may
be masked too, which costs some debugging comfort and never a citizen's privacy.

Every log line goes through ``scrub_text``, so each pattern takes time linear in the line's
length, whatever the line holds: no pattern may backtrack over a run of characters it already
read (tests/test_scrub.py times the shapes that would).
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
# Resident ID numbers stand apart from other digits and letters: a match must not continue a
# longer run of them (nor the 15-digit form the first 15 digits of an 18-digit one). That is what
# leaves timestamps in µs or ns (16 and 19 digits), order numbers and trace ids alone.
_ID_DATE_YY = r"\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"

# An e-mail address in any script (RFC 6531 mailbox names, internationalised domain names), as
# typed and as logged. A mailbox name is letters and digits of any script (\w: 张三, 김철수, zhang)
# and . _ + -, or bytes percent-encoded by a browser (%E5%BC%A0); the @ may be encoded (%40) too.
# Chinese text has no spaces: the name is the whole run of such characters before the @, so
# "联系张三@例子.中国" loses "联系" with the address (more scrubbed, never less). The domain is labels
# of such characters separated by dots, the ideographic ones included (例子。中国: IDNA reads 。 and
# ｡ as dots, and a Chinese input method types 。 for .); at least one label after a dot must begin
# with two letters (com, 中国, 公司), which leaves "celery@worker-1" and "pool@127.0.0.1" alone.
#
# Linear time: a match may begin only where a run of mailbox characters begins (after a character
# that cannot be in a mailbox name, a bare %, or an encoded @), so each run is read once; every
# repetition is possessive (++, *+: never given back); the one lazy repetition of domain labels
# tries the two-letter label once at each dot.

# A percent-encoded byte other than the encoded @: an encoded @ ends a mailbox name and a domain
# as a plain @ does (otherwise "a%40a%40a…" would have every name read the rest of the line).
_HEX = r"%(?!40)[0-9A-Fa-f]{2}"
_MAILBOX_CHAR = rf"(?:[\w.+-]|{_HEX})"
_MAILBOX_START = r"(?>(?<![\w.+%-])|(?<=%)(?![0-9A-Fa-f]{2})|(?<=%40))"
_LABEL = rf"(?:[\w-]|{_HEX})++"
_LABEL_DOT = r"[.\u3002\uff61]"  # . 。 ｡ (the full-width ． is read as . before)
_EMAIL = (
    _MAILBOX_START
    + rf"{_MAILBOX_CHAR}++(?:@|%40)"
    + rf"{_LABEL}(?:{_LABEL_DOT}{_LABEL})*?"
    + rf"{_LABEL_DOT}(?:[^\W\d_]|{_HEX}){{2}}(?:[\w-]|{_HEX})*+(?:{_LABEL_DOT}{_LABEL})*+"
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Resident ID: 6-digit region, birth date 18xx-20xx, 3-digit sequence, check digit or X;
    # forms and letters often group it 6-8-4 with spaces or dashes.
    (
        re.compile(
            _NOT_ALNUM_BEFORE
            + r"[1-9]\d{5}"
            + _SEP
            + r"(?:18|19|20)"
            + _ID_DATE_YY
            + _SEP
            + r"\d{3}[\dXx]"
            + _NOT_ALNUM_AFTER
        ),
        "[id-number]",
    ),
    # First-generation resident ID (issued until 2004, still quoted by older citizens and in old
    # files): 6-digit region, birth date YYMMDD, 3-digit sequence, no check digit; grouped 6-6-3
    # or not. A stand-alone 15-digit number whose middle is a date is masked even when it was an
    # order number: a masked number costs a log reader less than a citizen's ID costs its owner.
    (
        re.compile(_NOT_ALNUM_BEFORE + r"[1-9]\d{5}" + _SEP + _ID_DATE_YY + _SEP + r"\d{3}" + _NOT_ALNUM_AFTER),
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
    (re.compile(_EMAIL), "[email]"),
)

# Chinese input methods type full-width digits and signs (１３８…, （０７７２）, ＠, ．, the check
# digit Ｘ): read them as the ASCII ones, or every pattern above misses them. ﹫ is a small @.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９＋－（）＠﹫．Ｘｘ\u3000", "0123456789+-()@@.Xx ")


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
