"""Split the database roles (PostgreSQL): the migration owner, and a runtime role that may only INSERT and
SELECT on the audit tables.

    python manage.py setup_db_roles --runtime-role assets_app [--password-env RUNTIME_DB_PASSWORD] [--sql]

Run it as the owner (the account that runs ``migrate``), after every ``migrate`` (idempotent: it also covers
tables that new migrations added). The web, worker and ingest processes then connect as the runtime role
(DATABASE_URL=postgres://assets_app:...@host/db), and ``migrate`` keeps running as the owner.

What the runtime role gets: SELECT, INSERT, UPDATE, DELETE on every table, except the audit tables
(transition log, change history, checklist revisions, custody entries, sign-offs, certificates), where it
gets only SELECT and INSERT: no UPDATE, DELETE or TRUNCATE, and it owns nothing, so it cannot drop the
append-only triggers either. docs/operations.md, "Audit trail".
"""

from __future__ import annotations

import os

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from lifecycle.models import AppendOnlyModel


def audit_tables() -> list[str]:
    """Every append-only model's table (lifecycle.models.AppendOnlyModel)."""
    return sorted(m._meta.db_table for m in apps.get_models() if issubclass(m, AppendOnlyModel))


def role_statements(*, role: str, database: str, owner: str, password: str | None = None) -> list[str]:
    q = connection.ops.quote_name
    literal = role.replace("'", "''")
    statements = [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{literal}') "
        f"THEN CREATE ROLE {q(role)} LOGIN; END IF; END $$",
        f"ALTER ROLE {q(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
        f"GRANT CONNECT ON DATABASE {q(database)} TO {q(role)}",
        f"GRANT USAGE ON SCHEMA public TO {q(role)}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {q(role)}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {q(role)}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {q(owner)} IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {q(role)}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {q(owner)} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {q(role)}",
    ]
    for table in audit_tables():
        statements += [
            f"REVOKE ALL ON TABLE {q(table)} FROM {q(role)}",
            f"GRANT SELECT, INSERT ON TABLE {q(table)} TO {q(role)}",
        ]
    if password:
        statements.append(f"ALTER ROLE {q(role)} PASSWORD '{password.replace(chr(39), chr(39) * 2)}'")
    return statements


class Command(BaseCommand):
    help = "Create or update the runtime database role: INSERT and SELECT only on the audit tables (PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--runtime-role", required=True, help="the role the application connects as")
        parser.add_argument(
            "--password-env", metavar="VARIABLE", help="set the role's password from this environment variable"
        )
        parser.add_argument("--sql", action="store_true", help="print the SQL instead of running it")

    def handle(self, *args, runtime_role, password_env=None, sql=False, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "setup_db_roles needs PostgreSQL: SQLite has no roles, so its audit tables are append-only "
                "only through the application (and production refuses SQLite unless ALLOW_SQLITE_IN_PRODUCTION)"
            )
        password = None
        if password_env:
            password = os.environ.get(password_env)
            if not password:
                raise CommandError(f"--password-env {password_env}: that environment variable is empty or unset")
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_database()")
            owner, database = cursor.fetchone()
        if runtime_role == owner:
            raise CommandError(f"--runtime-role {runtime_role} is the owner itself; use a separate role")
        statements = role_statements(role=runtime_role, database=database, owner=owner, password=password)
        if sql:
            shown = [s if "PASSWORD" not in s else s.split(" PASSWORD ")[0] + " PASSWORD '...'" for s in statements]
            self.stdout.write(";\n".join(shown) + ";")
            return
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(
            f"role {runtime_role}: full access to the application tables, SELECT and INSERT only on "
            f"{len(audit_tables())} audit tables ({', '.join(audit_tables())})"
        )
