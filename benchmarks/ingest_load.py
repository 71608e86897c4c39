"""Load benchmark of the live pipeline at hospital scale, measured like a user (issue 12; docs/benchmarks.md).

    .venv/bin/python benchmarks/ingest_load.py                            # 12,000 tags, 240 s, 2 servers, 2 workers
    .venv/bin/python benchmarks/ingest_load.py --seconds 60 --tags 3000   # a quick look
    .venv/bin/python benchmarks/ingest_load.py --offline --diagnose       # the same world, the engine alone

The world (``World``, built once from the demo floor plans, 6 floors, 184 rooms, 178 receivers): each tag
sits at a point of its room and pings every ``--ping-s`` (5) s at its own phase; every (point, receiver)
link has a mean signal from the distance (log-distance, exponent 2, from the receiver's rssi_at_1m), the
walls its straight line crosses (5 dB each, counted on a 0.1 m raster of the room polygons), the floor slab
(18 dB, receivers of the floors above and below), static shadowing (4 dB) and the tag's own gain (2 dB);
each ping draws fast fading (2.5 dB) and deep fades (15 %: 3-12 dB), and a receiver hears it when it is
above its own sensitivity (-95 dBm +- 1.5) and the gateway's filter (``--rssi-filter``, -88 dBm), less 5 %
of collisions (about 6 receivers a ping: ~14,000 sightings/s for 12,000 tags). ``--mobile-share`` (5 %) of
the tags are wheeled: they stay 2/3..4/3 of ``--move-every`` (90) s in a room, then walk at 1 m/s out of its
door, along the corridor and into another room of the same floor (and back), heard on the way; the moment
they cross the destination's door is the true room change (the truth, known to the benchmark only). Each
gateway posts one batch a second (``--slow-batch-share``, a fifth, every 2 s), half with ISO 8601, half
with epoch ms stamps. ``--teleport`` gives the old world's moves (anywhere in the hospital, at once).

Live (default), all on this machine, loopback only, bounded in time (``--seconds``):

- the demo hospital in a PostgreSQL database of its own (``--database``, dropped and recreated), the
  world's tags bound to assets, each already located in its home room (a running hospital);
- ``--servers`` daphne servers serving ``POST /api/v1/rtls/sightings``, ``--workers`` ``run_engine``
  workers on Redis Streams (``--redis``, keys under ``--prefix`` deleted), one ``consume_location_outbox``;
- ``--generators`` load generator processes (the gateways split between them): the ping table is sorted by
  time and read up to "now", each gateway's batch encoded with msgspec when due and posted by keep-alive
  connections; they report their own lag (batch due -> POST sent; sighting ts -> POST sent);
- a probe in this process reading, every ``--probe-every`` (1) second, the committed current room of every
  wheeled asset straight from PostgreSQL.

It prints: offered / accepted sightings per second, HTTP errors and latency, the generators' lag; the
visible latency (true room change -> the probe reads the new room) p50/p95/p99 over the stays of
``--min-stay`` (60) s or more, the stays never shown, the share of rooms right 30 s into a stay; ts -> ack
and receipt -> ack (measured by the workers when they acknowledge an entry, which is up to window +
allowed lateness after its windows committed); the accounting (accepted by HTTP = taken by the workers =
placed + dropped by reason); how long after the last post the queue was empty; CPU cores per process and
the load average.

Offline (``--offline``): the same world's sightings, batched and delivered as the gateways do (delay
``--delivery-min``..``--delivery-max``; ``--late-gateways`` of them deliver half their batches up to
``--late-max`` s late), go straight into ``locations.engine.LocationEngine`` (following each gateway's order per
queue shard, ``--shards``, as the live workers do) in simulated time, flushed every
``--commit-every`` at min(newest sighting, now) as the live worker does; ``--max-wait`` caps the engine's
wait (``allowed_lateness_s``) as ``INGEST_LIVE_MAX_WAIT_SECONDS`` does for the live workers. It reports the
same user figures (judged at each flush, no probe period), when each window was decided after its ping, the
learnt lateness, and with ``--diagnose`` what was shown instead for the stays shown wrong 30 s in, and what
the signal allows: when the first window in the new room whose own likeliest room (before the smoothing) is
the true one was decided (a lower bound on the visible latency; docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import bisect
import http.client
import json
import math
import os
import pickle
import queue as queue_module
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


# --------------------------------------------------------------------------- the world (pure numpy/shapely)
#
# A physical world, built once at setup from the demo floor plans (GeoJSON), shared by the live generator
# and --offline: tags at points in rooms; each (point, receiver) link has a mean signal from the distance,
# the walls its straight line crosses (room boundaries, counted on a 0.1 m raster of the plan), the floor
# slab, a static shadowing draw and the tag's own gain; every ping draws fast fading and deep fades, and a
# receiver hears it when the result is above its sensitivity (and the ping did not collide). Wheeled tags
# walk at WALK_M_S from a point in their room out of its door, along the corridor and into another room of
# the same floor, heard all the way; the moment they cross the destination room's door is the true change.

FLOOR_HEIGHT_M = 4.0
TAG_HEIGHT_M = 1.0
RASTER_M = 0.1
WALK_M_S = 1.0


@dataclass
class PlanRoom:
    code: str
    floor: tuple  # (building, level)
    room_type: str
    ring: list
    shape: object


def load_plans(files=None):
    """Floors, rooms and receivers of the demo hospital, straight from its GeoJSON (no database)."""
    from shapely.geometry import Polygon

    rooms, receivers, floors = [], [], []
    for path in files or sorted((BASE_DIR / "demo" / "floorplans").glob("*.geojson")):
        doc = json.loads(Path(path).read_text())
        key = (doc["properties"]["building"], int(doc["properties"]["level"]))
        floors.append(key)
        for feature in doc["features"]:
            p, geometry = feature["properties"], feature["geometry"]
            if p["kind"] == "room":
                ring = [tuple(map(float, xy[:2])) for xy in geometry["coordinates"][0]]
                rooms.append(PlanRoom(p["code"], key, p["room_type"], ring, Polygon(ring)))
            elif p["kind"] == "receiver":
                x, y = geometry["coordinates"][:2]
                receivers.append(
                    dict(
                        gw=p["id"],
                        floor=key,
                        x=float(x),
                        y=float(y),
                        rssi_1m=float(p["rssi_at_1m"]),
                        height=float(p.get("height_m") or 2.7),
                    )
                )
    return floors, rooms, receivers


class FloorRaster:
    """Room index of every RASTER_M cell of one floor (-1 outside): walls crossed = changes along a line."""

    def __init__(self, rooms: list[PlanRoom], indices: list[int]):
        import shapely

        xs = [x for r in rooms for x, _ in r.ring]
        ys = [y for r in rooms for _, y in r.ring]
        self.x0, self.y0 = min(xs) - 1.0, min(ys) - 1.0
        nx, ny = int((max(xs) + 1.0 - self.x0) / RASTER_M) + 1, int((max(ys) + 1.0 - self.y0) / RASTER_M) + 1
        gx, gy = np.meshgrid(self.x0 + (np.arange(nx) + 0.5) * RASTER_M, self.y0 + (np.arange(ny) + 0.5) * RASTER_M)
        self.grid = np.full((ny, nx), -1, dtype=np.int32)
        for room, index in zip(rooms, indices, strict=True):
            self.grid[shapely.contains_xy(room.shape, gx, gy)] = index

    def crossings(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Walls crossed by each segment p[i] -> q[i] (room changes along it)."""
        out = np.zeros(len(p), dtype=np.int32)
        step = 0.15
        for lo in range(0, len(p), 4000):
            a, b = p[lo : lo + 4000], q[lo : lo + 4000]
            k = int(np.ceil(np.hypot(*(b - a).T).max() / step)) + 2 if len(a) else 2
            f = np.linspace(0.0, 1.0, k)
            xs = a[:, :1] + (b[:, :1] - a[:, :1]) * f
            ys = a[:, 1:] + (b[:, 1:] - a[:, 1:]) * f
            ix = np.clip(((xs - self.x0) / RASTER_M).astype(np.int32), 0, self.grid.shape[1] - 1)
            iy = np.clip(((ys - self.y0) / RASTER_M).astype(np.int32), 0, self.grid.shape[0] - 1)
            ids = self.grid[iy, ix]
            out[lo : lo + 4000] = (ids[:, 1:] != ids[:, :-1]).sum(axis=1)
        return out


