"""Two workers raising the same alert at the same moment end with one alert (PostgreSQL only).

Run with your own database, e.g.:
DATABASE_URL=postgres://postgres@127.0.0.1:5432/alerts_race .venv/bin/pytest tests/lifecycle/alerts/test_race.py
"""

import threading

import pytest
from django.db import connection, connections, transaction

from lifecycle.alerts.choices import AlertKind
from lifecycle.alerts.models import Alert
from lifecycle.alerts.services import alert_raise
from tests.factories import AssetFactory
from tests.pg_waits import backend_pid, wait_until_blocked

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises writers, so two connections can never race on the index",
    ),
]


def in_thread(target, results, key):
    def run():
        try:
            results[key] = target()
        except BaseException as exc:  # reported by the test, not lost in the thread
            results[key] = exc
        finally:
            connections.close_all()

    return threading.Thread(target=run)


def test_the_second_insert_waits_for_the_first_then_returns_its_alert():
    """Worker A has inserted but not committed; worker B looks, finds nothing, inserts, and must get A's alert.

    The race is proven, not hoped for: the test sees B's session wait on A's uncommitted index entry
    (pg_stat_activity) before it lets A commit.
    """
    asset = AssetFactory()
    pids, results = {}, {}
    a_inserted, b_started, a_may_commit = threading.Event(), threading.Event(), threading.Event()

    def worker_a():
        with transaction.atomic():
            raised = alert_raise(kind=AlertKind.MISSING, subject=asset, message="A saw it first")
            pids["a"] = backend_pid()
            a_inserted.set()
            assert a_may_commit.wait(60)
        return raised

    def worker_b():
        pids["b"] = backend_pid()
        b_started.set()
        assert a_inserted.wait(60)
        return alert_raise(kind=AlertKind.MISSING, subject=asset, message="B saw it too")

    threads = [in_thread(worker_a, results, "a"), in_thread(worker_b, results, "b")]
    for t in threads:
        t.start()
    try:
        assert a_inserted.wait(60) and b_started.wait(60)
        wait_event_type, wait_event = wait_until_blocked(waiter=pids["b"], blocker=pids["a"])
    finally:
        a_may_commit.set()
        for t in threads:
            t.join(60)

    # B inserted (it did not see A's uncommitted alert) and waited on A's transaction...
    assert (wait_event_type, wait_event) == ("Lock", "transactionid")
    # ...then lost on the unique index and returned A's alert.
    (alert_a, created_a), (alert_b, created_b) = results["a"], results["b"]
    assert (created_a, created_b) == (True, False)
    assert alert_b.pk == alert_a.pk
    assert list(Alert.objects.values_list("message", flat=True)) == ["A saw it first"]


@pytest.mark.parametrize("round_", range(3))
def test_two_workers_started_together_open_one_alert(round_):
    asset = AssetFactory()
    start = threading.Barrier(2)
    results = {}

    def worker(name):
        def run():
            start.wait(10)
            return alert_raise(kind=AlertKind.MISSING, subject=asset, message=f"{name} raised it")

        return run

    threads = [in_thread(worker(name), results, name) for name in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    outcomes = [results["w1"], results["w2"]]
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    assert sorted(created for _, created in outcomes) == [False, True]
    assert outcomes[0][0].pk == outcomes[1][0].pk
    assert Alert.objects.open().filter(asset=asset, kind=AlertKind.MISSING).count() == 1
