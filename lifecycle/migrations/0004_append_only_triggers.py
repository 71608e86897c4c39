"""On PostgreSQL, the database itself refuses UPDATE and DELETE on the audit tables.

The models refuse them already; the triggers also stop raw SQL and bulk paths that bypass the
models. TRUNCATE (used by test database flushes) is a separate event and stays possible for the
database owner. SQLite, the laptop default, relies on the model-level checks.
"""

from django.db import migrations

AUDIT_TABLES = ["lifecycle_transitionlog", "lifecycle_changerecord"]

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION lifecycle_refuse_audit_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE_FUNCTION, params=None)  # no params: the % are PL/pgSQL placeholders
    for table in AUDIT_TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION lifecycle_refuse_audit_change();"
        )


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in AUDIT_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS lifecycle_refuse_audit_change();")


class Migration(migrations.Migration):
    dependencies = [("lifecycle", "0003_default_room_type_rules")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
