from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CaseworkConfig(AppConfig):
    name = "casework"
    verbose_name = _("Casework")

    def ready(self) -> None:
        # The platform layer imports no domain package; it asks casework's roles through these.
        from banchengshi.accounts.policy import two_factor_rule_register
        from banchengshi.audit.policy import audit_reader_rule_register
        from casework.policy import reads_audit, requires_two_factor

        two_factor_rule_register(requires_two_factor)
        audit_reader_rule_register(reads_audit)
