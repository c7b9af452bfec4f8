"""Figures, each defined once here and used by every output (dashboard, API, PDF, spreadsheet).

A figure is one aggregate expression over the *cohort*: the cases registered in a period (local
dates, Asia/Shanghai), narrowed by the scope's filters. Every output asks ``figures`` or
``figures_by`` and formats what it gets; none counts on its own. Counting happens in SQL (one
grouped query for the counts, one for the durations); Python only turns distinct pairs of days
into working days, with the county calendar from ``sla`` (the only working-day arithmetic).

Reporting only reads; nothing imports it.
"""

from __future__ import annotations

import datetime
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DateTimeField,
    Exists,
    F,
    Func,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from casework.models import (
    BAD_RATING_MAX,
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Case,
    CaseStatus,
    Category,
    Cause,
    Channel,
    Department,
    Finding,
    FindingStatus,
    FollowUp,
    Rating,
    Reply,
    RequestKind,
    Window,
)
from casework.selectors import staff_profile_of
from reporting.errors import NotFoundError, PermissionDeniedError, ReportingErrorCode
from reporting.models import QuarterlyReport, ScoringRule
from reporting.policy import may_read
from sla.calendar import SHANGHAI, WorkCalendar
from sla.selectors import county_calendar

# A case's answer to the citizen is due by its reply clock, or by its resolution clock where the
# county sets only that one (邵阳县).
_DUE = Coalesce(F("reply_due_at"), F("resolution_due_at"), output_field=DateTimeField())
CONSULTATION_KIND = "consultation"

# -- the cohort and its conditions ----------------------------------------------------------------

# Forwarded away to another county (跨域通办): closed here, counted only as a forward out; the
# county that took it over counts it as received (and as a forward in).
_FORWARDED_OUT = Q(status=CaseStatus.FORWARDED)
_RECEIVED = ~_FORWARDED_OUT
_ACCEPTED = _RECEIVED & Q(accepted_at__isnull=False) & ~Q(status=CaseStatus.WITHDRAWN)
# 办结: the citizen has the answer that stands (a reopened case has none until it is answered again).
_COMPLETED = _ACCEPTED & Q(replied_at__isnull=False)
# 解决: the follow-up call confirmed it (an unsolved follow-up or a 差评 reopens the case instead).
_SOLVED = _COMPLETED & Q(status__in=[CaseStatus.FOLLOWED_UP, CaseStatus.ARCHIVED])


@dataclass(frozen=True)
class Scope:
    """Which cases a figure counts: registered from ``date_from`` to ``date_to`` (inclusive, local)."""

    date_from: datetime.date
    date_to: datetime.date
    kind: str = ""
    category: str = ""
    cause: str = ""
    department: str = ""  # the lead department (主办)
    window: str = ""
    channel: str = ""

    def filters(self) -> dict[str, str]:
        return {name: value for name, value in asdict(self).items() if name in FILTERS and value}

    def shifted_to(self, date_from: datetime.date, date_to: datetime.date) -> Scope:
        return Scope(date_from, date_to, **self.filters())


FILTERS = ("kind", "category", "cause", "department", "window", "channel")


def _lead_department() -> Subquery:
    """The department that leads the case now (the latest 主办 assignment)."""
    leads = Assignment.objects.filter(case=OuterRef("pk"), role=AssignmentRole.LEAD).order_by("-assigned_at", "-pk")
    return Subquery(leads.values("department__code")[:1])


def _count_of(queryset: QuerySet[Any]) -> Coalesce:
    counted = queryset.order_by().values("case").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def cohort(scope: Scope) -> QuerySet[Case]:
    """Every case registered in the scope, forwarded-away ones included (they count as forwards out)."""
    cases = Case.objects.filter(
        registered_at__date__gte=scope.date_from, registered_at__date__lte=scope.date_to
    ).annotate(lead_department=Coalesce(_lead_department(), Value("")))
    if scope.kind:
        cases = cases.filter(kind__code=scope.kind)
    if scope.category:
        cases = cases.filter(category__code=scope.category)
    if scope.cause:
        cases = cases.filter(cause__code=scope.cause)
    if scope.window:
        cases = cases.filter(window__code=scope.window)
    if scope.channel:
        cases = cases.filter(channel=scope.channel)
    if scope.department:
        cases = cases.filter(lead_department=scope.department)
    return cases


