"""The log scrubber masks phone and ID numbers in the shapes people actually write them."""

from __future__ import annotations

import time

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


# --- resident ID numbers: both generations -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        # First generation (issued until 2004, some still quoted): region, YYMMDD, 3-digit sequence.
        ("身份证 450202900101123 已核验", "900101"),
        ("身份证号450202900101123。", "900101"),
        ("old ID 450202 900101 123", "900101"),
        ("old ID 450202-900101-123", "900101"),
        ("身份证４５０２０２９００１０１１２３", "９００１０１"),
        # Second generation with the check digit written as a lowercase x, or a full-width Ｘ/ｘ.
        ("ID 11010119900307123x here", "19900307"),
        ("身份证11010119900307123x号", "19900307"),
        ("身份证４５０２０２１９９００１０１１２３Ｘ", "１９９００１０１"),
        ("身份证 450202 19900101 123ｘ", "19900101"),
    ],
)
def test_resident_id_numbers_of_both_generations_are_masked(text, secret):
    scrubbed = scrub_text(text)
    assert "[id-number]" in scrubbed
    typed = secret.translate(str.maketrans("０１２３４５６７８９", "0123456789"))  # the scrubber reads ASCII digits
    assert secret not in scrubbed and typed not in scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "case CZ-2026-000123",
        # 15 digits inside longer runs of digits or letters are timestamps and order numbers, never
        # an ID number: an ID stands apart from other digits and letters.
        "at 1732000000000123 µs",  # 16 digits
        "order 2026030712010150",  # 16 digits
        "order 450202900101123456789",  # 21 digits
        "trace a450202900101123",
        "trace 450202900101123b",
        # 15 digits whose middle is no date (month 13, day 32) are not one either.
        "order 202603071234567",
        "order 450202901301123",
        "order 450202900132123",
        # A 15-digit number starting with 0 (no region code does).
        "ref 045020290010112",
    ],
)
def test_numbers_that_are_no_id_number_are_left_alone(text):
    assert scrub_text(text) == text


def test_a_stand_alone_15_digit_number_with_a_date_in_its_middle_is_masked_whatever_it_was():
    # The boundary chosen: an order number of exactly 15 digits whose digits 7-12 read as a date
    # cannot be told from a first-generation ID, and is masked (see scrub.py).
    assert scrub_text("order 202603071201015 paid") == "order [id-number] paid"


# --- e-mail addresses in Chinese script --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secrets"),
    [
        ("邮箱：张三＠例子.中国", ["张三", "例子"]),
        ("邮箱：张三@例子.公司", ["张三", "例子"]),
        ("邮箱：zhangsan@例子.中国", ["zhangsan", "例子"]),
        ("邮箱：张三@qq.com", ["张三", "qq.com"]),
        ("邮箱：张三＠例子．中国 请回复", ["张三", "例子"]),  # full-width full stop
        ("邮箱：zhang@qq。com", ["zhang", "qq"]),  # the IME's 。 where a dot was meant
        ("邮箱：张三﹫例子.中国", ["张三", "例子"]),  # the small commercial at
        ("이메일: 김철수@예시.한국", ["김철수", "예시"]),  # 延边: Korean script
        ("mail zhang.san@example.cn.", ["zhang.san", "example"]),
        ("mail zhang@mail.qq.com, thanks", ["zhang", "mail.qq"]),
        # A browser percent-encodes a non-ASCII address in a query string, which logs keep so.
        ("GET /track?email=%E5%BC%A0%E4%B8%89%40%E4%BE%8B%E5%AD%90.%E4%B8%AD%E5%9B%BD", ["%E5%BC%A0", "%E4%BE%8B"]),
        ("GET /track?email=x%40zhang@qq.com", ["zhang"]),
    ],
)
def test_email_addresses_in_chinese_script_are_masked(text, secrets):
    scrubbed = scrub_text(text)
    assert "[email]" in scrubbed
    for secret in secrets:
        assert secret not in scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "celery@worker-1 ready",  # a worker's name: no domain
        "redis://127.0.0.1:6379/7",
        "pool@127.0.0.1:5432",  # numbers only after the @: an address, not a mailbox
        "@张三 请处理",  # a mention: no mailbox name before the @
        "张三@三楼会议室",  # "at": no dot after the @
    ],
)
def test_an_at_sign_that_is_no_email_address_is_left_alone(text):
    assert scrub_text(text) == text


# --- linear time ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("1" * 200_000, id="digits"),  # a long number
        pytest.param("a" * 200_000, id="letters"),  # a hex or base64 blob
        pytest.param("张" * 200_000, id="chinese"),  # Chinese text has no spaces
        pytest.param("1-" * 100_000, id="dashes"),
        pytest.param("a." * 100_000, id="dots"),
        pytest.param("a@" * 100_000, id="ats"),
        pytest.param("a@b" * 70_000, id="mailboxes"),
        pytest.param("a@b." * 50_000, id="domains"),
        pytest.param("a@b。" * 50_000, id="ideographic-stops"),
        pytest.param("%40" * 70_000, id="encoded-ats"),
        pytest.param("a%40" * 50_000, id="encoded-mailboxes"),
        pytest.param("a@" + "b." * 100_000 + "1", id="labels"),
        pytest.param("+86 " * 50_000, id="country-codes"),
        pytest.param("(0" * 100_000, id="area-codes"),
    ],
)
def test_the_scrubber_takes_linear_time_on_any_line(text):
    # Every log line goes through the scrubber: a pattern that backtracks over a long run of word
    # characters would take minutes on a 200,000-character line (a blob, a long SQL parameter),
    # and a linear one takes milliseconds. The bound is wide so that a slow machine passes too.
    started = time.perf_counter()
    scrub_text(text)
    assert time.perf_counter() - started < 1.0
