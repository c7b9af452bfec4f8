"""The seeds' cases, end to end through the API, and the loops the workflow must support."""

from __future__ import annotations

import re

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from casework.models import CaseEvent
from casework.tests.factories import LIAO_REGISTRATION

pytestmark = pytest.mark.django_db


def ok(response, status=200):
    assert response.status_code == status, response.json()
    return response.json()


def actions(case):
    return [event["action"] for event in case["events"]]


def register(clerk, **overrides):
    return ok(clerk.post("cases/create/", {**LIAO_REGISTRATION, **overrides}), 201)


def test_chengzhong_liao_department_side_cause_coordinated_and_approved(county_a, staff_api):
    clerk = staff_api(county_a, "window_clerk")
    supervisor = staff_api(county_a, "supervisor")
    market = staff_api(county_a, "department_handler", "scjgj")

    case = register(clerk)
    case = ok(clerk.get(f"cases/{case['id']}/"))
    year = timezone.localtime().year
    assert re.fullmatch(rf"CZ-{year}-\d{{6}}", case["number"])
    assert case["status"] == "registered" and case["citizen_phone"] == "13812345678"
    assert [d["code"] for d in case["departments_involved"]] == ["scjgj"]

    case = ok(
        supervisor.post(
            f"cases/{case['id']}/classify/",
            {"version": case["version"], "category": "complex", "cause": "list-missing"},
        )
    )
    assert case["category"]["code"] == "complex" and case["cause"]["code"] == "list-missing"
    case = ok(supervisor.post(f"cases/{case['id']}/accept/", {"version": case["version"]}))
    case = ok(
        supervisor.post(
            f"cases/{case['id']}/assign/",
            {"version": case["version"], "lead_department": "scjgj", "instructions": "请依据国发〔2012〕30号研究办理"},
        )
    )
    assert case["status"] == "assigned"

    queue = ok(market.get("assignments/"))["results"]
    (assignment,) = [a for a in queue if a["case_id"] == case["id"]]
    done = ok(
        market.post(
            f"assignments/{assignment['id']}/complete/",
            {"result": "参照国发〔2012〕30号及深圳、南宁做法，核准“交通安全统筹”经营范围。"},
        )
    )
    assert done["status"] == "done"

    case = ok(clerk.get(f"cases/{case['id']}/"))
    assert case["status"] == "processed"
    case = ok(
        clerk.post(
            f"cases/{case['id']}/reply/",
            {"version": case["version"], "method": "phone", "content": "经营范围已核准，请到窗口领取营业执照。"},
        )
    )
    case = ok(
        clerk.post(
            f"cases/{case['id']}/follow-up/", {"version": case["version"], "outcome": "solved", "rating_level": 5}
        )
    )
    assert case["status"] == "followed_up"
    case = ok(clerk.post(f"cases/{case['id']}/archive/", {"version": case["version"]}))
    assert case["status"] == "archived"
    assert actions(case) == [
        "registered", "classified", "accepted", "assigned", "assignment_done", "replied", "followed_up", "archived",
    ]  # fmt: skip
    assert case["ratings"][0]["level"] == 5 and not case["ratings"][0]["is_bad"]


def test_longjing_cao_urgent_passport_home_visit_done_at_once(county_b, staff_api):
    clerk = staff_api(county_b, "window_clerk")
    police = staff_api(county_b, "department_handler", "gaj")
    case = register(
        clerk,
        matter="急需办理护照",
        description="曹先生病重无法到厅，急需护照。",
        citizen_name="曹先生",
        citizen_phone="13904331234",
        channel="home_visit",
        window="service-centre",
        category="hard",
        departments=["gaj"],
        is_urgent=True,
    )
    assert case["number"].startswith("LJ-")
    case = ok(
        clerk.post(f"cases/{case['id']}/accept-and-assign/", {"version": case["version"], "lead_department": "gaj"})
    )
    assert case["status"] == "assigned"
    assignment = case["assignments"][0]
    ok(police.post(f"assignments/{assignment['id']}/complete/", {"result": "出入境民警三人上门拍照采集，10分钟办结。"}))
    case = ok(clerk.get(f"cases/{case['id']}/"))
    case = ok(
        clerk.post(
            f"cases/{case['id']}/reply/", {"version": case["version"], "method": "in_person", "content": "护照已受理。"}
        )
    )
    case = ok(
        clerk.post(
            f"cases/{case['id']}/follow-up/", {"version": case["version"], "outcome": "solved", "rating_level": 5}
        )
    )
    case = ok(clerk.post(f"cases/{case['id']}/archive/", {"version": case["version"]}))
    assert actions(case) == [
        "registered", "accepted", "assigned", "assignment_done", "replied", "followed_up", "archived",
    ]  # fmt: skip
    assert case["is_urgent"] is True and case["channel"] == "home_visit"


