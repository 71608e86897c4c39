"""Failed gateway authentications: logged as security events, limited per source, never a lockout of a valid
gateway token."""

import json
import logging
import random

import pytest
from django.test import Client

from locations.ingest.mqtt import MqttIngest
from tests.locations.ingest.test_http_sightings import good_body, post, token_for
from tests.locations.ingest.test_mqtt_front import FakeClient, body, message
from tests.locations.sim_hospital import make_ward


@pytest.fixture
def ward(db):
    return make_ward()


@pytest.fixture
def security_events(caplog):
    logger = logging.getLogger("security")
    logger.addHandler(caplog.handler)
    yield lambda kind: [
        e for e in (json.loads(r.getMessage()) for r in caplog.records if r.name == "security") if e["kind"] == kind
    ]
    logger.removeHandler(caplog.handler)


def test_a_flood_of_bad_tokens_is_throttled_and_the_valid_gateway_still_gets_in(
    ward, memory_queue, settings, security_events
):
    settings.GATEWAY_AUTH_FAILURE_RATE = "5/min"
    address = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"  # fresh counters
    client = Client(REMOTE_ADDR=address)
    statuses = [post(client, good_body(), f"gwt_{random.randbytes(6).hex()}_{'x' * 43}").status_code for _ in range(30)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    throttled = post(client, good_body(), "not-a-token")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) >= 1
    # The real gateway, from the very same address, is never locked out.
    assert post(client, good_body(), token_for("gw-b")).status_code == 202
    failures = security_events("gateway.auth_failed")
    assert len(failures) == 5 and {f["source"] for f in failures} == {address} and failures[0]["door"] == "http"
    (summary,) = security_events("gateway.auth_throttled")
    assert summary["source"] == address and summary["failures"] == 6


def test_mqtt_messages_for_another_gateway_are_logged_and_limited_per_topic(
    ward, memory_queue, settings, security_events
):
    settings.GATEWAY_AUTH_FAILURE_RATE = "3/min"
    gateway = f"gw-spoof-{random.randint(0, 10**9)}"
    ingest = MqttIngest(url="mqtt://127.0.0.1:1883", client_id="test", prefix="rtls", queue=memory_queue)
    client = FakeClient()
    for mid in range(10):
        ingest._on_message(client, None, message(f"rtls/{gateway}/sightings", body("gw-b"), mid=mid))
    assert ingest.stats.refused == 10 and client.acked == list(range(10))
    failures = security_events("gateway.auth_failed")
    assert len(failures) == 3 and failures[0]["source"] == f"mqtt:{gateway}" and failures[0]["door"] == "mqtt"
    assert len(security_events("gateway.auth_throttled")) == 1
