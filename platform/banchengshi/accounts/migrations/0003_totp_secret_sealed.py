"""TOTP secrets sealed at rest with the keyring of FIELD_ENCRYPTION_KEYS (ADR 14); existing ones too."""

import banchengshi.personal_data
from django.db import migrations

PURPOSE = "accounts.totpdevice.secret"


def seal_secrets(apps, schema_editor):
    banchengshi.personal_data.column_reseal_all(
        schema_editor.connection, table="accounts_totpdevice", column="secret", purpose=PURPOSE
    )


def open_secrets(apps, schema_editor):
    ring = banchengshi.personal_data.keyring()
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id, secret FROM accounts_totpdevice WHERE secret <> ''")
        rows = [(ring.unseal(value, purpose=PURPOSE), pk) for pk, value in cursor.fetchall()]
        cursor.executemany("UPDATE accounts_totpdevice SET secret = %s WHERE id = %s", rows)


class Migration(migrations.Migration):
    # A new county has no authenticators yet: onboarding runs only the schema operations' SQL.
    fresh_schema_sql_only = True

    dependencies = [("accounts", "0002_password_age_totp_sessions")]

    operations = [
        migrations.AlterField(
            model_name="totpdevice",
            name="secret",
            field=banchengshi.personal_data.EncryptedTextField(purpose=PURPOSE),
        ),
        migrations.RunPython(seal_secrets, open_secrets),
    ]
