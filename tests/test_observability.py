"""Logs, metrics and error reports: request id and county on every line, no personal data, a real scrape."""

from __future__ import annotations

import io
import json
import logging
import urllib.error
import urllib.request

import pytest
import redis
import sentry_sdk
from celery import shared_task
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path
from django.utils import timezone
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from banchengshi.observability import metrics
from banchengshi.observability.logs import ContextFilter, JsonFormatter, PersonalDataFilter, configure_logging
from banchengshi.observability.scrub import scrub_data, scrub_text
from banchengshi.observability.sentry import sentry_init
from conftest import free_port, host_of, web_server
from sla.sweep.models import DeadlineEntry, Escalation

pytestmark = pytest.mark.django_db

PHONE = "13812345678"

# --- a URLconf of this module, for the county host: a page that logs and one that fails ----------

request_logger = logging.getLogger("tests.observability")


def _logs_a_line(request: HttpRequest) -> HttpResponse:
    request_logger.info("citizen %s called about case %s", PHONE, "CZ-2026-000123")
    return HttpResponse("ok")


def _fails(request: HttpRequest, number: int) -> HttpResponse:
    citizen_phone = PHONE  # noqa: F841 - a local variable Sentry would show in the stack frame
    raise RuntimeError(f"SMS to {PHONE} (身份证 110101199003071234) could not be sent")


urlpatterns = [path("logs/", _logs_a_line), path("boom/<int:number>/", _fails)]


@pytest.fixture
def this_urlconf(settings):
    settings.ROOT_URLCONF = __name__


