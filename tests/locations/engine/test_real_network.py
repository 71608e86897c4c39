"""The engine on a network as hospitals have them (issue 11): gateway clocks without NTP, batches
delivered late and out of order or twice, receivers going dark, a gateway stamping the future, quiet
sites, receivers off their datasheet. Sightings reach the engine in ARRIVAL order (tests/locations/engine/
realnet.py drives the project's simulator); each test fails on the engine before the time model."""

import signal

import numpy as np
import pytest

from benchmarks.layouts import build_plan
from locations.engine import EngineConfig, LocationEngine, Sighting
from locations.simulator import SimTag
from tests.locations.engine.conftest import T0, TAG, still_pings
from tests.locations.engine.realnet import START, run_network

STILL = {"rest_bounds_s": (1e5, 1e5), "rest_median_s": 1e5, "mobile_share": 0.0}


def true_clock_offsets(out) -> dict[str, float]:
    sim = out.sim
    offsets = {}
    for building in sim.buildings.values():
        for i, gateway_id in enumerate(building.rx_ids):
            offsets[gateway_id] = float(building.rx_skew[i]) + float(building.rx_drift[i]) * (sim.now - sim.start_ts)
    return offsets


def test_gateway_clocks_off_by_up_to_1_5_s_are_estimated_from_the_data_and_corrected():
    out = run_network(radio={"gateway_clock_offset_s": 1.5, "gateway_clock_drift_ppm": 20.0}, seed=2, tags=20)
    clocks = out.engine.gateway_clocks()
    truth = true_clock_offsets(out)
    estimated = [g for g, c in clocks.items() if c.estimated]
    assert len(estimated) >= 0.8 * len(clocks)
    # Relative to the consensus: the engine's offsets match the gateways' real ones to a few ms.
    error = np.array([clocks[g].offset_s - truth[g] for g in estimated])
    assert np.abs(error - np.median(error)).max() < 0.02
    assert max(abs(truth[g]) for g in estimated) > 1.0  # the test means something
    assert out.settled_accuracy() >= 0.97
    assert out.shown_changes_ratio() <= 1.5
    assert out.engine.stats.late <= 0.01 * out.engine.stats.accepted


def test_a_dense_site_tracks_its_gateway_clocks_from_a_rotating_subset_of_tags():
    """Tracking drift pairs every copy of a ping with every other (the work grows with the square of the
    receivers per ping): past clock_track_sightings an epoch uses a rotating subset of the tags, and the clocks
    are as right as from all of them."""
    radio = {"gateway_clock_offset_s": 2.0, "gateway_clock_drift_ppm": 20.0}
    subset = run_network(tags=60, seconds=300, seed=4, radio=radio, config=EngineConfig(clock_track_sightings=2000))
    every = run_network(tags=60, seconds=300, seed=4, radio=radio, config=EngineConfig(clock_track_sightings=0))
    # So few that an epoch's subset misses some gateways: those keep their offsets, and the ones it reaches
    # must not move as a whole against them (a second before the gauge kept the median change at 0).
    sliver = run_network(tags=60, seconds=600, seed=4, radio=radio, config=EngineConfig(clock_track_sightings=200))
    for out, within_s in ((subset, 0.005), (every, 0.005), (sliver, 0.02)):  # the sliver: 1.7 s before
        truth = true_clock_offsets(out)
        clocks = out.engine.gateway_clocks()
        estimated = [g for g, c in clocks.items() if c.estimated]
        assert len(estimated) >= 0.9 * len(clocks)
        error = np.array([clocks[g].offset_s - truth[g] for g in estimated])
        assert np.abs(error - np.median(error)).max() < within_s
    pairs = lambda out: np.median([c.pairs for c in out.engine.gateway_clocks().values()])  # noqa: E731
    assert pairs(subset) < 0.5 * pairs(every)  # it did use fewer (the test means something)
    assert subset.settled_accuracy() == every.settled_accuracy()


def test_batches_up_to_8_s_late_and_out_of_order_are_still_placed():
    out = run_network(delivery={"late_share": 0.5, "late_s": (1.0, 8.0)}, seed=3)
    stats = out.engine.stats
    assert stats.late <= 0.01 * stats.accepted
    assert out.settled_accuracy() >= 0.97
    assert out.shown_changes_ratio() <= 1.5


def test_a_batch_delivered_twice_changes_nothing():
    once = run_network(seed=4, seconds=120)
    twice = run_network(seed=4, seconds=120, delivery={"duplicate_share": 0.3})
    assert twice.engine.stats.duplicates > 100
    assert twice.engine.stats.late == 0
    assert dict(twice.shown) == dict(once.shown)


