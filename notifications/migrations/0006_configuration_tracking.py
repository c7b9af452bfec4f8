"""Message templates and webhook endpoints start a new configuration generation when changed (ADR 15)."""

from django.db import migrations

from banchengshi.configuration.sql import track, untrack

TABLES = ["notifications_messagetemplate", "notifications_webhookendpoint"]


class Migration(migrations.Migration):
    dependencies = [("notifications", "0005_recipients_sealed"), ("configuration", "0001_initial")]

    operations = [migrations.RunSQL([track(t) for t in TABLES], [untrack(t) for t in TABLES])]
