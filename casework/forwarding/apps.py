from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ForwardingConfig(AppConfig):
    """跨域通办 as each county records it: forwards out and in, and what personal data crossed."""

    name = "casework.forwarding"
    label = "forwarding"
    verbose_name = _("Cross-county forwarding")
