"""The outbox and its delivery, against a real HTTP SMS provider on loopback."""

from __future__ import annotations

import datetime
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from banchengshi.core.redis_client import shared_redis
from casework import services as casework
from casework.models import StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from notifications import services
from notifications.channels import signature_of
from notifications.models import Channel, Notification, Status
from notifications.selectors import inbox_unread_count

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Provider:
    """A fake SMS provider that is a real HTTP server: records each message, answers as told."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.signatures_ok: list[bool] = []
        self.answers: list[int] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = signature_of(
                    secret="test-secret", timestamp=self.headers["X-Timestamp"], nonce=self.headers["X-Nonce"],
                    body=body,
                )  # fmt: skip
                provider.signatures_ok.append(hmac.compare_digest(expected, self.headers["X-Signature"]))
                status = provider.answers.pop(0) if provider.answers else 200
                if status == 200:
                    message = json.loads(body)
                    # Like real providers: the same client id is accepted once.
                    if message["id"] not in {m["id"] for m in provider.received}:
                        provider.received.append(message)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def provider(settings) -> Iterator[Provider]:
    running = Provider()
    settings.SMS_BACKEND = "notifications.channels.HttpSmsBackend"
    settings.SMS_ENDPOINT = running.url
    settings.SMS_SECRET = "test-secret"
    settings.SMS_QUIET_HOURS = (24, 0)  # never quiet, except in the quiet-hours test
    yield running
    running.server.shutdown()


def _register(county, urgent=False):
    boss = UserFactory(username=f"boss-{county.slug}-{urgent}")
    StaffProfileFactory(user=boss, role=StaffRole.SUPERVISOR)
    intake = casework.CaseIntake(
        matter="营业执照", description="x", citizen_name="吴女士", citizen_phone="13912345678",
        channel="window", kind_code="case", is_urgent=urgent,
    )  # fmt: skip
    return boss, casework.case_register(actor=boss, intake=intake)


def test_registration_puts_the_tracking_code_sms_in_the_outbox_and_it_arrives_once(county_a, provider):
    with tenant_context(county_a):
        _boss, case = _register(county_a)
        (sms,) = Notification.objects.filter(channel=Channel.SMS, idempotency_key__startswith=str(case.pk))
        assert sms.address == "13912345678" and case.tracking_code in sms.body and "柳州市城中区" in sms.body
        assert services.notification_deliver(notification_id=sms.pk) == "sent"
        assert services.notification_deliver(notification_id=sms.pk) == "skipped"  # a duplicated task
    assert len(provider.received) == 1 and all(provider.signatures_ok)
    assert provider.received[0]["text"] == sms.body and provider.received[0]["to"] == "13912345678"


def test_the_same_event_is_written_once(county_a, provider):
    with tenant_context(county_a):
        values = {"county": "x", "matter": "y", "number": "z", "tracking_code": "t"}
        first = services.notification_enqueue(
            key="case.registered", channel=Channel.SMS, recipient="13900000000", values=values, idempotency_key="k"
        )
        again = services.notification_enqueue(
            key="case.registered", channel=Channel.SMS, recipient="13900000000", values=values, idempotency_key="k"
        )
    assert first is not None and again is None


def test_transient_errors_back_off_and_end_failed_permanent_ones_fail_at_once(county_a, provider):
    with tenant_context(county_a):
        _boss, case = _register(county_a)
        sms = Notification.objects.get(channel=Channel.SMS, idempotency_key__startswith=str(case.pk))
        provider.answers = [503]
        assert services.notification_deliver(notification_id=sms.pk) == "retry"
        sms.refresh_from_db()
        assert sms.attempts == 1 and sms.next_attempt_at > timezone.now() and sms.last_error == "sms.http_503"
        assert "13912345678" not in sms.last_error
        provider.answers = [503] * 10
        for _ in range(services.MAX_ATTEMPTS - 1):
            Notification.objects.filter(pk=sms.pk).update(next_attempt_at=timezone.now())
            outcome = services.notification_deliver(notification_id=sms.pk)
        sms.refresh_from_db()
        assert outcome == "failed" and sms.status == Status.FAILED
        # The county admin retries it; the provider is back.
        provider.answers = []
        services.notification_retry(notification_id=sms.pk)
        assert services.notification_deliver(notification_id=sms.pk) == "sent"

        Notification.objects.filter(pk=sms.pk).update(status=Status.PENDING, idempotency_key="other")
        provider.answers = [400]
        assert services.notification_deliver(notification_id=sms.pk) == "failed"
    assert len(provider.received) == 1


def test_citizen_sms_waits_for_the_end_of_quiet_hours_unless_urgent(county_a, provider, settings, monkeypatch):
    settings.SMS_QUIET_HOURS = (22, 8)
    late_evening = datetime.datetime(2026, 11, 23, 23, 15, tzinfo=SHANGHAI)
    monkeypatch.setattr(timezone, "now", lambda: late_evening)
    with tenant_context(county_a):
        _boss, normal_case = _register(county_a)
        _boss, urgent_case = _register(county_a, urgent=True)
        held = Notification.objects.get(idempotency_key__startswith=str(normal_case.pk))
        urgent = Notification.objects.get(idempotency_key__startswith=str(urgent_case.pk))
    assert timezone.localtime(held.next_attempt_at) == datetime.datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI)
    assert urgent.next_attempt_at == late_evening


def test_an_sms_due_before_quiet_hours_but_taken_after_22_waits_until_8(county_a, provider, settings, monkeypatch):
    """Written at 21:59, queued behind a backlog (or by the relay) and taken by a worker at 22:01:
    the citizen's phone must not ring at night. It waits until 08:00; an urgent one goes out."""
    settings.SMS_QUIET_HOURS = (22, 8)
    clock = {"now": datetime.datetime(2026, 11, 23, 21, 59, tzinfo=SHANGHAI)}
    monkeypatch.setattr(timezone, "now", lambda: clock["now"])
    with tenant_context(county_a):
        _boss, normal_case = _register(county_a)
        _boss, urgent_case = _register(county_a, urgent=True)
        values = {"county": "x", "matter": "y", "number": "z", "tracking_code": "t"}
        services.notification_enqueue(
            key="case.registered", channel=Channel.SMS, recipient="13900000000", values=values,
            idempotency_key="before-22",
        )  # fmt: skip
        held = Notification.objects.get(idempotency_key__startswith=str(normal_case.pk))
        urgent = Notification.objects.get(idempotency_key__startswith=str(urgent_case.pk))
        relayed = Notification.objects.get(idempotency_key="before-22")
        assert held.next_attempt_at == clock["now"]  # due before quiet hours begin

        clock["now"] = datetime.datetime(2026, 11, 23, 22, 1, tzinfo=SHANGHAI)
        assert services.notification_deliver(notification_id=held.pk) == "held"
        assert services.notification_deliver(notification_id=urgent.pk) == "sent"
        held.refresh_from_db()
        assert held.status == Status.PENDING and held.attempts == 0
        assert timezone.localtime(held.next_attempt_at) == datetime.datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI)
        # The relay's minute after 22:00: nothing to queue for the night, the morning has it.
        assert services.notifications_relay(limit=10_000) == []
        relayed.refresh_from_db()
        assert timezone.localtime(relayed.next_attempt_at) == datetime.datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI)

        clock["now"] = datetime.datetime(2026, 11, 24, 8, 0, 30, tzinfo=SHANGHAI)
        assert {held.pk, relayed.pk} <= set(services.notifications_relay(limit=10_000))
        assert services.notification_deliver(notification_id=held.pk) == "sent"
    assert [m["id"] for m in provider.received] == [urgent.idempotency_key, held.idempotency_key]


