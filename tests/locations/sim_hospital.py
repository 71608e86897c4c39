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

import io
import json

from django.core.management import call_command

from declarations.room_types import RoomType
from declarations.tag_ids import format_tag_id
from locations.models import Receiver, Site
from locations.pipeline import site_plan_from_db
from locations.simulator import MotionModel, SimTag, Simulator, format_ts, gateway_bodies
from tests.factories import AssetFactory, Hospital, TagFactory, build_hospital

T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z, a fixed event time for the tests


ROOMS = {
    "A": (RoomType.PATIENT, (0, 0, 5, 5)),
    "B": (RoomType.PATIENT, (5, 0, 10, 5)),
    "C": (RoomType.PATIENT, (10, 0, 15, 5)),
    "COR": (RoomType.CORRIDOR, (0, 5, 15, 7.5)),
    "EXIT": (RoomType.EXIT, (15, 5, 17.5, 7.5)),
}


def make_ward(*, site_code="ward-site", building_code="north", floor_code="4") -> Hospital:
    """The ward above, with its receivers (``ward.receivers["A"]`` is gw-a), on a site of its own."""
    return build_hospital(
        site={"code": site_code},
        buildings={"north": {"code": building_code, "name": "North Tower"}},
        floors={"4": {"building": "north", "code": floor_code, "level": 4, "name": "Floor 4"}},
        rooms={code: {"floor": "4", "room_type": kind, "box": box} for code, (kind, box) in ROOMS.items()},
        receivers=True,
    )


def forget_receivers() -> None:
    """The receivers as before any sighting: nothing heard, nothing learnt (a pipeline built afterwards would
    otherwise resume the calibrations, detection floors, clocks and site radio of the run before:
    LocationEngine.resume_learnt)."""
    Receiver.objects.update(
        last_heard=None,
        clock_offset_s=None,
        clock_pairs=0,
        clock_estimated_at=None,
        calibration_db=None,
        detection_floor_dbm=None,
    )
    Site.objects.update(radio_path_loss_exponent=None, radio_wall_loss_db=None)


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


def replay_simulated(path, tag_ids, *, seed: int, radio, seconds: int = 300):
    """The ward's gateways for `seconds` (the tags wheeled around, resting 10-120 s), as a recorded file
    written to `path` and replayed with replay_sightings. Returns the simulator (its truth). The ward and
    the tags' assets must exist."""
    sim = Simulator(
        site_plan_from_db(),
        [SimTag(tag_id, mobile=True) for tag_id in tag_ids],
        start_ts=T0,
        seed=seed,
        radio=radio,
        motion=MotionModel(mobile_rest_median_s=40.0, mobile_rest_bounds_s=(10.0, 120.0)),
    )
    with path.open("w") as out:
        for _ in range(seconds):
            for b in gateway_bodies(sim.advance(1.0), sent_at=sim.now + 0.2, tag_format=format_tag_id):
                out.write(json.dumps(b) + "\n")
    call_command("replay_sightings", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    return sim
