"""Batch onboarding: checked before anything is written, resumable, idempotent."""

from __future__ import annotations

import re
from io import StringIO

import pytest
import yaml
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
