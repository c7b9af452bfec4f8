"""Tenant isolation, route by route: every URL of a county, with every method it answers.

The routes are read from the county URLconf (``banchengshi.urls_tenant``) when the tests are
collected, so a new route is covered without touching this file; a route with a path parameter
this suite does not know fails until ``PARAMETERS`` learns what it names.

County A (城中区) gets one of everything (a case with an assignment, attachment, extension,
finding, forward, rating and rectification, a work order, a report, a client application, an
inbox message, audit records, staff). Then, for each route and method, at county B's host (龙井市):

(a) B's own staff (supervisor, county admin, auditor) send A's ids in the path: the answer is the
    same status and body as for a random id of the same shape (no existence leak); routes that
    name an object answer 404 for at least one of those roles; nothing is written in any schema;
(b) A's staff token is unknown at B: the same answer as a made-up token (401 on the API), never a
    403 with details;
(c) forged Host headers (an unknown county slug, IP addresses, a foreign domain, the console host,
    B's host with a port, a trailing dot or capitals) answer 400/401/404 and never A's data.

The world is built once per module inside one transaction that is rolled back at the end (each
test runs in a savepoint of it), so the ~120 route tests share it and stay fast.
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django_tenants.utils import tenant_context
from rest_framework.authtoken.models import Token

from banchengshi.tenancy import switch_to_public
from casework import services
from casework.exchange.models import ForwardAgreement
from casework.forwarding import services as forwarding_services
from casework.interop import services as interop_services
from casework.models import Department, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from conftest import host_of
from tenants.models import County

pytestmark = pytest.mark.django_db

PASSWORD = "S3cure-pass!"
MARKER_NAME = "甄隔离"  # the citizen of county A: must never appear in an answer at B
MARKER_TEXT = "隔离测试专用描述"


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _methods(pattern: URLPattern) -> list[str]:
    view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
    if view is None:  # a function view (a page): whatever it answers to GET and POST
        return ["get", "post"]
    return [m for m in view.http_method_names if m not in {"options", "head"} and hasattr(view, m)]


def _is_api(pattern: URLPattern) -> bool:
    return getattr(pattern.callback, "cls", None) is not None


COUNTY_ROUTES: dict[str, tuple[str, URLPattern]] = {}
for _route, _pattern in _walk(get_resolver("banchengshi.urls_tenant").url_patterns):
    _key = "/" + _route
    COUNTY_ROUTES[_key] = (_route, _pattern)

# What each path parameter names. An object id ("case", ...) is taken from county A's world;
# a word of the route's vocabulary (a step, a format) gets a fixed value that the route accepts.
OBJECT_PARAMETERS = {
    "case_id": "case",
    "attachment_id": "attachment",
    "assignment_id": "assignment",
    "finding_id": "finding",
    "extension_id": "extension",
    "profile_id": "staff",
    "report_id": "report",
    "rectification_id": "rectification",
    "client_id": "client",
    "forward_id": "forward",
    "notification_id": "notification",
    "record_id": "audit_record",
    "external_id": "work_order",
    "request_id": "case_number",
}
VOCABULARY_PARAMETERS = {
    "step": "accept",
    "outcome": "complete",
    "fmt": "json",
    "dimension": "department",
    "code": "simple",
}
_PARAMETER = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>|\(\?P<(?P<rname>\w+)>[^)]*\)")


def _parameters(route: str) -> list[str]:
    return [m.group("name") or m.group("rname") for m in _PARAMETER.finditer(route)]


def _fill(route: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        return values[match.group("name") or match.group("rname")]

    path = _PARAMETER.sub(one, route)
    # A regular-expression route: drop its anchors.
    return "/" + path.removeprefix("^").removesuffix("$").replace("\\.", ".")


def _same_shape(value: str) -> str:
    """A value that looks like ``value`` (a UUID, a number, a case number) and names nothing."""
    try:
        uuid.UUID(value)
        return str(uuid.uuid4())
    except ValueError:
        pass
    if value.isdigit():
        return str(10 ** (len(value) + 6) + secrets.randbelow(10**6))
    # Letters stay letters and digits stay digits: CZ-2026-000001 → CZ-2026-83XXXX-like.
    out = []
    for ch in value:
        if ch.isdigit():
            out.append(secrets.choice(string.digits))
        elif ch.isascii() and ch.isalpha():
            out.append(secrets.choice(string.ascii_uppercase if ch.isupper() else string.ascii_lowercase))
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class World:
    county_a: County
    county_b: County
    ids: dict[str, str]
    markers: list[str]
    token_a: str  # a supervisor of A
    staff_b: dict[str, str] = field(default_factory=dict)  # role → API token at B
    client_key_b: str = ""  # an API key of a client application of B (12345 intake and 好差评)
    session_a: str = ""  # the session cookie of A's supervisor, signed in at A
    sessions_b: dict[str, str] = field(default_factory=dict)  # role → session cookie at B


def _pdf() -> SimpleUploadedFile:
    return SimpleUploadedFile("证明.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")


def _build_county_a(county_a: County, county_b: County) -> tuple[dict[str, str], list[str], str]:
    """One of everything in A, through the services, as a county's staff would make it."""
    low, high = sorted((county_a.code, county_b.code))
    ForwardAgreement.objects.get_or_create(first_code=low, second_code=high, defaults={"created_by": "operator"})
    with tenant_context(county_a):
        boss: Any = UserFactory(username="iso-boss")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        handler: Any = UserFactory(username="iso-handler")
        StaffProfileFactory(
            user=handler, role=StaffRole.DEPARTMENT_HANDLER, department=Department.objects.get(code="scjgj")
        )
        token_a = Token.objects.create(user=boss).key

        def intake(**extra: Any) -> services.CaseIntake:
            values: dict[str, Any] = {
                "matter": "开办餐饮店", "description": MARKER_TEXT, "citizen_name": MARKER_NAME,
                "citizen_phone": "13811112222", "channel": "window", "kind_code": "case",
            }  # fmt: skip
            values.update(extra)
            return services.CaseIntake(**values)

        case = services.case_register(actor=boss, intake=intake())
        case = services.case_accept_and_assign(
            actor=boss, case_id=case.pk, version=case.version, lead_department_code="scjgj"
        )
        assignment = case.assignments.get()
        attachment = services.attachment_add(actor=boss, case_id=case.pk, upload=_pdf())
        extension = services.extension_request(actor=boss, case_id=case.pk, working_days=2, reason="需要现场核查")
        finding = services.finding_raise(
            actor=boss, title="清单缺项", cause_code="list-missing", department_code="scjgj",
            required_change="补充清单", due_date=datetime.date(2027, 1, 31), case_ids=[case.pk],
        )  # fmt: skip

        # A replied case rated 差评 by the 好差评 system: a rating and a rectification loop.
        rated = services.case_register(actor=boss, intake=intake(citizen_phone="13811113333"))
        rated = services.case_accept_and_assign(
            actor=boss, case_id=rated.pk, version=rated.version, lead_department_code="scjgj"
        )
        services.assignment_complete(actor=boss, assignment_id=rated.assignments.get().pk, result="已登记")
        rated.refresh_from_db()
        rated = services.case_reply(actor=boss, case_id=rated.pk, version=rated.version, method="phone", content="好")
        hcp = interop_services.api_client_create(
            actor=None, name="好差评平台", source_system="hcp", scopes=["ratings"], webhook_url=""
        )
        interop_services.external_rating_receive(
            client=hcp.client, rating_id="ISO-1", case_number=rated.number, level=1
        )
        from casework.interop.models import ExternalReference, Rectification

        rectification = Rectification.objects.get(case=rated)

        # A 12345 work order.
        intake_client = interop_services.api_client_create(
            actor=None, name="12345平台", source_system="12345", scopes=["intake"], webhook_url=""
        )
        interop_services.work_orders_import(
            client=intake_client.client,
            rows=[(1, {"external_id": "GD-ISO-000417", "matter": "开办餐饮店", "description": MARKER_TEXT,
                       "citizen_name": MARKER_NAME, "citizen_phone": "13811114444", "kind": "case"})],
        )  # fmt: skip
        reference = ExternalReference.objects.filter(source_system="12345").order_by("-pk").first()

        # A case forwarded to B (the envelope is never delivered here: B has no forward row).
        sent = services.case_register(actor=boss, intake=intake(citizen_phone="13811115555"))
        forward_ids = forwarding_services.case_forward(
            actor=boss, case_id=sent.pk, version=sent.version, mode="full_online", reason="属地管辖",
            targets=[forwarding_services.ForwardTarget(county_code=county_b.code)],
        )  # fmt: skip
        from casework.forwarding.models import Forward

        forward = Forward.objects.filter(case=sent).first()
        assert forward is not None, forward_ids

        from reporting.services import quarterly_report_request

        report = quarterly_report_request(actor=boss, year=2026, quarter=1)

        from notifications.models import Notification

        notification = Notification.objects.order_by("-created_at").first()
        assert notification is not None

        from banchengshi.audit.models import AuditRecord

        record = AuditRecord.objects.order_by("-pk").first()
        assert record is not None
        profile = boss.staff_profile
        ids = {
            "case": str(case.pk),
            "attachment": str(attachment.pk),
            "assignment": str(assignment.pk),
            "finding": str(finding.pk),
            "extension": str(extension.pk),
            "staff": str(profile.pk),
            "report": str(report.pk),
            "rectification": str(rectification.pk),
            "client": str(hcp.client.pk),
            "forward": str(forward.pk),
            "notification": str(notification.pk),
            "audit_record": str(record.pk),
            "work_order": reference.external_id if reference else "GD-ISO-000417",
            "case_number": case.number,
        }
        markers = [MARKER_NAME, MARKER_TEXT, case.number, rated.number, sent.number, "13811112222"]
        markers += [v for k, v in ids.items() if k not in {"audit_record", "case_number"}]
    return ids, markers, token_a


