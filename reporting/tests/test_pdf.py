"""The quarterly PDF: built by the task, its text matches the database, the CJK font is embedded, it renders.

The pages are also rendered to PNG (pdftoppm) under var/test-media/report-pages/ so a person can
look at them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from casework.models import StaffRole
from casework.tests.factories import StaffProfileFactory, UserFactory
from reporting import services
from reporting.documents import figure_rows
from reporting.models import QuarterlyReport, ReportStatus
from reporting.selectors import figures
from reporting.tasks import generate_quarterly_report
from reporting.tests.conftest import Q1
from reporting.tests.pdf_checks import PAGES_DIR, embedded_fonts, pdf_text, render_pages

pytestmark = pytest.mark.django_db


def _leader() -> Any:
    user = UserFactory(username="leader-pdf")
    if not hasattr(user, "staff_profile"):
        StaffProfileFactory(user=user, role=StaffRole.LEADER)
    return user


def _build(county, django_capture_on_commit_callbacks) -> QuarterlyReport:
    """Request the report as a leader; run the queued task the way the worker would."""
    with tenant_context(county):
        with django_capture_on_commit_callbacks(execute=False) as queued:
            report = services.quarterly_report_request(actor=_leader(), year=2025, quarter=1)
        assert len(queued) == 1
        QuarterlyReport.objects.filter(pk=report.pk).update(as_of="2025-04-10T10:00:00+08:00")
        result = generate_quarterly_report.apply(args=(str(report.pk), report.generation))
        assert result.get() == ReportStatus.DONE
        return QuarterlyReport.objects.get(pk=report.pk)


def test_the_quarterly_pdf_says_what_the_database_says(county_a, known_cases, django_capture_on_commit_callbacks):
    report = _build(county_a, django_capture_on_commit_callbacks)
    with tenant_context(county_a):
        data = report.file.read()
        expected = figures(scope=Q1, now=report.as_of)
    assert data.startswith(b"%PDF")
    assert report.progress == 100 and report.pages and report.pages >= 8
    text = re.sub(r"[ \t]+", " ", pdf_text(data))
    for heading in (
        "柳州市城中区",
        "2025年第一季度",
        "总体情况",
        "与上季度对比",
        "部门情况",
        "绩效考核",
        "典型案例",
        "发现的问题及整改",
    ):
        assert heading in text, heading
    # Every summary figure, as the database counts it, beside its Chinese label.
    for row in figure_rows(expected):
        assert re.search(rf"^\s*{re.escape(row['label'])}\s+{re.escape(row['value'])}\s*$", text, re.M), row
    assert re.search(rf"按期办结率\s+{expected.on_time_rate * 100:.1f}%", text)  # 50.0%: open overdue cases are late
    assert f"第 1 页，共 {report.pages} 页" in text or f"第1页，共{report.pages}页" in text.replace(" ", "")
    # Anonymised: neither the citizen's name nor the phone number appear.
    assert "廖女士" not in text and "13812345678" not in text
    assert report.figures["summary"]["received"] == expected.received == 9


def test_the_chinese_font_is_embedded_and_the_pages_render(county_a, known_cases, django_capture_on_commit_callbacks):
    report = _build(county_a, django_capture_on_commit_callbacks)
    with tenant_context(county_a):
        data = report.file.read()
    fonts = embedded_fonts(data)
    assert any(re.search(r"Noto-?Sans-?CJK-?SC", name) for name in fonts), fonts
    assert not any("JP" in name for name in fonts), fonts
    pngs = render_pages(data, PAGES_DIR, "quarterly")
    assert len(pngs) == report.pages
    assert all(png.stat().st_size > 5_000 for png in pngs)


def test_regenerating_gives_the_same_figures(county_a, known_cases, django_capture_on_commit_callbacks):
    first = _build(county_a, django_capture_on_commit_callbacks)
    again = _build(county_a, django_capture_on_commit_callbacks)
    assert again.generation == first.generation + 1
    assert again.figures == first.figures
    assert again.file.name != first.file.name  # the old file is removed after commit


def test_a_duplicate_task_does_nothing_twice(county_a, known_cases, django_capture_on_commit_callbacks):
    report = _build(county_a, django_capture_on_commit_callbacks)
    with tenant_context(county_a):
        result = generate_quarterly_report.apply(args=(str(report.pk), report.generation))
        assert result.get() == ReportStatus.DONE
        assert QuarterlyReport.objects.get(pk=report.pk).file.name == report.file.name


def test_a_report_asked_for_again_is_cut_anew(county_a, known_cases, django_capture_on_commit_callbacks):
    """Its cover's "as of" and its figures then speak of the same moment, new cases included."""
    first = _build(county_a, django_capture_on_commit_callbacks)
    with tenant_context(county_a), django_capture_on_commit_callbacks(execute=False):
        again = services.quarterly_report_request(actor=_leader(), year=2025, quarter=1)
    assert again.generation == first.generation + 1 and again.as_of > first.as_of