def test_the_relay_finds_what_the_queue_missed(county_a, provider):
    with tenant_context(county_a):
        _boss, case = _register(county_a)
        due = services.notifications_relay(limit=10_000)
        assert Notification.objects.get(idempotency_key__startswith=str(case.pk)).pk in due


def _record_publishes(monkeypatch) -> list[tuple[str, str]]:
    """The tasks the outbox queues (still sent to Redis), as (task, county schema)."""
    sent: list[tuple[str, str]] = []
    real = services.county_apply_async

    def recording(task, *, schema_name, kwargs=None):
        sent.append((task.name, schema_name))
        real(task, schema_name=schema_name, kwargs=kwargs)

    monkeypatch.setattr(services, "county_apply_async", recording)
    return sent


def test_a_burst_of_new_messages_wakes_one_flush_which_queues_them_all(
    county_a, provider, monkeypatch, django_capture_on_commit_callbacks
):
    sent = _record_publishes(monkeypatch)
    flush = ("notifications.flush", county_a.schema_name)
    with tenant_context(county_a):
        boss, _case = _register(county_a)
        shared_redis().delete(services._wake_key(county_a.schema_name))
        intake = casework.CaseIntake(
            matter="营业执照", description="x", citizen_name="吴女士", citizen_phone="13912345678",
            channel="window", kind_code="case",
        )  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            burst = [casework.case_register(actor=boss, intake=intake) for _ in range(3)]
        assert sent == [flush]  # three messages committed, one task: the others ride along

        queued = services.notifications_flush()  # what the worker runs
        messages = [Notification.objects.get(idempotency_key__startswith=str(case.pk)).pk for case in burst]
        assert set(messages) <= set(queued)
        assert Notification.objects.filter(pk__in=messages, relayed_at__isnull=False).count() == len(messages)

        # The flush took the flag down before reading: a message after it wakes the next flush.
        with django_capture_on_commit_callbacks(execute=True):
            casework.case_register(actor=boss, intake=intake)
        assert sent.count(flush) == 2


