from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("exchange", "0003_forward_recall"),
    ]

    operations = [
        migrations.AlterField(
            model_name="envelope",
            name="kind",
            field=models.CharField(
                choices=[
                    ("forward", "Case forwarded"),
                    ("accepted", "Forward accepted"),
                    ("returned", "Forward returned"),
                    ("progress", "Progress of a forwarded case"),
                    ("recall", "Forward recalled"),
                    ("lead_return", "Lead county returned a joint forward"),
                ],
                max_length=12,
            ),
        ),
    ]