def _staff_of_b(county_b: County) -> tuple[dict[str, str], dict[str, str]]:
    tokens: dict[str, str] = {}
    sessions: dict[str, str] = {}
    for role in (StaffRole.SUPERVISOR, StaffRole.COUNTY_ADMIN, StaffRole.AUDITOR):
        username = f"iso-b-{role}"
        with tenant_context(county_b):
            user: Any = UserFactory(username=username)
            StaffProfileFactory(user=user, role=role)
            tokens[role] = Token.objects.create(user=user).key
        client = Client(HTTP_HOST=host_of(county_b))
        response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
        assert response.status_code == 302, response.content
        sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return tokens, sessions


@pytest.fixture(scope="module")
def world(two_counties: tuple[County, County], django_db_blocker: Any) -> Iterator[World]:
    """County A's objects and B's staff, in one transaction rolled back after the module."""
    county_a, county_b = two_counties
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            ids, markers, token_a = _build_county_a(county_a, county_b)
            tokens_b, sessions_b = _staff_of_b(county_b)
            with tenant_context(county_b):
                client_b = interop_services.api_client_create(
                    actor=None, name="12345平台", source_system="12345", scopes=["intake", "ratings"], webhook_url=""
                )
            signed_in = Client(HTTP_HOST=host_of(county_a))
            assert signed_in.post("/accounts/login/", {"username": "iso-boss", "password": PASSWORD}).status_code == 302
            yield World(
                county_a,
                county_b,
                ids,
                markers,
                token_a,
                staff_b=tokens_b,
                sessions_b=sessions_b,
                client_key_b=client_b.api_key,
                session_a=signed_in.cookies[settings.SESSION_COOKIE_NAME].value,
            )
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            switch_to_public()


