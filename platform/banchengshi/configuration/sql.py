"""SQL for migrations: a configuration table bumps the county's generation when it changes.

Random values rather than a counter: a transaction that changed configuration and rolled back
leaves nothing behind, and a value is never handed out twice (not even to a schema dropped and
created again), so a process can never mistake an old cache for a current one.
"""

FIRST_GENERATION = "INSERT INTO configuration_generation (value) VALUES (floor(random() * 9e18)::bigint);"

BUMP_FUNCTION = """
CREATE OR REPLACE FUNCTION configuration_bump() RETURNS trigger AS $$
BEGIN
    EXECUTE format('UPDATE %I.configuration_generation SET value = floor(random() * 9e18)::bigint',
                   TG_TABLE_SCHEMA);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

DROP_BUMP_FUNCTION = "DROP FUNCTION IF EXISTS configuration_bump();"


def track(table: str) -> str:
    """Every INSERT, UPDATE, DELETE or TRUNCATE of ``table`` starts a new generation."""
    return (
        f"CREATE TRIGGER {table}_configuration AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION configuration_bump();"
    )


def untrack(table: str) -> str:
    return f"DROP TRIGGER IF EXISTS {table}_configuration ON {table};"
