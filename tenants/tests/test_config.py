"""Parsing and validating county configuration files: every problem named, in Chinese, with a code."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

from tenants.config import county_config_parse, county_config_read
from tenants.errors import CountyConfigError, TenantsErrorCode

MINIMAL: dict[str, Any] = {
    "version": 1,
    "county": {
        "code": "999901",
        "slug": "testxian",
        "name": "测试县",
        "full_name": "测试市测试县",
        "province": "测试省",
        "city": "测试市",
        "case_prefix": "TX",
        "running_department": "office",
        "office_hours": [{"start": "08:30", "end": "12:00"}, {"start": "14:30", "end": "17:30"}],
    },
    "windows": [{"code": "hall", "name": "测试县政务服务中心“办不成事”窗口", "level": "county_hall"}],
    "departments": [
        {"code": "office", "name": "测试县行政审批服务局", "short_name": "审批局"},
        {"code": "market", "name": "测试县市场监督管理局"},
    ],
    "request_kinds": [{"code": "consultation", "name": "咨询"}, {"code": "case", "name": "办件"}],
    "categories": [{"code": "simple", "name": "简单事项"}],
    "causes": [{"code": "materials", "name": "申请材料不齐全", "side": "citizen"}],
    "deadline_rules": [
        {
            "code": "simple-reply",
            "name": "简单事项3个工作日内答复",
            "clock": "reply",
            "category": "simple",
            "working_days": 3,
        },
        {"code": "market-now", "name": "即收即转", "clock": "acceptance", "department": "market", "immediate": True},
    ],
    "holidays": [{"month_day": "09-03", "name": "州庆"}],
}


def minimal(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data.update(changes)
    return data


def parse(data: Any) -> Any:
    return county_config_parse(yaml.safe_dump(data, allow_unicode=True), source="testxian.yaml")


def problems(data: Any) -> list[dict[str, Any]]:
    with pytest.raises(CountyConfigError) as caught:
        parse(data)
    assert caught.value.code == TenantsErrorCode.CONFIG_INVALID
    return caught.value.details


@pytest.mark.parametrize("slug", ["chengzhong", "longjing", "shaoyang"])
def test_shipped_demo_configs_are_valid(slug: str) -> None:
    config = county_config_read(Path(settings.COUNTY_CONFIG_DIR) / f"{slug}.yaml")
    assert config.county.slug == slug
    assert config.windows and config.departments and config.request_kinds and config.categories
    assert sum(d.runs_window for d in config.departments) == 1


def test_minimal_config_parses_into_specs() -> None:
    config = parse(MINIMAL)
    assert config.county.code == "999901"
    assert [d.runs_window for d in config.departments] == [True, False]
    assert config.deadline_rules[0].unit == "working_days" and config.deadline_rules[0].amount == 3
    assert config.deadline_rules[1].unit == "immediate"
    assert [h.key for h in config.holidays] == ["09-03"]
    assert [p.key for p in config.office_hours] == ["08:30-12:00", "14:30-17:30"]


def test_same_text_gives_same_digest() -> None:
    assert parse(MINIMAL).digest == parse(minimal()).digest
    assert parse(MINIMAL).digest != parse(minimal(holidays=[])).digest


def test_missing_field_is_named_in_chinese() -> None:
    data = minimal()
    del data["county"]["name"]
    (problem,) = problems(data)
    assert problem["file"] == "testxian.yaml"
    assert problem["field"] == "county.name"
    assert problem["code"] == "missing"
    assert problem["message"] == "此项为必填项。"


def test_unknown_department_in_a_rule_is_named() -> None:
    data = minimal()
    data["deadline_rules"][1]["department"] = "police"
    (problem,) = problems(data)
    assert problem["field"] == "deadline_rules[1].department"
    assert problem["code"] == "unknown_reference"
    assert "police" in problem["message"] and "部门" in problem["message"]


def test_duplicate_window_is_named_with_the_first_place() -> None:
    data = minimal()
    data["windows"].append(dict(data["windows"][0], name="另一个窗口"))
    (problem,) = problems(data)
    assert problem["field"] == "windows[1].code"
    assert problem["code"] == "duplicate"
    assert "windows[0]" in problem["message"]


def test_every_problem_is_reported_at_once() -> None:
    data = minimal()
    data["county"]["code"] = "12345"
    data["county"]["case_prefix"] = "tx"
    data["windows"][0]["level"] = "palace"
    data["departments"][1]["colour"] = "red"
    data["deadline_rules"][0]["working_days"] = 0
    data["holidays"][0]["month_day"] = "02-30"
    fields = {p["field"]: p["code"] for p in problems(data)}
    assert fields == {
        "county.code": "invalid",
        "county.case_prefix": "invalid",
        "windows[0].level": "invalid",
        "departments[1].colour": "unknown_field",
        "deadline_rules[0].working_days": "invalid",
        "holidays[0].month_day": "invalid",
    }


def test_a_rule_needs_exactly_one_duration() -> None:
    data = minimal()
    data["deadline_rules"][0]["immediate"] = True
    (problem,) = problems(data)
    assert problem["field"] == "deadline_rules[0]"
    assert "working_days" in problem["message"]


def test_unknown_running_department() -> None:
    data = minimal()
    data["county"]["running_department"] = "nobody"
    (problem,) = problems(data)
    assert problem["field"] == "county.running_department"


def test_wrong_shapes_are_reported_not_crashed_on() -> None:
    assert problems(["not", "a", "mapping"])[0]["code"] == "wrong_type"
    assert {p["field"] for p in problems(minimal(windows="hall"))} == {"windows"}
    assert {p["field"] for p in problems(minimal(windows=[]))} == {"windows"}
    assert {p["field"] for p in problems(minimal(version=2))} == {"version"}


def test_unquoted_yaml_times_and_codes_are_understood() -> None:
    text = yaml.safe_dump(MINIMAL, allow_unicode=True).replace("'14:30'", "14:30").replace("'999901'", "999901")
    assert "start: 14:30" in text
    config = county_config_parse(text, source="t.yaml")
    assert config.office_hours[1].key == "14:30-17:30"
    assert config.county.code == "999901"


def test_overlapping_office_hours_are_refused() -> None:
    data = minimal()
    data["county"]["office_hours"] = [{"start": "08:30", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]
    (problem,) = problems(data)
    assert problem["field"] == "county.office_hours[1]"


def test_broken_yaml_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(CountyConfigError) as caught:
        county_config_parse("county: [unclosed", source="bad.yaml")
    assert caught.value.code == TenantsErrorCode.CONFIG_UNREADABLE
    assert "bad.yaml" in caught.value.message
    with pytest.raises(CountyConfigError) as caught:
        county_config_read(tmp_path / "missing.yaml")
    assert caught.value.code == TenantsErrorCode.CONFIG_UNREADABLE
    assert "missing.yaml" in caught.value.message


def test_summer_and_winter_hours_may_share_a_time_but_not_a_month() -> None:
    data = minimal()
    data["county"]["office_hours"] = [
        {"start": "08:30", "end": "12:00"},
        {"start": "15:00", "end": "18:00", "months": [5, 6, 7, 8, 9]},
        {"start": "14:30", "end": "17:30", "months": [10, 11, 12, 1, 2, 3, 4]},
    ]
    config = parse(data)
    assert [p.months for p in config.office_hours] == ["", "5,6,7,8,9", "1,2,3,4,10,11,12"]
    data["county"]["office_hours"].append({"start": "17:00", "end": "19:00", "months": [9]})
    (problem,) = problems(data)
    assert problem["field"] == "county.office_hours[3]"
    data["county"]["office_hours"][3] = {"start": "19:00", "end": "20:00", "months": [13]}
    (problem,) = problems(data)
    assert problem["field"] == "county.office_hours[3].months"


def test_personal_data_retention_defaults_to_three_years_and_is_configurable() -> None:
    assert parse(minimal()).county.personal_data_retention_days == 1095
    data = minimal()
    data["county"]["personal_data_retention_days"] = 730
    assert parse(data).county.personal_data_retention_days == 730


@pytest.mark.parametrize("days", [0, 29, 36501, "三年", True])
def test_a_retention_period_out_of_range_is_refused(days: Any) -> None:
    data = minimal()
    data["county"]["personal_data_retention_days"] = days
    (problem,) = problems(data)
    assert problem["field"] == "county.personal_data_retention_days" and problem["code"] == "invalid"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (yaml.safe_dump(minimal(), allow_unicode=True) + "extra:\n  date: 2026-02-30\n", "无法读取"),
        ("[" * 5000 + "]" * 5000, "嵌套"),
        ("a: &a [x, x]\nb: [*a, *a]\nversion: *a\n", "锚点"),
    ],
    ids=["impossible-date", "deep-nesting", "alias"],
)
def test_yaml_that_pyyaml_chokes_on_is_a_clear_configuration_error(text, words):
    with pytest.raises(CountyConfigError) as error:
        county_config_parse(text, source="bad.yaml")
    assert error.value.code == TenantsErrorCode.CONFIG_UNREADABLE
    assert words in error.value.message and len(error.value.message) < 500


def test_an_alias_bomb_is_refused_before_it_expands():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    with pytest.raises(CountyConfigError) as error:
        county_config_parse("\n".join(lines) + "\nversion: *a6\n", source="bomb.yaml")
    assert len(error.value.message) < 500


def test_an_unsupported_version_is_shown_shortened():
    with pytest.raises(CountyConfigError) as error:
        parse(minimal(version=list(range(100_000))))
    message = next(d["message"] for d in error.value.details if d["field"] == "version")
    assert "…" in message and len(message) < 300


@pytest.mark.parametrize(("unit", "amount"), [("working_days", 3_000_000_000), ("working_hours", 10_000_000)])
def test_a_deadline_beyond_ten_years_is_refused(unit, amount):
    data = minimal()
    data["deadline_rules"][0].pop("working_days")
    data["deadline_rules"][0][unit] = amount
    with pytest.raises(CountyConfigError) as error:
        parse(data)
    problem = next(d for d in error.value.details if d["field"] == f"deadline_rules[0].{unit}")
    assert problem["code"] == "invalid" and "1 到" in problem["message"]