def test_a_receiver_dark_for_minutes_does_not_push_a_still_tag_out_of_its_room():
    plan = build_plan("double_loaded", receivers="every", seed=1)
    room = next(r for r in plan.rooms if r.code == "DL-S05")
    specs = [SimTag("c30000000001", start_room_id=room.room_id, mobile=False)] + [f"c3{n:010x}" for n in range(2, 10)]
    # Its own room's receiver goes dark for 200 s (power cut); the others keep reporting.
    out = run_network(
        specs=specs,
        motion=STILL,
        seconds=300,
        drop=lambda s: s.gateway_id == "gw-dl-s05" and START + 60 <= s.ts < START + 260,
    )
    during = [r for ts, r in out.shown["c30000000001"] if START + 90 <= ts < START + 260]
    assert len(during) > 50
    assert np.mean([r == room.room_id for r in during]) >= 0.95
    assert out.engine.gateway_clocks()["gw-dl-s05"].dark is False  # back by the end


def test_replaying_the_sightings_in_arrival_order_reproduces_the_live_run_clock_estimates_included():
    out = run_network(radio={"gateway_clock_offset_s": 1.5}, seed=5, seconds=200)
    replay = LocationEngine(out.plan)
    estimates = []
    for items in out.delivered:  # one push per second of arrivals, flushed only at the end
        replay.push(items)
    estimates = replay.flush()
    live = {(tag, ts, room) for tag, shown in out.shown.items() for ts, room in shown}
    assert {(e.tag_id, e.ts, e.room_id) for e in estimates} == live
    assert {g: c.offset_s for g, c in replay.gateway_clocks().items()} == {
        g: c.offset_s for g, c in out.engine.gateway_clocks().items()
    }


def test_whether_a_receiver_was_dark_does_not_depend_on_when_the_windows_were_closed():
    """Receivers going dark for a minute or two, 20 times an hour each, on gateways whose clocks are off by up
    to 1.5 s and drift: a replay flushed every 5 batches, every 1,000 (past a receiver's earlier outage), or
    once at the end, decides every window as the live run flushed each second. Until 2026-12-07 darkness was
    judged at the frontier when a window closed (0.4-1.2 % of the windows differed at 5 batches); then, for a
    day, a clock update moved the recorded silences and an outage 600 s back was forgotten."""
    radio = {
        "outages_per_hour": 20.0,
        "outage_s": (40.0, 120.0),
        "shadowing_sigma_db": 5.0,
        "gateway_clock_offset_s": 1.5,
        "gateway_clock_drift_ppm": 20.0,
    }
    live = run_network(receivers="every_other", tags=10, seconds=1500, seed=3, radio=radio)
    shown = {(tag, ts, room) for tag, rows in live.shown.items() for ts, room in rows}
    assert len(shown) > 7000
    for every in (5, 1000, None):
        replay = LocationEngine(live.plan)
        estimates = []
        for n, items in enumerate(live.delivered, start=1):
            replay.push(items)
            if every and n % every == 0 and items:
                estimates += replay.flush(max(s.ts for s in items))
        estimates += replay.flush()
        assert {(e.tag_id, e.ts, e.room_id) for e in estimates} == shown, every


def test_a_sighting_stamped_in_the_future_does_not_black_out_other_tags(grid, quiet_radio):
    """Regression (security review): one sighting 50 s ahead made every other tag's sightings late."""
    radio = quiet_radio(grid)
    engine = LocationEngine(grid)
    shown = {TAG: [], "c3000000010b": []}
    for i in range(30):
        ping = radio.ping(TAG, 1, 2.5, 2.5, T0 + 2 * i) + radio.ping("c3000000010b", 1, 12.5, 12.5, T0 + 2 * i + 0.5)
        if i == 10:  # one gateway (a wrong clock, or a hostile one) stamps a sighting 50 s ahead
            ping.append(Sighting("gw-011", "c3000000010c", -60.0, T0 + 2 * i + 50.0))
        engine.push(ping)
        for estimate in engine.flush(T0 + 2 * i + 1.0):
            shown.setdefault(estimate.tag_id, []).append(estimate)
    for estimate in engine.flush():
        shown.setdefault(estimate.tag_id, []).append(estimate)
    assert engine.stats.late == 0
    assert engine.stats.future == 1
    assert len(shown[TAG]) == 30 and len(shown["c3000000010b"]) == 30
    assert {e.room_id for e in shown[TAG]} == {100} and {e.room_id for e in shown["c3000000010b"]} == {108}
    assert engine.frontier < T0 + 60  # the frontier never followed the future stamp


@pytest.mark.parametrize("clocks_known", [True, False])
def test_a_quiet_site_has_its_last_windows_committed_within_seconds_of_the_wall_clock(grid, quiet_radio, clocks_known):
    """clocks_known: the gateways' clocks resumed (a restart) or not held for; otherwise a fresh engine holds its
    windows until its first clock estimate, which a quiet site gets at once from what was heard."""
    engine = LocationEngine(grid, EngineConfig(clock_hold_first=not clocks_known))
    pings = still_pings(quiet_radio(grid), 1, 7.5, 7.5, 10)
    committed = []
    for i, ping in enumerate(pings):  # live: a batch a second, flushed on the wall clock
        engine.push(ping)
        committed += [(e.ts, T0 + 2 * i + 0.3) for e in engine.flush(T0 + 2 * i + 0.3)]
    last_ping = pings[-1][0].ts
    now = T0 + 2 * len(pings)
    while engine.pending and now < last_ping + 30:  # the site goes quiet: only the wall clock moves
        committed += [(e.ts, now) for e in engine.flush_idle(now)]
        now += 1.0
    assert engine.pending == 0
    assert len(committed) == len(pings)
    if clocks_known:
        assert max(at - ts for ts, at in committed) <= 6.0
    else:
        assert max(at for _, at in committed) <= last_ping + 6.0


