"""The keyring of field encryption: AES-256-GCM for personal data at rest, HMAC-SHA256 for exact search.

The environment names the keys (``FIELD_ENCRYPTION_KEYS``): ``id:base64,id:base64,...``, each a
random 32-byte master key, the **first** the current one. New values are sealed under the
current key; any key of the ring opens what it sealed, so a rotation puts a new key first, keeps
the old ones until ``manage.py personal_data_rekey`` has re-sealed every row, then drops them.

From each master key two keys are derived (HKDF-SHA256, separate ``info``): one encrypts, one
makes the keyed hashes of the search columns ("blind index"). A sealed value is
``<key id>$<base64url(nonce | ciphertext | tag)>``; the purpose (table and column) is the
associated data, so a value copied into another column does not open.

Nothing here reads Django settings: ``banchengshi.personal_data`` binds a ring to them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.exceptions import ImproperlyConfigured

KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
NONCE_BYTES = 12
SEPARATOR = "$"
# Index hashes keep 128 bits: ample for exact matches, and shorter index entries.
INDEX_HEX_CHARS = 32
_ENCRYPTION_INFO = b"banchengshi/field-encryption/aes-256-gcm/v1"
_INDEX_INFO = b"banchengshi/blind-index/hmac-sha256/v1"

# Values opened lately, by sealed text and purpose: a work queue read again and again opens the same
# fifty phone numbers each time (about an eighth of the page's CPU). The process holds the keys that
# open them anyway; the cache goes with its ring when the keys change.
OPENED_CACHE_SIZE = 4096

# The key of test runs and developers' machines (settings/local.py, settings/test.py). It is
# public, so production refuses it (settings/production.py).
DEVELOPMENT_KEYS = "dev:ZGV2ZWxvcG1lbnQtb25seS1maWVsZC1rZXktMzJieXQ="


class SealError(Exception):
    """A sealed value that does not open: unknown key id, wrong purpose, or altered bytes.

    The message names the key id and purpose only, never the value.
    """


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


@dataclass(frozen=True)
class _Key:
    key_id: str
    aead: AESGCM = field(repr=False)
    index_key: bytes = field(repr=False)


class Keyring:
    """The parsed ``FIELD_ENCRYPTION_KEYS``: the current key first, older keys for opening only."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS names no key.")
        self._keys: dict[str, _Key] = {}
        for key_id, master in keys:
            if key_id in self._keys:
                raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS names the key id {key_id!r} twice.")
            self._keys[key_id] = _Key(key_id, AESGCM(_derive(master, _ENCRYPTION_INFO)), _derive(master, _INDEX_INFO))
        self.current_id = keys[0][0]
        self._current = self._keys[self.current_id]
        self._opened = lru_cache(maxsize=OPENED_CACHE_SIZE)(self._open)

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def seal(self, plaintext: str, *, purpose: str) -> str:
        """Encrypt under the current key; the empty string stays empty (nothing to hide)."""
        if plaintext == "":
            return ""
        nonce = os.urandom(NONCE_BYTES)
        body = self._current.aead.encrypt(nonce, plaintext.encode(), purpose.encode())
        return f"{self.current_id}{SEPARATOR}{base64.urlsafe_b64encode(nonce + body).rstrip(b'=').decode()}"

    def unseal(self, sealed: str, *, purpose: str) -> str:
        if sealed == "":
            return ""
        return self._opened(sealed, purpose)  # a value that does not open raises, and is not kept

    def _open(self, sealed: str, purpose: str) -> str:
        key_id, separator, text = sealed.partition(SEPARATOR)
        key = self._keys.get(key_id)
        if not separator or key is None:
            raise SealError(f"no key {key_id[:16]!r} in FIELD_ENCRYPTION_KEYS to open a value of {purpose}")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            return key.aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode()).decode()
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise SealError(f"a value of {purpose} sealed under key {key_id!r} does not open") from exc

    def blind_index(self, value: str, *, purpose: str, key_id: str | None = None) -> str:
        """The keyed hash stored beside a sealed value for exact search (empty for an empty value)."""
        if value == "":
            return ""
        key = self._keys[key_id or self.current_id]
        digest = hmac.new(key.index_key, purpose.encode() + b"\0" + value.encode(), hashlib.sha256)
        return digest.hexdigest()[:INDEX_HEX_CHARS]

    def blind_indexes(self, value: str, *, purpose: str) -> list[str]:
        """The hashes of ``value`` under every key: rows not yet re-sealed after a rotation match too."""
        return [self.blind_index(value, purpose=purpose, key_id=key_id) for key_id in self._keys]


def is_sealed(value: str) -> bool:
    """Whether ``value`` has the shape of a sealed value (plaintext phones, codes and names never do)."""
    key_id, separator, text = value.partition(SEPARATOR)
    return bool(separator and text) and KEY_ID_RE.match(key_id) is not None


def sealed_key_id(value: str) -> str:
    return value.partition(SEPARATOR)[0] if is_sealed(value) else ""


def keyring_parse(text: str) -> Keyring:
    """``id:base64,id:base64`` → a Keyring; every mistake is refused with the setting's name."""
    keys: list[tuple[str, bytes]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key_id, colon, encoded = item.partition(":")
        if not colon or not KEY_ID_RE.match(key_id):
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEYS is a comma-separated list of id:base64 (ids of letters, digits, '-', '_')."
            )
        try:
            # Standard or URL-safe alphabet, padding optional.
            padded = encoded.replace("-", "+").replace("_", "/") + "=" * (-len(encoded) % 4)
            master = base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS: the key {key_id!r} is not base64.") from exc
        if len(master) != 32:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS: the key {key_id!r} must be 32 random bytes (openssl rand -base64 32)."
            )
        keys.append((key_id, master))
    return Keyring(keys)


def key_generate(key_id: str) -> str:
    """A new ``id:base64`` entry for FIELD_ENCRYPTION_KEYS."""
    if not KEY_ID_RE.match(key_id):
        raise ValueError("key ids are 1-16 letters, digits, '-' or '_'")
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"
