"""On PostgreSQL, refuse UPDATE and DELETE of the decommissioning audit rows in the database itself,
so not even raw SQL or a bulk operation rewrites a sign-off, a custody entry or a certificate.
(TRUNCATE, which the test runner uses to reset tables, is not a row operation and still works.)"""

from django.db import migrations

TABLES = [
    "decommissioning_checklistrevision",
    "decommissioning_custodyentry",
    "decommissioning_signoff",
    "decommissioning_decommissioningcertificate",
]

FUNCTION = """
CREATE OR REPLACE FUNCTION decommissioning_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # no placeholders: keep the % of RAISE as is
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION decommissioning_refuse_change()"
        )


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS decommissioning_refuse_change()")


class Migration(migrations.Migration):
    dependencies = [("decommissioning", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
