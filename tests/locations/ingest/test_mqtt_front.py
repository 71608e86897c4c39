"""The MQTT front without a broker: what it does with each message, and when it acknowledges."""

import json
import time

import pytest
from paho.mqtt.client import MQTTMessage

from locations.ingest.mqtt import MqttIngest, handle_message, topic_parts
from locations.ingest.queue import QueueUnavailable
from locations.simulator import format_ts
from tests.locations.sim_hospital import make_ward


@pytest.fixture
def ward(db):
    return make_ward()


def body(gateway="gw-b", rssi=-62):
    now = time.time()
    return {"gateway": gateway, "sightings": [{"tag": "c3000000010a", "rssi": rssi, "ts": format_ts(now - 1)}]}


def message(topic, payload, mid=7) -> MQTTMessage:
    msg = MQTTMessage(mid=mid, topic=topic.encode())
    msg.payload = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    msg.qos = 1
    return msg


class FakeClient:
    def __init__(self):
        self.acked = []

    def ack(self, mid, qos):
        self.acked.append(mid)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("rtls/gw-b/sightings", ("gw-b", "sightings")),
        ("rtls/gw-b/cassia", ("gw-b", "cassia")),
        ("rtls//sightings", None),
        ("rtls/gw-b/other", None),
        ("other/gw-b/sightings", None),
        ("rtls/gw-b/sightings/extra", None),
    ],
)
def test_topics(topic, expected):
    assert topic_parts(topic, "rtls") == expected


def test_a_good_message_is_queued(ward, memory_queue):
    outcome = handle_message("rtls/gw-b/sightings", json.dumps(body()).encode(), prefix="rtls", queue=memory_queue)
    assert outcome.status == "accepted" and outcome.result.accepted == 1
    assert memory_queue.lag().entries == 1


def test_the_topics_gateway_must_be_the_bodys(ward, memory_queue):
    outcome = handle_message(
        "rtls/gw-a/sightings", json.dumps(body("gw-b")).encode(), prefix="rtls", queue=memory_queue
    )
    assert outcome.status == "refused"
    assert outcome.detail == "topic is for gateway gw-a but the body says gw-b"
    assert memory_queue.lag().entries == 0


@pytest.mark.parametrize(
    ("topic", "payload", "detail"),
    [
        ("rtls/gw-b/sightings", b"{oops", "not valid JSON"),
        ("rtls/gw-b/sightings", b"[]", "body must be a JSON object"),
        ("rtls/gw-b/sightings", b'{"gateway": "gw-b"}', "'sightings' is missing"),
        ("rtls/gw-b/cassia", b'"scan"', "scan object"),
        ("rtls/gw-b/whatever", b"{}", "unexpected topic"),
    ],
)
def test_malformed_messages_are_reported(ward, memory_queue, topic, payload, detail):
    outcome = handle_message(topic, payload, prefix="rtls", queue=memory_queue)
    assert outcome.status == "malformed" and detail in outcome.detail


def test_a_cassia_scan_is_queued_for_the_topics_gateway(ward, memory_queue):
    scan = {"bdaddrs": [{"bdaddr": "C3:00:00:00:01:0A", "bdaddrType": "public"}], "rssi": -64, "adData": "0201"}
    outcome = handle_message("rtls/gw-c/cassia", json.dumps(scan).encode(), prefix="rtls", queue=memory_queue)
    assert outcome.status == "accepted"
    (entry,) = memory_queue.read("t", range(4), count=5, block_ms=0)
    assert entry.batch.gateway_id == "gw-c" and entry.batch.sightings[0].rssi == -64


def test_messages_are_acknowledged_after_queueing_and_bad_ones_never_stop_the_worker(ward, memory_queue):
    ingest = MqttIngest(url="mqtt://127.0.0.1:1883", client_id="test", prefix="rtls", queue=memory_queue)
    client = FakeClient()
    ingest._on_message(client, None, message("rtls/gw-b/sightings", b"{oops", mid=1))
    ingest._on_message(client, None, message("rtls/gw-a/sightings", body("gw-b"), mid=2))
    ingest._on_message(client, None, message("rtls/gw-b/sightings", body(rssi=-130), mid=3))
    ingest._on_message(client, None, message("rtls/gw-b/sightings", body(), mid=4))
    assert client.acked == [1, 2, 3, 4]
    stats = ingest.stats
    assert (stats.messages, stats.malformed, stats.refused, stats.rejected_items, stats.accepted_sightings) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert memory_queue.lag().entries == 1


def test_a_message_the_queue_cannot_take_is_left_unacknowledged_for_redelivery(ward, memory_queue, monkeypatch):
    def down(**kwargs):
        raise QueueUnavailable("redis is down")

    monkeypatch.setattr(memory_queue, "put", down)
    ingest = MqttIngest(
        url="mqtt://127.0.0.1:1883", client_id="test", prefix="rtls", queue=memory_queue, enqueue_retry_s=0.2
    )
    client = FakeClient()
    ingest._on_message(client, None, message("rtls/gw-b/sightings", body(), mid=9))
    assert client.acked == []
    assert ingest.stats.queue_failures == 1
    assert ingest._reconnect.is_set()  # the worker reconnects, and the broker sends it again


def test_the_client_uses_a_persistent_session_and_manual_acknowledgement(memory_queue):
    ingest = MqttIngest(url="mqtts://user:secret@broker.example:8883", client_id="fixed-id", prefix="rtls")
    assert ingest.options == {
        "host": "broker.example",
        "port": 8883,
        "username": "user",
        "password": "secret",
        "tls": True,
    }
    assert ingest.client._client_id == b"fixed-id"
    assert ingest.client._clean_session is False
    assert ingest.client._manual_ack is True
    assert ingest.topics == [("rtls/+/sightings", 1), ("rtls/+/cassia", 1)]


def test_a_number_beyond_the_float_range_rejects_its_item_and_the_rest_is_queued(ward, memory_queue, caplog):
    huge = int("9" * 400)
    good = body()["sightings"][0]
    items = [good, {**good, "rssi": huge}, {**good, "ts": huge}, {**good, "battery": huge}]
    payload = json.dumps({"gateway": "gw-b", "sightings": items}).encode()
    ingest = MqttIngest(url="mqtt://127.0.0.1:1883", client_id="test", prefix="rtls", queue=memory_queue)
    client = FakeClient()
    ingest._on_message(client, None, message("rtls/gw-b/sightings", payload, mid=5))
    assert client.acked == [5]
    stats = ingest.stats
    assert (stats.malformed, stats.accepted_sightings, stats.rejected_items) == (0, 1, 3)
    assert "internal error" not in stats.reasons
    assert "Traceback" not in caplog.text
    assert memory_queue.lag().entries == 1


def test_a_batch_of_too_many_items_is_refused_whole_and_said_why(ward, memory_queue, settings):
    settings.INGEST_MAX_BATCH_ITEMS = 50
    payload = json.dumps({"gateway": "gw-b", "sightings": body()["sightings"] * 51}).encode()
    outcome = handle_message("rtls/gw-b/sightings", payload, prefix="rtls", queue=memory_queue)
    assert outcome.status == "malformed"
    assert outcome.detail == "the batch has 51 items, more than 50 (INGEST_MAX_BATCH_ITEMS); send smaller batches"
    assert memory_queue.lag().entries == 0
