"""The client's address behind our own proxies, and limits that key on it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from banchengshi.ratelimit import client_address

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
