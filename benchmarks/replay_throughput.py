"""``manage.py replay_sightings`` end to end on PostgreSQL, startup included, small and large gateway batches.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/replay_throughput.py
    .venv/bin/python benchmarks/replay_throughput.py --sightings 200000          # a quick look
    .venv/bin/python benchmarks/replay_throughput.py --baseline OTHER_CHECKOUT   # and the same files there

What it does (issue 12, point 6):
1. creates a scratch database ``bench_replay`` on the DATABASE_URL server (dropped at the end; ``--keep``
   keeps it), migrates it, loads two stacked ward floors (92 rooms, a receiver in each) and ``--tags``
   tagged assets (benchmarks/engine_throughput.py's hospital);
2. simulates pings (every 2 s, ``locations.simulator``, each heard by ~17 receivers) until ``--sightings``
   sightings (default 1.6 M), twice (not timed): ``--small-tags`` tags (130: about 12 sightings per gateway
   batch, as real gateways flushing every second send) and ``--large-tags`` tags (1,300: about 120 per
   batch); one body per gateway per second in both;
3. for each file: a fresh copy of the database, then ``manage.py replay_sightings FILE`` in a new process,
   timed from the process start to its exit (Django start-up, the plan and tag cache, the engine, the
   writes, the outbox consumer's rules and alerts, all included), and prints the sightings per second;
4. with ``--baseline DIR``: the same files replayed by another checkout of the project (e.g. the main
   branch) on the same database, in the same session, so the comparison shares the machine's load.
The load average is printed with every figure, and with it the CPU seconds of the command (its reader
process included) and an md5 of the history the replay left (room intervals, assets' location columns, tags'
battery and last_seen, receivers' last_heard, clock offset and calibration): two checkouts that leave the
same md5 for a file wrote the same history. ``--repeat N`` interleaves this checkout and the baseline N
times; ``--reuse`` replays the files and template database of an earlier ``--keep`` run; ``--extra`` passes
arguments to this checkout's command (e.g. ``--reader inline``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scratch_db import drop_database, recreate_database, scratch_url  # noqa: E402

SCRATCH_DB = "bench_replay"
TEMPLATE_DB = "bench_replay_template"
START = 1_800_000_000.0


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def simulate(target: int, tags: int, seed: int, path: Path) -> tuple[int, int]:
    """Pings of the first ``tags`` tagged assets until ``target`` sightings: one body per gateway per second."""
    from assets.models import Tag
    from declarations.tag_ids import format_tag_id
    from locations.pipeline import site_plan_from_db
    from locations.simulator import Simulator, gateway_bodies

    tag_ids = list(Tag.objects.order_by("tag_id").values_list("tag_id", flat=True))[:tags]
    sim = Simulator(site_plan_from_db(), tag_ids, start_ts=START, seed=seed)
    sightings = bodies = 0
    with path.open("w") as out:
        while sightings < target:
            for body in gateway_bodies(sim.advance(1.0), sent_at=sim.now + 0.2, tag_format=format_tag_id):
                out.write(json.dumps(body, separators=(",", ":")) + "\n")
                bodies += 1
                sightings += len(body["sightings"])
    return sightings, bodies


def copy_database(url: str) -> None:
    """A fresh copy of the prepared database for each timed run (CREATE DATABASE ... TEMPLATE)."""
    from benchmarks.scratch_db import _run_on_server

    _run_on_server(url, f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)')
    _run_on_server(url, f'CREATE DATABASE "{SCRATCH_DB}" TEMPLATE "{TEMPLATE_DB}"')


HISTORY_QUERIES = (
    # What a replay leaves in the database, in a fixed order: every room interval, every asset's location
    # columns, every tag's battery, every receiver's learnt clock/calibration. Not a tag's last_seen nor a
    # receiver's last_heard: both are capped at the wall clock, and the files are stamped ahead of it (after the
    # tags' bindings, which the template makes "now": a sighting counts for the asset its tag was bound to then).
    "SELECT asset_id, room_id, entered_at, left_at FROM locations_roominterval ORDER BY asset_id, entered_at, room_id",
    "SELECT id, current_room_id, location_confidence, located_at, position_x, position_y, position_radius_m, "
    "last_seen FROM assets_asset ORDER BY id",
    "SELECT id, battery_percent FROM assets_tag ORDER BY id",
    "SELECT id, clock_offset_s, clock_pairs, calibration_db FROM locations_receiver ORDER BY id",
)


def history_digest(url: str) -> tuple[str, int, str]:
    """An md5 of the replayed history (HISTORY_QUERIES) and the number of room intervals: two replays of one
    file that leave the same digest left the same history. And an md5 of the outbox rows' room changes, row by
    row in id order (what the lifecycle consumer applied; the tag reports are left out: which flush writes a
    tag's report depends on a wall-clock sweep)."""
    import hashlib
    from urllib.parse import urlparse

    import psycopg

    parsed = urlparse(url)
    digest = hashlib.md5()  # noqa: S324 - a fingerprint, not security
    intervals = 0
    with psycopg.connect(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password or None,
        dbname=parsed.path.lstrip("/"),
    ) as conn:
        for i, query in enumerate(HISTORY_QUERIES):
            rows = conn.execute(query).fetchall()
            if i == 0:
                intervals = len(rows)
            for row in rows:
                digest.update(repr(row).encode())
            digest.update(b"--")
        outbox = hashlib.md5()  # noqa: S324
        rows = conn.execute("SELECT room_changes FROM locations_locationoutbox ORDER BY id").fetchall()
        for (changes,) in rows:
            if changes:
                outbox.update(repr(changes).encode())
    return digest.hexdigest(), intervals, outbox.hexdigest()


def replay(checkout: Path, path: Path, url: str, extra: list[str]) -> tuple[float, float, str]:
    env = dict(os.environ, DATABASE_URL=url, LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="config.settings")
    env.pop("REDIS_URL", None)  # the embedded default: replay needs no queue
    python = checkout / ".venv" / "bin" / "python"
    if not python.exists():
        python = Path(sys.executable)
    started = time.perf_counter()
    cpu_before = os.times()
    done = subprocess.run(
        [str(python), "manage.py", "replay_sightings", str(path), "--progress-every", "100000000", *extra],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    cpu_after = os.times()
    # CPU seconds of the command and its children (the reader process), user + system.
    cpu = (cpu_after.children_user - cpu_before.children_user) + (
        cpu_after.children_system - cpu_before.children_system
    )
    if done.returncode != 0:
        raise SystemExit(f"replay_sightings failed in {checkout}:\n{done.stderr[-3000:]}")
    return seconds, cpu, done.stdout.strip()


def main() -> int:
    global SCRATCH_DB, TEMPLATE_DB
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small-tags", type=int, default=130, help="tags of the small-batch file (~12 per batch)")
    parser.add_argument("--large-tags", type=int, default=1300, help="tags of the large-batch file (~120 per batch)")
    parser.add_argument("--sightings", type=int, default=1_600_000, help="simulate until this many sightings")
    parser.add_argument("--only", choices=["small", "large"], help="replay one of the two files")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", default="/tmp/replay_bench")
    parser.add_argument(
        "--db-name", default=SCRATCH_DB, help="scratch database name (its template: NAME_template); make it yours"
    )
    parser.add_argument("--baseline", metavar="DIR", help="another checkout to replay the same files with")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the files (and the kept template database) of an earlier --keep run"
    )
    parser.add_argument("--repeat", type=int, default=1, help="replay each file this many times per checkout")
    parser.add_argument(
        "--extra", default="", help="more arguments for this checkout's replay_sightings, e.g. '--reader inline'"
    )
    args = parser.parse_args()

    SCRATCH_DB, TEMPLATE_DB = args.db_name, f"{args.db_name}_template"
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    template_url = scratch_url(base, TEMPLATE_DB)
    url = scratch_url(base, SCRATCH_DB)
    if not args.reuse:
        recreate_database(template_url, TEMPLATE_DB)
    os.environ["DATABASE_URL"] = template_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from benchmarks.engine_throughput import load_hospital

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    small_path, large_path = work / "small.jsonl", work / "large.jsonl"
    try:
        if not args.reuse:
            call_command("migrate", verbosity=0)
            load_hospital(max(args.small_tags, args.large_tags))
        started = time.perf_counter()
        files = {}
        for kind, tags, path in (("small", args.small_tags, small_path), ("large", args.large_tags, large_path)):
            if args.only and kind != args.only:
                continue
            if args.reuse:
                bodies, sightings = 0, 0
                with path.open() as lines:
                    for line in lines:
                        bodies += 1
                        sightings += line.count('"tag"')
            else:
                sightings, bodies = simulate(args.sightings, tags, args.seed, path)
            files[kind] = (path, sightings)
            print(
                f"{kind} batches: {tags:,} tags -> {bodies:,} gateway bodies, {sightings:,} sightings, "
                f"{sightings / bodies:.1f} per batch ({path})",
                flush=True,
            )
        print(
            f"replay_throughput on PostgreSQL {connection.pg_version // 10000}, 92 rooms / 92 receivers; "
            f"simulated in {time.perf_counter() - started:.0f} s (not timed)",
            flush=True,
        )
        connection.close()
        checkouts = [("this checkout", ROOT, args.extra.split())]
        if args.baseline:
            checkouts.append((f"baseline {args.baseline}", Path(args.baseline).resolve(), []))
        figures: dict[tuple[str, str], list[float]] = {}
        digests: dict[str, set[str]] = {}
        # Interleaved (this, baseline, this, baseline, ...) so that both see the same load.
        for _ in range(args.repeat):
            for kind, (path, sightings) in files.items():
                for label, checkout, extra in checkouts:
                    copy_database(base)
                    seconds, cpu, output = replay(checkout, path, url, extra)
                    digest, intervals, outbox = history_digest(url)
                    digests.setdefault(kind, set()).add(digest)
                    digests.setdefault(f"{kind} (outbox)", set()).add(outbox)
                    figures.setdefault((label, kind), []).append(sightings / seconds)
                    print(
                        f"\n{label}, {kind} batches: {sightings:,} sightings in {seconds:.2f} s wall, start-up "
                        f"included = {sightings / seconds:,.0f} sightings/s; {cpu:.1f} CPU s = "
                        f"{sightings / cpu:,.0f} sightings per CPU-second (load average {load_average()}); "
                        f"history {digest} ({intervals:,} room intervals), outbox room changes {outbox}",
                        flush=True,
                    )
                    for line in output.splitlines():
                        print(f"    {line}")
        print("\nbest of each (sightings/s, start-up included):")
        for (label, kind), values in figures.items():
            print(f"  {label}, {kind}: {max(values):,.0f}  (all: {', '.join(f'{v:,.0f}' for v in values)})")
        if args.baseline:
            for kind in files:
                this = max(figures[("this checkout", kind)])
                other = max(figures[(f"baseline {args.baseline}", kind)])
                print(f"  ratio this / baseline, {kind} batches: {this / other:.2f}")
        for kind, seen in digests.items():
            same = "the same history in every run" if len(seen) == 1 else f"DIFFERENT histories: {sorted(seen)}"
            print(f"  {kind} batches: {same}")
        print("\ntarget >= 100,000 sightings/s end to end for the small batches, start-up included")
    finally:
        connection.close()
        if not args.keep:
            drop_database(base, SCRATCH_DB)
            drop_database(base, TEMPLATE_DB)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
