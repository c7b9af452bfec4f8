"""Reporting's writes: the scoring rule, quarterly reports, and the record of every export.

Reporting writes only its own tables (and files); casework data is read through ``selectors``.
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import get_public_schema_name

from banchengshi.accounts.models import PlatformRole, User
from banchengshi.accounts.policy import has_platform_role
from banchengshi.tenancy import current_county, current_schema
from casework.selectors import staff_profile_of
from reporting import documents, pdf, xlsx
from reporting.errors import NotReadyError, PermissionDeniedError, ReportingError, ReportingErrorCode
from reporting.models import ExportKind, ExportLog, QuarterlyReport, ReportStatus, ScoringRule
from reporting.policy import may_make_reports, may_set_rule, sees_phones
from reporting.selectors import (
    Scope,
    days_changed_since,
    first_registration_day,
    quarter_bounds,
    reader_profile,
    reports_showing_anonymised_cases,
    scoring_rule_get,
    snapshot_rows,
)
from reporting.snapshots.models import CountyDayFigures, CountySnapshot

logger = logging.getLogger(__name__)

RULE_FIELDS = ("on_time_points", "solved_points", "overdue_deduction", "bad_rating_deduction", "return_deduction")


def scoring_rule_set(
    *,
    actor: User,
    on_time_points: Decimal,
    solved_points: Decimal,
    overdue_deduction: Decimal,
    bad_rating_deduction: Decimal,
    return_deduction: Decimal,
) -> ScoringRule:
    """Set how departments are scored (绩效考核); each value is 0–100 points, two decimals."""
    if not may_set_rule(staff_profile_of(actor)):
        raise PermissionDeniedError(
            ReportingErrorCode.PERMISSION_DENIED, _("Only leaders and the county admin set the scoring rule.")
        )
    given = {
        "on_time_points": on_time_points,
        "solved_points": solved_points,
        "overdue_deduction": overdue_deduction,
        "bad_rating_deduction": bad_rating_deduction,
        "return_deduction": return_deduction,
    }
    values: dict[str, Decimal] = {}
    problems = []
    for name, raw in given.items():
        try:
            value = Decimal(str(raw)).quantize(Decimal("0.01"))
        except InvalidOperation:
            value = Decimal(-1)
        if not Decimal(0) <= value <= Decimal(100):
            problems.append({"field": name, "code": "invalid", "message": _("Points are between 0 and 100.")})
        values[name] = value
    if problems:
        raise ReportingError(ReportingErrorCode.INVALID, _("The scoring rule is not valid."), details=problems)
    with transaction.atomic():
        rule, _created = ScoringRule.objects.select_for_update().get_or_create(pk=1)
        for name, value in values.items():
            setattr(rule, name, value)
        rule.updated_by = actor
        rule.updated_at = timezone.now()
        rule.save()
    return rule


# -- quarterly reports ----------------------------------------------------------------------------


def quarterly_report_request(*, actor: User, year: int, quarter: int) -> QuarterlyReport:
    """Ask for a quarter's report (or its regeneration); the worker builds it after commit.

    Asked for again, a report is cut anew (``as_of`` = now): its figures then count the cases
    registered since, as its cover says. Only the retention rebuild keeps the old cut
    (``reports_refresh_after_anonymisation``).
    """
    if not may_make_reports(staff_profile_of(actor)):
        reader_profile(actor=actor)  # a reader gets a clearer refusal below; others get this one
        raise PermissionDeniedError(
            ReportingErrorCode.PERMISSION_DENIED, _("Only leaders, supervisors and the county admin make reports.")
        )
    if quarter not in (1, 2, 3, 4) or not 2000 <= year <= 2100:
        raise ReportingError(ReportingErrorCode.INVALID, _("Name a year and a quarter from 1 to 4."))
    now = timezone.now()
    if quarter_bounds(year, quarter)[0] > timezone.localdate(now):
        raise ReportingError(ReportingErrorCode.INVALID, _("This quarter has not started yet."))
    with transaction.atomic():
        report, created = QuarterlyReport.objects.select_for_update().get_or_create(
            year=year, quarter=quarter, defaults={"as_of": now, "requested_by": actor}
        )
        # Already on its way: one build is enough. One that has not finished for a while lost its
        # task (the broker was down at commit, the worker died) and may be asked for again.
        waiting = (now - report.requested_at).total_seconds() < REPORT_STALE_SECONDS
        if not created and report.status in {ReportStatus.QUEUED, ReportStatus.RUNNING} and waiting:
            return report
        if not created:
            report.generation += 1
            report.as_of = now
        report.status = ReportStatus.QUEUED
        report.progress = 0
        report.stage = _("Queued")
        report.error = ""
        report.requested_by = actor
        report.requested_at = now
        report.save()
        report_id, generation = report.pk, report.generation
        transaction.on_commit(lambda: _queue_report(report_id, generation))
    return report


def reports_refresh_after_anonymisation() -> int:
    """Retention: regenerate the stored PDFs of quarters whose cases were anonymised after them.

    The figures stay (``as_of`` is kept, and they count no personal data); the typical cases of a
    regenerated report no longer include anonymised ones. The old file is deleted once the new one
    is stored. Returns how many reports were queued.
    """
    queued = 0
    for stale in reports_showing_anonymised_cases():
        with transaction.atomic():
            report = QuarterlyReport.objects.select_for_update().get(pk=stale.pk)
            if report.status != ReportStatus.DONE:
                continue
            report.generation += 1
            report.status = ReportStatus.QUEUED
            report.progress = 0
            report.stage = _("Queued")
            report.save(update_fields=["generation", "status", "progress", "stage"])
            report_id, generation = report.pk, report.generation
            transaction.on_commit(lambda r=report_id, g=generation: _queue_report(r, g))  # type: ignore[misc]
            queued += 1
    return queued


def _queue_report(report_id: UUID, generation: int) -> None:
    from reporting.tasks import generate_quarterly_report

    generate_quarterly_report.delay(str(report_id), generation)


def _progress(report_id: UUID, generation: int) -> Any:
    def report(percent: int, stage: str) -> None:
        # Outside any transaction, so the page polling the report sees it at once.
        QuarterlyReport.objects.filter(pk=report_id, generation=generation).update(progress=percent, stage=stage)

    return report


def quarterly_report_generate(*, report_id: UUID, generation: int) -> QuarterlyReport | None:
    """Build the PDF of one generation of a report. Safe to run twice: a finished or superseded
    generation is left alone, and a rerun of the same generation writes the same figures."""
    report = QuarterlyReport.objects.filter(pk=report_id).first()
    if report is None or report.generation != generation or report.status == ReportStatus.DONE:
        return report
    QuarterlyReport.objects.filter(pk=report_id, generation=generation).update(
        status=ReportStatus.RUNNING, progress=5, stage=_("Started")
    )
    progress = _progress(report_id, generation)
    try:
        county = current_county()
        content = documents.quarterly_content(
            county=county, year=report.year, quarter=report.quarter, as_of=report.as_of, rule=scoring_rule_get(),
            progress=progress,
        )  # fmt: skip
        header_left = f"{county.full_name}{county.window_name}"
        html = pdf.render_html(
            "reporting/pdf/quarterly.html", content, header_left=header_left, header_right=content["period"]
        )
        progress(75, _("Typesetting the PDF"))
        data, pages = pdf.render_pdf(html)
    except Exception:
        logger.exception("quarterly report %s (%s) failed", report_id, current_schema())
        QuarterlyReport.objects.filter(pk=report_id, generation=generation).update(
            status=ReportStatus.FAILED, stage=_("Failed"), error="render_failed"
        )
        raise
    progress(95, _("Storing the file"))
    with transaction.atomic():
        report = QuarterlyReport.objects.select_for_update().get(pk=report_id)
        if report.generation != generation:
            return report  # a newer request superseded this build
        old = report.file.name
        report.file.save(f"{report.year}-Q{report.quarter}-{generation}.pdf", ContentFile(data), save=False)
        report.figures = content["figures"]
        report.pages = pages
        report.status = ReportStatus.DONE
        report.progress = 100
        report.stage = _("Ready")
        report.finished_at = timezone.now()
        report.save()
        if old and old != report.file.name:
            storage, name = report.file.storage, old
            transaction.on_commit(lambda: storage.delete(name))
    return report


# -- exports --------------------------------------------------------------------------------------


def cases_export(*, actor: User, scope: Scope) -> tuple[bytes, ExportLog]:
    """The scope's cases as xlsx, phones in full only for roles that see them; the export is logged."""
    profile = reader_profile(actor=actor)
    full = sees_phones(profile)
    data, rows = xlsx.cases_workbook(scope=scope, full_personal_data=full)
    entry = export_record(actor=actor, kind=ExportKind.CASES, scope=asdict(scope), rows=rows, phones_unmasked=full)
    return data, entry


