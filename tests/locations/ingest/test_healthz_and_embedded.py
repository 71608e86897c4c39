"""/healthz reports the database, the channel layer and the ingest lag; the embedded default processes
in-process with no Redis."""

import json
import time

import pytest
from django.db import OperationalError
from django.test import Client

from config import views
from declarations.room_types import RoomType
from locations.engine.types import Sighting
from locations.ingest.auth import gateway_token_issue
from locations.ingest.queue import InMemoryQueue, RedisStreamQueue, set_queue
from locations.ingest.worker import stop_in_process_worker
from locations.outbox import stop_in_process_consumer
from locations.simulator import format_ts
from tests.locations.sim_hospital import HEARD_IN, make_ward, tagged_asset

# The detail is for monitoring (issue 13 defect 6); anonymous callers get ok / not ok only.
MONITOR = {"HTTP_AUTHORIZATION": "Bearer monitor-token-for-tests"}


@pytest.fixture(autouse=True)
def _monitoring_token(settings):
    settings.HEALTHZ_TOKEN = "monitor-token-for-tests"


@pytest.mark.django_db
def test_healthz_reports_each_part(memory_queue):
    answer = Client().get("/healthz", **MONITOR)
    assert answer.status_code == 200
    data = answer.json()
    assert data["status"] == "ok"
    assert data["database"] == "ok" and data["channel_layer"] == "ok"
    assert data["ingest"] == {
        "backend": "memory",
        "entries": 0,
        "oldest_age_s": 0.0,
        "shards_unowned": 0,
        "status": "ok",
    }


@pytest.mark.django_db
def test_healthz_is_degraded_when_ingest_lags(memory_queue, settings):
    settings.INGEST_LAG_WARN_SECONDS = 0
    memory_queue.put(gateway_id="gw-a", sightings=[Sighting("gw-a", "c3000000010a", -60.0, 1.0)], received_at=1.0)
    time.sleep(0.01)
    data = Client().get("/healthz", **MONITOR).json()
    assert data["status"] == "degraded"
    assert data["ingest"]["status"] == "lagging" and data["ingest"]["entries"] == 1


@pytest.mark.django_db
def test_healthz_says_error_with_503_when_the_database_is_down(memory_queue, monkeypatch):
    class DeadConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(views, "connection", DeadConnection())
    answer = Client().get("/healthz", **MONITOR)
    assert answer.status_code == 503
    assert answer.json()["status"] == "error" and answer.json()["database"] == "error: OperationalError"


@pytest.mark.django_db
def test_healthz_reports_an_unreachable_queue_without_failing(settings):
    set_queue(RedisStreamQueue(url="redis://127.0.0.1:1/0", prefix="nowhere", shards=2))
    data = Client().get("/healthz", **MONITOR).json()
    assert data["status"] == "degraded" and data["ingest"]["status"].startswith("error")


@pytest.mark.django_db(transaction=True)
def test_the_embedded_default_locates_posted_sightings_in_process(settings):
    """No Redis: the web process runs the same worker loop in a thread, on an in-process queue, and the
    outbox consumer in another thread: the room-type rule follows the room change."""
    settings.INGEST_IN_PROCESS_WORKER = True
    settings.LOCATION_OUTBOX_CONSUMER = "in-process"
    set_queue(InMemoryQueue(shards=4))
    ward = make_ward()
    ward.rooms["C"].room_type = RoomType.SOILED_UTILITY
    ward.rooms["C"].save()
    pump, _ = tagged_asset("c3000000010a", asset_tag="IP-00001", state="in_use")
    client = Client()
    tokens = {gw: gateway_token_issue(gateway_id=gw).raw for gw in HEARD_IN["C"]}
    start = time.time() - 30
    try:
        for n in range(8):
            ts = start + 2 * n
            for gateway, rssi in HEARD_IN["C"].items():
                body = {"gateway": gateway, "sightings": [{"tag": "c3000000010a", "rssi": rssi, "ts": format_ts(ts)}]}
                response = client.post(
                    "/api/v1/rtls/sightings",
                    data=json.dumps(body),
                    content_type="application/json",
                    headers={"Authorization": f"Bearer {tokens[gateway]}"},
                )
                assert response.status_code == 202
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pump.refresh_from_db()
            if pump.current_room_id == ward.rooms["C"].pk and pump.state == "soiled":
                break
            time.sleep(0.2)
        assert pump.current_room == ward.rooms["C"]
        assert pump.state == "soiled"  # applied by the in-process outbox consumer
    finally:
        stop_in_process_worker()
        stop_in_process_consumer()
