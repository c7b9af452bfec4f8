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
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from django.db import connection, transaction
from django.db.models import Case as DbCase
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    Expression,
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
    When,
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
    """The department that leads the case now (the latest 主办 assignment it did not hand back).

    A lead that returned the case (退回: not its business) is not credited with it, nor with its
    lateness while it waits to be reassigned; its return counts against it on its own.
    """
    leads = (
        Assignment.objects.filter(case=OuterRef("pk"), role=AssignmentRole.LEAD)
        .exclude(status=AssignmentStatus.RETURNED)
        .order_by("-assigned_at", "-pk")
    )
    return Subquery(leads.values("department__code")[:1])


def _count_of(queryset: QuerySet[Any]) -> Coalesce:
    counted = queryset.order_by().values("case").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def local_midnight(day: datetime.date) -> datetime.datetime:
    """The first moment of a local (Asia/Shanghai) day."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=SHANGHAI)


def cohort(scope: Scope) -> QuerySet[Case]:
    """Every case registered in the scope, forwarded-away ones included (they count as forwards out)."""
    # Local midnights rather than ``registered_at__date``: the range uses the index on registered_at.
    cases = Case.objects.filter(
        registered_at__gte=local_midnight(scope.date_from),
        registered_at__lt=local_midnight(scope.date_to + datetime.timedelta(days=1)),
    ).alias(lead_department=Coalesce(_lead_department(), Value("")))  # worked out only where used
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


# A case whose answer is due and still owed, its clocks running (a case waiting for the citizen's
# materials has them stopped). Whether it is late depends on the moment it is judged: ``past_due``.
# 不予受理: refused, and still refused once archived (archiving is also the end of a refused case).
_REFUSED = Q(status=CaseStatus.NOT_ACCEPTED) | Q(
    status=CaseStatus.ARCHIVED, accepted_at__isnull=True, replied_at__isnull=True
)
_TIMED = _RECEIVED & Q(due__isnull=False) & ~_REFUSED & ~Q(status=CaseStatus.WITHDRAWN)
_ANSWERED = Q(replied_at__isnull=False)
_PAUSED = Q(status=CaseStatus.WAITING_MATERIALS)
_OPEN_RUNNING = _TIMED & ~_ANSWERED & ~_PAUSED
_OPEN_PAUSED = _TIMED & ~_ANSWERED & _PAUSED


def past_due(deadline: str, now: datetime.datetime) -> Q:
    """The one rule of lateness for an open case: its deadline (the field named) is before ``now``.
    The county judges its cases with it, the province judges the counties' snapshots with it."""
    return Q(**{f"{deadline}__lt": now})


