"""What the engine learns from a floor plan before any sighting: walls, neighbours, bad plans."""

import numpy as np
import pytest

from locations.engine import EngineConfig, FloorGeom, LocationEngine, PlanError, ReceiverGeom, RoomGeom, SitePlan
from locations.engine.plan import compile_plan, refresh_radio_fit
from locations.engine.synthetic import rect
from tests.locations.engine.conftest import grid_plan

FLAT = ((0, 0), (1, 0), (2, 0), (0, 0))


def row_of_rooms(n: int = 5, gap: float = 0.0) -> SitePlan:
    """n rooms 4 m wide in a row (optionally with a wall-thickness gap between them), one receiver in the first."""
    rooms = tuple(
        RoomGeom(10 + i, 1, f"R{i}", "patient", rect(i * (4 + gap), 0, i * (4 + gap) + 4, 4)) for i in range(n)
    )
    receivers = (ReceiverGeom("gw-a", 1, 2.0, 2.0, rssi_at_1m=-59.0),)
    return SitePlan(floors=(FloorGeom(1, 1, 0),), rooms=rooms, receivers=receivers)


@pytest.mark.parametrize("gap", [0.0, 0.2])
def test_walls_between_a_receiver_and_each_room_are_counted_from_the_polygons(gap):
    config = EngineConfig()
    compiled = compile_plan(row_of_rooms(gap=gap), config)
    for i in range(5):
        room = compiled.room_samples[i]
        samples = room[room >= 0]
        rssi = compiled.expected_rssi[compiled.table_index(samples, np.zeros(len(samples), dtype=np.int64))]
        distance = np.hypot(compiled.sample_xy[samples, 0] - 2.0, compiled.sample_xy[samples, 1] - 2.0)
        free_space = -59.0 - 10 * config.path_loss_exponent * np.log10(np.maximum(distance, 1.0))
        # One wall per room boundary crossed (a gap drawn for the wall's thickness is still one wall).
        assert np.allclose(free_space - rssi, i * config.wall_loss_db, atol=1e-3)


def test_rooms_sharing_a_wall_are_neighbours_and_rooms_two_apart_are_near():
    compiled = compile_plan(row_of_rooms(), EngineConfig())
    n = compiled.n_rooms
    adjacent = {(int(k) // n, int(k) % n) for k in compiled.adjacent_keys}
    near = {(int(k) // n, int(k) % n) for k in compiled.near_keys}
    assert adjacent == {(i, i + 1) for i in range(4)} | {(i + 1, i) for i in range(4)}
    assert (0, 2) in near and (0, 3) not in near and (0, 1) not in near


def test_rooms_on_different_floors_are_never_neighbours():
    compiled = compile_plan(grid_plan(floors=2), EngineConfig())
    n = compiled.n_rooms
    for key in compiled.adjacent_keys.tolist():
        assert compiled.room_floor[key // n] == compiled.room_floor[key % n]


def test_every_room_gets_sample_points_inside_it_weighted_by_area():
    compiled = compile_plan(grid_plan(), EngineConfig())
    for i, polygon in enumerate(compiled.room_polygons):
        samples = compiled.room_samples[i][compiled.room_samples[i] >= 0]
        assert 1 <= len(samples) <= EngineConfig().max_samples_per_room
        assert np.isclose(np.exp(compiled.sample_logw[samples]).sum(), 1.0)
        minx, miny, maxx, maxy = polygon.bounds
        xy = compiled.sample_xy[samples]
        assert ((xy[:, 0] > minx) & (xy[:, 0] < maxx) & (xy[:, 1] > miny) & (xy[:, 1] < maxy)).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: SitePlan(p.floors, (), p.receivers), "the plan has no rooms"),
        (lambda p: SitePlan(p.floors, p.rooms, ()), "the plan has no receivers"),
        (
            lambda p: SitePlan(p.floors, p.rooms, (*p.receivers, ReceiverGeom("gw-x", 9, 0, 0, -59.0))),
            "receiver gw-x is on floor 9, which is not in the plan",
        ),
        (
            lambda p: SitePlan(p.floors, (*p.rooms, RoomGeom(99, 7, "Z1", "storage", rect(0, 0, 1, 1))), p.receivers),
            "room Z1 is on floor 7, which is not in the plan",
        ),
        (
            lambda p: SitePlan(p.floors, (*p.rooms, RoomGeom(98, 1, "Z2", "storage", FLAT)), p.receivers),
            "room Z2 has an empty polygon",
        ),
        (lambda p: SitePlan(p.floors, p.rooms, (*p.receivers, p.receivers[0])), "receiver gw-a appears twice"),
    ],
)
def test_a_plan_the_engine_cannot_use_is_refused_with_the_reason(change, message):
    with pytest.raises(PlanError, match=message):
        LocationEngine(change(row_of_rooms()))


def test_a_config_with_impossible_values_is_refused():
    with pytest.raises(ValueError, match="packet_loss"):
        EngineConfig(packet_loss=1.5)


def test_a_learnt_radio_fit_moves_the_expected_rssi_by_distance_and_walls():
    """refresh_radio_fit (the site's radio, learnt online): the tables then hold the model with the new
    exponent and wall loss, and the position and miss tables follow."""
    config = EngineConfig()
    compiled = compile_plan(row_of_rooms(), config)
    miss_before = compiled.miss_grid.copy()
    refresh_radio_fit(compiled, 0.3, 2.0)
    for i in range(5):
        room = compiled.room_samples[i]
        samples = room[room >= 0]
        rssi = compiled.expected_rssi[compiled.table_index(samples, np.zeros(len(samples), dtype=np.int64))]
        distance = np.hypot(compiled.sample_xy[samples, 0] - 2.0, compiled.sample_xy[samples, 1] - 2.0)
        free_space = -59.0 - 10 * (config.path_loss_exponent + 0.3) * np.log10(np.maximum(distance, 1.0))
        assert np.allclose(free_space - rssi, i * (config.wall_loss_db + 2.0), atol=0.02)
    assert np.allclose(compiled.rx_exponent, config.path_loss_exponent + 0.3)
    # Quieter everywhere: fewer receivers were expected to hear the tag, so not hearing them costs less.
    assert (compiled.miss_grid >= miss_before - 1e-9).all() and (compiled.miss_grid > miss_before).any()
