from django.db import migrations, models

from banchengshi.configuration.sql import BUMP_FUNCTION, DROP_BUMP_FUNCTION, FIRST_GENERATION


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="Generation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField()),
            ],
            options={"db_table": "configuration_generation"},
        ),
        migrations.RunSQL(
            [FIRST_GENERATION, BUMP_FUNCTION],
            DROP_BUMP_FUNCTION,
        ),
    ]
