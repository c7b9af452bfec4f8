"""Reference data changes start a new configuration generation (ADR 15)."""

from django.db import migrations

from banchengshi.configuration.sql import track, untrack

TABLES = ["casework_requestkind", "casework_window", "casework_category", "casework_cause", "casework_department"]


class Migration(migrations.Migration):
    dependencies = [("casework", "0009_retention"), ("configuration", "0001_initial")]

    operations = [migrations.RunSQL([track(t) for t in TABLES], [untrack(t) for t in TABLES])]