# --- requests -------------------------------------------------------------------------------

# Tables a request may write while refusing: the person's own session (idle timer) and its registry.
BOOKKEEPING_TABLES = {"django_session", "accounts_usersession"}


def _writes() -> dict[tuple[str, str], int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT schemaname, relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables"
            " WHERE n_tup_ins + n_tup_upd + n_tup_del > 0"
        )
        return {(schema, table): count for schema, table, count in cursor.fetchall()}


def _changed(before: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    after = _writes()
    return sorted(k for k, v in after.items() if v != before.get(k, 0) and k[1] not in BOOKKEEPING_TABLES)


def _request(
    method: str, path: str, *, host: str, token: str = "", session: str = "", api_key: str = ""
) -> tuple[int, bytes, dict[str, str]]:
    # Throttles and lockouts count in the cache: each request starts from none, so two requests
    # differ only by what they name.
    cache.clear()
    client = Client(HTTP_HOST=host)
    extra: dict[str, str] = {}
    if token:
        extra["HTTP_AUTHORIZATION"] = f"Token {token}"
    if api_key:
        extra["HTTP_AUTHORIZATION"] = f"ApiKey {api_key}"
    if session:
        client.cookies[settings.SESSION_COOKIE_NAME] = session
    if method in {"post", "put", "patch"}:
        response = getattr(client, method)(path, data="{}", content_type="application/json", **extra)
    else:
        response = getattr(client, method)(path, **extra)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    headers = {k: v for k, v in response.items() if k.lower() in {"www-authenticate", "location", "content-type"}}
    return response.status_code, content, headers


def _normalise(body: bytes, *values: str) -> bytes:
    for value in values:
        body = body.replace(value.encode(), b"<id>")
    # Per-request noise: the request id, CSRF tokens and registration forms' one-time keys of pages.
    body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"csrf", body)
    body = re.sub(rb'name="submission" value="[^"]+"', b"submission", body)
    return body


