"""A small real-network harness for the engine tests: the project's simulator on a benchmark floor,
gateway batches delivered in ARRIVAL order (clock errors, late and duplicated batches as asked),
the engine flushed once a second on the wall clock, as the live pipeline does."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from benchmarks.layouts import build_plan
from locations.engine import EngineConfig, LocationEngine, Sighting
from locations.simulator import DeliveryModel, GatewayDelivery, MotionModel, RadioModel, Simulator

START = 1_800_000_000.0


@dataclass
class Outcome:
    engine: LocationEngine
    sim: Simulator
    shown: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    pings: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    truth: dict[str, list[tuple[float, int | None]]] = field(default_factory=lambda: defaultdict(list))
    delays: list[float] = field(default_factory=list)  # wall clock minus event time, per window decided live

    def settled_accuracy(self, after_s: float = 16.0) -> float:
        ok = n = 0
        for tag, pings in self.pings.items():
            changes = np.array([ts for ts, _ in self.truth[tag]])
            timeline = sorted(self.shown.get(tag, []))
            times = np.array([ts for ts, _ in timeline])
            for ts, room in pings:
                if ts - changes[np.searchsorted(changes, ts, side="right") - 1] <= after_s:
                    continue
                k = np.searchsorted(times, ts + 0.05, side="right") - 1
                n += 1
                ok += int(k >= 0 and timeline[k][1] == room)
        return ok / n

    def shown_changes_ratio(self) -> float:
        def count(timeline):
            rooms = [room for _, room in sorted(timeline)]
            return sum(1 for a, b in zip(rooms, rooms[1:], strict=False) if a != b)

        true = sum(count([(ts, r) for ts, r in t if r is not None]) for t in self.truth.values())
        shown = sum(count(t) for t in self.shown.values())
        return shown / max(true, 1)


def run_network(
    *,
    receivers: str = "every",
    tags: int = 10,
    seconds: int = 300,
    seed: int = 1,
    radio: dict | None = None,
    motion: dict | None = None,
    delivery: dict | None = None,
    config: EngineConfig | None = None,
    drop=None,
    specs=None,
    setup=None,
    learnt: dict | None = None,
    first: list | None = None,
) -> Outcome:
    """drop(sighting) -> True removes a sighting before delivery (a receiver that is dark); learnt: what the
    engine resumes (LocationEngine.resume_learnt's keywords, as after a restart); first: sightings delivered
    with the first batch."""
    plan = build_plan("double_loaded", receivers=receivers, seed=seed)
    motion_model = MotionModel(**{"rest_median_s": 120.0, "rest_bounds_s": (40.0, 600.0), **(motion or {})})
    sim = Simulator(
        plan,
        specs or [f"c3{n:010x}" for n in range(tags)],
        start_ts=START,
        seed=seed,
        radio=RadioModel(**(radio or {})),
        motion=motion_model,
    )
    if setup is not None:
        setup(sim, plan)
    network = GatewayDelivery(DeliveryModel(**(delivery or {})), seed=seed + 100)
    engine = LocationEngine(plan, config)
    if learnt is not None:
        engine.resume_learnt(**learnt)
    out = Outcome(engine, sim)
    out.plan = plan
    out.delivered = []

    def feed(batches):
        items = [
            Sighting(b.gateway_id, tag, float(rssi), ts, battery)
            for b in batches
            for tag, rssi, ts, battery in b.sightings
        ]
        items = [s for s in items if drop is None or not drop(s)]
        out.delivered.append(items)
        engine.push(items)

    for _ in range(seconds):
        transmissions = sim.advance(1.0)
        for tx in transmissions:
            out.pings[tx.tag_id].append((tx.ts, tx.room_id))
        network.send(transmissions, now=sim.now)
        if first:
            engine.push(first)
            first = None
        feed(network.due(sim.now))
        for estimate in engine.flush(sim.now):
            out.shown[estimate.tag_id].append((estimate.ts, estimate.room_id))
            out.delays.append(sim.now - estimate.ts)
    feed(network.drain())
    for estimate in engine.flush(None):
        out.shown[estimate.tag_id].append((estimate.ts, estimate.room_id))
    for change in sim.drain_truth():
        out.truth[change.tag_id].append((change.ts, change.room_id))
    return out


def replay_of(live: Outcome) -> LocationEngine:
    """The sightings the live run was delivered, pushed into a new engine and flushed once at the end (other
    batches than the live run's one flush a second), with the live run's configuration; asserts that it
    shows what the live run showed."""
    replay = LocationEngine(live.plan, live.engine.config)
    for items in live.delivered:
        replay.push(items)
    estimates = replay.flush()
    shown = {(tag, ts, room) for tag, rows in live.shown.items() for ts, room in rows}
    assert {(e.tag_id, e.ts, e.room_id) for e in estimates} == shown
    return replay
