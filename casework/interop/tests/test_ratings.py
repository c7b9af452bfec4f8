"""好差评: signed callbacks, per-dimension scores, and the rectification loop a 差评 starts."""

from __future__ import annotations

import datetime
import time

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context
from rest_framework.test import APIClient

from casework import services as casework
from casework.interop import services
from casework.interop.models import InteropSettings, RatingDetail, Rectification, RectificationStatus
from casework.interop.tests.conftest import host, issue, replied_case, signed_post, supervisor
from casework.models import CaseStatus, Rating, RatingSource
from notifications.models import Channel as NotificationChannel
from notifications.models import Notification
from reporting.selectors import Scope, figures
from sla.selectors import county_calendar

pytestmark = pytest.mark.django_db


def rating(case, rating_id: str, level: int, **extra):
    return {"rating_id": rating_id, "case_number": case.number, "level": level, **extra}


def test_a_bad_rating_by_callback_opens_the_loop_and_counts_in_the_figures(county_a):
    boss = supervisor(county_a)
    case = replied_case(county_a, boss)
    hcp = issue(county_a, "ratings", source="hcp")
    today = timezone.localdate()
    period = Scope(today - datetime.timedelta(days=1), today + datetime.timedelta(days=1))
    with tenant_context(county_a):
        before = figures(scope=period)
    response = signed_post(
        county_a, hcp,
        rating(case, "HCP-1", 1, comment="态度差", dimensions={"efficiency": 2, "attitude": 1, "competence": 3}),
    )  # fmt: skip
    body = response.json()
    assert response.status_code == 200, body
    assert body["is_bad"] is True and body["duplicate"] is False and body["rectification"]["status"] == "open"
    with tenant_context(county_a):
        loop = Rectification.objects.get(pk=body["rectification"]["id"])
        stored = loop.bad_rating
        assert stored.source == RatingSource.EXTERNAL and stored.level == 1 and stored.comment == "态度差"
        assert dict(RatingDetail.objects.filter(rating=stored).values_list("dimension", "score")) == {
            "efficiency": 2, "attitude": 1, "competence": 3,
        }  # fmt: skip
        # 15 working days on the county's own calendar, from the moment the loop opened.
        assert loop.due_at == county_calendar().add_working_days(loop.opened_at, 15).due_at
        case.refresh_from_db()
        assert case.status == CaseStatus.REOPENED
        sms = Notification.objects.get(key="rating.bad_callback")
        assert sms.channel == NotificationChannel.SMS and sms.address == case.citizen_phone
        assert case.number in sms.body
        task = Notification.objects.get(key="rating.bad_received", recipient=str(boss.pk))
        assert task.channel == NotificationChannel.INAPP and "非常不满意" in task.body
        numbers = figures(scope=period)
    # Exactly this one rating, counted as a 差评 in the county's figures (not yet rectified).
    assert (numbers.ratings, numbers.bad_ratings) == (before.ratings + 1, before.bad_ratings + 1)
    assert numbers.bad_rectified == before.bad_rectified


def test_the_follow_up_rating_after_rectification_closes_the_loop(county_a):
    boss = supervisor(county_a)
    case = replied_case(county_a, boss)
    hcp = issue(county_a, "ratings", source="hcp")
    loop_id = signed_post(county_a, hcp, rating(case, "HCP-20", 2)).json()["rectification"]["id"]
    with tenant_context(county_a):
        loop = services.rectification_called_back(actor=boss, rectification_id=loop_id, version=1, note="已致电道歉")
        loop = services.rectification_mark_rectified(
            actor=boss, rectification_id=loop_id, version=loop.version, note="窗口人员培训"
        )
        case.refresh_from_db()
        case = casework.case_assign(actor=boss, case_id=case.pk, version=case.version, lead_department_code="scjgj")
        casework.assignment_complete(actor=boss, assignment_id=case.assignments.get(status="pending").pk, result="重办")
        case.refresh_from_db()
        casework.case_reply(actor=boss, case_id=case.pk, version=case.version, method="phone", content="已重新办理")
    follow_up = signed_post(county_a, hcp, rating(case, "HCP-21", 5)).json()
    assert follow_up["rectification"]["status"] == "accepted" and follow_up["rectification"]["follow_up_level"] == 5
    with tenant_context(county_a):
        assert Rectification.objects.filter(case=case).count() == 1
        assert loop.called_back_at is not None and "窗口人员培训" in Rectification.objects.get(pk=loop_id).note
    # One follow-up rating per reply: a second one is refused by casework.
    again = signed_post(county_a, hcp, rating(case, "HCP-22", 4))
    assert again.status_code == 409 and again.json()["error"]["code"] == "casework.illegal_transition"