class World:
    """Tags, their pings and who hears them; the truth of the wheeled tags' rooms. Times are relative to the
    start of the load (t = 0)."""

    def __init__(self, args, seed: int = 7):
        rng = np.random.default_rng(seed)
        self.args = args
        self.floors, self.rooms, receivers = load_plans()
        self.gateways = [r["gw"] for r in receivers]
        self.room_codes = [r.code for r in self.rooms]
        by_floor: dict[tuple, list[int]] = {}
        for i, room in enumerate(self.rooms):
            by_floor.setdefault(room.floor, []).append(i)
        self.rasters = {f: FloorRaster([self.rooms[i] for i in idx], idx) for f, idx in by_floor.items()}
        rx = np.array([[r["x"], r["y"]] for r in receivers])
        r_floor = [r["floor"] for r in receivers]
        r_1m = np.array([r["rssi_1m"] for r in receivers])
        r_h = np.array([r["height"] for r in receivers])
        self.sensitivity = -95.0 + rng.normal(0.0, 1.5, len(receivers))  # each receiver's own
        placeable = [i for i, r in enumerate(self.rooms) if r.room_type not in ("corridor", "exit")]
        # Wheeled equipment leaves by a door onto a corridor: rooms that touch one.
        corridors = {f: [i for i in idx if self.rooms[i].room_type == "corridor"] for f, idx in by_floor.items()}
        self.door: dict[int, tuple[float, float, float, float]] = {}  # room -> door (x, y) and corridor (x, y)
        for i in placeable:
            room = self.rooms[i]
            for c in corridors[room.floor]:
                shared = room.shape.boundary.intersection(self.rooms[c].shape.boundary)
                if shared.length >= 1.0:
                    door = shared.interpolate(0.5, normalized=True)
                    inside = self.rooms[c].shape.representative_point()
                    cy = self.rooms[c].shape.centroid.y
                    self.door[i] = (door.x, door.y, door.x, cy if abs(inside.y - cy) < 5 else inside.y)
                    break

        # Tags: a home room and a point in it; a share of them wheeled (they need a door).
        n = args.tags
        self.tag_ids = [f"b0{k:010x}" for k in range(n)]
        home = rng.choice(placeable, size=n)
        mobile = rng.random(n) < args.mobile_share
        mobile &= np.array([h in self.door for h in home])
        self.home, self.mobile = home, mobile
        self.gain = rng.normal(0.0, 2.0, n)  # the tag's own gain (mounting, battery)
        self.phase = rng.uniform(0.0, args.ping_s, n)

        def point_in(room_index: int) -> tuple[float, float]:
            minx, miny, maxx, maxy = self.rooms[room_index].shape.bounds
            return rng.uniform(minx + 0.5, maxx - 0.5), rng.uniform(miny + 0.5, maxy - 0.5)

        # Every ping of the run: (t, tag, point); a point is a (floor, x, y) with its links to the receivers.
        points: list[tuple[tuple, float, float]] = []
        point_tag: list[int] = []
        ping_t, ping_point, ping_tag = [], [], []
        horizon = args.seconds + 5.0
        self.stays: list[tuple[int, int, float, float]] = []  # (tag, room, entered, left) of the wheeled tags
        self.truth: dict[int, list[tuple[float, int]]] = {}  # tag -> [(from t, room index or -1 corridor)]
        floors_of_room = [r.floor for r in self.rooms]
        for k in range(n):
            ts = np.arange(self.phase[k] - args.ping_s, horizon, args.ping_s)
            if not mobile[k]:
                x, y = point_in(home[k])
                points.append((floors_of_room[home[k]], x, y))
                point_tag.append(k)
                ping_t.append(ts)
                ping_point.append(np.full(len(ts), len(points) - 1))
                ping_tag.append(np.full(len(ts), k))
                continue
            # Wheeled: stay, walk to another room of the floor, stay, walk back... (a piecewise path).
            floor = floors_of_room[home[k]]
            others = [i for i in self.door if floors_of_room[i] == floor and i != home[k]]
            legs = []  # (t0, t1, path [(x, y)], room while staying or None)
            t, room = -300.0, int(home[k])
            spot = point_in(room)
            first = rng.uniform(0.0, args.move_every)
            truth = [(-1e9, room)]
            stay_end = first
            while t < horizon:
                legs.append((t, stay_end, [spot], room))
                if stay_end >= horizon:
                    break
                if args.teleport:  # the old world: anywhere in the hospital, at once, unheard on the way
                    target = int(rng.choice(list(self.door))) if room == home[k] else int(home[k])
                    new_spot = point_in(target)
                    truth.append((stay_end, target))
                    t, room, spot = stay_end, target, new_spot
                    stay_end = t + rng.uniform(0.67, 1.33) * args.move_every
                    continue
                target = int(rng.choice(others)) if room == home[k] else int(home[k])
                new_spot = point_in(target)
                dx0, dy0, cx0, cy0 = self.door[room]
                dx1, dy1, cx1, cy1 = self.door[target]
                path = [spot, (dx0, dy0), (cx0, cy0), (cx1, cy0), (dx1, dy1), new_spot]
                lengths = [math.dist(path[j], path[j + 1]) for j in range(len(path) - 1)]
                t_walk0 = stay_end
                t_exit = t_walk0 + lengths[0] / WALK_M_S
                t_enter = t_walk0 + sum(lengths[:4]) / WALK_M_S
                t_walk1 = t_walk0 + sum(lengths) / WALK_M_S
                legs.append((t_walk0, t_walk1, path, None))
                truth += [(t_exit, -1), (t_enter, target)]
                dwell = rng.uniform(0.67, 1.33) * args.move_every
                t, room, spot, stay_end = t_walk1, target, new_spot, t_walk1 + dwell
            self.truth[k] = truth
            for (t_in, r_in), nxt in zip(truth, [*truth[1:], (math.inf, None)], strict=True):
                if r_in >= 0 and t_in > -1e8:
                    self.stays.append((k, r_in, t_in, nxt[0]))
            # Position at each ping.
            stay_point: dict[int, int] = {}
            for tp in ts:
                leg = next((g for g in legs if g[0] <= tp < g[1]), legs[-1])
                if leg[3] is not None:
                    key = id(leg)
                    if key not in stay_point:
                        points.append((floors_of_room[leg[3]], *leg[2][0]))
                        point_tag.append(k)
                        stay_point[key] = len(points) - 1
                    pid = stay_point[key]
                else:
                    x, y = _along(leg[2], (tp - leg[0]) * WALK_M_S)
                    points.append((floor, x, y))
                    point_tag.append(k)
                    pid = len(points) - 1
                ping_t.append(np.array([tp]))
                ping_point.append(np.array([pid]))
                ping_tag.append(np.array([k]))
        t_all = np.concatenate(ping_t)
        order = np.argsort(t_all, kind="stable")
        self.ping_t = t_all[order]
        self.ping_point = np.concatenate(ping_point)[order].astype(np.int32)
        self.ping_tag = np.concatenate(ping_tag)[order].astype(np.int32)

        # Links of every point: receivers of its building on its floor and the floors next to it.
        starts, gws, means = [0], [], []
        p_floor = [p[0] for p in points]
        pxy = np.array([[p[1], p[2]] for p in points])
        p_gain = self.gain[np.array(point_tag)]
        link_rows = [[] for _ in points]
        for floor in self.floors:
            mine = np.array([i for i, f in enumerate(p_floor) if f == floor], dtype=np.int64)
            if not len(mine):
                continue
            for j, rf in enumerate(r_floor):
                if rf[0] != floor[0] or abs(rf[1] - floor[1]) > 1:
                    continue
                dxy = np.hypot(*(pxy[mine] - rx[j]).T)
                near = dxy <= 45.0
                idx, d2 = mine[near], dxy[near]
                if not len(idx):
                    continue
                levels = rf[1] - floor[1]
                dz = r_h[j] - TAG_HEIGHT_M + FLOOR_HEIGHT_M * levels
                d = np.maximum(1.0, np.hypot(d2, dz))
                walls = self.rasters[floor].crossings(pxy[idx], np.broadcast_to(rx[j], (len(idx), 2)))
                slab = 0.0
                if levels:
                    walls = np.round(walls * 0.5)
                    slab = 18.0 * abs(levels)
                mean = r_1m[j] - 20.0 * np.log10(d) - 5.0 * walls - slab + rng.normal(0.0, 4.0, len(idx)) + p_gain[idx]
                audible = mean >= self.sensitivity[j] - 12.0
                for i, m in zip(idx[audible].tolist(), mean[audible].tolist(), strict=True):
                    link_rows[i].append((j, m))
        for row in link_rows:
            gws.extend(g for g, _ in row)
            means.extend(m for _, m in row)
            starts.append(len(gws))
        self.link_start = np.array(starts, dtype=np.int64)
        self.link_gw = np.array(gws, dtype=np.int32)
        self.link_mean = np.array(means, dtype=np.float64)
        self.batch_every = np.where(rng.random(len(self.gateways)) < args.slow_batch_share, 2.0, 1.0)
        self.batch_phase = rng.uniform(0.0, 1.0, len(self.gateways)) * self.batch_every

    # ---- pings

    def hear(self, lo: int, hi: int, rng, gateways: np.ndarray | None = None):
        """Who hears the pings lo..hi: arrays (gateway, tag, rssi, t) of the receptions (after fading, sensitivity,
        collisions and the gateways' rssi filter)."""
        pts = self.ping_point[lo:hi]
        counts = self.link_start[pts + 1] - self.link_start[pts]
        total = int(counts.sum())
        if total == 0:
            e = np.zeros(0)
            return e.astype(np.int32), e.astype(np.int32), e, e
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        idx = np.repeat(self.link_start[pts], counts) + offsets
        gw = self.link_gw[idx]
        tag = np.repeat(self.ping_tag[lo:hi], counts)
        t = np.repeat(self.ping_t[lo:hi], counts)
        if gateways is not None:
            keep = gateways[gw]
            gw, tag, t, idx = gw[keep], tag[keep], t[keep], idx[keep]
        rssi = self.link_mean[idx] + rng.normal(0.0, 2.5, len(idx))
        deep = rng.random(len(idx)) < 0.15  # multipath: fades only take power away
        rssi[deep] -= rng.uniform(3.0, 12.0, int(deep.sum()))
        heard = (rssi >= self.sensitivity[gw]) & (rssi >= self.args.rssi_filter) & (rng.random(len(idx)) >= 0.05)
        rssi = np.clip(np.round(rssi[heard]), -120, 0)
        # A receiver stamps its reception within a few ms of the transmission.
        return gw[heard], tag[heard], rssi, t[heard] + rng.uniform(0.0, 0.004, int(heard.sum()))

    def truth_at(self, k: int, t: float) -> int:
        rows = self.truth[k]
        i = bisect.bisect_right([r[0] for r in rows], t) - 1
        return rows[max(0, i)][1]


