"""How long a window waits: for the receivers that could have heard its tag, as late as they habitually are."""

from locations.engine import LocationEngine, Sighting
from tests.locations.engine.conftest import T0, grid_plan

X = "c30000000aaa"


def _site(late: dict[int, float], seconds: int, extra: dict[int, list[Sighting]] | None = None):
    """A row of 12 rooms (5 m, a receiver in each); a beacon in every room pings each second, heard by its
    room's receiver. Receiver c's batch for second t is delivered late[c] seconds late (0: at once).
    Yields (t, engine, estimates of that flush) after each second's deliveries."""
    engine = LocationEngine(grid_plan(cols=12, rows=1))
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
