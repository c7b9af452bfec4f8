from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SnapshotsConfig(AppConfig):
    """The counties' figures snapshot (public schema): the province reads one table, not 3,000 schemas."""

    name = "reporting.snapshots"
    label = "reporting_snapshots"
    verbose_name = _("Figures snapshot")
