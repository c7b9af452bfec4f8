from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django_tenants.utils import tenant_context
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from casework.models import Department
from casework.tests.factories import StaffProfileFactory, UserFactory
from tenants.models import County


class CountyApi:
    """An API client for one county's host, signed in with a real token."""

    def __init__(self, county: County, token: str | None) -> None:
        self.county = county
        self.client = APIClient(HTTP_HOST=f"{county.slug}.{settings.COUNTY_DOMAIN_SUFFIX}")
        if token:
            self.client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    def get(self, path: str, data: dict[str, Any] | None = None) -> Any:
        return self.client.get(f"/api/v1/{path}", data or {})

    def post(self, path: str, data: dict[str, Any] | None = None) -> Any:
        return self.client.post(f"/api/v1/{path}", data or {}, format="json")


@pytest.fixture
def staff_api(db: None) -> Callable[..., CountyApi]:
    """``staff_api(county, role, department="scjgj")``: a signed-in client with that casework role."""
    made: dict[tuple[str, str, str], CountyApi] = {}

    def make(county: County, role: str | None, department: str = "", username: str = "") -> CountyApi:
        key = (county.schema_name, role or "", department + username)
        if key in made:
            return made[key]
        if role is None:
            api = CountyApi(county, None)
        else:
            with tenant_context(county):
                user: Any = UserFactory(username=username or f"{role}-{department or 'all'}")
                dept = Department.objects.get(code=department) if department else None
                StaffProfileFactory(user=user, role=role, department=dept)
                token = Token.objects.create(user=user).key
            api = CountyApi(county, token)
        made[key] = api
        return api

    return make


@pytest.fixture
def anonymous_api(db: None) -> Callable[[County], CountyApi]:
    return lambda county: CountyApi(county, None)
