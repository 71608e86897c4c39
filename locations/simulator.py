"""An RTLS simulator: BLE tags on equipment, heard by the receivers of any floor plan.

Plain Python, numpy and shapely, with no Django, so the benchmarks can use it without a database;
``manage.py simulate_rtls`` adapts database rows into a ``SitePlan`` and drives it.

What it models, per transmission ("ping") of each tag and per receiver:

    rssi = rssi_at_1m + receiver_offset - 10 n log10(d) - wall_loss * walls - floor_loss * floors
           + shadowing(location, time) + fast fading + deep multipath fade

- distance ``d`` in 3-D: receivers sit at their ``height_m`` (default 2.7 m), tags at 1 m, floors 4 m apart;
- ``walls``: room boundaries crossed by the straight line from tag to receiver, counted on a raster of the
  tag's floor (the same room polygons the engine gets; gaps narrower than ~0.3 m count as a shared wall);
- ``floors``: receivers of the floor above and below in the same building are heard through the slab;
- shadowing, log-normal with ``shadowing_sigma_db``: part of its variance is tied to the tag's location
  (it stays while the tag rests and decorrelates over ``shadowing_decorrelation_m`` as it moves), the rest
  drifts in time (people, doors, trolleys) with correlation time ``shadowing_tau_s``;
- small fast fading per ping, plus occasional deep multipath fades on a single link;
- packet loss per link, and a receiver sensitivity below which nothing is reported;
- each receiver's real rssi_at_1m differs a little from the configured one;
- gateways stamp receptions with their own (NTP-synced, slightly skewed) clocks and batch once a second.

Motion: most assets rest for minutes to hours at a random spot in a room, then get wheeled to another
room along corridors (shortest path over the room adjacency graph, through the doors in shared walls,
at walking pace). A ``mobile_share`` of assets is moved much more often. An asset wheeled to an ``exit``
room may leave the site for a while (it stops being heard) and come back through that exit.

Ground truth (the room each tag is really in, and when that changes) is recorded separately; nothing the
engine receives carries it.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry import LineString, MultiLineString, Point, Polygon

from locations.engine.types import ReceiverGeom, RoomGeom, SitePlan

RASTER_M = 0.25  # wall-counting raster resolution
GAP_FILL_M = 0.3  # cells this close to a room belong to it: tolerates sloppy shared walls
DOOR_MIN_M = 0.8  # rooms sharing at least this much wall are connected by a door
PATH_STEP_M = 0.1  # ground-truth sampling along walked paths
DOOR_STEP_M = 0.6  # trolleys go straight through a door, not along the wall

# How likely equipment is parked in each room type when it is moved (relative weights).
DESTINATION_WEIGHTS = {
    "patient": 1.0,
    "storage": 3.0,
    "clean_utility": 2.0,
    "soiled_utility": 1.5,
    "biomed": 0.6,
    "procedure": 1.0,
    "nurse_station": 0.4,
    "corridor": 0.3,
    "exit": 0.05,
    "other": 0.2,
}
# Rooms a trolley passes through on its way (others cost more to cross, so routes use corridors).
PASSAGE_TYPES = {"corridor", "nurse_station", "exit", "other"}


@dataclass(frozen=True, slots=True)
class RadioModel:
    shadowing_sigma_db: float = 4.0
    shadowing_static_share: float = 0.5  # share of the shadowing variance tied to the location
    shadowing_decorrelation_m: float = 2.0
    shadowing_tau_s: float = 5.0  # correlation time of the drifting part
    fast_fading_sigma_db: float = 1.5
    deep_fade_probability: float = 0.03  # per link and ping
    deep_fade_db: tuple[float, float] = (10.0, 25.0)
    packet_loss: float = 0.10  # per link and ping
    wall_loss_db: float = 5.0
    floor_loss_db: float = 18.0
    floor_height_m: float = 4.0
    tag_height_m: float = 1.0
    receiver_height_m: float = 2.7  # when the plan does not say
    path_loss_exponent: float = 2.0  # when the plan does not say; walls are counted separately
    receiver_offset_sigma_db: float = 1.0  # real rssi_at_1m minus the configured one
    sensitivity_dbm: float = -100.0
    gateway_clock_skew_s: float = 0.015  # each gateway's fixed clock offset is uniform in +-this
    gateway_send_delay_s: float = 0.2
    # Gateways without NTP: a further fixed offset uniform in +-this, and a drift uniform in +-ppm.
    gateway_clock_offset_s: float = 0.0
    gateway_clock_drift_ppm: float = 0.0
    # Receivers that go dark (power, network): outages start at this rate per receiver-hour and last
    # a duration uniform in outage_s; nothing is reported during one.
    outages_per_hour: float = 0.0
    outage_s: tuple[float, float] = (120.0, 600.0)


@dataclass(frozen=True, slots=True)
class MotionModel:
    ping_interval_s: float = 2.0
    # When set, each tag draws its own ping interval uniformly in this range (e.g. (5, 10) s).
    ping_interval_range_s: tuple[float, float] | None = None
    # Of the assets parked in a corridor, this share is left right at a door (0.5 m out from it).
    corridor_door_share: float = 0.0
    mobile_share: float = 0.2
    rest_median_s: float = 45 * 60.0
    mobile_rest_median_s: float = 4 * 60.0
    rest_sigma: float = 0.9  # log-normal spread of rest durations
    rest_bounds_s: tuple[float, float] = (60.0, 8 * 3600.0)
    mobile_rest_bounds_s: tuple[float, float] = (30.0, 3600.0)
    walk_speed_mps: tuple[float, float] = (0.8, 1.4)
    wall_clearance_m: float = 0.4  # resting spots keep this far from walls
    off_site_share: float = 0.5  # of trips that end in an exit room, how many leave the site
    off_site_median_s: float = 3 * 3600.0
    battery_range: tuple[float, float] = (35.0, 100.0)
    low_battery_share: float = 0.04  # tags that start nearly flat, so low-battery alerts have something to show
    battery_drain_per_ping: float = 2e-5  # percent
    destination_weights: Mapping[str, float] = field(default_factory=lambda: dict(DESTINATION_WEIGHTS))

    def busier(self, factor: float) -> MotionModel:
        """The same world with rests ``factor`` times shorter: equipment moves more often, at walking pace."""
        if factor <= 0:
            raise ValueError("the speed factor must be more than 0")
        return replace(
            self,
            rest_median_s=self.rest_median_s / factor,
            mobile_rest_median_s=self.mobile_rest_median_s / factor,
            rest_bounds_s=(self.rest_bounds_s[0] / factor, self.rest_bounds_s[1] / factor),
            mobile_rest_bounds_s=(self.mobile_rest_bounds_s[0] / factor, self.mobile_rest_bounds_s[1] / factor),
            off_site_median_s=self.off_site_median_s / factor,
        )


@dataclass(frozen=True, slots=True)
class SimTag:
    tag_id: str
    start_room_id: int | None = None
    mobile: bool | None = None  # None: drawn with MotionModel.mobile_share
    # A script instead of random trips: (seconds after the start, room_id) to be wheeled to, in order.
    itinerary: tuple[tuple[float, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Reception:
    gateway_id: str
    rssi: int
    ts: float  # gateway clock


@dataclass(frozen=True, slots=True)
class Transmission:
    tag_id: str
    ts: float  # the tag's true transmission time
    room_id: int  # ground truth
    floor_id: int
    x: float
    y: float
    battery: int
    receptions: tuple[Reception, ...]


@dataclass(frozen=True, slots=True)
class TruthChange:
    tag_id: str
    ts: float
    room_id: int | None  # None: the tag left the site
    room_code: str


@dataclass(frozen=True, slots=True)
class DeliveryModel:
    """How gateway batches reach the server: each gateway posts what it heard once a second; a batch
    arrives send_delay_s later, a share of them much later (a congested uplink, a retry), hence out of
    order, and a share is delivered twice (MQTT QoS 1 redelivery, an HTTP retry after a lost answer)."""

    send_delay_s: tuple[float, float] = (0.1, 0.3)
    late_share: float = 0.0
    late_s: tuple[float, float] = (1.0, 10.0)
    duplicate_share: float = 0.0
    duplicate_after_s: tuple[float, float] = (0.5, 5.0)


@dataclass(frozen=True, slots=True)
class DeliveredBatch:
    arrival: float  # server time
    gateway_id: str
    sightings: tuple[tuple[str, int, float, int], ...]  # (tag, rssi, gateway ts, battery)


class GatewayDelivery:
    """Turns each second's transmissions into per-gateway batches and hands them over in ARRIVAL order."""

    def __init__(self, model: DeliveryModel | None = None, *, seed: int = 0):
        self.model = model or DeliveryModel()
        self.rng = np.random.default_rng(seed)
        self._queue: list[tuple[float, int, DeliveredBatch]] = []
        self._seq = 0

    def send(self, transmissions: Iterable[Transmission], *, now: float) -> None:
        """Queue the batches of the second that ended at `now` (one per gateway that heard something)."""
        per_gateway: dict[str, list] = defaultdict(list)
        for tx in transmissions:
            for rx in tx.receptions:
                per_gateway[rx.gateway_id].append((tx.tag_id, rx.rssi, rx.ts, tx.battery))
        m, rng = self.model, self.rng
        for gateway_id in sorted(per_gateway):
            delay = float(rng.uniform(*m.send_delay_s))
            if m.late_share > 0 and rng.random() < m.late_share:
                delay += float(rng.uniform(*m.late_s))
            batch = DeliveredBatch(now + delay, gateway_id, tuple(sorted(per_gateway[gateway_id], key=lambda s: s[2])))
            self._put(batch)
            if m.duplicate_share > 0 and rng.random() < m.duplicate_share:
                again = batch.arrival + float(rng.uniform(*m.duplicate_after_s))
                self._put(DeliveredBatch(again, gateway_id, batch.sightings))

    def _put(self, batch: DeliveredBatch) -> None:
        heapq.heappush(self._queue, (batch.arrival, self._seq, batch))
        self._seq += 1

    def due(self, now: float) -> list[DeliveredBatch]:
        """The batches that have arrived by `now`, in arrival order."""
        out = []
        while self._queue and self._queue[0][0] <= now:
            out.append(heapq.heappop(self._queue)[2])
        return out

    def drain(self) -> list[DeliveredBatch]:
        return self.due(math.inf)


