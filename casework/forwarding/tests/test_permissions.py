"""Permission matrix of the forwarding API: every route × role, and another county's ids → 404.

B's staff see only the envelope of a forward; A's staff cannot reach B's case or forward at all.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django_tenants.utils import tenant_context
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from casework import services
from casework.exchange.models import ForwardAgreement
from casework.forwarding import services as forwarding_services
from casework.forwarding.models import Forward
from casework.forwarding.tests.conftest import deliver_all
from casework.forwarding.urls import api_urlpatterns
from casework.models import Department, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory

pytestmark = pytest.mark.django_db

FORWARDERS: set[str] = {StaffRole.WINDOW_CLERK, StaffRole.SUPERVISOR}
READERS: set[str] = set(StaffRole.values) - {StaffRole.DEPARTMENT_HANDLER}

# route name → (method, roles allowed, what its id refers to)
ROUTES: dict[str, tuple[str, set[str], str]] = {
    "forward-targets": ("get", READERS, ""),
    "case-forward": ("post", FORWARDERS, "case"),
    "case-forward-recall": ("post", FORWARDERS, "sent"),
    "case-forwards": ("get", READERS, "case"),
    "forward-incoming": ("get", READERS, ""),
    "forward-detail": ("get", READERS, "forward"),
    "forward-accept": ("post", FORWARDERS, "forward"),
    "forward-return": ("post", FORWARDERS, "forward"),
}


def test_every_route_is_in_the_matrix():
    assert {p.name for p in api_urlpatterns} == set(ROUTES)


def _world(county_a, county_b) -> dict[str, Any]:
    """A case of A forwarded to B and delivered; a fresh case in A to forward."""
    low, high = sorted((county_a.code, county_b.code))
    ForwardAgreement.objects.create(first_code=low, second_code=high, created_by="operator")
    with tenant_context(county_a):
        boss: Any = UserFactory(username="boss-a")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        intake = services.CaseIntake(
            matter="跨省迁移户口", description="需对方县市办理", citizen_name="朴女士", citizen_phone="13700001111",
            channel="window", kind_code="case",
        )  # fmt: skip
        sent = services.case_register(actor=boss, intake=intake)
        forwarding_services.case_forward(
            actor=boss, case_id=sent.pk, version=sent.version, mode="full_online", reason="属地管辖",
            targets=[forwarding_services.ForwardTarget(county_code=county_b.code)],
        )  # fmt: skip
        fresh = services.case_register(actor=boss, intake=intake)
    deliver_all()
    with tenant_context(county_b):
        incoming = Forward.objects.get()
    return {"case": fresh, "sent": sent, "forward": incoming, "target": county_b.code}


def _client(county, role: str | None, department: str = "") -> APIClient:
    client = APIClient(HTTP_HOST=f"{county.slug}.{settings.COUNTY_DOMAIN_SUFFIX}")
    if role is None:
        return client
    with tenant_context(county):
        user: Any = UserFactory()
        dept = Department.objects.get(code=department) if department else None
        StaffProfileFactory(user=user, role=role, department=dept)
        token = Token.objects.create(user=user).key
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _call(client: APIClient, name: str, world: dict[str, Any], ids: dict[str, Any]) -> Any:
    method, _roles, target = ROUTES[name]
    route = str(next(p for p in api_urlpatterns if p.name == name).pattern)
    case_id = ids["sent"] if target == "sent" else ids["case"]  # a recall needs a case being forwarded
    route = route.replace("<str:case_id>", str(case_id)).replace("<str:forward_id>", str(ids["forward"]))
    bodies = {
        "case-forward": {"version": 1, "mode": "full_online", "reason": "属地", "targets": [
            {"county_code": world["target"], "role": "lead"}]},
        "forward-accept": {"kind_code": "case"},
        "forward-return": {"reason": "不属本地"},
        "case-forward-recall": {"version": 2, "reason": "对方未处理"},
    }  # fmt: skip
    call = getattr(client, method)
    if method == "post":
        return call(f"/api/v1/{route}", bodies.get(name, {}), format="json")
    return call(f"/api/v1/{route}")


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_route_by_role(name, county_a, county_b):
    world = _world(county_a, county_b)
    method, allowed, target = ROUTES[name]
    # The forward lives in B, the case in A: call each route in the county that has its object.
    county = county_b if target == "forward" or name == "forward-incoming" else county_a
    ids = {"case": world["case"].pk, "sent": world["sent"].pk, "forward": world["forward"].pk}
    assert _call(_client(county, None), name, world, ids).status_code == 401
    # Roles that may not act go first: a write that succeeds changes what the next role would find.
    for role in sorted(StaffRole.values, key=lambda r: r in allowed):
        department = "scjgj" if role == StaffRole.DEPARTMENT_HANDLER else ""
        response = _call(_client(county, role, department), name, world, ids)
        if role not in allowed:
            # Refused, or (a list) shown nothing.
            assert response.status_code in {403, 404} or response.json() == [], (role, response.status_code)
            continue
        assert response.status_code in {200, 201}, (role, response.json())
        if method == "post":
            return


@pytest.mark.parametrize("name", [n for n, (_m, _r, target) in ROUTES.items() if target])
def test_another_countys_ids_do_not_exist_here(name, county_a, county_b, county_c):
    world = _world(county_a, county_b)
    ids = {"case": world["case"].pk, "sent": world["sent"].pk, "forward": world["forward"].pk}
    # A third county's supervisor asks about A's case and the A→B forward: 404, nothing revealed.
    response = _call(_client(county_c, StaffRole.SUPERVISOR), name, world, ids)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "casework.not_found"


def test_the_sender_cannot_act_on_the_receivers_side(county_a, county_b):
    world = _world(county_a, county_b)
    ids = {"case": world["case"].pk, "sent": world["sent"].pk, "forward": world["forward"].pk}
    # A shares the forward's id, but its own row is the outgoing one: A cannot take over for B.
    for name in ("forward-accept", "forward-return"):
        response = _call(_client(county_a, StaffRole.SUPERVISOR), name, world, ids)
        assert response.status_code == 404, name
    with tenant_context(county_b):
        assert Forward.objects.get().status == "pending"


def test_operators_manage_agreements_and_counties_cannot(county_a, county_b):
    console = APIClient(HTTP_HOST=settings.COUNTY_DOMAIN_SUFFIX)
    assert console.get("/api/v1/forward-agreements/").status_code in {401, 403}
    operator: Any = UserFactory(username="operator-x", is_staff=True)
    console.force_authenticate(operator)
    created = console.post(
        "/api/v1/forward-agreements/create/", {"first_code": county_b.code, "second_code": county_a.code}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["first_code"] == min(county_a.code, county_b.code)
    again = console.post(
        "/api/v1/forward-agreements/create/", {"first_code": county_a.code, "second_code": county_b.code}, format="json"
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "exchange.conflict"
    unknown = console.post(
        "/api/v1/forward-agreements/create/", {"first_code": "999999", "second_code": county_a.code}, format="json"
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["details"][0]["field"] == "first_code"
    ended = console.post(f"/api/v1/forward-agreements/{created.json()['id']}/end/")
    assert ended.status_code == 200 and ended.json()["ended_at"]
    assert console.post("/api/v1/forward-agreements/not-a-uuid/end/").status_code == 404
    # A county host has no such route.
    county_host = APIClient(HTTP_HOST=f"{county_a.slug}.{settings.COUNTY_DOMAIN_SUFFIX}")
    assert county_host.get("/api/v1/forward-agreements/").status_code == 404