def _with_case_facts(cases: QuerySet[Case]) -> QuerySet[Case]:
    """Per-case facts from the related tables, as correlated subqueries (summed in SQL)."""
    bad = Rating.objects.filter(case=OuterRef("pk"), level__lte=BAD_RATING_MAX)
    later_reply = Reply.objects.filter(case=OuterRef("case"), replied_at__gt=OuterRef("at"))
    first_reply = Reply.objects.filter(case=OuterRef("pk")).order_by().values("case").annotate(at=Min("replied_at"))
    return cases.annotate(
        due=_DUE,
        first_reply_at=Subquery(first_reply.values("at")),
        has_reply=Exists(Reply.objects.filter(case=OuterRef("pk"))),
        has_follow_up=Exists(FollowUp.objects.filter(case=OuterRef("pk"))),
        has_assignment=Exists(Assignment.objects.filter(case=OuterRef("pk"))),
        has_return=Exists(Assignment.objects.filter(case=OuterRef("pk"), status=AssignmentStatus.RETURNED)),
        ratings_n=_count_of(Rating.objects.filter(case=OuterRef("pk"))),
        bad_n=_count_of(bad),
        # A 差评 is put right when the case was answered again after it (重办 and a new reply).
        bad_rectified_n=_count_of(bad.filter(Exists(later_reply))),
    )


def _count(condition: Q) -> Count:
    return Count("pk", filter=condition)


def _aggregates(now: datetime.datetime) -> dict[str, Any]:
    """Each count figure, once. ``now`` decides which open cases are already past their deadline."""
    answered = Q(replied_at__isnull=False)
    # On-time counts cases with a deadline that were neither refused nor withdrawn.
    timed = _RECEIVED & Q(due__isnull=False) & ~Q(status__in=[CaseStatus.NOT_ACCEPTED, CaseStatus.WITHDRAWN])
    paused = Q(status=CaseStatus.WAITING_MATERIALS)
    return {
        "received": _count(_RECEIVED),
        "consultations": _count(_RECEIVED & Q(kind__code=CONSULTATION_KIND)),
        "accepted": _count(_ACCEPTED),
        "not_accepted": _count(_RECEIVED & Q(status=CaseStatus.NOT_ACCEPTED)),
        "withdrawn": _count(_RECEIVED & Q(status=CaseStatus.WITHDRAWN)),
        "completed": _count(_COMPLETED),
        "solved": _count(_SOLVED),
        "on_time": _count(timed & answered & Q(replied_at__lte=F("due"))),
        "late_done": _count(timed & answered & Q(replied_at__gt=F("due"))),
        # Open and past the deadline is late; a case waiting for the citizen's materials has its clocks stopped.
        "late_open": _count(timed & ~answered & Q(due__lt=now) & ~paused),
        "not_yet_due": _count(timed & ~answered & (Q(due__gte=now) | paused)),
        "replied_ever": _count(_RECEIVED & Q(has_reply=True)),
        "followed_up": _count(_RECEIVED & Q(has_reply=True, has_follow_up=True)),
        "reopened": _count(_RECEIVED & Q(reopen_count__gt=0)),
        "reopen_total": Coalesce(Sum("reopen_count", filter=_RECEIVED), 0),
        "assigned": _count(_RECEIVED & Q(has_assignment=True)),
        "returned": _count(_RECEIVED & Q(has_return=True)),
        "ratings": Coalesce(Sum("ratings_n", filter=_RECEIVED), 0),
        "bad_ratings": Coalesce(Sum("bad_n", filter=_RECEIVED), 0),
        "bad_rectified": Coalesce(Sum("bad_rectified_n", filter=_RECEIVED), 0),
        "forwarded_in": _count(_RECEIVED & ~Q(forwarded_from="")),
        "forwarded_out": _count(_FORWARDED_OUT),
    }


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


