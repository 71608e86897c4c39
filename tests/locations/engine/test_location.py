"""Where the engine puts a tag: rooms, floors, confidence, position, and how it behaves over time."""

import math

import pytest

from locations.engine import EngineConfig, LocationEngine, ReceiverGeom, Sighting, SitePlan
from locations.engine.synthetic import random_point_in, room_centre, ward_plan
from tests.locations.engine.conftest import T0, TAG, grid_plan, run, still_pings


@pytest.mark.parametrize("room_id", [100, 104, 108])
def test_a_tag_right_under_a_receiver_is_placed_in_that_receivers_room(grid, quiet_radio, room_id):
    receiver = next(r for r in grid.receivers if r.gateway_id == f"gw-0{(room_id - 100) // 3}{(room_id - 100) % 3}")
    estimates = run(LocationEngine(grid), still_pings(quiet_radio(grid), 1, receiver.x, receiver.y, 20))
    assert len(estimates) == 20
    assert {e.room_id for e in estimates} == {room_id}
    assert all(e.floor_id == 1 for e in estimates)
    last = estimates[-1]
    assert math.hypot(last.x - receiver.x, last.y - receiver.y) < 1.5
    assert last.confidence > 0.9


def two_rooms() -> SitePlan:
    plan = grid_plan(cols=2, rows=1)
    return plan


def test_a_tag_midway_between_two_identical_receivers_is_shown_at_the_wall_and_never_flips():
    plan = two_rooms()  # rooms 100 [0,5]x[0,5] and 101 [5,10]x[0,5], receivers at (2.5, 2.5), (7.5, 2.5)
    pings = [
        [Sighting("gw-000", TAG, -69.0, T0 + 2 * i), Sighting("gw-001", TAG, -69.0, T0 + 2 * i + 0.01)]
        for i in range(30)
    ]
    estimates = run(LocationEngine(plan), pings)
    assert len(estimates) == 30
    rooms = {e.room_id for e in estimates}
    assert len(rooms) == 1  # a stable answer, whichever side it is
    assert sum(e.room_changed for e in estimates) == 1  # only the first estimate "enters" a room
    for e in estimates:
        assert abs(e.x - 5.0) <= 0.6  # the middle, clamped just inside the chosen room
        assert abs(e.y - 2.5) <= 1.0
    # ... and the same answer again from a fresh engine
    assert run(LocationEngine(plan), pings) == estimates


def test_one_or_two_receivers_give_an_answer_with_lower_confidence(grid, quiet_radio):
    x, y = 7.5, 7.5  # under the receiver of the middle room (104)
    pings = still_pings(quiet_radio(grid), 1, x, y, 10)
    assert all(len(p) >= 5 for p in pings)

    def loudest(n):
        return [sorted(p, key=lambda s: -s.rssi)[:n] for p in pings]

    full = run(LocationEngine(grid), pings)
    two = run(LocationEngine(grid), loudest(2))
    one = run(LocationEngine(grid), loudest(1))
    for estimates in (full, two, one):
        assert len(estimates) == 10
        assert {e.room_id for e in estimates} == {104}
    assert {e.receivers_heard for e in one} == {1} and {e.receivers_heard for e in two} == {2}
    assert max(e.confidence for e in one) < min(e.confidence for e in two[1:])
    assert max(e.confidence for e in two) < min(e.confidence for e in full[1:])
    # fewer receivers also make the position less certain
    assert one[-1].radius_m > full[-1].radius_m


def test_a_single_weak_receiver_still_gives_an_answer(grid):
    estimates = run(LocationEngine(grid), [[Sighting("gw-022", TAG, -88.0, T0)]])
    assert len(estimates) == 1
    assert estimates[0].room_id in {108, 105, 107, 104}  # around that receiver
    assert estimates[0].confidence < 0.6


def test_a_receiver_on_the_floor_above_does_not_pull_the_tag_to_its_floor(quiet_radio):
    plan = grid_plan(floors=2)
    above = next(r for r in plan.receivers if r.gateway_id == "gw-111")  # floor 2, middle room, right overhead
    radio = quiet_radio(plan)
    pings = still_pings(radio, 1, above.x + 0.3, above.y + 0.3, 30)
    heard_above = [s for p in pings for s in p if s.gateway_id == "gw-111"]
    assert heard_above, "the receiver overhead must hear the tag for this test to mean anything"
    estimates = run(LocationEngine(plan), pings)
    assert {e.floor_id for e in estimates} == {1}
    assert {e.room_id for e in estimates} == {104}


