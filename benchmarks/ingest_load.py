"""Load benchmark of the live pipeline at hospital scale, measured like a user (issue 12; docs/benchmarks.md).

    .venv/bin/python benchmarks/ingest_load.py                       # 12,000 tags, 240 s, 2 servers, 2 workers
    .venv/bin/python benchmarks/ingest_load.py --seconds 60 --tags 3000   # a quick look
    .venv/bin/python benchmarks/ingest_load.py --workers 1 2 --profile    # compare, cProfile worker 0

What it runs, all on this machine, loopback only, bounded in time (``--seconds``) and requests
(``--max-requests``):

- the demo hospital's floor plans (6 floors, 184 rooms, 178 receivers) in a PostgreSQL database of its own
  (``--database``, dropped and recreated), ``--tags`` tags bound to assets (default 12,000: a 1,000-bed
  hospital), each already located in its home room (a running hospital, not a cold start);
- ``--servers`` daphne servers serving ``POST /api/v1/rtls/sightings``, ``--workers`` ``run_engine``
  workers on Redis Streams (``--redis``, keys under ``--prefix`` deleted), and one
  ``consume_location_outbox`` (rules, alerts, webhooks);
- a load generator in a second process: every tag pings every ``--ping-s`` (5) seconds and is heard by its
  ``--heard-by`` (7) nearest receivers with 10 % loss (about 15,000 sightings/s for 12,000 tags); each
  gateway posts one batch a second (a fifth every 2 s) with its own token, half ISO 8601, half epoch ms;
  ``--mobile-share`` (5 %) of the tags are wheeled between their home room and another room every
  ``--move-every`` (90) seconds: the truth, known to the benchmark, never to the system;
- a probe in this process reading, every ``--probe-every`` (1) second, the committed current room of every
  mobile asset straight from PostgreSQL.

It prints per round: offered / accepted sightings per second and HTTP errors and latency; the visible
latency (true room change -> the probe reads the new room) p50/p95/p99 over the stays of ``--min-stay``
(60) s or more, the stays never shown, the share of rooms right 30 s into a stay; ts -> commit and
receipt -> commit (measured by the workers); the accounting (accepted by HTTP = taken by the workers =
placed + dropped by reason); how long after the last post the queue was empty; CPU cores per process
(servers, workers, consumer, PostgreSQL, Redis, generator, everything else) and the load average.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import queue as queue_module
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


# --------------------------------------------------------------------------- the load generator (2nd process)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_elsewhere(t: float, phase: float, move_every: float) -> bool:
    """Where a mobile tag truly is at time t: its second room during odd periods (the truth)."""
    return int((t + phase * 7) // move_every) % 2 == 1


def generate(plan_path: str, result_path: str) -> None:
    """Run the gateways: POST their batches for plan["seconds"], then write what happened."""
    plan = json.loads(Path(plan_path).read_text())
    rng = random.Random(4)
    ports = plan["ports"]
    seconds, ping_s, max_requests = plan["seconds"], plan["ping_s"], plan["max_requests"]
    gateways = plan["gateways"]  # id -> {"token", "every"}
    # [[tag_id, heard at home [[gateway, rssi], ...], heard elsewhere or None, home room, elsewhere room,
    #   phase], ...]: a mobile tag is elsewhere while int((t + 7 * phase) // move_every) is odd.
    tags = plan["tags"]
    move_every = plan["move_every_s"]
    phase = {tag[0]: tag[5] for tag in tags}
    epoch_ms = {gw: i % 2 == 0 for i, gw in enumerate(sorted(gateways))}

    outbox: queue_module.Queue = queue_module.Queue(maxsize=2000)
    lock = threading.Lock()
    results = {"requests": 0, "sightings": 0, "accepted": 0, "errors": {}, "latencies": []}
    stop = threading.Event()

    def sender(port: int):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            item = outbox.get()
            if item is None:
                return
            gateway, payload, count = item
            started = time.perf_counter()
            try:
                connection.request(
                    "POST",
                    "/api/v1/rtls/sightings",
                    body=payload,
                    headers={
                        "Content-Type": "application/json",
                        "Authorization": f"Bearer {gateways[gateway]['token']}",
                    },
                )
                response = connection.getresponse()
                body = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                status, body = type(exc).__name__, b""
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            elapsed = time.perf_counter() - started
            with lock:
                results["requests"] += 1
                results["sightings"] += count
                results["latencies"].append(elapsed)
                if status == 202:
                    results["accepted"] += json.loads(body)["accepted"]
                else:
                    results["errors"][str(status)] = results["errors"].get(str(status), 0) + 1

    threads = [
        threading.Thread(target=sender, args=(ports[i % len(ports)],), daemon=True) for i in range(plan["connections"])
    ]
    for thread in threads:
        thread.start()

    pending: dict[str, list] = {gw: [] for gw in gateways}
    next_flush = {gw: time.time() + rng.uniform(0, gateways[gw]["every"]) for gw in gateways}
    start = time.time()
    last_tick = start
    sent_requests = 0
    behind = 0.0
    while not stop.is_set():
        now = time.time()
        if now - start >= seconds or sent_requests >= max_requests:
            break
        # Pings due since the last tick: each tag every ping_s, at its own phase.
        for tag, heard, elsewhere, *_ in tags:
            k = math.floor((now - phase[tag]) / ping_s)
            ts = phase[tag] + k * ping_s
            if last_tick < ts <= now:
                if elsewhere and is_elsewhere(ts, phase[tag], move_every):  # a mobile tag, wheeled away
                    heard = elsewhere
                for gateway, rssi in heard:
                    if rng.random() < 0.1:  # packet loss
                        continue
                    pending[gateway].append((tag, round(rssi + rng.gauss(0, 2.5)), ts))
        last_tick = now
        for gateway, due in next_flush.items():
            if due <= now:
                items = pending[gateway]
                pending[gateway] = []
                next_flush[gateway] = due + gateways[gateway]["every"]
                if not items:
                    continue
                if epoch_ms[gateway]:
                    sightings = [{"tag": t, "rssi": r, "ts": int(ts * 1000)} for t, r, ts in items]
                else:
                    sightings = [{"tag": t, "rssi": r, "ts": _iso(ts)} for t, r, ts in items]
                payload = json.dumps({"gateway": gateway, "sent_at": _iso(now), "sightings": sightings})
                try:
                    outbox.put((gateway, payload, len(items)), timeout=5)
                except queue_module.Full:
                    behind += 1
                sent_requests += 1
        time.sleep(max(0.0, 0.05 - (time.time() - now)))
    elapsed = time.time() - start
    for _ in threads:
        outbox.put(None)
    for thread in threads:
        thread.join(60)
    results["last_post_at"] = time.time()
    latencies = sorted(results.pop("latencies"))
    results.update(
        seconds=elapsed,
        cpu_seconds=time.process_time(),
        dropped_by_generator=behind,
        http_p50_s=latencies[len(latencies) // 2] if latencies else None,
        http_p99_s=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None,
    )
    Path(result_path).write_text(json.dumps(results))


# --------------------------------------------------------------------------- setup (Django, in this process)


def setup_django(args) -> None:
    os.environ.update(
        DATABASE_URL=args.database,
        REDIS_URL=args.redis,
        INGEST_STREAM_PREFIX=args.prefix,
        INGEST_SHARDS=str(args.shards),
        INGEST_THROTTLE_RATE="600/min",
        DJANGO_SETTINGS_MODULE="config.settings",
        LOG_LEVEL="WARNING",
    )
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()


def recreate_database(url: str) -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    admin = psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname="postgres", autocommit=True
    )
    admin.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{db["NAME"]}"')
    admin.close()


def build_site(args) -> dict:
    """Floor plans, tags on assets, a token per gateway; returns the generator's plan."""
    from django.core.management import call_command

    from assets.models import Asset, AssetType, Tag
    from locations.ingest.auth import gateway_token_issue
    from locations.models import Receiver, Room

    call_command("migrate", verbosity=0)
    call_command("import_floorplan", *sorted(str(p) for p in (BASE_DIR / "demo" / "floorplans").glob("*.geojson")))
    rng = random.Random(7)
    pump_type, _ = AssetType.objects.get_or_create(slug="infusion-pump", defaults={"name": "Infusion pump"})
    rooms = list(Room.objects.exclude(room_type="exit").values_list("pk", "floor_id", "centroid_x", "centroid_y"))
    receivers: dict[int, list] = {}
    for gateway_id, floor_id, x, y, rssi_1m in Receiver.objects.values_list(
        "gateway_id", "floor_id", "x", "y", "rssi_at_1m"
    ):
        receivers.setdefault(floor_id, []).append((gateway_id, x, y, rssi_1m))
    assets = Asset.objects.bulk_create(
        [
            Asset(
                asset_tag=f"BENCH-{n:05d}",
                asset_type=pump_type,
                manufacturer="BD",
                model="Alaris",
                serial_number=f"B{n}",
            )
            for n in range(args.tags)
        ],
        batch_size=2000,
    )
    Tag.objects.bulk_create([Tag(tag_id=f"b0{n:010x}", asset=asset) for n, asset in enumerate(assets)], batch_size=2000)

    def heard_at(room):
        _, floor_id, cx, cy = room
        x, y = cx + rng.uniform(-1.5, 1.5), cy + rng.uniform(-1.5, 1.5)
        near = sorted(receivers[floor_id], key=lambda r: math.hypot(r[1] - x, r[2] - y))[: args.heard_by]
        heard = []
        for gateway_id, rx, ry, rssi_1m in near:
            distance = max(1.0, math.hypot(rx - x, ry - y, 1.7))
            heard.append([gateway_id, rssi_1m - 22 * math.log10(distance) - 4 * min(3, int(distance / 5))])
        return heard

    tags, home, asset_of = [], {}, {}
    for n, asset in enumerate(assets):
        room = rng.choice(rooms)
        home[asset.pk] = room[0]
        mobile = rng.random() < args.mobile_share
        other = rng.choice([r for r in rooms if r[0] != room[0]]) if mobile else None
        tag_id = f"b0{n:010x}"
        asset_of[tag_id] = asset.pk
        tags.append(
            [
                tag_id,
                heard_at(room),
                heard_at(other) if mobile else None,
                room[0],
                other[0] if mobile else None,
                rng.uniform(0, args.ping_s),
            ]
        )
    gateways = {}
    for gateway_id in sorted(g for floor in receivers.values() for g, *_ in floor):
        gateways[gateway_id] = {
            "token": gateway_token_issue(gateway_id=gateway_id).raw,
            "every": 2 if rng.random() < 0.2 else 1,
        }
    return {"gateways": gateways, "tags": tags, "home": home, "asset_of": asset_of, "move_every_s": args.move_every}