def figures_export(*, actor: User, scope: Scope) -> tuple[bytes, ExportLog]:
    reader_profile(actor=actor)
    data, rows = xlsx.figures_workbook(scope=scope)
    entry = export_record(actor=actor, kind=ExportKind.FIGURES, scope=asdict(scope), rows=rows, phones_unmasked=False)
    return data, entry


def export_record(*, actor: User, kind: str, scope: dict[str, Any], rows: int, phones_unmasked: bool) -> ExportLog:
    """Record an export (who, what, how many rows, whether phone numbers were in full)."""
    if kind not in ExportKind.values:
        raise ReportingError(ReportingErrorCode.INVALID, _("Unknown export."))
    profile = reader_profile(actor=actor)
    entry = ExportLog.objects.create(
        kind=kind,
        actor=actor,
        actor_label=actor.name or actor.username,
        role=profile.role,
        scope={key: _plain(value) for key, value in scope.items()},
        rows=rows,
        phones_unmasked=phones_unmasked,
    )
    _audit(actor=actor, entry=entry)
    return entry


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime.date) else value


def _audit(*, actor: User, entry: ExportLog) -> None:
    """Also into the platform's audit trail (banchengshi.audit), in the same transaction."""
    try:
        from banchengshi.audit.services import audit_record  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # a deployment without the audit trail still has the export log
        return
    audit_record(
        action=f"reporting.export_{entry.kind}",
        actor=actor,
        object_type="reporting.exportlog",
        object_id=entry.pk,
        details={"rows": entry.rows, "phones_unmasked": entry.phones_unmasked, "scope": entry.scope},
    )


