from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from banchengshi.audit.services import MINIMUM_RETENTION_DAYS


@register()
def retention_check(app_configs: Any, **kwargs: Any) -> list[Error]:
    if settings.AUDIT_RETENTION_DAYS < MINIMUM_RETENTION_DAYS:
        return [
            Error(
                f"AUDIT_RETENTION_DAYS is {settings.AUDIT_RETENTION_DAYS}; the law asks for at least "
                f"{MINIMUM_RETENTION_DAYS} days (six months).",
                id="audit.E001",
            )
        ]
    return []