def test_a_message_written_while_redis_is_down_is_kept_and_the_relay_queues_it(
    county_a, provider, settings, django_capture_on_commit_callbacks, caplog
):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    with tenant_context(county_a):
        with django_capture_on_commit_callbacks(execute=True):
            _boss, case = _register(county_a)  # the wake fails after commit; the request does not
        sms = Notification.objects.get(idempotency_key__startswith=str(case.pk))
        assert "relay will send them" in caplog.text
        assert sms.pk in services.notifications_relay(limit=10_000)


def test_assignment_reaches_the_department_handlers_inbox(county_a, provider):
    with tenant_context(county_a):
        handler = UserFactory(username="market-handler")
        from casework.models import Department

        StaffProfileFactory(
            user=handler, role=StaffRole.DEPARTMENT_HANDLER, department=Department.objects.get(code="scjgj")
        )
        boss, case = _register(county_a)
        casework.case_accept_and_assign(actor=boss, case_id=case.pk, version=case.version, lead_department_code="scjgj")
        assert inbox_unread_count(user_id=handler.pk) == 1
        message = Notification.objects.get(channel=Channel.INAPP, recipient=str(handler.pk))
        assert case.number in message.body and message.status == Status.SENT
        services.inbox_mark_read(user_id=handler.pk, notification_id=message.pk)
        assert inbox_unread_count(user_id=handler.pk) == 0


def test_messages_are_chinese(county_a, provider):
    with tenant_context(county_a):
        _boss, case = _register(county_a)
        sms = Notification.objects.get(idempotency_key__startswith=str(case.pk))
    assert sms.body.startswith("【柳州市城中区】您反映的“营业执照”已登记")


def test_an_approved_extension_tells_the_citizen_and_overdue_tells_the_supervisors(county_a, provider):
    from casework.models import Department
    from sla.sweep.models import DeadlineEntry
    from sla.sweep.services import due_entries

    with tenant_context(county_a):
        handler = UserFactory(username="ext-handler")
        StaffProfileFactory(
            user=handler, role=StaffRole.DEPARTMENT_HANDLER, department=Department.objects.get(code="scjgj")
        )
        boss, case = _register(county_a)
        case = casework.case_classify(actor=boss, case_id=case.pk, version=case.version, category_code="complex")
        case = casework.case_accept_and_assign(
            actor=boss, case_id=case.pk, version=case.version, lead_department_code="scjgj"
        )
        request = casework.extension_request(actor=handler, case_id=case.pk, working_days=3, reason="需要现场核查")
        casework.extension_decide(actor=boss, request_id=request.pk, approve=True)
        sms = Notification.objects.get(idempotency_key=f"{case.pk}:extension:{request.pk}:sms")
        assert "延长3个工作日" in sms.body and "需要现场核查" in sms.body

        past = timezone.now() - datetime.timedelta(hours=1)
        DeadlineEntry.objects.filter(case_id=case.pk).update(due_at=past, warn_at=None, next_check_at=past)
        casework.deadline_events_fire(entry_ids=due_entries(now=timezone.now())[county_a.schema_name])
        overdue = Notification.objects.get(channel=Channel.INAPP, recipient=str(boss.pk), key="deadline.overdue")
        assert case.number in overdue.body and "已逾期" in overdue.body


