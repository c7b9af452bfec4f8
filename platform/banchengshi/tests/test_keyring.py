"""The keyring alone: AES-256-GCM sealing, keyed search hashes, rotation, and refused configurations."""

from __future__ import annotations

import base64

import pytest
from django.core.exceptions import ImproperlyConfigured

from banchengshi.keyring import DEVELOPMENT_KEYS, SealError, is_sealed, key_generate, keyring_parse, sealed_key_id

OLD = key_generate("k1")
NEW = key_generate("k2")
PHONE = "13812345678"


def test_a_sealed_value_is_ciphertext_that_opens_only_for_its_purpose():
    ring = keyring_parse(OLD)
    sealed = ring.seal(PHONE, purpose="casework.case.citizen_phone")
    assert PHONE not in sealed and is_sealed(sealed) and sealed_key_id(sealed) == "k1"
    assert ring.unseal(sealed, purpose="casework.case.citizen_phone") == PHONE
    # Copied into another column, it does not open (the purpose is the associated data).
    with pytest.raises(SealError):
        ring.unseal(sealed, purpose="accounts.totpdevice.secret")


def test_sealing_twice_gives_different_ciphertexts():
    ring = keyring_parse(OLD)
    assert ring.seal(PHONE, purpose="p") != ring.seal(PHONE, purpose="p")


def test_an_altered_value_does_not_open():
    ring = keyring_parse(OLD)
    sealed = ring.seal(PHONE, purpose="p")
    body = bytearray(base64.urlsafe_b64decode(sealed.split("$")[1] + "=="))
    body[-1] ^= 1
    altered = "k1$" + base64.urlsafe_b64encode(bytes(body)).rstrip(b"=").decode()
    with pytest.raises(SealError):
        ring.unseal(altered, purpose="p")


def test_another_deployments_key_does_not_open_a_value_and_the_error_names_no_plaintext():
    sealed = keyring_parse(OLD).seal(PHONE, purpose="p")
    with pytest.raises(SealError) as refused:
        keyring_parse(key_generate("k1")).unseal(sealed, purpose="p")  # same id, other key
    assert PHONE not in str(refused.value)
    with pytest.raises(SealError):
        keyring_parse(NEW).unseal(sealed, purpose="p")  # unknown id


def test_after_a_rotation_new_values_use_the_new_key_and_old_ones_still_open():
    old_ring = keyring_parse(OLD)
    sealed_before = old_ring.seal(PHONE, purpose="p")
    ring = keyring_parse(f"{NEW},{OLD}")
    assert ring.current_id == "k2" and ring.key_ids == ["k2", "k1"]
    assert sealed_key_id(ring.seal(PHONE, purpose="p")) == "k2"
    assert ring.unseal(sealed_before, purpose="p") == PHONE
    # Search hashes: one per key, so a row not yet re-sealed is still found.
    assert old_ring.blind_index(PHONE, purpose="p") in ring.blind_indexes(PHONE, purpose="p")
    assert ring.blind_index(PHONE, purpose="p") == ring.blind_indexes(PHONE, purpose="p")[0]


def test_search_hashes_are_keyed_and_per_purpose():
    ring = keyring_parse(OLD)
    index = ring.blind_index(PHONE, purpose="p")
    assert len(index) == 32 and PHONE not in index
    assert index == ring.blind_index(PHONE, purpose="p")
    assert index != ring.blind_index(PHONE, purpose="q")
    assert index != keyring_parse(key_generate("k1")).blind_index(PHONE, purpose="p")


def test_empty_values_stay_empty():
    ring = keyring_parse(OLD)
    assert ring.seal("", purpose="p") == "" and ring.unseal("", purpose="p") == ""
    assert ring.blind_index("", purpose="p") == ""


@pytest.mark.parametrize(
    "spec",
    ["", "k1", "k1:short", "bad id:" + OLD.split(":")[1], f"{OLD},{OLD}", "k1:!!!notbase64!!!"],
)
def test_mistakes_in_the_keys_are_refused_with_the_settings_name(spec):
    with pytest.raises(ImproperlyConfigured) as refused:
        keyring_parse(spec)
    assert "FIELD_ENCRYPTION_KEYS" in str(refused.value)


def test_the_development_key_parses_and_url_safe_base64_is_accepted():
    assert keyring_parse(DEVELOPMENT_KEYS).current_id == "dev"
    raw = base64.urlsafe_b64encode(b"\xfb" * 32).decode().rstrip("=")
    assert keyring_parse(f"u1:{raw}").current_id == "u1"


def test_a_value_opened_before_is_kept_for_its_purpose_only_and_a_refusal_is_not_kept():
    ring = keyring_parse(OLD)
    sealed = ring.seal(PHONE, purpose="p")
    assert ring.unseal(sealed, purpose="p") == ring.unseal(sealed, purpose="p") == PHONE
    for _ in range(2):  # opened and kept for "p", still refused for another purpose
        with pytest.raises(SealError):
            ring.unseal(sealed, purpose="q")
    # A ring without that key (a rotation that dropped it) has nothing kept from the old one.
    with pytest.raises(SealError):
        keyring_parse(NEW).unseal(sealed, purpose="p")
