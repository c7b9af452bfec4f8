"""Idempotency keys of registrations (``Idempotency-Key``): one case per key and sender, kept a week."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("casework", "0010_configuration_tracking")]

    operations = [
        migrations.CreateModel(
            name="IntakeKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("scope", models.CharField(max_length=64)),
                ("key", models.CharField(max_length=128)),
                ("fingerprint", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                (
                    "case",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="casework.case"
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("scope", "key"), name="one_case_per_intake_key")],
            },
        ),
    ]
