from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ForwardingConfig(AppConfig):
    """跨域通办 as each county records it: forwards out and in, and what personal data crossed."""

    name = "casework.forwarding"
    label = "forwarding"
    verbose_name = _("Cross-county forwarding")

    def ready(self) -> None:
        from banchengshi.personal_data import SealedLocation, sealed_location_register
        from casework.forwarding.models import PAYLOAD_PHONE_PURPOSE

        # The phone sealed inside envelopes (public) and incoming forwards (county), re-sealed by
        # personal_data_rekey with every other sealed value.
        for model in ("exchange.Envelope", "forwarding.Forward"):
            sealed_location_register(
                SealedLocation(model=model, column="payload", json_key="citizen_phone", purpose=PAYLOAD_PHONE_PURPOSE)
            )
