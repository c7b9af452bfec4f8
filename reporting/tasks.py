"""Report tasks; each runs in one county's schema (CountyTask) and calls one service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from banchengshi.tasks import PlatformTask
from reporting import services


@shared_task(
    name="reporting.generate_quarterly_report",
    autoretry_for=(OperationalError,),
    retry_backoff=30,
    max_retries=3,
)
def generate_quarterly_report(report_id: str, generation: int) -> str:
    report = services.quarterly_report_generate(report_id=report_id, generation=generation)  # type: ignore[arg-type]
    return "" if report is None else report.status


@shared_task(name="reporting.refresh_after_anonymisation")
def refresh_after_anonymisation() -> int:
    """Retention: stored quarterly PDFs that showed now-anonymised cases are made again."""
    return services.reports_refresh_after_anonymisation()


@shared_task(
    name="reporting.refresh_snapshot",
    autoretry_for=(OperationalError,),
    retry_backoff=30,
    max_retries=3,
)
def refresh_snapshot(rebuild: bool = False) -> int:
    """This county's rows of the province's figures snapshot (dispatched to every county)."""
    return services.county_snapshot_refresh(rebuild=rebuild)


@shared_task(
    base=PlatformTask,
    name="reporting.generate_province_report",
    autoretry_for=(OperationalError,),
    retry_backoff=30,
    max_retries=3,
)
def generate_province_report(year: int, quarter: int) -> str:
    return str(services.province_report_generate(year=year, quarter=quarter).get("status", ""))
