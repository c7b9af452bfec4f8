"""Who must sign in with a second factor.

Operators (staff or superusers of the public schema) always do. County roles are casework's
business, and this platform layer imports no domain package: casework registers its rule here when
its app is ready (``two_factor_rule_register``), so the decision stays where the roles live.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings

TwoFactorRule = Callable[[Any], bool]

_rules: list[TwoFactorRule] = []


def two_factor_rule_register(rule: TwoFactorRule) -> None:
    if rule not in _rules:
        _rules.append(rule)


def two_factor_required(user: Any) -> bool:
    if not settings.ACCOUNTS_TWO_FACTOR_ENFORCED:
        return False
    if user.is_staff or user.is_superuser:
        return True
    return any(rule(user) for rule in _rules)
