"""Prove an ordering between two PostgreSQL sessions without timing them.

A concurrency test holds a lock in one session, starts the other, and then asks PostgreSQL itself whether
the other session is waiting for that lock (``pg_stat_activity`` and ``pg_blocking_pids``) before letting
the first one go. Nothing is asserted about how long anything took.
"""

from __future__ import annotations

import time

from django.db import connection


def backend_pid() -> int:
    """This thread's PostgreSQL session (Django keeps one connection per thread)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def wait_until_blocked(*, waiter: int, blocker: int, timeout: float = 60.0) -> tuple[str, str]:
    """Return once session ``waiter`` waits on a lock that session ``blocker`` holds: the (wait_event_type,
    wait_event) PostgreSQL reports for it. Fails, naming what the waiter was doing, if that never happens.

    The poll only decides when to look again; ``timeout`` is a generous bound for a loaded machine, not a
    measurement.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT wait_event_type, wait_event, state, query, pg_blocking_pids(pid) "
                "FROM pg_stat_activity WHERE pid = %s",
                [waiter],
            )
            last = cursor.fetchone()
        if last is not None and blocker in last[4]:
            assert last[0] == "Lock", last
            return last[0], last[1]
        if time.monotonic() > deadline:
            raise AssertionError(f"session {waiter} never waited on a lock of session {blocker}; last seen: {last}")
        time.sleep(0.01)
