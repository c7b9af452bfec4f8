"""County configuration as code: parse and validate one YAML file into the specs the services apply.

Validation is complete before anything is written, and reports every problem at once with the
file, the field path (``windows[2].code``), a stable code and a Chinese message.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.utils.translation import gettext as _

from casework.models import CauseSide, WindowLevel
from casework.services import CategorySpec, CauseSpec, DepartmentSpec, RequestKindSpec, WindowSpec
from sla.models import Clock, DurationUnit
from sla.services import DeadlineRuleSpec, LocalHolidaySpec, OfficeHoursSpec
from tenants.errors import ConfigProblemCode, CountyConfigError, TenantsErrorCode

SUPPORTED_VERSION = 1
# Closed cases keep their personal data this many days (3 years unless the county says otherwise);
# at least 30, so that a mistake in the file cannot anonymise last week's cases.
RETENTION_DEFAULT_DAYS = 1095
RETENTION_DAYS_RANGE = (30, 36500)
CODE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
DIVISION_CODE_RE = re.compile(r"^[1-9]\d{5}$")
CASE_PREFIX_RE = re.compile(r"^[A-Z]{2,4}$")
MONTH_DAY_RE = re.compile(r"^(\d{2})-(\d{2})$")
TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
# Deeper than any real configuration, far below Python's recursion limit.
YAML_MAX_DEPTH = 32
# Ten years of working days: more is a typo, and would not fit the database's integer either.
WORKING_DAYS_MAX = 3650
WORKING_HOURS_MAX = WORKING_DAYS_MAX * 24


@dataclass(frozen=True)
class CountySpec:
    code: str
    slug: str
    name: str
    full_name: str
    province: str
    city: str
    case_prefix: str
    window_name: str
    running_department: str
    # PIPL art. 19: how long a closed case keeps its personal data (casework.retention).
    personal_data_retention_days: int = 1095


@dataclass(frozen=True)
class CountyConfig:
    source: str
    digest: str
    county: CountySpec
    windows: list[WindowSpec] = field(default_factory=list)
    departments: list[DepartmentSpec] = field(default_factory=list)
    request_kinds: list[RequestKindSpec] = field(default_factory=list)
    categories: list[CategorySpec] = field(default_factory=list)
    causes: list[CauseSpec] = field(default_factory=list)
    deadline_rules: list[DeadlineRuleSpec] = field(default_factory=list)
    holidays: list[LocalHolidaySpec] = field(default_factory=list)
    office_hours: list[OfficeHoursSpec] = field(default_factory=list)
    # The YAML it was read from, kept as a configuration version when applied.
    text: str = ""


def county_config_read(path: Path) -> CountyConfig:
    """Read and validate a county configuration file."""
    source = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CountyConfigError(
            source,
            [_problem("", ConfigProblemCode.INVALID, _("The file cannot be read: %(reason)s") % {"reason": exc})],
            code=TenantsErrorCode.CONFIG_UNREADABLE,
        ) from exc
    return county_config_parse(text, source=source)


class YamlUnreadable(Exception):
    """The text is no YAML this platform accepts; ``message`` says why, for the person who wrote it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Refused(yaml.YAMLError):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without anchors and aliases, and with a bounded nesting depth.

    Aliases let a few hundred bytes expand into gigabytes (a "billion laughs"); nothing in a
    county configuration needs them. Deep nesting would otherwise exhaust Python's stack.
    """

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(
                _("YAML anchors and aliases (& and *) are not allowed (line %(line)d).") % {"line": line}, line
            )
        if self._depth >= YAML_MAX_DEPTH:
            raise _Refused(
                _("The YAML is nested too deeply (at most %(max)d levels, line %(line)d).")
                % {"max": YAML_MAX_DEPTH, "line": line},
                line,
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def yaml_read(text: str) -> Any:
    """Parse YAML text as data; every way it can fail is a YamlUnreadable with a readable message."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except _Refused as exc:
        raise YamlUnreadable(exc.message) from exc
    except yaml.YAMLError as exc:
        raise YamlUnreadable(_("Not valid YAML: %(reason)s") % {"reason": shown(str(exc), 300)}) from exc
    except ValueError as exc:
        # PyYAML's constructors raise plain ValueError for values that look right but are not,
        # such as the date 2026-02-30.
        raise YamlUnreadable(
            _("A value in the YAML cannot be read (an impossible date?): %(reason)s") % {"reason": shown(str(exc))}
        ) from exc
    except RecursionError as exc:
        raise YamlUnreadable(_("The YAML is nested too deeply.")) from exc


