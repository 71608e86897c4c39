"""How long a window waits: for the receivers that could have heard its tag, as late as they habitually are."""

from locations.engine import LocationEngine, Sighting
from tests.locations.engine.conftest import T0, grid_plan

X = "c30000000aaa"


def _site(late: dict[int, float], seconds: int, extra: dict[int, list[Sighting]] | None = None, engine=None):
    """A row of 12 rooms (5 m, a receiver in each); a beacon in every room pings each second, heard by its
    room's receiver. Receiver c's batch for second t is delivered late[c] seconds late (0: at once).
    Yields (t, engine, estimates of that flush) after each second's deliveries."""
    engine = engine or LocationEngine(grid_plan(cols=12, rows=1))
    queue: dict[float, list[Sighting]] = {}
    for t in range(seconds):
        for c in range(12):
            batch = [Sighting(f"gw-00{c}", f"c30000000b{c:02x}", -60.0, T0 + t)]
            batch += [s for s in (extra or {}).get(t, []) if s.gateway_id == f"gw-00{c}"]
            queue.setdefault(t + late.get(c, 0.0), []).append(batch)
        for batch in queue.pop(t, []):
            engine.push(batch)
        yield t, engine, engine.flush(engine.watermark)


def test_a_late_gateway_far_from_a_tag_does_not_delay_its_decision():
    # gw-005, 25 m and five walls from room 000, delivers everything 8 s late.
    ping = 80
    x = {ping: [Sighting("gw-000", X, -58.0, T0 + ping + 0.2), Sighting("gw-001", X, -75.0, T0 + ping + 0.2)]}
    decided_at = None
    for t, engine, estimates in _site({5: 8.0}, 100, x):
        if t == ping + 1:
            assert engine.gateway_clocks()["gw-005"].lateness_s >= 6.5  # learnt: it is late
        if decided_at is None and any(e.tag_id == X for e in estimates):
            decided_at = engine.frontier - (T0 + ping)
    # prompt receivers: the window's end (+0.5 s) and min_lateness_s, within a second of flushes
    assert decided_at is not None and decided_at <= 3.0
    assert engine.stats.late == 0


def test_one_late_spike_is_not_waited_for_long_but_a_late_habit_is():
    # gw-000 delivers one batch 10 s late; gw-005 delivers every other batch 6 s late.
    spike = 80
    late_seen = []
    engine = LocationEngine(grid_plan(cols=12, rows=1))
    queue: dict[int, list[Sighting]] = {}
    for t in range(spike + 140):
        for c in range(12):
            delay = 10 if (c == 0 and t == spike) else 6 if (c == 5 and t % 2) else 0
            queue.setdefault(t + delay, []).append([Sighting(f"gw-00{c}", f"c30000000b{c:02x}", -60.0, T0 + t)])
        for batch in queue.pop(t, []):
            engine.push(batch)
        engine.flush(engine.watermark)
        if t == spike + 11:
            late_seen.append(engine.gateway_clocks()["gw-000"].lateness_s)
    clocks = engine.gateway_clocks()
    assert late_seen[0] >= 8.5  # the spike was learnt...
    assert clocks["gw-000"].lateness_s <= 1.0  # ...and two minutes of prompt batches later, it is prompt again
    assert clocks["gw-005"].lateness_s >= 4.5  # a habit is still waited for (behind the frontier: 5 s)
    assert engine.stats.late <= 2  # the spike itself, and the habit's first late batch, before they were learnt