# -- the counties' figures snapshot (read by the province) -----------------------------------------

# Case changes committed up to this long after they were stamped are still picked up by the next
# refresh (a transaction stamps ``updated_at`` before it commits); the nightly rebuild takes the rest.
SNAPSHOT_OVERLAP = datetime.timedelta(minutes=5)


def county_snapshot_refresh(*, rebuild: bool = False) -> int:
    """Write this county's rows of the province's figures snapshot; return how many were written.

    Normally only the registration days of cases changed since the last refresh are counted again;
    ``rebuild`` (nightly, and the first time) counts every day, which also takes in what changes no
    case (a local holiday added to the calendar changes working days). Runs in the county's schema;
    one refresh of a county at a time (its snapshot row is locked), so rows are never doubled.
    """
    county = current_county()
    started = timezone.now()
    today = timezone.localdate(started)
    with transaction.atomic():
        state, created = CountySnapshot.objects.select_for_update().get_or_create(
            county_code=county.code,
            defaults={"refreshed_at": started, "changes_seen_until": started, "rebuilt_at": None},
        )
        rows = CountyDayFigures.objects.filter(county_code=county.code)
        # Rows older than the county itself were counted by a county of this code that left the
        # platform: they are replaced, never added to.
        if rebuild or created or state.rebuilt_at is None or state.rebuilt_at < county.created_at:
            first = first_registration_day() or today
            counted = snapshot_rows(date_from=first, date_to=today)
            rows.delete()
            state.rebuilt_at = started
        else:
            days = days_changed_since(state.changes_seen_until)
            counted = snapshot_rows(date_from=min(days), date_to=max(days), days=days) if days else []
            rows.filter(day__in=days).delete()
        CountyDayFigures.objects.bulk_create(
            [CountyDayFigures(county_code=county.code, **row) for row in counted], batch_size=2000
        )
        state.refreshed_at = started
        state.changes_seen_until = started - SNAPSHOT_OVERLAP
        state.save()
    return len(counted)


