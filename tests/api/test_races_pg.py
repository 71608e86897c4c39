"""Two dispatchers at the same moment, over HTTP: one wins, the other gets a 409 that says why.

Real row locks need PostgreSQL and two connections (one per thread); on the SQLite default these skip.
Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/dispatch_api .venv/bin/pytest tests/api/test_races_pg.py
The first request holds its row locks (a pre_transition hook) until PostgreSQL shows the second one waiting
for them (tests/pg_waits.py), so the two really overlap; nothing is timed.
"""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connections
from django_fsm.signals import pre_transition

from assets.models import Asset
from declarations.states import AssetState
from lifecycle.models import TransitionLog
from lifecycle.requests.models import EquipmentRequest
from tests.api.conftest import build_api_hospital, client_for, reload
from tests.factories import UserFactory
from tests.pg_waits import backend_pid, wait_until_blocked

pytestmark = [
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL row locks and two connections; set DATABASE_URL=postgres://... (CI does)",
    ),
    pytest.mark.django_db(transaction=True),
]


class HoldFirstReserve:
    """Keep the first reserve's transaction (and its locks) open until the test lets it go; later reserves
    run normally. Only asset reserves are held (an equipment request's own transitions are not)."""

    def __init__(self):
        self.holding = threading.Event()
        self.release = threading.Event()
        self.pid = None
        self._first = threading.Lock()

    def __call__(self, sender, instance, name, **kwargs):
        if sender is Asset and name == "reserve" and self._first.acquire(blocking=False):
            self.pid = backend_pid()
            self.holding.set()
            assert self.release.wait(60)

    def __enter__(self):
        pre_transition.connect(self, dispatch_uid="api-race-hold")
        return self

    def __exit__(self, *exc):
        self.release.set()
        pre_transition.disconnect(dispatch_uid="api-race-hold")


def race(first, second, hold: HoldFirstReserve):
    """Run ``first``; start ``second`` once ``first`` holds its locks, and let ``first`` commit only once
    PostgreSQL shows ``second`` waiting for one of them. Returns both responses."""
    results, pids = {}, {}
    second_started = threading.Event()

    def run(key, call, wait_for=None):
        def target():
            try:
                if wait_for is not None:
                    pids[key] = backend_pid()
                    second_started.set()
                    assert wait_for.wait(60)
                results[key] = call()
            finally:
                connections.close_all()

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    threads = [run("first", first), run("second", second, hold.holding)]
    try:
        assert hold.holding.wait(60) and second_started.wait(60)
        wait_until_blocked(waiter=pids["second"], blocker=hold.pid)
    finally:
        hold.release.set()
        for thread in threads:
            thread.join(60)
    return results["first"], results["second"]


@pytest.fixture
def setting():
    hospital = build_api_hospital()
    dispatchers = [client_for(UserFactory(username=f"d{i}", roles=["Dispatch"], password=None)) for i in (1, 2)]
    nurse = UserFactory(username="n", roles=["Nurse"], password=None)
    return hospital, dispatchers, client_for(nurse)


def new_request(nurse_client, hospital) -> int:
    response = nurse_client.post(
        "/api/v1/equipment-requests/",
        {"asset_type": "infusion-pump", "destination_room": hospital.ward.pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_two_dispatchers_assign_the_same_asset_to_two_requests(setting):
    hospital, (d1, d2), nurse = setting
    asset = hospital.place("W402", asset_tag="ONLY-PUMP")
    r1, r2 = new_request(nurse, hospital), new_request(nurse, hospital)

    def assign(client, request_id):
        return lambda: client.post(
            f"/api/v1/equipment-requests/{request_id}/assign/", {"asset": asset.pk}, format="json"
        )

    with HoldFirstReserve() as hold:
        first, second = race(assign(d1, r1), assign(d2, r2), hold)

    assert first.status_code == 200, first.json()
    assert second.status_code == 409, second.json()
    # The loser waits for the asset's row lock, then reads who took it: the request and the dispatcher.
    assert second.json()["code"] == "conflict"
    assert f"already reserved for equipment request #{r1} for W401, assigned by d1" in second.json()["message"]
    assert reload(asset).state == AssetState.RESERVED
    assert list(EquipmentRequest.objects.order_by("pk").values_list("status", flat=True)) == ["assigned", "open"]
    assert TransitionLog.objects.filter(asset=asset, transition="reserve").count() == 1


def test_two_dispatchers_assign_the_same_request(setting):
    hospital, (d1, d2), nurse = setting
    hospital.place("W402", asset_tag="NEAR")
    hospital.place("W409", asset_tag="FAR")
    request_id = new_request(nurse, hospital)

    def assign(client):
        return lambda: client.post(f"/api/v1/equipment-requests/{request_id}/assign/", {}, format="json")

    with HoldFirstReserve() as hold:
        first, second = race(assign(d1), assign(d2), hold)

    assert first.status_code == 200 and first.json()["asset"]["asset_tag"] == "NEAR"
    assert second.status_code == 409 and "already assigned by d1" in second.json()["message"]
    assert TransitionLog.objects.filter(transition="reserve").count() == 1  # the far pump stays available


def test_two_dispatchers_reserve_one_asset_through_transitions(setting):
    hospital, (d1, d2), _ = setting
    asset = hospital.place("W402")

    def reserve(client):
        return lambda: client.post(f"/api/v1/assets/{asset.pk}/transitions/", {"transition": "reserve"}, format="json")

    with HoldFirstReserve() as hold:
        first, second = race(reserve(d1), reserve(d2), hold)

    assert sorted([first.status_code, second.status_code]) == [201, 409]
    assert second.json()["code"] in {"conflict", "transition_not_allowed"}
    assert TransitionLog.objects.filter(asset=asset).count() == 1