def _timeless_aggregates() -> dict[str, Any]:
    """Each count figure that does not depend on the moment it is read, once."""
    return {
        "received": _count(_RECEIVED),
        "consultations": _count(_RECEIVED & Q(kind__code=CONSULTATION_KIND)),
        "accepted": _count(_ACCEPTED),
        "not_accepted": _count(_RECEIVED & _REFUSED),
        "withdrawn": _count(_RECEIVED & Q(status=CaseStatus.WITHDRAWN)),
        "completed": _count(_COMPLETED),
        "solved": _count(_SOLVED),
        # On-time counts cases with a deadline that were neither refused nor withdrawn.
        "on_time": _count(_TIMED & _ANSWERED & Q(replied_at__lte=F("due"))),
        "late_done": _count(_TIMED & _ANSWERED & Q(replied_at__gt=F("due"))),
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


def judged(now: datetime.datetime, *, running: Callable[[Q], Any], paused: Any, deadline: str) -> dict[str, Any]:
    """The two figures that depend on the moment they are read: an open case whose clocks run is
    late once ``past_due``; one waiting for the citizen's materials (clocks stopped) is not.
    ``running(condition)`` counts the open running cases that meet a condition, ``paused`` counts
    the paused ones, ``deadline`` names their deadline (the county's cases and the province's
    snapshot rows have different shapes; the rule is this one)."""
    return {
        "late_open": running(past_due(deadline, now)),
        "not_yet_due": paused + running(~past_due(deadline, now)),
    }


def _aggregates(now: datetime.datetime) -> dict[str, Any]:
    """Each count figure, once. ``now`` decides which open cases are already past their deadline."""
    return {
        **_timeless_aggregates(),
        **judged(
            now,
            running=lambda condition: _count(_OPEN_RUNNING & condition),
            paused=_count(_OPEN_PAUSED),
            deadline="due",
        ),
    }


# What a county keeps in the province's snapshot for each registration day: the counts that do not
# depend on the moment they are read, and its open cases (``judged`` when the province reads).
SNAPSHOT_COUNTS = (*_timeless_aggregates(), "open_running", "open_paused")


def snapshot_rows(
    *, date_from: datetime.date, date_to: datetime.date, days: Iterable[datetime.date] | None = None
) -> list[dict[str, Any]]:
    """The county's rows of the province snapshot: its cases registered from ``date_from`` to
    ``date_to`` (only on ``days`` when given), counted by registration day, by the deadline of
    open cases whose clocks run, and by the working days of completed cases."""
    scope = Scope(date_from, date_to)
    registered_on = TruncDate("registered_at", tzinfo=SHANGHAI)
    cases = _with_case_facts(cohort(scope))
    if days is not None:
        cases = cases.annotate(registered_on=registered_on).filter(registered_on__in=list(days))
    keys = {
        "day": registered_on,
        "open_due": DbCase(When(_OPEN_RUNNING, then=F("due")), output_field=DateTimeField()),
        **duration_keys(working_day_ordinals(scope)),
    }
    counts = {**_timeless_aggregates(), "open_running": _count(_OPEN_RUNNING), "open_paused": _count(_OPEN_PAUSED)}
    rows: Any = cases.order_by().values(**keys).annotate(**counts)
    with without_jit():
        return list(rows)


def days_changed_since(moment: datetime.datetime) -> set[datetime.date]:
    """The registration days of the cases changed after ``moment`` (every change of a case bumps
    its ``updated_at``: a reply, a rating, a follow-up, an assignment, a status)."""
    days = (
        Case.objects.filter(updated_at__gt=moment)
        .order_by()
        .values_list(TruncDate("registered_at", tzinfo=SHANGHAI), flat=True)
        .distinct()
    )
    return set(days)


def first_registration_day() -> datetime.date | None:
    first = Case.objects.order_by().aggregate(first=Min("registered_at"))["first"]
    return None if first is None else timezone.localtime(first, SHANGHAI).date()


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


# -- the query ------------------------------------------------------------------------------------
#
# Counts are aggregated in SQL. Durations come back as histograms (working days -> completed cases)
# and are averaged and ranked by ``durations_of``, for a county and for the province alike. One
# query answers the total and every breakdown asked for: the per-case facts are worked out once and
# grouped by GROUPING SETS, which PostgreSQL hashes in a single pass over the cases.


def figures(*, scope: Scope, now: datetime.datetime | None = None) -> Figures:
    """All figures of the scope's cases, as of ``now`` (default: this moment)."""
    return breakdowns(scope=scope, dimensions=(), now=now).total


def figures_by(*, scope: Scope, dimension: str, now: datetime.datetime | None = None) -> list[Row]:
    """The same figures per value of a dimension (kind, category, cause, department, window,
    channel, month), largest first (months in order); values without cases are left out."""
    return breakdowns(scope=scope, dimensions=(dimension,), now=now).by[dimension]


@dataclass(frozen=True)
class Breakdowns:
    total: Figures
    by: dict[str, list[Row]]


def breakdowns(*, scope: Scope, dimensions: Iterable[str], now: datetime.datetime | None = None) -> Breakdowns:
    """The scope's figures in total and per value of each dimension, in one query."""
    wanted = tuple(dimensions)
    grouped = _grouped(scope, wanted, now or timezone.now())
    by: dict[str, list[Row]] = {}
    for dimension in wanted:
        names = DIMENSIONS[dimension].names()
        unnamed = str(_("Not assigned")) if dimension == "department" else str(_("Not set"))
        rows = [Row(key, names.get(key, key) or unnamed, value) for key, value in grouped[dimension].items()]
        if dimension == "month":
            by[dimension] = sorted(rows, key=lambda row: row.key)
        else:
            by[dimension] = sorted(rows, key=lambda row: (-row.figures.received, row.key))
    return Breakdowns(total=grouped[""].get("", Figures()), by=by)


def _key(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.astimezone(SHANGHAI).strftime("%Y-%m")
    return "" if value is None else str(value)


def duration_keys(ordinals: Ordinals) -> dict[str, Any]:
    """Working days from registration to the first reply (答复) and to the reply that stands (办结),
    for completed cases (``None`` for the rest)."""
    start = TruncDate("registered_at", tzinfo=SHANGHAI)
    to_first = WorkingDaysBetween(start, TruncDate(Coalesce("first_reply_at", "replied_at"), tzinfo=SHANGHAI), ordinals)
    to_last = WorkingDaysBetween(start, TruncDate("replied_at", tzinfo=SHANGHAI), ordinals)
    return {
        "reply_days": DbCase(When(_COMPLETED, then=to_first), output_field=IntegerField()),
        "complete_days": DbCase(When(_COMPLETED, then=to_last), output_field=IntegerField()),
    }


@contextmanager
def without_jit() -> Iterator[None]:
    """Run the enclosed report queries without PostgreSQL's JIT. A subplan per case makes the
    planner cost them high enough to compile them: seconds of compiling for a 0.1 s query."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        yield


class _SetKey(Func):
    """A value grouped by ``GROUPING SETS`` rather than by a GROUP BY column of its own."""

    template = "%(expressions)s"

    def get_group_by_cols(self) -> list[Any]:
        return []


class _GroupingSets(Expression):
    """``GROUPING SETS ((…), (…))`` over selected values, named by their place in SELECT."""

    output_field = IntegerField()  # never selected; Django asks every GROUP BY item for one

    def __init__(self, sets: tuple[tuple[str, ...], ...]) -> None:
        super().__init__()
        self.sets = sets

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        places = {alias: index for index, (_expr, _sql, alias) in enumerate(compiler.select, start=1)}
        sets = ", ".join("(" + ", ".join(str(places[alias]) for alias in aliases) + ")" for aliases in self.sets)
        return f"GROUPING SETS ({sets})", ()


def grouping_sets(queryset: QuerySet[Any], keys: dict[str, Any], sets: list[tuple[str, ...]], **aggregates: Any) -> Any:
    """``queryset`` aggregated per grouping set; a key outside a row's set is ``None`` in that row."""
    grouped = (
        queryset.order_by()
        .annotate(**{alias: _SetKey(expression) for alias, expression in keys.items()})
        .values(*keys)
        .annotate(**aggregates)
    )
    grouped.query.group_by = (_GroupingSets(tuple(sets)),)
    return grouped


def _grouped(scope: Scope, dimensions: tuple[str, ...], now: datetime.datetime) -> dict[str, dict[str, Figures]]:
    """{dimension: {key: figures}}; the total under ``""``. Two grouped queries over the cohort: the
    counts, and the completed cases by their working days (the histograms of the durations). Each
    dimension's key is non-null (the keys coalesce), so the key a row has tells its set."""
    aliases = {f"set_{name}": name for name in dimensions}
    keys: dict[str, Any] = {alias: DIMENSIONS[name].key for alias, name in aliases.items()}
    days = duration_keys(working_day_ordinals(scope))
    cases = _with_case_facts(cohort(scope))
    if aliases:
        counts: Any = grouping_sets(cases, keys, [(), *((alias,) for alias in aliases)], **_aggregates(now))
    else:
        counts = cases.order_by().values(one=Value(1)).annotate(**_aggregates(now)).values(*_aggregates(now))
    histogram = grouping_sets(
        cases.filter(_COMPLETED),
        {**keys, **days},
        [tuple(days), *((alias, *days) for alias in aliases)],
        completed=Count("pk"),
    )
    with without_jit():
        count_rows, histogram_rows = list(counts), list(histogram)

    def where(row: Mapping[str, Any]) -> tuple[str, str]:
        present = [alias for alias in aliases if row[alias] is not None]
        return (aliases[present[0]], _key(row[present[0]])) if present else ("", "")

    histograms: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in histogram_rows:
        histograms[where(row)].append(row)
    result: dict[str, dict[str, Figures]] = {name: {} for name in ("", *dimensions)}
    for row in count_rows:
        name, key = where(row)
        result[name][key] = figures_of(row, durations_of(histograms[(name, key)]))
    return result


def durations_of(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Average and 90th percentile of the working days, from rows that count completed cases
    (``completed``) by ``reply_days`` and ``complete_days``."""
    reply = [(row["reply_days"], row["completed"]) for row in rows if row["completed"]]
    complete = [(row["complete_days"], row["completed"]) for row in rows if row["completed"]]
    return {
        "reply_days_avg": _mean(reply),
        "reply_days_p90": percentile_90(reply),
        "complete_days_avg": _mean(complete),
        "complete_days_p90": percentile_90(complete),
    }


def figures_of(counts: Mapping[str, Any], durations: Mapping[str, Any]) -> Figures:
    return Figures(**{name: int(counts.get(name) or 0) for name in _COUNTS}, **durations)


# -- working days, in SQL ---------------------------------------------------------------------------
#
# sla's calendar counts the working days after one day up to and including another
# (``WorkCalendar.working_days_between``). That count is additive, so with ordinals
# ord(d) = working_days_between(base, d) for every day of the period, the working days between any
# two days are ord(end) - ord(start). The ordinals come from sla, day by day; SQL only subtracts
# them, so the working days of every case are counted in the database with everything else.


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
        lookup = "(%s::int[])[(({}) - %s::date) + 1]"
        sql = f"({lookup.format(end_sql)} - {lookup.format(start_sql)})"
        return sql, [values, *end_params, base, values, *start_params, base]


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


# Reports cover the platform's years, not the calendar's: far-off dates overflow date arithmetic.
EARLIEST_REPORT_DATE = datetime.date(2000, 1, 1)


def period_problem(date_from: datetime.date, date_to: datetime.date) -> str:
    """Why a reporting period cannot be used (a Chinese sentence), or "" when it can."""
    if date_from > date_to:
        return str(_("The end of the period is before its start."))
    if (date_to - date_from).days > 3 * 366:
        return str(_("A period is at most three years."))
    if date_from < EARLIEST_REPORT_DATE or date_to > timezone.localdate() + datetime.timedelta(days=366):
        return str(_("A period lies between 2000 and a year from today."))
    return ""


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
