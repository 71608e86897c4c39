"""Validate once: the typed fast path accepts and rejects exactly what parse_batch does, with the same
reasons, and the queue entry carries the validated sightings unchanged."""

import json
import random
from datetime import UTC, datetime

import pytest

from locations.engine.parsing import parse_batch, parse_timestamp
from locations.engine.types import BatchError, Sighting
from locations.ingest import codec
from locations.ingest.queue import EntryError, QueuedBatch, decode_batch, encode_batch

NOW = 1_795_000_000.0
GATEWAYS = {"gw-a", "gw-b"}


def random_item(rng: random.Random) -> object:
    tag = rng.choice(["c3:00:00:00:01:0a", "C3000000010B", "c3-00-00-00-01-0c", "zz", 12, None, "c3000000010a"])
    rssi = rng.choice([-60, -60.5, -121, 1, 0, -120, "x", True, None, float("nan")])
    base = NOW - rng.uniform(0, 30)
    ts = rng.choice(
        [
            int(base * 1000),
            base * 1000,
            codec_iso(base),
            codec_iso(base).replace("Z", "+00:00"),
            codec_iso(base).replace("Z", "+02:00"),
            codec_iso(base)[:19],
            codec_iso(NOW + 600),
            (NOW + 600) * 1000,
            codec_iso(NOW - 3 * 86400),  # a gateway clock three days back
            (NOW - 5000) * 1000,
            "2000-01-01T00:00:05Z",  # ... reset to 2000
            "2026-13-01T00:00:00Z",
            "2026-11-22T08:00:60Z",
            "2026-11-22T08:00:5.1Z",
            "2026-11-22T08:00:05.1234567Z",
            1_000_000,
            None,
            [],
        ]
    )
    item = {"tag": tag, "rssi": rssi, "ts": ts}
    battery = rng.choice([None, None, 55, 55.4, 101, -1, "full", float("inf")])
    if battery is not None or rng.random() < 0.1:
        item["battery"] = battery
    if rng.random() < 0.05:
        item.pop(rng.choice(["tag", "rssi", "ts"]))
    if rng.random() < 0.02:
        return rng.choice(["item", 3, None, [1]])
    return item


def codec_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def outcome(batch):
    return (
        batch.gateway_id,
        [(s.gateway_id, s.tag_id, s.rssi, s.ts, s.battery) for s in batch.accepted],
        [(r.index, r.reason) for r in batch.rejected],
        batch.duplicates,
        batch.sent_at,
    )


def well_typed_item(rng: random.Random) -> dict:
    """JSON types right (the typed path takes the body), values right or wrong."""
    while True:
        item = random_item(rng)
        if (
            isinstance(item, dict)
            and {"tag", "rssi", "ts"} <= item.keys()
            and isinstance(item["tag"], str)
            and type(item["rssi"]) in (int, float)
            and type(item["ts"]) in (int, float, str)
            and type(item.get("battery")) in (int, float, type(None))
        ):
            return item


@pytest.mark.parametrize("seed", range(60))
def test_the_fast_path_matches_parse_batch_item_for_item(seed):
    rng = random.Random(seed)
    pick = well_typed_item if seed % 3 else random_item  # two in three bodies take the typed path
    items = [pick(rng) for _ in range(rng.randint(0, 30))]
    items += items[:3]  # repeats within the batch count once
    body = {"gateway": rng.choice(["gw-a", "gw-b", "gw-x"]), "sent_at": codec_iso(NOW), "sightings": items}
    limits = {"max_future_s": 60, "max_past_s": 3600 if seed % 2 else None}  # a live front, or a replay
    expected = parse_batch(body, known_gateways=GATEWAYS, now=NOW, **limits)
    got = codec.validate_body(body, known_gateways=GATEWAYS, now=NOW, **limits)
    assert outcome(got) == outcome(expected)
    if seed % 3:
        assert expected.accepted or not items or body["gateway"] == "gw-x" or expected.rejected
    # The same through the bytes decoder (replay, MQTT), when the text is JSON.
    try:
        raw = json.dumps(body, allow_nan=False).encode()
    except ValueError:
        return
    decoded = codec.decode_body(raw)
    assert outcome(codec.validate_decoded(decoded, known_gateways=GATEWAYS, now=NOW, **limits)) == outcome(expected)


