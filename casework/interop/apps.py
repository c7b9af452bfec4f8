from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InteropConfig(AppConfig):
    """Other systems of a county: Open311 GeoReport v2, the 12345 hotline intake and 好差评 callbacks."""

    name = "casework.interop"
    label = "interop"
    verbose_name = _("Interoperability")
