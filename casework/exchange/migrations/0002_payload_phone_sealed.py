"""The citizen's phone inside forwarding envelopes sealed at rest (ADR 14)."""

import banchengshi.personal_data
from django.db import migrations

PURPOSE = "forwarding.payload.citizen_phone"


def seal_phones(apps, schema_editor):
    banchengshi.personal_data.column_reseal_all(
        schema_editor.connection,
        table="exchange_envelope",
        column="payload",
        json_key="citizen_phone",
        purpose=PURPOSE,
    )


class Migration(migrations.Migration):
    dependencies = [("exchange", "0001_initial")]

    # Backwards: readers accept a plaintext phone too, so sealed values may stay.
    operations = [migrations.RunPython(seal_phones, migrations.RunPython.noop)]
