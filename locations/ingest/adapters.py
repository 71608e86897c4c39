"""Adapters from common BLE gateway formats to the canonical sightings body (docs/design.md §5).

Each adapter only reshapes: validation stays in one place (``parse_batch``), so a vendor item with a bad
MAC or RSSI is rejected with the same reasons as a canonical one. ``source_index[i]`` is the position in
the vendor's payload of canonical item ``i``, so rejections can point at what the gateway actually sent.

- **Minew-style HTTP** (e.g. Minew G1/MG3 "HTTP client" uploads): a JSON array of objects. An object with
  ``"type": "Gateway"`` describes the gateway itself (its ``mac``); every other object is one advertisement:
  ``{"timestamp": "2026-11-22T08:00:00.512Z", "type": "iBeacon", "mac": "AC233FA24C10", "rssi": -67,
  "battery": 87, ...}``.
- **Cassia-style MQTT** (Cassia routers' scan data): one scan object, a list of them, or an envelope
  ``{"data": [...]}``; a scan object is ``{"bdaddrs": [{"bdaddr": "CC:1B:E0:E0:DD:70", "bdaddrType":
  "public"}], "rssi": -67, "adData": "0201...", "name": "...", "evtType": 0}``. Cassia scans carry no time
  stamp unless the router adds one (``timestamp``, epoch ms or ISO 8601); without it the time the message
  was received is used, so keep the router's report interval short (1 s).
"""

from __future__ import annotations

from dataclasses import dataclass

from locations.engine.types import BatchError

VENDORS = ("minew", "cassia")


@dataclass(frozen=True, slots=True)
class Adapted:
    body: dict
    source_index: list[int]


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _battery(value):
    # Vendors report 0 or 255 for "unknown"; only a plausible percentage is passed on.
    return value if _number(value) and 0 < value <= 100 else None


def _item(tag, rssi, ts) -> dict:
    """A canonical item; a field the vendor left out stays out, so the rejection says it is missing."""
    return {key: value for key, value in (("tag", tag), ("rssi", rssi), ("ts", ts)) if value is not None}


def minew_to_canonical(payload: object, *, gateway_id: str | None, now: float) -> Adapted:
    """``gateway_id``: the receiver the token or URL names; without one, the ``Gateway`` object's MAC is used."""
    if not isinstance(payload, list):
        raise BatchError("a Minew-style upload must be a JSON array of objects")
    gateway_mac = None
    sightings, source = [], []
    for index, item in enumerate(payload):
        if isinstance(item, dict) and str(item.get("type", "")).lower() == "gateway":
            gateway_mac = item.get("mac")
            continue
        if isinstance(item, dict):
            ts = item.get("timestamp")
            sighting = _item(item.get("mac"), item.get("rssi"), ts if ts is not None else now * 1000)
            battery = _battery(item.get("battery"))
            if battery is not None:
                sighting["battery"] = battery
            sightings.append(sighting)
        else:
            sightings.append(item)  # parse_batch rejects it with the usual reason
        source.append(index)
    gateway = gateway_id or gateway_mac
    if not isinstance(gateway, str) or not gateway:
        raise BatchError("the upload does not say which gateway sent it: add ?gateway=<receiver id>")
    return Adapted(body={"gateway": gateway, "sightings": sightings}, source_index=source)


def cassia_to_canonical(payload: object, *, gateway_id: str, now: float) -> Adapted:
    if isinstance(payload, dict) and isinstance(payload.get("data"), list):
        scans = payload["data"]
    elif isinstance(payload, dict):
        scans = [payload]
    elif isinstance(payload, list):
        scans = payload
    else:
        raise BatchError("a Cassia-style scan message must be a scan object, a list of them, or {'data': [...]}")
    sightings, source = [], []
    for index, scan in enumerate(scans):
        if not isinstance(scan, dict):
            sightings.append(scan)
            source.append(index)
            continue
        addresses = scan.get("bdaddrs")
        tag = None
        if isinstance(addresses, list) and addresses and isinstance(addresses[0], dict):
            tag = addresses[0].get("bdaddr")
        elif isinstance(scan.get("bdaddr"), str):
            tag = scan["bdaddr"]
        ts = scan.get("timestamp")
        sightings.append(_item(tag, scan.get("rssi"), ts if ts is not None else now * 1000))
        source.append(index)
    return Adapted(body={"gateway": gateway_id, "sightings": sightings}, source_index=source)


def adapt(vendor: str, payload: object, *, gateway_id: str | None, now: float) -> Adapted:
    if vendor == "minew":
        return minew_to_canonical(payload, gateway_id=gateway_id, now=now)
    if vendor == "cassia":
        if not gateway_id:
            raise BatchError("a Cassia-style message needs the gateway id (from the MQTT topic or ?gateway=)")
        return cassia_to_canonical(payload, gateway_id=gateway_id, now=now)
    raise BatchError(f"unknown vendor format {vendor!r}; use one of: {', '.join(VENDORS)}")
