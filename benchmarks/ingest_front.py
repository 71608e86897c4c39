"""CPU per POST of the HTTP ingest front (``POST /api/v1/rtls/sightings``) under daphne.

Starts one daphne on this checkout, with its own scratch PostgreSQL database (``hx_front_bench`` by default,
on the DATABASE_URL server) holding the demo floor plans and one gateway token per receiver, and the Redis
of REDIS_URL with its own stream/cache prefix (deleted at the end). It then posts ``--posts`` realistic
batches (``--sightings`` per batch, half with ISO 8601 stamps, half with epoch ms; gateways in turn) over
``--connections`` keep-alive connections, each waiting for its answer before the next (closed loop), and
prints:

- CPU ms per POST of the daphne process (user + system, from /proc/<pid>/stat, over the timed posts only),
- POST/s, latency p50 / p99 (ms), and the load average before and after.

The throttle stays on as shipped (300/min per gateway; the gateways post in turn, each about once a second);
no engine worker runs (the queue only grows, by a few MB). Every answer must be a 202, or the run
fails. Run it twice against two checkouts (``--checkout``) to compare; the machine is shared, so compare
figures of the same session and report the load.

    .venv/bin/python benchmarks/ingest_front.py --posts 3000 --connections 8
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from benchmarks.scratch_db import drop_database, recreate_database, scratch_url  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (not its children), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def loadavg() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_site(env: dict) -> dict[str, str]:
    """Migrate the scratch database, import the demo floor plans, one token per receiver."""
    code = (
        "import django, json, sys; django.setup()\n"
        "from django.core.management import call_command\n"
        "from pathlib import Path\n"
        "call_command('migrate', verbosity=0)\n"
        "call_command('import_floorplan', *sorted(str(p) for p in Path('demo/floorplans').glob('*.geojson')))\n"
        "from locations.models import Receiver\n"
        "from locations.ingest.auth import gateway_token_issue\n"
        "gws = sorted(Receiver.objects.filter(active=True).values_list('gateway_id', flat=True))\n"
        "print('TOKENS=' + json.dumps({g: gateway_token_issue(gateway_id=g).raw for g in gws}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=env["_CHECKOUT"], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise SystemExit(f"setup failed:\n{out.stdout}\n{out.stderr}")
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("TOKENS="))
    return json.loads(line[len("TOKENS=") :])


def make_body(gateway: str, n: int, *, epoch_ms: bool, rnd: random.Random) -> bytes:
    now = time.time()
    items = []
    for _ in range(n):
        ts = now - rnd.uniform(0.0, 1.0)
        stamp = int(ts * 1000) if epoch_ms else datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")
        items.append({"tag": f"b0{rnd.randrange(4000):010x}", "rssi": rnd.randint(-95, -45), "ts": stamp})
    return json.dumps({"gateway": gateway, "sightings": items}).encode()


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"daphne exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("daphne did not start listening")


def run(args) -> dict:
    checkout = str(Path(args.checkout).resolve())
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hx_front")
    db_url = scratch_url(base_url, args.database)
    prefix = f"benchfront{os.getpid()}"
    env = dict(
        os.environ,
        _CHECKOUT=checkout,
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONPATH=checkout,
        DATABASE_URL=db_url,
        REDIS_URL=args.redis_url,
        INGEST_REDIS_URL=args.redis_url,
        INGEST_STREAM_PREFIX=prefix,
        INGEST_IN_PROCESS_WORKER="0",
        # The throttle as shipped (300/min per gateway): each of the ~180 demo gateways posts about once a second.
        DEBUG="0",
        SECRET_KEY="bench-front-" + "x7Qz" * 16,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        BEHIND_TLS_PROXY="1",  # production: daphne behind the TLS proxy, X-Forwarded-Proto below
    )
    recreate_database(base_url, args.database)
    proc = None
    try:
        tokens = setup_site(env)
        gateways = sorted(tokens)
        rnd = random.Random(7)
        bodies = [
            (gw, make_body(gw, args.sightings, epoch_ms=k % 2 == 0, rnd=rnd))
            for k, gw in enumerate(gateways * max(1, 64 // len(gateways)))
        ]
        port = free_port()
        daphne = str(Path(sys.executable).with_name("daphne"))
        profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        proc = subprocess.Popen(
            [sys.executable, *profile, daphne, "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=checkout,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE if args.quiet else None,
            start_new_session=True,
        )
        wait_listening(port, proc)
        latencies: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        counter = {"next": 0}

        def client(total: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            while True:
                with lock:
                    k = counter["next"]
                    if k >= total:
                        break
                    counter["next"] = k + 1
                gw, body = bodies[k % len(bodies)]
                headers = {
                    "Authorization": f"Bearer {tokens[gw]}",
                    "Content-Type": "application/json",
                    "X-Forwarded-Proto": "https",
                }
                start = time.perf_counter()
                conn.request("POST", "/api/v1/rtls/sightings", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    if response.status != 202:
                        failures.append(f"{response.status} {payload[:200]!r}")
            conn.close()

        def burst(total: int) -> float:
            counter["next"] = 0
            threads = [threading.Thread(target=client, args=(total,)) for _ in range(args.connections)]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return time.perf_counter() - start

        burst(args.warmup)  # tokens verified, gateway directory loaded, connections open
        latencies.clear()
        load_before = loadavg()
        cpu0 = cpu_seconds(proc.pid)
        wall = burst(args.posts)
        cpu = cpu_seconds(proc.pid) - cpu0
        load_after = loadavg()
        if failures:
            raise SystemExit(f"{len(failures)} answers were not 202, e.g. {failures[:3]}")
        latencies.sort()
        result = {
            "checkout": checkout,
            "posts": args.posts,
            "sightings_per_post": args.sightings,
            "connections": args.connections,
            "cpu_ms_per_post": round(cpu / args.posts * 1000, 2),
            "posts_per_s": round(args.posts / wall, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
            "load_before": load_before,
            "load_after": load_after,
        }
        return result
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT if args.profile else signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        try:
            import redis

            client_ = redis.Redis.from_url(args.redis_url)
            for key in client_.scan_iter(f"*{prefix}*", count=1000):
                client_.delete(key)
        except Exception as exc:  # noqa: BLE001 — cleaning up is best effort
            print(f"could not delete the Redis keys {prefix}*: {exc}", file=sys.stderr)
        if not args.keep:
            drop_database(base_url, args.database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", default=str(BASE_DIR), help="the checkout daphne serves (default: this one)")
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--sightings", type=int, default=80)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database", default="hx_front_bench", help="scratch database (its name contains 'front')")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/6"))
    parser.add_argument("--profile", help="run daphne under cProfile, write the profile to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--quiet", action="store_true", help="hide daphne's log")
    args = parser.parse_args()
    if "front" not in args.database:
        raise SystemExit("the scratch database name must contain 'front'")
    print(json.dumps(run(args), indent=1))


if __name__ == "__main__":
    main()
