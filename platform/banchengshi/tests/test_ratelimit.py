"""The client's address behind our own proxies, and limits that key on it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from banchengshi.ratelimit import AddressRateThrottle, allow, client_address, exceeded

INGRESS = "10.42.3.7"


def _request(peer: str, forwarded: str | None = None):
    extra: dict[str, Any] = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_with_no_trusted_proxy_the_header_is_never_read(settings):
    settings.TRUSTED_PROXIES = []
    assert client_address(_request("198.51.100.4", "203.0.113.9")) == "198.51.100.4"


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("203.0.113.9", "203.0.113.9"),  # the ingress appended the citizen's address
        ("1.2.3.4, 203.0.113.9", "203.0.113.9"),  # what the client wrote itself sits to the left
        ("203.0.113.9, 10.42.0.5", "203.0.113.9"),  # two of our proxies in a row
        ("2001:db8::1", "2001:db8::1"),
        ("not-an-address", "not-an-address"),  # the chain of our proxies ends there
        ("", INGRESS),
        (None, INGRESS),
    ],
)
def test_behind_a_trusted_proxy_the_last_address_it_did_not_add_is_the_client(settings, forwarded, client):
    settings.TRUSTED_PROXIES = ["10.42.0.0/16"]
    assert client_address(_request(INGRESS, forwarded)) == client


def test_a_peer_that_is_not_our_proxy_cannot_choose_its_address(settings):
    settings.TRUSTED_PROXIES = ["10.42.0.0/16"]
    assert client_address(_request("198.51.100.4", "203.0.113.9")) == "198.51.100.4"


def test_an_ipv6_client_cannot_leave_its_limit_behind_by_taking_another_address_of_its_network(clean_cache):
    # One subscriber gets a whole /64 (2^64 addresses): counting each address alone is no limit.
    answers = [allow(scope="test-v6", key=f"2001:db8:7:1::{n:x}", limit=3, window_seconds=60) for n in range(1, 6)]
    assert answers == [True, True, True, False, False]
    assert exceeded(scope="test-v6", key="2001:db8:7:1:ffff::1", limit=3)
    assert allow(scope="test-v6", key="2001:db8:7:2::1", limit=3, window_seconds=60)  # the neighbour's network


def test_the_citizen_throttle_counts_an_ipv6_network_as_one_client(settings):
    settings.TRUSTED_PROXIES = ["10.42.0.0/16"]
    throttle = type("CitizenThrottle", (AddressRateThrottle,), {"scope": "citizen"})()
    first = throttle.get_ident(_request(INGRESS, "2001:db8:7:1::1"))
    assert first == throttle.get_ident(_request("2001:db8:7:1:abcd::9"))
    assert first != throttle.get_ident(_request("2001:db8:7:2::1"))
    # An IPv4 client reaching a dual-stack listener is the same client either way.
    assert throttle.get_ident(_request("::ffff:203.0.113.9")) == throttle.get_ident(_request("203.0.113.9"))
