"""Starting a new configuration generation by hand, where triggers do not see the change."""

from __future__ import annotations

from django.db import connection


def configuration_bump() -> None:
    """A new generation for the current county (after its tables were restored wholesale)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE configuration_generation SET value = floor(random() * 9e18)::bigint")
