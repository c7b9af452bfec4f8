"""Citizens' phone numbers sealed at rest (AES-256-GCM) and searched through a keyed hash (ADR 14).

Existing rows are sealed in the same migration, with the current key of FIELD_ENCRYPTION_KEYS.
"""

import banchengshi.personal_data
from django.db import migrations, models

PURPOSE = "casework.case.citizen_phone"


def seal_phones(apps, schema_editor):
    banchengshi.personal_data.column_reseal_all(
        schema_editor.connection,
        table="casework_case",
        column="citizen_phone",
        purpose=PURPOSE,
        index_column="citizen_phone_index",
    )


def open_phones(apps, schema_editor):
    ring = banchengshi.personal_data.keyring()
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id, citizen_phone FROM casework_case WHERE citizen_phone <> ''")
        rows = [(ring.unseal(value, purpose=PURPOSE), pk) for pk, value in cursor.fetchall()]
        cursor.executemany("UPDATE casework_case SET citizen_phone = %s WHERE id = %s", rows)


class Migration(migrations.Migration):
    # A new county has no rows to seal: onboarding runs only the schema operations' SQL.
    fresh_schema_sql_only = True

    dependencies = [
        ("casework", "0007_case_forward_id_case_forwarded_from_and_more"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="case", name="case_phone"),
        migrations.AddField(
            model_name="case",
            name="citizen_phone_index",
            field=banchengshi.personal_data.BlindIndexField(db_default="", purpose=PURPOSE, source="citizen_phone"),
        ),
        migrations.AlterField(
            model_name="case",
            name="citizen_phone",
            field=banchengshi.personal_data.EncryptedTextField(purpose=PURPOSE, verbose_name="citizen phone"),
        ),
        migrations.RunPython(seal_phones, open_phones),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["citizen_phone_index"], name="case_phone_index"),
        ),
    ]
