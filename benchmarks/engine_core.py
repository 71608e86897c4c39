"""Engine-only throughput on a synthetic hospital: prints sightings/s. Not a test.

    .venv/bin/python benchmarks/engine_core.py [--floors 4] [--rooms-per-side 20] [--tags 3000] [--minutes 3]

Sightings are generated up front (the plan's own signal model plus noise, fades and packet loss)
and replayed as gateway batches (one per gateway per second, like real gateways); only
LocationEngine.push() + flush() is timed. Three ways of driving it are measured:
- per batch: flush at the watermark after every gateway batch (what a live pipeline does);
- grouped: one push + flush per 1,000-ish sightings (a pipeline draining a queue);
- bulk: one push of everything and one flush (a replay).
It prints wall-clock and per-CPU-second rates (the engine is single-threaded; on a shared
machine the CPU figure is the steadier one).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from locations.engine import EngineConfig, LocationEngine, Sighting  # noqa: E402
from locations.engine.plan import compile_plan  # noqa: E402
from locations.engine.synthetic import ward_plan  # noqa: E402


def generate(plan, *, tags: int, minutes: float, seed: int) -> list[tuple[str, int, list[Sighting]]]:
    """Gateway batches (gateway, second, sightings) in arrival order, tags pinging every ~2 s."""
    compiled = compile_plan(plan, EngineConfig())
    rng = np.random.default_rng(seed)
    n_rx = len(compiled.gateway_ids)
    positions = rng.integers(0, len(compiled.sample_xy), tags)
    # Expected rssi of every receiver for every tag position.
    table = compiled.table_index(positions[:, None], np.arange(n_rx)[None, :])
    mean = compiled.expected_rssi[table].astype(np.float64)
    period = rng.uniform(1.6, 2.4, tags)
    phase = rng.uniform(0, 2, tags)
    t0 = 1.8e9
    batches: dict[tuple[int, int], list[Sighting]] = defaultdict(list)
    tag_ids = [f"{0xC30000000000 + i:012x}" for i in range(tags)]
    for tag in range(tags):
        times = t0 + phase[tag] + np.arange(0, minutes * 60 / period[tag]) * period[tag]
        rssi = mean[tag][None, :] + rng.normal(0, 5, (len(times), n_rx))
        rssi -= (rng.random(rssi.shape) < 0.1) * rng.uniform(5, 20, rssi.shape)
        heard = (rssi >= -95) & (rng.random(rssi.shape) > 0.1)
        for i, r in zip(*np.nonzero(heard), strict=True):
            ts = round(float(times[i]) + float(rng.uniform(-0.02, 0.02)), 3)
            batches[(int(r), math.floor(ts))].append(
                Sighting(compiled.gateway_ids[r], tag_ids[tag], float(round(rssi[i, r])), ts)
            )
    arrival = sorted(batches, key=lambda k: (k[1], k[0]))
    return [(compiled.gateway_ids[g], s, batches[(g, s)]) for g, s in arrival]


def run(plan, batches, mode: str) -> tuple[float, int, int]:
    engine = LocationEngine(plan)
    total = sum(len(b) for _, _, b in batches)
    estimates = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    if mode == "per batch":
        for _, _, sightings in batches:
            engine.push(sightings)
            estimates += len(engine.flush(engine.watermark))
    elif mode == "grouped":
        group: list[Sighting] = []
        for _, _, sightings in batches:
            group.extend(sightings)
            if len(group) >= 1000:
                engine.push(group)
                estimates += len(engine.flush(engine.watermark))
                group = []
        engine.push(group)
    else:
        engine.push([s for _, _, b in batches for s in b])
    estimates += len(engine.flush())
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return total / elapsed, total / cpu, estimates, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--floors", type=int, default=4)
    parser.add_argument("--rooms-per-side", type=int, default=20)
    parser.add_argument("--tags", type=int, default=3000)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    plan = ward_plan(floors=args.floors, layout="racetrack", rooms_per_side=args.rooms_per_side, seed=args.seed)
    start = time.perf_counter()
    LocationEngine(plan)
    build = time.perf_counter() - start
    print(
        f"plan: {len(plan.floors)} floors, {len(plan.rooms)} rooms, {len(plan.receivers)} receivers; "
        f"engine build {build:.2f} s"
    )
    batches = generate(plan, tags=args.tags, minutes=args.minutes, seed=args.seed)
    n = sum(len(b) for _, _, b in batches)
    print(f"workload: {args.tags} tags, {args.minutes:g} min, {n} sightings in {len(batches)} gateway batches")
    for mode in ("per batch", "grouped", "bulk"):
        rate, cpu_rate, estimates, total = run(plan, batches, mode)
        print(
            f"{mode:>10}: {rate:>9,.0f} sightings/s wall, {cpu_rate:>9,.0f} per CPU-second "
            f"({estimates} estimates, {total / estimates:.1f} sightings each)"
        )


if __name__ == "__main__":
    main()