def shown(value: Any, limit: int = 80) -> str:
    """A value from the file as it may appear in a message: text as is, anything else as repr; never long."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def county_config_parse(text: str, *, source: str) -> CountyConfig:
    """Validate the YAML text of a county configuration; ``source`` names it in errors."""
    try:
        data = yaml_read(text)
    except YamlUnreadable as exc:
        raise CountyConfigError(
            source,
            [_problem("", ConfigProblemCode.INVALID, exc.message)],
            code=TenantsErrorCode.CONFIG_UNREADABLE,
        ) from exc
    reader = _Reader()
    config = reader.config(data, source=source)
    if reader.problems or config is None:
        raise CountyConfigError(source, reader.problems)
    return dataclasses.replace(config, text=text)


def _problem(path: str, code: ConfigProblemCode, message: str) -> dict[str, Any]:
    return {"field": path or "(file)", "code": str(code), "message": message}


class _Reader:
    """Walks the parsed YAML, collecting every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[dict[str, Any]] = []

    def add(self, path: str, code: ConfigProblemCode, message: str) -> None:
        self.problems.append(_problem(path, code, message))

    # -- primitives -------------------------------------------------------------------------

    def mapping(self, value: Any, path: str, allowed: set[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(path, ConfigProblemCode.WRONG_TYPE, _("Expected a mapping of fields."))
            return None
        for key in value:
            if key not in allowed:
                self.add(
                    _join(path, str(key)),
                    ConfigProblemCode.UNKNOWN_FIELD,
                    _("Unknown field; allowed fields: %(allowed)s.") % {"allowed": ", ".join(sorted(allowed))},
                )
        return value

    def text(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        *,
        required: bool = True,
        max_length: int = 128,
        pattern: re.Pattern[str] | None = None,
        pattern_message: str = "",
    ) -> str:
        where = _join(path, key)
        value = obj.get(key)
        if value is None or value == "":
            if required:
                self.add(where, ConfigProblemCode.MISSING, _("This field is required."))
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.add(where, ConfigProblemCode.WRONG_TYPE, _("Expected text."))
            return ""
        # YAML reads an unquoted 450202 as a number; a division code is still meant.
        value = str(value).strip()
        if len(value) > max_length:
            self.add(where, ConfigProblemCode.INVALID, _("Too long: at most %(max)d characters.") % {"max": max_length})
        elif pattern is not None and not pattern.match(value):
            self.add(where, ConfigProblemCode.INVALID, pattern_message)
        return value

    def code(self, obj: dict[str, Any], key: str, path: str, *, required: bool = True) -> str:
        return self.text(
            obj,
            key,
            path,
            required=required,
            max_length=40,
            pattern=CODE_RE,
            pattern_message=_(
                "Codes are lowercase letters, digits, '-' and '_', start with a letter and have at most 40 characters."
            ),
        )

    def choice(self, obj: dict[str, Any], key: str, path: str, choices: list[str], *, required: bool = True) -> str:
        value = self.text(obj, key, path, required=required, max_length=40)
        if value and value not in choices:
            self.add(
                _join(path, key),
                ConfigProblemCode.INVALID,
                _("Must be one of: %(choices)s.") % {"choices": ", ".join(choices)},
            )
        return value

    def items(self, data: dict[str, Any], key: str, *, required: bool = True) -> list[tuple[str, Any]]:
        value = data.get(key)
        if value is None:
            if required:
                self.add(key, ConfigProblemCode.MISSING, _("This field is required."))
            return []
        if not isinstance(value, list):
            self.add(key, ConfigProblemCode.WRONG_TYPE, _("Expected a list."))
            return []
        if required and not value:
            self.add(key, ConfigProblemCode.MISSING, _("At least one item is required."))
        return [(f"{key}[{index}]", item) for index, item in enumerate(value)]

    def unique(self, specs: list[Any], paths: list[str], attribute: str, label: str) -> None:
        first: dict[str, str] = {}
        for spec, path in zip(specs, paths, strict=True):
            value = getattr(spec, attribute)
            if not value:
                continue
            if value in first:
                self.add(
                    _join(path, attribute),
                    ConfigProblemCode.DUPLICATE,
                    _("Duplicate %(label)s “%(value)s”: already used at %(first)s.")
                    % {"label": label, "value": value, "first": first[value]},
                )
            else:
                first[value] = path

    def reference(self, value: str, path: str, known: dict[str, str], what: str) -> None:
        if value and value not in known:
            self.add(
                path,
                ConfigProblemCode.UNKNOWN_REFERENCE,
                _("“%(value)s” is not a %(what)s defined in this file; defined: %(known)s.")
                % {"value": value, "what": what, "known": ", ".join(known) or "—"},
            )

    # -- sections ---------------------------------------------------------------------------

    def config(self, data: Any, *, source: str) -> CountyConfig | None:
        top = self.mapping(
            data,
            "",
            {
                "version",
                "county",
                "windows",
                "departments",
                "request_kinds",
                "categories",
                "causes",
                "deadline_rules",
                "holidays",
            },
        )
        if top is None:
            return None
        version = top.get("version")
        if version != SUPPORTED_VERSION:
            self.add(
                "version",
                ConfigProblemCode.INVALID,
                _("Unsupported configuration version %(version)s; this platform reads version %(supported)d.")
                % {"version": shown(version), "supported": SUPPORTED_VERSION},
            )
        county_data = top.get("county")
        county, office_hours = self.county(county_data)
        windows = self.section(top, "windows", self.window)
        departments = self.section(top, "departments", self.department)
        kinds = self.section(top, "request_kinds", self.named(RequestKindSpec))
        categories = self.section(top, "categories", self.category)
        causes = self.section(top, "causes", self.cause)
        rules = self.section(top, "deadline_rules", self.rule, required=False)
        holidays = self.section(top, "holidays", self.holiday, required=False)

        department_codes = {d.code: d.name for d, _path in departments}
        if county is not None:
            self.reference(county.running_department, "county.running_department", department_codes, _("department"))
        known = {
            "kind": ({k.code: k.name for k, _p in kinds}, _("request kind")),
            "category": ({c.code: c.name for c, _p in categories}, _("category")),
            "cause": ({c.code: c.name for c, _p in causes}, _("cause")),
            "department": (department_codes, _("department")),
        }
        for rule, path in rules:
            for key, attribute in (
                ("kind", "kind_code"),
                ("category", "category_code"),
                ("cause", "cause_code"),
                ("department", "department_code"),
            ):
                codes, what = known[key]
                self.reference(getattr(rule, attribute), _join(path, key), codes, what)

        if county is None or self.problems:
            return None
        running = county.running_department
        digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()
        return CountyConfig(
            source=source,
            digest=digest,
            county=county,
            windows=[w for w, _p in windows],
            departments=[
                DepartmentSpec(code=d.code, name=d.name, short_name=d.short_name, runs_window=d.code == running)
                for d, _p in departments
            ],
            request_kinds=[k for k, _p in kinds],
            categories=[c for c, _p in categories],
            causes=[c for c, _p in causes],
            deadline_rules=[r for r, _p in rules],
            holidays=[h for h, _p in holidays],
            office_hours=office_hours,
        )

    def section(
        self, top: dict[str, Any], key: str, build: Callable[[Any, str], Any], *, required: bool = True
    ) -> list[tuple[Any, str]]:
        built = [(build(item, path), path) for path, item in self.items(top, key, required=required)]
        pairs = [(spec, path) for spec, path in built if spec is not None]
        specs = [spec for spec, _path in pairs]
        paths = [path for _spec, path in pairs]
        natural_key = "key" if key in {"holidays"} else "code"
        self.unique(specs, paths, natural_key, _("code") if natural_key == "code" else _("date"))
        if natural_key == "code" and key != "deadline_rules":
            self.unique(specs, paths, "name", _("name"))
        return pairs

    def county(self, value: Any) -> tuple[CountySpec | None, list[OfficeHoursSpec]]:
        if value is None:
            self.add("county", ConfigProblemCode.MISSING, _("This field is required."))
            return None, []
        obj = self.mapping(
            value,
            "county",
            {
                "code",
                "slug",
                "name",
                "full_name",
                "province",
                "city",
                "case_prefix",
                "window_name",
                "running_department",
                "office_hours",
                "personal_data_retention_days",
            },
        )
        if obj is None:
            return None, []
        path = "county"
        spec = CountySpec(
            code=self.text(
                obj,
                "code",
                path,
                pattern=DIVISION_CODE_RE,
                pattern_message=_("Must be a 6-digit administrative division code."),
            ),
            slug=self.text(
                obj,
                "slug",
                path,
                max_length=40,
                pattern=SLUG_RE,
                pattern_message=_("The slug is lowercase letters, digits and '-', starting with a letter."),
            ),
            name=self.text(obj, "name", path, max_length=64),
            full_name=self.text(obj, "full_name", path),
            province=self.text(obj, "province", path, max_length=64),
            city=self.text(obj, "city", path, max_length=64),
            case_prefix=self.text(
                obj, "case_prefix", path, pattern=CASE_PREFIX_RE, pattern_message=_("Must be 2 to 4 capital letters.")
            ),
            window_name=self.text(obj, "window_name", path, required=False),
            running_department=self.code(obj, "running_department", path),
            personal_data_retention_days=self.retention_days(obj, path),
        )
        return spec, self.office_hours(obj.get("office_hours"), "county.office_hours")

    def retention_days(self, obj: dict[str, Any], path: str) -> int:
        value = obj.get("personal_data_retention_days", RETENTION_DEFAULT_DAYS)
        low, high = RETENTION_DAYS_RANGE
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.add(
                _join(path, "personal_data_retention_days"),
                ConfigProblemCode.INVALID,
                _("Days from closing to anonymisation: a whole number from %(low)d to %(high)d.")
                % {"low": low, "high": high},
            )
            return RETENTION_DEFAULT_DAYS
        return value

    def window(self, value: Any, path: str) -> WindowSpec | None:
        obj = self.mapping(value, path, {"code", "name", "level"})
        if obj is None:
            return None
        return WindowSpec(
            code=self.code(obj, "code", path),
            name=self.text(obj, "name", path),
            level=self.choice(obj, "level", path, list(WindowLevel.values)),
        )

    def department(self, value: Any, path: str) -> DepartmentSpec | None:
        obj = self.mapping(value, path, {"code", "name", "short_name"})
        if obj is None:
            return None
        return DepartmentSpec(
            code=self.code(obj, "code", path),
            name=self.text(obj, "name", path),
            short_name=self.text(obj, "short_name", path, required=False, max_length=32),
        )

    def named(self, spec_type: type[RequestKindSpec]) -> Callable[[Any, str], RequestKindSpec | None]:
        def build(value: Any, path: str) -> RequestKindSpec | None:
            obj = self.mapping(value, path, {"code", "name"})
            if obj is None:
                return None
            return spec_type(code=self.code(obj, "code", path), name=self.text(obj, "name", path))

        return build

    def category(self, value: Any, path: str) -> CategorySpec | None:
        obj = self.mapping(value, path, {"code", "name", "description"})
        if obj is None:
            return None
        return CategorySpec(
            code=self.code(obj, "code", path),
            name=self.text(obj, "name", path),
            description=self.text(obj, "description", path, required=False, max_length=255),
        )

    def cause(self, value: Any, path: str) -> CauseSpec | None:
        obj = self.mapping(value, path, {"code", "name", "side"})
        if obj is None:
            return None
        return CauseSpec(
            code=self.code(obj, "code", path),
            name=self.text(obj, "name", path),
            side=self.choice(obj, "side", path, list(CauseSide.values)),
        )

    def rule(self, value: Any, path: str) -> DeadlineRuleSpec | None:
        durations = {"working_days", "working_hours", "immediate"}
        obj = self.mapping(
            value, path, {"code", "name", "clock", "kind", "category", "cause_side", "cause", "department"} | durations
        )
        if obj is None:
            return None
        given = sorted(durations & obj.keys())
        unit, amount = "", 0
        if len(given) != 1:
            self.add(
                path,
                ConfigProblemCode.INVALID,
                _("Give exactly one of working_days, working_hours or immediate."),
            )
        elif given[0] == "immediate":
            unit = DurationUnit.IMMEDIATE
            if obj["immediate"] is not True:
                self.add(_join(path, "immediate"), ConfigProblemCode.INVALID, _("Write immediate: true."))
        else:
            unit = DurationUnit(given[0])
            amount = obj[given[0]]
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                self.add(_join(path, given[0]), ConfigProblemCode.INVALID, _("Must be a positive whole number."))
                amount = 0
            else:
                high = WORKING_DAYS_MAX if unit == DurationUnit.WORKING_DAYS else WORKING_HOURS_MAX
                if amount > high:
                    self.add(
                        _join(path, given[0]),
                        ConfigProblemCode.INVALID,
                        _("Must be a whole number from 1 to %(high)d.") % {"high": high},
                    )
                    amount = 0
        return DeadlineRuleSpec(
            code=self.code(obj, "code", path),
            name=self.text(obj, "name", path),
            clock=self.choice(obj, "clock", path, list(Clock.values)),
            unit=str(unit),
            amount=amount,
            kind_code=self.code(obj, "kind", path, required=False),
            category_code=self.code(obj, "category", path, required=False),
            cause_side=self.choice(obj, "cause_side", path, list(CauseSide.values), required=False),
            cause_code=self.code(obj, "cause", path, required=False),
            department_code=self.code(obj, "department", path, required=False),
        )

    def holiday(self, value: Any, path: str) -> LocalHolidaySpec | None:
        obj = self.mapping(value, path, {"month_day", "date", "name"})
        if obj is None:
            return None
        name = self.text(obj, "name", path)
        has_month_day, has_date = "month_day" in obj, "date" in obj
        if has_month_day == has_date:
            self.add(path, ConfigProblemCode.INVALID, _("Give exactly one of month_day (MM-DD) or date (YYYY-MM-DD)."))
            return None
        if has_date:
            raw = obj["date"]
            try:
                day = raw if isinstance(raw, datetime.date) else datetime.date.fromisoformat(str(raw))
            except ValueError:
                self.add(_join(path, "date"), ConfigProblemCode.INVALID, _("Not a valid date (YYYY-MM-DD)."))
                return None
            return LocalHolidaySpec(key=day.isoformat(), name=name)
        raw_month_day = str(obj["month_day"])
        match = MONTH_DAY_RE.match(raw_month_day)
        try:
            # 2024 is a leap year, so 02-29 is accepted as a day that exists in some years.
            valid = match is not None and bool(datetime.date(2024, int(match[1]), int(match[2])))
        except ValueError:
            valid = False
        if not valid:
            self.add(_join(path, "month_day"), ConfigProblemCode.INVALID, _("Not a valid day of the year (MM-DD)."))
            return None
        return LocalHolidaySpec(key=raw_month_day, name=name)

    def office_hours(self, value: Any, path: str) -> list[OfficeHoursSpec]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(path, ConfigProblemCode.WRONG_TYPE, _("Expected a list."))
            return []
        periods: list[OfficeHoursSpec] = []
        for index, item in enumerate(value):
            where = f"{path}[{index}]"
            obj = self.mapping(item, where, {"start", "end", "months"})
            if obj is None:
                continue
            months = self.months(obj.get("months"), _join(where, "months"))
            if months is None:
                continue
            start, end = (
                self.time(obj.get("start"), _join(where, "start")),
                self.time(obj.get("end"), _join(where, "end")),
            )
            if start is None or end is None:
                continue
            if end <= start:
                self.add(where, ConfigProblemCode.INVALID, _("The end must be after the start."))
                continue
            if any(
                start < other.end and other.start < end and _months_overlap(months, other.months) for other in periods
            ):
                self.add(where, ConfigProblemCode.INVALID, _("This period overlaps another."))
                continue
            suffix = f"@{months}" if months else ""
            periods.append(
                OfficeHoursSpec(key=f"{start:%H:%M}-{end:%H:%M}{suffix}", start=start, end=end, months=months)
            )
        return periods

    def months(self, value: Any, path: str) -> str | None:
        """Summer/winter hours: the months a period applies in (all year when absent)."""
        if value is None:
            return ""
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in value)
        ):
            self.add(path, ConfigProblemCode.INVALID, _("List the months as numbers from 1 to 12."))
            return None
        return ",".join(str(m) for m in sorted(set(value)))

    def time(self, value: Any, path: str) -> datetime.time | None:
        if value is None:
            self.add(path, ConfigProblemCode.MISSING, _("This field is required."))
            return None
        # YAML 1.1 reads an unquoted 14:30 as the base-60 number 870.
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
            return datetime.time(value // 60, value % 60)
        match = TIME_RE.match(str(value))
        try:
            if match is None:
                raise ValueError(value)
            return datetime.time(int(match[1]), int(match[2]))
        except ValueError:
            self.add(path, ConfigProblemCode.INVALID, _("Not a valid time (HH:MM)."))
            return None


def _months_overlap(a: str, b: str) -> bool:
    if not a or not b:
        return True
    return bool(set(a.split(",")) & set(b.split(",")))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
