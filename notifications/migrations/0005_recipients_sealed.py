"""Phone numbers and email addresses in the outbox sealed at rest (ADR 14); user ids stay as they are.

And an index for retention, which finds a matter's messages by the start of their idempotency key.
"""

import banchengshi.personal_data
from django.db import migrations, models

PURPOSE = "notifications.notification.recipient"
WHERE = "channel IN ('sms', 'email')"


def seal_recipients(apps, schema_editor):
    banchengshi.personal_data.column_reseal_all(
        schema_editor.connection,
        table="notifications_notification",
        column="recipient",
        purpose=PURPOSE,
        where=WHERE,
    )


def open_recipients(apps, schema_editor):
    ring = banchengshi.personal_data.keyring()
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, recipient FROM notifications_notification WHERE {WHERE}")  # noqa: S608
        rows = [
            (ring.unseal(value, purpose=PURPOSE), pk)
            for pk, value in cursor.fetchall()
            if banchengshi.personal_data.is_sealed(value)
        ]
        cursor.executemany("UPDATE notifications_notification SET recipient = %s WHERE id = %s", rows)


class Migration(migrations.Migration):
    fresh_schema_sql_only = True

    dependencies = [("notifications", "0004_delivery_lease")]

    operations = [
        migrations.RunPython(seal_recipients, open_recipients),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                fields=["idempotency_key"], name="notification_key_prefix", opclasses=["varchar_pattern_ops"]
            ),
        ),
    ]
