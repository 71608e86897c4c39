"""Equipment on its way (issue 12, "true room change -> visible"): a pump wheeled down the corridor is shown
in the room it turns into on its first window there, while a pump parked in the corridor stays put
(EngineConfig.moving_rate_factor, moving_window_s, moving_min_stay_s)."""

import pytest

from locations.engine import EngineConfig, LocationEngine
from locations.engine.synthetic import room_centre, ward_plan
from tests.locations.engine.conftest import T0, TAG, run, still_pings

PLAN = ward_plan(floors=1, layout="single", rooms_per_side=8, receivers="every_room", seed=5)
FIRST, SECOND = (next(r for r in PLAN.rooms if r.code == code) for code in ("0002", "0005"))
PARKED = EngineConfig(moving_rate_factor=1.0)  # every tag judged at the parked rates (before)


def wheeled(radio):
    """Two minutes in room 0002, 20 s down the corridor at about 1 m/s, then into room 0005: every 5 s."""
    (ax, ay), (bx, by) = room_centre(PLAN, FIRST.room_id), room_centre(PLAN, SECOND.room_id)
    corridor_y = max(y for _, y in FIRST.exterior) + 1.2  # just outside the rooms' doors
    pings = still_pings(radio, 1, ax, ay, 24, period=5.0)
    t = T0 + 24 * 5.0
    for x, y in [(ax, corridor_y), ((2 * ax + bx) / 3, corridor_y), ((ax + 2 * bx) / 3, corridor_y), (bx, corridor_y)]:
        pings.append(radio.ping(TAG, 1, x, y, t))
        t += 5.0
    return pings + still_pings(radio, 1, bx, by, 12, period=5.0, start=t), t


def shown_in_second_after(estimates, entered_at: float) -> float:
    return next(e.ts for e in estimates if e.ts >= entered_at - 0.5 and e.room_id == SECOND.room_id) - entered_at


@pytest.mark.parametrize("seed", [11, 12, 15, 19])
def test_a_pump_wheeled_down_the_corridor_is_shown_in_the_room_on_its_first_window_there(noisy_radio, seed):
    pings, entered_at = wheeled(noisy_radio(PLAN, seed))
    estimates = run(LocationEngine(PLAN), pings)
    assert shown_in_second_after(estimates, entered_at) < 0.5  # the first ping in the room
    assert {e.room_id for e in estimates if e.ts >= entered_at - 0.5} == {SECOND.room_id}
    assert {e.room_id for e in estimates if T0 + 20 < e.ts < T0 + 24 * 5.0} == {FIRST.room_id}
    # At the parked rates the same readings show it a ping (5 s) later.
    assert shown_in_second_after(run(LocationEngine(PLAN, PARKED), pings), entered_at) == pytest.approx(5.0, abs=0.5)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_a_pump_parked_in_the_corridor_at_a_door_for_an_hour_does_not_flip_into_the_rooms(noisy_radio, seed):
    """Only a tag whose shown room changed moments ago gets the moving rates: faster moves out of every
    corridor would flip this one about a hundred times an hour."""
    bx, _ = room_centre(PLAN, SECOND.room_id)
    door = (bx, max(y for _, y in SECOND.exterior) + 1.2)
    pings = still_pings(noisy_radio(PLAN, seed), 1, *door, 720, period=5.0)
    changes = sum(e.room_changed for e in run(LocationEngine(PLAN), pings))
    assert changes <= 5
    always = EngineConfig(passage_rate_factor=30.0)
    assert sum(e.room_changed for e in run(LocationEngine(PLAN, always), pings)) > 10 * changes


def test_a_pump_parked_at_a_door_that_flips_into_the_room_and_back_is_not_taken_for_setting_off(noisy_radio):
    """Only leaving a room it had been shown in for moving_min_stay_s starts the moving rates. Counted from
    any change of the shown room, a parked pump's one false flip into the room gives it the moving rates
    on its way back, and the next flip comes sooner: over an hour, eight pumps at a door change room
    about twice as often, and more often than with half the moving rates and that rule (before)."""
    bx, _ = room_centre(PLAN, SECOND.room_id)
    door = (bx, max(y for _, y in SECOND.exterior) + 1.2)
    any_change = EngineConfig(moving_min_stay_s=0.0)
    before = EngineConfig(moving_rate_factor=30.0, moving_min_stay_s=0.0)
    counts = {"setting off": [], "any change": [], "before": []}
    for seed in range(1, 9):
        pings = still_pings(noisy_radio(PLAN, seed), 1, *door, 720, period=5.0)
        for name, config in (("setting off", None), ("any change", any_change), ("before", before)):
            counts[name].append(sum(e.room_changed for e in run(LocationEngine(PLAN, config), pings)))
    assert max(counts["setting off"]) <= 3, counts
    assert sum(counts["setting off"]) * 1.5 <= sum(counts["any change"]), counts
    assert sum(counts["setting off"]) < sum(counts["before"]), counts


def test_a_restored_tag_that_had_just_entered_the_corridor_is_still_on_its_way(noisy_radio):
    """A worker that takes a shard over seeds each tag from its stored stay, with when it began
    (LocationPipeline.restore_from_db): the room is then shown when an uninterrupted run shows it."""
    pings, entered_at = wheeled(noisy_radio(PLAN, 11))
    split = 24 + 4  # the restart comes after the last ping in the corridor (the first shown there)
    uninterrupted = LocationEngine(PLAN)
    before = run(uninterrupted, pings[:split])
    stay = before[-1]
    since = max(e.ts for e in before if e.room_changed)
    assert stay.room_id != FIRST.room_id  # shown in the corridor by then

    def resumed(**since_kw):
        engine = LocationEngine(PLAN)
        engine.restore(TAG, room_id=stay.room_id, ts=stay.ts, confidence=stay.confidence, **since_kw)
        return run(engine, pings[split:])

    assert shown_in_second_after(resumed(entered_at=since), entered_at) < 0.5
    assert shown_in_second_after(run(uninterrupted, pings[split:]), entered_at) < 0.5
    assert shown_in_second_after(resumed(), entered_at) == pytest.approx(5.0, abs=0.5)  # without it: parked
    # From the rooms shown before (the stored history): it left room 0002 after two minutes there, so it
    # is on its way; a tag whose corridor is the first room it was ever shown in has not set off.
    left_first = [(FIRST.room_id, T0)]
    assert shown_in_second_after(resumed(entered_at=since, shown_before=left_first), entered_at) < 0.5
    first_shown = resumed(entered_at=since, shown_before=[])
    assert shown_in_second_after(first_shown, entered_at) == pytest.approx(5.0, abs=0.5)
