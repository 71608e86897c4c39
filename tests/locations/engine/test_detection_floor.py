"""Receivers' detection floors, learnt online (issue 12's world, issue 11's "sparse and harsh radio"): a
gateway that forwards only readings at or above a filter says nothing by not reporting a tag expected
below it, and the engine learns that filter from what the gateway reports (EngineConfig.detection_floor)."""

import numpy as np
import pytest

from locations.engine import EngineConfig, LocationEngine
from locations.engine.plan import FLOOR_BINS, FLOOR_BINS_FROM_DBM, detection_floors
from tests.locations.engine.realnet import replay_of, run_network

CONFIG = EngineConfig()  # sensitivity_dbm -95


def histogram(readings: np.ndarray) -> np.ndarray:
    bins = np.clip(np.floor(readings).astype(int) - FLOOR_BINS_FROM_DBM, 0, FLOOR_BINS - 1)
    return np.bincount(bins, minlength=FLOOR_BINS)[None, :]


def readings(rng, n=4000, mean=-78.0, spread=9.0):
    return rng.normal(mean, spread, n)


def test_a_gateway_filter_is_found_where_the_reports_stop_sharply():
    rng = np.random.default_rng(1)
    heard = readings(rng)
    filtered = heard[heard >= -88.0]  # the gateway forwards -88 dBm and louder
    assert detection_floors(histogram(filtered), CONFIG).tolist() == [7.0]  # -88 is 7 dB above -95


def test_a_receiver_that_thins_out_toward_its_sensitivity_keeps_the_configured_one():
    rng = np.random.default_rng(2)
    heard = readings(rng)
    # Fades take the weak readings under the sensitivity one by one: no sharp edge, though the quietest
    # reports (-92 dBm) are above the configured -95.
    kept = heard[rng.random(len(heard)) < 1.0 / (1.0 + np.exp(-(heard + 85.0) / 2.5))]
    assert kept.min() > -95.0
    assert detection_floors(histogram(kept), CONFIG).tolist() == [0.0]


def test_a_receiver_that_only_hears_tags_close_by_is_not_taken_for_a_filtered_one():
    rng = np.random.default_rng(3)
    near = readings(rng, mean=-62.0, spread=4.0)  # its quietest reports are the tail of a bell, at ~ -75
    assert detection_floors(histogram(near), CONFIG).tolist() == [0.0]


def test_a_cut_below_the_configured_sensitivity_or_too_few_readings_change_nothing():
    rng = np.random.default_rng(4)
    heard = readings(rng, mean=-85.0)
    assert detection_floors(histogram(heard[heard >= -100.0]), CONFIG).tolist() == [0.0]  # hears below -95
    few = readings(rng, n=300)
    assert detection_floors(histogram(few[few >= -88.0]), CONFIG).tolist() == [0.0]  # < floor_min_readings


FILTERED = {"sensitivity_dbm": -88.0, "shadowing_sigma_db": 5.0}  # every receiver cut at -88 dBm


def test_the_engine_learns_the_gateways_filter_and_waits_for_fewer_receivers():
    out = run_network(receivers="every", tags=20, seconds=420, seed=2, radio=FILTERED)
    floors = out.engine.plan.rx_floor_db
    assert floors is not None and out.engine.stats.floor_updates >= 1
    assert (floors == 7.0).mean() >= 0.8  # the receivers that reported enough: -88 dBm
    assert set(floors.tolist()) <= {0.0, 7.0}
    blind = LocationEngine(out.plan, EngineConfig(detection_floor=False))
    assert out.engine._co.sum() < blind._co.sum()  # receivers expected below their filter are not waited for
    assert out.settled_accuracy() >= 0.98


def test_without_a_filter_nothing_is_learnt():
    out = run_network(receivers="every", tags=20, seconds=420, seed=2, radio={"shadowing_sigma_db": 5.0})
    assert out.engine.plan.rx_floor_db is None and out.engine.stats.floor_updates == 0


def test_replaying_the_sightings_reproduces_the_live_run_while_the_floors_are_learnt():
    """The floors of an epoch come from the reports of epochs that closed before (as the calibration), so a
    replay that flushes once at the end judges every window as the live run did. Receivers are never taken
    for dark here: a filtered receiver goes quiet for long spells, and which receivers are dark is judged when
    a window closes, which is the one thing a flush once a second and one at the end may see differently
    (docs/location-engine.md, "Determinism"); it is not what this test is about."""
    config = EngineConfig(dark_after_s=1e6)
    live = run_network(receivers="every_other", tags=20, seconds=420, seed=3, radio=FILTERED, config=config)
    assert live.engine.stats.floor_updates >= 1
    assert np.array_equal(replay_of(live).plan.rx_floor_db, live.engine.plan.rx_floor_db)


def test_a_restarted_engine_resumes_the_floors_it_had_learnt_and_keeps_them_while_it_relearns():
    """A filter is a setting of the gateway: a worker that restarts (LocationPipeline stores the floors on the
    receiver rows and resumes them) judges its first windows as the engine before it did, instead of taking
    a filtered receiver's silence for evidence against the room for minutes. Short of enough reports to judge
    a receiver (floor_min_readings over detection_floor_epochs), the floor it resumed is kept."""
    before = run_network(receivers="every", tags=20, seconds=420, seed=2, radio=FILTERED)
    floors = {g: c.floor_dbm for g, c in before.engine.gateway_clocks().items()}
    assert sum(f == -88.0 for f in floors.values()) >= 25
    fresh = run_network(receivers="every", tags=20, seconds=180, seed=2, radio=FILTERED)
    learnt = {"floors_dbm": floors}
    resumed = run_network(receivers="every", tags=20, seconds=180, seed=2, radio=FILTERED, learnt=learnt)
    assert fresh.engine.plan.rx_floor_db is None  # three minutes are too few to learn a floor
    assert {g: c.floor_dbm for g, c in resumed.engine.gateway_clocks().items()} == floors
    assert resumed.engine._co.sum() < fresh.engine._co.sum()  # not waiting for receivers below their filter
    assert resumed.settled_accuracy() > fresh.settled_accuracy()
    assert resumed.settled_accuracy() >= 0.995


def test_floors_are_resumed_before_the_first_sighting_only():
    out = run_network(receivers="every", tags=2, seconds=5, seed=2)
    with pytest.raises(RuntimeError, match="before the first sighting"):
        out.engine.resume_learnt(floors_dbm={})