def test_a_receiver_hotter_than_its_datasheet_is_learnt():
    hot = "gw-dl-n05"

    def setup(sim, plan):
        for building in sim.buildings.values():
            i = building.rx_ids.index(hot)
            building.rx_p1m[i] += 8.0  # it hears everything 8 dB louder than its rssi_at_1m says

    out = run_network(setup=setup, seconds=400, tags=12, seed=6, config=EngineConfig(calibration=True))
    clocks = out.engine.gateway_clocks()
    # Part of it is explained by the tags' gains and positions; the receiver stands out all the same.
    assert 2.5 <= clocks[hot].calibration_db <= 11.0
    others = [abs(c.calibration_db) for g, c in clocks.items() if g != hot]
    assert max(others) < clocks[hot].calibration_db and np.median(others) < 1.0
    assert out.engine.stats.calibration_updates >= 1


def test_one_receiver_per_three_rooms_with_slow_pings_and_receivers_off_their_datasheet():
    """Issue 11, "sparse": one receiver per three rooms, 25 % loss, receivers off their rssi_at_1m by
    N(0, 3 dB), pings every 5-10 s. The receivers' calibration learnt online and each slow ping weighing
    more than a fast one (its shadowing has changed since the last) keep the tags in their rooms; the
    engine before scored 82.5 % and 80.2 % on these two runs."""
    settled, ratios = [], []
    for seed in (1, 2):
        out = run_network(
            receivers="every_third",
            tags=15,
            seconds=900,
            seed=seed,
            radio={"shadowing_sigma_db": 5.0, "packet_loss": 0.25, "receiver_offset_sigma_db": 3.0},
            motion={"ping_interval_range_s": (5.0, 10.0)},
        )
        settled.append(out.settled_accuracy())
        ratios.append(out.shown_changes_ratio())
    assert np.mean(settled) >= 0.85 and min(settled) >= 0.84
    assert max(ratios) <= 1.2


def test_a_sighting_from_a_clock_reset_to_2000_among_the_first_does_not_stall_the_engine():
    """The front refuses stamps in the future and before 2000 (epoch seconds for ms), not the years between (old
    recordings replay). A gateway whose clock reset to 2000-01-01, stamping that in the very first batch, used to
    make the clock estimator step through every minute since."""

    def stalled(signum, frame):
        raise TimeoutError("the engine stalled on a sighting stamped in 2000")

    previous = signal.signal(signal.SIGALRM, stalled)
    signal.alarm(60)
    try:
        lost = Sighting("gw-dl-n02", "c3000000ffff", -70.0, 946_684_800.0 + 3_600.0)
        out = run_network(tags=20, seconds=150, seed=2, radio={"gateway_clock_offset_s": 1.5}, first=[lost])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert out.engine.stats.clock_updates >= 1
    assert sum(c.estimated for c in out.engine.gateway_clocks().values()) >= 0.8 * len(out.engine.gateway_clocks())
    assert out.settled_accuracy() >= 0.97


def test_batches_that_keep_arriving_while_the_frontier_stalls_do_not_end_the_first_minutes_hold(grid):
    """The hold for the first clock estimate ends early only on a quiet site. A frontier that stalls while
    sightings keep arriving (late batches of the other gateways) is not one: ended there, the first estimate was
    made from the first seconds of traffic (lab combined, at 5 s: mostly zero offsets and one alias, applied for
    two minutes; docs/benchmarks.md, "The first minute held, measured again")."""
    engine = LocationEngine(grid, EngineConfig(clock_hold_first=True))
    engine.push([Sighting(gw, TAG, -60.0, T0) for gw in ("gw-000", "gw-001", "gw-002")])
    engine.flush(T0 + 0.3)
    for i in range(1, 10):  # gw-002 falls silent: the frontier (the third most advanced gateway) stalls at T0
        engine.push([Sighting(gw, TAG, -60.0, T0 + i) for gw in ("gw-000", "gw-001")])
        assert engine.flush(T0 + i + 0.3) == []
        assert engine.holding, f"released after {i} s of traffic"
    now = T0 + 10.3
    while engine.holding and now < T0 + 20:  # now nothing arrives: quiet, the estimate is made from what was heard
        engine.flush(now)
        now += 1.0
    assert not engine.holding and now <= T0 + 14.0