def format_ts(epoch_s: float) -> str:
    """Epoch seconds -> ISO 8601 UTC with milliseconds, as gateways send it: 2026-11-22T08:00:00.512Z."""
    ms = int(round(epoch_s * 1000))
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def gateway_bodies(transmissions: Iterable[Transmission], *, sent_at: float, tag_format=None) -> list[dict]:
    """Gateway batch bodies (docs/design.md §5), one per gateway that heard something, in gateway order."""
    per_gateway: dict[str, list[dict]] = defaultdict(list)
    for tx in transmissions:
        tag = tag_format(tx.tag_id) if tag_format else tx.tag_id
        for rx in tx.receptions:
            per_gateway[rx.gateway_id].append(
                {"tag": tag, "rssi": rx.rssi, "ts": format_ts(rx.ts), "battery": tx.battery, "_t": rx.ts}
            )
    bodies = []
    for gateway_id in sorted(per_gateway):
        items = sorted(per_gateway[gateway_id], key=lambda item: item["_t"])
        for item in items:
            del item["_t"]
        bodies.append({"gateway": gateway_id, "sent_at": format_ts(sent_at), "sightings": items})
    return bodies


# --------------------------------------------------------------------------- geometry


class _FloorRaster:
    """Room index per 0.25 m cell of one floor, for counting the walls a radio path crosses."""

    def __init__(self, polygons: Sequence[Polygon], room_indexes: Sequence[int]):
        minx = min(p.bounds[0] for p in polygons) - 2.0
        miny = min(p.bounds[1] for p in polygons) - 2.0
        maxx = max(p.bounds[2] for p in polygons) + 2.0
        maxy = max(p.bounds[3] for p in polygons) + 2.0
        self.x0, self.y0 = minx, miny
        self.nx = int(math.ceil((maxx - minx) / RASTER_M))
        self.ny = int(math.ceil((maxy - miny) / RASTER_M))
        xs = minx + (np.arange(self.nx) + 0.5) * RASTER_M
        ys = miny + (np.arange(self.ny) + 0.5) * RASTER_M
        gx, gy = np.meshgrid(xs, ys)
        points = shapely.points(gx.ravel(), gy.ravel())
        tree = STRtree(list(polygons))
        grid = np.full(points.shape[0], -1, dtype=np.int32)
        index_map = np.asarray(room_indexes, dtype=np.int32)
        hit_point, hit_poly = tree.query(points, predicate="intersects")
        grid[hit_point] = index_map[hit_poly]
        empty = np.flatnonzero(grid < 0)
        if empty.size:
            near_point, near_poly = tree.query(points[empty], predicate="dwithin", distance=GAP_FILL_M)
            grid[empty[near_point]] = index_map[near_poly]
        self.grid = grid.reshape(self.ny, self.nx)

    def walls(self, x: float, y: float, rx: np.ndarray, ry: np.ndarray) -> np.ndarray:
        """Number of room boundaries on the straight line from (x, y) to each (rx, ry)."""
        if rx.size == 0:
            return np.zeros(0, dtype=np.int32)
        length = float(np.hypot(rx - x, ry - y).max())
        samples = max(2, int(length / (RASTER_M * 0.8)) + 2)
        t = np.linspace(0.0, 1.0, samples)
        px = x + (rx - x)[:, None] * t
        py = y + (ry - y)[:, None] * t
        ix = np.clip(((px - self.x0) / RASTER_M).astype(np.int32), 0, self.nx - 1)
        iy = np.clip(((py - self.y0) / RASTER_M).astype(np.int32), 0, self.ny - 1)
        cells = self.grid[iy, ix]
        return (cells[:, 1:] != cells[:, :-1]).sum(axis=1).astype(np.int32)