def test_a_retry_never_lands_in_quiet_hours(county_a, provider, settings, monkeypatch):
    settings.SMS_QUIET_HOURS = (22, 8)
    evening = datetime.datetime(2026, 11, 23, 21, 59, 50, tzinfo=SHANGHAI)
    monkeypatch.setattr(timezone, "now", lambda: evening)
    with tenant_context(county_a):
        _boss, case = _register(county_a)
        sms = Notification.objects.get(idempotency_key__startswith=str(case.pk))
        provider.answers = [503]
        assert services.notification_deliver(notification_id=sms.pk) == "retry"
        sms.refresh_from_db()
    assert timezone.localtime(sms.next_attempt_at) == datetime.datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI)


def test_an_unexpected_error_backs_off_instead_of_looping(county_a, provider, settings):
    settings.SMS_ENDPOINT = "not a url"
    with tenant_context(county_a):
        _boss, case = _register(county_a)
        sms = Notification.objects.get(idempotency_key__startswith=str(case.pk))
        assert services.notification_deliver(notification_id=sms.pk) == "retry"
        sms.refresh_from_db()
    assert sms.attempts == 1 and sms.last_error == "unexpected.ValueError" and sms.next_attempt_at > timezone.now()


def test_a_county_rewords_a_message_with_the_values_it_has(county_a, provider):
    from notifications.errors import NotificationsError

    with tenant_context(county_a):
        services.message_template_set(
            key="case.registered", subject="", body="【城中区办不成事窗口】{matter}已登记，查询码{tracking_code}。"
        )
        _boss, case = _register(county_a)
        sms = Notification.objects.get(idempotency_key__startswith=str(case.pk))
        assert sms.body == f"【城中区办不成事窗口】营业执照已登记，查询码{case.tracking_code}。"
        with pytest.raises(NotificationsError) as caught:
            services.message_template_set(key="case.registered", subject="", body="{citizen_id_number}")
        assert caught.value.code == "notifications.template_invalid"


@pytest.mark.parametrize("body", ["{number!x}", "{number:d}", "{}", "{0}", "{number.real}", "{number[0]}", "{number前"])
def test_a_template_that_would_fail_to_render_is_refused_and_registrations_go_on(county_a, provider, body):
    from notifications.errors import NotificationsError

    with tenant_context(county_a):
        with pytest.raises(NotificationsError) as caught:
            services.message_template_set(key="case.registered", subject="", body=body)
        assert caught.value.code == "notifications.template_invalid"
        _boss, case = _register(county_a)  # the default text still serves
        assert Notification.objects.filter(idempotency_key__startswith=str(case.pk)).exists()


def test_acceptance_materials_and_returns_are_announced(county_a, provider):
    from casework.models import Department

    with tenant_context(county_a):
        clerk = UserFactory(username="ann-clerk")
        StaffProfileFactory(user=clerk, role=StaffRole.WINDOW_CLERK)
        handler = UserFactory(username="ann-handler")
        StaffProfileFactory(
            user=handler, role=StaffRole.DEPARTMENT_HANDLER, department=Department.objects.get(code="tcj")
        )
        boss, case = _register(county_a)
        case = casework.case_accept(actor=boss, case_id=case.pk, version=case.version)
        case = casework.case_request_materials(actor=boss, case_id=case.pk, version=case.version, note="营业场所证明")
        case = casework.case_materials_received(actor=boss, case_id=case.pk, version=case.version)
        case = casework.case_assign(actor=boss, case_id=case.pk, version=case.version, lead_department_code="tcj")
        casework.assignment_return(actor=handler, assignment_id=case.assignments.get().pk, reason="非本局职责")
        texts = list(Notification.objects.filter(idempotency_key__startswith=str(case.pk)).values_list("key", "body"))
    keys = [key for key, _body in texts]
    assert {"case.registered", "case.accepted", "case.materials_requested", "case.assigned", "case.returned"} <= set(
        keys
    )
    assert any("营业场所证明" in body for key, body in texts if key == "case.materials_requested")
    assert any("非本局职责" in body for key, body in texts if key == "case.returned")


