"""POST /api/v1/rtls/sightings as a gateway, a spoofer and a broken client see it."""

import base64
import gzip
import json
import random
import time

import pytest
from django.db import OperationalError
from django.test import Client

from accounts.services import api_token_issue
from locations.ingest import front
from locations.ingest.auth import gateway_token_issue, gateway_token_revoke
from locations.ingest.queue import QueueUnavailable
from locations.ingest.worker import EngineWorker
from locations.models import RoomInterval
from locations.pipeline import LocationPipeline
from locations.simulator import format_ts
from tests.factories import BuildingFactory, FloorFactory, ReceiverFactory, SiteFactory, UserFactory
from tests.locations.sim_hospital import HEARD_IN, make_ward, tagged_asset

URL = "/api/v1/rtls/sightings"
TAG = "C3:00:00:00:01:0A"


@pytest.fixture
def ward(db):
    return make_ward()


@pytest.fixture
def other_site_gateway(db):
    site = SiteFactory(code="other-site")
    floor = FloorFactory(building=BuildingFactory(site=site))
    return ReceiverFactory(gateway_id="gw-elsewhere", floor=floor)


def token_for(gateway_id=None, site=None) -> str:
    return gateway_token_issue(gateway_id=gateway_id, site=site).raw


def post(client, body, token=None, *, raw=None, headers=None, query=""):
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else json.dumps(body)
    return client.post(URL + query, data=data, content_type="application/json", headers=headers)


def good_body(gateway="gw-b", *, now=None, items=None):
    now = time.time() if now is None else now
    items = items or [{"tag": TAG, "rssi": -62, "ts": format_ts(now - 1), "battery": 87}]
    return {"gateway": gateway, "sent_at": format_ts(now), "sightings": items}


def test_a_good_batch_is_accepted_and_bad_items_are_rejected_one_by_one(ward, memory_queue):
    now = time.time()
    body = good_body(
        now=now,
        items=[
            {"tag": TAG, "rssi": -62, "ts": format_ts(now - 1)},
            {"tag": TAG, "rssi": -130, "ts": format_ts(now - 1)},
            {"tag": TAG, "rssi": -60, "ts": format_ts(now + 3600)},
            {"tag": "not-a-tag", "rssi": -60, "ts": format_ts(now - 1)},
            {"tag": TAG.lower(), "rssi": -62, "ts": format_ts(now - 1)},  # the same sighting again
            {"tag": "c3:00:00:00:01:0b", "rssi": -70, "ts": int((now - 2) * 1000)},
        ],
    )
    response = post(Client(), body, token_for("gw-b"))

    assert response.status_code == 202
    answer = response.json()
    assert answer["accepted"] == 2
    assert answer["duplicates"] == 1
    assert answer["rejected_count"] == 3
    reasons = {r["index"]: r["reason"] for r in answer["rejected"]}
    assert set(reasons) == {1, 2, 3}
    assert "outside -120..0" in reasons[1]
    assert "in the future" in reasons[2]
    assert "not-a-tag" in reasons[3]
    queued = memory_queue.read("test", range(4), count=100, block_ms=0)
    assert sorted(s.tag_id for e in queued for s in e.batch.sightings) == ["c3000000010a", "c3000000010b"]


