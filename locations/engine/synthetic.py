"""Synthetic ward plans and a seeded radio model, for the engine's unit tests and micro-benchmark.

This is not the product's simulator (locations/simulator.py): it is a small, independent
generator with its own wall counting (exact polygon-boundary crossings with shapely, not the
engine's raster), so the tests do not simply feed the engine's own model back to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.ops import unary_union

from locations.engine.types import FloorGeom, ReceiverGeom, RoomGeom, Sighting, SitePlan


def rect(x0: float, y0: float, x1: float, y1: float) -> tuple[tuple[float, float], ...]:
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))


def _widths(rng: np.random.Generator, length: float, low: float, high: float) -> list[float]:
    widths: list[float] = []
    while sum(widths) < length - high:
        widths.append(float(rng.uniform(low, high)))
    rest = length - sum(widths)
    if rest < low and widths:
        widths[-1] += rest
    else:
        widths.append(rest)
    return widths


def _row(rng, x_start, length, y0, y1, low, high, kind="patient") -> list[tuple[str, tuple]]:
    rooms, x = [], x_start
    for width in _widths(rng, length, low, high):
        rooms.append((kind, rect(x, y0, x + width, y1)))
        x += width
    return rooms


def _corridor(x0, x1, y0, y1, section_m: float) -> list[tuple[str, tuple]]:
    n = max(1, round((x1 - x0) / section_m))
    edges = np.linspace(x0, x1, n + 1)
    return [("corridor", rect(float(a), y0, float(b), y1)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def ward_rooms(rng: np.random.Generator, layout: str, rooms_per_side: int) -> list[tuple[str, tuple]]:
    """Room polygons of one ward floor: ("room_type", exterior ring)."""
    depth = float(rng.uniform(4.5, 6.0))
    corridor_w = float(rng.uniform(2.2, 3.0))
    low, high = 3.4, 5.2
    length = rooms_per_side * float(rng.uniform(4.0, 4.6))
    section = float(rng.uniform(7.0, 10.0))
    rooms: list[tuple[str, tuple]] = []
    if layout == "single":
        rooms += _row(rng, 0.0, length, 0.0, depth, low, high)
        rooms += _corridor(0.0, length, depth, depth + corridor_w, section)
        rooms += _row(rng, 0.0, length, depth + corridor_w, 2 * depth + corridor_w, low, high)
    elif layout == "racetrack":
        core = float(rng.uniform(5.0, 8.0))
        y_c1, y_core, y_c2 = depth, depth + corridor_w, depth + corridor_w + core
        y_top = y_c2 + corridor_w
        rooms += _row(rng, 0.0, length, 0.0, depth, low, high)
        rooms += _corridor(0.0, length, y_c1, y_core, section)
        rooms += [
            ("corridor", rect(0.0, y_core, corridor_w, y_c2)),
            ("corridor", rect(length - corridor_w, y_core, length, y_c2)),
        ]
        core_rooms = _row(rng, corridor_w, length - 2 * corridor_w, y_core, y_c2, 4.0, 8.0, kind="storage")
        kinds = ["clean_utility", "soiled_utility", "nurse_station", "storage", "biomed", "procedure"]
        rooms += [(kinds[i % len(kinds)], ring) for i, (_, ring) in enumerate(core_rooms)]
        rooms += _corridor(0.0, length, y_c2, y_top, section)
        rooms += _row(rng, 0.0, length, y_top, y_top + depth, low, high)
    else:
        raise ValueError(f"unknown layout {layout!r}")
    return rooms


def ward_plan(
    *,
    floors: int = 1,
    layout: str = "single",
    rooms_per_side: int = 10,
    receivers: str = "every_room",
    seed: int = 0,
    height_m: float | None = None,
) -> SitePlan:
    """A building of identical-layout ward floors, with receivers per `receivers`:
    "every_room" (one in each room and corridor section) or "every_other_room"."""
    rng = np.random.default_rng(seed)
    shape = ward_rooms(rng, layout, rooms_per_side)
    floor_geoms, room_geoms, receiver_geoms = [], [], []
    for level in range(floors):
        floor_id = level + 1
        floor_geoms.append(FloorGeom(floor_id=floor_id, building_id=1, level=level))
        counter = {"corridor": 0, "other": 0}
        for i, (room_type, ring) in enumerate(shape):
            room_id = floor_id * 1000 + i
            room_geoms.append(RoomGeom(room_id, floor_id, f"{level}{i:03d}", room_type, ring))
            kind = "corridor" if room_type == "corridor" else "other"
            counter[kind] += 1
            if receivers == "every_other_room" and counter[kind] % 2 == 0:
                continue
            polygon = Polygon(ring)
            c = polygon.centroid
            minx, miny, maxx, maxy = polygon.bounds
            jx = float(rng.uniform(-0.25, 0.25)) * (maxx - minx)
            jy = float(rng.uniform(-0.25, 0.25)) * (maxy - miny)
            receiver_geoms.append(
                ReceiverGeom(
                    gateway_id=f"gw-{level}-{i:03d}",
                    floor_id=floor_id,
                    x=c.x + jx,
                    y=c.y + jy,
                    rssi_at_1m=float(rng.uniform(-62.0, -56.0)),
                    height_m=height_m,
                )
            )
    return SitePlan(floors=tuple(floor_geoms), rooms=tuple(room_geoms), receivers=tuple(receiver_geoms))


@dataclass(frozen=True)
class RadioModel:
    """How the synthetic world turns a tag position into sightings. Independent of EngineConfig on purpose."""

    path_loss_exponent: float = 2.2
    wall_loss_db: float = 4.0
    floor_loss_db: float = 17.0
    floor_height_m: float = 4.0
    sigma_db: float = 4.0  # per-ping shadowing / noise
    static_sigma_db: float = 0.0  # shadowing fixed per (place, receiver): a still tag sees the same bias
    fade_probability: float = 0.08  # multipath fades: a reading drops by 5..20 dB
    fade_db: tuple[float, float] = (5.0, 20.0)
    packet_loss: float = 0.1
    sensitivity_dbm: float = -95.0
    double_count_shared_walls: bool = False  # count a shared wall once per room whose boundary it is
    ts_jitter_s: float = 0.02  # receivers' clocks disagree by this much


@dataclass
class Radio:
    plan: SitePlan
    model: RadioModel = field(default_factory=RadioModel)
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self._levels = {f.floor_id: f.level for f in self.plan.floors}
        self._rooms_by_floor: dict[int, list[RoomGeom]] = {}
        for room in self.plan.rooms:
            self._rooms_by_floor.setdefault(room.floor_id, []).append(room)
        self._boundaries = {}
        for floor_id, rooms in self._rooms_by_floor.items():
            rings = [Polygon(r.exterior).exterior for r in rooms]
            self._boundaries[floor_id] = (unary_union(rings), rings)
        self._polys = {r.room_id: Polygon(r.exterior) for r in self.plan.rooms}
        self._wall_cache: dict[tuple, np.ndarray] = {}
        self._static: dict[tuple, np.ndarray] = {}
        rx = self.plan.receivers
        self._rx_xy = np.array([(r.x, r.y) for r in rx])
        self._rx_level = np.array([self._levels[r.floor_id] for r in rx])
        self._rx_a = np.array([r.rssi_at_1m for r in rx])
        self._rx_h = np.array([r.height_m - 1.0 if r.height_m is not None else 0.0 for r in rx])

    def room_at(self, floor_id: int, x: float, y: float) -> int | None:
        for room in self._rooms_by_floor.get(floor_id, []):
            if shapely.contains_xy(self._polys[room.room_id], x, y):
                return room.room_id
        return None

    def _walls(self, floor_id: int, x: float, y: float) -> np.ndarray:
        key = (floor_id, round(x, 2), round(y, 2))
        cached = self._wall_cache.get(key)
        if cached is not None:
            return cached
        union, rings = self._boundaries[floor_id]
        segments = shapely.linestrings(np.stack([np.broadcast_to([x, y], self._rx_xy.shape), self._rx_xy], axis=1))
        if self.model.double_count_shared_walls:
            counts = np.zeros(len(segments))
            for ring in rings:
                counts += _points_in(shapely.intersection(segments, ring))
        else:
            counts = _points_in(shapely.intersection(segments, union))
        if len(self._wall_cache) > 50_000:
            self._wall_cache.clear()
        self._wall_cache[key] = counts
        return counts

    def mean_rssi(self, floor_id: int, x: float, y: float) -> np.ndarray:
        m = self.model
        d_level = self._rx_level - self._levels[floor_id]
        planar = np.hypot(self._rx_xy[:, 0] - x, self._rx_xy[:, 1] - y)
        dz = d_level * m.floor_height_m + self._rx_h
        dist = np.maximum(np.sqrt(planar**2 + dz**2), 1.0)
        walls = self._walls(floor_id, x, y)
        return (
            self._rx_a
            - 10 * m.path_loss_exponent * np.log10(dist)
            - m.wall_loss_db * walls
            - m.floor_loss_db * np.abs(d_level)
        )

    def ping(self, tag_id: str, floor_id: int, x: float, y: float, ts: float, gain_db: float = 0.0) -> list[Sighting]:
        """The sightings of one transmission of `tag_id` at (x, y) on `floor_id`; `gain_db` is the tag's own
        deviation from a nominal tag (its mounting, its battery)."""
        m = self.model
        rng = self.rng
        n = len(self._rx_xy)
        rssi = self.mean_rssi(floor_id, x, y) + gain_db + rng.normal(0.0, m.sigma_db, n)
        if m.static_sigma_db > 0:
            key = (floor_id, round(x, 1), round(y, 1))
            if key not in self._static:
                self._static[key] = np.random.default_rng(abs(hash(key)) % 2**32).normal(0, m.static_sigma_db, n)
            rssi = rssi + self._static[key]
        fades = rng.random(n) < m.fade_probability
        rssi = rssi - fades * rng.uniform(*m.fade_db, n)
        heard = (rssi >= m.sensitivity_dbm) & (rng.random(n) >= m.packet_loss)
        jitter = rng.uniform(-m.ts_jitter_s, m.ts_jitter_s, n)
        out = []
        for i in np.flatnonzero(heard).tolist():
            r = self.plan.receivers[i]
            out.append(
                Sighting(r.gateway_id, tag_id, float(np.clip(round(rssi[i]), -120, 0)), round(ts + jitter[i], 3))
            )
        return out


def _points_in(geoms: np.ndarray) -> np.ndarray:
    """How many crossing points each intersection result holds (a shared stretch counts once)."""
    kinds = shapely.get_type_id(geoms)
    counts = shapely.get_num_geometries(geoms).astype(np.float64)
    counts[kinds == 0] = 1  # Point
    counts[shapely.is_empty(geoms)] = 0
    return counts


def room_centre(plan: SitePlan, room_id: int) -> tuple[float, float]:
    room = next(r for r in plan.rooms if r.room_id == room_id)
    c = Polygon(room.exterior).centroid
    return c.x, c.y


def random_point_in(plan: SitePlan, room_id: int, rng: np.random.Generator, margin: float = 0.4) -> tuple[float, float]:
    room = next(r for r in plan.rooms if r.room_id == room_id)
    polygon = Polygon(room.exterior).buffer(-margin)
    minx, miny, maxx, maxy = polygon.bounds
    while True:
        x, y = float(rng.uniform(minx, maxx)), float(rng.uniform(miny, maxy))
        if shapely.contains_xy(polygon, x, y):
            return x, y


def distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])