def _batched_site(
    every: dict[int, int], seconds: int, x_pings: list[float], late: dict[int, float] | None = None, **cfg
):
    """The row of 12 rooms, a beacon in every room pinging each second; receiver c posts its batch every
    every[c] s (1 by default), `late` of them (batch start -> extra delay) later than that. Tag X pings at
    the given seconds in room 004, heard by gw-004 and gw-005. Flushed each 0.1 s at the time; returns the
    engine and how long after each of X's pings its estimate came."""
    from locations.engine import EngineConfig  # noqa: PLC0415

    engine = LocationEngine(grid_plan(cols=12, rows=1), EngineConfig(**{"close_on_progress": True, **cfg}))
    held: dict[int, list[Sighting]] = {}
    deliveries: dict[int, list[list[Sighting]]] = {}  # tenths of a second -> batches
    for t in range(seconds):
        for c in range(12):
            held.setdefault(c, []).append(Sighting(f"gw-00{c}", f"c30000000b{c:02x}", -60.0, T0 + t))
            if t in x_pings and c in (4, 5):
                held[c].append(Sighting(f"gw-00{c}", X, -58.0 if c == 4 else -72.0, T0 + t + 0.2))
            period = every.get(c, 1)
            if (t + 1) % period == 0:
                start = t + 1 - period
                at = t + 1 + (late or {}).get((c, start), 0.0)
                deliveries.setdefault(round(at * 10), []).append(held.pop(c))
    decided = {}
    for tenth in range(seconds * 10 + 100):
        for batch in deliveries.pop(tenth, []):
            engine.push(batch)
        for e in engine.flush(T0 + tenth / 10):
            if e.tag_id == X:
                decided[round(e.ts - T0 - 0.2)] = tenth / 10 - (e.ts - T0)
    return engine, decided


def test_a_window_closes_once_its_in_order_receivers_have_delivered_past_it_not_after_their_worst_lateness():
    # gw-005 posts every 3 s: its oldest sighting is ~3 s behind the site, so the time rule waits ~4 s for
    # every window it could hear. It delivers in order, so its batch holding later sightings is enough.
    pings = [60.0, 63.0, 66.0, 69.0]
    engine, decided = _batched_site({5: 3}, 80, pings)
    assert engine.gateway_clocks()["gw-005"].lateness_s >= 1.9  # its batch's oldest sighting, behind the site
    assert set(decided) == {60, 63, 66, 69}
    # each ping at t + 0.2 of gw-005's batch [t, t + 3): that batch, delivered at t + 3, holds later pings
    assert max(decided.values()) <= 3.0, decided
    _, waited = _batched_site({5: 3}, 80, pings, close_on_progress=False)
    assert min(waited.values()) >= 3.5, waited  # the time rule: end (+0.5 s) + learnt lateness + 0.25 s
    assert engine.stats.late == 0


def test_a_receiver_that_once_delivered_out_of_order_is_waited_for_by_the_time_rule_again():
    # gw-005 delivers promptly for a minute, then its batches of seconds 70 and 80 arrive 4 s late, after
    # the next ones. The first reordering costs what the time rule (which had learnt it prompt) loses too:
    # X's copy and its room beacon's (counted as late, never silently). Then it is no longer trusted to
    # deliver in order: X's window at 80 waits for it, and its second late batch costs nothing.
    late = {(5, 70): 4.0, (5, 80): 4.0}
    engine, decided = _batched_site({}, 100, [70.0, 80.0], late=late)
    assert set(decided) == {70, 80}
    assert decided[80] >= 4.0  # its late batch arrives 4 s after that second ends
    assert engine.stats.late == 2
    time_rule, _ = _batched_site({}, 100, [70.0, 80.0], late=late, close_on_progress=False)
    assert time_rule.stats.late == engine.stats.late