def test_posted_sightings_end_up_as_the_assets_room(ward, memory_queue):
    pump, _ = tagged_asset("c3000000010a", asset_tag="IP-00001")
    tokens = {gw: token_for(gw) for gw in HEARD_IN["B"]}
    client = Client()
    start = time.time() - 40
    for n in range(10):
        ts = start + 2 * n
        for gateway, rssi in HEARD_IN["B"].items():
            body = good_body(gateway, now=ts + 0.5, items=[{"tag": TAG, "rssi": rssi, "ts": format_ts(ts)}])
            assert post(client, body, tokens[gateway]).status_code == 202

    EngineWorker(memory_queue, pipeline_factory=LocationPipeline).run_until_idle()

    pump.refresh_from_db()
    assert pump.current_room == ward.rooms["B"]
    assert [i.room.code for i in RoomInterval.objects.filter(asset=pump)] == ["B"]
    assert memory_queue.lag().entries == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer gwt_0123456789ab_wrongwrongwrongwrongwrongwrong"},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic !!!"},
    ],
    ids=["missing", "unknown", "malformed", "empty", "bad-basic"],
)
def test_a_missing_or_bad_token_gets_401(ward, memory_queue, headers):
    response = post(Client(), good_body(), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert memory_queue.lag().entries == 0


def test_a_revoked_token_gets_401(ward, memory_queue):
    issued = gateway_token_issue(gateway_id="gw-b")
    client = Client()
    assert post(client, good_body(), issued.raw).status_code == 202
    gateway_token_revoke(token=issued.token)
    response = post(client, good_body(), issued.raw)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_a_right_key_with_a_wrong_secret_gets_401(ward, memory_queue):
    raw = token_for("gw-b")
    forged = raw[: raw.rindex("_") + 1] + "x" * 43
    assert post(Client(), good_body(), forged).status_code == 401


def test_the_token_may_be_sent_as_the_basic_auth_password(ward, memory_queue):
    basic = base64.b64encode(f"gw-b:{token_for('gw-b')}".encode()).decode()
    response = post(Client(), good_body(), headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 202


def test_a_user_api_token_cannot_post_sightings(ward, memory_queue):
    user = UserFactory()
    key = api_token_issue(user=user).raw
    response = post(Client(), good_body(), headers={"Authorization": f"Token {key}"})
    assert response.status_code == 401


def test_a_gateway_token_does_not_open_the_user_api(ward):
    raw = token_for("gw-b")
    client = Client()
    for header in (f"Bearer {raw}", f"Token {raw}"):
        response = client.get("/api/v1/states/", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_a_gateway_token_posting_for_another_gateway_gets_403(ward, memory_queue):
    response = post(Client(), good_body("gw-c"), token_for("gw-b"))
    assert response.status_code == 403
    assert response.json()["detail"] == "this token belongs to gateway gw-b; it may not post for gw-c"
    assert memory_queue.lag().entries == 0


def test_a_site_collector_token_posts_for_its_sites_gateways_only(ward, other_site_gateway, memory_queue):
    raw = token_for(site="ward-site")
    client = Client()
    for gateway in ("gw-a", "gw-c", "gw-exit"):
        assert post(client, good_body(gateway), raw).status_code == 202
    response = post(client, good_body("gw-elsewhere"), raw)
    assert response.status_code == 403
    assert "not an active receiver of this token's site" in response.json()["detail"]
    response = post(client, good_body("gw-nowhere"), raw)
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "the body is empty"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "body must be a JSON object"),
        ('{"sent_at": "2026-11-22T08:00:01Z", "sightings": []}', "'gateway' is missing"),
        ('{"gateway": "gw-b", "sightings": {"tag": 1}}', "'sightings' must be a list"),
        ('{"gateway": "gw-b"}', "'sightings' is missing"),
        ('{"gateway": "gw-b", "sent_at": "yesterday", "sightings": []}', "sent_at 'yesterday' is not an ISO 8601"),
        (b"\xff\xfe\xfa", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
    ids=["empty", "not-json", "array", "no-gateway", "sightings-obj", "no-sightings", "bad-sent-at", "bytes", "deep"],
)
def test_a_malformed_body_gets_400_saying_what_is_wrong(ward, memory_queue, raw, message):
    response = post(Client(), None, token_for("gw-b"), raw=raw)
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_an_oversize_body_gets_413(ward, memory_queue, settings):
    settings.INGEST_MAX_BODY_BYTES = 4000
    now = time.time()
    items = [{"tag": TAG, "rssi": -62, "ts": format_ts(now - 1 - i / 100)} for i in range(200)]
    response = post(Client(), good_body(items=items), token_for("gw-b"))
    assert response.status_code == 413
    assert "over 4000 bytes" in response.json()["detail"]
    assert memory_queue.lag().entries == 0


def test_a_gzip_body_is_accepted_and_a_gzip_bomb_gets_413(ward, memory_queue, settings):
    settings.INGEST_MAX_BODY_BYTES = 100_000
    raw = token_for("gw-b")
    client = Client()
    packed = gzip.compress(json.dumps(good_body()).encode())
    response = post(client, None, raw, raw=packed, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 202
    bomb = gzip.compress(b" " * 5_000_000)
    assert len(bomb) < 100_000
    response = post(client, None, raw, raw=bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    response = post(client, None, raw, raw=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400


def test_a_gateway_posting_too_fast_gets_429_and_others_do_not(ward, memory_queue, settings):
    settings.INGEST_THROTTLE_RATE = "3/min"
    client = Client()
    b_token, site_token = token_for("gw-b"), token_for(site="ward-site")
    statuses = [post(client, good_body("gw-b"), b_token).status_code for _ in range(3)]
    assert statuses == [202, 202, 202]
    throttled = post(client, good_body("gw-b"), site_token)  # per gateway, whichever token
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert post(client, good_body("gw-c"), site_token).status_code == 202


def test_an_unavailable_queue_gets_503_so_the_gateway_retries(ward, monkeypatch, memory_queue):
    def down(**kwargs):
        raise QueueUnavailable("redis is down")

    monkeypatch.setattr(memory_queue, "put", down)
    response = post(Client(), good_body(), token_for("gw-b"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


def test_a_minew_style_upload_is_accepted_with_rejections_pointing_at_its_own_items(ward, memory_queue):
    now = time.time()
    upload = [
        {"timestamp": format_ts(now), "type": "Gateway", "mac": "AC233FC0AAAA", "gatewayFree": 90},
        {"timestamp": format_ts(now - 1), "type": "iBeacon", "mac": "C3000000010A", "rssi": -61, "battery": 87},
        {"timestamp": format_ts(now - 1), "type": "Unknown", "mac": "C3000000010B", "rssi": 12},
    ]
    response = post(Client(), upload, token_for("gw-b"), query="?vendor=minew")
    assert response.status_code == 202
    answer = response.json()
    assert answer["gateway"] == "gw-b" and answer["accepted"] == 1
    assert [r["index"] for r in answer["rejected"]] == [2]
    (entry,) = memory_queue.read("test", range(4), count=10, block_ms=0)
    (sighting,) = entry.batch.sightings
    assert (sighting.gateway_id, sighting.tag_id, sighting.rssi, sighting.battery) == ("gw-b", "c3000000010a", -61, 87)


def test_a_minew_upload_with_a_site_token_must_name_its_gateway(ward, memory_queue):
    upload = [{"timestamp": format_ts(time.time()), "type": "iBeacon", "mac": "C3000000010A", "rssi": -61}]
    raw = token_for(site="ward-site")
    response = post(Client(), upload, raw, query="?vendor=minew")
    assert response.status_code == 400 and "?gateway=" in response.json()["detail"]
    assert post(Client(), upload, raw, query="?vendor=minew&gateway=gw-a").status_code == 202
    response = post(Client(), upload, raw, query="?vendor=acme")
    assert response.status_code == 400 and "unknown vendor format" in response.json()["detail"]


def _random_json(rng: random.Random, depth: int = 0):
    kinds = ["null", "bool", "int", "float", "str", "list", "dict"] if depth < 4 else ["int", "str", "null"]
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, -1, 1, -130, 10**30, rng.randint(-(2**63), 2**63), 1_795_000_000_000])
    if kind == "float":
        return rng.choice([float("nan"), float("inf"), -0.0, 1e308, rng.uniform(-200, 200)])
    if kind == "str":
        return rng.choice(["", "gw-b", "c3:00:00:00:01:0a", "2026-11-22T08:00:00Z", "\u0000", "é" * 5, "x" * 300])
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["gateway", "sightings", "sent_at", "tag", "rssi", "ts", "battery", "extra"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _mutated_body(rng: random.Random) -> dict:
    body = good_body(now=time.time() - rng.uniform(0, 10))
    item = body["sightings"][0]
    target = rng.choice([body, item])
    key = rng.choice(list(target) + ["extra"])
    if rng.random() < 0.3:
        target.pop(key, None)
    else:
        target[key] = _random_json(rng)
    if rng.random() < 0.3 and isinstance(body.get("sightings"), list):
        body["sightings"].append(_random_json(rng))
    return body


def test_fuzzed_bodies_get_clear_answers_never_a_500(ward, memory_queue, settings):
    """A few hundred random and mutated bodies: every answer is a 202, 400, 403 or 413 with a message."""
    settings.INGEST_THROTTLE_RATE = None
    settings.INGEST_MAX_BODY_BYTES = 20_000
    rng = random.Random(20261122)
    client = Client()  # raises on any unhandled exception in the view, so a crash fails the test
    headers = {"Authorization": f"Bearer {token_for(site='ward-site')}"}
    statuses = {}
    for n in range(400):
        choice = n % 4
        if choice == 0:
            raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
        elif choice == 1:
            raw = json.dumps(_random_json(rng), allow_nan=True)
        elif choice == 2:
            raw = json.dumps(_mutated_body(rng), allow_nan=True)
        else:
            text = json.dumps(_mutated_body(rng))
            cut = rng.randint(0, len(text))
            raw = text[:cut] + rng.choice(["", "}", "]]", '"', "\\", "NaN", "\x00"]) + text[cut:]
        response = client.post(URL, data=raw, content_type="application/json", headers=headers)
        assert response.status_code in (202, 400, 403, 413), (response.status_code, raw)
        if response.status_code != 202:
            assert response.json()["detail"]
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    assert statuses.get(202, 0) > 20 and statuses.get(400, 0) > 100


def test_a_database_outage_gets_503_not_500(ward, memory_queue, monkeypatch):
    raw = token_for("gw-b")

    def down():
        raise OperationalError("sorry, too many clients already")

    front.gateway_directory.forget()
    monkeypatch.setattr(front.gateway_directory, "sites", down)
    response = post(Client(), good_body(), raw)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


def test_a_token_records_when_it_was_last_used(ward, memory_queue):
    issued = gateway_token_issue(gateway_id="gw-b")
    assert issued.token.last_used_at is None
    assert post(Client(), good_body(), issued.raw).status_code == 202
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None


HUGE = int("9" * 400)  # a valid JSON number, beyond any float


def test_a_number_beyond_the_float_range_rejects_its_item_and_the_rest_lands(ward, memory_queue):
    now = time.time()
    good = {"tag": TAG, "rssi": -62, "ts": format_ts(now - 1)}
    items = [good, {**good, "rssi": HUGE}, {**good, "ts": HUGE}, {**good, "battery": HUGE}, {**good, "rssi": -HUGE}]
    response = post(Client(), None, token_for("gw-b"), raw=json.dumps(good_body(now=now, items=items)))
    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["accepted"] == 1
    reasons = {r["index"]: r["reason"] for r in answer["rejected"]}
    assert set(reasons) == {1, 2, 3, 4}
    assert reasons[1] == "rssi 99999999999999999999... is not a finite number"
    assert reasons[2] == "ts 99999999999999999999... is not a finite number"
    assert reasons[3] == "battery 99999999999999999999... is not a finite number"
    assert reasons[4].startswith("rssi -9999") and reasons[4].endswith("is not a finite number")
    assert sum(len(e.batch.sightings) for e in memory_queue.read("test", range(4), count=10, block_ms=0)) == 1
    # In the batch's own send time it makes the body malformed (400), saying why.
    body = {**good_body(now=now), "sent_at": HUGE}
    response = post(Client(), None, token_for("gw-b"), raw=json.dumps(body))
    assert response.status_code == 400
    assert response.json()["detail"] == "sent_at 99999999999999999999... is not a finite number"


def test_a_gateway_that_is_not_unicode_text_gets_400_whatever_the_token(ward, memory_queue):
    """A lone surrogate ("\\ud800") in the gateway: the body is refused as malformed, never a 500."""
    raw = json.dumps({"gateway": "\ud800", "sightings": []})
    assert raw == '{"gateway": "\\ud800", "sightings": []}'
    client = Client()
    for token in (token_for("gw-b"), token_for(site="ward-site")):
        response = post(client, None, token, raw=raw)
        assert response.status_code == 400, response.content
        assert "surrogate" in response.json()["detail"]
    upload = json.dumps(
        [
            {"type": "Gateway", "mac": "\ud800"},
            {"timestamp": format_ts(time.time()), "type": "iBeacon", "mac": "C3000000010A", "rssi": -61},
        ]
    )
    response = post(client, None, token_for(site="ward-site"), raw=upload, query="?vendor=minew")
    assert response.status_code == 400, response.content
    assert "surrogate" in response.json()["detail"]
    assert memory_queue.lag().entries == 0


def test_a_small_body_of_half_a_million_items_gets_413_not_a_huge_answer(ward, memory_queue):
    raw = '{"gateway": "gw-b", "sightings": [' + ",".join(["0"] * 520_000) + "]}"
    assert len(raw) < 1024 * 1024
    response = post(Client(), None, token_for("gw-b"), raw=raw)
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "the batch has 520,000 items, more than 10,000 (INGEST_MAX_BATCH_ITEMS); send smaller batches"
    )
    assert len(response.content) < 1000
    assert memory_queue.lag().entries == 0


def test_a_202_lists_the_first_100_rejections_and_counts_them_all(ward, memory_queue):
    now = time.time()
    items = [{"tag": TAG, "rssi": -62, "ts": format_ts(now - 1)}] + [0] * 5000
    response = post(Client(), good_body(now=now, items=items), token_for("gw-b"))
    assert response.status_code == 202
    answer = response.json()
    assert answer["accepted"] == 1
    assert answer["rejected_count"] == 5000
    assert [r["index"] for r in answer["rejected"]] == list(range(1, 101))
    assert answer["rejected"][0]["reason"] == "item must be an object, got a number"
    assert len(response.content) < 10_000


def test_a_gzip_body_of_several_members_is_read_whole_and_still_size_limited(ward, memory_queue, settings):
    settings.INGEST_MAX_BODY_BYTES = 100_000
    raw = token_for("gw-b")
    client = Client()
    text = json.dumps(good_body()).encode()
    packed = gzip.compress(text[:20]) + gzip.compress(text[20:])  # what `cat a.gz b.gz` gives: valid gzip
    assert gzip.decompress(packed) == text
    response = post(client, None, raw, raw=packed, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == 1
    bombs = gzip.compress(b" " * 60_000) * 2  # each member under the limit, together over it
    response = post(client, None, raw, raw=bombs, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    response = post(client, None, raw, raw=packed[:-5], headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "cannot be decompressed" in response.json()["detail"]


def test_a_minew_upload_with_a_gateway_token_is_filed_under_it_and_never_under_another_gateway(ward, memory_queue):
    upload = [{"timestamp": format_ts(time.time() - 1), "type": "iBeacon", "mac": "C3000000010A", "rssi": -61}]
    raw = token_for("gw-b")
    client = Client()
    for query in ("?vendor=minew", "?vendor=minew&gateway=gw-b"):
        response = post(client, upload, raw, query=query)
        assert response.status_code == 202 and response.json()["gateway"] == "gw-b"
    response = post(client, upload, raw, query="?vendor=minew&gateway=gw-c")
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "this token belongs to gateway gw-b; ?gateway=gw-c names another gateway (with a gateway token leave "
        "?gateway= out: the batch is filed under the token's)"
    )
    entries = memory_queue.read("test", range(4), count=10, block_ms=0)
    assert [e.batch.gateway_id for e in entries] == ["gw-b", "gw-b"]
