"""Figures, each defined once here and used by every output (dashboard, API, PDF, spreadsheet).

Reporting only reads; nothing imports it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, DateTimeField, F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from casework.models import Case, CaseStatus

# A case's answer to the citizen is due by its reply clock, or by its resolution clock where the
# county sets only that one (邵阳县).
_DUE = Coalesce(F("reply_due_at"), F("resolution_due_at"), output_field=DateTimeField())
_NOT_COUNTED = [CaseStatus.NOT_ACCEPTED, CaseStatus.WITHDRAWN]


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
    citizen's materials is not late). Cases without a deadline, not accepted or withdrawn are not
    counted.
    """
    now = now or timezone.now()
    cases: QuerySet[Case] = (
        Case.objects.filter(registered_at__date__gte=registered_from, registered_at__date__lte=registered_to)
        .exclude(status__in=_NOT_COUNTED)
        .annotate(due=_DUE)
        .filter(due__isnull=False)
    )
    answered = Q(replied_at__isnull=False)
    counts = cases.aggregate(
        on_time=_count(answered & Q(replied_at__lte=F("due"))),
        late_done=_count(answered & Q(replied_at__gt=F("due"))),
        late_open=_count(~answered & Q(due__lt=now) & ~Q(status=CaseStatus.WAITING_MATERIALS)),
        not_yet_due=_count(~answered & (Q(due__gte=now) | Q(status=CaseStatus.WAITING_MATERIALS))),
    )
    return OnTime(**{key: value or 0 for key, value in counts.items()})


def _count(condition: Q) -> Any:
    return Count("pk", filter=condition)
