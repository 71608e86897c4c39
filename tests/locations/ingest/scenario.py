"""A stream of gateway batches with a known story, for the worker and fault tests.

Tags move around the test ward (tests/locations/sim_hospital.py) A -> B -> C -> COR -> A..., resting
``dwell`` seconds in each room, each with its own phase. Every gateway sends one batch per second with the
sightings it heard in that second, the way real gateways batch.
"""

from __future__ import annotations

import difflib

from locations.ingest.codec import body_time
from locations.ingest.front import accept_body
from locations.models import LocationOutbox, RoomInterval
from locations.simulator import format_ts
from tests.locations.sim_hospital import T0, forget_receivers, tagged_asset

ROUTE = ["A", "B", "C", "COR"]
# Decisive signals (a tag close under its room's receiver, the others faint through the walls): the story
# is unambiguous, so a difference between two runs can only come from the queue and the workers.
HEARD_IN = {
    "A": {"gw-a": -52, "gw-b": -84, "gw-cor": -82},
    "B": {"gw-b": -52, "gw-a": -84, "gw-c": -84, "gw-cor": -82},
    "C": {"gw-c": -52, "gw-b": -84, "gw-cor": -82, "gw-exit": -88},
    "COR": {"gw-cor": -52, "gw-a": -80, "gw-b": -79, "gw-c": -80, "gw-exit": -84},
}


def tag_id(n: int) -> str:
    return f"c3{n:010x}"


def make_tags(count: int) -> dict:
    """Bound tags and their assets: tag id -> asset."""
    return {tag_id(n): tagged_asset(tag_id(n), asset_tag=f"IP-{n:05d}")[0] for n in range(count)}


def room_at(n: int, offset: float, dwell: float) -> str:
    return ROUTE[int((offset + n * dwell / 3) // dwell) % len(ROUTE)]


def bodies(tag_count: int, *, seconds: int, start: float = T0, every: int = 2, dwell: float = 30.0) -> list:
    """Gateway bodies in arrival order: per second, one body per gateway that heard something."""
    out = []
    for second in range(seconds):
        per_gateway: dict[str, list] = {}
        for n in range(tag_count):
            if second % every != n % every:  # each tag pings every `every` seconds, tags spread out
                continue
            ts = start + second + (n * 0.37) % 1.0
            room = room_at(n, ts - start, dwell)
            for gateway, rssi in HEARD_IN[room].items():
                per_gateway.setdefault(gateway, []).append(
                    {"tag": tag_id(n), "rssi": rssi, "ts": format_ts(ts), "battery": 90 - n % 7}
                )
        for gateway in sorted(per_gateway):
            out.append(
                {"gateway": gateway, "sent_at": format_ts(start + second + 1), "sightings": per_gateway[gateway]}
            )
    return out


def enqueue(queue, batch_bodies) -> int:
    """Through the real front (validation, sharding), each body received when its gateway sent it (the story
    is stamped in November: the front refuses stamps a day older than its clock). Returns the number of
    sightings accepted."""
    accepted = 0
    for body in batch_bodies:
        result = accept_body(body, queue=queue, received_at=body_time(body))
        assert not result.rejected, result.rejected[:3]
        accepted += result.accepted
    return accepted


def history() -> list[tuple]:
    """What an auditor compares: every stay of every asset, in order."""
    return list(
        RoomInterval.objects.order_by("asset__asset_tag", "entered_at").values_list(
            "asset__asset_tag", "room__code", "entered_at", "left_at"
        )
    )


def outbox_changes() -> list[tuple]:
    """Every room change the pipeline handed to the lifecycle work, in the order it would be applied."""
    return [
        (asset_id, from_room, to_room, at)
        for changes in LocationOutbox.objects.order_by("pk").values_list("room_changes", flat=True)
        for asset_id, from_room, to_room, at in changes
    ]


def latest(assets: dict) -> dict:
    """Each asset's current room and last_seen, and its tag's battery and last_seen."""
    out = {}
    for tag, asset in assets.items():
        asset.refresh_from_db()
        asset.tag.refresh_from_db()
        out[tag] = (
            asset.current_room.code if asset.current_room else None,
            asset.last_seen,
            asset.tag.last_seen,
            asset.tag.battery_percent,
        )
    return out


# An asset's location fields as before its first sighting.
NO_LOCATION = {
    "current_room": None,
    "location_confidence": None,
    "located_at": None,
    "position_x": None,
    "position_y": None,
    "position_radius_m": None,
    "last_seen": None,
}


def forget_locations(assets: dict) -> None:
    """Back to before the first sighting, to run the same stream again."""
    RoomInterval.objects.all().delete()
    for asset in assets.values():
        type(asset).objects.filter(pk=asset.pk).update(**NO_LOCATION)
        type(asset.tag).objects.filter(pk=asset.tag.pk).update(last_seen=None, battery_percent=None)
    forget_receivers()

    LocationOutbox.objects.all().delete()


def differences(got: tuple, expected: tuple) -> str:
    """What differs between two (history, latest) outcomes, readably (for assertion messages)."""
    lines = list(
        difflib.unified_diff(
            [repr(r) for r in expected[0]], [repr(r) for r in got[0]], "clean run", "this run", lineterm="", n=0
        )
    )
    lines += [
        f"latest {tag}: clean {expected[1][tag]} != {got[1].get(tag)}"
        for tag in expected[1]
        if expected[1][tag] != got[1].get(tag)
    ]
    return "\n".join(lines)