def _sharded_site(reader_lag_from: float | None, seconds: int = 120, **cfg):
    """The row of 12 rooms, a beacon in every room pinging each second (its tags in shard 1); tag X (shard 0)
    pings every 2 s in room 004, heard by gw-004 and gw-005. Each gateway posts every second, and its batch is
    split, as the ingest queue does, into one part per tag shard (2). A worker pushes each part at once,
    until ``reader_lag_from``: from then on gw-005's shard-0 parts are pushed 1.5 s later (a worker reading
    shard 0's stream behind shard 1's, as one that took the shards over may). Flushed each 0.1 s at the time.
    Returns the engine and X's estimates (ts, room, confidence)."""
    from declarations.tag_ids import shard_of  # noqa: PLC0415
    from locations.engine import EngineConfig  # noqa: PLC0415

    engine = LocationEngine(grid_plan(cols=12, rows=1), EngineConfig(close_on_progress=True, **cfg))
    ids = [f"c3000000{n:04x}" for n in range(64)]
    x = next(t for t in ids if shard_of(t, 2) == 0)
    beacons = [t for t in ids if shard_of(t, 2) == 1][:12]  # the room beacons: all of shard 1
    deliveries: dict[int, list[list[Sighting]]] = {}  # tenths of a second -> pushes
    for t in range(seconds):
        for c in range(12):
            batch = [Sighting(f"gw-00{c}", beacons[c], -60.0, T0 + t)]
            if t % 2 == 0 and c in (4, 5):
                batch.append(Sighting(f"gw-00{c}", x, -58.0 if c == 4 else -72.0, T0 + t + 0.2))
            for shard in (1, 0):
                part = [s for s in batch if shard_of(s.tag_id, 2) == shard]
                behind = shard == 0 and c == 5 and reader_lag_from is not None and t >= reader_lag_from
                if part:
                    deliveries.setdefault((t + 1) * 10 + 15 * behind, []).append(part)
    estimates = []
    for tenth in range(seconds * 10 + 100):
        for part in deliveries.pop(tenth, []):
            engine.push(part)
        estimates += [(e.ts, e.room_id, round(e.confidence, 9)) for e in engine.flush(T0 + tenth / 10) if e.tag_id == x]
    return engine, estimates


def test_a_worker_reading_one_shard_behind_another_loses_nothing_when_progress_is_followed_per_shard():
    # gw-005 delivers in order, but the queue splits its batches by tag shard, and from t = 60 s the worker
    # pushes its shard-0 parts 1.5 s behind its shard-1 parts. Per gateway, its progress (its beacon, shard 1)
    # is then ahead of what it has delivered for X (shard 0): X's windows close on gw-004's copy alone, and
    # gw-005's arrives late. Per (gateway, shard), each stream is in order whoever reads it: nothing is late,
    # and X is decided as in an uninterrupted run.
    _, in_order = _sharded_site(None, delivery_streams=2)
    engine, lagging = _sharded_site(60, delivery_streams=2)
    assert engine.stats.late == 0
    assert lagging == in_order and len(in_order) >= 55
    per_gateway, _ = _sharded_site(60, delivery_streams=1)
    assert per_gateway.stats.late > 0  # the design before: copies dropped as late after the change of reader


def test_a_learnt_radio_that_expects_a_far_receiver_quieter_than_it_is_still_waits_for_it():
    """The radio fit is a point on a ridge of models that explain the readings alike (a steeper fall-off against
    thinner walls) and may expect a far receiver well below what it hears. A worker restarted on a site that had
    learnt 12 dB walls and an exponent of 3.0 (resumed with its gateways' clocks and filters, so not held): a tag
    in room 000 is heard by gw-003, 15 m and three walls away, at -92 dBm, and gw-003 delivers 4 s late. The
    waits were judged on the learnt radio alone, which expects gw-003 below -120 dBm there: it was not waited for
    and each of its copies was too late to place. Judged on the configured radio as well, it is waited for."""
    engine = LocationEngine(grid_plan(cols=12, rows=1))
    engine.resume_learnt(
        radio_fit=(3.0, 12.0),
        floors_dbm={"gw-0011": -90.0},  # a filter on one gateway: the waits are judged again after the fit
        clock_offsets_s={f"gw-00{c}": 0.0 for c in range(12)},
        clock_since=T0,
    )
    assert engine.radio_fit == (3.0, 12.0) and not engine.holding
    pings = {
        t: [
            Sighting("gw-000", X, -62.0, T0 + t + 0.2),
            Sighting("gw-001", X, -83.0, T0 + t + 0.2),
            Sighting("gw-002", X, -88.0, T0 + t + 0.2),
            Sighting("gw-003", X, -92.0, T0 + t + 0.2),
        ]
        for t in range(10, 70, 2)
    }
    placed = []
    for _t, _engine, estimates in _site({3: 4.0}, 90, pings, engine=engine):
        placed += [e for e in estimates if e.tag_id == X]
    placed += [e for e in engine.flush() if e.tag_id == X]
    assert engine.stats.late == 0
    assert len(placed) == 30 and all(e.receivers_heard == 4 for e in placed)