def test_bad_rating_reopens_for_rework_until_satisfied(county_a, staff_api):
    clerk = staff_api(county_a, "window_clerk")
    market = staff_api(county_a, "department_handler", "scjgj")
    case = register(clerk)
    case = ok(
        clerk.post(f"cases/{case['id']}/accept-and-assign/", {"version": case["version"], "lead_department": "scjgj"})
    )
    ok(market.post(f"assignments/{case['assignments'][0]['id']}/complete/", {"result": "已答复"}))
    case = ok(clerk.get(f"cases/{case['id']}/"))
    case = ok(
        clerk.post(f"cases/{case['id']}/reply/", {"version": case["version"], "method": "sms", "content": "已办理"})
    )
    case = ok(
        clerk.post(
            f"cases/{case['id']}/follow-up/",
            {"version": case["version"], "outcome": "solved", "rating_level": 1, "rating_comment": "没解决"},
        )
    )
    assert case["status"] == "reopened" and case["reopen_count"] == 1
    assert case["ratings"][0]["is_bad"] is True

    case = ok(
        clerk.post(
            f"cases/{case['id']}/assign/",
            {"version": case["version"], "lead_department": "scjgj", "instructions": "重办"},
        )
    )
    pending = [a for a in case["assignments"] if a["status"] == "pending"]
    ok(market.post(f"assignments/{pending[0]['id']}/complete/", {"result": "重新核准"}))
    case = ok(clerk.get(f"cases/{case['id']}/"))
    case = ok(
        clerk.post(
            f"cases/{case['id']}/reply/", {"version": case["version"], "method": "phone", "content": "已重新办理"}
        )
    )
    case = ok(
        clerk.post(
            f"cases/{case['id']}/follow-up/", {"version": case["version"], "outcome": "solved", "rating_level": 5}
        )
    )
    assert case["status"] == "followed_up"
    assert [r["level"] for r in case["ratings"]] == [1, 5]


def test_returned_by_a_department_then_reassigned(county_a, staff_api):
    supervisor = staff_api(county_a, "supervisor")
    investment = staff_api(county_a, "department_handler", "tcj")
    market = staff_api(county_a, "department_handler", "scjgj")
    case = register(supervisor)
    case = ok(
        supervisor.post(
            f"cases/{case['id']}/accept-and-assign/", {"version": case["version"], "lead_department": "tcj"}
        )
    )
    returned = ok(
        investment.post(
            f"assignments/{case['assignments'][0]['id']}/return/", {"reason": "不属于本局职责，应由市场监管局办理"}
        )
    )
    assert returned["status"] == "returned"
    case = ok(supervisor.get(f"cases/{case['id']}/"))
    assert case["status"] == "accepted"
    # The department that returned it no longer acts on it, but still sees what it was given.
    assert ok(investment.get(f"cases/{case['id']}/"))["status"] == "accepted"
    case = ok(supervisor.post(f"cases/{case['id']}/assign/", {"version": case["version"], "lead_department": "scjgj"}))
    lead = [a for a in case["assignments"] if a["status"] == "pending"][0]
    assert lead["department"]["code"] == "scjgj"
    ok(market.post(f"assignments/{lead['id']}/complete/", {"result": "已办结"}))
    assert actions(ok(supervisor.get(f"cases/{case['id']}/")))[-3:] == [
        "assignment_returned",
        "assigned",
        "assignment_done",
    ]


