"""整改台账 through the API: raise from cases, act, look back (回头看), relapse, and what is refused."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from casework.models import Finding
from casework.tests.factories import LIAO_REGISTRATION
from casework.tests.test_views import signed_in

pytestmark = pytest.mark.django_db


def ok(response, status=200):
    assert response.status_code == status, response.json()
    return response.json()


def finding_body(case_ids, **overrides):
    return {
        "title": "经营范围未列入行业分类", "cause": "list-missing", "department": "scjgj",
        "required_change": "梳理许可事项实施清单，补充“交通安全统筹”等经营范围表述。",
        "due_date": (timezone.localdate() + datetime.timedelta(days=30)).isoformat(), "case_ids": case_ids,
        **overrides,
    }  # fmt: skip


def test_a_finding_is_raised_rectified_relapses_and_is_verified(county_a, staff_api):
    supervisor = staff_api(county_a, "supervisor")
    market = staff_api(county_a, "department_handler", "scjgj")
    cases = [ok(supervisor.post("cases/create/", LIAO_REGISTRATION), 201) for _ in range(2)]
    finding = ok(supervisor.post("findings/create/", finding_body([c["id"] for c in cases])), 201)
    assert finding["status"] == "open" and not finding["overdue"]
    assert finding["case_numbers"] == sorted(c["number"] for c in cases)
    # The department it names sees it in its ledger; the timeline of each case says so.
    # (Other tests commit findings in this county for real: membership, not equality.)
    assert finding["id"] in [f["id"] for f in ok(market.get("findings/"))["results"]]
    events = ok(supervisor.get(f"cases/{cases[0]['id']}/"))["events"]
    assert events[-1]["action"] == "finding_raised"

    look = supervisor.post(f"findings/{finding['id']}/look-back/", {"held": True})
    assert look.status_code == 409 and look.json()["error"]["code"] == "casework.illegal_transition"
    finding = ok(supervisor.post(f"findings/{finding['id']}/actions/", {"description": "已修订实施清单"}))
    assert finding["status"] == "open" and len(finding["actions"]) == 1
    finding = ok(
        supervisor.post(f"findings/{finding['id']}/actions/", {"description": "已培训窗口", "rectified": True})
    )
    assert finding["status"] == "rectified"
    finding = ok(supervisor.post(f"findings/{finding['id']}/look-back/", {"held": False, "note": "同类问题再次出现"}))
    assert finding["status"] == "relapsed"
    finding = ok(supervisor.post(f"findings/{finding['id']}/actions/", {"description": "再次整改", "rectified": True}))
    finding = ok(supervisor.post(f"findings/{finding['id']}/look-back/", {"held": True}))
    assert finding["status"] == "verified" and [lb["held"] for lb in finding["look_backs"]] == [False, True]
    closed = supervisor.post(f"findings/{finding['id']}/actions/", {"description": "x"})
    assert closed.status_code == 409


def test_a_finding_past_its_due_date_and_not_rectified_is_overdue(county_a, staff_api):
    supervisor = staff_api(county_a, "supervisor")
    case = ok(supervisor.post("cases/create/", LIAO_REGISTRATION), 201)
    finding = ok(supervisor.post("findings/create/", finding_body([case["id"]])), 201)
    with tenant_context(county_a):
        Finding.objects.filter(pk=finding["id"]).update(due_date=timezone.localdate() - datetime.timedelta(days=1))
    assert ok(supervisor.get(f"findings/{finding['id']}/"))["overdue"]
    assert "已逾期" in signed_in(county_a, "supervisor").get("/ledger/").content.decode()
    ok(supervisor.post(f"findings/{finding['id']}/actions/", {"description": "已整改", "rectified": True}))
    assert not ok(supervisor.get(f"findings/{finding['id']}/"))["overdue"]


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"due_date": "2020-01-01"}, "due_date", "casework.invalid"),
        ({"due_date": "2099-01-01"}, "due_date", "casework.invalid"),
        ({"cause": "no-such-cause"}, "cause", "casework.unknown_reference"),
        ({"department": "no-such-dept"}, "department", "casework.unknown_reference"),
        ({"case_ids": ["00000000-0000-0000-0000-000000000000"]}, "case_ids", "casework.unknown_reference"),
        ({"title": "  "}, "title", None),
    ],
)
def test_a_bad_finding_is_refused_with_its_field_and_nothing_is_written(county_a, staff_api, overrides, field, code):
    supervisor = staff_api(county_a, "supervisor")
    case = ok(supervisor.post("cases/create/", LIAO_REGISTRATION), 201)
    with tenant_context(county_a):  # other tests commit findings here for real: count, do not assume none
        before = Finding.objects.count()
    response = supervisor.post("findings/create/", {**finding_body([case["id"]]), **overrides})
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert code is None or error["code"] == code
    assert field in {d.get("field") for d in error.get("details", [])} or field in str(error)
    with tenant_context(county_a):
        assert Finding.objects.count() == before


def test_another_countys_case_cannot_be_named_nor_its_finding_reached(county_a, county_b, staff_api):
    supervisor_a, supervisor_b = staff_api(county_a, "supervisor"), staff_api(county_b, "supervisor")
    case_b = ok(supervisor_b.post("cases/create/", {**LIAO_REGISTRATION, "window": "", "departments": []}), 201)
    refused = supervisor_a.post("findings/create/", finding_body([case_b["id"]]))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "casework.unknown_reference"
    case_a = ok(supervisor_a.post("cases/create/", LIAO_REGISTRATION), 201)
    finding = ok(supervisor_a.post("findings/create/", finding_body([case_a["id"]])), 201)
    assert supervisor_b.get(f"findings/{finding['id']}/").status_code == 404
    assert supervisor_b.post(f"findings/{finding['id']}/actions/", {"description": "x"}).status_code == 404
    assert supervisor_b.post(f"findings/{finding['id']}/look-back/", {"held": True}).status_code == 404
