"""Two people act on one asset at the same moment: one wins, the other gets a clear conflict.

Real row locks need a real database: these tests open two PostgreSQL connections (one per
thread). They skip on the SQLite default; CI sets DATABASE_URL to PostgreSQL and runs them.
"""

import threading

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django_fsm.signals import pre_transition

from assets.models import Asset
from declarations.states import AssetState
from lifecycle.exceptions import ConcurrentTransition
from lifecycle.models import TransitionLog
from lifecycle.services import asset_transition
from tests.factories import UserFactory
from tests.lifecycle.helpers import located_asset
from tests.pg_waits import backend_pid, wait_until_blocked

pytestmark = [
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL row locks and two connections; set DATABASE_URL=postgres://... (CI does)",
    ),
    # The migrations' data (role groups, default rules) is re-seeded by tests/conftest.py.
    pytest.mark.django_db(transaction=True),
]


def run_in_thread(target, results, key):
    def wrapper():
        try:
            results[key] = target()
        except Exception as exc:  # the test inspects what each side got
            results[key] = exc
        finally:
            connections.close_all()  # this thread's own connection

    thread = threading.Thread(target=wrapper)
    thread.start()
    return thread


def test_two_transitions_on_one_asset_one_wins_the_other_gets_a_conflict():
    nurse = UserFactory(username="nurse", roles=["Nurse"])
    dispatcher = UserFactory(username="dispatch", roles=["Dispatch"])
    asset = located_asset()
    # Each side loaded the asset while it was available, as two screens would.
    nurse_copy, dispatch_copy = Asset.objects.get(pk=asset.pk), Asset.objects.get(pk=asset.pk)

    pids = {}
    nurse_holds_lock, dispatch_ready, let_nurse_commit = threading.Event(), threading.Event(), threading.Event()

    def hold_the_lock(sender, instance, name, **kwargs):
        # Runs inside the nurse's transaction, after its SELECT ... FOR UPDATE: keep the row locked until
        # the test has seen the dispatcher wait for it.
        if name == "start_use":
            pids["nurse"] = backend_pid()
            nurse_holds_lock.set()
            assert let_nurse_commit.wait(60)

    pre_transition.connect(hold_the_lock, dispatch_uid="test-hold-lock")
    results = {}
    try:

        def nurse_takes_it():
            return asset_transition(asset=nurse_copy, transition="start_use", user=nurse)

        def dispatch_reserves_it():
            pids["dispatch"] = backend_pid()
            dispatch_ready.set()
            assert nurse_holds_lock.wait(60)
            return asset_transition(asset=dispatch_copy, transition="reserve", user=dispatcher)

        threads = [
            run_in_thread(nurse_takes_it, results, "nurse"),
            run_in_thread(dispatch_reserves_it, results, "dispatch"),
        ]
        try:
            assert nurse_holds_lock.wait(60) and dispatch_ready.wait(60)
            # The order is proven by PostgreSQL: the dispatcher's session waits on the nurse's row lock.
            waiting_on = wait_until_blocked(waiter=pids["dispatch"], blocker=pids["nurse"])
        finally:
            let_nurse_commit.set()
            for thread in threads:
                thread.join(60)
    finally:
        pre_transition.disconnect(dispatch_uid="test-hold-lock")

    assert waiting_on[0] == "Lock"
    assert isinstance(results["nurse"], TransitionLog), results["nurse"]
    # The loser decided on the winner's committed state: the message names the winner's transition.
    assert isinstance(results["dispatch"], ConcurrentTransition), results["dispatch"]
    assert "changed from available to in use (start_use by nurse" in str(results["dispatch"])

    assert Asset.objects.get(pk=asset.pk).state == AssetState.IN_USE
    assert list(TransitionLog.objects.filter(asset=asset).values_list("transition", "user__username")) == [
        ("start_use", "nurse")
    ]


def test_the_same_transition_twice_at_once_happens_once():
    users = [UserFactory(username=f"nurse{i}", roles=["Nurse"]) for i in range(2)]
    asset = located_asset()
    copies = [Asset.objects.get(pk=asset.pk) for _ in users]
    barrier = threading.Barrier(2)
    results = {}

    def take(i):
        def go():
            barrier.wait(5)
            return asset_transition(asset=copies[i], transition="start_use", user=users[i])

        return go

    threads = [run_in_thread(take(i), results, i) for i in range(2)]
    for thread in threads:
        thread.join(20)

    outcomes = sorted(type(r).__name__ for r in results.values())
    assert outcomes == ["ConcurrentTransition", "TransitionLog"], results
    assert TransitionLog.objects.filter(asset=asset).count() == 1


def test_database_refuses_to_rewrite_the_audit_trail():
    """PostgreSQL triggers back the model checks: even raw SQL cannot edit or delete a log row."""
    nurse = UserFactory(username="nurse", roles=["Nurse"])
    entry = asset_transition(asset=located_asset(), transition="start_use", user=nurse)
    for sql in (
        "UPDATE lifecycle_transitionlog SET note = 'rewritten' WHERE id = %s",
        "DELETE FROM lifecycle_transitionlog WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])
    assert TransitionLog.objects.get(pk=entry.pk).note == ""
