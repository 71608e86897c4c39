"""Compile a SitePlan once into the arrays the engine's hot path reads.

Everything geometric happens here, at plan-build time:
- each room gets a few sample points (k-means cells of its interior, each weighted by its share
  of the floor area), so a room's likelihood integrates over where in the room the tag may be;
- walls between every sample point and every receiver that could hear it are counted on a
  raster of the floor's room polygons (a change of room along the segment is a wall);
- expected RSSI and the log-probability of *not* hearing a receiver are tabulated for each
  (sample, receiver) pair, per floor, for receivers within `max_floor_span` floors;
- each receiver gets its candidate list: the sample points where it could be the loudest
  receiver, sorted by how loudly it would hear a tag there;
- room adjacency (rooms sharing a wall or touching) and two-step adjacency for the smoother.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from locations.engine.config import EngineConfig
from locations.engine.types import SitePlan

# Receiver-sample pairs that cannot hear each other point here: expected RSSI far below any
# receiver's sensitivity, and no "should have heard it" evidence.
UNHEARABLE_DBM = -150.0
# The detection floor's histograms (detection_floors): 1 dB bins of reported rssi from this level up.
FLOOR_BINS_FROM_DBM = -130
FLOOR_BINS = 120


class PlanError(ValueError):
    """The site plan cannot be used by the engine; the message names the problem."""


@dataclass(slots=True)
class CompiledPlan:
    config: EngineConfig
    # floors
    floor_ids: np.ndarray  # (F,)
    floor_level: np.ndarray  # (F,)
    floor_building: np.ndarray  # (F,)
    # rooms
    room_ids: np.ndarray  # (N,) database ids
    room_floor: np.ndarray  # (N,) floor index
    room_polygons: list[Polygon]
    room_display: np.ndarray  # (N,) shapely polygons, inset, where shown positions are clamped
    room_display_ring: np.ndarray  # (N,) their exterior rings
    room_extent_m: np.ndarray  # (N,) largest distance inside the room: caps the uncertainty radius
    room_samples: np.ndarray  # (N, S_max) sample indices, -1 padded, heaviest first
    room_nsamples: np.ndarray  # (N,)
    adjacent_keys: np.ndarray  # sorted i * N + j for rooms sharing a wall
    near_keys: np.ndarray  # sorted i * N + j for rooms two steps apart
    # receivers
    gateway_ids: tuple[str, ...]
    gateway_index: dict[str, int]
    rx_floor: np.ndarray  # (R,)
    rx_xy: np.ndarray  # (R, 2)
    rx_rssi_1m: np.ndarray  # (R,)
    rx_exponent: np.ndarray  # (R,)
    rx_height_offset: np.ndarray  # (R,) receiver height above a tag, 0 when unknown
    # samples
    sample_xy: np.ndarray  # (S, 2)
    sample_room: np.ndarray  # (S,)
    sample_floor: np.ndarray  # (S,)
    sample_logw: np.ndarray  # (S,) log of the sample's share of its room
    # Expected rssi, flat, one dense (samples x receivers) block per building:
    # index = sample_base[s] + rx_column[r]; the last entry is the "cannot hear" sentinel.
    rx_building: np.ndarray  # (R,)
    rx_column: np.ndarray  # (R,)
    sample_building: np.ndarray  # (S,)
    sample_base: np.ndarray  # (S,)
    expected_rssi: np.ndarray  # flat float32
    # What the radio fit (learnt online, docs/location-engine.md) moves, per entry of expected_rssi:
    # 10 log10(distance) (float16), and twice the walls crossed as the model counts them (uint8; a wall
    # crossed on the way to another floor counts cross_floor_wall_factor). Zero for pairs out of reach.
    table_log_d: np.ndarray
    table_walls2: np.ndarray
    rx_fit_exponent: np.ndarray  # (R,) bool: the receiver uses the site's exponent (the plan gives none)
    single_building: bool
    # Σ log P(miss) over every receiver that could hear the sample, when the tag is `offset_grid` dB
    # louder than the model says (a tag's own gain: its battery, its mounting, the body next to it)
    offset_grid: np.ndarray  # (G,)
    miss_grid: np.ndarray  # (S, G)
    # candidates per anchor receiver
    cand_rooms: np.ndarray  # (R, C) rooms sorted by how loudly the receiver hears their loudest point, -1 padded
    cand_rssi: np.ndarray  # (R, C) that loudest expected rssi, -inf padded
    cand_count: np.ndarray  # (R,)
    # How far above sensitivity_dbm each receiver's reports stop (a gateway's rssi filter, learnt online;
    # None until one is): the miss model and the waits use sensitivity_dbm + this.
    rx_floor_db: np.ndarray | None = None

    def log_p_miss(self, rssi: np.ndarray, receivers: np.ndarray | None = None) -> np.ndarray:
        """log P(no report) for expected rssi shaped (..., K, samples) of the receivers (..., K)."""
        if receivers is not None and self.rx_floor_db is not None:
            rssi = rssi - self.rx_floor_db[np.maximum(receivers, 0)][..., None]
        return log_p_miss(rssi, self.config)

    def miss_total(self, samples: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Σ log P(miss) at each sample for a tag `offset` dB louder than modelled (linear in the grid)."""
        grid = self.offset_grid
        pos = np.clip((offset - grid[0]) / (grid[1] - grid[0]), 0.0, len(grid) - 1.000001)
        lo = pos.astype(np.intp)
        frac = pos - lo
        flat = samples * len(grid) + lo
        table = self.miss_grid.ravel()
        return table[flat] * (1.0 - frac) + table[flat + 1] * frac

    @property
    def sentinel(self) -> int:
        return len(self.expected_rssi) - 1

    @property
    def n_rooms(self) -> int:
        return len(self.room_ids)

    def table_index(self, samples: np.ndarray, receivers: np.ndarray) -> np.ndarray:
        """Flat index into expected_rssi for broadcastable arrays of sample and receiver indices."""
        index = self.sample_base[samples] + self.rx_column[receivers]
        if self.single_building:
            return index
        return np.where(self.sample_building[samples] == self.rx_building[receivers], index, self.sentinel)


