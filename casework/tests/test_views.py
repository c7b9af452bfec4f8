"""The staff and citizen pages, through real sessions on a county's host."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from banchengshi.accounts.services import SECOND_FACTOR
from casework import services
from casework.models import Case, Department
from casework.tests.factories import StaffProfileFactory, UserFactory
from conftest import host_of
from tests.markup import Markup

pytestmark = pytest.mark.django_db


def signed_in(county, role, department="", username="") -> Client:
    username = username or f"page-{role}-{department}"
    with tenant_context(county):
        user: Any = UserFactory(username=username)
        dept = Department.objects.get(code=department) if department else None
        StaffProfileFactory(user=user, role=role, department=dept)
    client = Client(HTTP_HOST=host_of(county))
    response = client.post("/accounts/login/", {"username": username, "password": "S3cure-pass!"})
    assert response.status_code == 302
    return client


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def register_on_page(clerk: Client, **overrides) -> str:
    data = {
        "matter": "开办餐饮店许可", "description": "跑了三次未办成", "citizen_name": "周先生",
        "citizen_phone": "13855556666", "kind": "case", "channel": "window", "window": "district-hall",
        "departments": ["scjgj"],
    }  # fmt: skip
    data.update(overrides)
    response = clerk.post("/cases/new/", data)
    assert response.status_code == 302, page(response)
    return response["Location"]


def test_clerk_registers_assigns_and_replies_through_the_pages(county_a):
    clerk = signed_in(county_a, "window_clerk")
    handler = signed_in(county_a, "department_handler", "scjgj")
    location = register_on_page(clerk)
    html = page(clerk.get(location, follow=True))
    assert "已登记" in html and "13855556666" in html and "受理" in html
    case_id = location.strip("/").split("/")[-1]
    with tenant_context(county_a):
        case = Case.objects.get(pk=case_id)

    response = clerk.post(
        f"/cases/{case_id}/step/accept_and_assign/",
        {"version": case.version, "lead_department": "scjgj", "instructions": "请办理"},
        follow=True,
    )
    assert "已转办" in page(response)

    html = page(handler.get("/work/"))
    assert case.number in html
    html = page(handler.get(f"/cases/{case_id}/"))
    assert "138****6666" in html  # handlers see the number masked
    with tenant_context(county_a):
        assignment = case.assignments.get()
    response = handler.post(f"/assignments/{assignment.pk}/complete/", {"text": "已核发许可证"}, follow=True)
    assert "部门已办结" in page(response)

    with tenant_context(county_a):
        case.refresh_from_db()
    response = clerk.post(
        f"/cases/{case_id}/step/reply/",
        {"version": case.version, "method": "phone", "content": "许可证已办好"},
        follow=True,
    )
    assert "已答复" in page(response)


def test_a_stale_form_shows_the_conflict_and_changes_nothing(county_a):
    clerk = signed_in(county_a, "window_clerk")
    case_id = register_on_page(clerk).strip("/").split("/")[-1]
    first = clerk.post(f"/cases/{case_id}/step/accept/", {"version": 1}, follow=True)
    assert "已受理" in page(first)
    second = clerk.post(f"/cases/{case_id}/step/not_accept/", {"version": 1, "reason": "重复"}, follow=True)
    assert "刚被他人修改" in page(second)
    with tenant_context(county_a):
        assert Case.objects.get(pk=case_id).status == "accepted"


def test_bad_phone_on_the_form_is_explained_in_chinese(county_a):
    clerk = signed_in(county_a, "window_clerk")
    form = {"matter": "x", "description": "y", "citizen_name": "z", "citizen_phone": "123"}
    html = page(clerk.post("/cases/new/", {**form, "kind": "case", "channel": "window"}))
    assert "请填写 11 位手机号码" in html
    with tenant_context(county_a):
        assert not Case.objects.filter(matter="x").exists()


def test_queues_differ_by_role(county_a):
    clerk = signed_in(county_a, "window_clerk")
    register_on_page(clerk, matter="窗口可见事项")
    assert "窗口可见事项" in page(clerk.get("/work/"))
    assert "窗口可见事项" in page(signed_in(county_a, "supervisor").get("/work/"))
    other_handler = signed_in(county_a, "department_handler", "tcj")
    assert "窗口可见事项" not in page(other_handler.get("/work/"))


def test_the_supervisors_queue_marks_what_is_late(county_a):
    """Sorted overdue first, and each late case says so (城中区's reply clock, not only resolution)."""
    clerk = signed_in(county_a, "window_clerk")
    register_on_page(clerk, matter="早已逾期事项")
    register_on_page(clerk, matter="尚未到期事项")
    with tenant_context(county_a):
        long_ago = timezone.now() - datetime.timedelta(days=30)
        Case.objects.filter(matter="早已逾期事项").update(reply_due_at=long_ago, accept_due_at=long_ago)
    html = page(signed_in(county_a, "supervisor").get("/work/"))
    late_row = html[html.index("早已逾期事项") : html.index("</tr>", html.index("早已逾期事项"))]
    on_time_row = html[html.index("尚未到期事项") : html.index("</tr>", html.index("尚未到期事项"))]
    assert 'data-testid="overdue"' in late_row and 'data-testid="overdue"' not in on_time_row
    assert html.index("早已逾期事项") < html.index("尚未到期事项")


def test_pages_need_a_login_and_a_role(county_a):
    anonymous = Client(HTTP_HOST=host_of(county_a))
    assert anonymous.get("/work/").status_code == 302
    with tenant_context(county_a):
        UserFactory(username="plain")
    plain = Client(HTTP_HOST=host_of(county_a))
    plain.post("/accounts/login/", {"username": "plain", "password": "S3cure-pass!"})
    assert plain.get("/work/").status_code == 403


def test_another_countys_case_page_is_404(county_a, county_b):
    clerk_b = signed_in(county_b, "window_clerk")
    location = register_on_page(clerk_b, window="service-centre", departments=["gaj"])
    clerk_a = signed_in(county_a, "supervisor")
    assert clerk_a.get(location).status_code == 404


def test_citizen_submits_and_tracks_on_the_pages(county_a):
    citizen = Client(HTTP_HOST=host_of(county_a))
    form = {"matter": "社保转移", "description": "线上办不了", "citizen_name": "吴女士", "citizen_phone": "13900007777"}
    html = page(citizen.post("/submit/", {**form, "kind": "case"}))
    found = re.search(r'data-testid="tracking-code">(\w+)<', html)
    assert found is not None
    code = found[1]
    html = page(citizen.post("/track/", {"tracking_code": code, "phone_last4": "7777"}))
    assert "已登记" in html and "社保转移" in html
    html = page(citizen.post("/track/", {"tracking_code": code, "phone_last4": "0000"}))
    assert "不匹配" in html


def test_a_form_sent_twice_registers_one_case(county_a):
    citizen = Client(HTTP_HOST=host_of(county_a))
    keys = [re.search(r'name="submission" value="(\w+)"', page(citizen.get("/submit/"))) for _ in range(2)]
    assert keys[0] and keys[1] and keys[0][1] != keys[1][1]  # one key per form shown
    form = {"matter": "重复提交", "description": "连点两次", "citizen_name": "郑女士", "citizen_phone": "13900008888",
            "kind": "case", "submission": keys[0][1]}  # fmt: skip
    codes = [re.search(r'data-testid="tracking-code">(\w+)<', page(citizen.post("/submit/", form))) for _ in range(2)]
    assert codes[0] and codes[1] and codes[0][1] == codes[1][1]
    clerk = signed_in(county_a, "window_clerk")
    token = re.search(r'name="submission" value="(\w+)"', page(clerk.get("/cases/new/")))
    assert token
    locations = [register_on_page(clerk, matter="双击登记", submission=token[1]) for _ in range(2)]
    assert locations[0] == locations[1]
    with tenant_context(county_a):
        assert Case.objects.filter(matter="重复提交").count() == 1
        assert Case.objects.filter(matter="双击登记").count() == 1


def test_citizen_form_errors_are_chinese(county_a):
    html = page(Client(HTTP_HOST=host_of(county_a)).post("/submit/", {"matter": ""}))
    assert "此项为必填项" in html


def test_supervisor_keeps_the_ledger_on_its_page(county_a):
    supervisor = signed_in(county_a, "supervisor")
    register_on_page(supervisor, matter="经营范围缺项")
    with tenant_context(county_a):
        number = Case.objects.get(matter="经营范围缺项").number
    response = supervisor.post(
        "/ledger/",
        {"title": "经营范围清单缺项", "cause": "list-missing", "department": "scjgj",
         "required_change": "补充经营范围清单", "due_date": timezone.localdate() + datetime.timedelta(days=60),
         "case_numbers": number},
        follow=True,
    )  # fmt: skip
    html = page(response)
    assert "经营范围清单缺项" in html and number in html and "整改中" in html
    with tenant_context(county_a):
        from casework.models import Finding

        finding = Finding.objects.get(title="经营范围清单缺项")
    html = page(
        supervisor.post(f"/ledger/{finding.pk}/action/", {"description": "已修订清单", "rectified": "on"}, follow=True)
    )
    assert "已整改" in html
    html = page(
        supervisor.post(f"/ledger/{finding.pk}/look_back/", {"held": "1", "note": "三个月未再发生"}, follow=True)
    )
    assert "回头看已核实" in html
    unknown = supervisor.post(
        "/ledger/",
        {"title": "x", "cause": "list-missing", "department": "scjgj", "required_change": "y",
         "due_date": timezone.localdate() + datetime.timedelta(days=60), "case_numbers": "CZ-1999-000001"},
    )  # fmt: skip
    assert "未知案件" in page(unknown)


def test_county_admin_adds_and_deactivates_staff_on_the_page(county_a):
    admin = signed_in(county_a, "county_admin")
    html = page(admin.post("/staff/", {"username": "newbie", "name": "新同事", "role": "department_handler",
                                       "department": "scjgj", "password": "Xk3!pass-2026"}, follow=True))  # fmt: skip
    assert "newbie" in html and "部门承办人" in html
    html = page(admin.post("/staff/", {"username": "nodept", "name": "x", "role": "department_handler",
                                       "password": "Xk3!pass-2026"}))  # fmt: skip
    assert "部门承办人须指定所属部门" in html
    with tenant_context(county_a):
        from casework.models import StaffProfile

        profile = StaffProfile.objects.get(user__username="newbie")
    html = page(admin.post(f"/staff/{profile.pk}/deactivate/", follow=True))
    assert "已停用" in html
    assert signed_in(county_a, "window_clerk").get("/staff/").status_code == 403


def test_extension_asked_and_approved_on_the_case_page(county_a):
    supervisor = signed_in(county_a, "supervisor")
    handler = signed_in(county_a, "department_handler", "scjgj")
    case_id = register_on_page(supervisor).strip("/").split("/")[-1]
    with tenant_context(county_a):
        case = Case.objects.get(pk=case_id)
    supervisor.post(f"/cases/{case_id}/step/accept_and_assign/", {"version": case.version, "lead_department": "scjgj"})
    html = page(
        handler.post(f"/cases/{case_id}/extension/request/", {"working_days": 2, "reason": "需要会商"}, follow=True)
    )
    assert "申请延期" in html
    html = page(supervisor.get(f"/cases/{case_id}/"))
    assert "需要会商" in html
    html = page(supervisor.post(f"/cases/{case_id}/extension/decide/", {"approve": "1", "note": "同意"}, follow=True))
    assert "同意延期" in html


def test_inbox_count_in_the_header_and_the_admins_undelivered_messages(county_a):
    from banchengshi.accounts.models import User
    from notifications.models import Channel as NotificationChannel
    from notifications.models import Notification, Status

    handler = signed_in(county_a, "department_handler", "scjgj", username="inbox-handler")
    supervisor = signed_in(county_a, "supervisor")
    case_id = register_on_page(supervisor).strip("/").split("/")[-1]
    with tenant_context(county_a):
        case = Case.objects.get(pk=case_id)
    supervisor.post(f"/cases/{case_id}/step/accept_and_assign/", {"version": case.version, "lead_department": "scjgj"})
    html = page(handler.get("/work/"))
    assert 'data-testid="unread">1<' in html
    html = page(handler.get("/inbox/"))
    assert case.number in html and "已转办贵部门" in html
    with tenant_context(county_a):
        handler_id = User.objects.get(username="inbox-handler").pk
        message = Notification.objects.get(channel=NotificationChannel.INAPP, recipient=str(handler_id))
        sms = Notification.objects.get(idempotency_key__startswith=str(case.pk), key="case.registered")
        Notification.objects.filter(pk=sms.pk).update(status=Status.FAILED, last_error="sms.http_503")
    page(handler.post(f"/inbox/{message.pk}/read/", follow=True))
    assert 'data-testid="unread"' not in page(handler.get("/work/"))

    admin = signed_in(county_a, "county_admin")
    html = page(admin.get("/outbox/"))
    assert "sms.http_503" in html and "138****6666" in html and "13855556666" not in html
    html = page(admin.post("/outbox/", {"notification": str(sms.pk)}, follow=True))
    assert "将重新发送" in html
    assert supervisor.get("/outbox/").status_code == 403


def test_a_promotion_on_the_staff_page_shows_the_enrollment_code_once(county_a, settings):
    admin = signed_in(county_a, "county_admin", username="page-promoter")
    with tenant_context(county_a):
        from casework.models import StaffProfile

        profile = StaffProfileFactory(user=UserFactory(username="page-promoted"), role="window_clerk")
    # From now on; the admin's session is already signed in, as with its second factor (a
    # password-only session of a role that needs one would now end).
    session = admin.session
    session[SECOND_FACTOR] = True
    session.save()
    settings.ACCOUNTS_TWO_FACTOR_ENFORCED = True
    html = page(admin.post(f"/staff/{profile.pk}/role/", {"role": "supervisor", "department": ""}, follow=True))
    assert "绑定码" in html
    code = re.search(r"[0-9A-Z]{5}-[0-9A-Z]{5}", html)
    assert code is not None, html
    assert code.group(0) not in page(admin.get("/staff/"))  # shown once
    with tenant_context(county_a):
        assert StaffProfile.objects.get(pk=profile.pk).user.enrollment_code_hash


def test_every_step_has_its_form_and_its_service():
    """A step the workflow offers on the case page can be taken there."""
    from casework.forms import STEP_FORMS
    from casework.views import STEP_SERVICES
    from casework.workflow import STEP_LABELS, STEPS, Step

    assert set(STEP_FORMS) == set(STEP_SERVICES) == set(STEPS) == set(STEP_LABELS) == set(Step)


def test_the_supervisor_adds_a_co_handler_on_the_case_page(county_a):
    supervisor = signed_in(county_a, "supervisor")
    location = register_on_page(supervisor, matter="增加协办")
    with tenant_context(county_a):
        case = Case.objects.get(matter="增加协办")
        case = services.case_accept_and_assign(
            actor=case.registered_by, case_id=case.pk, version=case.version, lead_department_code="tcj"
        )
    assert "增加协办单位" in page(supervisor.get(location))
    response = supervisor.post(
        f"{location}step/add_co_handlers/", {"version": case.version, "co_departments": ["scjgj"]}, follow=True
    )
    assert response.status_code == 200
    with tenant_context(county_a):
        assert set(case.assignments.values_list("department__code", flat=True)) == {"tcj", "scjgj"}


def test_a_page_refused_or_missing_is_a_chinese_page_fit_for_a_phone(county_a):
    """Not Django's English "403 Forbidden" at 981px: a clerk tapping 工作人员, a mistyped address."""
    clerk = signed_in(county_a, "window_clerk")
    for path, status, said in (("/staff/", 403, "无权"), ("/no-such-page/", 404, "没有这个页面")):
        response = clerk.get(path)
        html = response.content.decode()
        assert response.status_code == status and said in html, path
        assert 'name="viewport"' in html and "Forbidden" not in html and "Not Found" not in html
    api = clerk.get("/api/v1/no-such-route/")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_each_step_form_on_the_case_page_has_ids_of_its_own(county_a):
    supervisor = signed_in(county_a, "supervisor")
    location = register_on_page(signed_in(county_a, "window_clerk"), matter="多表单页面")
    html = page(supervisor.get(location))
    ids = re.findall(r'\sid="(id_[^"]+)"', html)
    assert len(ids) > 5 and len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_after_rating_the_citizen_stays_on_their_case(county_a):
    clerk = signed_in(county_a, "window_clerk")
    register_on_page(clerk, matter="评价后仍见案件", citizen_phone="13855554321")
    with tenant_context(county_a):
        case = Case.objects.get(matter="评价后仍见案件")
        boss = UserFactory(username="rate-boss")
        StaffProfileFactory(user=boss, role="supervisor")
        case = services.case_accept(actor=boss, case_id=case.pk, version=case.version)
        case = services.case_reply(actor=boss, case_id=case.pk, version=case.version, method="sms", content="已办结")
    citizen = Client(HTTP_HOST=host_of(county_a), REMOTE_ADDR="203.0.113.91")
    response = citizen.post("/track/rate/", {"tracking_code": case.tracking_code, "phone_last4": "4321", "level": "5"})
    html = page(response)
    assert response.status_code == 200 and "感谢" in html and case.number in html


def test_the_staff_link_is_offered_only_to_the_county_admin(county_a):
    assert 'href="/staff/"' not in page(signed_in(county_a, "window_clerk").get("/work/"))
    assert 'href="/staff/"' not in page(signed_in(county_a, "supervisor").get("/work/"))
    assert 'href="/staff/"' in page(signed_in(county_a, "county_admin").get("/work/"))


def test_forms_repeated_per_row_have_ids_of_their_own(county_a):
    """A result form per pending assignment, a role form per staff member, an action form per finding:
    each with ids of its own, so that every label leads to its own row's field."""
    clerk = signed_in(county_a, "window_clerk", username="rows-clerk")
    supervisor = signed_in(county_a, "supervisor", username="rows-supervisor")
    handler = signed_in(county_a, "department_handler", "scjgj", username="rows-handler")
    location = register_on_page(clerk, matter="两个部门一起办")
    case_id = location.strip("/").split("/")[-1]
    with tenant_context(county_a):
        version = Case.objects.get(pk=case_id).version
    clerk.post(
        f"/cases/{case_id}/step/accept_and_assign/",
        {"version": version, "lead_department": "scjgj", "co_departments": ["tcj"]},
    )
    handler.post(f"/cases/{case_id}/extension/request/", {"working_days": 2, "reason": "需要会商"})
    problems = {}
    html = page(supervisor.get(location))
    assert html.count('name="text"') == 2  # the supervisor may finish either department's assignment
    problems["case"] = Markup(html).id_problems()

    admin = signed_in(county_a, "county_admin", username="rows-admin")
    html = page(admin.get("/staff/"))
    assert html.count("/role/") >= 3  # rows-clerk, rows-supervisor, rows-handler
    problems["staff"] = Markup(html).id_problems()
    with tenant_context(county_a):
        from casework.models import StaffProfile

        handler_id = StaffProfile.objects.get(user__username="rows-handler").pk
    # Each person's form starts at the person's own role and department.
    own = re.search(rf'id="id_staff_{handler_id}_department">(.*?)</select>', html, re.S)
    assert own is not None and '<option value="scjgj" selected>' in own.group(1)

    numbers = []
    for matter in ("台账一", "台账二"):
        register_on_page(clerk, matter=matter)
        with tenant_context(county_a):
            numbers.append(Case.objects.get(matter=matter).number)
    for title, number in zip(("目录缺项", "流程不清"), numbers, strict=True):
        supervisor.post(
            "/ledger/",
            {"title": title, "cause": "list-missing", "department": "scjgj", "required_change": "补充",
             "due_date": timezone.localdate() + datetime.timedelta(days=60), "case_numbers": number},
        )  # fmt: skip
    with tenant_context(county_a):
        from casework.models import Finding

        rectified = Finding.objects.get(title="目录缺项")
    supervisor.post(f"/ledger/{rectified.pk}/action/", {"description": "已修订", "rectified": "on"})
    html = page(supervisor.get("/ledger/"))
    assert html.count('name="description"') >= 2 and 'name="held"' in html
    problems["ledger"] = Markup(html).id_problems()
    assert {name: found for name, found in problems.items() if found} == {}


@pytest.mark.parametrize("path", ["/submit/", "/cases/new/"])
def test_a_field_with_errors_points_at_its_error_text(county_a, clean_cache, path):
    """aria-invalid and aria-describedby: a screen reader reads a field's error with the field,
    a checkbox group's with its group (the citizen's form and the clerk's share their fields)."""
    client = signed_in(county_a, "window_clerk") if path == "/cases/new/" else Client(HTTP_HOST=host_of(county_a))
    html = page(client.post(path, {"departments": ["no-such-department"]}))
    markup = Markup(html)
    invalid = {e.attrs["name"] for e in markup.invalid_fields()}
    assert {"matter", "citizen_phone", "departments"} <= invalid
    assert markup.error_problems() == []
    assert "此项为必填项" in markup.error_of("id_citizen_phone")
    assert "no-such-department" in markup.error_of("id_departments_0")
    assert markup.id_problems() == []


def test_a_step_form_sent_with_errors_comes_back_open_with_its_errors_at_its_fields(county_a):
    clerk = signed_in(county_a, "window_clerk")
    supervisor = signed_in(county_a, "supervisor")
    location = register_on_page(clerk, matter="表单出错")
    case_id = location.strip("/").split("/")[-1]
    with tenant_context(county_a):
        version = Case.objects.get(pk=case_id).version

    html = page(clerk.post(f"/cases/{case_id}/step/not_accept/", {"version": version, "reason": ""}))
    markup = Markup(html)
    assert "此项为必填项" in markup.error_of("id_not_accept_reason")
    assert "open" in markup.by_id()["id_not_accept_reason"].enclosing("details").attrs
    assert markup.error_problems() == [] and markup.id_problems() == []

    with tenant_context(county_a):
        case = services.case_accept_and_assign(
            actor=Case.objects.get(pk=case_id).registered_by, case_id=case_id, version=version,
            lead_department_code="tcj",
        )  # fmt: skip
    html = page(supervisor.post(f"/cases/{case_id}/step/add_co_handlers/", {"version": case.version}))
    markup = Markup(html)
    assert "此项为必填项" in markup.error_of("id_add_co_handlers_co_departments_0")  # told by its group
    assert markup.error_problems() == [] and markup.id_problems() == []
    with tenant_context(county_a):
        assert Case.objects.get(pk=case_id).version == case.version  # nothing changed


def test_a_role_change_sent_with_errors_comes_back_open_in_its_row(county_a):
    """The person's form comes back open, with what was chosen and its error at its field; other rows as they were."""
    admin = signed_in(county_a, "county_admin", username="roles-admin")
    with tenant_context(county_a):
        from casework.models import StaffProfile

        target = StaffProfileFactory(user=UserFactory(username="roles-target"), role="window_clerk")
        other = StaffProfileFactory(user=UserFactory(username="roles-other"), role="window_clerk")
    url = f"/staff/{target.pk}/role/"

    # The form's own check (an unknown role) and the county's rule (a handler needs a department).
    for sent, field in (({"role": "no-such-role", "department": "scjgj"}, "role"),
                        ({"role": "department_handler", "department": ""}, "department")):  # fmt: skip
        markup = Markup(page(admin.post(url, sent)))
        assert markup.error_problems() == [] and markup.id_problems() == []
        assert [e.attrs["id"] for e in markup.invalid_fields()] == [f"id_staff_{target.pk}_{field}"]
        assert markup.error_of(f"id_staff_{target.pk}_{field}")
        role = markup.by_id()[f"id_staff_{target.pk}_role"]
        assert "open" in role.enclosing("details").attrs and role.enclosing("form").attrs["action"] == url
        assert "open" not in markup.by_id()[f"id_staff_{other.pk}_role"].enclosing("details").attrs
    html = page(admin.post(url, {"role": "department_handler", "department": ""}))
    chosen = re.search(rf'id="id_staff_{target.pk}_role">(.*?)</select>', html, re.S)
    assert chosen is not None and '<option value="department_handler" selected>' in chosen.group(1)
    with tenant_context(county_a):
        assert StaffProfile.objects.get(pk=target.pk).role == "window_clerk"  # nothing changed