def test_a_tag_upstairs_is_placed_upstairs(quiet_radio):
    plan = grid_plan(floors=2)
    estimates = run(LocationEngine(plan), still_pings(quiet_radio(plan), 2, 12.0, 3.0, 10))
    assert {e.floor_id for e in estimates} == {2}
    assert {e.room_id for e in estimates} == {202}


@pytest.mark.parametrize(("receivers", "seed"), [("every_room", 3), ("every_other_room", 4)])
def test_a_still_tag_never_changes_room_over_an_hour_of_noisy_pings(noisy_radio, receivers, seed, rng):
    plan = ward_plan(floors=2, layout="single", rooms_per_side=8, receivers=receivers, seed=seed)
    room = next(r for r in plan.rooms if r.code == "0003")  # a patient room halfway down the ward
    x, y = random_point_in(plan, room.room_id, rng, margin=0.8)
    pings = still_pings(noisy_radio(plan, seed), 1, x, y, 1800)  # an hour at one ping every 2 s
    estimates = run(LocationEngine(plan), pings)
    assert len(estimates) >= 1750  # a few pings reach no receiver at all
    assert {e.room_id for e in estimates} == {room.room_id}
    assert [e.room_changed for e in estimates].count(True) == 1


@pytest.mark.parametrize("receivers", ["every_room", "every_other_room"])
def test_a_move_to_the_room_next_door_shows_within_a_few_pings(noisy_radio, receivers):
    plan = ward_plan(floors=1, layout="single", rooms_per_side=8, receivers=receivers, seed=5)
    first, second = (next(r for r in plan.rooms if r.code == code) for code in ("0003", "0004"))
    radio = noisy_radio(plan, 11)
    before = still_pings(radio, 1, *room_centre(plan, first.room_id), 60)
    moved_at = T0 + 120.0
    after = still_pings(radio, 1, *room_centre(plan, second.room_id), 60, start=moved_at)
    estimates = run(LocationEngine(plan), before + after)
    shown_before = [e.room_id for e in estimates if e.ts < moved_at - 1]
    assert set(shown_before[5:]) == {first.room_id}
    arrival = next(e for e in estimates if e.ts >= moved_at - 1 and e.room_id == second.room_id)
    assert arrival.ts - moved_at <= 6.0  # within three pings at one every 2 s
    assert arrival.room_changed and arrival.previous_room_id == first.room_id
    later = [e.room_id for e in estimates if e.ts > arrival.ts]
    assert set(later) == {second.room_id}


def test_position_lands_near_the_tag_inside_the_shown_room(grid, quiet_radio):
    estimates = run(LocationEngine(grid), still_pings(quiet_radio(grid), 1, 6.0, 9.0, 15))
    last = estimates[-1]
    assert last.room_id == 104
    assert 5.0 < last.x < 10.0 and 5.0 < last.y < 10.0  # clamped into room 104
    assert math.hypot(last.x - 6.0, last.y - 9.0) < 2.5
    assert 0.5 <= last.radius_m <= 7.1


def test_restore_continues_from_the_stored_room_after_a_restart(grid, quiet_radio):
    engine = LocationEngine(grid)
    engine.restore(TAG, room_id=104, ts=T0 - 10, confidence=0.95)
    assert engine.room_of(TAG) == 104
    estimates = run(engine, still_pings(quiet_radio(grid), 1, 7.5, 7.5, 5))
    assert estimates[0].room_changed is False and estimates[0].previous_room_id == 104
    assert {e.room_id for e in estimates} == {104}


def test_a_restored_room_gives_way_to_clear_evidence(grid, quiet_radio):
    engine = LocationEngine(grid)
    engine.restore(TAG, room_id=100, ts=T0 - 10)
    estimates = run(engine, still_pings(quiet_radio(grid), 1, 12.5, 12.5, 10))  # far corner room 108
    assert estimates[-1].room_id == 108
    change = next(e for e in estimates if e.room_changed)
    assert change.previous_room_id == 100


