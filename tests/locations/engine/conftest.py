"""Hand-built site plans and a seeded radio for the engine's unit tests."""

from __future__ import annotations

import numpy as np
import pytest

from locations.engine import FloorGeom, LocationEngine, ReceiverGeom, RoomGeom, Sighting, SitePlan
from locations.engine.synthetic import Radio, RadioModel, rect

T0 = 1_800_000_000.0
TAG = "c3000000010a"


def grid_plan(cols: int = 3, rows: int = 3, size: float = 5.0, floors: int = 1) -> SitePlan:
    """cols x rows square rooms of `size` m, a receiver at each room's centre, on each floor."""
    floor_geoms, rooms, receivers = [], [], []
    for level in range(floors):
        floor_id = level + 1
        floor_geoms.append(FloorGeom(floor_id=floor_id, building_id=1, level=level))
        for r in range(rows):
            for c in range(cols):
                room_id = floor_id * 100 + r * cols + c
                x0, y0 = c * size, r * size
                ring = rect(x0, y0, x0 + size, y0 + size)
                rooms.append(RoomGeom(room_id, floor_id, f"{level}{r}{c}", "patient", ring))
                receivers.append(
                    ReceiverGeom(f"gw-{level}{r}{c}", floor_id, x0 + size / 2, y0 + size / 2, rssi_at_1m=-59.0)
                )
    return SitePlan(floors=tuple(floor_geoms), rooms=tuple(rooms), receivers=tuple(receivers))


def run(engine: LocationEngine, pings: list[list[Sighting]]) -> list:
    """Deliver each ping's sightings as one push, flushing at the event-time watermark; then close all."""
    out = []
    for sightings in pings:
        engine.push(sightings)
        out += engine.flush(engine.watermark)
    return out + engine.flush()


def still_pings(radio: Radio, floor_id: int, x: float, y: float, n: int, *, period: float = 2.0, start: float = T0):
    return [radio.ping(TAG, floor_id, x, y, start + i * period) for i in range(n)]


@pytest.fixture(scope="module")
def grid():
    return grid_plan()


@pytest.fixture
def quiet_radio():
    """Little noise: tests of geometry, not of robustness."""
    return lambda plan, seed=1: Radio(plan, RadioModel(sigma_db=2.0, fade_probability=0.0, packet_loss=0.0), seed=seed)


@pytest.fixture
def noisy_radio():
    """Scenario-B-like noise: 6 dB shadowing, fades, lost packets, walls counted once per room crossed."""
    return lambda plan, seed=1: Radio(
        plan,
        RadioModel(
            sigma_db=6.0,
            fade_probability=0.1,
            packet_loss=0.15,
            path_loss_exponent=2.4,
            wall_loss_db=4.5,
            double_count_shared_walls=True,
        ),
        seed=seed,
    )


@pytest.fixture
def rng():
    return np.random.default_rng(7)
