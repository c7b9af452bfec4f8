"""Permission matrix: every casework API route × role, and another county's ids → 404.

The routes are read from the URLconf, so a new route fails this test until it is classified.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import tenant_context

from casework import services
from casework.models import StaffRole
from casework.policy import ALLOWED, Action
from casework.tests.factories import StaffProfileFactory, UserFactory
from casework.urls import api_urlpatterns

pytestmark = pytest.mark.django_db

# route name → (method, the action it needs, what its id refers to)
ROUTES: dict[str, tuple[str, Action, str]] = {
    "case-list": ("get", Action.READ, ""),
    "case-register": ("post", Action.REGISTER, ""),
    "case-detail": ("get", Action.READ, "case"),
    "case-accept": ("post", Action.ACCEPT, "case"),
    "case-not-accept": ("post", Action.ACCEPT, "case"),
    "case-accept-and-assign": ("post", Action.ACCEPT, "case"),
    "case-classify": ("post", Action.CLASSIFY, "case"),
    "case-assign": ("post", Action.ASSIGN, "case"),
    "case-co-handlers-add": ("post", Action.ASSIGN, "case"),
    "case-request-materials": ("post", Action.PAUSE, "case"),
    "case-materials-received": ("post", Action.PAUSE, "case"),
    "case-escalate": ("post", Action.ESCALATE, "case"),
    "case-escalation-answer": ("post", Action.ESCALATE, "case"),
    "case-reply": ("post", Action.REPLY, "case"),
    "case-follow-up": ("post", Action.FOLLOW_UP, "case"),
    "case-archive": ("post", Action.ARCHIVE, "case"),
    "case-withdraw": ("post", Action.WITHDRAW, "case"),
    "case-attachment-add": ("post", Action.ATTACH, "case"),
    "case-attachment-download": ("get", Action.READ, "attachment_of_case"),
    "assignment-queue": ("get", Action.READ, ""),
    "assignment-complete": ("post", Action.HANDLE_ASSIGNMENT, "assignment"),
    "assignment-return": ("post", Action.HANDLE_ASSIGNMENT, "assignment"),
    "finding-list": ("get", Action.READ, ""),
    "finding-raise": ("post", Action.LEDGER_WRITE, ""),
    "finding-detail": ("get", Action.READ, "finding"),
    "finding-action-add": ("post", Action.LEDGER_WRITE, "finding"),
    "finding-look-back": ("post", Action.LEDGER_WRITE, "finding"),
    "reference-data": ("get", Action.READ, ""),
    "case-extension-request": ("post", Action.REQUEST_EXTENSION, "case"),
    "extension-decide": ("post", Action.DECIDE_EXTENSION, "extension"),
    "staff-list": ("get", Action.MANAGE_STAFF, ""),
    "staff-create": ("post", Action.MANAGE_STAFF, ""),
    "staff-role": ("post", Action.MANAGE_STAFF, "staff"),
    "staff-deactivate": ("post", Action.MANAGE_STAFF, "staff"),
}
CITIZEN_ROUTES = {"citizen-submit", "citizen-track", "citizen-rate"}

# (role, department): the handler of the assigned department, and one whose department is not on the case.
ROLES: list[tuple[str, str]] = [(role, "") for role in StaffRole.values if role != StaffRole.DEPARTMENT_HANDLER] + [
    (StaffRole.DEPARTMENT_HANDLER, "scjgj"),
    (StaffRole.DEPARTMENT_HANDLER, "tcj"),
]


def test_every_route_is_in_the_matrix():
    names = {pattern.name for pattern in api_urlpatterns}
    assert names == set(ROUTES) | CITIZEN_ROUTES


def _world(county, departments=("scjgj", "tcj")) -> dict[str, Any]:
    """A case assigned to the first department, and a finding about it, made by a supervisor."""
    with tenant_context(county):
        boss: Any = UserFactory(username=f"boss-{county.slug}")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        intake = services.CaseIntake(
            matter="开办餐饮店", description="多次往返", citizen_name="赵女士", citizen_phone="13811112222",
            channel="window", kind_code="case",
        )  # fmt: skip
        case = services.case_register(actor=boss, intake=intake)
        case = services.case_accept_and_assign(
            actor=boss, case_id=case.pk, version=case.version, lead_department_code=departments[0]
        )
        assignment = case.assignments.get()
        cause = "list-missing"
        finding = services.finding_raise(
            actor=boss, title="清单缺项", cause_code=cause, department_code=departments[0],
            required_change="补充清单", due_date=datetime.date(2027, 1, 31), case_ids=[case.pk],
        )  # fmt: skip
        attachment = services.attachment_add(actor=boss, case_id=case.pk, upload=_pdf())
        case.refresh_from_db()
        staff = services.staff_create(
            actor=None, username=f"target-{county.slug}", name="目标", role="window_clerk", password="Xk3!pass-2026"
        )
        extension = services.extension_request(actor=boss, case_id=case.pk, working_days=2, reason="需要现场核查")
        case.refresh_from_db()
        return {
            "case": case, "assignment": assignment, "finding": finding, "attachment": attachment, "staff": staff,
            "extension": extension,
        }  # fmt: skip


def _pdf() -> SimpleUploadedFile:
    return SimpleUploadedFile("证明.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")


def _path(name: str, ids: dict[str, Any]) -> str:
    pattern = next(p for p in api_urlpatterns if p.name == name)
    route = str(pattern.pattern)
    for key in ("case", "assignment", "finding", "attachment", "extension"):
        route = route.replace(f"<str:{key}_id>", str(ids[key].pk))
    route = route.replace("<str:profile_id>", str(ids["staff"].pk))
    return route


def _body(name: str, world: dict[str, Any]) -> dict[str, Any]:
    version = world["case"].version
    bodies: dict[str, dict[str, Any]] = {
        "case-register": {
            "matter": "咨询",
            "description": "询问",
            "citizen_name": "钱先生",
            "citizen_phone": "13900001111",
            "channel": "window",
            "kind": "consultation",
        },  # fmt: skip
        "case-accept": {"version": version},
        "case-not-accept": {"version": version, "reason": "涉诉"},
        "case-accept-and-assign": {"version": version, "lead_department": "scjgj"},
        "case-classify": {"version": version, "category": "simple"},
        "case-assign": {"version": version, "lead_department": "scjgj"},
        "case-co-handlers-add": {"version": version, "co_departments": ["tcj"]},
        "case-request-materials": {"version": version, "note": "补充材料"},
        "case-materials-received": {"version": version},
        "case-escalate": {"version": version, "level": "柳州市", "reason": "无权限"},
        "case-escalation-answer": {"version": version, "answer": "同意"},
        "case-reply": {"version": version, "method": "phone", "content": "已答复"},
        "case-follow-up": {"version": version, "outcome": "solved"},
        "case-archive": {"version": version},
        "case-withdraw": {"version": version, "reason": "撤回"},
        "assignment-complete": {"result": "已办结"},
        "assignment-return": {"reason": "非本部门职责"},
        "finding-raise": {
            "title": "流程问题",
            "cause": "process-unscientific",
            "department": "scjgj",
            "required_change": "优化流程",
            "due_date": (timezone.localdate() + datetime.timedelta(days=90)).isoformat(),
            "case_ids": [str(world["case"].pk)],
        },  # fmt: skip
        "finding-action-add": {"description": "已修订清单", "rectified": True},
        "finding-look-back": {"held": True},
        "case-attachment-add": {"file": _pdf()},
        "staff-create": {"username": "newcomer", "name": "新同事", "role": "window_clerk", "password": "Xk3!pass-2026"},
        "staff-role": {"role": "leader"},
        "case-extension-request": {"working_days": 3, "reason": "需要会商"},
        "extension-decide": {"approve": True, "note": "同意"},
    }
    return bodies.get(name, {})


def _call(api: Any, method: str, name: str, world: dict[str, Any]) -> Any:
    if name == "case-attachment-add":
        return api.client.post(f"/api/v1/{_path(name, world)}", _body(name, world), format="multipart")
    return getattr(api, method)(_path(name, world), _body(name, world))


def _expected(name: str, role: str, department: str) -> str:
    _method, action, target = ROUTES[name]
    unrelated_handler = role == StaffRole.DEPARTMENT_HANDLER and department != "scjgj"
    if unrelated_handler and target in {"case", "assignment", "finding", "attachment_of_case", "extension"}:
        return "not_found"
    if target == "staff" and role not in ALLOWED[action]:
        return "not_found"  # staff records are invisible to everyone but the county admin
    if role not in ALLOWED[action]:
        return "forbidden"
    return "allowed"


@pytest.mark.parametrize("name", sorted(ROUTES))
@pytest.mark.parametrize(("role", "department"), ROLES, ids=[f"{r}-{d}" if d else r for r, d in ROLES])
def test_route_by_role(county_a, staff_api, name, role, department):
    world = _world(county_a)
    api = staff_api(county_a, role, department)
    method = ROUTES[name][0]
    response = _call(api, method, name, world)
    expected = _expected(name, role, department)
    if expected == "not_found":
        assert response.status_code == 404, response.content
    elif expected == "forbidden":
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] in {"casework.permission_denied", "permission_denied"}
    else:
        assert response.status_code in {200, 201, 409}, response.content


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_anonymous_gets_401_and_a_user_without_a_role_403(county_a, staff_api, name):
    world = _world(county_a)
    method = ROUTES[name][0]
    anonymous = staff_api(county_a, None)
    response = _call(anonymous, method, name, world)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"

    with tenant_context(county_a):
        UserFactory(username="nobody")
    from rest_framework.authtoken.models import Token

    with tenant_context(county_a):
        from banchengshi.accounts.models import User

        token = Token.objects.create(user=User.objects.get(username="nobody")).key
    anonymous.client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert _call(anonymous, method, name, world).status_code == 403


@pytest.mark.parametrize("name", sorted(n for n, (_m, _a, target) in ROUTES.items() if target))
def test_another_countys_ids_are_404_for_every_role(county_a, county_b, staff_api, name):
    _world(county_a)
    theirs = _world(county_b, departments=("scjgj", "gaj"))
    method = ROUTES[name][0]
    for role, department in [
        (StaffRole.SUPERVISOR, ""), (StaffRole.WINDOW_CLERK, ""), (StaffRole.LEADER, ""), (StaffRole.COUNTY_ADMIN, ""),
    ]:  # fmt: skip
        api = staff_api(county_a, role, department)
        response = _call(api, method, name, theirs)
        assert response.status_code == 404, (role, response.content)
        assert response.json()["error"]["code"] == "casework.not_found"


def test_a_token_from_one_county_is_unknown_in_another(county_a, county_b, staff_api):
    api_a = staff_api(county_a, StaffRole.SUPERVISOR)
    token = api_a.client._credentials["HTTP_AUTHORIZATION"]
    api_b = staff_api(county_b, None)
    api_b.client.credentials(HTTP_AUTHORIZATION=token)
    assert api_b.get("cases/").status_code == 401
    assert api_a.get("cases/").status_code == 200