def test_restore_rejects_a_room_outside_the_plan(grid):
    with pytest.raises(ValueError, match="room 999 is not in the site plan"):
        LocationEngine(grid).restore(TAG, room_id=999, ts=T0)


def test_tags_are_located_independently_in_one_flush(grid, quiet_radio):
    radio = quiet_radio(grid)
    other = "c3000000010b"
    pings = []
    for i in range(10):
        t = T0 + 2 * i
        pings.append(radio.ping(TAG, 1, 2.5, 2.5, t) + radio.ping(other, 1, 12.5, 12.5, t + 0.3))
    estimates = run(LocationEngine(grid), pings)
    assert {e.room_id for e in estimates if e.tag_id == TAG} == {100}
    assert {e.room_id for e in estimates if e.tag_id == other} == {108}
    assert [e.ts for e in estimates] == sorted(e.ts for e in estimates)


def test_a_receiver_with_no_room_in_reach_leaves_its_windows_unlocated():
    plan = grid_plan(cols=1, rows=1)
    far = ReceiverGeom("gw-car-park", 1, 500.0, 500.0, rssi_at_1m=-59.0)
    plan = SitePlan(floors=plan.floors, rooms=plan.rooms, receivers=(*plan.receivers, far))
    engine = LocationEngine(plan)
    engine.push([Sighting("gw-car-park", TAG, -60.0, T0)])
    assert engine.flush() == []
    assert engine.stats.unlocated == 1


@pytest.mark.parametrize(("receivers", "seed"), [("every_room", 3), ("every_other_room", 4)])
def test_a_still_tag_pinging_every_5_s_never_changes_room_over_an_hour(noisy_radio, receivers, seed, rng):
    plan = ward_plan(floors=2, layout="single", rooms_per_side=8, receivers=receivers, seed=seed)
    room = next(r for r in plan.rooms if r.code == "0003")
    x, y = random_point_in(plan, room.room_id, rng, margin=0.8)
    pings = still_pings(noisy_radio(plan, seed), 1, x, y, 720, period=5.0)  # an hour at one ping every 5 s
    estimates = run(LocationEngine(plan), pings)
    assert len(estimates) >= 700
    assert {e.room_id for e in estimates} == {room.room_id}


@pytest.mark.parametrize("seed", [12, 13, 14])
def test_a_tag_walking_in_from_the_corridor_with_5_s_pings_is_shown_on_its_first_window_there(noisy_radio, seed):
    """Issue 12, with the prompt-switching settings (not yet the defaults): a tag wheeled out of its room,
    down the corridor and into another room, pinging every 5 s, is shown in the room it enters on the
    first ping from there, not a ping (5 s) later."""
    plan = ward_plan(floors=1, layout="single", rooms_per_side=8, receivers="every_room", seed=5)
    radio = noisy_radio(plan, seed)
    first, second = (next(r for r in plan.rooms if r.code == code) for code in ("0002", "0005"))
    (ax, ay), (bx, by) = room_centre(plan, first.room_id), room_centre(plan, second.room_id)
    corridor_y = max(y for _, y in first.exterior) + 1.2  # just outside the rooms' doors
    pings = still_pings(radio, 1, ax, ay, 24, period=5.0)  # two minutes parked
    t = T0 + 24 * 5.0
    walk = [(ax, corridor_y), ((2 * ax + bx) / 3, corridor_y), ((ax + 2 * bx) / 3, corridor_y), (bx, corridor_y)]
    for x, y in walk:  # about 1 m/s down the corridor
        pings.append(radio.ping(TAG, 1, x, y, t))
        t += 5.0
    entered_at = t
    pings += still_pings(radio, 1, bx, by, 12, period=5.0, start=entered_at)
    prompt = EngineConfig(
        passage_rate_factor=10.0,
        likelihood_temper=1.0,
        evidence_correlation_s=5.0,
        max_reading_evidence=2.0,
        max_window_evidence=16.0,
    )
    estimates = run(LocationEngine(plan, prompt), pings)
    assert {e.room_id for e in estimates if T0 + 20 < e.ts < T0 + 24 * 5.0} == {first.room_id}
    arrival = next(e for e in estimates if e.ts >= entered_at - 0.5)
    assert arrival.room_id == second.room_id
    assert {e.room_id for e in estimates if e.ts >= entered_at - 0.5} == {second.room_id}