def test_waiting_for_materials_pauses_and_resumes_where_it_was(county_a, staff_api):
    clerk = staff_api(county_a, "window_clerk")
    case = register(clerk)
    case = ok(clerk.post(f"cases/{case['id']}/accept/", {"version": case["version"]}))
    case = ok(
        clerk.post(f"cases/{case['id']}/request-materials/", {"version": case["version"], "note": "请补充营业场所证明"})
    )
    assert case["status"] == "waiting_materials"
    case = ok(clerk.post(f"cases/{case['id']}/materials-received/", {"version": case["version"]}))
    assert case["status"] == "accepted"


def test_escalation_and_its_answer(county_a, staff_api):
    supervisor = staff_api(county_a, "supervisor")
    case = register(supervisor)
    case = ok(supervisor.post(f"cases/{case['id']}/accept/", {"version": case["version"]}))
    case = ok(
        supervisor.post(
            f"cases/{case['id']}/escalate/", {"version": case["version"], "level": "柳州市", "reason": "区级无权限"}
        )
    )
    assert case["status"] == "escalated" and case["escalation_level"] == "柳州市"
    case = ok(
        supervisor.post(
            f"cases/{case['id']}/escalation-answer/", {"version": case["version"], "answer": "市局同意办理"}
        )
    )
    assert case["status"] == "accepted"


def test_not_accepted_with_reason_then_archived_and_withdrawn(county_a, staff_api):
    clerk = staff_api(county_a, "window_clerk")
    case = register(clerk, matter="涉诉事项")
    case = ok(
        clerk.post(f"cases/{case['id']}/not-accept/", {"version": case["version"], "reason": "该事项已进入诉讼程序"})
    )
    assert case["status"] == "not_accepted"
    ok(clerk.post(f"cases/{case['id']}/archive/", {"version": case["version"]}))
    other = register(clerk)
    other = ok(clerk.post(f"cases/{other['id']}/withdraw/", {"version": other["version"], "reason": "群众自行撤回"}))
    assert other["status"] == "withdrawn"


def test_two_clerks_at_once_only_one_wins(county_a, staff_api):
    first = staff_api(county_a, "window_clerk", username="clerk-one")
    second = staff_api(county_a, "window_clerk", username="clerk-two")
    case = register(first)
    assert first.post(f"cases/{case['id']}/accept/", {"version": case["version"]}).status_code == 200
    response = second.post(f"cases/{case['id']}/not-accept/", {"version": case["version"], "reason": "重复"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "casework.version_conflict"
    final = ok(first.get(f"cases/{case['id']}/"))
    assert final["status"] == "accepted" and actions(final) == ["registered", "accepted"]


def test_illegal_transitions_are_refused_with_a_clear_error(county_a, staff_api):
    clerk = staff_api(county_a, "window_clerk")
    case = register(clerk)
    response = clerk.post(f"cases/{case['id']}/archive/", {"version": case["version"]})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "casework.illegal_transition"
    assert "登记" in error["message"] or "已登记" in error["message"]
    assert ok(clerk.get(f"cases/{case['id']}/"))["version"] == case["version"]


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"departments": ["ghost"]}, "department_codes", "casework.unknown_reference"),
        ({"kind": "ghost"}, "kind", "casework.unknown_reference"),
        ({"citizen_phone": "12345"}, "citizen_phone", "casework.invalid"),
        ({"citizen_phone": "1381234567x"}, "citizen_phone", "casework.invalid"),
    ],
)
def test_bad_intake_is_refused_and_nothing_is_registered(county_a, staff_api, change, field, code):
    clerk = staff_api(county_a, "window_clerk")
    before = ok(clerk.get("cases/", {"limit": 200}))["results"]
    response = clerk.post("cases/create/", {**_body(), **change})
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"][0]["field"] == field
    assert re.search(r"[\u4e00-\u9fff]", error["message"])  # a message in Chinese for people
    assert ok(clerk.get("cases/", {"limit": 200}))["results"] == before


def test_missing_fields_are_named(county_a, staff_api):
    response = staff_api(county_a, "window_clerk").post("cases/create/", {"matter": "x"})
    assert response.status_code == 400
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert {"description", "citizen_name", "citizen_phone", "kind", "channel"} <= fields
    assert response.json()["error"]["details"][0]["message"] == "此项为必填项。"


