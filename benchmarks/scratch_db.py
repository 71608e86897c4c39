"""A scratch PostgreSQL database for the benchmarks: created fresh on the DATABASE_URL server, dropped after."""

from __future__ import annotations

from urllib.parse import urlparse, urlunparse


def scratch_url(url: str, name: str) -> str:
    """The same server as ``url``, database ``name``. Only PostgreSQL: the benchmarks measure it."""
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise SystemExit(f"DATABASE_URL must be a postgres:// URL, got {parsed.scheme!r}")
    return urlunparse(parsed._replace(path=f"/{name}"))


def _run_on_server(url: str, sql: str) -> None:
    import psycopg

    parsed = urlparse(url)
    with psycopg.connect(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(sql)


def recreate_database(url: str, name: str) -> None:
    _run_on_server(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _run_on_server(url, f'CREATE DATABASE "{name}"')


def drop_database(url: str, name: str) -> None:
    _run_on_server(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