def compile_plan(plan: SitePlan, config: EngineConfig) -> CompiledPlan:
    floors = sorted(plan.floors, key=lambda f: (f.building_id, f.level, f.floor_id))
    floor_index = {f.floor_id: i for i, f in enumerate(floors)}
    if len(floor_index) != len(floors):
        raise PlanError("a floor id appears twice in the plan")
    if not plan.rooms:
        raise PlanError("the plan has no rooms")
    if not plan.receivers:
        raise PlanError("the plan has no receivers")
    floor_ids = np.array([f.floor_id for f in floors], dtype=np.int64)
    floor_level = np.array([f.level for f in floors], dtype=np.int64)
    floor_building = np.array([f.building_id for f in floors], dtype=np.int64)

    rooms = sorted(plan.rooms, key=lambda r: (floor_index.get(r.floor_id, -1), r.room_id))
    polygons: list[Polygon] = []
    for room in rooms:
        if room.floor_id not in floor_index:
            raise PlanError(f"room {room.code} is on floor {room.floor_id}, which is not in the plan")
        polygon = Polygon(room.exterior)
        if not polygon.is_valid:
            polygon = polygon.buffer(0)
        if polygon.is_empty or polygon.area <= 0:
            raise PlanError(f"room {room.code} has an empty polygon")
        if polygon.geom_type != "Polygon":
            polygon = max(polygon.geoms, key=lambda g: g.area)
        polygons.append(polygon)
    room_ids = np.array([r.room_id for r in rooms], dtype=np.int64)
    if len(set(room_ids.tolist())) != len(rooms):
        raise PlanError("a room id appears twice in the plan")
    room_floor = np.array([floor_index[r.floor_id] for r in rooms], dtype=np.int64)

    receivers = sorted(plan.receivers, key=lambda r: r.gateway_id)
    gateway_index: dict[str, int] = {}
    for i, rx in enumerate(receivers):
        if rx.floor_id not in floor_index:
            raise PlanError(f"receiver {rx.gateway_id} is on floor {rx.floor_id}, which is not in the plan")
        if rx.gateway_id in gateway_index:
            raise PlanError(f"receiver {rx.gateway_id} appears twice in the plan")
        gateway_index[rx.gateway_id] = i
    rx_floor = np.array([floor_index[r.floor_id] for r in receivers], dtype=np.int64)
    rx_xy = np.array([(r.x, r.y) for r in receivers], dtype=np.float64)
    rx_rssi_1m = np.array([r.rssi_at_1m for r in receivers], dtype=np.float64)
    rx_exponent = np.array(
        [r.path_loss_exponent if r.path_loss_exponent else config.path_loss_exponent for r in receivers],
        dtype=np.float64,
    )
    rx_height_offset = np.array(
        [(r.height_m - config.tag_height_m) if r.height_m is not None else 0.0 for r in receivers], dtype=np.float64
    )

    rasters = {
        fi: _FloorRaster.build(fi, room_floor, polygons, rx_xy[rx_floor == fi], config) for fi in range(len(floors))
    }
    # Receivers on neighbouring floors must fit on this floor's raster too.
    for raster in rasters.values():
        raster.extend_to(rx_xy)

    sample_xy, sample_room, sample_logw, room_samples = _room_samples(rasters, room_floor, polygons, config)
    sample_floor = room_floor[sample_room]

    # One dense block per building: every sample against every receiver of its building.
    n_rx = len(receivers)
    rx_building = floor_building[rx_floor]
    sample_building = floor_building[sample_floor]
    rx_column = np.zeros(n_rx, dtype=np.int64)
    sample_base = np.zeros(len(sample_xy), dtype=np.int64)
    blocks, log_d_blocks, wall_blocks = [], [], []
    offset = 0
    for building in sorted(set(floor_building.tolist())):
        r_idx = np.flatnonzero(rx_building == building)
        s_idx = np.flatnonzero(sample_building == building)
        rx_column[r_idx] = np.arange(len(r_idx))
        sample_base[s_idx] = offset + np.arange(len(s_idx)) * len(r_idx)
        offset += len(s_idx) * len(r_idx)
        block = np.full((len(s_idx), len(r_idx)), UNHEARABLE_DBM, dtype=np.float32)
        log_d_block = np.zeros((len(s_idx), len(r_idx)), dtype=np.float16)
        walls_block = np.zeros((len(s_idx), len(r_idx)), dtype=np.uint8)
        for fi in np.flatnonzero(floor_building == building).tolist():
            rows = np.flatnonzero(sample_floor[s_idx] == fi)
            d_level = floor_level[rx_floor[r_idx]] - floor_level[fi]
            cols = np.flatnonzero(np.abs(d_level) <= config.max_floor_span)
            if len(rows) == 0 or len(cols) == 0:
                continue
            rc = r_idx[cols]
            cells = np.ix_(rows, cols)
            block[cells], log_d_block[cells], walls_block[cells] = _expected_rssi(
                sample_xy[s_idx[rows]],
                rasters[fi],
                rx_xy[rc],
                rx_rssi_1m[rc],
                rx_exponent[rc],
                rx_height_offset[rc],
                d_level[cols],
                config,
            )
        blocks.append(block.ravel())
        log_d_blocks.append(log_d_block.ravel())
        wall_blocks.append(walls_block.ravel())
    expected_rssi = np.concatenate([*blocks, np.array([UNHEARABLE_DBM], dtype=np.float32)])
    table_log_d = np.concatenate([*log_d_blocks, np.zeros(1, dtype=np.float16)])
    table_walls2 = np.concatenate([*wall_blocks, np.zeros(1, dtype=np.uint8)])

    span = config.offset_range_db
    offset_grid = np.arange(-span, span + 1e-9, 3.0) if config.offset_prior_db > 0 else np.array([0.0, 1.0])
    miss_grid = np.zeros((len(sample_xy), len(offset_grid)), dtype=np.float64)

    compiled = CompiledPlan(
        config=config,
        floor_ids=floor_ids,
        floor_level=floor_level,
        floor_building=floor_building,
        room_ids=room_ids,
        room_floor=room_floor,
        room_polygons=polygons,
        room_display=np.empty(0, dtype=object),
        room_display_ring=np.empty(0, dtype=object),
        room_extent_m=np.zeros(0),
        room_samples=room_samples,
        room_nsamples=(room_samples >= 0).sum(axis=1),
        adjacent_keys=np.zeros(0, dtype=np.int64),
        near_keys=np.zeros(0, dtype=np.int64),
        gateway_ids=tuple(r.gateway_id for r in receivers),
        gateway_index=gateway_index,
        rx_floor=rx_floor,
        rx_xy=rx_xy,
        rx_rssi_1m=rx_rssi_1m,
        rx_exponent=rx_exponent,
        rx_height_offset=rx_height_offset,
        sample_xy=sample_xy,
        sample_room=sample_room,
        sample_floor=sample_floor,
        sample_logw=sample_logw,
        rx_building=rx_building,
        rx_column=rx_column,
        sample_building=sample_building,
        sample_base=sample_base,
        expected_rssi=expected_rssi,
        table_log_d=table_log_d,
        table_walls2=table_walls2,
        rx_fit_exponent=np.array([not r.path_loss_exponent for r in receivers], dtype=bool),
        single_building=len(set(floor_building.tolist())) == 1,
        offset_grid=offset_grid,
        miss_grid=miss_grid,
        cand_rooms=np.zeros((0, 0), dtype=np.int64),
        cand_rssi=np.zeros((0, 0), dtype=np.float32),
        cand_count=np.zeros(0, dtype=np.int64),
    )
    _miss_tables(compiled)
    _display_geometry(compiled, config)
    _adjacency(compiled)
    _candidates(compiled, config)
    return compiled


