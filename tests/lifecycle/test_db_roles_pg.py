"""The runtime database role cannot tamper with the audit trail (PostgreSQL only): it may INSERT and SELECT
on the audit tables, never UPDATE, DELETE or TRUNCATE them, and it cannot drop their triggers."""

from __future__ import annotations

import io

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from lifecycle.management.commands.setup_db_roles import audit_tables

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="roles are a PostgreSQL feature; SQLite has none"),
]


@pytest.fixture
def runtime_role():
    name = f"{connection.settings_dict['NAME']}_runtime"[:60]
    yield name
    with connection.cursor() as cursor:  # leave the cluster as it was: roles are shared by every database
        cursor.execute(f"DROP OWNED BY {connection.ops.quote_name(name)}")
        cursor.execute(f"DROP ROLE IF EXISTS {connection.ops.quote_name(name)}")


def runtime_connection(role):
    s = connection.settings_dict
    return psycopg.connect(
        dbname=s["NAME"], user=role, host=s["HOST"] or None, port=s["PORT"] or None, autocommit=False
    )


def test_the_runtime_role_may_insert_and_read_the_audit_trail_but_never_rewrite_it(runtime_role):
    call_command("setup_db_roles", "--runtime-role", runtime_role, stdout=io.StringIO())
    call_command("setup_db_roles", "--runtime-role", runtime_role, stdout=io.StringIO())  # idempotent
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM django_content_type WHERE app_label = 'auth' AND model = 'user'")
        (content_type,) = cursor.fetchone()
    tables = audit_tables()
    assert {"lifecycle_changerecord", "lifecycle_transitionlog", "decommissioning_signoff"} <= set(tables)

    with runtime_connection(runtime_role) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone()[0] == runtime_role
        cur.execute(
            "INSERT INTO lifecycle_changerecord (content_type_id, object_id, object_repr, action, at, changes) "
            "VALUES (%s, '1', 'x', 'changed', now(), '{}') RETURNING id",
            [content_type],
        )
        (record,) = cur.fetchone()
        cur.execute("SELECT count(*) FROM lifecycle_changerecord WHERE id = %s", [record])
        assert cur.fetchone()[0] == 1
        cur.execute("UPDATE assets_asset SET unit = unit WHERE false")  # the application's own tables: allowed
        for table in tables:
            for statement in (
                f"UPDATE {table} SET id = id",
                f"DELETE FROM {table}",
                f"TRUNCATE {table}",
                f"ALTER TABLE {table} DISABLE TRIGGER ALL",
                f"DROP TABLE {table}",
            ):
                cur.execute("SAVEPOINT attempt")
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    cur.execute(statement)
                cur.execute("ROLLBACK TO SAVEPOINT attempt")
        conn.rollback()  # the inserted row was only there to prove INSERT works


def test_the_sql_can_be_printed_for_a_dba():
    out = io.StringIO()
    call_command("setup_db_roles", "--runtime-role", "assets_app", "--sql", stdout=out)
    sql = out.getvalue()
    assert 'GRANT SELECT, INSERT ON TABLE "lifecycle_changerecord" TO "assets_app"' in sql
    assert 'REVOKE ALL ON TABLE "decommissioning_signoff" FROM "assets_app"' in sql
