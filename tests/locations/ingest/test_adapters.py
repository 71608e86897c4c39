"""Vendor formats map to the canonical body, and parse_batch then judges them like any other."""

import pytest

from locations.engine import parse_batch
from locations.engine.types import BatchError
from locations.ingest.adapters import adapt, cassia_to_canonical, minew_to_canonical

NOW = 1_795_000_000.0
GATEWAYS = {"gw-b", "ac233fc0aaaa"}


def test_minew_array_maps_to_one_canonical_batch():
    upload = [
        {"timestamp": "2026-11-18T11:06:39.512Z", "type": "Gateway", "mac": "ac233fc0aaaa", "gatewayFree": 95},
        {"timestamp": "2026-11-18T11:06:39.512Z", "type": "iBeacon", "mac": "C3000000010A", "rssi": -61, "battery": 87},
        {"timestamp": "2026-11-18T11:06:39.700Z", "type": "Unknown", "mac": "C3000000010B", "rssi": -75, "battery": 0},
        "junk",
    ]
    adapted = minew_to_canonical(upload, gateway_id="gw-b", now=NOW)
    assert adapted.body["gateway"] == "gw-b"
    assert adapted.source_index == [1, 2, 3]
    batch = parse_batch(adapted.body, known_gateways=GATEWAYS, now=NOW)
    assert [(s.tag_id, s.rssi, s.battery) for s in batch.accepted] == [
        ("c3000000010a", -61, 87),
        ("c3000000010b", -75, None),  # 0 means "unknown" on these gateways, not an empty battery
    ]
    assert batch.accepted[0].ts == pytest.approx(NOW - 0.488)
    assert [r.index for r in batch.rejected] == [2]  # "junk", at source index 3


def test_minew_without_a_gateway_id_uses_the_gateway_objects_mac():
    upload = [{"type": "Gateway", "mac": "ac233fc0aaaa"}, {"type": "iBeacon", "mac": "C3000000010A", "rssi": -61}]
    adapted = minew_to_canonical(upload, gateway_id=None, now=NOW)
    assert adapted.body["gateway"] == "ac233fc0aaaa"
    (sighting,) = parse_batch(adapted.body, known_gateways=GATEWAYS, now=NOW).accepted
    assert sighting.ts == pytest.approx(NOW)  # no timestamp: the time it arrived


@pytest.mark.parametrize(
    "payload",
    [
        {"bdaddrs": [{"bdaddr": "C3:00:00:00:01:0A", "bdaddrType": "public"}], "rssi": -64, "adData": "0201"},
        [{"bdaddrs": [{"bdaddr": "C3:00:00:00:01:0A", "bdaddrType": "random"}], "rssi": -64, "evtType": 0}],
        {"data": [{"bdaddrs": [{"bdaddr": "c3000000010a"}], "rssi": -64, "name": "tag"}]},
    ],
    ids=["one-scan", "list", "envelope"],
)
def test_cassia_scan_messages_map_to_the_topics_gateway(payload):
    adapted = cassia_to_canonical(payload, gateway_id="gw-b", now=NOW)
    (sighting,) = parse_batch(adapted.body, known_gateways=GATEWAYS, now=NOW).accepted
    assert (sighting.gateway_id, sighting.tag_id, sighting.rssi, sighting.ts) == ("gw-b", "c3000000010a", -64, NOW)


def test_cassia_items_without_an_address_are_rejected_with_the_usual_reason():
    adapted = cassia_to_canonical([{"rssi": -64}, {"bdaddrs": [], "rssi": -70}, 5], gateway_id="gw-b", now=NOW)
    batch = parse_batch(adapted.body, known_gateways=GATEWAYS, now=NOW)
    assert batch.accepted == [] and [r.reason for r in batch.rejected][:2] == ["tag is missing", "tag is missing"]


@pytest.mark.parametrize(
    ("vendor", "payload", "gateway", "message"),
    [
        ("minew", {"mac": "x"}, "gw-b", "must be a JSON array"),
        ("minew", [{"type": "iBeacon", "mac": "C3000000010A", "rssi": -61}], None, "?gateway="),
        ("cassia", "scan", "gw-b", "scan object"),
        ("cassia", [], None, "needs the gateway id"),
        ("acme", [], "gw-b", "unknown vendor format 'acme'"),
    ],
)
def test_unusable_vendor_payloads_raise_a_batch_error(vendor, payload, gateway, message):
    with pytest.raises(BatchError, match=message.replace("?", r"\?")):
        adapt(vendor, payload, gateway_id=gateway, now=NOW)
