from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeadlineSweepConfig(AppConfig):
    """The platform-wide deadline index (public schema): one query finds what is due in every county."""

    name = "sla.sweep"
    label = "sla_sweep"
    verbose_name = _("Deadline index")