@pytest.fixture
def json_lines():
    """Everything logged while the test runs, as the production handler would print it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(PersonalDataFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(old_level)


# --- the scrubber ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"call {PHONE} now",
        "call +86 138-1234-5678 now",
        "call 8613812345678",
        "手机号：15900001111。",
        "tel 0772-2801234 or 010 12345678 ext 0772-2801234-12",
        "ID 11010119900307123X here",
        "mail zhang.san@example.cn",
    ],
)
def test_the_scrubber_masks_phone_numbers_id_numbers_and_emails(text):
    scrubbed = scrub_text(text)
    assert "[phone]" in scrubbed or "[id-number]" in scrubbed or "[email]" in scrubbed
    for secret in ("1381234", "5678", "15900001111", "2801234", "12345678", "110101", "zhang.san"):
        assert secret not in scrubbed


@pytest.mark.parametrize(
    "text", ["case CZ-2026-000123", "2026-03-07 14:30:00", "took 1234 ms", "county c450202", "version 13"]
)
def test_the_scrubber_leaves_ordinary_numbers_alone(text):
    assert scrub_text(text) == text


def test_known_personal_fields_are_blanked_whatever_they_hold():
    data = {"citizen_phone": "12", "citizen_name": "张三", "Matter": f"call {PHONE}", "nested": [{"phone": "x"}]}
    assert scrub_data(data) == {
        "citizen_phone": "[redacted]",
        "citizen_name": "[redacted]",
        "Matter": "call [phone]",
        "nested": [{"phone": "[redacted]"}],
    }


# --- logs --------------------------------------------------------------------------------------


def test_the_log_filter_removes_phone_numbers_from_message_extras_and_traceback(json_lines):
    log = logging.getLogger("tests.observability.filter")
    try:
        raise ValueError(f"bad number {PHONE}")
    except ValueError:
        log.exception("SMS to %s failed", PHONE, extra={"citizen_phone": PHONE, "detail": {"to": PHONE}})
    (line,) = [line for line in json_lines() if line["logger"] == "tests.observability.filter"]
    assert PHONE not in json.dumps(line)
    assert line["message"] == "SMS to [phone] failed"
    assert line["citizen_phone"] == "[redacted]"
    assert line["detail"] == {"to": "[phone]"}
    assert "bad number [phone]" in line["exc"]


def test_an_object_among_the_extras_is_scrubbed_when_it_becomes_text(json_lines):
    class Request:  # as django.request logs a 403 or 404: the request object, its query string in its repr
        def __str__(self) -> str:
            return f"<WSGIRequest: GET '/api/v1/cases/?q={PHONE}'>"

    logging.getLogger("tests.observability.object").warning("Forbidden: /api/v1/cases/", extra={"request": Request()})
    (line,) = [line for line in json_lines() if line["logger"] == "tests.observability.object"]
    assert PHONE not in json.dumps(line, ensure_ascii=False)
    assert line["request"] == "<WSGIRequest: GET '/api/v1/cases/?q=[phone]'>"


def test_every_configured_handler_gets_the_scrubbing_filter():
    stream = io.StringIO()
    configure_logging(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"extra": {"class": "logging.StreamHandler", "stream": stream}},
            "loggers": {"tests.observability.extra": {"handlers": ["extra"], "propagate": False}},
        }
    )
    try:
        logging.getLogger("tests.observability.extra").warning("citizen %s", PHONE)
        assert stream.getvalue().strip() == "citizen [phone]"
    finally:
        configure_logging(settings.LOGGING)
    root_handler = logging.getLogger().handlers[0]
    assert {type(f) for f in root_handler.filters} >= {ContextFilter, PersonalDataFilter}


def test_a_json_log_line_carries_the_request_id_and_the_county(county_a, this_urlconf, json_lines):
    response = Client(HTTP_HOST=host_of(county_a)).get("/logs/", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "req-42"
    lines = [line for line in json_lines() if line["request_id"] == "req-42"]
    view_line = next(line for line in lines if line["logger"] == "tests.observability")
    assert view_line["county"] == county_a.schema_name
    assert view_line["message"] == "citizen [phone] called about case CZ-2026-000123"
    access_line = next(line for line in lines if line["logger"] == "banchengshi.request")
    assert access_line["county"] == county_a.schema_name
    assert access_line["route"] == "/logs/"
    assert access_line["status"] == 200


def test_a_request_without_a_usable_id_gets_a_new_one(county_a, this_urlconf):
    client = Client(HTTP_HOST=host_of(county_a))
    generated = client.get("/logs/")["X-Request-ID"]
    forged = client.get("/logs/", HTTP_X_REQUEST_ID='x" injected\nline')["X-Request-ID"]
    assert len(generated) == 32 and generated != forged
    assert "\n" not in forged and len(forged) == 32


# --- metrics -----------------------------------------------------------------------------------


@shared_task(name="tests.observability_task")
def observability_task() -> str:
    logging.getLogger("tests.observability.task").info("task ran")
    return "done"


@pytest.fixture
def metrics_settings(settings):
    settings.METRICS_TOKEN = "scrape-secret"
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.METRICS_CACHE_SECONDS = 0
    settings.METRICS_CELERY_QUEUES = ["celery", "tests-observability-queue"]
    metrics.reset_scrape_collectors()
    yield settings
    metrics.reset_scrape_collectors()


def _sample(exposition: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in exposition.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            head, _, value = line.rpartition(" ")
            got = head[len(name) :].strip("{}")
            if ",".join(sorted(got.split(","))) == wanted or (not labels and not got):
                return float(value)
    return None


def test_metrics_need_the_token_or_an_allowed_address(metrics_settings):
    client = Client(HTTP_HOST="10.1.2.3")
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200
    metrics_settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.9.8.7").status_code == 200
    # Only the peer counts, never a header the client writes.
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.9.8.7").status_code == 403


def test_a_scrape_shows_latency_by_route_tasks_queues_and_county_deadlines(
    county_a, county_b, this_urlconf, metrics_settings
):
    # Start from an empty index (rolled back after the test): tests that run real servers commit entries.
    DeadlineEntry.objects.all().delete()
    now = timezone.now()
    DeadlineEntry.objects.bulk_create(
        [
            # open and overdue
            DeadlineEntry(
                schema_name=county_a.schema_name,
                case_id="00000000-0000-0000-0000-00000000000a",
                clock="reply",
                due_at=now,
                overdue_at=now,
                escalation=Escalation.SUPERVISOR,
                next_check_at=now,
            ),
            # open, not due yet
            DeadlineEntry(
                schema_name=county_a.schema_name,
                case_id="00000000-0000-0000-0000-00000000000b",
                clock="reply",
                due_at=now,
                next_check_at=now,
            ),
            # a stopped clock: nothing left to check
            DeadlineEntry(
                schema_name=county_b.schema_name,
                case_id="00000000-0000-0000-0000-00000000000c",
                clock="reply",
                due_at=now,
                next_check_at=None,
            ),
        ]
    )
    queue = redis.Redis.from_url(settings.REDIS_URL)
    queue.delete("tests-observability-queue")
    queue.rpush("tests-observability-queue", "a", "b", "c")
    try:
        Client(HTTP_HOST=host_of(county_a)).get("/logs/")
        observability_task.apply(headers={"_schema_name": county_b.schema_name})
        response = Client(HTTP_HOST="10.1.2.3").get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    finally:
        queue.delete("tests-observability-queue")
    assert response.status_code == 200
    text = response.content.decode()
    count = _sample(text, "banchengshi_http_request_duration_seconds_count", method="GET", route="/logs/", status="2xx")
    assert count is not None and count >= 1
    assert (_sample(text, "banchengshi_celery_tasks_total", task="tests.observability_task", state="success") or 0) >= 1
    assert _sample(text, "banchengshi_celery_task_duration_seconds_count", task="tests.observability_task")
    assert _sample(text, "banchengshi_celery_queue_length", queue="tests-observability-queue") == 3.0
    assert _sample(text, "banchengshi_celery_queue_length", queue="celery") is not None
    assert _sample(text, "banchengshi_celery_unacked_tasks") is not None
    assert _sample(text, "banchengshi_county_cases_open", county=county_a.schema_name) == 2.0
    assert _sample(text, "banchengshi_county_cases_overdue", county=county_a.schema_name) == 1.0
    assert _sample(text, "banchengshi_county_cases_open", county=county_b.schema_name) == 0.0


def test_a_task_logs_with_its_county_and_the_request_that_queued_it(county_b, json_lines):
    observability_task.apply(headers={"_schema_name": county_b.schema_name, "x_request_id": "req-from-web"})
    line = next(line for line in json_lines() if line["logger"] == "tests.observability.task")
    assert line["county"] == county_b.schema_name
    assert line["request_id"] == "req-from-web"


def test_a_scrape_answers_when_redis_is_down(metrics_settings):
    metrics_settings.REDIS_URL = "redis://127.0.0.1:1/0"
    metrics.reset_scrape_collectors()
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert response.status_code == 200
    assert b"banchengshi_celery_queue_length" not in response.content


# --- Sentry ------------------------------------------------------------------------------------


class RecordingTransport(Transport):
    """Stands where Sentry's HTTP transport would; keeps the envelopes it was given."""

    envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        RecordingTransport.envelopes.append(envelope)


