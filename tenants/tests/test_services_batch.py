"""Batch onboarding: checked before anything is written, resumable, idempotent."""

from __future__ import annotations

import re
from io import StringIO

import pytest
import yaml
from celery.exceptions import SoftTimeLimitExceeded
from django.core.management import call_command

from banchengshi.errors import ApplicationError
from tenants.errors import TenantsErrorCode
from tenants.models import BatchStatus, County, CountyBatch
from tenants.services import case_prefix_for, county_batch_create, county_batch_run
from tenants.tests.test_config import minimal

pytestmark = pytest.mark.django_db

TEMPLATE = yaml.safe_dump(minimal(), allow_unicode=True)


def test_an_interrupted_batch_resumes_where_it_stopped(two_counties):
    batch = county_batch_create(
        csv_text="code,name\n140101,一县\n140102,二县\n140103,三县\n", template_yaml=TEMPLATE, source_name="b.csv"
    )

    class Interrupted(Exception):
        pass

    def stop_after_first(progress):
        raise Interrupted

    with pytest.raises(Interrupted):
        county_batch_run(batch_id=batch.pk, progress=stop_after_first)
    batch.refresh_from_db()
    assert (batch.done, batch.status) == (1, BatchStatus.RUNNING)
    assert list(County.objects.filter(code__startswith="1401").values_list("code", flat=True)) == ["140101"]

    finished = county_batch_run(batch_id=batch.pk)
    assert (finished.done, finished.failed, finished.status) == (3, 0, BatchStatus.FINISHED)
    assert County.objects.filter(code__startswith="1401").count() == 3


def test_a_row_that_conflicts_is_reported_and_the_others_are_onboarded(county_a):
    batch = county_batch_create(
        csv_text=f"code,name,slug\n150101,甲旗,{county_a.slug}\n150102,乙旗,\n",
        template_yaml=TEMPLATE,
        source_name="b.csv",
    )
    done = county_batch_run(batch_id=batch.pk)
    assert (done.done, done.failed) == (2, 1)
    assert done.errors[0]["line"] == "b.csv:2" and done.errors[0]["code"] == TenantsErrorCode.COUNTY_CONFLICT
    assert County.objects.filter(code="150102").exists() and not County.objects.filter(code="150101").exists()


def test_a_bad_file_or_template_is_refused_whole(two_counties):
    with pytest.raises(ApplicationError) as error:
        county_batch_create(csv_text="code,name,colour\n12,x\n", template_yaml=TEMPLATE, source_name="b.csv")
    fields = {(d["field"], d["code"]) for d in error.value.details}
    assert ("b.csv:1", "unknown_field") in fields
    bad_template = yaml.safe_dump({**minimal(), "windows": "none"}, allow_unicode=True)
    with pytest.raises(ApplicationError) as error:
        county_batch_create(csv_text="code,name\n160101,丙县\n", template_yaml=bad_template, source_name="b.csv")
    assert error.value.code == TenantsErrorCode.BATCH_INVALID
    assert any(d["field"] == "windows" for d in error.value.details)
    assert not CountyBatch.objects.exists()


def test_case_prefixes_are_four_letters_and_skip_those_taken():
    first = case_prefix_for("450202", set())
    assert len(first) == 4 and first.isalpha() and first.isupper()
    assert case_prefix_for("450202", {first}) != first


def test_the_command_prints_progress_and_what_failed(two_counties, tmp_path):
    rows = tmp_path / "counties.csv"
    rows.write_text("code,name\n170101,丁县\n", encoding="utf-8")
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE, encoding="utf-8")
    out = StringIO()
    call_command("county_onboard_batch", str(rows), "--template", str(template), stdout=out)
    assert "1/1 (100%)" in out.getvalue() and "1 onboarded, 0 failed" in out.getvalue()


def test_migrate_counties_reports_and_verifies(two_counties):
    out = StringIO()
    call_command("migrate_counties", "--verify", stdout=out)
    assert "0 failed" in out.getvalue() and re.search(
        r"verified: \d+ county schemas equal the template", out.getvalue()
    )


def test_a_batch_given_seconds_stops_after_the_row_that_used_them_up(two_counties):
    batch = county_batch_create(
        csv_text="code,name\n160101,甲县\n160102,乙县\n", template_yaml=TEMPLATE, source_name="s.csv"
    )
    first = county_batch_run(batch_id=batch.pk, seconds=0)
    assert (first.done, first.status) == (1, BatchStatus.RUNNING)
    rest = county_batch_run(batch_id=batch.pk, seconds=0)
    assert (rest.done, rest.failed, rest.status) == (2, 0, BatchStatus.FINISHED)


def test_a_worker_out_of_time_is_not_a_county_that_failed(two_counties, monkeypatch):
    from tenants import services

    batch = county_batch_create(
        csv_text="code,name\n160201,甲县\n160202,乙县\n160203,丙县\n", template_yaml=TEMPLATE, source_name="t.csv"
    )
    onboard, calls = services.county_onboard, []

    def out_of_time_at_the_second(**kwargs):
        calls.append(kwargs["config"])
        if len(calls) == 2:
            raise SoftTimeLimitExceeded()
        return onboard(**kwargs)

    monkeypatch.setattr(services, "county_onboard", out_of_time_at_the_second)
    with pytest.raises(SoftTimeLimitExceeded):
        county_batch_run(batch_id=batch.pk)
    batch.refresh_from_db()
    assert (batch.done, batch.failed, batch.errors, batch.status) == (1, 0, [], BatchStatus.RUNNING)

    finished = county_batch_run(batch_id=batch.pk)
    assert (finished.done, finished.failed, finished.status) == (3, 0, BatchStatus.FINISHED)
    assert County.objects.filter(code__startswith="1602").count() == 3


def test_the_task_runs_a_batch_as_a_chain_of_short_slices(two_counties, monkeypatch):
    from tenants import tasks

    batch = county_batch_create(
        csv_text="code,name\n160301,甲县\n160302,乙县\n", template_yaml=TEMPLATE, source_name="u.csv"
    )
    queued: list[int] = []
    monkeypatch.setattr(tasks, "BATCH_SLICE_SECONDS", 0)
    monkeypatch.setattr(tasks.county_batch_run_task, "delay", queued.append)
    assert tasks.county_batch_run_task(batch.pk) == 1 and queued == [batch.pk]  # the rest queued
    assert tasks.county_batch_run_task(batch.pk) == 2 and queued == [batch.pk]  # finished: nothing more
    assert CountyBatch.objects.get(pk=batch.pk).status == BatchStatus.FINISHED