@dataclass(slots=True)
class _Door:
    """The middle of a shared wall, and the wall's unit normal (to step through it)."""

    x: float
    y: float
    nx: float
    ny: float

    def inside(self, polygon: Polygon, depth: float = DOOR_STEP_M) -> tuple[float, float]:
        """A point `depth` from the door on the side of `polygon` (the door itself if neither side is)."""
        for sign in (1.0, -1.0):
            x, y = self.x + sign * self.nx * depth, self.y + sign * self.ny * depth
            if polygon.contains(Point(x, y)):
                return x, y
        return self.x, self.y


class _Building:
    """Rooms, receivers, rasters and the room graph of one building."""

    def __init__(self, plan: SitePlan, building_id: int, radio: RadioModel, rng: np.random.Generator):
        self.floors = {f.floor_id: f for f in plan.floors if f.building_id == building_id}
        self.rooms: list[RoomGeom] = [r for r in plan.rooms if r.floor_id in self.floors]
        self.polygons: list[Polygon] = [Polygon(r.exterior).buffer(0) for r in self.rooms]
        self.receivers: list[ReceiverGeom] = [r for r in plan.receivers if r.floor_id in self.floors]
        self.rx_x = np.array([r.x for r in self.receivers], dtype=float)
        self.rx_y = np.array([r.y for r in self.receivers], dtype=float)
        self.rx_level = np.array([self.floors[r.floor_id].level for r in self.receivers], dtype=float)
        self.rx_height = np.array(
            [r.height_m if r.height_m is not None else radio.receiver_height_m for r in self.receivers], dtype=float
        )
        self.rx_p1m = np.array([r.rssi_at_1m for r in self.receivers], dtype=float) + rng.normal(
            0.0, radio.receiver_offset_sigma_db, len(self.receivers)
        )
        self.rx_n = np.array([r.path_loss_exponent or radio.path_loss_exponent for r in self.receivers], dtype=float)
        self.rx_ids = [r.gateway_id for r in self.receivers]
        self.rx_skew = rng.uniform(-radio.gateway_clock_skew_s, radio.gateway_clock_skew_s, len(self.receivers))
        # Drawn only when asked for, so the default world stays the same seed for seed.
        n_rx = len(self.receivers)
        self.rx_drift = np.zeros(n_rx)
        if radio.gateway_clock_offset_s > 0:
            self.rx_skew = self.rx_skew + rng.uniform(-radio.gateway_clock_offset_s, radio.gateway_clock_offset_s, n_rx)
        if radio.gateway_clock_drift_ppm > 0:
            self.rx_drift = rng.uniform(-radio.gateway_clock_drift_ppm, radio.gateway_clock_drift_ppm, n_rx) * 1e-6
        self.rx_outages: list[list[tuple]] = [[] for _ in range(n_rx)]
        self.outage_seed = int(rng.integers(1 << 31)) if radio.outages_per_hour > 0 else None
        self.rasters: dict[int, _FloorRaster] = {}
        self.trees: dict[int, tuple[STRtree, list[int]]] = {}
        for floor_id in self.floors:
            indexes = [i for i, r in enumerate(self.rooms) if r.floor_id == floor_id]
            if not indexes:
                continue
            polys = [self.polygons[i] for i in indexes]
            self.rasters[floor_id] = _FloorRaster(polys, indexes)
            self.trees[floor_id] = (STRtree(polys), indexes)
        # Receivers a tag on a floor can hear: its own floor and the ones just above and below.
        self.audible: dict[int, np.ndarray] = {}
        for floor_id, floor in self.floors.items():
            self.audible[floor_id] = np.flatnonzero(np.abs(self.rx_level - floor.level) <= 1)
        self._build_graph()

    def _build_graph(self) -> None:
        """Doors: a room opens onto each passage (corridor, lobby, ...) it shares a wall with. Two other
        rooms connect directly only when one of them has no passage next to it (an inner room, a suite)."""
        walls: list[tuple[int, int, _Door]] = []
        for tree, indexes in self.trees.values():
            polys = [self.polygons[i] for i in indexes]
            left, right = tree.query(polys, predicate="dwithin", distance=0.15)
            for a_local, b_local in zip(left.tolist(), right.tolist(), strict=True):
                if a_local >= b_local:
                    continue
                a, b = indexes[a_local], indexes[b_local]
                door = _door_in(self.polygons[a].buffer(0.15).intersection(self.polygons[b].boundary))
                if door is not None:
                    walls.append((a, b, door))

        def passage(i: int) -> bool:
            return self.rooms[i].room_type in PASSAGE_TYPES

        opens_onto_passage = {a for a, b, _ in walls if passage(b)} | {b for a, b, _ in walls if passage(a)}
        self.neighbours: dict[int, list[tuple[int, _Door]]] = defaultdict(list)
        for a, b, door in walls:
            if passage(a) or passage(b) or a not in opens_onto_passage or b not in opens_onto_passage:
                self.neighbours[a].append((b, door))
                self.neighbours[b].append((a, door))

    def room_at(self, floor_id: int, x: float, y: float) -> int | None:
        tree, indexes = self.trees[floor_id]
        hits = tree.query(Point(x, y), predicate="intersects")
        if hits.size == 0:
            return None
        return indexes[int(hits.min())]

    def rooms_along(self, floor_id: int, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Room index at each point (-1 outside every room)."""
        tree, indexes = self.trees[floor_id]
        out = np.full(xs.shape[0], -1, dtype=np.int64)
        point_idx, poly_idx = tree.query(shapely.points(xs, ys), predicate="intersects")
        # where a point is on a shared wall, keep the first room found: any of them is right
        order = np.argsort(point_idx, kind="stable")[::-1]
        out[point_idx[order]] = np.asarray(indexes)[poly_idx[order]]
        return out

    def route(self, start: int, goal: int) -> list[tuple[int, _Door]] | None:
        """Rooms passed on the way from start to goal, each with the door it is entered through."""
        if start == goal:
            return []
        best = {start: 0.0}
        previous: dict[int, tuple[int, _Door]] = {}
        queue = [(0.0, start)]
        centroids = self._centroids()
        while queue:
            cost, room = heapq.heappop(queue)
            if room == goal:
                break
            if cost > best.get(room, math.inf):
                continue
            for other, door in self.neighbours.get(room, ()):
                cx, cy = centroids[other]
                step = math.hypot(cx - door.x, cy - door.y) + 1.0
                if other != goal and self.rooms[other].room_type not in PASSAGE_TYPES:
                    step *= 8.0  # cut through a patient room only when nothing else connects
                new_cost = cost + step
                if new_cost < best.get(other, math.inf):
                    best[other] = new_cost
                    previous[other] = (room, door)
                    heapq.heappush(queue, (new_cost, other))
        if goal not in previous:
            return None
        hops = []
        room = goal
        while room != start:
            before, door = previous[room]
            hops.append((room, door))
            room = before
        hops.reverse()
        return hops

    def _centroids(self) -> list[tuple[float, float]]:
        if not hasattr(self, "_centroid_cache"):
            self._centroid_cache = [(p.centroid.x, p.centroid.y) for p in self.polygons]
        return self._centroid_cache

    def reachable(self, start: int) -> set[int]:
        seen, stack = {start}, [start]
        while stack:
            room = stack.pop()
            for other, _ in self.neighbours.get(room, ()):
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
        return seen


def _door_in(shared) -> _Door | None:
    if shared.is_empty:
        return None
    lines = []
    if isinstance(shared, LineString):
        lines = [shared]
    elif isinstance(shared, MultiLineString):
        lines = list(shared.geoms)
    elif hasattr(shared, "geoms"):
        lines = [g for g in shared.geoms if isinstance(g, LineString | MultiLineString)]
        lines = [part for g in lines for part in (g.geoms if isinstance(g, MultiLineString) else [g])]
    lines = [line for line in lines if line.length >= DOOR_MIN_M]
    if not lines:
        return None
    longest = max(lines, key=lambda line: line.length)
    middle = longest.interpolate(0.5, normalized=True)
    (x0, y0), (x1, y1) = longest.coords[0], longest.coords[-1]
    length = math.hypot(x1 - x0, y1 - y0) or 1.0
    return _Door(middle.x, middle.y, -(y1 - y0) / length, (x1 - x0) / length)


# --------------------------------------------------------------------------- tags


@dataclass(slots=True)
class _TagState:
    tag_id: str
    building: _Building
    mobile: bool
    floor_id: int
    room: int  # index into building.rooms
    x: float
    y: float
    battery: float
    next_ping: float
    rest_until: float
    # walking: piecewise-linear path with times, and the room changes along it
    path_t: np.ndarray | None = None
    path_x: np.ndarray | None = None
    path_y: np.ndarray | None = None
    path_changes: list[tuple[float, int]] = field(default_factory=list)
    destination: int | None = None
    off_site_until: float | None = None
    script: list[tuple[float, int]] | None = None  # absolute times and room indexes still to visit
    # radio state per audible receiver (index into building.receivers)
    shadow_static: np.ndarray | None = None
    shadow_drift: np.ndarray | None = None
    shadow_at: float = 0.0
    shadow_x: float = 0.0
    shadow_y: float = 0.0
    walls_cache: tuple[float, float, np.ndarray] | None = None
    interval: float | None = None  # its own ping interval (MotionModel.ping_interval_range_s), else the model's


class Simulator:
    """Steps a population of tags through time and reports what the receivers hear.

    ``advance(seconds)`` simulates the next interval and returns its transmissions in time order; the
    ground-truth room changes it saw are appended to ``truth`` (the caller writes them elsewhere).
    """

    def __init__(
        self,
        plan: SitePlan,
        tags: Sequence[SimTag | str],
        *,
        start_ts: float,
        seed: int = 0,
        radio: RadioModel | None = None,
        motion: MotionModel | None = None,
    ):
        if not plan.rooms:
            raise ValueError("the floor plan has no rooms to simulate")
        if not plan.receivers:
            raise ValueError("the floor plan has no receivers to hear the tags")
        self.radio = radio or RadioModel()
        self.motion = motion or MotionModel()
        self.rng = np.random.default_rng(seed)
        self.now = float(start_ts)
        self.start_ts = float(start_ts)
        self.truth: list[TruthChange] = []
        floors = {f.floor_id: f for f in plan.floors}
        building_ids = sorted({floors[r.floor_id].building_id for r in plan.receivers if r.floor_id in floors})
        self.buildings = {b: _Building(plan, b, self.radio, self.rng) for b in building_ids}
        # Where tags may start or be parked: rooms of buildings that have receivers.
        self._room_home: dict[int, tuple[_Building, int]] = {}
        for building in self.buildings.values():
            for index, room in enumerate(building.rooms):
                if room.floor_id in building.rasters:
                    self._room_home[room.room_id] = (building, index)
        if not self._room_home:
            raise ValueError("no room shares a building with a receiver")
        self.tags: list[_TagState] = [self._new_tag(t if isinstance(t, SimTag) else SimTag(str(t))) for t in tags]

    # ----------------------------------------------------------------- setup

    def _weights(self, building: _Building, candidates: Sequence[int]) -> np.ndarray:
        weights = self.motion.destination_weights
        w = np.array([weights.get(building.rooms[i].room_type, 0.2) for i in candidates], dtype=float)
        if w.sum() <= 0:
            w = np.ones(len(candidates))
        return w / w.sum()

    def _new_tag(self, spec: SimTag) -> _TagState:
        rng, motion = self.rng, self.motion
        if spec.start_room_id in self._room_home:
            building, room = self._room_home[spec.start_room_id]
        else:
            homes = [v for v in self._room_home.values() if v[0].rooms[v[1]].room_type != "exit"]
            homes = homes or list(self._room_home.values())
            building = homes[0][0] if len(self.buildings) == 1 else None
            if building is None:
                building = list(self.buildings.values())[int(rng.integers(len(self.buildings)))]
            candidates = [i for b, i in homes if b is building]
            room = int(rng.choice(candidates, p=self._weights(building, candidates)))
        mobile = spec.mobile if spec.mobile is not None else bool(rng.random() < motion.mobile_share)
        x, y = self._spot_in(building, room)
        if rng.random() < motion.low_battery_share:
            battery = float(rng.uniform(5.0, 19.0))
        else:
            battery = float(rng.uniform(*motion.battery_range))
        floor_id = building.rooms[room].floor_id
        script = None
        if spec.itinerary:
            script = []
            for offset, room_id in sorted(spec.itinerary):
                home = self._room_home.get(room_id)
                if home is None or home[0] is not building:
                    raise ValueError(f"itinerary room {room_id} is not in the building of tag {spec.tag_id}")
                script.append((self.now + float(offset), home[1]))
        phase = float(rng.uniform(0.0, 1.0))
        state = _TagState(
            tag_id=spec.tag_id,
            building=building,
            mobile=mobile,
            floor_id=floor_id,
            room=room,
            x=x,
            y=y,
            battery=battery,
            next_ping=self.now,  # its phase: below, once its own interval is known
            rest_until=self.now + self._rest_duration(mobile) * float(rng.uniform(0.0, 1.0)),
            script=script,
        )
        if script is not None:
            state.rest_until = script[0][0]
        if motion.ping_interval_range_s is not None:
            low, high = motion.ping_interval_range_s
            state.interval = float(rng.uniform(low, high))
        # The first ping at a phase uniform over the tag's own interval, as the tags of a running site are. (Until
        # 2026-12-08 over ping_interval_s: with intervals of 5-10 s, every tag pinged in the first 2 s and then none
        # for seconds, a lull no real site has.)
        state.next_ping = self.now + phase * (state.interval or motion.ping_interval_s)
        self.truth.append(TruthChange(spec.tag_id, self.now, building.rooms[room].room_id, building.rooms[room].code))
        return state

    def _rest_duration(self, mobile: bool) -> float:
        motion = self.motion
        median = motion.mobile_rest_median_s if mobile else motion.rest_median_s
        low, high = motion.mobile_rest_bounds_s if mobile else motion.rest_bounds_s
        return float(np.clip(median * math.exp(self.rng.normal(0.0, motion.rest_sigma)), low, high))

    def _spot_in(self, building: _Building, room: int) -> tuple[float, float]:
        polygon = building.polygons[room]
        share = self.motion.corridor_door_share
        if share > 0 and building.rooms[room].room_type == "corridor" and self.rng.random() < share:
            # Parked in the corridor right outside a room's door (the hardest place to call).
            doors = [door for other, door in building.neighbours.get(room, ()) if other != room]
            if doors:
                door = doors[int(self.rng.integers(len(doors)))]
                return door.inside(polygon, depth=0.5)
        inner = polygon.buffer(-self.motion.wall_clearance_m)
        area = inner if not inner.is_empty and inner.area > 0.05 else polygon
        minx, miny, maxx, maxy = area.bounds
        for _ in range(200):
            x, y = float(self.rng.uniform(minx, maxx)), float(self.rng.uniform(miny, maxy))
            if area.contains(Point(x, y)):
                return x, y
        point = area.representative_point()
        return point.x, point.y

    # ----------------------------------------------------------------- motion

    def _next_rest(self, tag: _TagState, at: float) -> float:
        if tag.script is not None:
            return tag.script[0][0] if tag.script else math.inf
        return at + self._rest_duration(tag.mobile)

    def _start_trip(self, tag: _TagState, at: float) -> None:
        building, rng = tag.building, self.rng
        if tag.script is not None:
            goal = tag.script.pop(0)[1]
        else:
            reachable = [i for i in building.reachable(tag.room) if i != tag.room]
            if not reachable:
                tag.rest_until = self._next_rest(tag, at)
                return
            goal = int(rng.choice(reachable, p=self._weights(building, reachable)))
        hops = building.route(tag.room, goal)
        if not hops:
            tag.rest_until = self._next_rest(tag, at)
            return
        gx, gy = self._spot_in(building, goal)
        points = [(tag.x, tag.y)]
        room = tag.room
        for next_room, door in hops:
            self._walk_within(points, building.polygons[room], door.inside(building.polygons[room]))
            points.append((door.x, door.y))
            points.append(door.inside(building.polygons[next_room]))
            room = next_room
        self._walk_within(points, building.polygons[goal], (gx, gy))
        px, py = [p[0] for p in points], [p[1] for p in points]
        path_x, path_y = np.array(px), np.array(py)
        seg = np.hypot(np.diff(path_x), np.diff(path_y))
        speed = float(rng.uniform(*self.motion.walk_speed_mps))
        path_t = at + np.concatenate([[0.0], np.cumsum(seg)]) / speed
        tag.path_t, tag.path_x, tag.path_y = path_t, path_x, path_y
        tag.destination = goal
        tag.path_changes = self._changes_along(tag, path_t, path_x, path_y)

    @staticmethod
    def _walk_within(points: list, polygon: Polygon, target: tuple[float, float]) -> None:
        """Walk from the last point to target inside one room; round a corner (an L-shaped corridor)
        through a point inside the room when the straight line would leave it."""
        if not polygon.buffer(0.3).contains(LineString([points[-1], target])):
            inside = polygon.representative_point()
            points.append((inside.x, inside.y))
        points.append(target)

    def _changes_along(self, tag: _TagState, path_t, path_x, path_y) -> list[tuple[float, int]]:
        total = float(path_t[-1] - path_t[0])
        length = float(np.hypot(np.diff(path_x), np.diff(path_y)).sum())
        samples = max(2, int(length / PATH_STEP_M) + 1)
        ts = np.linspace(path_t[0], path_t[-1], samples) if total > 0 else np.array([path_t[0]])
        xs = np.interp(ts, path_t, path_x)
        ys = np.interp(ts, path_t, path_y)
        rooms = tag.building.rooms_along(tag.floor_id, xs, ys)
        changes, current = [], tag.room
        for t, room in zip(ts.tolist(), rooms.tolist(), strict=True):
            if room >= 0 and room != current:
                changes.append((t, room))
                current = room
        return changes

    def _move(self, tag: _TagState, t: float) -> None:
        """Bring the tag's position, room and plans up to time t, recording truth changes."""
        while True:
            if tag.off_site_until is not None:
                if t < tag.off_site_until:
                    return
                back = tag.off_site_until
                tag.off_site_until = None
                room = tag.building.rooms[tag.room]
                self.truth.append(TruthChange(tag.tag_id, back, room.room_id, room.code))
                tag.rest_until = self._next_rest(tag, back)
                continue
            if tag.path_t is None:
                if t < tag.rest_until:
                    return
                self._start_trip(tag, tag.rest_until)
                if tag.path_t is None:
                    continue
            # walking
            while tag.path_changes and tag.path_changes[0][0] <= t:
                when, room = tag.path_changes.pop(0)
                tag.room = room
                geom = tag.building.rooms[room]
                self.truth.append(TruthChange(tag.tag_id, when, geom.room_id, geom.code))
            if t < tag.path_t[-1]:
                tag.x = float(np.interp(t, tag.path_t, tag.path_x))
                tag.y = float(np.interp(t, tag.path_t, tag.path_y))
                return
            arrived = float(tag.path_t[-1])
            tag.x, tag.y = float(tag.path_x[-1]), float(tag.path_y[-1])
            for when, room in tag.path_changes:  # numerical leftovers at the very end
                tag.room = room
                geom = tag.building.rooms[room]
                self.truth.append(TruthChange(tag.tag_id, when, geom.room_id, geom.code))
            tag.path_changes = []
            tag.path_t = tag.path_x = tag.path_y = None
            tag.walls_cache = None
            destination = tag.destination
            tag.destination = None
            if (
                destination is not None
                and tag.building.rooms[destination].room_type == "exit"
                and self.rng.random() < self.motion.off_site_share
            ):
                away = float(self.motion.off_site_median_s * math.exp(self.rng.normal(0.0, 0.7)))
                tag.off_site_until = arrived + away
                self.truth.append(TruthChange(tag.tag_id, arrived + 1.0, None, ""))
                continue
            tag.rest_until = self._next_rest(tag, arrived)

    # ----------------------------------------------------------------- radio

    def _hear(self, tag: _TagState, t: float) -> tuple[Reception, ...]:
        radio, rng, building = self.radio, self.rng, tag.building
        audible = building.audible[tag.floor_id]
        if audible.size == 0:
            return ()
        level = building.floors[tag.floor_id].level
        walking = tag.path_t is not None
        if walking or tag.walls_cache is None or tag.walls_cache[:2] != (tag.x, tag.y):
            walls = building.rasters[tag.floor_id].walls(tag.x, tag.y, building.rx_x[audible], building.rx_y[audible])
            if not walking:
                tag.walls_cache = (tag.x, tag.y, walls)
        else:
            walls = tag.walls_cache[2]
        floors = np.abs(building.rx_level[audible] - level)
        dz = floors * radio.floor_height_m + building.rx_height[audible] - radio.tag_height_m
        distance = np.maximum(
            np.sqrt((building.rx_x[audible] - tag.x) ** 2 + (building.rx_y[audible] - tag.y) ** 2 + dz**2), 0.3
        )
        mean = (
            building.rx_p1m[audible]
            - 10.0 * building.rx_n[audible] * np.log10(distance)
            - radio.wall_loss_db * walls
            - radio.floor_loss_db * floors
        )
        rssi = mean + self._shadowing(tag, t, audible.size)
        rssi += rng.normal(0.0, radio.fast_fading_sigma_db, audible.size)
        fades = rng.random(audible.size) < radio.deep_fade_probability
        if fades.any():
            rssi[fades] -= rng.uniform(*radio.deep_fade_db, int(fades.sum()))
        heard = (rssi >= radio.sensitivity_dbm) & (rng.random(audible.size) >= radio.packet_loss)
        heard_idx = np.flatnonzero(heard)
        receptions = []
        for k in heard_idx.tolist():
            receiver = int(audible[k])
            if building.outage_seed is not None and self._dark(building, receiver, t):
                continue
            clock = float(building.rx_skew[receiver]) + float(building.rx_drift[receiver]) * (t - self.start_ts)
            ts = t + clock + float(rng.uniform(0.0, 0.003))
            receptions.append(Reception(building.rx_ids[receiver], int(round(max(-120.0, min(0.0, rssi[k])))), ts))
        return tuple(receptions)

    def _dark(self, building: _Building, receiver: int, t: float) -> bool:
        """Is the receiver in an outage at t? Each receiver's outages come from its own random stream,
        drawn as far as needed, so the answer does not depend on the order of the questions."""
        outages = building.rx_outages[receiver]
        radio = self.radio
        if not outages:
            stream = np.random.default_rng((building.outage_seed, receiver))
            outages.append((self.start_ts, self.start_ts, stream))  # sentinel carrying the stream
        stream = outages[0][2]
        while outages[-1][1] <= t:
            start = outages[-1][1] + float(stream.exponential(3600.0 / radio.outages_per_hour))
            outages.append((start, start + float(stream.uniform(*radio.outage_s)), None))
        return any(start <= t < end for start, end, _ in outages[-3:])

    def outages(self) -> dict[str, list[tuple[float, float]]]:
        """The receiver outages drawn so far (gateway id -> (start, end) pairs), for the benchmarks."""
        out = {}
        for building in self.buildings.values():
            for i, gateway_id in enumerate(building.rx_ids):
                spans = [(a, b) for a, b, _ in building.rx_outages[i][1:] if a < self.now]
                if spans:
                    out[gateway_id] = spans
        return out

    def _shadowing(self, tag: _TagState, t: float, size: int) -> np.ndarray:
        radio, rng = self.radio, self.rng
        sigma = radio.shadowing_sigma_db
        static_sigma = sigma * math.sqrt(radio.shadowing_static_share)
        drift_sigma = sigma * math.sqrt(1.0 - radio.shadowing_static_share)
        if tag.shadow_static is None or tag.shadow_static.size != size:
            tag.shadow_static = rng.normal(0.0, static_sigma, size)
            tag.shadow_drift = rng.normal(0.0, drift_sigma, size)
        else:
            moved = math.hypot(tag.x - tag.shadow_x, tag.y - tag.shadow_y)
            if moved > 0:
                rho = math.exp(-moved / radio.shadowing_decorrelation_m)
                tag.shadow_static = rho * tag.shadow_static + math.sqrt(1 - rho * rho) * rng.normal(
                    0.0, static_sigma, size
                )
            dt = max(0.0, t - tag.shadow_at)
            rho = math.exp(-dt / radio.shadowing_tau_s)
            tag.shadow_drift = rho * tag.shadow_drift + math.sqrt(1 - rho * rho) * rng.normal(0.0, drift_sigma, size)
        tag.shadow_at, tag.shadow_x, tag.shadow_y = t, tag.x, tag.y
        return tag.shadow_static + tag.shadow_drift

    # ----------------------------------------------------------------- stepping

    def advance(self, seconds: float = 1.0) -> list[Transmission]:
        """Simulate [now, now + seconds) and return the transmissions in it, in time order."""
        end = self.now + seconds
        interval = self.motion.ping_interval_s
        out: list[Transmission] = []
        for tag in self.tags:
            while tag.next_ping < end:
                t = tag.next_ping
                # BLE advertising: the interval plus a random 0-10 ms delay
                tag.next_ping = t + (tag.interval or interval) + float(self.rng.uniform(0.0, 0.010))
                self._move(tag, t)
                if tag.off_site_until is not None:
                    continue
                tag.battery = max(0.0, tag.battery - self.motion.battery_drain_per_ping)
                receptions = self._hear(tag, t)
                room = tag.building.rooms[tag.room]
                out.append(
                    Transmission(
                        tag.tag_id, t, room.room_id, tag.floor_id, tag.x, tag.y, int(round(tag.battery)), receptions
                    )
                )
        for tag in self.tags:  # truth for moves finished between pings
            self._move(tag, end)
        self.now = end
        out.sort(key=lambda tx: tx.ts)
        return out

    def drain_truth(self) -> list[TruthChange]:
        """The truth changes recorded since the last call, in time order."""
        changes = sorted(self.truth, key=lambda c: (c.ts, c.tag_id))
        self.truth = []
        return changes
