"""Who may read a schema's audit trail.

In the public schema: the platform's audit administrators (and a superuser, which sets them up).
In a county: whoever the county's roles say (casework registers its rule, the auditor role, when
its app is ready; this platform layer imports no domain package).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from banchengshi.accounts.models import PlatformRole
from banchengshi.accounts.policy import has_platform_role
from banchengshi.tenancy import current_schema

ReaderRule = Callable[[Any], bool]

_rules: list[ReaderRule] = []


def audit_reader_rule_register(rule: ReaderRule) -> None:
    if rule not in _rules:
        _rules.append(rule)


def may_read_audit(user: Any) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if current_schema() == "public":
        # 三权分立: the platform's audit administrators read its trail; operators do not.
        return has_platform_role(user, PlatformRole.AUDITOR)
    return any(rule(user) for rule in _rules)