def test_a_clean_body_takes_the_typed_path():
    body = {"gateway": "gw-a", "sightings": [{"tag": "c3000000010a", "rssi": -60, "ts": codec_iso(NOW)}]}
    assert isinstance(codec.decode_body(json.dumps(body).encode()), codec._Body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"sightings": []}, "'gateway' is missing"),
        ({"gateway": " ", "sightings": []}, "'gateway' must be a non-empty string"),
        ({"gateway": "gw-a"}, "'sightings' is missing"),
        ({"gateway": "gw-a", "sightings": [], "sent_at": "yesterday"}, "sent_at 'yesterday' is not an ISO 8601"),
        ([], "body must be a JSON object"),
    ],
)
def test_a_malformed_body_is_refused_with_the_reason(body, message):
    with pytest.raises(BatchError, match=message):
        codec.validate_body(body, known_gateways=GATEWAYS, now=NOW, max_future_s=60)


def test_the_future_limit_is_the_setting(settings):
    item = {"tag": "c3000000010a", "rssi": -60, "ts": (NOW + 120) * 1000}
    body = {"gateway": "gw-a", "sightings": [item]}
    settings.INGEST_MAX_FUTURE_SECONDS = 60
    assert codec.validate_body(body, known_gateways=GATEWAYS, now=NOW).rejected[0].reason == (
        f"ts {item['ts']!r} is 120 s in the future (at most 60 s)"
    )
    settings.INGEST_MAX_FUTURE_SECONDS = 300
    assert len(codec.validate_body(body, known_gateways=GATEWAYS, now=NOW).accepted) == 1


def test_the_past_limit_is_the_live_fronts_and_says_why():
    item = {"tag": "c3000000010a", "rssi": -60, "ts": "2000-01-01T00:00:05Z"}
    body = {
        "gateway": "gw-a",
        "sightings": [item, {**item, "ts": codec_iso(NOW - 7200)}, {**item, "ts": codec_iso(NOW)}],
    }
    for validate in (parse_batch, codec.validate_body):
        batch = validate(body, known_gateways=GATEWAYS, now=NOW, max_future_s=60, max_past_s=3600)
        assert [s.ts for s in batch.accepted] == [NOW]
        assert [(r.index, r.reason) for r in batch.rejected] == [
            (
                0,
                "ts '2000-01-01T00:00:05Z' is 9818 days in the past (at most 3600 s; a gateway clock that was "
                "reset? replay old recordings with replay_sightings)",
            ),
            (
                1,
                f"ts {codec_iso(NOW - 7200)!r} is 7200 s in the past (at most 3600 s; a gateway clock that was "
                "reset? replay old recordings with replay_sightings)",
            ),
        ]
        # A replay (no past limit) takes old recordings.
        assert len(validate(body, known_gateways=GATEWAYS, now=NOW, max_future_s=60).accepted) == 3


def test_the_cached_timestamp_is_the_same_instant_as_parse_timestamp():
    rng = random.Random(3)
    for _ in range(2000):
        ts = NOW + rng.uniform(-86400, 86400)
        for text in (codec_iso(ts), codec_iso(ts).replace("Z", "+00:00"), codec_iso(ts)[:19] + "Z"):
            assert codec.timestamp(text) == parse_timestamp(text)


def test_a_queue_entry_round_trips_and_is_compact():
    sightings = tuple(
        Sighting("gw-a", f"c3{n:010x}", -60.0 - n, NOW + n / 10, 80 if n % 2 else None) for n in range(12)
    )
    batch = QueuedBatch(gateway_id="gw-a", received_at=NOW + 1, sightings=sightings)
    data = encode_batch(batch)
    assert decode_batch(data) == batch
    old = json.dumps(
        {"g": "gw-a", "r": NOW + 1, "s": [[s.tag_id, s.rssi, s.ts, s.battery] for s in sightings]},
        separators=(",", ":"),
    ).encode()
    assert len(data) < 0.8 * len(old)
    assert decode_batch(old) == batch  # entries written before the upgrade still decode
    with pytest.raises(EntryError):
        decode_batch(b"\x93\x01\x02")


def test_a_time_before_2000_is_refused_whatever_was_parsed_before_it():
    """The cache of parsed minutes must not let the minute before 2000 through on its second use."""
    for text in ("1999-12-31T23:59:30Z", "1999-12-31T23:59:31.000Z", "1999-12-31T23:59:32.000+00:00"):
        with pytest.raises(ValueError, match="before the year 2000"):
            codec.timestamp(text)
    body = {
        "gateway": "gw-a",
        "sightings": [{"tag": "c3000000010a", "rssi": -60, "ts": f"1999-12-31T23:59:{s}.000Z"} for s in (40, 41)],
    }
    batch = codec.validate_decoded(codec.decode_body(json.dumps(body)), known_gateways=GATEWAYS, now=NOW)
    assert batch.accepted == []
    assert ["before the year 2000" in r.reason for r in batch.rejected] == [True, True]
