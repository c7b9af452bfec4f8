"""Each county's figures by registration day, in the public schema, for the province-wide views.

A province of 3,000 counties cannot be read schema by schema on request: PostgreSQL loads each
schema's catalogue entries on first touch (~6 ms a schema before any work). Each county writes
its own rows instead (``reporting.services.county_snapshot_refresh``, a county task), and the
province reads this table with one grouped query.

The rows hold counts only: no case, no citizen. Every count is one of the county's figures
(``reporting.selectors``) over the cases registered on ``day``, grouped further by what cannot be
added up: the working days of completed cases (for averages and percentiles) and the deadline of
open cases whose clocks run (lateness is judged when the province reads, with the same rule).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


def _count() -> models.PositiveIntegerField:
    return models.PositiveIntegerField(default=0)


class CountyDayFigures(models.Model):
    county_code = models.CharField(max_length=6)
    day = models.DateField()
    # The deadline of the open cases with running clocks this row counts (``open_running``).
    open_due = models.DateTimeField(null=True)
    # Working days to the first reply and to the reply that stands, of the completed cases counted.
    reply_days = models.IntegerField(null=True)
    complete_days = models.IntegerField(null=True)

    received = _count()
    consultations = _count()
    accepted = _count()
    not_accepted = _count()
    withdrawn = _count()
    completed = _count()
    solved = _count()
    on_time = _count()
    late_done = _count()
    replied_ever = _count()
    followed_up = _count()
    reopened = _count()
    reopen_total = _count()
    assigned = _count()
    returned = _count()
    ratings = _count()
    bad_ratings = _count()
    bad_rectified = _count()
    forwarded_in = _count()
    forwarded_out = _count()
    open_running = _count()
    open_paused = _count()

    class Meta:
        verbose_name = _("county figures of a day")
        verbose_name_plural = _("county figures by day")
        indexes = [
            models.Index(fields=["day", "county_code"], name="snapshot_day_county"),
            models.Index(fields=["county_code", "day"], name="snapshot_county_day"),
        ]

    def __str__(self) -> str:
        return f"{self.county_code} {self.day}"


class CountySnapshot(models.Model):
    """How fresh one county's rows are."""

    county_code = models.CharField(max_length=6, unique=True)
    refreshed_at = models.DateTimeField(_("refreshed at"))
    # Case changes up to this moment are in the rows; the next refresh looks at later ones.
    changes_seen_until = models.DateTimeField()
    rebuilt_at = models.DateTimeField(_("last full rebuild"), null=True)

    class Meta:
        verbose_name = _("county figures snapshot")
        verbose_name_plural = _("county figures snapshots")

    def __str__(self) -> str:
        return f"{self.county_code} {self.refreshed_at:%Y-%m-%d %H:%M}"