@pytest.fixture
def sentry_events():
    RecordingTransport.envelopes = []
    assert sentry_init(dsn="https://public@sentry.invalid/1", release="banchengshi@test", transport=RecordingTransport)

    def events() -> list[dict]:
        sentry_sdk.flush()
        found = []
        for envelope in RecordingTransport.envelopes:
            for item in envelope.items:
                if item.type == "event" and item.payload.json is not None:
                    found.append(item.payload.json)
        return found

    yield events
    sentry_sdk.init()  # no DSN: the client is switched off again


def test_a_sentry_event_carries_the_county_and_release_and_no_personal_data(county_a, this_urlconf, sentry_events):
    response = Client(HTTP_HOST=host_of(county_a), raise_request_exception=False).get(
        "/boom/7/", HTTP_X_REQUEST_ID="req-boom"
    )
    assert response.status_code == 500
    events = [e for e in sentry_events() if e.get("exception")]
    assert events, "no error event reached the transport"
    event = events[0]
    assert event["tags"]["county"] == county_a.schema_name
    assert event["tags"]["request_id"] == "req-boom"
    assert event["release"] == "banchengshi@test"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    dumped = json.dumps(events, ensure_ascii=False)
    assert PHONE not in dumped
    assert "110101199003071234" not in dumped
    assert "SMS to [phone]" in dumped


def test_a_failing_task_reports_its_county_without_personal_data(county_b, sentry_events):
    @shared_task(name="tests.observability_failing_task")
    def failing_task() -> None:
        raise RuntimeError(f"no answer from {PHONE}")

    failing_task.apply(headers={"_schema_name": county_b.schema_name})
    events = [e for e in sentry_events() if e.get("exception")]
    assert events
    assert events[0]["tags"]["county"] == county_b.schema_name
    assert PHONE not in json.dumps(events)


# --- a real gunicorn in multiprocess mode -------------------------------------------------------


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_gunicorn_with_two_workers_reports_the_requests_of_both(tmp_path, two_counties):
    """Requests spread over two workers; one scrape counts them all (prometheus multiprocess mode)."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"), "METRICS_TOKEN": "gunicorn-secret"}
    with web_server(workers=2, threads=1, deployed=True, env=env) as port:
        base = f"http://127.0.0.1:{port}"
        requests = 40
        for _ in range(requests):
            assert _get(base + "/healthz")[0] == 200
        assert _get(base + "/metrics")[0] == 403
        status, body = _get(base + "/metrics", token="gunicorn-secret")
    assert status == 200
    served = _sample(
        body.decode(), "banchengshi_http_request_duration_seconds_count", method="GET", route="/healthz", status="2xx"
    )
    # Every probe counted, whichever worker answered it.
    assert served is not None and served >= requests
    assert len(list((tmp_path / "prometheus").glob("histogram_*.db"))) >= 1


def test_a_worker_serves_its_own_metrics_and_liveness_with_the_same_protection(metrics_settings, county_b):
    observability_task.apply(headers={"_schema_name": county_b.schema_name})
    port = free_port()
    server = metrics.serve_worker_metrics(port=port, address="127.0.0.1")
    try:
        base = f"http://127.0.0.1:{port}"
        assert _get(base + "/healthz") == (200, b"ok\n")
        assert _get(base + "/metrics")[0] == 403
        status, body = _get(base + "/metrics", token="scrape-secret")
        assert status == 200
        assert (
            _sample(body.decode(), "banchengshi_celery_tasks_total", task="tests.observability_task", state="success")
            or 0
        ) >= 1
    finally:
        server.shutdown()
        server.server_close()


def test_county_figures_are_computed_once_for_all_processes_through_the_cache(county_a, metrics_settings, clean_cache):
    # Start from an empty index (rolled back after the test): tests that run real servers commit entries.
    DeadlineEntry.objects.all().delete()
    collector = metrics.CountyDeadlineCollector(cache_seconds=30)
    DeadlineEntry.objects.create(
        schema_name=county_a.schema_name,
        case_id="00000000-0000-0000-0000-0000000000d1",
        clock="reply",
        due_at=timezone.now(),
        next_check_at=timezone.now(),
    )
    first = collector._rows()
    assert (county_a.schema_name, 1, 0, 0) in first
    DeadlineEntry.objects.all().delete()
    # Another process (a fresh collector) reads the shared figures instead of querying again.
    assert metrics.CountyDeadlineCollector(cache_seconds=30)._rows() == first
