"""A small, clear ward for the location pipeline tests, and helpers to write gateway bodies.

    y 7.5 +---------------------------------------+-------+
          |               COR (corridor)          | EXIT  |
    y 5   +------------+------------+-------------+-------+
          |     A      |     B      |      C      |
    y 0   +------------+------------+-------------+
          x 0          5            10            15     17.5

One ceiling receiver in the middle of each room (gw-a, gw-b, gw-c, gw-cor, gw-exit).
"""

from __future__ import annotations

from dataclasses import dataclass

from declarations.room_types import RoomType
from locations.simulator import format_ts
from tests.factories import (
    AssetFactory,
    BuildingFactory,
    FloorFactory,
    ReceiverFactory,
    RoomFactory,
    SiteFactory,
    TagFactory,
)

T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z, a fixed event time for the tests


def rect(x0, y0, x1, y1) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


ROOMS = {
    "A": (RoomType.PATIENT, (0, 0, 5, 5)),
    "B": (RoomType.PATIENT, (5, 0, 10, 5)),
    "C": (RoomType.PATIENT, (10, 0, 15, 5)),
    "COR": (RoomType.CORRIDOR, (0, 5, 15, 7.5)),
    "EXIT": (RoomType.EXIT, (15, 5, 17.5, 7.5)),
}


@dataclass
class Ward:
    site: object
    building: object
    floor: object
    rooms: dict  # code -> Room
    receivers: dict  # code -> Receiver


def make_ward(*, site_code="ward-site", building_code="north", floor_code="4") -> Ward:
    site = SiteFactory(code=site_code)
    building = BuildingFactory(site=site, code=building_code, name="North Tower")
    floor = FloorFactory(building=building, code=floor_code, level=4, name="Floor 4")
    rooms, receivers = {}, {}
    for code, (room_type, (x0, y0, x1, y1)) in ROOMS.items():
        room = RoomFactory(floor=floor, code=code, room_type=room_type, polygon=rect(x0, y0, x1, y1))
        rooms[code] = room
        receivers[code] = ReceiverFactory(
            gateway_id=f"gw-{code.lower()}",
            floor=floor,
            room=room,
            x=(x0 + x1) / 2,
            y=(y0 + y1) / 2,
            rssi_at_1m=-59.0,
            height_m=2.7,
        )
    return Ward(site=site, building=building, floor=floor, rooms=rooms, receivers=receivers)


def tagged_asset(tag_id: str, **asset_fields):
    asset = AssetFactory(**asset_fields)
    tag = TagFactory(tag_id=tag_id, asset=asset, battery_percent=None)
    return asset, tag


def body(gateway: str, items: list[tuple], *, sent_at: float | None = None) -> dict:
    """items: (tag, rssi, ts[, battery])."""
    sightings = []
    for item in items:
        tag, rssi, ts = item[:3]
        sighting = {"tag": tag, "rssi": rssi, "ts": format_ts(ts)}
        if len(item) > 3:
            sighting["battery"] = item[3]
        sightings.append(sighting)
    newest = max((item[2] for item in items), default=T0)
    return {
        "gateway": gateway,
        "sent_at": format_ts(sent_at if sent_at is not None else newest + 0.5),
        "sightings": sightings,
    }


# Strong in the named room, weaker through one wall, weakest farther away: what a tag resting
# under that room's receiver sounds like, without noise.
HEARD_IN = {
    "A": {"gw-a": -62, "gw-b": -80, "gw-cor": -78, "gw-c": -92},
    "B": {"gw-b": -62, "gw-a": -80, "gw-c": -80, "gw-cor": -77},
    "C": {"gw-c": -62, "gw-b": -80, "gw-cor": -78, "gw-exit": -85},
    "COR": {"gw-cor": -62, "gw-a": -79, "gw-b": -78, "gw-c": -79, "gw-exit": -82},
    "EXIT": {"gw-exit": -62, "gw-cor": -78, "gw-c": -84},
}


def pings(tag: str, room: str, start: float, count: int, *, every: float = 2.0, battery=None) -> list[dict]:
    """Bodies (one per gateway per ping) for `count` pings of a tag resting in `room`."""
    bodies = []
    for n in range(count):
        ts = start + n * every
        for gateway, rssi in HEARD_IN[room].items():
            item = (tag, rssi, ts) if battery is None else (tag, rssi, ts, battery)
            bodies.append(body(gateway, [item], sent_at=ts + 0.6))
    return bodies
