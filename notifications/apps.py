from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from banchengshi.personal_data import SealedLocation, sealed_location_register
        from notifications.models import RECIPIENT_PURPOSE

        # Re-sealed by personal_data_rekey with the phone numbers and addresses of the outbox.
        sealed_location_register(
            SealedLocation(
                model="notifications.Notification", column="recipient", purpose=RECIPIENT_PURPOSE,
                where="channel IN ('sms', 'email')",
            )
        )  # fmt: skip
