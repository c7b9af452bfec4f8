"""Retention: closed cases are anonymised after the county's period (casework.retention).

The timeline stays append-only, except that the anonymiser, and only it, may rewrite the note
and data of events (a transaction-local switch): every other column is still refused.
"""

from django.db import migrations, models

SCRUB_ALLOWED = """
CREATE OR REPLACE FUNCTION casework_forbid_event_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('casework.anonymising', true) = 'on'
       AND NEW.id = OLD.id AND NEW.case_id = OLD.case_id AND NEW.at = OLD.at
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id AND NEW.actor_label = OLD.actor_label
       AND NEW.action = OLD.action AND NEW.from_status = OLD.from_status AND NEW.to_status = OLD.to_status THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'casework_caseevent is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION casework_forbid_event_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'casework_caseevent is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [("casework", "0008_personal_data_encryption")]

    operations = [
        migrations.AddField(
            model_name="case",
            name="anonymised_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="anonymised at"),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(("anonymised_at__isnull", True), ("closed_at__isnull", False)),
                fields=["closed_at"],
                name="case_retention_due",
            ),
        ),
        migrations.RunSQL(SCRUB_ALLOWED, APPEND_ONLY),
    ]