def reset_round(args, plan: dict) -> None:
    """A running hospital: every asset located in its room a minute ago, with its open room interval."""
    from assets.models import Asset, Tag
    from locations.ingest.queue import build_queue
    from locations.models import Receiver, RoomInterval

    now = datetime.now(tz=UTC)
    RoomInterval.objects.all().delete()
    assets = list(Asset.objects.filter(asset_tag__startswith="BENCH-").only("pk"))
    for asset in assets:
        asset.current_room_id = plan["home"][asset.pk]
        asset.location_confidence = 0.9
        asset.located_at = asset.last_seen = now - timedelta(seconds=60)
    Asset.objects.bulk_update(assets, ["current_room_id", "location_confidence", "located_at", "last_seen"], 2000)
    RoomInterval.objects.bulk_create(
        [RoomInterval(asset_id=a.pk, room_id=a.current_room_id, entered_at=now - timedelta(hours=1)) for a in assets],
        batch_size=2000,
    )
    Tag.objects.update(last_seen=None, battery_percent=None)
    Receiver.objects.update(last_heard=None)
    build_queue(backend="redis").delete_all()


# --------------------------------------------------------------------------- one round


def wait_for_text(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.2)
    raise RuntimeError(
        f"{path.name}: no {text!r} within {timeout} s:\n{path.read_text()[-2000:] if path.exists() else ''}"
    )