def _expire_claim(notification_id) -> None:
    """The worker holding the claim died: its lease runs out."""
    Notification.objects.filter(pk=notification_id).update(lease_expires_at=timezone.now() - datetime.timedelta(1))


def test_a_claim_holds_until_its_lease_runs_out_then_the_relay_hands_it_on(county_a, provider):
    with tenant_context(county_a):
        _boss, case = _register(county_a)
        sms = Notification.objects.get(channel=Channel.SMS, idempotency_key__startswith=str(case.pk))
        claim = services._claim(sms.pk)  # a worker claims it and dies before it says anything
        assert claim is not None
        sms.refresh_from_db()
        assert sms.status == Status.SENDING and sms.attempt_id == claim[1] and sms.lease_expires_at > timezone.now()
        assert services.notification_deliver(notification_id=sms.pk) == "skipped"  # the claim holds
        assert sms.pk not in services.notifications_relay(limit=10_000)

        _expire_claim(sms.pk)
        assert sms.pk in services.notifications_relay(limit=10_000)
        sms.refresh_from_db()
        assert sms.status == Status.PENDING and sms.last_error == "delivery.worker_lost" and sms.attempt_id is None
        assert services.notification_deliver(notification_id=sms.pk) == "sent"
        sms.refresh_from_db()
    assert sms.attempts == 2 and sms.last_error == "" and sms.lease_expires_at is None
    assert [m["id"] for m in provider.received] == [sms.idempotency_key]


def test_an_attempt_that_outlived_its_lease_records_nothing(county_a, provider):
    with tenant_context(county_a):
        _boss, case = _register(county_a)
        sms = Notification.objects.get(channel=Channel.SMS, idempotency_key__startswith=str(case.pk))
        claim = services._claim(sms.pk)
        assert claim is not None
        _expire_claim(sms.pk)
        services.notifications_relay(limit=10_000)
        assert services.notification_deliver(notification_id=sms.pk) == "sent"
        # The slow first attempt comes back with a failure: the row already says sent.
        stale, attempt_id = claim
        assert services._record(stale, attempt_id, {"status": Status.FAILED, "last_error": "sms.http_400"}) == (
            "superseded"
        )
        sms.refresh_from_db()
    assert sms.status == Status.SENT and sms.last_error == ""


def test_a_message_that_keeps_killing_its_workers_ends_failed_for_the_admin(county_a, provider):
    with tenant_context(county_a):
        _boss, case = _register(county_a)
        sms = Notification.objects.get(channel=Channel.SMS, idempotency_key__startswith=str(case.pk))
        for _ in range(services.MAX_ATTEMPTS):
            assert services._claim(sms.pk) is not None
            _expire_claim(sms.pk)
            services.notifications_relay(limit=10_000)
        sms.refresh_from_db()
    assert sms.status == Status.FAILED and sms.last_error == "delivery.worker_lost"
    assert provider.received == []


def test_a_provider_that_knows_the_id_already_counts_as_delivered(county_a, provider):
    with tenant_context(county_a):
        _boss, case = _register(county_a)
        sms = Notification.objects.get(channel=Channel.SMS, idempotency_key__startswith=str(case.pk))
        provider.answers = [409]
        assert services.notification_deliver(notification_id=sms.pk) == "sent"


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_provider_that_redirects_has_not_taken_the_message(county_a, settings, status):
    """A redirect (the provider moved, a gateway's login page) is no delivery: following it turns
    the POST into a GET without the message, and a 200 to that GET recorded the SMS as sent."""
    posted: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posted.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(status)
            self.send_header("Location", "/moved")
            self.end_headers()

        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>moved</html>")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.SMS_BACKEND = "notifications.channels.HttpSmsBackend"
    settings.SMS_ENDPOINT = f"http://127.0.0.1:{server.server_address[1]}/sms"
    settings.SMS_QUIET_HOURS = (24, 0)
    try:
        with tenant_context(county_a):
            _boss, case = _register(county_a)
            sms = Notification.objects.get(channel=Channel.SMS, idempotency_key__startswith=str(case.pk))
            assert services.notification_deliver(notification_id=sms.pk) == "failed"
            sms.refresh_from_db()
    finally:
        server.shutdown()
    assert len(posted) == 1
    assert sms.status == Status.FAILED and sms.last_error == f"sms.http_{status}" and sms.sent_at is None


