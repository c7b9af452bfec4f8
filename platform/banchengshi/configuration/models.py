"""One row per county schema: the generation of the county's configuration.

PostgreSQL triggers on every configuration table (reference data, deadline rules, calendars,
message templates, webhook endpoints) give it a new random value in the transaction that changes
any of them, so a process may keep configuration in memory for as long as the value it read it
under is still current (see ``selectors.config_cached`` and ADR 15).
"""

from django.db import models


class Generation(models.Model):
    value = models.BigIntegerField()

    class Meta:
        db_table = "configuration_generation"

    def __str__(self) -> str:
        return str(self.value)