@dataclass(frozen=True)
class Figures:
    """The figures of one set of cases. Rates are ``None`` where there is nothing to divide by."""

    received: int = 0
    consultations: int = 0
    accepted: int = 0
    not_accepted: int = 0
    withdrawn: int = 0
    completed: int = 0
    solved: int = 0
    on_time: int = 0
    late_done: int = 0
    late_open: int = 0
    not_yet_due: int = 0
    replied_ever: int = 0
    followed_up: int = 0
    reopened: int = 0
    reopen_total: int = 0
    assigned: int = 0
    returned: int = 0
    ratings: int = 0
    bad_ratings: int = 0
    bad_rectified: int = 0
    forwarded_in: int = 0
    forwarded_out: int = 0
    reply_days_avg: float | None = None
    reply_days_p90: int | None = None
    complete_days_avg: float | None = None
    complete_days_p90: int | None = None

    @property
    def cases(self) -> int:
        """办件: everything received that is not a consultation (咨询)."""
        return self.received - self.consultations

    @property
    def late(self) -> int:
        return self.late_done + self.late_open

    @property
    def completion_rate(self) -> float | None:  # 办结率
        return _rate(self.completed, self.accepted)

    @property
    def solve_rate(self) -> float | None:  # 解决率
        return _rate(self.solved, self.accepted)

    @property
    def on_time_rate(self) -> float | None:  # 按期办结率: open cases past their deadline are late
        return _rate(self.on_time, self.on_time + self.late)

    @property
    def satisfaction_rate(self) -> float | None:  # 满意率: every rating that is not a 差评
        return _rate(self.ratings - self.bad_ratings, self.ratings)

    @property
    def bad_rectification_rate(self) -> float | None:  # 差评整改率
        return _rate(self.bad_rectified, self.bad_ratings)

    @property
    def follow_up_rate(self) -> float | None:  # 回访率
        return _rate(self.followed_up, self.replied_ever)

    @property
    def reopen_rate(self) -> float | None:  # 重办率
        return _rate(self.reopened, self.replied_ever)

    @property
    def return_rate(self) -> float | None:  # 退回率
        return _rate(self.returned, self.assigned)

    def as_dict(self) -> dict[str, Any]:
        """Counts, rates and durations by their stable keys (the API and the stored report use these)."""
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        values["cases"] = self.cases
        values["late"] = self.late
        for name in RATES:
            values[name] = getattr(self, name)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Figures:
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})


_COUNTS = [f.name for f in fields(Figures) if not f.name.endswith(("_avg", "_p90"))]

RATES = (
    "completion_rate",
    "solve_rate",
    "on_time_rate",
    "satisfaction_rate",
    "bad_rectification_rate",
    "follow_up_rate",
    "reopen_rate",
    "return_rate",
)

# What a person reads beside each figure: the dashboard, the PDF, the spreadsheet and the API docs.
FIGURE_LABELS: dict[str, Any] = {
    "received": _("Received"),
    "consultations": _("Consultations"),
    "cases": _("Cases to handle"),
    "accepted": _("Accepted"),
    "not_accepted": _("Not accepted"),
    "withdrawn": _("Withdrawn"),
    "completed": _("Completed"),
    "completion_rate": _("Completion rate"),
    "solved": _("Solved"),
    "solve_rate": _("Solution rate"),
    "on_time": _("Completed on time"),
    "late": _("Late (incl. open overdue)"),
    "late_open": _("Open and overdue"),
    "on_time_rate": _("On-time completion rate"),
    "ratings": _("Ratings"),
    "satisfaction_rate": _("Satisfaction rate"),
    "bad_ratings": _("Bad ratings"),
    "bad_rectification_rate": _("Bad ratings rectified"),
    "follow_up_rate": _("Follow-up rate"),
    "reopened": _("Reopened"),
    "reopen_rate": _("Reopen rate"),
    "returned": _("Returned by departments"),
    "return_rate": _("Return rate"),
    "reply_days_avg": _("Working days to reply (average)"),
    "reply_days_p90": _("Working days to reply (90th percentile)"),
    "complete_days_avg": _("Working days to complete (average)"),
    "complete_days_p90": _("Working days to complete (90th percentile)"),
    "forwarded_in": _("Forwarded in from other counties"),
    "forwarded_out": _("Forwarded out to other counties"),
}
# The order the summary shows them in (everywhere).
SUMMARY_KEYS = tuple(FIGURE_LABELS)


# -- dimensions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    label: Any
    key: Any  # an expression over the cohort
    names: Any  # () -> {key: display name}


def _names(model: Any) -> Any:
    return lambda: dict(model.objects.values_list("code", "name"))


