"""Event-time windows: grouping, lateness, duplicates, determinism (a replay equals the live run)."""

import numpy as np
import pytest

from locations.engine import EngineConfig, LocationEngine, Sighting
from tests.locations.engine.conftest import T0, TAG, run, still_pings


def test_the_copies_of_one_ping_from_several_receivers_make_one_window(grid):
    engine = LocationEngine(grid)
    ping = [Sighting(f"gw-0{r}{c}", TAG, -70.0 - r - c, T0 + 0.004 * (r * 3 + c)) for r in range(3) for c in range(3)]
    assert engine.push(ping) == 9
    (estimate,) = engine.flush()
    assert estimate.receivers_heard == 9
    assert estimate.ts == T0  # the window's event time is its first sighting's


def test_a_window_closes_once_the_frontier_passes_its_end_plus_the_wait_not_on_the_callers_clock_alone(grid):
    # The gateways' clocks taken as known (a fresh engine holds every window until its first clock estimate,
    # test_real_network.py): this is about when a window closes.
    config = EngineConfig(window_gap_s=0.5, initial_lateness_s=2.0, clock_hold_first=False)
    engine = LocationEngine(grid, config)
    engine.push([Sighting("gw-011", TAG, -60.0, T0), Sighting("gw-012", TAG, -70.0, T0 + 0.02)])
    assert engine.watermark == T0  # the frontier: with two gateways, the less advanced one
    assert engine.flush(T0 + 1.0) == []  # the window may still grow or get late copies
    assert engine.flush(T0 + 1.5) == []  # the caller's clock moved, but no data says the window is complete
    other = "c3000000010b"
    engine.push([Sighting(g, other, -70.0, T0 + 2.5) for g in ("gw-011", "gw-012", "gw-010")])
    assert engine.frontier == T0 + 2.5
    # due at end (T0 + 0.52) + wait (2.0 before anything is learnt, + min_lateness_s 0.25) = T0 + 2.77,
    # closed by the first flush at least flush_granularity_s (0.25) later
    assert engine.flush(T0 + 2.5) == []
    engine.push([Sighting(g, other, -70.0, T0 + 2.9) for g in ("gw-011", "gw-012", "gw-010")])
    assert engine.flush(T0 + 2.9) == []
    engine.push([Sighting(g, other, -70.0, T0 + 3.1) for g in ("gw-011", "gw-012", "gw-010")])
    (estimate,) = engine.flush(T0 + 3.1)
    assert estimate.ts == T0 and estimate.room_id == 104 and estimate.tag_id == TAG


def test_flush_with_no_watermark_closes_everything(grid):
    engine = LocationEngine(grid, EngineConfig(clock_hold_first=False))
    engine.push([Sighting("gw-011", TAG, -60.0, T0 + i * 2) for i in range(5)])
    assert engine.flush(engine.watermark) != []  # the early ones are due
    rest = engine.flush()
    assert rest and engine.pending == 0
    assert engine.flush() == []


def test_flushing_an_empty_engine_does_not_make_later_sightings_late(grid):
    """A worker that closes everything while idle must still accept what arrives next."""
    engine = LocationEngine(grid)
    assert engine.flush() == []
    engine.push([Sighting("gw-011", TAG, -60.0, T0)])
    engine.flush()
    assert engine.flush() == []
    assert engine.push([Sighting("gw-011", TAG, -60.0, T0 + 10)]) == 1
    assert engine.stats.late == 0
    assert [e.ts for e in engine.flush()] == [T0 + 10]


def test_a_sighting_for_a_tag_whose_window_at_that_time_was_committed_is_late_and_counted(grid):
    engine = LocationEngine(grid)
    engine.push([Sighting("gw-011", TAG, -60.0, T0 + 10)])
    assert len(engine.flush()) == 1
    assert engine.push([Sighting("gw-012", TAG, -65.0, T0 + 7.9)]) == 0  # before what was committed
    assert engine.push([Sighting("gw-012", TAG, -65.0, T0 + 10.01)]) == 0  # the committed window itself
    assert engine.stats.late == 2 and engine.stats.drops()["late"] == 2
    assert engine.push([Sighting("gw-012", TAG, -65.0, T0 + 12)]) == 1  # the tag's next ping
    # Another tag is not held to this tag's history: its sightings at the same times are placed.
    assert engine.push([Sighting("gw-012", "c3000000010b", -65.0, T0 + 7.9)]) == 1
    assert engine.stats.accepted == 3