class _FloorRaster:
    """Room labels on a square grid of one floor: -1 where no room is."""

    def __init__(self, x0: float, y0: float, res: float, labels: np.ndarray):
        self.x0, self.y0, self.res, self.labels = x0, y0, res, labels

    @classmethod
    def build(cls, fi, room_floor, polygons, rx_xy, config) -> _FloorRaster:
        res = config.raster_m
        mine = np.flatnonzero(room_floor == fi)
        if len(mine) == 0:
            bounds = np.array([*rx_xy.min(axis=0), *rx_xy.max(axis=0)]) if len(rx_xy) else np.zeros(4)
        else:
            b = np.array([polygons[i].bounds for i in mine])
            bounds = np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])
            if len(rx_xy):
                bounds = np.array(
                    [
                        min(bounds[0], rx_xy[:, 0].min()),
                        min(bounds[1], rx_xy[:, 1].min()),
                        max(bounds[2], rx_xy[:, 0].max()),
                        max(bounds[3], rx_xy[:, 1].max()),
                    ]
                )
        x0, y0 = bounds[0] - 2 * res, bounds[1] - 2 * res
        nx = int(math.ceil((bounds[2] - x0) / res)) + 3
        ny = int(math.ceil((bounds[3] - y0) / res)) + 3
        labels = np.full((ny, nx), -1, dtype=np.int32)
        for i in mine:
            minx, miny, maxx, maxy = polygons[i].bounds
            ix0, ix1 = int((minx - x0) / res), int(math.ceil((maxx - x0) / res))
            iy0, iy1 = int((miny - y0) / res), int(math.ceil((maxy - y0) / res))
            xs = x0 + (np.arange(ix0, ix1 + 1) + 0.5) * res
            ys = y0 + (np.arange(iy0, iy1 + 1) + 0.5) * res
            gx, gy = np.meshgrid(xs, ys)
            inside = shapely.contains_xy(polygons[i], gx, gy)
            sub = labels[iy0 : iy1 + 1, ix0 : ix1 + 1]
            sub[inside[: sub.shape[0], : sub.shape[1]]] = i
        return cls(x0, y0, res, labels)

    def extend_to(self, xy: np.ndarray) -> None:
        """Grow the raster (with empty cells) so that every point of xy falls on it."""
        if len(xy) == 0:
            return
        res = self.res
        ny, nx = self.labels.shape
        x1, y1 = self.x0 + nx * res, self.y0 + ny * res
        pad_left = max(0, int(math.ceil((self.x0 - xy[:, 0].min()) / res)) + 2)
        pad_bottom = max(0, int(math.ceil((self.y0 - xy[:, 1].min()) / res)) + 2)
        pad_right = max(0, int(math.ceil((xy[:, 0].max() - x1) / res)) + 2)
        pad_top = max(0, int(math.ceil((xy[:, 1].max() - y1) / res)) + 2)
        if pad_left or pad_bottom or pad_right or pad_top:
            self.labels = np.pad(self.labels, ((pad_bottom, pad_top), (pad_left, pad_right)), constant_values=-1)
            self.x0 -= pad_left * res
            self.y0 -= pad_bottom * res

    def label_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ny, nx = self.labels.shape
        ix = np.clip(((x - self.x0) / self.res).astype(np.int64), 0, nx - 1)
        iy = np.clip(((y - self.y0) / self.res).astype(np.int64), 0, ny - 1)
        return self.labels[iy, ix]

    def cells_of(self, room: int) -> np.ndarray:
        iy, ix = np.nonzero(self.labels == room)
        return np.column_stack([self.x0 + (ix + 0.5) * self.res, self.y0 + (iy + 0.5) * self.res])

    def walls_between(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Walls crossed by each segment a[i] -> b[i]: changes of room along it (gaps between rooms are skipped)."""
        out = np.zeros(len(a), dtype=np.int64)
        if len(a) == 0:
            return out
        length = np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])
        steps = np.maximum(2, np.ceil(length / (self.res * 0.75)).astype(np.int64) + 1)
        order = np.argsort(steps, kind="stable")
        budget = 2_000_000
        n, start = len(order), 0
        while start < n:
            end = min(n, start + max(1, budget // int(steps[order[start]])))
            while end - start > 1 and (end - start) * int(steps[order[end - 1]]) > budget:
                end = start + (end - start) // 2
            chunk = order[start:end]
            width = int(steps[chunk].max())
            t = np.minimum(np.arange(width)[None, :] / (steps[chunk] - 1)[:, None], 1.0)
            xs = a[chunk, 0:1] + t * (b[chunk, 0:1] - a[chunk, 0:1])
            ys = a[chunk, 1:2] + t * (b[chunk, 1:2] - a[chunk, 1:2])
            lab = self.label_at(xs, ys)
            out[chunk] = _count_changes(lab)
            start = end
        return out


def _count_changes(lab: np.ndarray) -> np.ndarray:
    """Changes of label along each row, ignoring -1 cells (forward and backward filled)."""
    n, w = lab.shape
    cols = np.arange(w)[None, :]
    idx = np.where(lab >= 0, cols, 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    rows = np.arange(n)[:, None]
    filled = lab[rows, idx]
    # leading -1s: take the first real label of the row (no wall before it)
    has = lab >= 0
    first = np.where(has.any(axis=1), has.argmax(axis=1), 0)
    lead = filled < 0
    filled = np.where(lead, lab[np.arange(n), first][:, None], filled)
    return (filled[:, 1:] != filled[:, :-1]).sum(axis=1)


def _kmeans(points: np.ndarray, k: int, iterations: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic k-means: farthest-point start from the point nearest the mean."""
    centre = points.mean(axis=0)
    chosen = [int(np.argmin(((points - centre) ** 2).sum(axis=1)))]
    dist = ((points - points[chosen[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, ((points - points[nxt]) ** 2).sum(axis=1))
    centres = points[chosen].copy()
    for _ in range(iterations):
        d = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        assign = d.argmin(axis=1)
        for j in range(k):
            members = points[assign == j]
            if len(members):
                centres[j] = members.mean(axis=0)
    d = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    assign = d.argmin(axis=1)
    counts = np.bincount(assign, minlength=k).astype(np.float64)
    # A centre of a non-convex room may fall outside it: snap to its nearest member.
    for j in range(k):
        members = points[assign == j]
        if len(members):
            centres[j] = members[np.argmin(((members - centres[j]) ** 2).sum(axis=1))]
    keep = counts > 0
    return centres[keep], counts[keep] / counts.sum()


def _room_samples(rasters, room_floor, polygons, config):
    xy, room, logw = [], [], []
    per_room: list[list[int]] = []
    for i, polygon in enumerate(polygons):
        cells = rasters[int(room_floor[i])].cells_of(i)
        k = int(min(config.max_samples_per_room, max(1, round(polygon.area / config.sample_area_m2))))
        if len(cells) < max(4, k):
            p = polygon.representative_point()
            centres, weights = np.array([[p.x, p.y]]), np.array([1.0])
        else:
            if len(cells) > 4000:  # big halls: thin the cells, the centres barely move
                cells = cells[:: int(math.ceil(len(cells) / 4000))]
            centres, weights = _kmeans(cells, k)
        order = np.argsort(-weights, kind="stable")
        start = len(xy)
        for j in order:
            xy.append(centres[j])
            room.append(i)
            logw.append(math.log(weights[j]))
        per_room.append(list(range(start, len(xy))))
    s_max = max(len(p) for p in per_room)
    room_samples = np.full((len(polygons), s_max), -1, dtype=np.int64)
    for i, samples in enumerate(per_room):
        room_samples[i, : len(samples)] = samples
    return np.array(xy), np.array(room, dtype=np.int64), np.array(logw), room_samples


def _expected_rssi(s_xy, raster, r_xy, r_rssi, r_n, r_hoff, d_level, config):
    """(samples x receivers) expected rssi."""
    ns, nr = len(s_xy), len(r_xy)
    dx = s_xy[:, None, 0] - r_xy[None, :, 0]
    dy = s_xy[:, None, 1] - r_xy[None, :, 1]
    planar = np.hypot(dx, dy)
    dz = d_level[None, :] * config.floor_height_m + r_hoff[None, :]
    dist = np.maximum(np.sqrt(planar**2 + dz**2), config.min_distance_m)
    in_range = planar <= config.max_range_m
    walls = np.zeros((ns, nr), dtype=np.float64)
    si, ri = np.nonzero(in_range)
    walls[si, ri] = raster.walls_between(s_xy[si], r_xy[ri])
    floors = np.abs(d_level)[None, :]
    wall_factor = np.where(floors > 0, config.cross_floor_wall_factor, 1.0)
    walls = walls * wall_factor
    loss = config.wall_loss_db * walls + config.floor_loss_db * floors
    log_d = 10.0 * np.log10(dist)
    rssi = r_rssi[None, :] - r_n[None, :] * log_d - loss
    return (
        np.where(in_range, rssi, UNHEARABLE_DBM),
        np.where(in_range, log_d, 0.0),
        np.where(in_range, np.minimum(np.rint(2.0 * walls), 255), 0),
    )


def refresh_miss_tables(plan: CompiledPlan, change_db: np.ndarray) -> None:
    """Shift each receiver's expected rssi by change_db (its learnt calibration) and recompute what
    depends on it: the tabulated Σ log P(miss), the candidate loudness and rssi_at_1m used for position."""
    change_db = np.asarray(change_db, dtype=np.float64)
    plan.rx_rssi_1m = plan.rx_rssi_1m + change_db
    plan.cand_rssi = plan.cand_rssi + change_db[:, None].astype(np.float32)
    for _, r_idx, flat in _building_blocks(plan):
        shift = np.zeros(len(r_idx), dtype=np.float32)
        shift[plan.rx_column[r_idx]] = change_db[r_idx]
        block = plan.expected_rssi[flat]
        plan.expected_rssi[flat] = shift_hearable(block, shift[None, :])
    _miss_tables(plan)


def refresh_radio_fit(plan: CompiledPlan, d_exponent: float, d_wall_db: float) -> None:
    """Change the site's path-loss exponent by d_exponent (receivers without one of their own) and the
    loss per wall by d_wall_db, in every table that depends on them (the radio fit learnt online). New
    arrays are made, the old ones are left as they were (the radio fit keeps the last few states)."""
    plan.rx_exponent = plan.rx_exponent + np.where(plan.rx_fit_exponent, d_exponent, 0.0)
    plan.expected_rssi = plan.expected_rssi.copy()
    plan.miss_grid = np.zeros_like(plan.miss_grid)
    for _, r_idx, flat in _building_blocks(plan):
        fit = np.zeros(len(r_idx), dtype=np.float32)
        fit[plan.rx_column[r_idx]] = plan.rx_fit_exponent[r_idx]
        block = plan.expected_rssi[flat]
        shift = (np.float32(-d_exponent) * fit[None, :]) * plan.table_log_d[flat].astype(np.float32)
        shift -= np.float32(0.5 * d_wall_db) * plan.table_walls2[flat].astype(np.float32)
        plan.expected_rssi[flat] = shift_hearable(block, shift)
    _miss_tables(plan)
    _candidates(plan, plan.config)


def set_detection_floors(plan: CompiledPlan, floor_db: np.ndarray | None) -> None:
    """Each receiver reports nothing quieter than sensitivity_dbm + floor_db (None: the configured
    sensitivity for all): recompute the tabulated Σ log P(miss). New arrays (the radio fit keeps states)."""
    plan.rx_floor_db = None if floor_db is None else np.asarray(floor_db, dtype=np.float32)
    plan.miss_grid = np.zeros_like(plan.miss_grid)
    _miss_tables(plan)


def detection_floors(histogram: np.ndarray, config: EngineConfig) -> np.ndarray:
    """Per receiver, how far above sensitivity_dbm its reports stop, from a (R, B) histogram of the rssi
    it reported in 1 dB bins from FLOOR_BINS_FROM_DBM.

    A gateway that forwards only readings at or above a filter (-88 dBm is common) cuts its histogram
    off sharply: nearly as many readings in the 3 dB above the cut as a few dB higher (0.7 of them on a
    bell of readings rising toward -78 dBm). A receiver that hears down to its sensitivity thins out
    instead (fades take weak readings under it one by one: 0.1-0.2), and so does one that only ever hears
    tags close by. The line is drawn at 0.4. Only a sharp cut above the configured sensitivity is taken,
    from floor_min_readings readings or more; otherwise 0 (the configured sensitivity)."""
    hist = np.asarray(histogram, dtype=np.float64)
    n = hist.sum(axis=1)
    cum = np.cumsum(hist, axis=1)
    # The lowest bin, ignoring the quietest 0.2 % (a stray reading or two).
    low = (cum <= 0.002 * n[:, None]).sum(axis=1)
    low = np.minimum(low, hist.shape[1] - 9)
    rows = np.arange(len(hist))
    at_cut = hist[rows[:, None], low[:, None] + np.arange(3)[None, :]].mean(axis=1)
    above = hist[rows[:, None], low[:, None] + np.arange(3, 9)[None, :]].mean(axis=1)
    sharp = (n >= config.floor_min_readings) & (above > 0) & (at_cut >= 0.4 * above)
    cut_dbm = FLOOR_BINS_FROM_DBM + low
    return np.where(sharp, np.maximum(cut_dbm - config.sensitivity_dbm, 0.0), 0.0).astype(np.float32)


def shift_hearable(expected: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Expected rssi moved by shift, except the pairs that cannot hear each other (they stay unhearable)."""
    return np.where(expected > np.float32(UNHEARABLE_DBM + 1.0), expected + shift, expected)


def _building_blocks(plan: CompiledPlan):
    """Per building: its samples, its receivers and the (samples x receivers) flat indices of its block."""
    for building in sorted(set(plan.rx_building.tolist())):
        r_idx = np.flatnonzero(plan.rx_building == building)
        s_idx = np.flatnonzero(plan.sample_building == building)
        if len(s_idx) == 0 or len(r_idx) == 0:
            continue
        yield s_idx, r_idx, plan.sample_base[s_idx][:, None] + np.arange(len(r_idx))[None, :]


def _miss_tables(plan: CompiledPlan) -> None:
    """Σ log P(miss) at each sample, for each tag gain of the offset grid."""
    for s_idx, r_idx, flat in _building_blocks(plan):
        floor = None
        if plan.rx_floor_db is not None:
            floor = np.zeros(len(r_idx), dtype=np.float32)
            floor[plan.rx_column[r_idx]] = plan.rx_floor_db[r_idx]
        plan.miss_grid[s_idx] = miss_sums(plan.expected_rssi[flat], floor, plan.offset_grid, plan.config)


def miss_sums(expected: np.ndarray, floor: np.ndarray | None, offset_grid: np.ndarray, config: EngineConfig):
    """(samples, G) Σ over the receivers (columns of ``expected``, each with its detection floor or None for
    none) of log P(miss), for a tag each gain of ``offset_grid`` louder than modelled."""
    heard_at = expected if floor is None else expected - floor[None, :]
    sums = np.stack(
        [log_p_miss(heard_at + np.float32(g), config).astype(np.float64).sum(axis=1) for g in offset_grid.tolist()],
        axis=1,
    )
    if config.offset_prior_db <= 0:
        sums[:, 1] = sums[:, 0]
    return sums


def log_p_miss(rssi: np.ndarray, config: EngineConfig) -> np.ndarray:
    """log P(no report | expected rssi): a lost packet, or a fade below the receiver's sensitivity.

    The fade below sensitivity is a logistic curve (the usual 1.702 match to a normal CDF with the
    fade spread): cheap enough for the hot path in float32, and smooth in the tag gain.
    """
    x = np.asarray(rssi, dtype=np.float32) - np.float32(config.sensitivity_dbm)
    x *= np.float32(1.702 / config.fade_sigma_db)
    np.exp(x, out=x)
    x += np.float32(1.0)
    np.divide(np.float32(1.0 - config.packet_loss), x, out=x)
    x += np.float32(config.packet_loss)
    return np.log(x, out=x)


def _display_geometry(plan: CompiledPlan, config: EngineConfig) -> None:
    display, rings, extent = [], [], []
    for polygon in plan.room_polygons:
        inset = polygon.buffer(-config.display_inset_m)
        if inset.is_empty or inset.area < 0.05 * polygon.area:
            inset = polygon.buffer(-config.display_inset_m / 5)
        if inset.is_empty:
            inset = polygon
        if inset.geom_type != "Polygon":
            inset = max(inset.geoms, key=lambda g: g.area)
        display.append(inset)
        rings.append(LineString(inset.exterior.coords))
        minx, miny, maxx, maxy = polygon.bounds
        extent.append(math.hypot(maxx - minx, maxy - miny))
    plan.room_display = np.array(display, dtype=object)
    plan.room_display_ring = np.array(rings, dtype=object)
    shapely.prepare(plan.room_display)
    plan.room_extent_m = np.array(extent)


def _adjacency(plan: CompiledPlan) -> None:
    n = plan.n_rooms
    geoms = np.array(plan.room_polygons, dtype=object)
    tree = shapely.STRtree(geoms)
    grown = shapely.buffer(geoms, 0.3)
    left, right = tree.query(grown, predicate="intersects")
    same_floor = plan.room_floor[left] == plan.room_floor[right]
    keep = (left != right) & same_floor
    left, right = left[keep], right[keep]
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        neighbours[i].add(j)
        neighbours[j].add(i)
    adjacent = sorted({i * n + j for i in range(n) for j in neighbours[i]})
    near = set()
    for i in range(n):
        for j in neighbours[i]:
            for k in neighbours[j]:
                if k != i and k not in neighbours[i]:
                    near.add(i * n + k)
    plan.adjacent_keys = np.array(adjacent, dtype=np.int64)
    plan.near_keys = np.array(sorted(near), dtype=np.int64)


def _candidates(plan: CompiledPlan, config: EngineConfig) -> None:
    """Per receiver: the rooms a tag could be in when this receiver is the loudest one, loudest first."""
    n_rx = len(plan.gateway_ids)
    floor_limit = config.sensitivity_dbm - 10.0
    lists = []
    for r in range(n_rx):
        s_idx = np.flatnonzero(plan.sample_building == plan.rx_building[r])
        rssi = plan.expected_rssi[plan.table_index(s_idx, np.full(len(s_idx), r))].astype(np.float64)
        rooms = plan.sample_room[s_idx]
        loudest = np.full(plan.n_rooms, -np.inf)
        np.maximum.at(loudest, rooms, rssi)
        ok = np.flatnonzero(loudest >= floor_limit)
        order = ok[np.lexsort((ok, -loudest[ok]))][: config.max_candidate_rooms]
        lists.append((order, loudest[order]))
    width = max(1, max(len(rooms) for rooms, _ in lists))
    plan.cand_rooms = np.full((n_rx, width), -1, dtype=np.int64)
    plan.cand_rssi = np.full((n_rx, width), -np.inf, dtype=np.float32)
    for r, (rooms, rssi) in enumerate(lists):
        plan.cand_rooms[r, : len(rooms)] = rooms
        plan.cand_rssi[r, : len(rooms)] = rssi
    plan.cand_count = np.array([len(rooms) for rooms, _ in lists], dtype=np.int64)