def _department_names() -> dict[str, str]:
    return {code: short or name for code, short, name in Department.objects.values_list("code", "short_name", "name")}


DIMENSIONS: dict[str, Dimension] = {
    "kind": Dimension(_("Request kind"), F("kind__code"), _names(RequestKind)),
    "category": Dimension(_("Category"), Coalesce(F("category__code"), Value("")), _names(Category)),
    "cause": Dimension(_("Cause"), Coalesce(F("cause__code"), Value("")), _names(Cause)),
    "department": Dimension(_("Lead department"), F("lead_department"), _department_names),
    "window": Dimension(_("Window"), Coalesce(F("window__code"), Value("")), _names(Window)),
    "channel": Dimension(_("Channel"), F("channel"), lambda: {v: str(label) for v, label in Channel.choices}),
    "month": Dimension(_("Month"), TruncMonth("registered_at", tzinfo=SHANGHAI), dict),
}


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    figures: Figures


# -- the two queries ------------------------------------------------------------------------------


def figures(*, scope: Scope, now: datetime.datetime | None = None) -> Figures:
    """All figures of the scope's cases, as of ``now`` (default: this moment)."""
    rows = _grouped(scope, None, now or timezone.now())
    return rows.get("", Figures())


def figures_by(*, scope: Scope, dimension: str, now: datetime.datetime | None = None) -> list[Row]:
    """The same figures per value of a dimension (kind, category, cause, department, window,
    channel, month), largest first (months in order); values without cases are left out."""
    spec = DIMENSIONS[dimension]
    rows = _grouped(scope, dimension, now or timezone.now())
    names = spec.names()
    unnamed = str(_("Not assigned")) if dimension == "department" else str(_("Not set"))
    result = [Row(key, names.get(key, key) or unnamed, value) for key, value in rows.items()]
    if dimension == "month":
        return sorted(result, key=lambda row: row.key)
    return sorted(result, key=lambda row: (-row.figures.received, row.key))


