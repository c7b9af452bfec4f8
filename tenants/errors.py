from enum import StrEnum
from typing import Any

from django.utils.translation import gettext as _

from banchengshi.errors import ApplicationError


class TenantsErrorCode(StrEnum):
    CONFIG_INVALID = "tenants.config_invalid"
    CONFIG_UNREADABLE = "tenants.config_unreadable"
    COUNTY_CONFLICT = "tenants.county_conflict"
    COUNTY_NOT_FOUND = "tenants.county_not_found"
    DEMO_NOT_ALLOWED = "tenants.demo_not_allowed"
    BATCH_INVALID = "tenants.batch_invalid"
    ILLEGAL_STATUS = "tenants.illegal_status"
    RETENTION_HOLD = "tenants.retention_hold"
    ARCHIVE_INVALID = "tenants.archive_invalid"
    ARCHIVE_NEWER = "tenants.archive_newer"
    ARCHIVE_KEYS_MISSING = "tenants.archive_keys_missing"
    VERSION_NOT_FOUND = "tenants.version_not_found"
    BREAK_GLASS_INVALID = "tenants.break_glass_invalid"
    PERMISSION_DENIED = "tenants.permission_denied"
    MIGRATION_RUNNING = "tenants.migration_running"


class ConfigProblemCode(StrEnum):
    """What is wrong with one field of a county configuration file."""

    MISSING = "missing"
    WRONG_TYPE = "wrong_type"
    INVALID = "invalid"
    DUPLICATE = "duplicate"
    UNKNOWN_REFERENCE = "unknown_reference"
    UNKNOWN_FIELD = "unknown_field"


class CountyConfigError(ApplicationError):
    """A county configuration file that cannot be applied; ``details`` lists every problem."""

    def __init__(self, source: str, problems: list[dict[str, Any]], *, code: TenantsErrorCode | None = None) -> None:
        lines = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        super().__init__(
            code or TenantsErrorCode.CONFIG_INVALID,
            _("County configuration %(source)s is invalid: %(problems)s") % {"source": source, "problems": lines},
            details=[{"file": source, **p} for p in problems],
        )
        self.source = source
