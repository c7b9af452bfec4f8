"""Deadline rules start a new configuration generation when changed (ADR 15)."""

from django.db import migrations

from banchengshi.configuration.sql import track, untrack

TABLES = ["sla_deadlinerule"]


class Migration(migrations.Migration):
    dependencies = [("sla", "0002_seasonal_office_hours"), ("configuration", "0001_initial")]

    operations = [migrations.RunSQL([track(t) for t in TABLES], [untrack(t) for t in TABLES])]
