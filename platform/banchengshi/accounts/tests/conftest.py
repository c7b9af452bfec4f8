from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from casework.models import StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from conftest import host_of

PASSWORD = "S3cure-pass!"
_addresses = itertools.count(1)


@pytest.fixture
def two_factor_on(settings: Any) -> None:
    settings.ACCOUNTS_TWO_FACTOR_ENFORCED = True


@pytest.fixture
def staff(county_a: Any) -> Any:
    """``staff(role, username)``: a county_a account with that casework role."""

    def make(role: str = StaffRole.WINDOW_CLERK, username: str = "") -> Any:
        with tenant_context(county_a):
            user = UserFactory(username=username or f"acc-{role}-{next(_addresses)}")
            StaffProfileFactory(user=user, role=role)
        return user

    return make


@pytest.fixture
def browser_for(clean_cache: None) -> Any:
    """A client on a county's host from its own source address, so lockouts of one test stay its own."""

    def make(county: Any, address: str = "") -> Client:
        return Client(HTTP_HOST=host_of(county), REMOTE_ADDR=address or f"10.9.{next(_addresses) % 250}.1")

    return make