def test_the_same_batch_delivered_twice_counts_once_and_changes_nothing(grid, quiet_radio):
    pings = still_pings(quiet_radio(grid), 1, 4.0, 7.0, 20)
    once = run(LocationEngine(grid), pings)
    engine = LocationEngine(grid)
    twice = []
    for sightings in pings:
        assert engine.push(sightings) == len(sightings)
        assert engine.push(sightings) == 0  # a redelivered batch (MQTT QoS 1, an HTTP retry)
        twice += engine.flush(engine.watermark)
        assert engine.push(sightings) == 0  # even after its window closed
    twice += engine.flush()
    assert twice == once
    assert engine.stats.duplicates == 2 * sum(len(p) for p in pings)
    assert engine.stats.late == 0


def test_duplicates_inside_one_large_push_count_once(grid, quiet_radio):
    pings = still_pings(quiet_radio(grid), 1, 4.0, 7.0, 30)
    flat = [s for p in pings for s in p]
    assert len(flat) > 64  # the vectorised path, not the small-batch one
    engine = LocationEngine(grid)
    assert engine.push(flat + flat[:10]) == len(flat)
    assert engine.stats.duplicates == 10
    assert engine.flush() == run(LocationEngine(grid), pings)


def test_unknown_gateways_are_dropped_and_counted(grid):
    engine = LocationEngine(grid)
    assert engine.push([Sighting("gw-nope", TAG, -60.0, T0), Sighting("gw-011", TAG, -60.0, T0)]) == 1
    assert engine.stats.unknown_gateway == 1


@pytest.mark.parametrize("seed", [1, 2])
def test_out_of_order_sightings_within_the_lateness_give_the_same_answer(grid, noisy_radio, seed):
    radio = noisy_radio(grid, seed)
    pings = []
    for i in range(60):  # a tag walking from room 100 across to room 108
        x = 1.0 + 13.0 * i / 59
        pings.append(radio.ping(TAG, 1, x, x, T0 + 2 * i) + radio.ping("c3000000010b", 1, 12.0, 3.0, T0 + 2 * i + 1))
    in_order = run(LocationEngine(grid), pings)
    # The same sightings, shuffled within blocks of 1.5 s of event time, in batches of 5.
    flat = [s for p in pings for s in p]
    rng = np.random.default_rng(seed)
    keys = [s.ts // 1.5 + rng.random() for s in flat]
    shuffled = [s for _, s in sorted(zip(keys, flat, strict=True), key=lambda kv: kv[0])]
    assert shuffled != flat
    engine = LocationEngine(grid)
    out_of_order = []
    for start in range(0, len(shuffled), 5):
        engine.push(shuffled[start : start + 5])
        out_of_order += engine.flush(engine.watermark)
    out_of_order += engine.flush()
    assert engine.stats.late == 0
    key = lambda e: (e.tag_id, e.ts)  # noqa: E731
    assert sorted(out_of_order, key=key) == sorted(in_order, key=key)


def test_the_same_input_twice_gives_identical_output_whatever_the_flush_cadence(grid, noisy_radio):
    pings = still_pings(noisy_radio(grid, 3), 1, 3.0, 8.0, 200)
    live = run(LocationEngine(grid), pings)
    assert run(LocationEngine(grid), pings) == live
    replay = LocationEngine(grid)  # a replay: everything pushed at once, one flush at the end
    replay.push([s for p in pings for s in p])
    assert replay.flush() == live
    assert len(live) == 200


@pytest.mark.parametrize("copies", [1, 40])  # the item-by-item path and the vectorised one
def test_sightings_with_a_non_finite_time_or_rssi_are_dropped_and_counted(grid, copies):
    engine = LocationEngine(grid)
    good = [Sighting("gw-011", TAG, -60.0, T0 + i * 2) for i in range(copies)]
    bad = [Sighting("gw-011", TAG, float("nan"), T0 + 1), Sighting("gw-012", TAG, -60.0, float("inf"))]
    assert engine.push(good + bad) == copies
    assert engine.stats.invalid == 2
    assert engine.watermark == T0 + (copies - 1) * 2
