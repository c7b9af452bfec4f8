"""schemathesis against a county's OpenAPI schema: no operation answers a server error (5xx).

The schema is the one the county serves (``/api/v1/schema/`` at its host), loaded and called
through the WSGI application in this process (the test database, one transaction per run). The
caller is a supervisor, the casework role allowed the most; the staff endpoints are called again
as the county admin, who alone may use them. Path ids are a mix of generated values and ids
that exist (a case, an assignment, a finding, a staff profile), so requests reach the services
and not only the 404 of the access selectors. Bounded and deterministic: few examples per
operation, derandomized.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from banchengshi.wsgi import application
from casework import services
from casework.models import Cause, Department, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from conftest import host_of

pytestmark = pytest.mark.django_db

EXAMPLES = 10


def _token(role: str, name: str, department: Department | None = None) -> str:
    user: Any = UserFactory(username=name)
    StaffProfileFactory(user=user, role=role, department=department)
    return Token.objects.create(user=user).key


@pytest.fixture
def county_world(county_a: Any) -> dict[str, Any]:
    """Staff tokens and rows to aim at, committed in the test's transaction only."""
    with tenant_context(county_a):
        supervisor_token = _token(StaffRole.SUPERVISOR, "fuzz-supervisor")
        admin_token = _token(StaffRole.COUNTY_ADMIN, "fuzz-admin")
        supervisor = Token.objects.get(key=supervisor_token).user
        department = Department.objects.filter(is_active=True).order_by("code").first()
        intake = services.CaseIntake(
            matter="模糊测试", description="schemathesis", citizen_name="测试", citizen_phone="13800009999",
            channel="window", kind_code="case",
        )  # fmt: skip
        case = services.case_register(actor=supervisor, intake=intake)
        case = services.case_accept(actor=supervisor, case_id=case.pk, version=case.version)
        assert department is not None
        case = services.case_assign(
            actor=supervisor, case_id=case.pk, version=case.version, lead_department_code=department.code
        )
        assignment = case.assignments.first()
        cause = Cause.objects.filter(is_active=True).order_by("code").first()
        assert cause is not None
        finding = services.finding_raise(
            actor=supervisor, title="材料清单不一致", cause_code=cause.code, department_code=department.code,
            required_change="统一清单", due_date=timezone.localdate() + datetime.timedelta(days=90),
            case_ids=[case.pk],
        )  # fmt: skip
        profile = supervisor.staff_profile
    return {
        "host": host_of(county_a),
        "supervisor": supervisor_token,
        "admin": admin_token,
        "department": department.code,
        "ids": {
            "case_id": str(case.pk),
            "assignment_id": str(assignment.pk) if assignment else "",
            "profile_id": str(profile.pk),
            "finding_id": str(finding.pk),
        },
    }


@pytest.fixture
def wsgi_in_the_test_transaction() -> Iterator[None]:
    # As Django's test client does: a request must not close the connection that holds the test's
    # transaction (the WSGI handler closes old connections at the start and end of each request).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def no_rate_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    # The citizens' rate limit (tested in casework) would answer 429 after 30 calls and hide the
    # operations behind it from the fuzzer.
    monkeypatch.setattr(SimpleRateThrottle, "allow_request", lambda self, request, view: True)


@pytest.fixture
def county_schema(county_world: dict[str, Any], wsgi_in_the_test_transaction: None, no_rate_limits: None) -> Any:
    config = SchemathesisConfig.from_dict(
        {
            "generation": {"max-examples": EXAMPLES, "deterministic": True},
            # Methods an operation does not have: DRF answers 405 for every one alike; two suffice.
            "phases": {"coverage": {"unexpected-methods": ["PATCH", "DELETE"]}},
        }
    )
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json", application, headers={"Host": county_world["host"]}, config=config
    )
    return schema


schema = schemathesis.pytest.from_fixture("county_schema")
_turns = itertools.count()
# Body fields whose generated values would never name a row that exists; every other call gets
# a value that does, so the request gets past validation into the services.
KNOWN_CODES = {"kind": "case", "channel": "window", "lead_department": "", "department": ""}


def _aim_at_real_rows(case: Any, world: dict[str, Any]) -> None:
    for name, value in world["ids"].items():
        if value and case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = value
    if isinstance(case.body, dict):
        for name, value in KNOWN_CODES.items():
            if name in case.body:
                case.body[name] = value or world["department"]


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
def test_no_operation_of_a_county_answers_a_server_error(case: Any, county_world: dict[str, Any]) -> None:
    if next(_turns) % 2:
        _aim_at_real_rows(case, county_world)
    token = county_world["admin"] if "/staff/" in case.path else county_world["supervisor"]
    # Each call in a savepoint rolled back afterwards: every example starts from the same rows,
    # and a database error in one call (a server error in itself) cannot abort the test's
    # transaction and fail every call after it.
    savepoint = transaction.savepoint()
    try:
        case.call_and_validate(
            headers={"Host": county_world["host"], "Authorization": f"Token {token}"}, checks=[not_a_server_error]
        )
    finally:
        transaction.savepoint_rollback(savepoint)
