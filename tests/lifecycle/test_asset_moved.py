"""asset.moved against a real HTTP receiver on 127.0.0.1: signed, throttled per asset (latest room wins, the
final room delivered when the window ends), filtered per subscriber, nothing lost across a worker restart."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from lifecycle.outbox import location_outbox_drain
from lifecycle.webhooks.models import AssetMoveThrottle, WebhookDelivery, WebhookSubscription
from lifecycle.webhooks.moves import asset_moves_flush_due, enqueue_asset_moved
from lifecycle.webhooks.services import webhook_deliver_due
from lifecycle.webhooks.signing import verify
from locations.models import LocationOutbox
from locations.signals import RoomChange
from tests.api.conftest import build_api_hospital, client_for
from tests.api.test_webhooks import Receiver
from tests.factories import UserFactory

SECRET = "s3cret-for-asset-moved"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def _worker_mode(settings):
    settings.WEBHOOK_DELIVERY = "worker"  # the test decides when deliveries are sent
    settings.WEBHOOK_ASSET_MOVED_THROTTLE_SECONDS = 30
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # loopback receivers (once SSRF checks refuse private hosts)


def subscribe(url, **filters):
    subscription = WebhookSubscription.objects.create(
        name="CMMS bridge", url=url, secret=SECRET, events=["asset.moved"]
    )
    for name, values in filters.items():
        getattr(subscription, name).set(values)
    return subscription


def move(asset, from_room, to_room, at):
    return RoomChange(asset_id=asset.pk, from_room_id=from_room.pk if from_room else None, to_room_id=to_room.pk, at=at)


def bodies(receiver):
    return [json.loads(r["body"]) for r in receiver.received]


def test_a_move_is_delivered_signed_with_both_rooms_as_codes_and_fhir_references(db, receiver):
    hospital = build_api_hospital()
    rooms = hospital.rooms
    asset = hospital.place("W402", asset_tag="PUMP-9", location_confidence=0.87)
    subscribe(receiver.url)
    at = timezone.now()

    written = enqueue_asset_moved([move(asset, rooms["W401"], rooms["W402"], at)])
    report = webhook_deliver_due()

    assert written == 1 and len(report.succeeded) == 1
    got = receiver.received[0]
    assert got["headers"]["X-Webhook-Event"] == "asset.moved"
    assert verify(secret=SECRET, body=got["body"], header=got["headers"]["X-Webhook-Signature"])
    event = json.loads(got["body"])
    data = event["data"]
    assert event["event"] == "asset.moved"
    assert data["asset"]["asset_tag"] == "PUMP-9" and data["asset"]["fhir"] == {"reference": f"Device/{asset.pk}"}
    assert data["from_room"]["code"] == "W401" and data["to_room"]["code"] == "W402"
    assert data["to_room"]["fhir"] == {"reference": f"Location/room-{rooms['W402'].pk}"}
    assert data["to_room"]["building"]["code"] == "north" and data["to_room"]["floor"]["code"] == "1"
    assert data["entered_at"] == at.isoformat() and data["confidence"] == pytest.approx(0.87)


def test_moves_within_the_window_merge_and_the_final_room_arrives_when_it_ends(db, receiver):
    hospital = build_api_hospital()
    rooms = hospital.rooms
    asset = hospital.place("W402")
    other = hospital.place("W401")
    subscribe(receiver.url)
    t0 = timezone.now()

    enqueue_asset_moved([move(asset, rooms["W401"], rooms["W402"], t0)], now=t0)  # sent at once
    enqueue_asset_moved([move(asset, rooms["W402"], rooms["W409"], t0)], now=t0 + timedelta(seconds=5))
    enqueue_asset_moved(  # two moves of one asset in one batch, and another asset: not throttled by the first
        [move(asset, rooms["W409"], rooms["W201"], t0), move(other, rooms["W402"], rooms["W401"], t0)],
        now=t0 + timedelta(seconds=10),
    )
    enqueue_asset_moved(
        [move(asset, rooms["W201"], rooms["S101"], t0 + timedelta(seconds=12))], now=t0 + timedelta(seconds=12)
    )

    assert asset_moves_flush_due(now=t0 + timedelta(seconds=29)) == 0  # the window has not ended
    assert asset_moves_flush_due(now=t0 + timedelta(seconds=30)) == 1
    webhook_deliver_due()

    mine = [b["data"] for b in bodies(receiver) if b["data"]["asset"]["id"] == asset.pk]
    assert [(d["from_room"]["code"], d["to_room"]["code"]) for d in mine] == [("W401", "W402"), ("W402", "S101")]
    assert mine[1]["merged_moves"] == 3
    assert mine[1]["entered_at"] == (t0 + timedelta(seconds=12)).isoformat()
    theirs = [b["data"] for b in bodies(receiver) if b["data"]["asset"]["id"] == other.pk]
    assert len(theirs) == 1  # the other asset's first move went out at once
    for got in receiver.received:
        assert verify(secret=SECRET, body=got["body"], header=got["headers"]["X-Webhook-Signature"])
    # The next move after the merged event waits for a new window.
    enqueue_asset_moved([move(asset, rooms["S101"], rooms["W401"], t0)], now=t0 + timedelta(seconds=31))
    assert AssetMoveThrottle.objects.get(asset=asset).pending


def test_a_move_back_within_the_window_sends_nothing_more(db, receiver):
    hospital = build_api_hospital()
    rooms = hospital.rooms
    asset = hospital.place("W402")
    subscribe(receiver.url)
    t0 = timezone.now()
    enqueue_asset_moved([move(asset, rooms["W401"], rooms["W402"], t0)], now=t0)
    enqueue_asset_moved([move(asset, rooms["W402"], rooms["W401"], t0)], now=t0 + timedelta(seconds=3))
    enqueue_asset_moved([move(asset, rooms["W401"], rooms["W402"], t0)], now=t0 + timedelta(seconds=4))

    assert asset_moves_flush_due(now=t0 + timedelta(seconds=30)) == 0  # back where the last event left it
    webhook_deliver_due()
    assert len(receiver.received) == 1


def test_subscribers_filter_by_asset_type_and_by_building_or_floor(db, receiver):
    hospital = build_api_hospital()
    rooms = hospital.rooms
    pump = hospital.place("W401")
    monitor = hospital.place("W401", asset_type=hospital.monitor)
    north = rooms["W401"].floor.building
    pumps_only = subscribe(receiver.url, asset_types=[hospital.pump])
    south_only = subscribe(receiver.url, buildings=[rooms["S101"].floor.building])
    floor_two = subscribe(receiver.url, floors=[rooms["W201"].floor])
    t0 = timezone.now()

    enqueue_asset_moved([move(pump, rooms["W401"], rooms["S101"], t0), move(monitor, rooms["W401"], rooms["W201"], t0)])

    deliveries = {(d.subscription_id, json.loads(d.body)["data"]["asset"]["id"]) for d in WebhookDelivery.objects.all()}
    assert deliveries == {(pumps_only.pk, pump.pk), (south_only.pk, pump.pk), (floor_two.pk, monitor.pk)}
    assert north.pk != rooms["S101"].floor.building_id


def test_the_location_outbox_feeds_asset_moved_exactly_once(db, receiver):
    """The pipeline writes an outbox row with each room change; draining it emits asset.moved, and draining
    again emits nothing more."""
    hospital = build_api_hospital()
    rooms = hospital.rooms
    asset = hospital.place("W402")
    subscribe(receiver.url)
    at = timezone.now()
    LocationOutbox.objects.create(
        created_at=at, room_changes=[[asset.pk, rooms["W401"].pk, rooms["W402"].pk, at.isoformat()]]
    )
    assert location_outbox_drain() == 1
    assert location_outbox_drain() == 0
    moved = WebhookDelivery.objects.filter(event="asset.moved")
    assert moved.count() == 1
    assert json.loads(moved.get().body)["data"]["to_room"]["code"] == "W402"


def test_subscription_filters_through_the_api(db, receiver):
    hospital = build_api_hospital()
    dispatcher = UserFactory(username="moved-dispatch", roles=["Dispatch"], password=None)
    floor = hospital.rooms["W201"].floor
    response = client_for(dispatcher).post(
        "/api/v1/webhooks/subscriptions/",
        {
            "name": "CMMS",
            "url": receiver.url,
            "events": ["asset.moved"],
            "asset_types": ["infusion-pump"],
            "floors": [floor.pk],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["asset_types"] == ["infusion-pump"] and response.json()["floors"] == [floor.pk]
    bad = client_for(dispatcher).post(
        "/api/v1/webhooks/subscriptions/",
        {"name": "CMMS", "url": receiver.url, "events": ["asset.moved"], "asset_types": ["teleporter"]},
        format="json",
    )
    assert bad.status_code == 400 and "asset_types" in bad.json()["field_errors"]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a second process (the restarted worker) needs the test database on a server: "
    "set DATABASE_URL=postgres://... (CI does); SQLite's test database lives in this process's memory",
)
@pytest.mark.django_db(transaction=True)
def test_nothing_is_lost_across_a_worker_restart(receiver):
    """The window's merged move lives in a row: a new worker process (after the old one died) sends both the
    first event and the merged final room."""
    hospital = build_api_hospital()
    rooms = hospital.rooms
    asset = hospital.place("W402")
    subscribe(receiver.url)
    past = timezone.now() - timedelta(minutes=5)
    enqueue_asset_moved([move(asset, rooms["W401"], rooms["W402"], past)], now=past)
    enqueue_asset_moved([move(asset, rooms["W402"], rooms["S101"], past)], now=past + timedelta(seconds=2))
    assert WebhookDelivery.objects.count() == 1 and AssetMoveThrottle.objects.get(asset=asset).pending
    # Nothing of this is in any worker's memory; a fresh process picks it all up from the database.
    name = connection.settings_dict["NAME"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{connection.settings_dict['USER']}@{connection.settings_dict['HOST']}:"
        f"{connection.settings_dict['PORT'] or 5432}/{name}",
        "WEBHOOK_DELIVERY": "worker",
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "deliver_webhooks", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 merged asset.moved event(s) emitted" in done.stdout
    got = [(b["data"]["from_room"]["code"], b["data"]["to_room"]["code"]) for b in bodies(receiver)]
    assert got == [("W401", "W402"), ("W402", "S101")]
    assert not AssetMoveThrottle.objects.get(asset=asset).pending


def test_the_receiver_script_in_the_docs_keeps_the_cmms_location_current(db, tmp_path):
    """docs/integrations.md's worked example, run for real: docs/cmms_receiver.py on 127.0.0.1."""
    spec = importlib.util.spec_from_file_location("cmms_receiver", ROOT / "docs" / "cmms_receiver.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    store = tmp_path / "cmms.json"
    server = script.make_server(secret=SECRET, store=store, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        hospital = build_api_hospital()
        rooms = hospital.rooms
        asset = hospital.place("W402", asset_tag="IP-00042")
        subscribe(url)
        t0 = timezone.now()
        enqueue_asset_moved([move(asset, rooms["W401"], rooms["W402"], t0)], now=t0)
        enqueue_asset_moved(
            [move(asset, rooms["W402"], rooms["S101"], t0 + timedelta(seconds=4))], now=t0 + timedelta(seconds=4)
        )
        asset_moves_flush_due(now=t0 + timedelta(seconds=30))
        report = webhook_deliver_due()
        assert len(report.succeeded) == 2

        record = json.loads(store.read_text())["IP-00042"]
        assert record["room"] == "S101" and record["building"] == "south"
        assert record["fhir_location"] == f"Location/room-{rooms['S101'].pk}"
        forged = urllib.request.Request(
            url, data=b'{"event": "asset.moved"}', headers={"X-Webhook-Signature": "t=1,v1=00"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=5)  # noqa: S310 - loopback test receiver
        assert refused.value.code == 401
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db(transaction=True)
def test_without_a_worker_the_merged_final_room_is_sent_when_the_window_ends(receiver, settings):
    """WEBHOOK_DELIVERY=on_commit (the embedded default): a timer in the process flushes the merged move."""
    settings.WEBHOOK_DELIVERY = "on_commit"
    settings.WEBHOOK_ASSET_MOVED_THROTTLE_SECONDS = 1
    hospital = build_api_hospital()
    rooms = hospital.rooms
    asset = hospital.place("W402")
    subscribe(receiver.url)
    now = timezone.now()
    enqueue_asset_moved([move(asset, rooms["W401"], rooms["W402"], now)], now=now)
    enqueue_asset_moved([move(asset, rooms["W402"], rooms["S101"], now)])

    deadline = timezone.now() + timedelta(seconds=15)
    while len(receiver.received) < 2 and timezone.now() < deadline:
        receiver.arrived.wait(0.2)  # wait for the receiver to be called (no fixed sleep)
        receiver.arrived.clear()
    assert [(b["data"]["from_room"]["code"], b["data"]["to_room"]["code"]) for b in bodies(receiver)] == [
        ("W401", "W402"),
        ("W402", "S101"),
    ]