def _leaks(body: bytes, markers: list[str]) -> list[str]:
    text = body.decode(errors="replace")
    return [m for m in markers if m in text]


def _path_values(route: str, world: World, *, random_ids: bool) -> tuple[dict[str, str], list[str]]:
    values: dict[str, str] = {}
    ids_used: list[str] = []
    for name in _parameters(route):
        if name in OBJECT_PARAMETERS:
            value = world.ids[OBJECT_PARAMETERS[name]]
            if random_ids:
                value = _same_shape(value)
            values[name] = value
            ids_used.append(value)
        elif name in VOCABULARY_PARAMETERS:
            values[name] = VOCABULARY_PARAMETERS[name]
        else:
            pytest.fail(f"{route}: the isolation suite does not know the path parameter {name!r}; add it")
    return values, ids_used


ROUTE_IDS = sorted(COUNTY_ROUTES)

# Routes that answer every id alike without looking it up for the caller, so there is no 404 to
# give (the same answer for A's id and a made-up one is still checked).
SAME_ANSWER_FOR_ANY_ID = {
    # Marks the signed-in person's own message read, if the id is one; redirects to the inbox.
    "inbox-read": "notifications.services.inbox_mark_read filters on the recipient",
}


def test_every_path_parameter_is_known():
    unknown = {
        (route, name)
        for route, _p in COUNTY_ROUTES.values()
        for name in _parameters(route)
        if name not in OBJECT_PARAMETERS and name not in VOCABULARY_PARAMETERS
    }
    assert not unknown, f"teach tests/test_isolation_routes.py what these name: {sorted(unknown)}"
    assert len(COUNTY_ROUTES) > 100  # the resolver walk found the county's routes