def test_a_repeated_callback_counts_once_and_a_replayed_request_is_refused(county_a):
    case = replied_case(county_a, supervisor(county_a))
    hcp = issue(county_a, "ratings", source="hcp")
    first = signed_post(county_a, hcp, rating(case, "HCP-30", 4), nonce="n-1")
    repeat = signed_post(county_a, hcp, rating(case, "HCP-30", 4), nonce="n-2")
    replay = signed_post(county_a, hcp, rating(case, "HCP-30", 4), nonce="n-1")
    assert first.status_code == 200 and first.json()["duplicate"] is False and first.json()["rectification"] is None
    assert repeat.status_code == 200 and repeat.json()["duplicate"] is True
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "interop.replayed"
    with tenant_context(county_a):
        assert Rating.objects.filter(case=case, source=RatingSource.EXTERNAL).count() == 1


def test_stale_forged_and_foreign_callbacks_are_refused(county_a, county_b):
    case = replied_case(county_a, supervisor(county_a))
    hcp = issue(county_a, "ratings", source="hcp")
    stale = signed_post(county_a, hcp, rating(case, "HCP-40", 5), at=int(time.time()) - 3600)
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "interop.stale_timestamp"
    forged = services.IssuedClient(client=hcp.client, api_key="", signing_secret="not-the-key")
    bad = signed_post(county_a, forged, rating(case, "HCP-41", 5))
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "interop.bad_signature"
    assert "签名" in bad.json()["error"]["message"]
    # A client of another county does not exist here; a client without the scope may not rate.
    foreign = signed_post(county_a, issue(county_b, "ratings", source="hcp"), rating(case, "HCP-42", 5))
    assert foreign.status_code == 401 and foreign.json()["error"]["code"] == "interop.not_authenticated"
    intake_only = signed_post(county_a, issue(county_a, "intake"), rating(case, "HCP-43", 5))
    assert intake_only.status_code == 403 and intake_only.json()["error"]["code"] == "interop.not_allowed"
    # Another county's case number names nothing here.
    other_case = replied_case(county_b, supervisor(county_b, "b-boss"))
    unknown = signed_post(county_a, hcp, rating(other_case, "HCP-44", 5))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "interop.not_found"


def test_bad_input_gets_a_chinese_message_and_a_stable_code(county_a):
    case = replied_case(county_a, supervisor(county_a))
    hcp = issue(county_a, "ratings", source="hcp")
    wrong_level = signed_post(county_a, hcp, rating(case, "HCP-50", 9))
    wrong_dimension = signed_post(county_a, hcp, rating(case, "HCP-51", 3, dimensions={"speed": 3}))
    assert wrong_level.status_code == 400 and wrong_level.json()["error"]["code"] == "validation_error"
    assert wrong_dimension.status_code == 400 and wrong_dimension.json()["error"]["code"] == "interop.invalid"
    assert "评分" in wrong_dimension.json()["error"]["message"]


def test_a_bad_rating_on_the_citizen_page_enters_the_loop_with_the_countys_deadline(county_a):
    boss = supervisor(county_a)
    case = replied_case(county_a, boss, phone="0772-1234567")
    with tenant_context(county_a):
        admin = supervisor(county_a, "interop-admin")
        admin.staff_profile.role = "county_admin"
        admin.staff_profile.save()
        services.interop_settings_set(actor=admin, rectification_working_days=5)
        casework.case_rate_by_citizen(case_id=case.pk, level=2, comment="跑了三次")
        assert services.rectifications_sync() == 1
        assert services.rectifications_sync() == 0
        loop = Rectification.objects.get(case=case)
        assert loop.status == RectificationStatus.OPEN
        assert loop.due_at == county_calendar().add_working_days(loop.opened_at, 5).due_at
        # A landline gets no SMS; the window's task is there all the same.
        assert not Notification.objects.filter(key="rating.bad_callback").exists()
        assert Notification.objects.filter(key="rating.bad_received", recipient=str(boss.pk)).exists()
        assert InteropSettings.objects.get().rectification_working_days == 5


def test_a_malformed_timestamp_is_refused_as_stale_not_a_server_error(county_a):
    hcp = issue(county_a, "ratings", source="hcp")
    api = APIClient(HTTP_HOST=host(county_a))
    for timestamp in ("\u00b2", "\u0661\u0662", "9" * 5000, "-1", " 1"):
        response = api.generic(
            "POST", "/interop/v1/ratings/", "{}", content_type="application/json", HTTP_X_KEY_ID=hcp.client.key_id,
            HTTP_X_TIMESTAMP=timestamp, HTTP_X_NONCE="n-ts", HTTP_X_SIGNATURE="sha256=00",
        )  # fmt: skip
        assert response.status_code == 401, (timestamp[:10], response.content)
        assert response.json()["error"]["code"] == "interop.stale_timestamp"