def _key(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.astimezone(SHANGHAI).strftime("%Y-%m")
    return "" if value is None else str(value)


def _grouped(scope: Scope, dimension: str | None, now: datetime.datetime) -> dict[str, Figures]:
    cases = _with_case_facts(cohort(scope))
    expressions = {**_aggregates(now), **_duration_aggregates(working_day_ordinals(scope))}
    if dimension is None:
        counted = {"": cases.aggregate(**expressions)}
    else:
        grouped = cases.annotate(group=DIMENSIONS[dimension].key).values("group").annotate(**expressions)
        counted = {_key(row["group"]): {k: v for k, v in row.items() if k != "group"} for row in grouped}
    return {key: _figures_of(counts) for key, counts in counted.items()}


def _figures_of(row: Mapping[str, Any]) -> Figures:
    values: dict[str, Any] = {name: int(row.get(name) or 0) for name in _COUNTS}
    for name in ("reply_days_avg", "complete_days_avg"):
        values[name] = None if row.get(name) is None else round(float(row[name]), 1)
    for name in ("reply_days_p90", "complete_days_p90"):
        values[name] = row.get(name)
    return Figures(**values)


# -- working days, in SQL ---------------------------------------------------------------------------
#
# sla's calendar counts the working days after one day up to and including another
# (``WorkCalendar.working_days_between``). That count is additive, so with ordinals
# ord(d) = working_days_between(base, d) for every day of the period, the working days between any
# two days are ord(end) - ord(start). The ordinals come from sla, day by day; SQL only subtracts
# them, so averages and percentiles are aggregated in the database with everything else.


@dataclass(frozen=True, eq=False)  # hashed by identity: Django hashes expressions and their arguments
class Ordinals:
    base: datetime.date
    values: list[int]


def working_day_ordinals(scope: Scope, calendar: WorkCalendar | None = None) -> Ordinals:
    """ord(d) for each day from the period's first day to tomorrow (no reply is later than now)."""
    calendar = calendar or county_calendar()
    last = max(scope.date_to, timezone.localdate()) + datetime.timedelta(days=1)
    values, running, day = [0], 0, scope.date_from
    while day < last:
        running += _working_days(calendar, day, day + datetime.timedelta(days=1))
        values.append(running)
        day += datetime.timedelta(days=1)
    return Ordinals(scope.date_from, values)


class WorkingDaysBetween(Func):
    """ord(end) - ord(start) for two dates, from the ordinals of ``working_day_ordinals``."""

    output_field = IntegerField()

    def __init__(self, start: Any, end: Any, ordinals: Ordinals) -> None:
        super().__init__(start, end)
        self.ordinals = ordinals

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        start, end = self.get_source_expressions()
        start_sql, start_params = compiler.compile(start)
        end_sql, end_params = compiler.compile(end)
        values, base = self.ordinals.values, self.ordinals.base
        if values is ORDINALS_BY_NAME:
            # The province's UNION names each county's array once instead of sending it per use.
            array, array_params = ORDINALS_NAME, []
        else:
            array, array_params = "%s::int[]", [values]
        lookup = f"({array})[(({{}}) - %s::date) + 1]"
        sql = f"({lookup.format(end_sql)} - {lookup.format(start_sql)})"
        return sql, [*array_params, *end_params, base, *array_params, *start_params, base]


# Compile with these ordinals to get SQL that reads the array from ORDINALS_NAME (a CTE column).
ORDINALS_BY_NAME: list[int] = []
ORDINALS_NAME = "__working_day_ordinals__"


class Percentile90(Aggregate):
    """Nearest rank (percentile_disc): the smallest value at least 90% of the rows do not exceed."""

    function = "percentile_disc"
    name = "Percentile90"
    template = "%(function)s(0.9) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = IntegerField()


def _duration_aggregates(ordinals: Ordinals) -> dict[str, Any]:
    """Working days from registration to the first reply (答复) and to the reply that stands (办结)."""
    start = TruncDate("registered_at", tzinfo=SHANGHAI)
    to_first = WorkingDaysBetween(start, TruncDate(Coalesce("first_reply_at", "replied_at"), tzinfo=SHANGHAI), ordinals)
    to_last = WorkingDaysBetween(start, TruncDate("replied_at", tzinfo=SHANGHAI), ordinals)
    return {
        "reply_days_avg": Avg(to_first, filter=_COMPLETED),
        "reply_days_p90": Percentile90(to_first, filter=_COMPLETED),
        "complete_days_avg": Avg(to_last, filter=_COMPLETED),
        "complete_days_p90": Percentile90(to_last, filter=_COMPLETED),
    }


def _working_days(calendar: WorkCalendar, start: datetime.date, end: datetime.date) -> int:
    noon = datetime.time(12)
    return calendar.working_days_between(
        datetime.datetime.combine(start, noon, tzinfo=SHANGHAI), datetime.datetime.combine(end, noon, tzinfo=SHANGHAI)
    )


def _mean(weighted: Iterable[tuple[int, int]]) -> float | None:
    pairs = list(weighted)
    total = sum(n for _v, n in pairs)
    return None if total == 0 else round(sum(v * n for v, n in pairs) / total, 1)


def percentile_90(weighted: Iterable[tuple[int, int]]) -> int | None:
    """Nearest rank: the smallest value that at least 90% of the cases do not exceed."""
    pairs = sorted(weighted)
    total = sum(n for _v, n in pairs)
    if total == 0:
        return None
    rank = math.ceil(0.9 * total)
    seen = 0
    for value, n in pairs:
        seen += n
        if seen >= rank:
            return value
    return pairs[-1][0]


# -- on time (kept as its own entry point: the casework pages and tests use it) --------------------


@dataclass(frozen=True)
class OnTime:
    on_time: int
    late_done: int
    late_open: int
    not_yet_due: int

    @property
    def decided(self) -> int:
        return self.on_time + self.late_done + self.late_open

    @property
    def rate(self) -> float | None:
        """按期办结率: on time / (on time + late), where open cases past their deadline are late."""
        return None if self.decided == 0 else self.on_time / self.decided


def on_time_rate(
    *, registered_from: datetime.date, registered_to: datetime.date, now: datetime.datetime | None = None
) -> OnTime:
    """On-time figures for the cases registered in a period (inclusive dates, Asia/Shanghai).

    A case is on time when the citizen was answered by its deadline; late when answered after it,
    or still unanswered with the deadline passed (its clocks running: a case waiting for the
    citizen's materials is not late). Cases without a deadline, not accepted, withdrawn or
    forwarded away are not counted. The same expressions as every other figure (``figures``).
    """
    wanted = ("on_time", "late_done", "late_open", "not_yet_due")
    expressions = {name: expr for name, expr in _aggregates(now or timezone.now()).items() if name in wanted}
    counts = cohort(Scope(registered_from, registered_to)).annotate(due=_DUE).aggregate(**expressions)
    return OnTime(**{key: value or 0 for key, value in counts.items()})


# -- rectification ledger (整改台账) --------------------------------------------------------------


@dataclass(frozen=True)
class LedgerStatus:
    total: int = 0
    open: int = 0
    rectified: int = 0
    verified: int = 0
    relapsed: int = 0
    overdue: int = 0

    @property
    def rectification_rate(self) -> float | None:
        """Rectified or verified by a look-back, out of all findings raised."""
        return _rate(self.rectified + self.verified, self.total)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rectification_rate": self.rectification_rate}


LEDGER_LABELS: dict[str, Any] = {
    "total": _("Findings raised"),
    "open": _("Open"),
    "rectified": _("Rectified"),
    "verified": _("Verified by look-back"),
    "relapsed": _("Did not hold"),
    "overdue": _("Past the rectification date"),
    "rectification_rate": _("Rectification rate"),
}


def ledger_findings(*, scope: Scope) -> QuerySet[Finding]:
    """The findings raised in the period (by department and cause where the scope names them)."""
    findings = Finding.objects.filter(raised_at__date__gte=scope.date_from, raised_at__date__lte=scope.date_to)
    if scope.department:
        findings = findings.filter(department__code=scope.department)
    if scope.cause:
        findings = findings.filter(cause__code=scope.cause)
    return findings


def ledger_status(*, scope: Scope, now: datetime.datetime | None = None) -> LedgerStatus:
    today = timezone.localtime(now or timezone.now()).date()
    still_open = Q(status__in=[FindingStatus.OPEN, FindingStatus.RELAPSED])
    counts = ledger_findings(scope=scope).aggregate(
        total=Count("pk"),
        open=Count("pk", filter=Q(status=FindingStatus.OPEN)),
        rectified=Count("pk", filter=Q(status=FindingStatus.RECTIFIED)),
        verified=Count("pk", filter=Q(status=FindingStatus.VERIFIED)),
        relapsed=Count("pk", filter=Q(status=FindingStatus.RELAPSED)),
        overdue=Count("pk", filter=still_open & Q(due_date__lt=today)),
    )
    return LedgerStatus(**counts)


# -- department ranking (绩效考核) ----------------------------------------------------------------


@dataclass(frozen=True)
class RankedDepartment:
    rank: int
    code: str
    name: str
    score: float
    figures: Figures
    returns_made: int
    points: dict[str, float] = field(default_factory=dict)


def returns_by_department(*, scope: Scope) -> dict[str, int]:
    """退回 made by each department (an assignment it sent back), on the scope's cases."""
    cases = cohort(scope).values("pk")
    rows = (
        Assignment.objects.filter(case__in=cases, status=AssignmentStatus.RETURNED)
        .values("department__code")
        .annotate(n=Count("pk"))
    )
    return {row["department__code"]: row["n"] for row in rows}


def department_ranking(
    *, scope: Scope, rule: Any, now: datetime.datetime | None = None, by_department: list[Row] | None = None
) -> list[RankedDepartment]:
    """Departments scored by the county's rule: points per case completed on time and per case
    solved; deductions per late case (open overdue included), per 差评 and per return made.
    ``by_department``: the scope's ``figures_by(dimension="department")`` when the caller has it."""
    if by_department is None:
        by_department = figures_by(scope=scope, dimension="department", now=now)
    rows = [row for row in by_department if row.key]
    returns = returns_by_department(scope=scope)
    names = _department_names()
    keys = {row.key for row in rows} | set(returns)
    by_key = {row.key: row.figures for row in rows}
    scored = []
    for key in keys:
        value = by_key.get(key, Figures())
        points = {
            "on_time": value.on_time * float(rule.on_time_points),
            "solved": value.solved * float(rule.solved_points),
            "late": -value.late * float(rule.overdue_deduction),
            "bad_ratings": -value.bad_ratings * float(rule.bad_rating_deduction),
            "returns": -returns.get(key, 0) * float(rule.return_deduction),
        }
        scored.append((round(sum(points.values()), 2), key, value, returns.get(key, 0), points))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [
        RankedDepartment(
            rank=index + 1,
            code=key,
            name=names.get(key, key),
            score=score,
            figures=value,
            returns_made=made,
            points=points,
        )  # fmt: skip
        for index, (score, key, value, made, points) in enumerate(scored)
    ]


# -- typical cases (anonymised) -------------------------------------------------------------------


def typical_cases(*, scope: Scope, limit: int = 5) -> QuerySet[Case]:
    """Cases worth telling: those behind a finding first, then reopened ones, then joint ones."""
    return (
        cohort(scope)
        .filter(_COMPLETED, anonymised_at__isnull=True)  # an anonymised case has no story left to tell
        .select_related("kind", "category", "cause")
        .annotate(
            findings_n=Count("findings", distinct=True),
            departments_n=Count("assignments__department", distinct=True),
        )
        .order_by("-findings_n", "-reopen_count", "-departments_n", "registered_at", "number")[:limit]
    )


def reports_showing_anonymised_cases() -> list[Any]:
    """Stored quarterly PDFs made before some case of their quarter was anonymised (retention)."""
    from reporting.models import QuarterlyReport, ReportStatus

    stale = []
    for report in QuarterlyReport.objects.filter(status=ReportStatus.DONE, finished_at__isnull=False):
        first, last = quarter_bounds(report.year, report.quarter)
        newer = Case.objects.filter(
            registered_at__date__gte=first, registered_at__date__lte=last, anonymised_at__gt=report.finished_at
        )
        if newer.exists():
            stale.append(report)
    return stale


def case_replies(*, case_ids: Iterable[Any]) -> dict[Any, str]:
    """The reply that stands for each case (its latest)."""
    latest: dict[Any, str] = {}
    for case_id, content in (
        Reply.objects.filter(case_id__in=list(case_ids)).order_by("replied_at", "pk").values_list("case_id", "content")
    ):
        latest[case_id] = content
    return latest


# -- periods --------------------------------------------------------------------------------------


def quarter_bounds(year: int, quarter: int) -> tuple[datetime.date, datetime.date]:
    first = datetime.date(year, 3 * quarter - 2, 1)
    after = datetime.date(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1)
    return first, after - datetime.timedelta(days=1)


def previous_quarter(year: int, quarter: int) -> tuple[int, int]:
    return (year - 1, 4) if quarter == 1 else (year, quarter - 1)


def months_between(date_from: datetime.date, date_to: datetime.date) -> list[str]:
    months, cursor = [], date_from.replace(day=1)
    while cursor <= date_to:
        months.append(cursor.strftime("%Y-%m"))
        cursor = (cursor + datetime.timedelta(days=32)).replace(day=1)
    return months


# -- access ---------------------------------------------------------------------------------------


def reader_profile(*, actor: Any) -> Any:
    """The actor's staff profile if they may read figures; otherwise ``PermissionDeniedError``."""

    profile = staff_profile_of(actor)
    if not may_read(profile):
        raise PermissionDeniedError(
            ReportingErrorCode.PERMISSION_DENIED, str(_("Only leaders, supervisors and auditors read the figures."))
        )
    return profile


def scoring_rule_get() -> ScoringRule:
    """The county's scoring rule (the defaults until someone sets it)."""
    return ScoringRule.objects.filter(pk=1).first() or ScoringRule()


def report_list_for_actor(*, actor: Any) -> QuerySet[QuarterlyReport]:
    if not may_read(staff_profile_of(actor)):
        return QuarterlyReport.objects.none()
    return QuarterlyReport.objects.all()


def report_get_for_actor(*, actor: Any, report_id: Any) -> QuarterlyReport:
    """A stored quarterly report, if the actor may read reports; 404 alike for unknown ids and for the rest."""
    try:
        uuid.UUID(str(report_id))
    except ValueError:
        report = None
    else:
        report = report_list_for_actor(actor=actor).filter(pk=report_id).first()
    if report is None:
        raise NotFoundError(ReportingErrorCode.NOT_FOUND, str(_("No such report.")))
    return report
