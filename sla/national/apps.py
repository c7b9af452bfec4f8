from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NationalCalendarConfig(AppConfig):
    """The platform-wide calendar of statutory holidays and make-up working days (public schema)."""

    name = "sla.national"
    label = "sla_national"
    verbose_name = _("National calendar")
