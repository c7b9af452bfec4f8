"""Retention reaches stored reports: a quarter's PDF made before its cases were anonymised is made again."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from django_tenants.utils import tenant_context

from casework.tests.factories import UserFactory
from reporting.models import QuarterlyReport
from reporting.selectors import Scope, typical_cases
from reporting.services import reports_refresh_after_anonymisation
from reporting.tests.factories import CaseFactory, at

pytestmark = pytest.mark.django_db


def _report(year: int, quarter: int, finished: Any) -> QuarterlyReport:
    maker: Any = UserFactory(username=f"ret-maker-{year}-{quarter}")
    report = QuarterlyReport.objects.create(
        year=year, quarter=quarter, as_of=finished, requested_by=maker, status="done", progress=100,
        finished_at=finished,
    )  # fmt: skip
    report.file.save(f"ret-{year}-{quarter}.pdf", ContentFile(b"%PDF-1.7 test"), save=True)
    return report


def test_reports_showing_now_anonymised_cases_are_regenerated_once(county_a, django_capture_on_commit_callbacks):
    with tenant_context(county_a):
        case = CaseFactory(registered_at=at("2023-02-10"), status="archived", closed_at=at("2023-03-01"))
        CaseFactory(registered_at=at("2023-05-10"), status="archived", closed_at=at("2023-06-01"))
        stale = _report(2023, 1, at("2023-04-05"))
        untouched = _report(2023, 2, at("2023-07-05"))
        case.anonymised_at = timezone.now()
        case.save(update_fields=["anonymised_at"])
        with django_capture_on_commit_callbacks(execute=False) as queued:
            assert reports_refresh_after_anonymisation() == 1
        assert len(queued) == 1  # the PDF is built again by the worker after commit
        stale.refresh_from_db()
        untouched.refresh_from_db()
        assert (stale.status, stale.generation) == ("queued", 2)
        assert (untouched.status, untouched.generation) == ("done", 1)
        # Queued (not done) reports are not queued again.
        assert reports_refresh_after_anonymisation() == 0


def test_anonymised_cases_are_no_typical_cases(county_a):
    with tenant_context(county_a):
        done = {"status": "archived", "accepted_at": at("2023-08-12"), "replied_at": at("2023-08-15")}
        kept = CaseFactory(registered_at=at("2023-08-10"), closed_at=at("2023-08-20"), **done)
        gone = CaseFactory(
            registered_at=at("2023-08-11"), closed_at=at("2023-08-21"), anonymised_at=timezone.now(), **done
        )
        scope = Scope(at("2023-08-01").date(), at("2023-08-31").date())
        chosen = {c.pk for c in typical_cases(scope=scope, limit=50)}
        assert kept.pk in chosen and gone.pk not in chosen
