"""Who must sign in with a second factor, and which platform role an operator holds.

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


def has_platform_role(user: Any, role: str) -> bool:
    """A provincial operator holding ``role`` (三权分立: each of the three does only their part).

    A superuser holds every role: it exists to set the three up, then is closed (DEPLOY.md).
    """
    if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
        return False
    return bool(user.is_superuser) or getattr(user, "platform_role", "") == role


def two_factor_required(user: Any) -> bool:
    if not settings.ACCOUNTS_TWO_FACTOR_ENFORCED:
        return False
    if user.is_staff or user.is_superuser:
        return True
    return any(rule(user) for rule in _rules)