def test_assigning_to_an_unknown_department_changes_nothing(county_a, staff_api):
    clerk = staff_api(county_a, "window_clerk")
    case = register(clerk)
    case = ok(clerk.post(f"cases/{case['id']}/accept/", {"version": case["version"]}))
    response = clerk.post(f"cases/{case['id']}/assign/", {"version": case["version"], "lead_department": "ghost"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "casework.unknown_reference"
    assert ok(clerk.get(f"cases/{case['id']}/"))["status"] == "accepted"


def test_citizen_submits_online_tracks_and_rates(county_a, staff_api, anonymous_api):
    citizen = anonymous_api(county_a)
    submitted = ok(citizen.post("public/submit/", {**_body(), "channel": "window"}), 201)
    code = submitted["tracking_code"]
    assert submitted["status"] == "registered"
    tracked = ok(citizen.post("public/track/", {"tracking_code": code.lower(), "phone_last4": "5678"}))
    assert tracked["number"] == submitted["number"]
    wrong = citizen.post("public/track/", {"tracking_code": code, "phone_last4": "0000"})
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "casework.lookup_failed"

    clerk = staff_api(county_a, "window_clerk")
    case = ok(clerk.get("cases/", {"q": submitted["number"]}))["results"][0]
    assert case["channel"] == "online"
    case = ok(clerk.post(f"cases/{case['id']}/accept/", {"version": case["version"]}))
    ok(clerk.post(f"cases/{case['id']}/reply/", {"version": case["version"], "method": "sms", "content": "已办结"}))
    rated = ok(citizen.post("public/rate/", {"tracking_code": code, "phone_last4": "5678", "level": 2}))
    assert rated["status"] == "reopened"
    again = citizen.post("public/rate/", {"tracking_code": code, "phone_last4": "5678", "level": 5})
    assert again.status_code == 409


def test_timeline_is_append_only_in_the_database(county_a, staff_api):
    case = register(staff_api(county_a, "window_clerk"))
    with tenant_context(county_a):
        event = CaseEvent.objects.get(case_id=case["id"])
        with pytest.raises(DatabaseError), transaction.atomic():
            CaseEvent.objects.filter(pk=event.pk).update(note="tampered")
        with pytest.raises(DatabaseError), transaction.atomic():
            CaseEvent.objects.filter(pk=event.pk).delete()


def test_case_numbers_are_sequential_per_county(county_a, county_b, staff_api):
    a = [register(staff_api(county_a, "window_clerk"))["number"] for _ in range(3)]
    b = register(staff_api(county_b, "window_clerk"), window="service-centre", departments=["gaj"])["number"]
    numbers = [int(n.rsplit("-", 1)[1]) for n in a]
    assert numbers == list(range(numbers[0], numbers[0] + 3))
    assert b.startswith("LJ-")


def test_phone_numbers_are_masked_for_roles_that_do_not_call_back(county_a, staff_api):
    case = register(staff_api(county_a, "window_clerk"))
    assert ok(staff_api(county_a, "leader").get(f"cases/{case['id']}/"))["citizen_phone"] == "138****5678"
    assert ok(staff_api(county_a, "supervisor").get(f"cases/{case['id']}/"))["citizen_phone"] == "13812345678"


def test_list_filters_and_search(county_a, staff_api):
    clerk = staff_api(county_a, "window_clerk")
    first = register(clerk, citizen_name="张三", citizen_phone="13700001111", channel="hotline_12345")
    register(clerk, citizen_name="李四", citizen_phone="13700002222")
    by_name = ok(clerk.get("cases/", {"q": "张三"}))["results"]
    assert [c["id"] for c in by_name] == [first["id"]]
    assert [c["id"] for c in ok(clerk.get("cases/", {"q": "13700001111"}))["results"]] == [first["id"]]
    hotline = ok(clerk.get("cases/", {"channel": "hotline_12345"}))["results"]
    assert first["id"] in [c["id"] for c in hotline] and all(c["channel"] == "hotline_12345" for c in hotline)
    assert ok(clerk.get("cases/", {"status": "registered", "window": "district-hall", "kind": "case"}))["results"]
    assert clerk.get("cases/", {"registered_from": "not-a-date"}).status_code == 400


@pytest.mark.parametrize("path", ["cases/", "assignments/"])
def test_an_offset_beyond_any_list_is_refused_not_a_server_error(county_a, staff_api, path):
    # Found by schemathesis (tests/test_api_fuzz.py): offset + limit overflowed PostgreSQL's bigint.
    supervisor = staff_api(county_a, "supervisor")
    response = supervisor.get(path, {"offset": "17354558616644206911815680"})
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "offset"
    assert supervisor.get(path, {"offset": str(2**31 - 1)}).status_code == 200


def _body():
    return {
        "matter": "办理食品经营许可",
        "description": "多次提交未获受理",
        "citizen_name": "王先生",
        "citizen_phone": "13812345678",
        "channel": "window",
        "kind": "case",
    }


def test_the_openapi_schema_documents_every_step(county_a, staff_api):
    response = staff_api(county_a, "supervisor").client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    reply = paths["/api/v1/cases/{case_id}/reply/"]["post"]
    schema_ref = reply["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = response.json()["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert {"version", "method", "content"} <= set(body["properties"])
    assert "/api/v1/cases/{case_id}/accept-and-assign/" in paths and "/api/v1/public/track/" in paths


def test_the_openapi_schema_generates_without_warnings_and_validates(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yml"))
    assert (tmp_path / "schema.yml").read_text(encoding="utf-8").startswith("openapi: 3")


def test_registration_answers_the_documented_row_and_does_not_audit_the_number_typed(county_a, staff_api):
    from banchengshi.audit.models import AuditRecord
    from casework.apis import CaseRegisterApi
    from casework.models import Case

    clerk = staff_api(county_a, "window_clerk")
    row = register(clerk, citizen_phone="13912340000")
    documented = set(CaseRegisterApi.OutputSerializer().fields)
    assert set(row) == documented and row["citizen_phone"] == "13912340000"
    with tenant_context(county_a):
        case = Case.objects.get(pk=row["id"])
        assert (row["number"], row["tracking_code"], row["version"]) == (case.number, case.tracking_code, 1)
        assert not AuditRecord.objects.filter(action="case.phone_viewed", object_id=row["id"]).exists()
        assert AuditRecord.objects.filter(action="case.registered", object_id=row["id"]).count() == 1


def test_a_co_handler_returns_its_part_and_another_department_joins_the_lead(county_a, staff_api):
    supervisor = staff_api(county_a, "supervisor")
    market = staff_api(county_a, "department_handler", "scjgj")
    street = staff_api(county_a, "department_handler", "chengzhong-office")
    case = register(supervisor)
    case = ok(
        supervisor.post(
            f"cases/{case['id']}/accept-and-assign/",
            {"version": case["version"], "lead_department": "tcj", "co_departments": ["scjgj"]},
        )
    )
    co = next(a for a in case["assignments"] if a["department"]["code"] == "scjgj")
    ok(market.post(f"assignments/{co['id']}/return/", {"reason": "属地事项，应由街道办理"}))
    case = ok(supervisor.get(f"cases/{case['id']}/"))
    assert case["status"] == "assigned"  # the lead still works on it
    busy = supervisor.post(f"cases/{case['id']}/co-handlers/", {"version": case["version"], "co_departments": ["tcj"]})
    assert busy.status_code == 400 and busy.json()["error"]["details"][0]["field"] == "co_departments"
    case = ok(
        supervisor.post(
            f"cases/{case['id']}/co-handlers/",
            {"version": case["version"], "co_departments": ["chengzhong-office"], "instructions": "协助核实"},
        )
    )
    assert case["status"] == "assigned" and actions(case)[-1] == "co_handlers_added"
    pending = {a["department"]["code"] for a in case["assignments"] if a["status"] == "pending"}
    assert pending == {"tcj", "chengzhong-office"}
    assert [a["case_id"] for a in ok(street.get("assignments/"))["results"]] == [case["id"]]
    refused = market.post(f"cases/{case['id']}/co-handlers/", {"version": case["version"], "co_departments": ["zsj"]})
    assert refused.status_code in {403, 404}
