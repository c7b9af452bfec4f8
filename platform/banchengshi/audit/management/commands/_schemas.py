from django.db import connection


def audited_schemas() -> list[str]:
    """Every schema with an audit table: public and each county, straight from the catalogue."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'audit_auditrecord' "
            "ORDER BY table_schema = 'public' DESC, table_schema"
        )
        return [row[0] for row in cursor.fetchall()]
