"""Who may call which interop endpoint: every route is in the matrix, by role, by key, and across counties."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern
from django_tenants.utils import tenant_context
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from casework.interop import urls
from casework.interop.models import Rectification
from casework.interop.tests.conftest import client_api, host, issue, replied_case, signed_post, supervisor
from casework.models import Department, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory

pytestmark = pytest.mark.django_db

# name: (method, who may: a set of roles, "client" for an API key route, or "public")
ROUTES: dict[str, tuple[str, Any]] = {
    "open311-services": ("get", "public"),
    "open311-service-definition": ("get", "public"),
    "open311-requests": ("get", "public"),
    "open311-request": ("get", "public"),
    "interop-work-order-import": ("post", "client"),
    "interop-work-order-detail": ("get", "client"),
    "interop-rating-callback": ("post", "signed"),
    "interop-rectification-list": ("get", set(StaffRole.values)),
    "interop-rectification-detail": ("get", set(StaffRole.values)),
    "interop-rectification-called-back": ("post", {StaffRole.WINDOW_CLERK, StaffRole.SUPERVISOR}),
    "interop-rectification-rectified": ("post", {StaffRole.WINDOW_CLERK, StaffRole.SUPERVISOR}),
    "interop-client-list": ("get", {StaffRole.COUNTY_ADMIN}),
    "interop-client-create": ("post", {StaffRole.COUNTY_ADMIN}),
    "interop-client-deactivate": ("post", {StaffRole.COUNTY_ADMIN}),
    "interop-settings": ("put", {StaffRole.COUNTY_ADMIN}),
    # Staff pages (sessions, not tokens): role by role in test_views.py.
    "rectification-page": ("get", "page"),
    "rectification-detail-page": ("get", "page"),
    "rectification-step": ("post", "page"),
}
STAFF_ROUTES = [name for name, (_m, who) in ROUTES.items() if isinstance(who, set)]
ROLES = [(role, "") for role in StaffRole.values if role != StaffRole.DEPARTMENT_HANDLER] + [
    (StaffRole.DEPARTMENT_HANDLER, "scjgj"),
    (StaffRole.DEPARTMENT_HANDLER, "tcj"),
]


def test_every_route_is_in_the_matrix():
    assert {p.name for p in urls.urlpatterns if isinstance(p, URLPattern)} == set(ROUTES)


def staff(county, role: str, department: str = "") -> APIClient:
    with tenant_context(county):
        user: Any = UserFactory(username=f"perm-{role}-{department or 'all'}")
        StaffProfileFactory(
            user=user, role=role, department=Department.objects.get(code=department) if department else None
        )
        token = Token.objects.create(user=user).key
    api = APIClient(HTTP_HOST=host(county))
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def world(county) -> dict[str, Any]:
    """A 差评 loop on a case handled by the market bureau (scjgj), and a client application."""
    case = replied_case(county, supervisor(county, f"world-{county.slug}"))
    hcp = issue(county, "ratings", source="hcp")
    loop_id = signed_post(county, hcp, {"rating_id": "W-1", "case_number": case.number, "level": 1}).json()[
        "rectification"
    ]["id"]
    return {"rectification_id": loop_id, "client_id": str(hcp.client.pk)}


def path(name: str, ids: dict[str, Any]) -> str:
    return {
        "interop-rectification-list": "/interop/v1/rectifications/",
        "interop-rectification-detail": f"/interop/v1/rectifications/{ids['rectification_id']}/",
        "interop-rectification-called-back": f"/interop/v1/rectifications/{ids['rectification_id']}/called-back/",
        "interop-rectification-rectified": f"/interop/v1/rectifications/{ids['rectification_id']}/rectified/",
        "interop-client-list": "/interop/v1/clients/",
        "interop-client-create": "/interop/v1/clients/create/",
        "interop-client-deactivate": f"/interop/v1/clients/{ids['client_id']}/deactivate/",
        "interop-settings": "/interop/v1/settings/",
    }[name]


BODIES = {
    "interop-rectification-called-back": {"version": 1, "note": "已电话回访"},
    "interop-rectification-rectified": {"version": 1, "note": "已整改"},
    "interop-client-create": {"name": "好差评系统", "source_system": "hcp2", "scopes": ["ratings"]},
    "interop-settings": {"rectification_working_days": 10},
}


def call(api: APIClient, name: str, ids: dict[str, Any]) -> Any:
    method = ROUTES[name][0]
    return getattr(api, method)(path(name, ids), BODIES.get(name, {}), format="json")


@pytest.mark.parametrize("role,department", ROLES)
def test_staff_routes_by_role(county_a, role, department):
    ids = world(county_a)
    api = staff(county_a, role, department)
    for name in STAFF_ROUTES:
        with tenant_context(county_a):
            Rectification.objects.filter(pk=ids["rectification_id"]).update(version=1, status="open")
        response = call(api, name, ids)
        allowed = role in ROUTES[name][1]
        if department == "tcj" and name.startswith("interop-rectification-") and name != "interop-rectification-list":
            expected = {404}  # a department not on the case does not see its loop at all
        else:
            expected = {200, 201} if allowed else {403}
        assert response.status_code in expected, (name, role, department, response.content)
        if response.status_code == 403:
            assert response.json()["error"]["code"] in {"interop.not_allowed", "permission_denied"}
            assert "管理员" in response.json()["error"]["message"] or "角色" in response.json()["error"]["message"]


def test_anonymous_staff_routes_are_401(county_a):
    anonymous_ids = {"rectification_id": "x", "client_id": "x"}
    for name in STAFF_ROUTES:
        response = call(APIClient(HTTP_HOST=host(county_a)), name, anonymous_ids)
        assert response.status_code == 401, name


def test_another_countys_ids_are_404(county_a, county_b):
    other = world(county_b)
    admin = staff(county_a, StaffRole.COUNTY_ADMIN)
    boss = staff(county_a, StaffRole.SUPERVISOR)
    for name in [n for n in STAFF_ROUTES if n.startswith("interop-rectification-") and not n.endswith("-list")]:
        assert call(boss, name, other).status_code == 404, name
    assert call(admin, "interop-client-deactivate", other).status_code == 404
    not_a_uuid = {"rectification_id": "not-a-uuid", "client_id": "x"}
    assert call(admin, "interop-rectification-detail", not_a_uuid).status_code == 404


def test_client_routes_need_this_countys_key_with_the_scope(county_a, county_b):
    mine = issue(county_a, "intake")
    theirs = issue(county_b, "intake")
    ratings_only = issue(county_a, "ratings", source="hcp")
    body = {"orders": []}
    assert client_api(county_a).post("/interop/v1/work-orders/", body, format="json").status_code == 401
    foreign = client_api(county_a, theirs.api_key).post("/interop/v1/work-orders/", body, format="json")
    assert foreign.status_code == 401 and foreign.json()["error"]["code"] == "interop.not_authenticated"
    assert "API 密钥" in foreign.json()["error"]["message"]
    scope = client_api(county_a, ratings_only.api_key).post("/interop/v1/work-orders/", body, format="json")
    assert scope.status_code == 403 and scope.json()["error"]["code"] == "interop.not_allowed"
    assert client_api(county_a, mine.api_key).post("/interop/v1/work-orders/", body, format="json").status_code == 200
    # A work order of another county, or of another system of this county, is not found.
    order = {"external_id": "P-1", "matter": "x", "description": "x", "citizen_name": "周先生",
             "citizen_phone": "13800007777", "kind": "case"}  # fmt: skip
    client_api(county_b, theirs.api_key).post("/interop/v1/work-orders/", {"orders": [order]}, format="json")
    assert client_api(county_a, mine.api_key).get("/interop/v1/work-orders/P-1/").status_code == 404
    other_system = issue(county_b, "intake", source="other")
    assert client_api(county_b, other_system.api_key).get("/interop/v1/work-orders/P-1/").status_code == 404
    assert client_api(county_b, theirs.api_key).get("/interop/v1/work-orders/P-1/").status_code == 200
    # A revoked key stops at once.
    admin = staff(county_a, StaffRole.COUNTY_ADMIN)
    assert admin.post(f"/interop/v1/clients/{mine.client.pk}/deactivate/").status_code == 200
    assert client_api(county_a, mine.api_key).post("/interop/v1/work-orders/", body, format="json").status_code == 401
