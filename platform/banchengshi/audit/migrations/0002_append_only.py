"""The audit table refuses UPDATE, DELETE and TRUNCATE in PostgreSQL, and the app role loses those rights."""

from django.conf import settings
from django.db import migrations

from banchengshi.audit.db import ALLOW_CHANGE, APPEND_ONLY, app_role_restrict


def restrict_app_role(apps, schema_editor):
    if settings.DATABASE_APP_ROLE:
        app_role_restrict(schema_editor.connection, settings.DATABASE_APP_ROLE)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunSQL(APPEND_ONLY, ALLOW_CHANGE),
        migrations.RunPython(restrict_app_role, migrations.RunPython.noop),
    ]
