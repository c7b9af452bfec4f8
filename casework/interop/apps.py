from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InteropConfig(AppConfig):
    """Other systems of a county: Open311 GeoReport v2, the 12345 hotline intake and 好差评 callbacks."""

    name = "casework.interop"
    label = "interop"
    verbose_name = _("Interoperability")

    def ready(self) -> None:
        from casework.interop.services import case_open311_anonymise
        from casework.retention import retention_hook_register

        # What Open311 clients told about a case (where, a picture, a device, an email) expires with it.
        retention_hook_register(case_open311_anonymise)