# -- province-wide quarterly report (public schema, provincial operators) --------------------------

PROVINCE_DIR = "reports/province"
PROVINCE_STALE_SECONDS = 15 * 60
REPORT_STALE_SECONDS = 15 * 60


def _province_name(year: int, quarter: int, ext: str) -> str:
    return f"{PROVINCE_DIR}/{year}-Q{quarter}.{ext}"


def province_report_state(*, year: int, quarter: int) -> dict[str, Any]:
    """Status and progress of a province-wide report (kept in the cache while it is built)."""
    state = cache.get(f"reporting:province:{year}-Q{quarter}")
    if state is None:
        state = {"status": ReportStatus.DONE if default_storage.exists(_province_name(year, quarter, "pdf")) else ""}
        state.setdefault("progress", 100 if state["status"] else 0)
    return dict(state)


def _province_state_set(year: int, quarter: int, **state: Any) -> None:
    state["at"] = timezone.now().timestamp()
    cache.set(f"reporting:province:{year}-Q{quarter}", state, timeout=24 * 3600)


def province_report_request(*, actor: User, year: int, quarter: int) -> dict[str, Any]:
    """A provincial operator asks for a quarter's province-wide report; the worker builds it."""
    if current_schema() != get_public_schema_name() or not has_platform_role(actor, PlatformRole.OPERATOR):
        raise PermissionDeniedError(ReportingErrorCode.PERMISSION_DENIED, _("Only provincial operators may do this."))
    if quarter not in (1, 2, 3, 4) or not 2000 <= year <= 2100:
        raise ReportingError(ReportingErrorCode.INVALID, _("Name a year and a quarter from 1 to 4."))
    if quarter_bounds(year, quarter)[0] > timezone.localdate():
        raise ReportingError(ReportingErrorCode.INVALID, _("This quarter has not started yet."))
    state = province_report_state(year=year, quarter=quarter)
    # A build that has not moved for a while died with its worker: it may be asked for again.
    fresh = timezone.now().timestamp() - state.get("at", 0) < PROVINCE_STALE_SECONDS
    if state.get("status") in {ReportStatus.QUEUED, ReportStatus.RUNNING} and fresh:
        return state
    _province_state_set(year, quarter, status=ReportStatus.QUEUED, progress=0)
    transaction.on_commit(lambda: _queue_province(year, quarter))
    return province_report_state(year=year, quarter=quarter)


def _queue_province(year: int, quarter: int) -> None:
    from reporting.tasks import generate_province_report

    generate_province_report.delay(year, quarter)


def province_report_generate(*, year: int, quarter: int) -> dict[str, Any]:
    """Build the province-wide PDF and its figures (JSON beside it). A rebuild keeps the first
    build's ``as_of``, so the same cases give the same figures; running twice is harmless."""
    sidecar = _province_name(year, quarter, "json")
    as_of = timezone.now()
    if default_storage.exists(sidecar):
        with default_storage.open(sidecar) as handle:
            as_of = datetime.datetime.fromisoformat(json.load(handle)["as_of"])

    def progress(percent: int, stage: str) -> None:
        _province_state_set(year, quarter, status=ReportStatus.RUNNING, progress=percent)

    progress(5, "")
    content = documents.province_content(year=year, quarter=quarter, as_of=as_of, progress=progress)
    html = pdf.render_html(
        "reporting/pdf/province.html",
        content,
        header_left=str(_("Province-wide report")),
        header_right=content["period"],
    )
    data, pages = pdf.render_pdf(html)
    for name, body in (
        (sidecar, json.dumps(content["figures"]).encode()),
        (_province_name(year, quarter, "pdf"), data),
    ):
        if default_storage.exists(name):
            default_storage.delete(name)
        default_storage.save(name, ContentFile(body))
    _province_state_set(year, quarter, status=ReportStatus.DONE, progress=100, pages=pages)
    return province_report_state(year=year, quarter=quarter)


def province_report_file(*, year: int, quarter: int) -> Any:
    name = _province_name(year, quarter, "pdf")
    if not default_storage.exists(name):
        raise NotReadyError(ReportingErrorCode.NOT_READY, _("The report is not ready yet."))
    return default_storage.open(name)
