"""Database-side protection of the audit table: the append-only trigger and the app role's privileges."""

from __future__ import annotations

from typing import Any

# Rows may only be deleted by the purge command (it sets audit.purge for its transaction) and
# only when older than 183 days: the 6 months of 网络安全法 art. 21 hold even against a bug or
# a careless operator with the owner's role.
APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_forbid_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('audit.purge', true) = 'on'
       AND OLD.at < now() - interval '183 days' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_auditrecord is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_auditrecord_append_only
    BEFORE UPDATE OR DELETE ON audit_auditrecord
    FOR EACH ROW EXECUTE FUNCTION audit_forbid_change();
CREATE TRIGGER audit_auditrecord_no_truncate
    BEFORE TRUNCATE ON audit_auditrecord
    FOR EACH STATEMENT EXECUTE FUNCTION audit_forbid_change();
"""

ALLOW_CHANGE = """
DROP TRIGGER IF EXISTS audit_auditrecord_no_truncate ON audit_auditrecord;
DROP TRIGGER IF EXISTS audit_auditrecord_append_only ON audit_auditrecord;
DROP FUNCTION IF EXISTS audit_forbid_change();
"""


def app_role_restrict(connection: Any, role: str) -> bool:
    """Let ``role`` read and append to the audit table of the current schema, nothing else.

    Production runs migrations as the owner role and the application as a restricted role
    (docs/SECURITY.md). A role that owns the table keeps every privilege whatever is revoked, so
    for the owner nothing is done (False); the trigger still stands.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = 'audit_auditrecord'::regclass")
        (owner,) = cursor.fetchone()
        if owner == role:
            return False
        name = connection.ops.quote_name(role)
        cursor.execute(f"REVOKE ALL ON audit_auditrecord FROM {name}")  # noqa: S608 - quoted identifier
        cursor.execute(f"GRANT SELECT, INSERT ON audit_auditrecord TO {name}")  # noqa: S608
        cursor.execute(f"GRANT USAGE ON SEQUENCE audit_auditrecord_id_seq TO {name}")  # noqa: S608
    return True
