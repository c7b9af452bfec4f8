"""The timeline is append-only in the database itself, not only in code."""

from django.db import migrations

FORBID = """
CREATE OR REPLACE FUNCTION casework_forbid_event_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'casework_caseevent is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER casework_caseevent_append_only
    BEFORE UPDATE OR DELETE ON casework_caseevent
    FOR EACH ROW EXECUTE FUNCTION casework_forbid_event_change();
"""

ALLOW = """
DROP TRIGGER IF EXISTS casework_caseevent_append_only ON casework_caseevent;
DROP FUNCTION IF EXISTS casework_forbid_event_change();
"""


class Migration(migrations.Migration):
    dependencies = [("casework", "0001_initial")]

    operations = [migrations.RunSQL(FORBID, ALLOW)]