@pytest.mark.parametrize("key", ROUTE_IDS)
def test_route_keeps_counties_apart(world: World, key: str) -> None:
    route, pattern = COUNTY_ROUTES[key]
    api = _is_api(pattern)
    b_host = host_of(world.county_b)
    theirs, their_ids = _path_values(route, world, random_ids=False)
    made_up, made_up_ids = _path_values(route, world, random_ids=True)
    path_theirs, path_made_up = _fill(route, theirs), _fill(route, made_up)
    names_an_object = bool(their_ids)
    problems: list[str] = []

    def written(before: dict[tuple[str, str], int], status: int = 0) -> list[tuple[str, str]]:
        # Without an object in the path, a request of B's own staff may legitimately write in B
        # (an export log, a sign-out); nothing may ever be written in A or in the public schema.
        changed = _changed(before)
        if status == 403:  # B's auditors are told that B's own staff asked beyond their role
            changed = [t for t in changed if t != (world.county_b.schema_name, "audit_auditrecord")]
        if names_an_object:
            return changed
        return [t for t in changed if t[0] != world.county_b.schema_name]

    for method in _methods(pattern):
        # (a) A's ids at B, by B's own staff: the same as ids that exist nowhere; nothing written.
        statuses: set[int] = set()
        callers: dict[str, dict[str, str]] = {
            role: {"token": world.staff_b[role]} if api else {"session": world.sessions_b[role]}
            for role in world.staff_b
        }
        if api:
            callers["client application"] = {"api_key": world.client_key_b}
        for role, credentials in callers.items():
            before = _writes()
            status, body, _h = _request(method, path_theirs, host=b_host, **credentials)
            if changed := written(before, status):
                problems.append(f"(a) {method} as {role}: A's ids wrote to {changed}")
            if _leaks(body, world.markers):
                problems.append(f"(a) {method} as {role}: A's data in the answer: {_leaks(body, world.markers)}")
            if names_an_object:
                status2, body2, _h = _request(method, path_made_up, host=b_host, **credentials)
                if (status, _normalise(body, *their_ids)) != (status2, _normalise(body2, *made_up_ids)):
                    problems.append(f"(a) {method} as {role}: A's ids {status} {body[:300]!r} ≠ made-up {status2}")
            statuses.add(status)
        if names_an_object and 404 not in statuses and statuses != {405} and pattern.name not in SAME_ANSWER_FOR_ANY_ID:
            problems.append(f"(a) {method}: no caller of B got 404 for A's ids, only {sorted(statuses)}")

        # (b) A's token at B's host: unknown, as a made-up token is.
        before = _writes()
        answer = _request(method, path_theirs, host=b_host, token=world.token_a)
        if changed := written(before):
            problems.append(f"(b) {method}: A's token wrote to {changed}")
        made_up_token = _request(method, path_theirs, host=b_host, token=secrets.token_hex(20))
        if _comparable(answer) != _comparable(made_up_token):
            problems.append(
                f"(b) {method}: A's token {answer[0]} {answer[1][:300]!r} ≠ made-up token {made_up_token[0]}"
            )
        if _reads_staff_tokens(pattern) and answer[0] != 401:
            problems.append(f"(b) {method}: A's token answered {answer[0]}, not 401: {answer[1][:300]!r}")
        if _leaks(answer[1], world.markers):
            problems.append(f"(b) {method}: A's data in the answer")
        if not api:  # a page: A's session cookie is as unknown at B as a made-up one
            theirs_session = _request(method, path_theirs, host=b_host, session=world.session_a)
            made_up_session = _request(method, path_theirs, host=b_host, session=secrets.token_hex(16))
            if _comparable(theirs_session) != _comparable(made_up_session):
                problems.append(f"(b) {method}: A's session {theirs_session[0]} ≠ made-up session {made_up_session[0]}")
            if _leaks(theirs_session[1], world.markers):
                problems.append(f"(b) {method}: A's data in the answer to A's session")

        # (c) forged hosts, with A's token and A's ids: refused, never A's data.
        for host, allowed in _forged_hosts(world):
            before = _writes()
            forged = _request(method, path_theirs, host=host, token=world.token_a)
            if changed := written(before):
                problems.append(f"(c) {method} Host {host!r}: wrote to {changed}")
            if allowed == "as B":
                # B itself (A's token unknown there), or refused outright; never anything else.
                if _comparable(forged) != _comparable(answer) and forged[0] not in {400, 404}:
                    problems.append(f"(c) {method} Host {host!r}: {forged[0]} is not what B's own host answers")
            elif forged[0] not in allowed:
                problems.append(
                    f"(c) {method} Host {host!r}: {forged[0]} not in {sorted(allowed)}: {forged[1][:120]!r}"
                )
            if _leaks(forged[1], world.markers):
                problems.append(f"(c) {method} Host {host!r}: A's data in the answer")

    assert not problems, "\n".join([f"{key}:", *problems])


def _comparable(answer: tuple[int, bytes, dict[str, str]]) -> tuple[int, bytes, dict[str, str]]:
    return answer[0], _normalise(answer[1]), answer[2]


def _reads_staff_tokens(pattern: URLPattern) -> bool:
    """An API view that authenticates staff tokens (citizen and client-key views ignore them)."""
    from banchengshi.accounts.authentication import TwoFactorTokenAuthentication

    view = getattr(pattern.callback, "cls", None)
    return view is not None and any(issubclass(c, TwoFactorTokenAuthentication) for c in view.authentication_classes)


def _forged_hosts(world: World) -> list[tuple[str, Any]]:
    suffix = settings.COUNTY_DOMAIN_SUFFIX
    b = host_of(world.county_b)
    a = host_of(world.county_a)
    refused = {400, 404}
    return [
        (f"nowhere.{suffix}", {404}),  # an unknown county slug
        ("127.0.0.1", refused),
        ("10.0.0.7", refused),
        ("[::1]", refused),
        ("evil.example", refused),
        (f"{a}.evil.example", refused),  # A's host inside a foreign domain
        (f"{a.split('.')[0]}-{suffix}", refused),
        # The console: its own pages and sign-in, but no county route and no county token.
        (suffix, {200, 302, 401, 403, 404, 405}),
        # B's host written differently: B (A's token as unknown as at B's own host) or refused.
        (f"{b}:8443", "as B"),
        (f"{b}.", "as B"),
        (b.upper(), "as B"),
    ]


def test_a_token_is_good_in_its_own_county(world: World) -> None:
    """(b)'s 401 is the county boundary, not a broken token: at A's host it reads A's case."""
    status, body, _h = _request("get", f"/api/v1/cases/{world.ids['case']}/", host=host_of(world.county_a),
                                token=world.token_a)  # fmt: skip
    assert status == 200, body[:300]
    assert json.loads(body)["number"] == world.ids["case_number"]
