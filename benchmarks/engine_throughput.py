"""End-to-end ingest throughput: gateway JSON -> parse -> engine -> PostgreSQL, in sightings per second.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/engine_throughput.py

The script creates a scratch database (``bench_throughput`` on the DATABASE_URL server; it refuses any
other name), migrates it, loads two stacked synthetic ward floors (92 rooms, a receiver in each) and
``--tags`` tagged assets, simulates ``--minutes`` of pings (every 2 s) into memory, then times
``replay_lines`` -- the code behind ``manage.py replay_sightings`` and every ingest front: json.loads,
parse_batch, tag lookup, engine push/flush, and one transaction per flush writing assets, room intervals,
tags and receivers, then the after-commit signals (the lifecycle app's room rules and alerts run there)
and the floor-map notifications. The scratch database is dropped at the end (``--keep`` keeps it).
``--profile`` prints the top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scratch_db import drop_database, recreate_database, scratch_url  # noqa: E402

SCRATCH_DB = "bench_throughput"
START = 1_800_000_000.0


def load_hospital(tags: int):
    """Two stacked ward floors from benchmarks/layouts.py and `tags` tagged assets."""
    from assets.models import Asset, AssetType, Tag
    from benchmarks.layouts import build_plan
    from locations.models import Building, Floor, Receiver, Room, Site

    plan = build_plan("racetrack2", receivers="every", seed=1)
    site = Site.objects.create(code="bench", name="Benchmark General")
    building = Building.objects.create(site=site, code="ward", name="Ward block")
    floors, rooms = {}, {}
    for f in plan.floors:
        floors[f.floor_id] = Floor.objects.create(building=building, code=str(f.level + 1), level=f.level, name="Ward")
    for r in plan.rooms:
        polygon = {"type": "Polygon", "coordinates": [[list(p) for p in r.exterior]]}
        rooms[r.room_id] = Room.objects.create(
            floor=floors[r.floor_id], code=r.code, name=r.code, room_type=r.room_type, polygon=polygon
        )
    Receiver.objects.bulk_create(
        Receiver(
            gateway_id=rx.gateway_id,
            floor=floors[rx.floor_id],
            x=rx.x,
            y=rx.y,
            rssi_at_1m=rx.rssi_at_1m,
            height_m=rx.height_m,
        )
        for rx in plan.receivers
    )
    kind = AssetType.objects.create(name="Infusion pump", slug="infusion-pump")
    assets = Asset.objects.bulk_create(
        Asset(asset_tag=f"BENCH-{n:05d}", asset_type=kind, manufacturer="BD", model="Alaris") for n in range(tags)
    )
    Tag.objects.bulk_create(Tag(tag_id=f"c3{n:010x}", asset=asset) for n, asset in enumerate(assets))


def simulate(seconds: int, seed: int) -> list[str]:
    from assets.models import Tag
    from declarations.tag_ids import format_tag_id
    from locations.pipeline import site_plan_from_db
    from locations.simulator import Simulator, gateway_bodies

    tag_ids = list(Tag.objects.order_by("tag_id").values_list("tag_id", flat=True))
    sim = Simulator(site_plan_from_db(), tag_ids, start_ts=START, seed=seed)
    lines = []
    for _ in range(seconds):
        transmissions = sim.advance(1.0)
        for body in gateway_bodies(transmissions, sent_at=sim.now + 0.2, tag_format=format_tag_id):
            lines.append(json.dumps(body, separators=(",", ":")))
    return lines


def breakdown(lines: list[str], flush_every: float) -> None:
    """Where the time goes: the same lines through json + parse_batch alone, then the engine alone."""
    from locations.engine import LocationEngine, parse_batch
    from locations.pipeline import _body_time, site_plan_from_db

    plan = site_plan_from_db()
    known = {rx.gateway_id for rx in plan.receivers}
    started = time.perf_counter()
    parsed = []
    for line in lines:
        body = json.loads(line)
        now = _body_time(body)
        parsed.append((now, parse_batch(body, known_gateways=known, now=now).accepted))
    parse_s = time.perf_counter() - started
    count = sum(len(batch) for _, batch in parsed)
    engine = LocationEngine(plan)
    started = time.perf_counter()
    last = -1e18
    for now, batch in parsed:
        engine.push(batch)
        if now - last >= flush_every:
            engine.flush(now)
            last = now
    engine.flush(None)
    engine_s = time.perf_counter() - started
    print(
        f"\nbreakdown, same lines: json.loads + parse_batch alone {count / parse_s:,.0f} sightings/s "
        f"({parse_s:.2f} s); engine push + flush alone {count / engine_s:,.0f} sightings/s ({engine_s:.2f} s); "
        f"both together, nothing persisted: {count / (parse_s + engine_s):,.0f} sightings/s"
    )


class detached_listeners:
    """Run without the after-commit listeners (the lifecycle app's room rules and alerts)."""

    def __init__(self, *signals):
        self.signals = signals

    def __enter__(self):
        self.saved = [(signal, signal.receivers) for signal in self.signals]
        for signal in self.signals:
            signal.receivers = []
            signal.sender_receivers_cache.clear()

    def __exit__(self, *exc):
        for signal, receivers in self.saved:
            signal.receivers = receivers
            signal.sender_receivers_cache.clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=5.0, help="simulated time")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flush-every", type=float, default=5.0, help="event-time seconds between flushes")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--only", choices=["pipeline", "with-listeners"], help="run one of the two measurements (default: both)"
    )
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    url = scratch_url(base, SCRATCH_DB)
    recreate_database(url, SCRATCH_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from locations.models import RoomInterval
    from locations.pipeline import LocationPipeline, replay_lines
    from locations.signals import room_changes_committed, tags_reported

    modes = [args.only] if args.only else ["pipeline", "with-listeners"]
    lines: list[str] = []
    figures = {}
    try:
        for n, mode in enumerate(modes):
            if n:
                connection.close()
                recreate_database(url, SCRATCH_DB)
            call_command("migrate", verbosity=0)
            load_hospital(args.tags)
            if not lines:
                started = time.perf_counter()
                lines = simulate(int(args.minutes * 60), args.seed)
                simulated = time.perf_counter() - started
                sightings = sum(line.count('"tag"') for line in lines)
                print(
                    f"engine_throughput on PostgreSQL {connection.pg_version // 10000} (database {SCRATCH_DB}): "
                    f"{args.tags} tags x {args.minutes:g} min, 92 rooms / 92 receivers on 2 floors -> "
                    f"{len(lines):,} gateway batches, {sightings:,} sightings (simulated in {simulated:.0f} s, "
                    "not timed)"
                )
            pipeline = LocationPipeline()
            profiler = cProfile.Profile() if args.profile else None
            detach = mode == "pipeline"
            if detach:
                context = detached_listeners(room_changes_committed, tags_reported)
                context.__enter__()
            try:
                if profiler:
                    profiler.enable()
                result = replay_lines(lines, pipeline=pipeline, flush_every_s=args.flush_every, drain_outbox=not detach)
                if profiler:
                    profiler.disable()
            finally:
                if detach:
                    context.__exit__(None, None, None)
            stats = pipeline.engine.stats
            label = (
                "parse -> engine -> persist (after-commit listeners detached)"
                if detach
                else "the same, with the lifecycle app's after-commit listeners (room rules, alerts)"
            )
            print(f"\n{label}:")
            print(
                f"  {result.sightings:,} sightings in {result.seconds:.2f} s = "
                f"{result.sightings_per_second:,.0f} sightings/s "
                f"(accepted {result.accepted:,}, rejected {result.rejected:,}, duplicates {result.duplicates:,}, "
                f"late {result.late:,}; engine windows {stats.windows:,}); room changes written "
                f"{result.room_changes:,}, intervals in the database {RoomInterval.objects.count():,}"
            )
            figures[mode] = result.sightings_per_second
            if profiler:
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        if lines:
            breakdown(lines, args.flush_every)
        target = 50_000
        if "pipeline" in figures:
            verdict = "met" if figures["pipeline"] >= target else "MISSED"
            print(f"\ntarget >= {target:,} sightings/s end to end (pipeline): {verdict}")
    finally:
        connection.close()
        if not args.keep:
            drop_database(url, SCRATCH_DB)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
