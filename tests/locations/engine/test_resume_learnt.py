"""A restarted engine resumes what the one before it learnt about the receivers (LocationEngine.resume_learnt;
the pipeline reads it from the receiver rows): receivers several dB off their datasheet are not misjudged
for the minutes it would take to relearn their calibration. The detection floors: test_detection_floor.py."""

import pytest

from tests.locations.engine.realnet import run_network

OFF = {"receiver_offset_sigma_db": 4.0, "shadowing_sigma_db": 5.0}  # receivers off their rssi_at_1m by N(0, 4 dB)


@pytest.mark.parametrize(("receivers", "seed"), [("every_other", 3), ("every_third", 2)])
def test_a_restarted_engine_places_tags_with_the_calibration_it_had_learnt(receivers, seed):
    before = run_network(receivers=receivers, tags=30, seconds=600, seed=seed, radio=OFF)
    calibration = {g: c.calibration_db for g, c in before.engine.gateway_clocks().items()}
    assert sum(abs(v) >= 1.0 for v in calibration.values()) >= 5  # receivers it found several dB off
    # The first three minutes after a restart, on the same traffic: from scratch, and resumed.
    fresh = run_network(receivers=receivers, tags=30, seconds=180, seed=seed, radio=OFF)
    resumed = run_network(
        receivers=receivers, tags=30, seconds=180, seed=seed, radio=OFF, learnt={"calibration_db": calibration}
    )
    assert resumed.settled_accuracy() >= fresh.settled_accuracy() + 0.05
    # New readings refine what was resumed; they do not throw it away.
    after = {g: c.calibration_db for g, c in resumed.engine.gateway_clocks().items()}
    assert max(abs(after[g] - calibration[g]) for g in calibration) < 2.0


def test_what_is_resumed_names_only_the_receivers_of_the_plan():
    out = run_network(receivers="every_other", tags=2, seconds=0, seed=3)
    gateway = next(iter(out.engine.gateway_clocks()))
    assert out.engine.resume_learnt(calibration_db={gateway: 2.5, "gw-gone": 4.0}, floors_dbm={"gw-gone": -88.0}) == 1
    clocks = out.engine.gateway_clocks()
    assert clocks[gateway].calibration_db == 2.5 and "gw-gone" not in clocks


def test_a_calibration_of_zero_is_nothing_learnt_and_does_not_slow_the_learning():
    """gateway_clocks() says 0 for a receiver not calibrated yet, and the pipeline stores that: resumed as a
    hundred readings of 0, it would hold the receiver's real offset back for minutes."""
    before = run_network(receivers="every_other", tags=30, seconds=600, seed=3, radio=OFF)
    learnt = {g: c.calibration_db for g, c in before.engine.gateway_clocks().items()}
    zeros = run_network(
        receivers="every_other",
        tags=30,
        seconds=600,
        seed=3,
        radio=OFF,
        learnt={"calibration_db": dict.fromkeys(learnt, 0.0)},
    )
    assert {g: c.calibration_db for g, c in zeros.engine.gateway_clocks().items()} == learnt