def _along(path, s: float) -> tuple[float, float]:
    for a, b in zip(path, path[1:], strict=False):
        length = math.dist(a, b)
        if s <= length and length > 0:
            f = s / length
            return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f
        s -= length
    return path[-1]


# --------------------------------------------------------------------------- the load generator (child processes)


class _Iso:
    """ISO 8601 stamps with milliseconds, the date-time part cached per second."""

    def __init__(self):
        self._second, self._prefix = None, ""

    def __call__(self, ts: float) -> str:
        second = int(ts)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._prefix}.{int((ts - second) * 1000):03d}Z"


def generate(plan_path: str, result_path: str, part: int, parts: int) -> None:
    """Play the gateways whose index % parts == part: schedule the pings by due time (the world's ping table
    is sorted by time), hand each gateway's batch to the HTTP senders when its batch is due, write what
    happened."""
    import msgspec

    plan = json.loads(Path(plan_path).read_text())
    with open(plan["world"], "rb") as handle:
        world: World = pickle.load(handle)
    rng = np.random.default_rng(1000 + part)
    ports, seconds, t0 = plan["ports"], plan["seconds"], plan["t0"]
    tokens = plan["tokens"]
    n_gw = len(world.gateways)
    mine = (np.arange(n_gw) % parts) == part
    names = world.tag_ids
    epoch_ms = np.arange(n_gw) % 2 == 0  # half the gateways stamp epoch ms, half ISO 8601
    encoder, decoder = msgspec.json.Encoder(), msgspec.json.Decoder()
    iso = _Iso()

    outbox: queue_module.Queue = queue_module.Queue(maxsize=4000)
    lock = threading.Lock()
    results = {"requests": 0, "sightings": 0, "accepted": 0, "errors": {}}
    latencies: list[float] = []
    lags: list[tuple[float, float, float, int]] = []  # (due -> sent, oldest ts -> sent, newest ts -> sent, n)
    queued: list[float] = []  # batch due -> encoded and handed to the senders: the generator's own lag

    def sender(port: int):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            item = outbox.get()
            if item is None:
                return
            gateway, payload, count, due, oldest, newest = item
            started = time.time()
            try:
                connection.request(
                    "POST",
                    "/api/v1/rtls/sightings",
                    body=payload,
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {tokens[gateway]}"},
                )
                response = connection.getresponse()
                body = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                status, body = type(exc).__name__, b""
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            elapsed = time.time() - started
            with lock:
                results["requests"] += 1
                results["sightings"] += count
                latencies.append(elapsed)
                lags.append((started - due, started - oldest, started - newest, count))
                if status == 202:
                    results["accepted"] += decoder.decode(body)["accepted"]
                else:
                    results["errors"][str(status)] = results["errors"].get(str(status), 0) + 1

    threads = [
        threading.Thread(target=sender, args=(ports[i % len(ports)],), daemon=True)
        for i in range(max(1, plan["connections"] // parts))
    ]
    for thread in threads:
        thread.start()

    pending: dict[int, list] = {g: [] for g in np.flatnonzero(mine).tolist()}
    gws = np.flatnonzero(mine)
    next_flush = t0 + world.batch_phase[gws]
    every = world.batch_every[gws]
    ptr = int(np.searchsorted(world.ping_t, 0.0))
    end_ptr = len(world.ping_t)
    behind = 0
    while time.time() < t0:
        time.sleep(min(0.05, max(0.0, t0 - time.time())))
    while True:
        now = time.time()
        rel = now - t0
        if rel >= seconds:
            break
        hi = int(np.searchsorted(world.ping_t, rel, side="right"))
        if hi > ptr:
            gw, tag, rssi, ts = world.hear(ptr, hi, rng, mine)
            ptr = hi
            if len(gw):
                order = np.argsort(gw, kind="stable")
                gw, tag, rssi, ts = gw[order], tag[order], rssi[order], ts[order] + t0
                cuts = np.flatnonzero(np.r_[True, gw[1:] != gw[:-1], True])
                for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
                    pending[int(gw[a])].append((tag[a:b], rssi[a:b], ts[a:b]))
        for i in np.flatnonzero(next_flush <= now).tolist():
            g = int(gws[i])
            due = float(next_flush[i])
            next_flush[i] += every[i]
            chunks, pending[g] = pending[g], []
            if not chunks:
                continue
            tag = np.concatenate([c[0] for c in chunks]).tolist()
            rssi = np.concatenate([c[1] for c in chunks]).astype(int).tolist()
            ts = np.concatenate([c[2] for c in chunks])
            if epoch_ms[g]:
                stamps = np.rint(ts * 1000).astype(np.int64).tolist()
            else:
                stamps = [iso(t) for t in ts.tolist()]
            gateway = world.gateways[g]
            payload = encoder.encode(
                {
                    "gateway": gateway,
                    "sent_at": iso(now),
                    "sightings": [
                        {"tag": names[t], "rssi": r, "ts": s} for t, r, s in zip(tag, rssi, stamps, strict=True)
                    ],
                }
            )
            queued.append(time.time() - due)
            try:
                outbox.put((gateway, payload, len(tag), due, float(ts.min()), float(ts.max())), timeout=5)
            except queue_module.Full:
                behind += 1
        upcoming = [now + 0.1, float(next_flush.min())]
        if ptr < end_ptr:
            upcoming.append(t0 + float(world.ping_t[ptr]))
        time.sleep(max(0.0, min(upcoming) - time.time()))
    for _ in threads:
        outbox.put(None)
    for thread in threads:
        thread.join(60)
    results.update(
        last_post_at=time.time(),
        seconds=time.time() - t0,
        cpu_seconds=time.process_time(),
        dropped_by_generator=behind,
        latencies=latencies,
        lags=lags,
        queued=queued,
    )
    Path(result_path).write_text(json.dumps(results))


def merge_generator_results(paths: list[Path]) -> dict:
    parts = [json.loads(p.read_text()) for p in paths]
    latencies = sorted(x for p in parts for x in p["latencies"])
    lags = [x for p in parts for x in p["lags"]]
    errors: dict[str, int] = {}
    for p in parts:
        for k, v in p["errors"].items():
            errors[k] = errors.get(k, 0) + v
    due = sorted(x[0] for x in lags)
    queued = sorted(x for p in parts for x in p["queued"])
    # ts -> POST over sightings: each batch's sightings spread between its oldest and newest stamp.
    weighted = sorted(v for a, b, c, n in lags for v in np.linspace(b, c, min(n, 20)).tolist())
    return {
        "requests": sum(p["requests"] for p in parts),
        "sightings": sum(p["sightings"] for p in parts),
        "accepted": sum(p["accepted"] for p in parts),
        "errors": errors,
        "seconds": max(p["seconds"] for p in parts),
        "cpu_seconds": sum(p["cpu_seconds"] for p in parts),
        "dropped_by_generator": sum(p["dropped_by_generator"] for p in parts),
        "last_post_at": max(p["last_post_at"] for p in parts),
        "http_p50_s": latencies[len(latencies) // 2] if latencies else None,
        "http_p99_s": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None,
        "generator_due_to_queued_p50_p99_max_s": [_q(queued, 0.5, 3), _q(queued, 0.99, 3), _q(queued, 1.0, 3)],
        "generator_due_to_post_p50_p99_max_s": [_q(due, 0.5, 3), _q(due, 0.99, 3), round(max(due), 3) if due else None],
        "generator_ts_to_post_p50_p99_s": [_q(weighted, 0.5, 2), _q(weighted, 0.99, 2)],
    }


def _q(ordered: list[float], q: float, digits: int = 1) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], digits)


# --------------------------------------------------------------------------- what a user sees


def user_metrics(stays, shown, start: float, end: float, min_stay: float) -> dict:
    """True room change -> the new room first shown, over the stays of min_stay or more that begin after start
    and last until end; the stays never shown; the room right 30 s into a stay.

    stays: [(key, room, entered, left)] (absolute times); shown: key -> ([t, ...], [room, ...]), the room
    shown from each t on (changes only)."""
    latencies, never, right, sampled, details = [], 0, 0, 0, []
    for key, room, entered, left in stays:
        if entered < start or min(left, end) - entered < min_stay:
            continue
        times, rooms = shown.get(key, ([], []))
        i = bisect.bisect_right(times, entered) - 1
        latency = 0.0 if i >= 0 and rooms[i] == room else None
        j = i + 1
        while latency is None and j < len(times) and times[j] < left:
            if rooms[j] == room:
                latency = times[j] - entered
            j += 1
        if latency is None:
            never += 1
        else:
            latencies.append(latency)
        at = bisect.bisect_right(times, entered + 30.0) - 1
        shown_30 = rooms[at] if at >= 0 else None
        if entered + 30.0 < min(left, end):
            sampled += 1
            right += shown_30 == room
        details.append((key, room, entered, latency, shown_30))
    stays_n = len(latencies) + never
    return {
        "stays_measured": stays_n,
        "visible_p50_s": _percentile(latencies, 0.50),
        "visible_p95_s": _percentile(latencies, 0.95),
        "visible_p99_s": _percentile(latencies, 0.99),
        "stays_never_shown": f"{never} of {stays_n} ({100 * never / max(1, stays_n):.2f} %)",
        "right_30s_into_stay": f"{right} of {sampled} ({100 * right / max(1, sampled):.1f} %)",
        "_details": details,
    }


def changes_from_samples(samples) -> dict:
    """The probe's samples [(t, {key: room})] as per-key change lists."""
    out: dict = {}
    for t, rooms in samples:
        for key, room in rooms.items():
            times, values = out.setdefault(key, ([], []))
            if not values or values[-1] != room:
                times.append(t)
                values.append(room)
    return out


# --------------------------------------------------------------------------- offline: the engine alone


def site_plan(world: World):
    from locations.engine.types import FloorGeom, ReceiverGeom, RoomGeom, SitePlan

    buildings = sorted({f[0] for f in world.floors})
    floor_id = {f: i + 1 for i, f in enumerate(world.floors)}
    _, _, receivers = load_plans()
    return SitePlan(
        floors=tuple(
            FloorGeom(floor_id=floor_id[f], building_id=buildings.index(f[0]) + 1, level=f[1]) for f in world.floors
        ),
        rooms=tuple(
            RoomGeom(
                room_id=i + 1, floor_id=floor_id[r.floor], code=r.code, room_type=r.room_type, exterior=tuple(r.ring)
            )
            for i, r in enumerate(world.rooms)
        ),
        receivers=tuple(
            ReceiverGeom(
                gateway_id=r["gw"],
                floor_id=floor_id[r["floor"]],
                x=r["x"],
                y=r["y"],
                rssi_at_1m=r["rssi_1m"],
                height_m=r["height"],
            )
            for r in receivers
        ),
    )


def offline(args) -> dict:
    """The same world's sightings straight into LocationEngine, in simulated time: each gateway's batch is
    delivered its batching period after its first ping plus a delivery delay (HTTP, queue, worker read), the
    engine is flushed every --commit-every of simulated time at min(newest sighting, now) as the live worker
    does, and the rooms it shows are judged like the live probe's."""
    sys.path.insert(0, str(BASE_DIR))
    from locations.engine import EngineConfig, LocationEngine
    from locations.engine.types import Sighting

    started = time.time()
    world = World(args)
    plan = site_plan(world)
    # The live workers follow each gateway's delivery order per queue shard (INGEST_SHARDS, --shards): so does
    # this run, unless --engine says otherwise (until 2026-12-07 it followed one stream per gateway, whose
    # progress is --shards times denser: windows decided 0.1 s sooner).
    overrides = {"delivery_streams": args.shards, **json.loads(args.engine)}
    if args.max_wait is not None:
        overrides["allowed_lateness_s"] = args.max_wait
    engine = (_window_room_engine() if args.diagnose else LocationEngine)(plan, EngineConfig(**overrides))
    T0 = 1_900_000_000.0
    for k, tag in enumerate(world.tag_ids):
        engine.restore(tag, room_id=int(world.home[k]) + 1, ts=T0 - 60.0)
    rng = np.random.default_rng(11)
    lo = int(np.searchsorted(world.ping_t, 0.0))
    hi = int(np.searchsorted(world.ping_t, args.seconds))
    gw, tag, rssi, ts = world.hear(lo, hi, rng)
    # Batch of each reception: the gateway posts every `every` s at its phase; delivered a little later.
    every, phase = world.batch_every[gw], world.batch_phase[gw]
    flush_at = phase + np.ceil((ts - phase) / every) * every
    batch_key = np.round(flush_at * 1000).astype(np.int64) * 1000 + gw
    keys, inverse = np.unique(batch_key, return_inverse=True)
    delay = rng.uniform(args.delivery_min, args.delivery_max, len(keys))
    late_gw = rng.random(len(world.gateways)) < args.late_gateways
    late_batch = late_gw[keys % 1000] & (rng.random(len(keys)) < 0.5)
    delay[late_batch] += rng.uniform(2.0, args.late_max, int(late_batch.sum()))
    arrive = flush_at + delay[inverse]
    order = np.lexsort((ts, batch_key, arrive))
    gw, tag, rssi, ts, arrive = gw[order], tag[order], rssi[order], ts[order], arrive[order]
    names, gateways = world.tag_ids, world.gateways
    mobile = set(np.flatnonzero(world.mobile).tolist())
    shown: dict[int, tuple[list, list]] = {k: ([-1e9], [int(world.home[k])]) for k in mobile}
    decided: list[float] = []  # window ts -> the flush that decided it, for the wheeled tags
    windows: list[tuple[int, float, int, int, float, float, int]] = []
    newest = -math.inf
    p = 0
    t = 0.0
    end = args.seconds + 15.0
    while t <= end:
        q = int(np.searchsorted(arrive, t, side="right"))
        if q > p:
            batch = [
                Sighting(gateways[g], names[k], float(r), T0 + s)
                for g, k, r, s in zip(
                    gw[p:q].tolist(), tag[p:q].tolist(), rssi[p:q].tolist(), ts[p:q].tolist(), strict=True
                )
            ]
            engine.push(batch)
            newest = max(newest, float(ts[p:q].max()))
            p = q
        if math.isfinite(newest):
            for e in engine.flush(min(T0 + newest, T0 + t)):
                k = int(e.tag_id[2:], 16)
                own = engine.window_rooms.pop((e.tag_id, e.ts), -1) if args.diagnose else -1  # every tag's: freed
                if k in mobile:
                    room = e.room_id - 1
                    decided.append(t - (e.ts - T0))
                    windows.append((k, e.ts - T0, room, e.receivers_heard, e.confidence, t, own))
                    times, rooms = shown[k]
                    if rooms[-1] != room:
                        times.append(t)
                        rooms.append(room)
        t += args.commit_every
    stays = [(k, room, entered, left) for k, room, entered, left in world.stays]
    metrics = user_metrics(stays, shown, args.measure_from, args.seconds, args.min_stay)
    clocks = engine.gateway_clocks()
    lateness = sorted(c.lateness_s for c in clocks.values())
    decided.sort()
    out = {
        "simulated_s": args.seconds,
        "sightings": int(len(ts)),
        "sightings_per_s": round(len(ts) / args.seconds),
        "sightings_per_ping": round(len(ts) / max(1, hi - lo), 2),
        **{k: v for k, v in metrics.items() if not k.startswith("_")},
        "decided_after_ping_p50_p95_p99_s": [_q(decided, 0.5, 2), _q(decided, 0.95, 2), _q(decided, 0.99, 2)],
        "learnt_lateness_min_p50_max_s": [lateness[0], lateness[len(lateness) // 2], lateness[-1]],
        "engine_late_dropped": f"{engine.stats.late} ({100 * engine.stats.late / max(1, len(ts)):.3f} %)",
        "wall_s": round(time.time() - started, 1),
    }
    if args.diagnose:
        out["diagnosis"] = diagnose(world, metrics["_details"], windows, shown)
    return out


def _window_room_engine():
    """LocationEngine that also remembers each window's own likeliest room, before the smoothing (--diagnose
    only: what one window's signal says, against what the engine shows)."""
    from locations.engine import LocationEngine

    class WindowRoomEngine(LocationEngine):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.window_rooms: dict[tuple[str, float], int] = {}

        def _step(self, ti, ts, rooms, room_ll, heard):
            scored = np.where((rooms >= 0) & np.isfinite(room_ll), room_ll, -np.inf)
            own = rooms[np.arange(len(ti)), scored.argmax(axis=1)]
            ids = self.plan.room_ids
            for t, w, r in zip(ti.tolist(), ts.tolist(), own.tolist(), strict=True):
                self.window_rooms[(self._tag_ids[t], w)] = int(ids[r]) - 1
            return super()._step(ti, ts, rooms, room_ll, heard)

    return WindowRoomEngine


def signal_bound(world: World, details, windows) -> dict:
    """What the signal allows: per measured stay, the first window in the new room whose own likeliest room
    (one window, no smoothing) is the true room, and when it was decided. An engine that knew which windows to
    trust could show the move then and no sooner; its quantiles bound the visible latency from below."""
    by_tag: dict[int, list] = {}
    for w in windows:
        by_tag.setdefault(w[0], []).append(w)
    bound, first_right, first_n = [], 0, 0
    for key, room, entered, _latency, _shown_30 in details:
        mine = [w for w in by_tag.get(key, []) if w[1] >= entered]
        if not mine:
            continue
        first_n += 1
        first_right += mine[0][6] == room
        hit = next((w for w in mine if w[6] == room), None)
        if hit is not None:
            bound.append(hit[5] - entered)
    bound.sort()
    return {
        "first_window_in_room_says_it": f"{first_right} of {first_n} ({100 * first_right / max(1, first_n):.1f} %)",
        "signal_bound_p50_p95_p99_s": [_q(bound, 0.5), _q(bound, 0.95), _q(bound, 0.99)],
    }


def diagnose(world: World, details, windows, shown) -> dict:
    """The stays shown late, never or wrong at 30 s: what was shown instead, and when."""
    rooms = world.rooms
    by_tag: dict[int, list] = {}
    for w in windows:
        by_tag.setdefault(w[0], []).append(w)

    def kind(true_room: int, shown_room, previous: int) -> str:
        if shown_room is None:
            return "nothing"
        if shown_room == previous:
            return "still the room it came from"
        s, r = rooms[shown_room], rooms[true_room]
        if s.floor != r.floor:
            return "another floor"
        if s.room_type == "corridor":
            return "the corridor"
        if s.shape.distance(r.shape) < 0.05:
            return "a room sharing a wall"
        if s.shape.distance(r.shape) < 3.0:
            return "a room across the corridor / near"
        return "a room farther away"

    kinds: dict[str, int] = {}
    never_kinds: dict[str, int] = {}
    late_latencies = []
    late_kinds: dict[str, int] = {}
    examples = []
    windows_in_stay, windows_right = 0, 0
    for key, room, entered, latency, shown_30 in details:
        truth = world.truth[key]
        previous = next((r for t, r in reversed(truth) if t < entered and r >= 0 and r != room), None)
        for _, wts, wroom, *_ in by_tag.get(key, []):
            if entered + 10 <= wts <= entered + 60:
                windows_in_stay += 1
                windows_right += wroom == room
        if shown_30 != room:
            k = kind(room, shown_30, previous)
            kinds[k] = kinds.get(k, 0) + 1
            if latency is None:
                never_kinds[k] = never_kinds.get(k, 0) + 1
            if len(examples) < 8:
                seq = [
                    (round(t - entered, 1), rooms[r].code) for t, r in zip(*shown[key], strict=True) if t > entered - 20
                ]
                came = rooms[previous].code if previous is not None else "?"
                examples.append(
                    f"{world.tag_ids[key]}: truly {rooms[room].code} from t={entered:.0f}, came from {came}; "
                    f"shown (s after entering, room): {seq[:6]}"
                )
        elif latency is not None and latency > 10:
            late_latencies.append(round(latency, 1))
            times, values = shown[key]
            before = values[bisect.bisect_right(times, entered + latency - 0.01) - 1]
            k = kind(room, before, previous)
            late_kinds[k] = late_kinds.get(k, 0) + 1
    return {
        **signal_bound(world, details, windows),
        "wrong_30s_into_stay_by_what_was_shown": kinds,
        "never_shown_by_what_was_shown_at_30s": never_kinds,
        "smoothed_room_right_in_windows_10_60s_into_stays": f"{windows_right} of {windows_in_stay}",
        "shown_later_than_10s": f"{len(late_latencies)}: " + str(sorted(late_latencies)[-20:]),
        "shown_later_than_10s_showing_meanwhile": late_kinds,
        "examples": examples,
    }


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


def build_site(args, work: Path) -> dict:
    """Floor plans, the world's tags on assets, a token per gateway; returns the generators' plan."""
    from django.core.management import call_command

    from assets.models import Asset, AssetType, Tag
    from locations.ingest.auth import gateway_token_issue
    from locations.models import Room

    call_command("migrate", verbosity=0)
    call_command("import_floorplan", *sorted(str(p) for p in (BASE_DIR / "demo" / "floorplans").glob("*.geojson")))
    world = World(args)
    pump_type, _ = AssetType.objects.get_or_create(slug="infusion-pump", defaults={"name": "Infusion pump"})
    room_pk = dict(Room.objects.values_list("code", "pk"))
    rooms = [room_pk[code] for code in world.room_codes]
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
    Tag.objects.bulk_create([Tag(tag_id=world.tag_ids[n], asset=a) for n, a in enumerate(assets)], batch_size=2000)
    world_path = work / "world.pickle"
    with open(world_path, "wb") as handle:
        pickle.dump(world, handle)
    return {
        "world": str(world_path),
        "tokens": {gw: gateway_token_issue(gateway_id=gw).raw for gw in world.gateways},
        "home": {a.pk: rooms[int(world.home[n])] for n, a in enumerate(assets)},
        "asset_of": [a.pk for a in assets],
        "rooms": rooms,
        "_world": world,
    }


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

        plan_path = work / "plan.json"
        t0 = time.time() + 3.0  # every generator process starts its clock here
        plan_path.write_text(
            json.dumps(
                dict(
                    {k: v for k, v in plan.items() if k in ("world", "tokens")},
                    ports=ports,
                    seconds=args.seconds,
                    connections=args.connections,
                    t0=t0,
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
        load_started = t0
        result_paths = [work / f"load{workers}-{i}.json" for i in range(args.generators)]
        generators = [
            subprocess.Popen(
                [PYTHON, __file__, "--generate", str(plan_path), str(path), str(i), str(args.generators)], cwd=BASE_DIR
            )
            for i, path in enumerate(result_paths)
        ]
        processes.extend(generators)
        for generator in generators:
            if generator.wait(args.seconds + 300) != 0:
                raise RuntimeError("a load generator failed")
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
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes[len(ports) :]:
            process.wait(120)
        load = merge_generator_results(result_paths)
        worker_stats = [json.loads(p.read_text()) for p in stats_files if p.exists()]
        summary = summarize(load, worker_stats, load_started, load_ended, drained_at, backlog_at_end, left, samples)
        summary.update(visible_latency(plan, probe.samples, load_started, load["last_post_at"], args))
        summary["generator_due_to_queued_p50_p99_max_s"] = load["generator_due_to_queued_p50_p99_max_s"]
        summary["generator_due_to_post_p50_p99_max_s"] = load["generator_due_to_post_p50_p99_max_s"]
        summary["generator_ts_to_post_p50_p99_s"] = load["generator_ts_to_post_p50_p99_s"]
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
        world = plan["_world"]
        self.asset_ids = [plan["asset_of"][k] for k in np.flatnonzero(world.mobile).tolist()]
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
    """The probe's view judged against the truth (user_metrics), over the stays that begin after the first
    --measure-from seconds of load (5) and last --min-stay seconds before the last post."""
    world: World = plan["_world"]
    key_of = {asset: k for k, asset in enumerate(plan["asset_of"])}
    index_of_room = {pk: i for i, pk in enumerate(plan["rooms"])}
    shown = {
        key_of[asset]: (times, [index_of_room.get(r, -2) for r in rooms])
        for asset, (times, rooms) in changes_from_samples(samples).items()
    }
    stays = [(k, room, load_started + entered, load_started + left) for k, room, entered, left in world.stays]
    metrics = user_metrics(stays, shown, load_started + args.measure_from, last_post_at, args.min_stay)
    out = {k: v for k, v in metrics.items() if not k.startswith("_")}
    if args.probe_every < 1.0:
        # The same run read by a probe of one read a second (the issue's), from every n-th sample: the probe's
        # period adds up to a period to every figure (half of one on average).
        step = max(1, round(1.0 / args.probe_every))
        coarse = {
            key_of[asset]: (times, [index_of_room.get(r, -2) for r in rooms])
            for asset, (times, rooms) in changes_from_samples(samples[::step]).items()
        }
        second = user_metrics(stays, coarse, load_started + args.measure_from, last_post_at, args.min_stay)
        out["at_one_read_a_second"] = {k: v for k, v in second.items() if k.startswith("visible")}
    return out


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
        "ts_to_ack_p50_s": max(p50) if p50 else None,  # the worse worker's; acknowledged up to window +
        # allowed lateness after the commit that placed it
        "ts_to_ack_p99_s": max(p99) if p99 else None,
        "receipt_to_ack_p50_s": max((s.get("since_receipt_p50_s") or 0 for s in workers), default=None),
        "receipt_to_ack_p99_s": max((s.get("since_receipt_p99_s") or 0 for s in workers), default=None),
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


def _interrupt(*_):
    raise KeyboardInterrupt


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generate", nargs=4, metavar=("PLAN", "RESULT", "PART", "PARTS"), help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=240.0, help="load duration (bounded)")
    parser.add_argument("--tags", type=int, default=12_000)
    parser.add_argument("--ping-s", type=float, default=5.0)
    parser.add_argument(
        "--rssi-filter", type=float, default=-88.0, help="gateways forward receptions at least this loud (dBm)"
    )
    parser.add_argument("--mobile-share", type=float, default=0.05, help="tags wheeled between rooms")
    parser.add_argument("--move-every", type=float, default=90.0, help="mean stay of a wheeled tag, s (2/3..4/3 of it)")
    parser.add_argument("--min-stay", type=float, default=60.0, help="stays measured for the visible latency")
    parser.add_argument(
        "--measure-from",
        type=float,
        default=5.0,
        help="stays that begin this long after the load starts are measured (an engine that has run for a few "
        "minutes: the receivers' floors, calibration and the site's radio learnt)",
    )
    parser.add_argument("--probe-every", type=float, default=1.0, help="seconds between reads of the probe")
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--servers", type=int, default=2, help="ASGI server processes")
    parser.add_argument("--generators", type=int, default=2, help="load generator processes (gateways split)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections of the generators")
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
    parser.add_argument(
        "--slow-batch-share", type=float, default=0.2, help="gateways posting every 2 s (the others every 1 s)"
    )
    parser.add_argument(
        "--teleport", action="store_true", help="the old world: wheeled tags jump to any room, unheard on the way"
    )
    offline_group = parser.add_argument_group("offline (the engine alone, simulated time, no HTTP)")
    offline_group.add_argument("--offline", action="store_true", help="feed the world straight into LocationEngine")
    offline_group.add_argument(
        "--diagnose", action="store_true", help="say what was shown for the wrong stays, and what the signal allows"
    )
    offline_group.add_argument("--max-wait", type=float, default=None, help="allowed_lateness_s for the engine")
    offline_group.add_argument(
        "--engine", default="{}", help="EngineConfig overrides as JSON, e.g. '{\"passage_rate_factor\": 10}'"
    )
    offline_group.add_argument("--commit-every", type=float, default=0.5, help="flush cadence, s of simulated time")
    offline_group.add_argument("--delivery-min", type=float, default=0.03, help="batch delivery delay, s (uniform)")
    offline_group.add_argument("--delivery-max", type=float, default=0.3)
    offline_group.add_argument("--late-gateways", type=float, default=0.0, help="share of gateways delivering late")
    offline_group.add_argument("--late-max", type=float, default=8.0, help="... half their batches 2..this s late")
    args = parser.parse_args(argv)
    if args.generate:
        plan_path, result_path, part, parts = args.generate
        generate(plan_path, result_path, int(part), int(parts))
        return
    if args.offline:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        result = offline(args)
        for key, value in result.items():
            if key == "diagnosis":
                for k, v in value.items():
                    print(f"  {k}: {v}" if k != "examples" else "  examples:\n    " + "\n    ".join(v), flush=True)
            else:
                print(f"  {key:34} {value}", flush=True)
        return
    for url in (args.database, args.redis):
        if urlparse(url).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"loopback only: {url}")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupt)  # stop the servers, workers and generators on the way out
    setup_django(args)
    recreate_database(args.database)
    print(f"setting up: demo floor plans, {args.tags} tags, the world...", flush=True)
    plan = build_site(args, work)
    world = plan["_world"]
    print(
        f"{len(world.gateways)} gateways; {args.tags} tags pinging every {args.ping_s:g} s, "
        f"{int(world.mobile.sum())} of them wheeled; {len(world.link_gw) / max(1, len(world.link_start) - 1):.1f} "
        f"receivers within reach of a point on average",
        flush=True,
    )
    results = {}
    for workers in args.workers:
        print(f"\n== {workers} engine worker(s), {args.seconds:g} s of load", flush=True)
        results[workers] = run_round(args, plan, workers, work)
        for key, value in results[workers].items():
            print(f"  {key:36} {value}", flush=True)
    (work / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