def test_the_relay_keeps_each_county_within_its_in_flight_cap(county_a, provider, monkeypatch):
    monkeypatch.setattr(services, "RELAY_IN_FLIGHT_CAP", 3)
    with tenant_context(county_a):
        values = {"county": "x", "matter": "y", "number": "z", "tracking_code": "t"}
        ids = [
            services.notification_enqueue(
                key="case.registered", channel=Channel.SMS, recipient="13900000000", values=values,
                idempotency_key=f"cap-{n}", urgent=True,
            ).pk
            for n in range(5)
        ]  # fmt: skip
        assert services._claim(ids[0]) is not None  # one is being sent right now
        first = services.notifications_relay()
        assert len(first) == 2 and ids[0] not in first
        # Queued a moment ago and not taken yet: in flight, not queued again.
        assert services.notifications_relay() == []
        Notification.objects.filter(pk__in=first).update(relayed_at=timezone.now() - datetime.timedelta(hours=1))
        assert sorted(services.notifications_relay()) == sorted(first)


def test_a_retry_after_a_fast_worker_failed_is_queued_when_its_backoff_ends(county_a, provider, monkeypatch):
    """A worker takes the relay's task at once and the provider answers 503. The relay's mark
    ("queued, wait before queueing again") must not land on the row after that attempt, or the
    30-second retry waits out the 5-minute requeue interval and counts against the in-flight cap."""
    clock = {"now": timezone.now()}
    monkeypatch.setattr(timezone, "now", lambda: clock["now"])

    def fast_worker(notification_id):
        # The worker that took the task the moment it was published.
        services.notification_deliver(notification_id=notification_id)
        return True

    monkeypatch.setattr(services, "_queue", fast_worker)
    with tenant_context(county_a):
        values = {"county": "x", "matter": "y", "number": "z", "tracking_code": "t"}
        message = services.notification_enqueue(
            key="case.registered", channel=Channel.SMS, recipient="13900000000", values=values,
            idempotency_key="fast-worker", urgent=True,
        )  # fmt: skip
        assert message is not None
        provider.answers = [503]
        assert services.notifications_relay(limit=10_000) == [message.pk]
        message.refresh_from_db()
        assert message.status == Status.PENDING and message.last_error == "sms.http_503"
        assert message.relayed_at is None

        clock["now"] += datetime.timedelta(seconds=31)  # the first backoff is over
        assert services.notifications_relay(limit=10_000) == [message.pk]
        message.refresh_from_db()
    assert message.status == Status.SENT and [m["id"] for m in provider.received] == ["fast-worker"]


def test_the_relay_queues_a_message_again_after_the_requeue_interval(county_a, provider, settings):
    """A message the relay queued into a Redis that then crashed (or whose task failed while the
    database was down) is queued again once NOTIFICATIONS_RELAY_REQUEUE_SECONDS have passed."""
    settings.NOTIFICATIONS_RELAY_REQUEUE_SECONDS = 20
    with tenant_context(county_a):
        values = {"county": "x", "matter": "y", "number": "z", "tracking_code": "t"}
        message = services.notification_enqueue(
            key="case.registered", channel=Channel.SMS, recipient="13900000000", values=values,
            idempotency_key="requeue-interval", urgent=True,
        )  # fmt: skip
        assert message is not None
        assert message.pk in services.notifications_relay(limit=10_000)
        assert message.pk not in services.notifications_relay(limit=10_000)  # just queued: in flight
        Notification.objects.filter(pk=message.pk).update(relayed_at=timezone.now() - datetime.timedelta(seconds=19))
        assert message.pk not in services.notifications_relay(limit=10_000)
        Notification.objects.filter(pk=message.pk).update(relayed_at=timezone.now() - datetime.timedelta(seconds=21))
        assert message.pk in services.notifications_relay(limit=10_000)
