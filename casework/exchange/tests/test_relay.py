"""The relay and failed deliveries: an envelope that keeps failing never holds back newer ones."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from casework.exchange.models import Envelope
from casework.exchange.selectors import envelopes_undelivered
from casework.exchange.services import envelopes_relay
from casework.forwarding.services import envelope_apply
from casework.forwarding.tests.conftest import agreement, deliver  # noqa: F401 - fixtures
from casework.forwarding.tests.test_apis import forward, ok, register
from casework.tests.conftest import staff_api  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

LONG_AGO = timezone.now() - datetime.timedelta(days=2)


def _stray(county, kind: str, **payload) -> Envelope:
    """An envelope about a forward the county never had (as after a county re-onboarded under its code)."""
    return Envelope.objects.create(
        kind=kind, forward_id=uuid.uuid4(), source_code="000000", target_code=county.code,
        target_schema=county.schema_name, payload=payload, created_at=LONG_AGO,
    )  # fmt: skip


def test_a_failed_delivery_is_counted_with_its_reason(county_b):
    recall = _stray(county_b, "recall", reason="误转")  # its forward has not arrived (and never will)
    with tenant_context(county_b), pytest.raises(Exception):  # noqa: B017, PT011 - whatever it raises
        envelope_apply(envelope_id=recall.pk)
    recall.refresh_from_db()
    assert recall.delivered_at is None and recall.attempts == 1 and recall.last_error == "exchange.not_found"


def test_envelopes_that_keep_failing_do_not_starve_new_ones(county_a, county_b, staff_api, agreement, deliver):  # noqa: F811
    agreement()
    stuck = [_stray(county_b, "recall", reason="误转") for _i in range(3)]
    for envelope in stuck:
        with tenant_context(county_b), pytest.raises(Exception):  # noqa: B017, PT011
            envelope_apply(envelope_id=envelope.pk)
    clerk_a = staff_api(county_a, "window_clerk")
    ok(forward(clerk_a, register(clerk_a), (county_b.code, "lead")))
    fresh = Envelope.objects.get(kind="forward", source_code=county_a.code)
    # The relay takes a batch at a time: the new forward is in the first, ahead of the old failures.
    assert [e.pk for e in envelopes_undelivered(older_than_seconds=0, limit=1)] == [fresh.pk]


def test_each_relay_counts_an_attempt_so_what_never_arrives_sinks(county_a, county_b):
    # Queued again and again without an answer (its county's worker cannot reach the schema).
    silent = _stray(county_b, "recall", reason="误转")
    newer = _stray(county_b, "recall", reason="误转")
    Envelope.objects.filter(pk=newer.pk).update(created_at=LONG_AGO + datetime.timedelta(hours=1))
    Envelope.objects.exclude(pk__in=[silent.pk, newer.pk]).delete()  # only these two in this test
    assert envelopes_relay(older_than_seconds=0) == 2
    assert set(Envelope.objects.values_list("attempts", flat=True)) == {1}
    Envelope.objects.filter(pk=silent.pk).update(attempts=5)
    assert [e.pk for e in envelopes_undelivered(older_than_seconds=0, limit=1)] == [newer.pk]


@pytest.mark.parametrize("kind", ["accepted", "returned", "progress"])
def test_an_answer_about_a_forward_this_county_never_sent_is_set_aside_not_retried_for_ever(county_a, kind):
    payload = {"number": "LJ-2026-000001", "status": "accepted", "version": 2, "reason": "x", "action": "replied"}
    stray = _stray(county_a, kind, **payload)
    with tenant_context(county_a):
        assert envelope_apply(envelope_id=stray.pk) is False
    stray.refresh_from_db()
    assert stray.delivered_at is not None and stray.last_error == "forwarding.unknown_forward"
    assert stray.pk not in {e.pk for e in envelopes_undelivered(older_than_seconds=0)}