def run_round(args, plan: dict, workers: int, work: Path) -> dict:
    from locations.ingest.queue import build_queue

    reset_round(args, plan)
    env = dict(os.environ, PYTHONUNBUFFERED="1", LOG_LEVEL="INFO")
    checkout = Path(args.checkout).resolve() if args.checkout else BASE_DIR
    processes = []
    try:
        ports = [args.port + i for i in range(args.servers)]
        for port in ports:
            log = work / f"server{workers}-{port}.log"
            processes.append(
                subprocess.Popen(
                    [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "-v", "0", "config.asgi:application"],
                    cwd=checkout,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log.open("w"),
                )
            )
        stats_files = []
        for i in range(workers):
            log, stats = work / f"worker{workers}-{i}.log", work / f"worker{workers}-{i}.json"
            stats_files.append(stats)
            command = [
                PYTHON,
                "manage.py",
                "run_engine",
                "--name",
                f"bench-{i}",
                "--record-latency",
                "--stats-json",
                str(stats),
            ]
            if args.profile and i == 0:
                command += ["--profile", str(work / f"worker{workers}-{i}.pstats")]
            processes.append(
                subprocess.Popen(command, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
            )
            wait_for_text(log, "ready", 180)
        consumer_log = work / f"outbox{workers}.log"
        has_outbox = (checkout / "lifecycle" / "management" / "commands" / "consume_location_outbox.py").exists()
        consumer = subprocess.Popen(
            [PYTHON, "manage.py", "consume_location_outbox"]
            if has_outbox
            else [PYTHON, "-c", "import time; time.sleep(1e6)"],
            cwd=checkout,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=consumer_log.open("w"),
        )
        processes.append(consumer)
        for port in ports:
            _wait_port(port)
        time.sleep(1.0 + build_queue(backend="redis").lock_ttl_ms / 1000 / 3)  # workers share the shards out

        plan_path, result_path = work / "plan.json", work / f"load{workers}.json"
        plan_path.write_text(
            json.dumps(
                dict(
                    plan,
                    ports=ports,
                    seconds=args.seconds,
                    ping_s=args.ping_s,
                    max_requests=args.max_requests,
                    connections=args.connections,
                )
            )
        )
        queue = build_queue(backend="redis")
        samples = []
        sampler_stop = threading.Event()

        def sample():
            while not sampler_stop.wait(1.0):
                try:
                    lag = queue.lag()
                    samples.append((time.time(), lag.entries, lag.oldest_age_s))
                except Exception:  # noqa: BLE001 - a missed sample is not a result
                    pass

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        probe = RoomProbe(args, plan)
        probe.start()
        servers, worker_processes = processes[: len(ports)], processes[len(ports) : len(ports) + workers]
        cpu_before = cpu_snapshot(servers, worker_processes, consumer)
        load_started = time.time()
        subprocess.run(
            [PYTHON, __file__, "--generate", str(plan_path), str(result_path)],
            cwd=BASE_DIR,
            check=True,
            timeout=args.seconds + 300,
        )
        load_ended = time.time()
        cpu_after = cpu_snapshot(servers, worker_processes, consumer)
        load_average_at_end = os.getloadavg()
        backlog_at_end = queue.lag()
        drain_deadline = time.monotonic() + args.drain_timeout
        while queue.lag().entries and time.monotonic() < drain_deadline:
            time.sleep(0.5)
        drained_at = time.time()
        left = queue.lag().entries
        time.sleep(3.0)  # the probe sees the last commits
        probe.stop()
        sampler_stop.set()
        for process in processes[len(ports) :]:
            process.send_signal(signal.SIGTERM)
        for process in processes[len(ports) :]:
            process.wait(120)
        load = json.loads(result_path.read_text())
        worker_stats = [json.loads(p.read_text()) for p in stats_files if p.exists()]
        summary = summarize(load, worker_stats, load_started, load_ended, drained_at, backlog_at_end, left, samples)
        summary.update(visible_latency(plan, probe.samples, load_started, load["last_post_at"], args))
        wall = load_ended - load_started
        cpu = {name: (cpu_after[name] - cpu_before[name]) / wall for name in cpu_after}
        cpu["load generator"] = load["cpu_seconds"] / wall
        ours = sum(value for name, value in cpu.items() if name != "whole machine" and not name.startswith(" "))
        cpu["everything else on the machine"] = max(0.0, cpu["whole machine"] - ours)
        summary["cpu_cores_used_during_load"] = {name: round(value, 2) for name, value in cpu.items()}
        summary["load_average_1_5_15m_at_end_of_load"] = [round(x, 2) for x in load_average_at_end]
        return summary
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_by_name(name: str) -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith(name):
                    total += _cpu_seconds(int(entry.name))
            except OSError:
                continue
    return total


def _machine_busy_seconds() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(servers, workers, consumer) -> dict:
    """CPU seconds used so far: where the time goes (the machine has 2 cores)."""
    out = {
        "whole machine": _machine_busy_seconds(),
        "asgi servers": sum(_cpu_seconds(p.pid) for p in servers),
        "engine workers": sum(_cpu_seconds(p.pid) for p in workers),
        "outbox consumer": _cpu_seconds(consumer.pid),
        "postgresql": _cpu_by_name("postgres"),
        "redis": _cpu_by_name("redis-server"),
    }
    for i, process in enumerate(servers):
        out[f"  asgi server {i}"] = _cpu_seconds(process.pid)
    for i, process in enumerate(workers):
        out[f"  engine worker {i}"] = _cpu_seconds(process.pid)
    return out


class RoomProbe:
    """A user's view: every --probe-every seconds, the committed current room of every mobile asset, read
    from PostgreSQL by a connection of its own (not the workers' counters)."""

    def __init__(self, args, plan):
        self.args = args
        self.asset_ids = [plan["asset_of"][tag[0]] for tag in plan["tags"] if tag[2] is not None]
        self.samples: list[tuple[float, dict[int, int | None]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(30)

    def _run(self):
        import psycopg

        parsed = urlparse(self.args.database)
        with psycopg.connect(
            host=parsed.hostname,
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            dbname=parsed.path.lstrip("/"),
            autocommit=True,
        ) as conn:
            while not self._stop.is_set():
                started = time.time()
                rows = conn.execute(
                    "SELECT id, current_room_id FROM assets_asset WHERE id = ANY(%s)", [self.asset_ids]
                ).fetchall()
                self.samples.append((time.time(), dict(rows)))
                self._stop.wait(max(0.0, self.args.probe_every - (time.time() - started)))


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1)


def visible_latency(plan, samples, load_started: float, last_post_at: float, args) -> dict:
    """True room change -> the probe first reads the new room, over the stays of --min-stay seconds or more
    that start and end while the gateways post; and whether the room is right 30 s into each stay."""
    move_every = plan["move_every_s"]
    times = [t for t, _ in samples]
    latencies, never, right, sampled = [], 0, 0, 0
    import bisect

    for tag_id, _, elsewhere, home_room, other_room, phase in plan["tags"]:
        if elsewhere is None:
            continue
        asset_id = plan["asset_of"][tag_id]
        k = math.ceil((load_started + 5 + phase * 7) / move_every)
        while True:
            change = k * move_every - phase * 7  # the tag truly enters its new room now
            end = min(change + move_every, last_post_at)
            if end - change < args.min_stay:
                break
            room = other_room if k % 2 else home_room
            i = bisect.bisect_left(times, change)
            shown = None
            while i < len(samples) and samples[i][0] < change + move_every:
                if samples[i][1].get(asset_id) == room:
                    shown = samples[i][0] - change
                    break
                i += 1
            if shown is None:
                never += 1
            else:
                latencies.append(shown)
            j = bisect.bisect_left(times, change + 30)
            if j < len(samples) and samples[j][0] < change + move_every:
                sampled += 1
                right += samples[j][1].get(asset_id) == room
            k += 1
    stays = len(latencies) + never
    return {
        "stays_measured": stays,
        "visible_p50_s": _percentile(latencies, 0.50),
        "visible_p95_s": _percentile(latencies, 0.95),
        "visible_p99_s": _percentile(latencies, 0.99),
        "stays_never_shown": f"{never} of {stays} ({100 * never / max(1, stays):.2f} %)",
        "right_30s_into_stay": f"{right} of {sampled} ({100 * right / max(1, sampled):.1f} %)",
    }


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server on port {port} did not start")


def summarize(load, workers, started, ended, drained_at, backlog, left, samples) -> dict:
    processed = sum(s["sightings"] for s in workers)
    p50 = [s.get("latency_p50_s") for s in workers if s.get("latency_p50_s") is not None]
    p99 = [s.get("latency_p99_s") for s in workers if s.get("latency_p99_s") is not None]
    return {
        "load_seconds": round(load["seconds"], 1),
        "offered_per_s": round(load["sightings"] / load["seconds"]),
        "accepted_per_s": round(load["accepted"] / load["seconds"]),
        "requests": load["requests"],
        "http_errors": load["errors"],
        "generator_dropped": load["dropped_by_generator"],
        "http_p50_ms": round(load["http_p50_s"] * 1000, 1) if load["http_p50_s"] else None,
        "http_p99_ms": round(load["http_p99_s"] * 1000, 1) if load["http_p99_s"] else None,
        "committed_per_s_during_load": round(processed / max(1e-9, drained_at - started)),
        "backlog_entries_at_end": backlog.entries,
        "backlog_age_at_end_s": round(backlog.oldest_age_s, 1),
        "drain_s": round(drained_at - ended, 1),
        "left_unprocessed_entries": left,
        "ts_to_commit_p50_s": max(p50) if p50 else None,  # the worse worker's
        "ts_to_commit_p99_s": max(p99) if p99 else None,
        "receipt_to_commit_p50_s": max((s.get("since_receipt_p50_s") or 0 for s in workers), default=None),
        "receipt_to_commit_p99_s": max((s.get("since_receipt_p99_s") or 0 for s in workers), default=None),
        "max_queue_age_s": round(max((a for _, _, a in samples), default=0.0), 1),
        "accepted_by_http": load["accepted"],
        "taken_by_workers": processed,
        "placed_by_engine": sum(s["accepted"] for s in workers),
        "dropped_by_reason": {
            reason: sum(s.get(key, 0) for s in workers)
            for reason, key in (
                ("too late to place", "late"),
                ("repeated", "duplicates"),
                ("tag not registered", "unknown_tags"),
                ("receiver no longer active", "rejected"),
            )
        },
        "caught_up_after_last_post_s": round(drained_at - load["last_post_at"], 1),
        "worker_idle_commits": sum(s.get("idle_commits", 0) for s in workers),
        "worker_db_errors": sum(s["db_errors"] for s in workers),
        "worker_rebuilds": sum(s["rebuilds"] for s in workers),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generate", nargs=2, metavar=("PLAN", "RESULT"), help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=240.0, help="load duration (bounded)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="stop after this many requests")
    parser.add_argument("--tags", type=int, default=12_000)
    parser.add_argument("--ping-s", type=float, default=5.0)
    parser.add_argument("--heard-by", type=int, default=7, help="receivers in reach of each ping (10 %% are lost)")
    parser.add_argument("--mobile-share", type=float, default=0.05, help="tags wheeled between two rooms")
    parser.add_argument("--move-every", type=float, default=90.0, help="seconds between moves of a mobile tag")
    parser.add_argument("--min-stay", type=float, default=60.0, help="stays measured for the visible latency")
    parser.add_argument("--probe-every", type=float, default=1.0, help="seconds between reads of the probe")
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--servers", type=int, default=2, help="ASGI server processes")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections of the generator")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--port", type=int, default=18731)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/ingest_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--prefix", default="bench")
    parser.add_argument("--profile", action="store_true", help="cProfile the first worker (pstats files)")
    parser.add_argument("--workdir", default="/tmp/ingest_load")
    parser.add_argument(
        "--checkout",
        metavar="DIR",
        help="run the servers and workers of another checkout (a baseline, e.g. the main branch) on this setup",
    )
    args = parser.parse_args(argv)
    if args.generate:
        generate(*args.generate)
        return
    for url in (args.database, args.redis):
        if urlparse(url).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"loopback only: {url}")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    setup_django(args)
    recreate_database(args.database)
    print(f"setting up: demo floor plans, {args.tags} tags...", flush=True)
    plan = build_site(args)
    print(
        f"{len(plan['gateways'])} gateways; {args.tags} tags pinging every {args.ping_s:g} s, heard by up to "
        f"{args.heard_by} receivers (10 % loss): "
        f"about {args.tags * args.heard_by * 0.9 / args.ping_s:,.0f} sightings/s",
        flush=True,
    )
    results = {}
    for workers in args.workers:
        print(f"\n== {workers} engine worker(s), {args.seconds:g} s of load", flush=True)
        results[workers] = run_round(args, plan, workers, work)
        for key, value in results[workers].items():
            print(f"  {key:32} {value}", flush=True)
    (work / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
