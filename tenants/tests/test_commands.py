from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from conftest import county_config_path
from tenants.models import County
from tenants.tests.test_config import minimal

pytestmark = pytest.mark.django_db


def test_command_reports_unchanged_on_a_second_run(two_counties):
    out = StringIO()
    call_command("county_onboard", str(county_config_path("chengzhong")), stdout=out)
    assert "unchanged" in out.getvalue()


def test_command_names_file_field_and_code_of_a_broken_file(two_counties, tmp_path: Path):
    data = minimal()
    del data["county"]["province"]
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("county_onboard", str(broken), stdout=StringIO(), stderr=err)
    assert "broken.yaml: county.province: [missing] 此项为必填项。" in err.getvalue()
    assert "[tenants.config_invalid]" in err.getvalue()
    assert not County.objects.filter(code="999901").exists()
