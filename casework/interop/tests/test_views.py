"""The staff pages of the 差评 rectification loop, through real sessions on a county's host."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from casework import services as casework
from casework.interop.models import Rectification, RectificationStatus
from casework.interop.tests.conftest import issue, replied_case, signed_post, supervisor
from casework.models import Case, StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from casework.tests.test_views import signed_in
from conftest import host_of
from tests.markup import Markup

pytestmark = pytest.mark.django_db


def page(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def bad_loop(county: Any, name: str, *, phone: str = "13800001111") -> Rectification:
    """A replied case (handled by the market bureau, scjgj) rated 非常不满意 by the 好差评 system."""
    case = replied_case(county, supervisor(county, f"rv-{name}"), phone=phone)
    hcp = issue(county, "ratings", source=f"hcp-{name}")
    rating = {"rating_id": f"RV-{name}", "case_number": case.number, "level": 1, "comment": "推诿",
              "dimensions": {"attitude": 1, "efficiency": 2}}  # fmt: skip
    response = signed_post(county, hcp, rating)
    assert response.status_code == 200, response.content
    with tenant_context(county):
        return Rectification.objects.select_related("case").get(pk=response.json()["rectification"]["id"])


def redo(county: Any, case_id: Any) -> None:
    with tenant_context(county):
        boss: Any = UserFactory(username="rv-redo-boss")
        StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
        case = Case.objects.get(pk=case_id)
        case = casework.case_assign(actor=boss, case_id=case.pk, version=case.version, lead_department_code="scjgj")
        casework.assignment_complete(actor=boss, assignment_id=case.assignments.get(status="pending").pk, result="重办")
        case.refresh_from_db()
        casework.case_reply(actor=boss, case_id=case.pk, version=case.version, method="phone", content="已重新办理")


def due_in(county: Any, loop: Rectification, days: float) -> None:
    with tenant_context(county):
        Rectification.objects.filter(pk=loop.pk).update(due_at=timezone.now() + datetime.timedelta(days=days))


def test_the_list_puts_overdue_loops_first_then_the_nearest_deadline_and_closed_ones_apart(county_a):
    later, late, soon, done = (bad_loop(county_a, name) for name in ("later", "late", "soon", "done"))
    due_in(county_a, later, 9)
    due_in(county_a, late, -1)
    due_in(county_a, soon, 2)
    with tenant_context(county_a):
        Rectification.objects.filter(pk=done.pk).update(status=RectificationStatus.ACCEPTED, closed_at=timezone.now())
    clerk = signed_in(county_a, StaffRole.WINDOW_CLERK, username="rv-list-clerk")

    html = page(clerk.get("/work/"))
    assert 'href="/rectifications/"' in html and "差评整改" in html  # in the staff navigation
    html = page(clerk.get("/rectifications/"))
    running, closed = html.split('data-testid="closed"')
    mine = {x.case.number for x in (later, late, soon)}
    numbers = [n for n in re.findall(r"[A-Z]+-\d{4}-\d{6}", running) if n in mine]
    assert numbers == [late.case.number, soon.case.number, later.case.number]
    late_row = running[running.index(late.case.number) :].split("</tr>")[0]
    soon_row = running[running.index(soon.case.number) :].split("</tr>")[0]
    assert 'data-testid="overdue"' in late_row and "已超期" in late_row and "非常不满意" in late_row
    assert 'data-testid="overdue"' not in soon_row
    with tenant_context(county_a):
        soon.refresh_from_db()
    assert timezone.localtime(soon.due_at).strftime("%Y-%m-%d %H:%M") in soon_row
    assert done.case.number in closed and done.case.number not in running
    summary = re.search(r'data-testid="summary">进行中 (\d+) 件，已超期 (\d+) 件', html)
    assert summary is not None
    rows = running.count('data-testid="loop"')
    assert (int(summary[1]), int(summary[2])) == (rows, running.count('data-testid="overdue"')) and rows >= 3


def test_the_detail_offers_the_steps_its_status_allows_and_takes_them_through_the_services(county_a):
    loop = bad_loop(county_a, "steps", phone="13912340000")
    boss = signed_in(county_a, StaffRole.SUPERVISOR, username="rv-steps-boss")
    url = f"/rectifications/{loop.pk}/"
    html = page(boss.get(url))
    assert loop.case.number in html and "13912340000" in html  # the call-back needs the number
    assert "态度" in html and "推诿" in html  # the rating's comment and per-dimension scores
    assert "记录回访群众" in html and "标记为已整改" in html
    assert Markup(html).id_problems() == []  # one form a step: each with ids of its own

    response = boss.post(f"{url}called-back/", {"version": 1, "note": "已电话回访，群众同意整改方案"}, follow=True)
    html = page(response)
    assert "已电话回访，群众同意整改方案" in html
    with tenant_context(county_a):
        loop.refresh_from_db()
    assert loop.called_back_at is not None and loop.version == 2 and loop.status == RectificationStatus.OPEN

    # A form from before that change is refused, and changes nothing.
    html = page(boss.post(f"{url}rectified/", {"version": 1, "note": "旧页面"}, follow=True))
    assert "他人刚刚修改过，请刷新后重试。" in html
    with tenant_context(county_a):
        assert Rectification.objects.get(pk=loop.pk).status == RectificationStatus.OPEN

    html = page(boss.post(f"{url}rectified/", {"version": 2, "note": "已约谈窗口人员并上门办结"}, follow=True))
    with tenant_context(county_a):
        loop.refresh_from_db()
    assert loop.status == RectificationStatus.RECTIFIED and loop.rectified_at is not None
    assert 'data-testid="waiting"' in html and "记录回访群众" not in html  # nothing left but the citizen's rating
    assert boss.post(f"{url}rectified/", {"version": 3, "note": "再次"}).status_code == 302
    with tenant_context(county_a):
        assert Rectification.objects.get(pk=loop.pk).version == 3  # not possible any more: unchanged

    # The case is handled again (重办) and replied to; the citizen's follow-up rating by callback
    # closes the loop, and the list shows it among the closed.
    redo(county_a, loop.case_id)
    hcp = issue(county_a, "ratings", source="hcp-steps-2")
    follow_up = signed_post(county_a, hcp, {"rating_id": "RV-steps-2", "case_number": loop.case.number, "level": 5})
    assert follow_up.status_code == 200, follow_up.content
    html = page(boss.get(url))
    assert "非常满意" in html and "记录回访群众" not in html
    closed = page(boss.get("/rectifications/")).split('data-testid="closed"')[1]
    assert loop.case.number in closed
    with tenant_context(county_a):
        assert Rectification.objects.get(pk=loop.pk).status == RectificationStatus.ACCEPTED


ROLES = [
    (StaffRole.WINDOW_CLERK, "", True, True),
    (StaffRole.SUPERVISOR, "", True, True),
    (StaffRole.LEADER, "", True, False),
    (StaffRole.AUDITOR, "", True, False),
    (StaffRole.COUNTY_ADMIN, "", True, False),
    (StaffRole.DEPARTMENT_HANDLER, "scjgj", True, False),  # the department on the case
    (StaffRole.DEPARTMENT_HANDLER, "tcj", False, False),  # another department: the loop does not exist for it
]


@pytest.mark.parametrize(("role", "department", "sees", "acts"), ROLES)
def test_pages_by_role(county_a, role, department, sees, acts):
    loop = bad_loop(county_a, f"role-{role}-{department}", phone="13911112222")
    person = signed_in(county_a, role, department, username=f"rv-{role}-{department or 'all'}")
    listed = page(person.get("/rectifications/"))
    assert (loop.case.number in listed) is sees
    detail = person.get(f"/rectifications/{loop.pk}/")
    if not sees:
        assert detail.status_code == 404
        assert person.post(f"/rectifications/{loop.pk}/called-back/", {"version": 1, "note": "x"}).status_code == 404
        return
    html = page(detail)
    full = role in {StaffRole.WINDOW_CLERK, StaffRole.SUPERVISOR}
    assert ("13911112222" in html) is full and ("139****2222" in html) is not full
    assert ("记录回访群众" in html) is acts
    response = person.post(f"/rectifications/{loop.pk}/called-back/", {"version": 1, "note": "已回访"}, follow=True)
    with tenant_context(county_a):
        loop.refresh_from_db()
    assert (loop.called_back_at is not None) is acts
    if not acts:
        assert "角色" in page(response)  # the service refused: the role may not take this step


def test_people_who_are_not_this_countys_staff_reach_nothing(county_a, county_b):
    loop = bad_loop(county_a, "outsiders")
    theirs = bad_loop(county_b, "theirs")
    anonymous = Client(HTTP_HOST=host_of(county_a))
    for url in ("/rectifications/", f"/rectifications/{loop.pk}/"):
        response = anonymous.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert anonymous.post(f"/rectifications/{loop.pk}/called-back/", {"version": 1, "note": "x"}).status_code == 302
    with tenant_context(county_a):
        UserFactory(username="rv-no-role")  # an account without a casework role
    no_role = Client(HTTP_HOST=host_of(county_a))
    assert no_role.post("/accounts/login/", {"username": "rv-no-role", "password": "S3cure-pass!"}).status_code == 302
    assert no_role.get("/rectifications/").status_code == 403
    assert no_role.get(f"/rectifications/{loop.pk}/").status_code == 403
    # Another county's loop does not exist here, whatever the role.
    boss = signed_in(county_a, StaffRole.SUPERVISOR, username="rv-outsiders-boss")
    assert boss.get(f"/rectifications/{theirs.pk}/").status_code == 404
    assert boss.post(f"/rectifications/{theirs.pk}/called-back/", {"version": 1, "note": "x"}).status_code == 404
    assert boss.post(f"/rectifications/{loop.pk}/no-such-step/", {"version": 1, "note": "x"}).status_code == 404
    with tenant_context(county_b):
        assert Rectification.objects.get(pk=theirs.pk).called_back_at is None
