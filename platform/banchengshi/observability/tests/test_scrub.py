"""The log scrubber masks phone and ID numbers in the shapes people actually write them."""

from __future__ import annotations

import pytest

from banchengshi.observability.scrub import scrub_text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("手机１３８００１３８０００", "８０００"),  # typed with a Chinese input method: full-width digits
        ("call 008613800138000", "13800138000"),
        ("call (+86)138 0013 8000", "0013"),
        ("call 1380 013 8000", "013 8000"),
        ("座机(0772)2812345", "2812345"),
        ("座机（０７７２）２８１２３４５", "２８１２３４５"),
        ("tel 0772 281 2345", "281 2345"),
        ("from abroad +86 772 2812345", "2812345"),
        ("from abroad +86-10-12345678", "12345678"),
        ("from abroad +86 (0)10 1234 5678", "1234 5678"),
        ("身份证 450202 19900101 123X", "19900101"),
        ("身份证 450202-19900101-1234", "19900101"),
        ("GET /track?email=zhang.san%40qq.com", "zhang.san"),
        ("邮箱 zhang＠qq.com", "zhang"),
    ],
)
def test_phone_and_id_numbers_in_every_usual_shape_are_masked(text, secret):
    assert secret not in scrub_text(text)


@pytest.mark.parametrize(
    "text",
    ["case CZ-2026-000123", "2026-03-07 14:30:00", "took 1234567 ms", "at 1732000000000 ms", "order 20260307123456"],
)
def test_ordinary_numbers_are_still_left_alone(text):
    assert scrub_text(text) == text
