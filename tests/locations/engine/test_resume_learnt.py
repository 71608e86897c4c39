"""A restarted engine resumes what the one before it learnt about the receivers (LocationEngine.resume_learnt;
the pipeline reads it from the receiver rows): receivers several dB off their datasheet are not misjudged
for the minutes it would take to relearn their calibration. The detection floors: test_detection_floor.py."""

import numpy as np
import pytest

from locations.engine import EngineConfig, Sighting
from tests.locations.engine.realnet import START, run_network
from tests.locations.engine.test_real_network import true_clock_offsets

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


CLOCKS = {"gateway_clock_offset_s": 2.0, "gateway_clock_drift_ppm": 20.0}  # no NTP: clocks +-2 s, drifting


def consensus_offsets(out) -> dict[str, float]:
    """The simulator's true clock offsets against the median gateway: what an earlier engine had estimated
    (test_real_network.py: to a few ms) and the pipeline stored on the receiver rows."""
    truth = true_clock_offsets(out)
    middle = float(np.median(list(truth.values())))
    return {gateway: offset - middle for gateway, offset in truth.items()}


@pytest.mark.parametrize("seed", [1, 4])
def test_a_restarted_engine_corrects_the_gateway_clocks_from_its_first_sighting(seed):
    """Before its first estimate (a minute of traffic) an engine has no clocks: deciding on the timestamps as they
    are, copies of one ping from clocks 2 s apart fall into different windows and tags flicker between rooms, so a
    fresh engine holds its windows until that estimate (clock_hold_first) and decides the first minute late.
    Resumed, the clocks are corrected from the first sighting on and the rooms are decided at once."""
    unheld = run_network(tags=30, seconds=150, seed=seed, radio=CLOCKS, config=EngineConfig(clock_hold_first=False))
    fresh = run_network(tags=30, seconds=150, seed=seed, radio=CLOCKS)
    learnt = {"clock_offsets_s": consensus_offsets(fresh)}
    resumed = run_network(tags=30, seconds=150, seed=seed, radio=CLOCKS, learnt=learnt)
    assert unheld.shown_changes_ratio() >= 1.15  # the minute without clocks shows (the hold means something)
    assert fresh.shown_changes_ratio() <= 1.0 and resumed.shown_changes_ratio() <= 1.0
    assert min(fresh.settled_accuracy(), resumed.settled_accuracy()) >= max(unheld.settled_accuracy(), 0.99)
    assert max(fresh.delays) >= 50.0  # its first windows waited for the first estimate
    assert np.percentile(resumed.delays, 99) <= 6.0
    # A resumed clock is not an estimate of this engine: the receiver rows keep their own until it has one.
    at_start = run_network(tags=30, seconds=0, seed=seed, radio=CLOCKS, learnt=learnt).engine.gateway_clocks()
    assert not any(clock.estimated for clock in at_start.values())


def test_a_gateway_whose_clock_was_reset_while_the_engine_was_down_is_estimated_again():
    """Resumed offsets can be wrong: a gateway rebooted and took another clock. The first estimate searches
    wide and moves them; the tags that its wrongly corrected sightings misplaced in the first minute are not
    held there (a belief spread over rooms that every window contradicts lets the true room in)."""
    out = run_network(tags=30, seconds=300, seed=3, radio=CLOCKS)
    truth = consensus_offsets(out)
    wrong = dict(truth)
    reset = sorted(truth)[::7]
    for gateway in reset:
        wrong[gateway] = truth[gateway] + (1.7 if truth[gateway] < 0 else -1.7)
    resumed = run_network(tags=30, seconds=300, seed=3, radio=CLOCKS, learnt={"clock_offsets_s": wrong})
    clocks = resumed.engine.gateway_clocks()
    error = np.array([clocks[g].offset_s - truth[g] for g in truth])
    assert np.abs(error - np.median(error)).max() < 0.02
    assert resumed.settled_accuracy() >= 0.98
    assert resumed.shown_changes_ratio() <= 1.5


def test_resumed_clocks_correct_only_the_sightings_stamped_since_they_were_estimated():
    """A replay of older sightings (a file from last month) is not corrected with today's clocks: it is decided
    as by an engine that resumed nothing."""
    fresh = run_network(tags=10, seconds=90, seed=2, radio=CLOCKS)
    learnt = {"clock_offsets_s": consensus_offsets(fresh), "clock_since": START + 3600.0}
    later = run_network(tags=10, seconds=90, seed=2, radio=CLOCKS, learnt=learnt)
    assert sorted(later.shown.items()) == sorted(fresh.shown.items())
    short = run_network(tags=10, seconds=30, seed=2, radio=CLOCKS, learnt=learnt).engine.gateway_clocks()
    assert short == run_network(tags=10, seconds=30, seed=2, radio=CLOCKS).engine.gateway_clocks()
    # Stamped since: corrected from the first sighting.
    learnt["clock_since"] = START - 3600.0
    resumed = run_network(tags=10, seconds=30, seed=2, radio=CLOCKS, learnt=learnt).engine.gateway_clocks()
    assert max(abs(clock.offset_s) for clock in resumed.values()) > 1.0


def test_one_sighting_from_a_clock_reset_to_2000_does_not_undo_the_resume():
    out = run_network(tags=10, seconds=0, seed=2, radio=CLOCKS)
    offsets = consensus_offsets(out)
    engine = out.engine.__class__(out.plan, out.engine.config)
    engine.resume_learnt(clock_offsets_s=offsets, clock_since=START - 3600.0)
    gateways = sorted(offsets)
    engine.push(
        [Sighting(gateways[0], "c30000000001", -70.0, 946_684_800.0 + 3_600.0)]  # a gateway that lost its clock
        + [Sighting(g, "c30000000002", -70.0, START + 1.0) for g in gateways[1:]]
    )
    assert engine.gateway_clocks()[gateways[1]].offset_s == round(offsets[gateways[1]], 4)
