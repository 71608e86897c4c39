"""parse_batch: what a gateway gets told about a bad body or bad items (docs/design.md §5)."""

import pytest

from locations.engine import BatchError, parse_batch

NOW = 1_794_988_800.0  # 2026-11-18T08:00:00Z
KNOWN = {"gw-4w-401", "gw-4w-402"}


def body(*items, gateway="gw-4w-401"):
    return {"gateway": gateway, "sent_at": "2026-11-18T08:00:01.000Z", "sightings": list(items)}


def item(tag="c3:00:00:00:01:0a", rssi=-67, ts=NOW * 1000 - 500, battery=87):
    out = {"tag": tag, "rssi": rssi, "ts": ts}
    if battery is not None:
        out["battery"] = battery
    return out


def parse(payload, now=NOW):
    return parse_batch(payload, known_gateways=KNOWN, now=now)


def test_a_good_batch_is_accepted_with_normalised_tags_and_epoch_seconds():
    parsed = parse(
        body(
            item(tag="C3:00:00:00:01:0A", rssi=-67, ts="2026-11-18T07:59:59.512Z"),
            item(tag="c3-00-00-00-01-0b", rssi=-80.5, ts=1_794_988_799_250, battery=None),
        )
    )
    assert parsed.gateway_id == "gw-4w-401"
    assert parsed.rejected == [] and parsed.duplicates == 0
    first, second = parsed.accepted
    assert (first.tag_id, first.rssi, first.ts, first.battery) == ("c3000000010a", -67.0, 1794988799.512, 87)
    assert (second.tag_id, second.rssi, second.ts, second.battery) == ("c3000000010b", -80.5, 1794988799.25, None)
    assert parsed.sent_at == 1794988801.0


def test_iso_times_with_an_offset_mean_the_same_instant():
    parsed = parse(body(item(ts="2026-11-18T09:59:59.512+02:00")))
    assert parsed.accepted[0].ts == 1794988799.512


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"tag": "zz:00"}, "tag id 'zz:00' is not 12 hexadecimal digits"),
        ({"tag": 12}, "tag id must be a string, got int"),
        ({"tag": None}, "tag id must be a string, got NoneType"),
        ({"rssi": -130}, "rssi -130 is outside -120..0"),
        ({"rssi": 3}, "rssi 3 is outside -120..0"),
        ({"rssi": "-67"}, "rssi must be a number of dBm, got '-67'"),
        ({"rssi": True}, "rssi must be a number of dBm, got True"),
        ({"rssi": None}, "rssi is missing"),
        ({"ts": None}, "ts is missing"),
        ({"ts": "yesterday"}, "ts 'yesterday' is not an ISO 8601 time"),
        ({"ts": "2026-11-18T07:59:59"}, "ts '2026-11-18T07:59:59' has no time zone"),
        ({"ts": 1_794_988_799}, "before the year 2000 (epoch seconds instead of milliseconds?)"),
        ({"ts": (NOW + 3600) * 1000}, "is 3600 s in the future (at most 60 s)"),
        ({"battery": 140}, "battery 140 is outside 0..100"),
        ({"battery": "full"}, "battery must be a percentage number, got 'full'"),
    ],
)
def test_a_bad_item_is_rejected_with_its_index_and_reason_while_good_items_go_through(bad, reason):
    parsed = parse(body(item(), {**item(tag="c3:00:00:00:01:0b"), **bad}, item(tag="c3:00:00:00:01:0c")))
    assert [s.tag_id for s in parsed.accepted] == ["c3000000010a", "c3000000010c"]
    assert len(parsed.rejected) == 1
    assert parsed.rejected[0].index == 1
    assert reason in parsed.rejected[0].reason


def test_missing_fields_and_non_objects_are_named():
    parsed = parse(body({"rssi": -60, "ts": NOW * 1000}, "not an object", {"tag": "c3000000010a", "ts": NOW * 1000}))
    assert [(r.index, r.reason) for r in parsed.rejected] == [
        (0, "tag is missing"),
        (1, "item must be an object, got a string"),
        (2, "rssi is missing"),
    ]


def test_a_time_slightly_ahead_of_the_clock_is_accepted_but_not_a_far_future_one():
    parsed = parse(body(item(ts=(NOW + 30) * 1000), item(tag="c3000000010b", ts=(NOW + 90) * 1000)))
    assert len(parsed.accepted) == 1
    assert parsed.rejected[0].index == 1
    tighter = parse_batch(body(item(ts=(NOW + 30) * 1000)), known_gateways=KNOWN, now=NOW, max_future_s=10)
    assert tighter.accepted == [] and "at most 10 s" in tighter.rejected[0].reason


def test_an_unknown_gateway_rejects_every_item_with_that_reason():
    parsed = parse(body(item(), item(tag="c3000000010b"), gateway="gw-x"))
    assert parsed.accepted == []
    assert [(r.index, r.reason) for r in parsed.rejected] == [(0, "unknown gateway gw-x"), (1, "unknown gateway gw-x")]


def test_duplicates_in_a_batch_count_once_whatever_the_tag_spelling_or_time_format():
    ts_ms = 1_794_988_799_512
    parsed = parse(
        body(
            item(tag="c3:00:00:00:01:0a", ts=ts_ms),
            item(tag="C3000000010A", ts="2026-11-18T07:59:59.512Z", rssi=-70),
            item(tag="c3:00:00:00:01:0a", ts=ts_ms + 1),
        )
    )
    assert len(parsed.accepted) == 2
    assert parsed.duplicates == 1
    assert parsed.rejected == []


def test_an_empty_sightings_list_is_a_valid_batch():
    parsed = parse(body())
    assert parsed.accepted == [] and parsed.rejected == [] and parsed.duplicates == 0


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "body must be a JSON object, got a list"),
        ("hello", "body must be a JSON object, got a string"),
        (None, "body must be a JSON object, got null"),
        ({"sightings": []}, "'gateway' is missing"),
        ({"gateway": "", "sightings": []}, "'gateway' must be a non-empty string"),
        ({"gateway": 7, "sightings": []}, "'gateway' must be a non-empty string, got 7"),
        ({"gateway": "gw-4w-401"}, "'sightings' is missing"),
        ({"gateway": "gw-4w-401", "sightings": {"tag": "x"}}, "'sightings' must be a list, got an object"),
        ({"gateway": "gw-4w-401", "sent_at": "soon", "sightings": []}, "sent_at 'soon' is not an ISO 8601 time"),
    ],
)
def test_a_malformed_body_raises_batch_error_saying_what_is_wrong(payload, message):
    with pytest.raises(BatchError) as caught:
        parse(payload)
    assert message in str(caught.value)
