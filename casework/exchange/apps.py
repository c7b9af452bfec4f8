from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    """The forwarding exchange (public schema): envelopes between counties and who may forward to whom."""

    name = "casework.exchange"
    label = "exchange"
    verbose_name = _("Forwarding exchange")
