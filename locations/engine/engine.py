"""The location engine: sightings in, one LocationEstimate per tag transmission out.

Pipeline (docs/location-engine.md has the why):
1. push(): each timestamp is corrected by its gateway's clock offset (estimated from the data,
   locations/engine/clock.py); sightings join per-tag event-time windows; duplicates and late
   arrivals are dropped and counted; gateway watermarks, the frontier and delivery waits are updated.
2. flush(watermark): windows that can no longer change (the frontier is past their end by the wait
   their receivers need) are closed, then, batch by batch over
   arrays (windows x candidate sample points x heard receivers):
   a. per-room likelihood: robust (split Student-t) residuals of the heard receivers against
      the precomputed expected RSSI at each room's sample points, plus the evidence of the
      receivers that should have heard the tag but did not, mixed over the room's points;
   b. smoothing: an HMM forward filter over rooms per tag (sticky; rooms sharing a wall are
      reachable; far rooms only with strong evidence); the floor is chosen first (by its total
      probability), then the room on it, with hysteresis;
   c. position: robust Gauss-Newton in dB on the chosen floor from the room's best point,
      clamped into the room for display, with an uncertainty radius.
Everything is a deterministic function of the sightings in arrival order: no wall clock (except the
caller's clock passed to flush), no randomness.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from declarations.tag_ids import shard_of
from locations.engine.clock import ClockEstimator, tag_share_key
from locations.engine.config import EngineConfig
from locations.engine.plan import (
    FLOOR_BINS,
    FLOOR_BINS_FROM_DBM,
    UNHEARABLE_DBM,
    CompiledPlan,
    compile_plan,
    detection_floors,
    refresh_miss_tables,
    set_detection_floors,
)
from locations.engine.radiofit import RadioFit
from locations.engine.types import LocationEstimate, Sighting, SitePlan

_TS_KEY_BITS = 27  # ms modulo 2^27 (37 hours) in a duplicate key: far longer than any key is kept
_BLOCK_WINDOWS = 16_384  # windows per processing block (bounds memory on a big flush)
PASSAGE_TYPES = frozenset({"corridor", "lobby", "hallway"})  # rooms people walk through
_CHUNK_ELEMENTS = 1_500_000  # windows x samples x receivers per likelihood chunk
_FRONTIER_RANK = 3  # the frontier is the 3rd most advanced gateway: one or two cannot move it
_TRUST_BATCHES = 8  # batches of a gateway seen before its order of delivery is trusted (close_on_progress)
# A resumed calibration (resume_learnt) counts as this many readings of its receiver: it holds until the
# receiver has been heard about as often again, then new readings take over (calibration_prior_n is 10).
RESUMED_READINGS = 100.0


@dataclass(slots=True)
class EngineStats:
    accepted: int = 0  # sightings taken into a window
    duplicates: int = 0  # (gateway, tag, ts) already seen: ignored
    late: int = 0  # arrived after their tag's window at that time was closed: dropped
    unknown_gateway: int = 0  # gateway not in the plan: dropped
    invalid: int = 0  # rssi or ts not a finite number: dropped (parse_batch never lets these through)
    future: int = 0  # accepted, stamped more than max_ahead_s ahead of the frontier (moves no one else)
    windows: int = 0  # closed windows (transmissions) that produced an estimate
    unlocated: int = 0  # closed windows heard only by receivers with no room in reach
    clock_updates: int = 0  # gateway clock re-estimations
    calibration_updates: int = 0  # receiver calibration updates of the expected-rssi tables
    radio_fit_updates: int = 0  # rewrites of the tables for a new radio fit (radio_fit)
    floor_updates: int = 0  # changes of the receivers' learnt detection floors (detection_floor)

    def drops(self) -> dict[str, int]:
        """Sightings pushed but not placed, by reason (duplicates change nothing; the others are lost)."""
        return {
            "duplicate": self.duplicates,
            "late": self.late,
            "unknown_gateway": self.unknown_gateway,
            "invalid": self.invalid,
        }


@dataclass(frozen=True, slots=True)
class GatewayClock:
    """What the engine knows about one gateway's clock and delivery (engine.gateway_clocks())."""

    gateway_id: str
    offset_s: float  # its clock minus the site's consensus clock; subtracted from its timestamps
    pairs: int  # matched copies of pings behind the estimate (0: not estimated yet)
    estimated: bool
    watermark: float | None  # corrected event time of its newest sighting
    lateness_s: float  # learnt: how far behind the frontier its batches arrive
    dark: bool  # silent for more than dark_after_s of event time (or never heard)
    calibration_db: float  # learnt correction of its rssi_at_1m
    floor_dbm: float | None  # learnt: it reports nothing quieter (a filter); None: down to its sensitivity
    estimated_at: float | None = None  # event time of its last clock estimate (None: not estimated by this engine)


def _member(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[pos] == keys


def _on_its_way(cfg: EngineConfig, passage: np.ndarray, prev, held, moving_for):
    """Whether a change of the shown room away from ``prev`` (a room index, -1 for none), shown for ``held``
    s, sets the tag off (it leaves a room it stayed in for moving_min_stay_s) or keeps it on its way (it walks
    on from a passage within moving_window_s of setting off). Scalars or arrays alike."""
    was_passage = passage[np.maximum(prev, 0)] & (np.asarray(prev) >= 0)
    if cfg.moving_min_stay_s <= 0:
        return np.ones_like(was_passage)  # from any change of the shown room
    sets_off = (np.asarray(prev) >= 0) & ~was_passage & (held >= cfg.moving_min_stay_s)
    return sets_off | (was_passage & (moving_for <= cfg.moving_window_s))


class LocationEngine:
    def __init__(self, plan: SitePlan, config: EngineConfig | None = None):
        self.config = config or EngineConfig()
        self.plan: CompiledPlan = compile_plan(plan, self.config)
        self.stats = EngineStats()
        self._room_index = {int(r): i for i, r in enumerate(self.plan.room_ids.tolist())}
        passage_types = {r.room_id: r.room_type in PASSAGE_TYPES for r in plan.rooms}
        self._passage = np.array([passage_types[int(r)] for r in self.plan.room_ids.tolist()], dtype=bool)
        n_gw = len(self.plan.gateway_ids)
        self._clock = ClockEstimator(n_gw, self.config)
        self._gw_wm = np.full(n_gw, -np.inf)  # corrected event time of each gateway's newest sighting
        self._gw_first = np.full(n_gw, np.inf)  # ... and of its first
        self._gw_count = np.zeros(n_gw, dtype=np.int64)
        # Corrected time of each gateway's newest sighting as pushed (never moved by a later clock update, unlike
        # _gw_wm): what its silences are measured from, the same whenever the windows are closed.
        self._gw_last = np.full(n_gw, -np.inf)
        # Silences of a gateway that ended (a sighting came after dark_after_s or more of none): gateway ->
        # [[start, end, threshold]], corrected event time; the one under way is (its watermark, +inf).
        self._silences: dict[int, list[list[float]]] = {}
        self._gw_late = np.full(n_gw, self.config.initial_lateness_s)  # learnt lateness (s behind the frontier)
        # how far behind the frontier each of its last lateness_history batches arrived (a ring)
        # (initial_lateness_s until as many batches have been learnt from)
        self._late_hist = np.full((n_gw, self.config.lateness_history), self.config.initial_lateness_s)
        self._late_n = np.zeros(n_gw, dtype=np.int64)  # batches learnt from
        # Delivery order (close_on_progress) is followed per stream: a gateway's sightings of the tags of one
        # delivery shard (EngineConfig.delivery_streams), index shard * n_gw + gateway. Per stream: the newest
        # corrected ts delivered, and how far back behind it each of its last batches reached (a ring; +inf
        # until as many batches have been seen: a stream is not trusted to deliver in order at first).
        n_streams = self.config.delivery_streams
        self._stream_wm = np.full(n_streams * n_gw, -np.inf)
        self._regress_hist = np.full((n_streams * n_gw, self.config.lateness_history), np.inf)
        self._regress_n = np.zeros(n_streams * n_gw, dtype=np.int64)
        self._gw_reorder = np.full((n_streams, n_gw), np.inf)  # its reorder depth: the largest of those
        self._kth = -math.inf  # 3rd most advanced gateway watermark
        self._carried = -math.inf  # the frontier carried forward by the caller's clock on a quiet site
        # Pushes counted, and the caller's clock at the last flush that found new ones: a frontier that stalls
        # while batches still arrive (late ones) is not a quiet site for the clock hold (_release_clocks).
        self._pushes = 0
        self._pushes_seen = 0
        self._arrived_at = -math.inf
        self._seen_frontier = -math.inf
        self._seen_at: float | None = None
        self._lag = 0.0
        self._next_due = math.inf  # no open window can be due before this event time
        self._pending: list[tuple[np.ndarray, ...]] = []  # (tag, gateway, rssi, corrected ts, raw ts)
        self._tag_index: dict[str, int] = {}
        self._tag_ids: list[str] = []
        self._gw_bits = max(1, n_gw.bit_length())
        self._tag_limit = 1 << (63 - _TS_KEY_BITS - self._gw_bits)
        self._seen: set[int] = set()
        self._seen_buckets: dict[int, list[int]] = {}
        self._pruned_to = -math.inf
        self._first_ts = math.inf
        capacity = 1024
        b = self.config.belief_size
        self._belief_room = np.full((capacity, b), -1, dtype=np.int64)
        self._belief_p = np.zeros((capacity, b), dtype=np.float64)
        self._last_ts = np.full(capacity, np.nan)
        self._shown_room = np.full(capacity, -1, dtype=np.int64)
        self._shown_since = np.full(capacity, -np.inf)  # event time the shown room was entered
        self._moving_since = np.full(capacity, -np.inf)  # ... the tag was last shown setting off (on its way)
        self._tag_closed = np.full(capacity, -np.inf)  # a tag's sightings before this are late
        self._tag_share = np.zeros(capacity)
        self._tag_stream = np.zeros(capacity, dtype=np.int64)  # the tag's delivery shard
        self._radio_fit = RadioFit(self.plan, self.config)
        self._set_waits()
        # receivers' detection floors, learnt online: per calibration epoch, a histogram of reported rssi
        self._floor_hist: dict[int, np.ndarray] = {}
        self._floor_applied = np.zeros(n_gw, dtype=np.float32)
        # receiver calibration, learnt online
        # Per calibration epoch (event time // calibration_every_s): sums of residuals and counts per receiver.
        self._cal_buckets: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cal_base = (np.zeros(n_gw), np.zeros(n_gw), -(2**62))  # merged old buckets, up to this epoch
        self._cal_applied = np.zeros(n_gw)
        self._cal_epoch: int | None = None
        self._cal_tags: list[set[int]] = [set() for _ in range(n_gw)]  # distinct tags behind each receiver's
        self._cal_tag_count = np.zeros(n_gw, dtype=np.int64)

    @property
    def radio_fit(self) -> tuple[float, float]:
        """The site's path-loss exponent and loss per wall (dB) in use: the configured values, moved by what
        the engine has learnt from its confidently placed windows (radio_fit)."""
        return self._radio_fit.values

    # ------------------------------------------------------------------ public API

    @property
    def frontier(self) -> float | None:
        """Event time the site has reached: the 3rd most advanced gateway's corrected clock (or, on a
        quiet site, that carried forward by the caller's clock). None before any sighting."""
        f = max(self._kth, self._carried)
        return None if f == -math.inf else f

    @property
    def watermark(self) -> float | None:
        """Same as frontier (kept for callers of the first API): pass it to flush()."""
        return self.frontier

    @property
    def holding(self) -> bool:
        """True while every window waits for the first clock estimate (EngineConfig.clock_hold_first): a caller that
        acknowledges its input once the windows covering it are closed must acknowledge nothing meanwhile."""
        return self._clock_holding()

    def release(self) -> None:
        """End the hold for the first clock estimate now, estimating from what was heard: for a caller whose input
        is all in (the end of a backlog) that closes with a finite watermark rather than flush()."""
        if self._clock_holding():
            self._release_clocks(math.inf)

    @property
    def pending(self) -> int:
        """Sightings waiting in open windows."""
        return sum(len(chunk[0]) for chunk in self._pending)

    def room_of(self, tag_id: str) -> int | None:
        """The room (database id) currently shown for a tag, or None."""
        ti = self._tag_index.get(tag_id)
        if ti is None or self._shown_room[ti] < 0:
            return None
        return int(self.plan.room_ids[self._shown_room[ti]])

    def shown_since(self, tag_id: str) -> float | None:
        """Event time the tag's shown room was entered (None when not known, e.g. restored without it)."""
        ti = self._tag_index.get(tag_id)
        if ti is None or not math.isfinite(self._shown_since[ti]):
            return None
        return float(self._shown_since[ti])

    def moving_since(self, tag_id: str) -> float | None:
        """Event time the tag was last shown setting off (leaving a room it had stayed in, or walking on from
        a passage; EngineConfig.moving_min_stay_s), None when it never was."""
        ti = self._tag_index.get(tag_id)
        if ti is None or not math.isfinite(self._moving_since[ti]):
            return None
        return float(self._moving_since[ti])

    def gateway_clocks(self) -> dict[str, GatewayClock]:
        """Per gateway of the plan: its estimated clock offset, watermark, learnt lateness, darkness,
        calibration and detection floor."""
        late = self._lateness_now()
        dark_set = set(self._dark_gateways().tolist())
        floors = self._floor_applied
        out = {}
        for i, gateway_id in enumerate(self.plan.gateway_ids):
            wm = float(self._gw_wm[i])
            dark = i in dark_set
            out[gateway_id] = GatewayClock(
                gateway_id=gateway_id,
                offset_s=round(float(self._clock.offset[i]), 4),
                pairs=int(self._clock.evidence[i]),
                estimated=bool(self._clock.estimated[i]),
                watermark=wm if math.isfinite(wm) else None,
                lateness_s=round(float(late[i]), 3),
                dark=dark,
                calibration_db=round(float(self._cal_applied[i]), 2),
                floor_dbm=float(self.config.sensitivity_dbm + floors[i]) if floors[i] > 0 else None,
                estimated_at=float(self._clock.estimated_at[i]) if self._clock.estimated[i] else None,
            )
        return out

    def push(self, sightings: Sequence[Sighting]) -> int:
        """Add sightings to their tags' open windows. Returns how many were new (not seen, not late).

        Each timestamp is first corrected by its gateway's estimated clock offset."""
        n = len(sightings)
        if n == 0:
            return 0
        gw_index = self.plan.gateway_index
        gw = np.fromiter((gw_index.get(s.gateway_id, -1) for s in sightings), dtype=np.int64, count=n)
        tag = np.fromiter((self._tag(s.tag_id) for s in sightings), dtype=np.int64, count=n)
        rssi = np.fromiter((s.rssi for s in sightings), dtype=np.float64, count=n)
        raw = np.fromiter((s.ts for s in sightings), dtype=np.float64, count=n)
        return self._push_arrays(gw, tag, rssi, raw)

    def push_columns(
        self,
        gateway_ids: Sequence[str],
        gw_codes: np.ndarray,
        tag_ids: Sequence[str],
        tag_codes: np.ndarray,
        rssi: np.ndarray,
        ts: np.ndarray,
    ) -> int:
        """``push`` for sightings given column by column (a replay's reader, no Sighting objects): sighting i
        is gateway ``gateway_ids[gw_codes[i]]``, tag ``tag_ids[tag_codes[i]]``, ``rssi[i]``, ``ts[i]``. The
        same result as ``push`` of the same sightings in the same order (tags are numbered in the order they
        first appear, as push does)."""
        n = len(ts)
        if n == 0:
            return 0
        gw_index = self.plan.gateway_index
        gw_table = np.fromiter((gw_index.get(g, -1) for g in gateway_ids), dtype=np.int64, count=len(gateway_ids))
        tag_table = np.full(len(tag_ids), -1, dtype=np.int64)
        codes, first = np.unique(tag_codes, return_index=True)
        for code in codes[np.argsort(first, kind="stable")].tolist():
            tag_table[code] = self._tag(tag_ids[code])
        return self._push_arrays(
            gw_table[gw_codes],
            tag_table[tag_codes],
            np.asarray(rssi, dtype=np.float64),
            np.asarray(ts, dtype=np.float64),
        )

    def _push_arrays(self, gw, tag, rssi, raw) -> int:
        cfg, stats = self.config, self.stats
        n = len(gw)
        known = gw >= 0
        stats.unknown_gateway += int(n - known.sum())
        finite = np.isfinite(raw) & np.isfinite(rssi)
        stats.invalid += int((known & ~finite).sum())
        known &= finite
        if not known.all():
            gw, tag, rssi, raw = gw[known], tag[known], rssi[known], raw[known]
        if len(raw) == 0:
            return 0
        ms = np.rint(raw * 1000.0).astype(np.int64) & ((1 << _TS_KEY_BITS) - 1)
        keys = (ms << (63 - _TS_KEY_BITS)) | (tag << self._gw_bits) | gw
        # First occurrence of each key in this push, then against keys already seen.
        if len(keys) > 1:
            _, first = np.unique(keys, return_index=True)
            fresh = np.zeros(len(keys), dtype=bool)
            fresh[first] = True
        else:
            fresh = np.ones(1, dtype=bool)
        seen = self._seen
        key_list = keys.tolist()
        if seen and not seen.isdisjoint(key_list):  # the usual case, no repeat, checked in C
            fresh &= np.fromiter((k not in seen for k in key_list), dtype=bool, count=len(key_list))
        stats.duplicates += int(len(keys) - fresh.sum())
        ts = np.round(raw - self._clock.offsets_for(gw, raw), 6)
        late = fresh & (ts < self._tag_closed[tag])
        stats.late += int(late.sum())
        # Learning is measured against the data (the 3rd most advanced gateway), never against a
        # frontier carried forward by the caller's clock over a quiet spell.
        ref = self._kth if self._kth > -math.inf else None
        if ref is not None and fresh.any():
            self._learn_lateness(gw[fresh], ts[fresh], ref)
        if cfg.close_on_progress and fresh.any():
            self._learn_reorder(gw[fresh], ts[fresh], tag[fresh])
        take = fresh & ~late
        count = int(take.sum())
        if count == 0:
            return 0
        if count < len(take):
            gw, tag, rssi, ts, raw, keys = gw[take], tag[take], rssi[take], ts[take], raw[take], keys[take]
        new_keys = keys.tolist()
        seen.update(new_keys)
        buckets = np.floor(raw).astype(np.int64)
        if buckets[0] == buckets[-1] and (buckets == buckets[0]).all():
            self._seen_buckets.setdefault(int(buckets[0]), []).extend(new_keys)
        else:
            for b, k in zip(buckets.tolist(), new_keys, strict=True):
                self._seen_buckets.setdefault(b, []).append(k)
        self._pending.append((tag, gw, rssi, ts, raw))
        self._pushes += 1
        self._first_ts = min(self._first_ts, float(ts.min()))
        # No window can be due before its end plus min_lateness_s.
        self._next_due = min(self._next_due, float(ts.min()) + cfg.min_lateness_s + cfg.flush_granularity_s)
        stats.accepted += count

        # Watermarks: a gateway's moves to its newest sighting. The frontier is the 3rd most advanced
        # gateway, so one gateway stamping the future (a wrong clock, a hostile one) cannot move it.
        if ref is not None:
            stats.future += int((ts > ref + cfg.max_ahead_s).sum())
        self._note_silences(gw, ts)
        newest = np.full(len(self._gw_wm), -np.inf)
        np.maximum.at(newest, gw, ts)
        first_time = ~np.isfinite(self._gw_wm) & np.isfinite(newest)
        if first_time.any():
            oldest = np.full(len(self._gw_wm), np.inf)
            np.minimum.at(oldest, gw, ts)
            self._gw_first[first_time] = oldest[first_time]
        np.maximum(self._gw_wm, newest, out=self._gw_wm)
        np.maximum(self._gw_last, newest, out=self._gw_last)
        self._gw_count += np.bincount(gw, minlength=len(self._gw_count))
        if float(ts.max()) > self._kth:  # only then can the 3rd most advanced gateway change
            self._update_frontier()

        if cfg.clock_estimation:
            share = min(1.0, cfg.clock_max_tags / max(1, len(self._tag_ids)))
            sampled = self._tag_share[tag] < share
            if sampled.any():
                self._clock.add(tag[sampled], gw[sampled], raw[sampled])
            if self._kth > -math.inf and self._clock.due(self._kth):
                self._update_clocks(self._kth)
        return count

    def _learn_lateness(self, gw: np.ndarray, ts: np.ndarray, ref: float) -> None:
        """How far behind the frontier each gateway's oldest new sighting arrived, remembered over its last
        lateness_history batches; its wait is a high quantile of those (a spike passes, a habit stays)."""
        oldest = np.full(len(self._gw_wm), np.inf)
        np.minimum.at(oldest, gw, ts)
        hit = np.flatnonzero(np.isfinite(oldest))
        behind = np.clip(ref - oldest[hit], 0.0, self.config.allowed_lateness_s)
        n = self._late_hist.shape[1]
        self._late_hist[hit, self._late_n[hit] % n] = behind
        self._late_n[hit] += 1
        k = min(n - 1, max(0, math.ceil(self.config.lateness_quantile * n) - 1))
        self._gw_late[hit] = np.partition(self._late_hist[hit], k, axis=1)[:, k]

    def _learn_reorder(self, gw: np.ndarray, ts: np.ndarray, tag: np.ndarray) -> None:
        """How far back behind its own newest sighting each stream's batch reached (0 for a gateway that
        delivers in order), remembered over its last lateness_history batches; and its newest sighting."""
        stream = self._tag_stream[tag] * len(self._gw_wm) + gw
        oldest = np.full(len(self._stream_wm), np.inf)
        np.minimum.at(oldest, stream, ts)
        hit = np.flatnonzero(np.isfinite(oldest))
        before = self._stream_wm[hit]
        back = np.where(np.isfinite(before), np.maximum(before - oldest[hit], 0.0), 0.0)
        n = self._regress_hist.shape[1]
        self._regress_hist[hit, self._regress_n[hit] % n] = back
        self._regress_n[hit] += 1
        seen = self._regress_n[hit]
        filled = np.arange(n)[None, :] < seen[:, None]
        depth = np.where(filled, self._regress_hist[hit], 0.0).max(axis=1)
        self._gw_reorder.reshape(-1)[hit] = np.where(seen >= _TRUST_BATCHES, depth, np.inf)
        np.maximum.at(self._stream_wm, stream, ts)

    def _complete_near(self, now: float, cut: float) -> np.ndarray:
        """Per delivery stream and receiver: the event time up to which every receiver that would hear a tag
        near it has delivered. A gateway has delivered up to cut less its learnt lateness (the time rule),
        or, in a stream it delivers in order (close_on_progress), up to its newest sighting there less its
        reorder depth (never beyond the caller's clock), whichever is later; and at least up to cut less
        allowed_lateness_s."""
        cfg = self.config
        complete = np.maximum(cut - self._lateness_now() - cfg.min_lateness_s, cut - cfg.allowed_lateness_s)
        wm = self._stream_wm.reshape(self._gw_reorder.shape)
        complete = np.maximum(complete[None, :], np.minimum(wm - self._gw_reorder, now))
        if len(self._co_indices) == 0:
            return complete
        return np.minimum.reduceat(complete[:, self._co_indices], self._co_starts, axis=1)

    def _lateness_now(self) -> np.ndarray:
        return self._gw_late.copy()

    def _update_frontier(self) -> None:
        wm = self._gw_wm[np.isfinite(self._gw_wm)]
        if len(wm) == 0:
            return
        k = min(_FRONTIER_RANK, len(wm))
        self._kth = float(-np.partition(-wm, k - 1)[k - 1])

    def _update_clocks(self, frontier: float) -> None:
        before = self._clock.applied()
        epoch = self._clock.catch_up(frontier)
        if epoch is None:
            return
        self.stats.clock_updates = self._clock.updates
        change = self._clock.applied() - before
        # Sightings stamped after the new epoch that are still waiting are re-corrected (their windows
        # cannot have closed: the frontier has only just reached the epoch).
        clock = self._clock
        pending = []
        for t, g, r, s, raw in self._pending:
            redo = raw >= epoch
            if redo.any():
                s = np.where(redo, np.round(raw - clock.offsets_for(g, raw), 6), s)
            pending.append((t, g, r, s, raw))
        self._pending = pending
        clock.prune(frontier - 600.0)
        self._gw_wm -= change
        self._update_frontier()
        if self._pending:
            self._next_due = min(self._next_due, min(float(c[3].min()) for c in self._pending))
        if epoch == -math.inf:  # the first estimate of a held engine: none of its windows is decided yet
            self._first_radio_fit(float(clock.epochs[0]) - self.config.clock_search_s)

    def flush(self, watermark: float | None = None) -> list[LocationEstimate]:
        """Close the windows that can no longer change and estimate each; returns one estimate per
        closed window, ordered by event time (so per tag in order).

        ``watermark`` is the caller's clock: the wall clock in a live pipeline, the batch's own time in a
        replay; None closes every window (the end of a replay). A window closes when the frontier (never
        beyond the caller's clock) is past its end by the wait its receivers need. When the frontier has
        not moved for ``idle_after_s`` of the caller's clock, the site is quiet and the frontier follows
        the caller's clock, so the last windows of a quiet tag, gateway or site close within seconds.
        """
        cfg = self.config
        if watermark is None:
            cut = math.inf
        else:
            w = float(watermark)
            if not math.isfinite(w):
                raise ValueError("the watermark must be a finite time, or None")
            if self._pushes != self._pushes_seen:
                self._pushes_seen, self._arrived_at = self._pushes, w
            if self._kth > self._seen_frontier:
                self._seen_frontier, self._seen_at = self._kth, w
                self._lag = max(0.0, w - self._kth)
            elif self._seen_at is not None and w - self._seen_at >= cfg.idle_after_s:
                self._carried = max(self._carried, w - self._lag)
            f = self.frontier
            if f is None:
                return []
            cut = min(w, f)
        if self._clock_holding() and not self._release_clocks(cut, None if watermark is None else w):
            return []
        if watermark is not None:
            if cut < self._next_due:
                return []
        if not self._pending:
            return []
        tag, gw, rssi, ts, raw = (np.concatenate(col) for col in zip(*self._pending, strict=True))
        if math.isfinite(cut):
            # The wait a window needs: the slowest delivery among the receivers that would hear a tag
            # near its loud receivers.
            near = self._wait_near()
            # Only sightings at least min_lateness_s old can be in a window that closes now; a window cut
            # short by this (a sighting left out) ends too late to close (window_max_s margin).
            reach = ts
            selected = reach <= cut - cfg.min_lateness_s + cfg.window_max_s
            if not selected.any():
                self._next_due = float(reach.min()) + cfg.min_lateness_s - cfg.window_max_s
                return []
            rest = ~selected
            later = (tag[rest], gw[rest], rssi[rest], ts[rest], raw[rest])
            tag, gw, rssi, ts, raw = tag[selected], gw[selected], rssi[selected], ts[selected], raw[selected]
        else:
            later = None

        order = np.lexsort((gw, ts, tag))
        tag, gw, rssi, ts, raw = tag[order], gw[order], rssi[order], ts[order], raw[order]
        win = self._windows(tag, ts)
        n_win = int(win[-1]) + 1
        starts = np.flatnonzero(np.r_[True, win[1:] != win[:-1]])
        ends = np.r_[starts[1:], len(win)] - 1
        t0, t_last = ts[starts], ts[ends]
        end_bound = np.minimum(t_last + cfg.window_gap_s, t0 + cfg.window_max_s)
        can_progress = np.zeros(n_win, dtype=bool)
        if math.isfinite(cut):
            # Its loud receivers: heard within wait_anchor_margin_db of its loudest sighting.
            loud = rssi >= np.repeat(np.maximum.reduceat(rssi, starts), np.diff(np.r_[starts, len(win)])) - (
                cfg.wait_anchor_margin_db
            )
            wait = np.maximum.reduceat(np.where(loud, near[gw], 0.0), starts)
            wait = np.clip(wait + cfg.min_lateness_s, 0.0, cfg.allowed_lateness_s)
            due = end_bound + wait
            closable = due <= cut
            trusted = np.isfinite(self._gw_reorder)
            if cfg.close_on_progress and trusted.any():
                # Or sooner: every receiver it waits for has delivered past its end, those that deliver in
                # order shown by their own progress (and the frontier is past it too, so the selection
                # above holds every sighting of the window).
                stream = self._tag_stream[tag]
                reached = np.minimum.reduceat(np.where(loud, self._complete_near(w, cut)[stream, gw], np.inf), starts)
                closable |= (reached > t_last + cfg.progress_margin_s) & (t0 <= cut - cfg.min_lateness_s)
                # The earliest it can: the wait of its receivers not trusted to deliver in order.
                untrusted = self._wait_near(np.where(trusted, 0.0, self._lateness_now()[None, :]))
                wait_u = np.maximum.reduceat(np.where(loud, untrusted[stream, gw], 0.0), starts)
                earliest = np.where(
                    wait_u > 0,
                    end_bound + np.clip(wait_u + cfg.min_lateness_s, 0.0, cfg.allowed_lateness_s),
                    t0 + cfg.min_lateness_s,
                )
                can_progress = ~closable & (earliest < due)
            # A tag's windows close in time order: one still waiting holds back the tag's later ones only.
            w_tag_all = tag[starts]
            open_before = np.cumsum(~closable) - (~closable)
            tag_first = np.flatnonzero(np.r_[True, w_tag_all[1:] != w_tag_all[:-1]])
            lengths = np.diff(np.r_[tag_first, n_win])
            closable &= (open_before - np.repeat(open_before[tag_first], lengths)) == 0
        else:
            due = end_bound
            closable = np.ones(n_win, dtype=bool)
        done = closable[win]

        keep = [later] if later is not None and len(later[0]) else []
        next_due = math.inf
        if not done.all():
            keep.append((tag[~done], gw[~done], rssi[~done], ts[~done], raw[~done]))
            # Windows held back only by an earlier window of their tag wait for that one's due.
            own = due[~closable]
            own = own[own > cut]
            next_due = float(own.min()) if len(own) else float(due[~closable].min())
            if (can_progress & ~closable).any():
                # A window that may close on its receivers' progress is looked at again once the frontier
                # has moved on (its receivers' next batches come with the site's).
                soon = np.maximum(earliest[can_progress & ~closable], cut)
                next_due = min(next_due, float(soon.min()))
        if later is not None and len(later[0]):
            next_due = min(next_due, float(later[3].min()) + cfg.min_lateness_s)
        self._pending = keep
        # Windows are closed in small groups rather than one by one: each estimation pass has a fixed cost.
        self._next_due = next_due + cfg.flush_granularity_s
        if not done.any():
            return []
        self._prune_duplicates(cut if math.isfinite(cut) else float(ts[done].max()))

        # Closed windows, renumbered 0..W-1 in (tag, time) order.
        w_ids = np.flatnonzero(closable)
        renum = np.full(n_win, -1, dtype=np.int64)
        renum[w_ids] = np.arange(len(w_ids))
        s_win = renum[win[done]]
        s_gw, s_rssi = gw[done], rssi[done]
        w_tag = tag[starts[w_ids]]
        w_ts = t0[w_ids]
        w_end = end_bound[w_ids]
        np.maximum.at(self._tag_closed, w_tag, w_end)
        # Event-time order across tags; ties by tag so the output is fully determined.
        w_order = np.lexsort((w_tag, w_ts))
        estimates: list[LocationEstimate] = []
        sighting_order = np.argsort(s_win, kind="stable")
        s_win, s_gw, s_rssi = s_win[sighting_order], s_gw[sighting_order], s_rssi[sighting_order]
        s_start = np.searchsorted(s_win, np.arange(len(w_ids) + 1))
        dark = self._dark_candidates(w_end)
        # Blocks never straddle a calibration epoch: every window is judged with the calibration of its
        # own epoch, however the windows were batched into flushes (a replay equals the live run).
        epoch = np.floor(w_ts[w_order] / cfg.calibration_every_s).astype(np.int64)
        cuts = np.flatnonzero(np.r_[True, epoch[1:] != epoch[:-1]])
        for c0, c1 in zip(cuts.tolist(), np.r_[cuts[1:], len(w_order)].tolist(), strict=True):
            self._calibrate_for(int(epoch[c0]))
            for b0 in range(c0, c1, _BLOCK_WINDOWS):
                block = w_order[b0 : min(c1, b0 + _BLOCK_WINDOWS)]
                # Sightings of the block's windows, windows renumbered 0..len(block)-1.
                lengths = s_start[block + 1] - s_start[block]
                local = np.repeat(np.arange(len(block)), lengths)
                idx = np.repeat(s_start[block] - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(lengths.sum())
                estimates.extend(
                    self._estimate(w_tag[block], w_ts[block], local, s_gw[idx], s_rssi[idx], w_end[block], dark)
                )
        return estimates

    def _clock_holding(self) -> bool:
        """No window closes before the first clock estimate of an engine that resumed no offsets
        (EngineConfig.clock_hold_first)."""
        cfg = self.config
        return cfg.clock_estimation and cfg.clock_hold_first and not self._clock.released and bool(self._pending)

    def _release_clocks(self, cut: float, watermark: float | None = None) -> bool:
        """While held: run the first estimate once the frontier has reached its epoch, or at once at the end of a
        replay or when the site goes quiet (idle_after_s): its sightings are in, so it is the estimate the epoch would
        give, unless the site speaks again within the stretch (the one way a live run's first minute can differ from
        a replay's). True once released."""
        clock = self._clock
        # Quiet: the frontier stalled AND nothing arrived for idle_after_s of the caller's clock. A frontier that
        # stalls while late batches keep arriving is not quiet: released then, the first estimate came from the
        # first seconds of traffic (lab combined: at 5 s, mostly zero offsets and one alias, for two minutes).
        quiet = (
            watermark is not None
            and self._carried > self._kth
            and watermark - self._arrived_at >= self.config.idle_after_s
        )
        if math.isinf(cut) or quiet:
            # The end of a replay, or a quiet site (no more sightings to wait for): estimate now from what there is.
            while not clock.released and math.isfinite(clock._next_update):
                self._update_clocks(clock._next_update)
        elif cut >= clock._next_update:
            self._update_clocks(cut)
        return clock.released or not math.isfinite(clock._next_update)

    def _first_radio_fit(self, until: float) -> None:
        """At the first clock estimate of a held engine, before any window is decided: the radio fit's wide search
        on the held windows of the fit's sample of tags stamped up to ``until`` (the end of the estimate's own
        stretch). Run where the estimate is, in push order, on the sightings pushed by then: a replay makes the same
        search, as it makes the same estimate. Without it the first two minutes were decided with the configured
        radio (an epoch's fit comes from windows two epochs old): lab walls_sparse_busy placed 88 % of its settled
        pings right in the first two minutes and 92 % in the next two (99 % later); with it 94 and 97 %."""
        cfg = self.config
        if not (cfg.radio_fit and self._pending):
            return
        tag, gw, rssi, ts, raw = (np.concatenate(col) for col in zip(*self._pending, strict=True))
        stretch = raw <= until
        tags = np.unique(tag[stretch])
        share = min(1.0, cfg.radio_fit_tags / max(1, len(tags)))
        mine = stretch & (self._tag_share[tag] < share)
        if not mine.any():
            return
        tag, gw, rssi, ts = tag[mine], gw[mine], rssi[mine], ts[mine]
        order = np.lexsort((gw, ts, tag))
        tag, gw, rssi, ts = tag[order], gw[order], rssi[order], ts[order]
        win = self._windows(tag, ts)
        n = int(win[-1]) + 1
        w_tag = tag[np.flatnonzero(np.r_[True, win[1:] != win[:-1]])]
        heard_rx, heard_y, heard_n = self._heard(n, win, gw, rssi, count=False)
        usable = (heard_rx >= 0) & (self.plan.cand_count[np.maximum(heard_rx, 0)] > 0)
        ok = usable.any(axis=1) & (heard_n >= 2)
        w_tag, heard_rx, heard_y, usable = w_tag[ok], heard_rx[ok], heard_y[ok], usable[ok]
        if len(w_tag) == 0:
            return
        rows = np.arange(len(w_tag))
        first = usable.argmax(axis=1)
        anchor = heard_rx[rows, first]
        n_rooms = self._reach(anchor, heard_y[rows, first])
        # The rooms a tag may be in over the minute: those of each of its windows (w_tag is sorted).
        cand_rooms = self.plan.cand_rooms
        cand = np.where(np.arange(cand_rooms.shape[1])[None, :] < n_rooms[:, None], cand_rooms[anchor], -1)
        starts = np.flatnonzero(np.r_[True, w_tag[1:] != w_tag[:-1]])
        per_tag = [np.unique(c[c >= 0]) for c in np.split(cand, starts[1:])]
        width = max(len(r) for r in per_tag)
        table = np.full((len(per_tag), width), -1, dtype=np.int64)
        for i, r in enumerate(per_tag):
            table[i, : len(r)] = r
        group = np.repeat(np.arange(len(per_tag)), np.diff(np.r_[starts, len(w_tag)]))
        if self._radio_fit.first(group, table[group], heard_rx, heard_y, self._likelihood):
            self.stats.radio_fit_updates = self._radio_fit.updates

    def flush_idle(self, now: float) -> list[LocationEstimate]:
        """flush(now) with the wall clock: what a live pipeline calls about once a second, also when
        nothing arrives, so that the windows of a quiet tag, gateway or site are committed."""
        return self.flush(now)

    def flush_ready(self) -> list[LocationEstimate]:
        """flush() at the engine's own frontier."""
        f = self.frontier
        return [] if f is None else self.flush(f)

    def restore(
        self,
        tag_id: str,
        *,
        room_id: int,
        ts: float,
        confidence: float = 0.9,
        entered_at: float | None = None,
        shown_before: Sequence[tuple[int, float]] | None = None,
    ) -> None:
        """Seed a tag's smoothing state, e.g. from the stored current location after a restart; entered_at is
        when it entered that room (the open stay's start), and shown_before the rooms shown before it, oldest
        first, as (room_id, entered_at): from them the engine works out, as an uninterrupted run did, whether
        the tag is on its way (it left a room it had stayed in, moments before; EngineConfig.moving_min_stay_s).
        Without shown_before, a tag that entered its room moments before is taken to be on its way."""
        ri = self._room_index.get(int(room_id))
        if ri is None:
            raise ValueError(f"room {room_id} is not in the site plan")
        if not math.isfinite(ts):
            raise ValueError("ts must be a finite epoch time")
        ti = self._tag(tag_id)
        self._belief_room[ti] = -1
        self._belief_p[ti] = 0.0
        self._belief_room[ti, 0] = ri
        self._belief_p[ti, 0] = min(max(float(confidence), 0.01), 0.999)
        self._last_ts[ti] = ts
        self._shown_room[ti] = ri
        self._shown_since[ti] = -np.inf if entered_at is None else entered_at
        self._moving_since[ti] = self._shown_since[ti]
        if shown_before is not None and entered_at is not None:
            self._moving_since[ti] = self._moving_since_after([*shown_before, (int(room_id), entered_at)])

    def _moving_since_after(self, shown: Sequence[tuple[int, float]]) -> float:
        """When the tag was last shown setting off, from the rooms it was shown in (oldest first), one change
        at a time as _step saw them (the first room shown is a change from none)."""
        moving, prev, since = -math.inf, -1, -math.inf
        for room_id, t in shown:
            if _on_its_way(self.config, self._passage, prev, t - since, t - moving):
                moving = t
            prev, since = self._room_index.get(int(room_id), -1), t
        return moving

    # ------------------------------------------------------------------ windows

    def _tag(self, tag_id: str) -> int:
        ti = self._tag_index.get(tag_id)
        if ti is not None:
            return ti
        ti = len(self._tag_ids)
        if ti >= self._tag_limit:
            raise RuntimeError(f"the engine tracks at most {self._tag_limit} tags")
        self._tag_index[tag_id] = ti
        self._tag_ids.append(tag_id)
        if ti >= len(self._last_ts):
            grow = len(self._last_ts)
            self._belief_room = np.concatenate([self._belief_room, np.full_like(self._belief_room, -1)])
            self._belief_p = np.concatenate([self._belief_p, np.zeros_like(self._belief_p)])
            self._last_ts = np.concatenate([self._last_ts, np.full(grow, np.nan)])
            self._shown_room = np.concatenate([self._shown_room, np.full(grow, -1, dtype=np.int64)])
            self._shown_since = np.concatenate([self._shown_since, np.full(grow, -np.inf)])
            self._moving_since = np.concatenate([self._moving_since, np.full(grow, -np.inf)])
            self._tag_closed = np.concatenate([self._tag_closed, np.full(grow, -np.inf)])
            self._tag_share = np.concatenate([self._tag_share, np.zeros(grow)])
            self._tag_stream = np.concatenate([self._tag_stream, np.zeros(grow, dtype=np.int64)])
        self._tag_share[ti] = tag_share_key(tag_id)
        if self.config.delivery_streams > 1:
            self._tag_stream[ti] = shard_of(tag_id, self.config.delivery_streams)
        return ti

    def _windows(self, tag: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Window id per sighting (sorted by tag, ts): a gap > window_gap_s or a span >= window_max_s starts one."""
        cfg = self.config
        new = np.ones(len(ts), dtype=bool)
        new[1:] = (tag[1:] != tag[:-1]) | (np.diff(ts) > cfg.window_gap_s)
        session = np.cumsum(new) - 1
        starts = np.flatnonzero(new)
        ends = np.r_[starts[1:], len(ts)] - 1
        long = np.flatnonzero(ts[ends] - ts[starts] >= cfg.window_max_s)
        if len(long):  # rare: a tag pinging faster than the gap; split sequentially
            for s in long.tolist():
                t0 = ts[starts[s]]
                for i in range(starts[s] + 1, ends[s] + 1):
                    if ts[i] - t0 >= cfg.window_max_s:
                        new[i] = True
                        t0 = ts[i]
            session = np.cumsum(new) - 1
        return session

    def _set_waits(self) -> None:
        """Which receivers a window waits for. Judged on the configured radio as well as the learnt one: the fit is a
        point on a ridge of models that explain the heard readings alike (a steeper fall-off against thinner walls)
        and may expect a far receiver well below what it hears. The live world of benchmarks/ingest_load.py with
        the fit (2.6, 6.0) learnt in its first minute waited for 1,881 (receiver, receiver) pairs instead of 3,688,
        and 0.28 % of its sightings came too late to place (0.01 % before)."""
        co = _wait_hearers(self.plan, self.config)  # (R, R) bool: would hear a tag near r
        if self._radio_fit.applied.any():
            with self._radio_fit.configured():
                co |= _wait_hearers(self.plan, self.config)
        self._co = co
        co_r, co_g = np.nonzero(self._co)
        self._co_indices = co_g
        self._co_starts = np.searchsorted(co_r, np.arange(len(self._co)))

    def _wait_near(self, late: np.ndarray | None = None) -> np.ndarray:
        """Per receiver: the largest learnt lateness (or of ``late``, per receiver or per stream and receiver)
        among the receivers that would hear a tag near it."""
        late = self._lateness_now() if late is None else late
        if len(self._co_indices) == 0:
            return late
        return np.maximum.reduceat(late[..., self._co_indices], self._co_starts, axis=-1)

    def _silence_threshold(self, gateways: np.ndarray) -> np.ndarray:
        """How long each gateway must be silent to count as dark: dark_after_s, and ten times its usual gap
        between sightings while it was heard (a receiver that hears a tag now and then is quiet, not dark);
        never for one heard fewer than ten times (nothing near it, or too little known)."""
        count = self._gw_count[gateways]
        usual_gap = (self._gw_last[gateways] - self._gw_first[gateways]) / np.maximum(count, 1)
        threshold = np.maximum(self.config.dark_after_s, 10.0 * usual_gap)
        return np.where(count >= 10, threshold, np.inf)

    def _silent_at(self, gateways: np.ndarray, at) -> np.ndarray:
        """Whether each gateway's silence since its newest sighting is past its threshold at `at` (a time, or
        a column of window ends: an n x len(gateways) answer). Never for a gateway not heard enough."""
        return at - self._gw_last[gateways] > self._silence_threshold(gateways)

    def _note_silences(self, gw: np.ndarray, ts: np.ndarray) -> None:
        """Record the silences these sightings end (before the watermarks move), and split the recorded ones
        that a late sighting falls into. Judged on the gateways' own sightings in push order, so whether a
        receiver was dark at a window's end does not depend on when the window was closed (a replay flushing
        every 5 s decides as the live run flushing every 0.5 s)."""
        cfg = self.config
        if float(ts.max()) - float(ts.min()) <= cfg.dark_after_s:
            # The usual push (seconds of sightings): a silence can only end at a gateway's first sighting after
            # its newest one before, and only where a sighting is that far past it; no sort.
            wm = self._gw_last[gw]
            ended = (ts - wm > cfg.dark_after_s) & np.isfinite(wm)
            if ended.any():
                gates = np.unique(gw[ended])
                mine = np.isin(gw, gates) & (ts >= wm)
                first = np.full(len(self._gw_last), np.inf)
                np.minimum.at(first, gw[mine], ts[mine])
                self._record_silences(gates, self._gw_last[gates], first[gates])
            behind = ts < wm
            late_g, late_t = gw[behind], ts[behind]
        else:
            order = np.lexsort((ts, gw))
            g, t = gw[order], ts[order]
            wm = self._gw_last[g]  # each gateway's newest sighting before this push
            prev = np.empty_like(t)
            prev[1:] = t[:-1]
            prev[np.r_[True, g[1:] != g[:-1]]] = -np.inf
            prev = np.maximum(prev, wm)  # the newest sighting of the gateway before this one
            self._record_silences(g, prev, t)
            late_g, late_t = g[t < wm], t[t < wm]
        if self._silences and len(late_g):
            # A late sighting (older than its gateway's newest) may fall into a silence recorded before.
            late = np.isin(late_g, np.fromiter(self._silences, dtype=np.int64))
            for gate, when in zip(late_g[late].tolist(), late_t[late].tolist(), strict=True):
                spans = self._silences.get(gate, [])
                for i, (begin, end, limit) in enumerate(spans):
                    if begin < when < end:
                        parts = [[begin, when, limit], [when, end, limit]]
                        spans[i : i + 1] = [p for p in parts if p[1] - p[0] > limit]
                        break

    def _record_silences(self, g: np.ndarray, prev: np.ndarray, t: np.ndarray) -> None:
        """Each t ends a silence of its gateway g since prev (its newest sighting before): recorded when it was
        long enough to have made the gateway dark."""
        cfg = self.config
        ended = np.isfinite(prev) & (t - prev > cfg.dark_after_s)
        if ended.any():
            hit = np.flatnonzero(ended)
            # Its threshold as it stood when the silence began (as for a silence still under way).
            threshold = self._silence_threshold(g[hit])
            for gate, begin, end, limit in zip(
                g[hit].tolist(), prev[hit].tolist(), t[hit].tolist(), threshold.tolist(), strict=True
            ):
                if end - begin > limit:  # long enough to have made it dark: an outage, not a lull
                    self._silences.setdefault(gate, []).append([begin, end, limit])

    def _dark_gateways(self) -> np.ndarray:
        """Gateways silent now (at the frontier) for longer than their threshold (gateway_clocks, health).
        A gateway never heard at all is assumed to be working (nothing near it)."""
        f = self._kth  # silence is judged on the data, not on a frontier carried over a quiet spell
        if f == -math.inf:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self._silent_at(np.arange(len(self._gw_last)), f))

    def _dark_candidates(self, w_end: np.ndarray) -> np.ndarray:
        """Gateways that may have been dark at the end of one of these windows: silent now since before it
        by more than their threshold, or with a recorded silence reaching into the windows' span."""
        if len(w_end) == 0:
            return np.zeros(0, dtype=np.int64)
        lo, hi = float(w_end.min()), float(w_end.max())
        now = np.flatnonzero(self._silent_at(np.arange(len(self._gw_last)), hi))
        past = []
        for g, spans in list(self._silences.items()):
            # Windows close within allowed_lateness_s of each other: none this old is still to close.
            spans[:] = [span for span in spans if span[1] >= lo - 600.0]
            if not spans:
                del self._silences[g]
            elif any(b < hi and e > lo for b, e, _ in spans):
                past.append(g)
        return np.union1d(now, np.array(past, dtype=np.int64))

    def _dark_at(self, dark: np.ndarray, w_end: np.ndarray) -> np.ndarray:
        """(n x D) whether each candidate gateway was dark at each window's end: silent since more than its
        threshold before it, by a silence still under way or by one that ended after it."""
        out = self._silent_at(dark, w_end[:, None])
        for j, gate in enumerate(dark.tolist()):
            for begin, end, threshold in self._silences.get(gate, ()):
                out[:, j] |= (w_end > begin) & (w_end < end) & (w_end - begin > threshold)
        return out

    def _prune_duplicates(self, cut: float) -> None:
        horizon = cut - self.config.duplicate_memory_s
        if not math.isfinite(horizon) or horizon <= self._pruned_to + 1.0:
            return
        self._pruned_to = horizon
        old = [b for b in self._seen_buckets if b + 1 < horizon]
        for b in old:
            self._seen.difference_update(self._seen_buckets.pop(b))

    # ------------------------------------------------------------------ calibration

    def _calibrate_for(self, epoch: int) -> None:
        """Use the radio fit and the calibration learnt from the windows of epochs up to epoch - 2 (all
        closed by the time any window of `epoch` closes, live or in a replay)."""
        cfg = self.config
        if epoch == self._cal_epoch or not (cfg.calibration or cfg.radio_fit or cfg.detection_floor):
            return
        self._cal_epoch = epoch
        if cfg.radio_fit:
            version = (self.stats.calibration_updates, self.stats.floor_updates)
            self._radio_fit.use(epoch, self._likelihood, version)
            self.stats.radio_fit_updates = self._radio_fit.updates
        if cfg.calibration:
            self._calibrate(epoch)
        if cfg.detection_floor:
            self._update_floors(epoch)

    def _update_floors(self, epoch: int) -> None:
        """The receivers' detection floors from what they reported in epochs epoch - 1 - N .. epoch - 2."""
        cfg = self.config
        span = range(epoch - 1 - cfg.detection_floor_epochs, epoch - 1)
        parts = [self._floor_hist[k] for k in span if k in self._floor_hist]
        if not parts:
            return
        n_gw = len(self._floor_applied)
        histogram = np.sum(parts, axis=0).reshape(n_gw, FLOOR_BINS)
        floors = detection_floors(histogram, cfg)
        # Too few reports to judge: keep what is applied (a filter is a setting of the gateway; it does not go
        # away when the receiver is quiet, nor when the worker restarts: resume_learnt).
        floors = np.where(histogram.sum(axis=1) >= cfg.floor_min_readings, floors, self._floor_applied)
        if np.array_equal(floors, self._floor_applied):
            return
        self._floor_applied = floors
        set_detection_floors(self.plan, floors if floors.any() else None)
        self._set_waits()
        self.stats.floor_updates += 1

    def resume_learnt(
        self,
        *,
        floors_dbm: Mapping[str, float | None] | None = None,
        calibration_db: Mapping[str, float | None] | None = None,
        radio_fit: tuple[float, float] | None = None,
        clock_offsets_s: Mapping[str, float | None] | None = None,
        clock_since: float = -math.inf,
    ) -> int:
        """Start from what an earlier engine learnt about the receivers (``gateway_clocks()``'s ``floor_dbm``,
        ``calibration_db`` and ``offset_s``, which the pipeline stores on the receiver rows) instead of relearning
        it over minutes of traffic after a restart. Before the first push only: a replay seeded the same way decides as
        the run. Returns how many receivers start with something learnt.

        - A detection floor is a setting of the gateway (its rssi filter). It is kept until the receiver's
          reports of the last ``detection_floor_epochs`` are enough to judge it (``floor_min_readings``), then
          learnt as usual.
        - A calibration counts as ``RESUMED_READINGS`` readings of the receiver that said so (from
          ``calibration_min_tags`` tags): new readings take over as they come. 0 is "not learnt": the receiver
          learns from scratch.
        - The site's radio (``radio_fit``: path-loss exponent and dB per wall, as ``engine.radio_fit``) is the
          fit the steps start from, without the first wide search.
        - A gateway's clock offset (``clock_offsets_s``) corrects its sightings stamped from ``clock_since`` on
          until the first estimate (``clock_first_update_s`` + ``clock_search_s`` of event time; before it,
          timestamps would be taken as they are). The first estimate searches wide, as always, and moves a
          resumed offset only on clearly better support (a clock that was reset while the engine was down)."""
        if self._cal_epoch is not None or self.stats.accepted:
            raise RuntimeError("resume_learnt: only before the first sighting is pushed")
        cfg, index = self.config, self.plan.gateway_index

        def column(values: Mapping[str, float | None] | None) -> tuple[np.ndarray, np.ndarray]:
            out, given = np.zeros(len(self._floor_applied)), np.zeros(len(self._floor_applied), dtype=bool)
            for gateway_id, value in (values or {}).items():
                i = index.get(gateway_id)
                if i is not None and value is not None and math.isfinite(value):
                    out[i], given[i] = value, True
            return out, given

        offsets, has_offset = column(clock_offsets_s if cfg.clock_estimation else None)
        if has_offset.any():
            self._clock.resume(offsets, has_offset, clock_since)
        if cfg.radio_fit and radio_fit is not None:
            self._radio_fit.resume(*radio_fit)
            self.stats.radio_fit_updates = self._radio_fit.updates
        floors, has_floor = column(floors_dbm if cfg.detection_floor else None)
        floors = np.where(has_floor, np.maximum(floors - cfg.sensitivity_dbm, 0.0), 0.0).astype(np.float32)
        if floors.any():
            self._floor_applied = floors
            set_detection_floors(self.plan, floors)
            self._set_waits()
            self.stats.floor_updates += 1
        cal, has_cal = column(calibration_db if cfg.calibration else None)
        has_cal &= cal != 0.0  # 0: nothing learnt yet (gateway_clocks() says 0 for a receiver not calibrated)
        cal = np.clip(cal, -cfg.calibration_max_db, cfg.calibration_max_db)
        if has_cal.any():
            base_sum, base_n, base_upto = self._cal_base
            weight = np.where(has_cal, RESUMED_READINGS, 0.0)
            # _calibrate's total / (count + calibration_prior_n) is then the resumed value until new readings come.
            prior = np.where(has_cal, cfg.calibration_prior_n, 0.0)
            self._cal_base = (base_sum + cal * (weight + prior), base_n + weight, base_upto)
            tags = np.maximum(self._cal_tag_count, cfg.calibration_min_tags)
            self._cal_tag_count = np.where(has_cal, tags, self._cal_tag_count)
            if np.abs(cal).max() > 0:
                refresh_miss_tables(self.plan, cal - self._cal_applied)
                self._cal_applied = cal
                self.stats.calibration_updates += 1
        return int(np.count_nonzero((floors > 0) | has_cal | has_offset))

    def _count_reports(self, gateway: np.ndarray, rssi: np.ndarray) -> None:
        """Add the reported rssi of the current epoch's windows to its detection-floor histogram."""
        if self._cal_epoch is None or len(gateway) == 0:
            return
        n_gw = len(self._floor_applied)
        bucket = self._floor_hist.get(self._cal_epoch)
        if bucket is None:
            bucket = self._floor_hist[self._cal_epoch] = np.zeros(n_gw * FLOOR_BINS, dtype=np.int64)
            # Epochs long past are forgotten: no window that old can still be closed.
            horizon = self._cal_epoch - 2 * self.config.detection_floor_epochs - 4
            for k in [k for k in self._floor_hist if k < horizon]:
                del self._floor_hist[k]
        bins = np.clip(np.floor(rssi).astype(np.int64) - FLOOR_BINS_FROM_DBM, 0, FLOOR_BINS - 1)
        bucket += np.bincount(gateway * FLOOR_BINS + bins, minlength=n_gw * FLOOR_BINS)

    def _calibrate(self, epoch: int) -> None:
        cfg = self.config
        base_sum, base_n, base_upto = self._cal_base
        total, count = base_sum.copy(), base_n.copy()
        for k, (bucket_sum, bucket_n) in self._cal_buckets.items():
            if base_upto < k <= epoch - 2:
                total += bucket_sum
                count += bucket_n
        target = np.clip(total / (count + cfg.calibration_prior_n), -cfg.calibration_max_db, cfg.calibration_max_db)
        # Only relative calibration is identifiable (a tag's gain absorbs a common shift): keep the
        # median receiver at its datasheet value.
        # A receiver's own offset is common to every tag; one tag's readings could be its spot's shadowing.
        diverse = self._cal_tag_count >= cfg.calibration_min_tags
        has = (count > 0) & diverse
        if has.any():
            target[has] -= float(np.median(target[has]))
        target[~has] = 0.0
        change = target - self._cal_applied
        if np.abs(change).max() < 0.25:
            return
        self._cal_applied = target
        refresh_miss_tables(self.plan, change)
        self.stats.calibration_updates += 1

    def _learn_calibration(self, w_tag, conf, heard_n, best, gain, heard_rx, heard_y) -> None:
        """Residuals of confidently placed windows against the chosen point, per receiver."""
        cfg, plan = self.config, self.plan
        ok = (conf >= cfg.calibration_min_confidence) & (heard_n >= 3)
        if not ok.any():
            return
        rx_ok = heard_rx[ok] >= 0
        rx = np.maximum(heard_rx[ok], 0)
        mu = plan.expected_rssi[plan.table_index(best[ok][:, None], rx)].astype(np.float64) + gain[ok][:, None]
        floor = 0.0 if plan.rx_floor_db is None else plan.rx_floor_db[rx]
        use = rx_ok & (mu >= cfg.sensitivity_dbm + cfg.calibration_margin_db + floor)
        # Each reading against the tag's gain fitted from the OTHER receivers of its window (leave one
        # out): the window's own gain fit would absorb part of this receiver's error (with 2-4 receivers
        # heard, half of it), and the iteration over epochs would converge only slowly.
        e = heard_y[ok] - (mu - gain[ok][:, None])  # residual before the tag's gain
        fit = rx_ok & (mu > UNHEARABLE_DBM + 1.0)
        clipped = np.clip(e, -2.0 * cfg.fade_sigma_db, 2.0 * cfg.sigma_db) * fit
        kappa = (cfg.sigma_db / cfg.offset_prior_db) ** 2 if cfg.offset_prior_db > 0 else np.inf
        others = fit.sum(axis=1, keepdims=True) - fit
        loo = (clipped.sum(axis=1, keepdims=True) - clipped) / (others + kappa)
        loo = np.clip(loo, -cfg.offset_range_db, cfg.offset_range_db)
        resid = np.clip(e - loo, -10.0, 10.0)
        # Residuals are measured against the tables that already include the applied calibration.
        total = resid + self._cal_applied[rx]
        n_gw = len(self._cal_applied)
        bucket = self._cal_buckets.get(self._cal_epoch)
        if bucket is None:
            bucket = self._cal_buckets[self._cal_epoch] = (np.zeros(n_gw), np.zeros(n_gw))
        np.add.at(bucket[0], rx[use], total[use])
        np.add.at(bucket[1], rx[use], 1.0)
        limit = self.config.calibration_min_tags
        short = self._cal_tag_count[rx[use]] < limit  # receivers still short of distinct tags
        if short.any():
            tags = np.broadcast_to(w_tag[ok][:, None], rx.shape)[use][short]
            for r, t in set(zip(rx[use][short].tolist(), tags.tolist(), strict=True)):
                seen = self._cal_tags[r]
                if len(seen) < limit:
                    seen.add(t)
                    self._cal_tag_count[r] = len(seen)
        # Epochs long past are merged: no window that old can still be closed.
        old = [k for k in self._cal_buckets if k < self._cal_epoch - 10]
        if old:
            base_sum, base_n, base_upto = self._cal_base
            for k in sorted(old):
                bucket_sum, bucket_n = self._cal_buckets.pop(k)
                base_sum, base_n = base_sum + bucket_sum, base_n + bucket_n
            self._cal_base = (base_sum, base_n, max(base_upto, max(old)))

    # ------------------------------------------------------------------ estimation

    def _estimate(self, w_tag, w_ts, s_win, s_gw, s_rssi, w_end, dark) -> list[LocationEstimate]:
        cfg, plan = self.config, self.plan
        n = len(w_tag)
        heard_rx, heard_y, heard_n = self._heard(n, s_win, s_gw, s_rssi)
        # The anchor: the loudest receiver that has any room in reach.
        usable = (heard_rx >= 0) & (plan.cand_count[np.maximum(heard_rx, 0)] > 0)
        ok = usable.any(axis=1)
        if not ok.all():
            self.stats.unlocated += int((~ok).sum())
            keep = np.flatnonzero(ok)
            w_tag, w_ts, heard_rx, heard_y = w_tag[keep], w_ts[keep], heard_rx[keep], heard_y[keep]
            w_end = w_end[keep]
            heard_n, usable = heard_n[keep], usable[keep]
            n = len(keep)
            if n == 0:
                return []
        rows = np.arange(n)
        first = usable.argmax(axis=1)
        anchor = heard_rx[rows, first]
        anchor_y = heard_y[rows, first]
        unknown_rx = self._unknown(dark, anchor, heard_rx, w_end)
        n_rooms = self._reach(anchor, anchor_y)
        # A second anchor on another floor, when one is heard nearly as loud: the floor is then a real question.
        other = (
            usable
            & (plan.rx_floor[np.maximum(heard_rx, 0)] != plan.rx_floor[anchor][:, None])
            & (heard_y >= (anchor_y - cfg.other_floor_margin_db)[:, None])
        )
        second = other.argmax(axis=1)
        anchor2 = heard_rx[rows, second]
        reach2 = (plan.cand_rssi[anchor2] >= (heard_y[rows, second] - cfg.candidate_margin_db)[:, None]).sum(axis=1)
        low2 = np.minimum(cfg.min_candidate_rooms, plan.cand_count[anchor2])
        n_rooms2 = np.where(other.any(axis=1), np.clip(reach2, low2, cfg.max_other_floor_rooms), 0)

        # Each tag's windows in time order: step r handles every tag's r-th window at once.
        by_tag = np.lexsort((w_ts, w_tag))
        tags_sorted = w_tag[by_tag]
        group_start = np.flatnonzero(np.r_[True, tags_sorted[1:] != tags_sorted[:-1]])
        rank = np.empty(n, dtype=np.int64)
        rank[by_tag] = np.arange(n) - np.repeat(group_start, np.diff(np.r_[group_start, n]))

        chosen = np.full(n, -1, dtype=np.int64)
        previous = np.full(n, -1, dtype=np.int64)
        confidence = np.zeros(n)
        start_xy = np.zeros((n, 2))
        best_sample = np.zeros(n, dtype=np.int64)
        gain = np.zeros(n)
        coverage = np.sqrt(np.minimum(1.0, heard_n / cfg.full_confidence_receivers))
        for r in range(int(rank.max()) + 1):
            w = np.flatnonzero(rank == r)
            ti = w_tag[w]
            width = int(n_rooms[w].max())
            near_rooms = plan.cand_rooms[anchor[w], :width]
            near_rooms = np.where(np.arange(width)[None, :] < n_rooms[w][:, None], near_rooms, -1)
            width2 = int(n_rooms2[w].max())
            if width2:
                more = plan.cand_rooms[anchor2[w], :width2]
                more = np.where(np.arange(width2)[None, :] < n_rooms2[w][:, None], more, -1)
                more = np.where((more[:, :, None] == near_rooms[:, None, :]).any(axis=2), -1, more)
                near_rooms = np.concatenate([near_rooms, more], axis=1)
            belief = self._belief_room[ti]
            known = (belief[:, :, None] == near_rooms[:, None, :]).any(axis=2) | (belief < 0)
            rooms = np.concatenate([near_rooms, np.where(known, -1, belief)], axis=1)
            room_ll, chunks = self._likelihood(
                rooms, heard_rx[w], heard_y[w], None if unknown_rx is None else unknown_rx[w]
            )
            pick, pick_post, prev = self._step(
                ti, w_ts[w], rooms, room_ll, np.minimum(heard_n[w], cfg.max_receivers_per_window)
            )
            chosen[w], previous[w] = pick, prev
            confidence[w] = np.minimum(pick_post, coverage[w])
            # Where in the chosen room: its sample points weighted by their likelihood.
            pick_slot = (rooms == pick[:, None]).argmax(axis=1)
            for idx, samples, slot, sample_ll, offset in chunks:
                m = np.arange(len(idx))
                mine = (slot == pick_slot[idx][:, None]) & np.isfinite(sample_ll)
                ll = np.where(mine, sample_ll, -np.inf)
                col = ll.argmax(axis=1)
                top = ll[m, col]
                wts = np.where(mine, np.exp(ll - np.where(np.isfinite(top), top, 0.0)[:, None]), 0.0)
                xy = plan.sample_xy[samples]
                start_xy[w[idx]] = (wts[:, :, None] * xy).sum(axis=1) / np.maximum(wts.sum(axis=1), 1e-300)[:, None]
                best_sample[w[idx]] = samples[m, col]
                gain[w[idx]] = offset[m, col]
        if cfg.calibration:
            self._learn_calibration(w_tag, confidence, heard_n, best_sample, gain, heard_rx, heard_y)
        if cfg.radio_fit:
            share = min(1.0, cfg.radio_fit_tags / max(1, len(self._tag_ids)))
            keep = (confidence >= cfg.calibration_min_confidence) & (heard_n >= 2) & (self._tag_share[w_tag] < share)
            self._radio_fit.collect(self._cal_epoch, keep, self._tag_share[w_tag], w_ts, chosen, heard_rx, heard_y)
        x, y, radius = self._position(chosen, start_xy, best_sample, gain, heard_rx, heard_y)
        self.stats.windows += n

        room_ids = plan.room_ids.tolist()
        floor_ids = plan.floor_ids[plan.room_floor[chosen]].tolist()
        tag_ids = self._tag_ids
        changed = (chosen != previous).tolist()
        return [
            LocationEstimate(
                tag_id=tag_ids[ti],
                ts=t,
                floor_id=fid,
                room_id=room_ids[ri],
                confidence=round(conf, 4),
                x=round(xx, 2),
                y=round(yy, 2),
                radius_m=round(rr, 2),
                receivers_heard=k,
                room_changed=ch,
                previous_room_id=room_ids[pv] if pv >= 0 else None,
            )
            for ti, t, ri, fid, conf, xx, yy, rr, k, ch, pv in zip(
                w_tag.tolist(),
                w_ts.tolist(),
                chosen.tolist(),
                floor_ids,
                confidence.tolist(),
                x.tolist(),
                y.tolist(),
                radius.tolist(),
                heard_n.tolist(),
                changed,
                previous.tolist(),
                strict=True,
            )
        ]

    def _reach(self, anchor: np.ndarray, anchor_y: np.ndarray) -> np.ndarray:
        """How many of its anchor's candidate rooms a window considers: those the anchor would hear within
        candidate_margin_db of what it heard (at least min_candidate_rooms)."""
        cfg, plan = self.config, self.plan
        reach = (plan.cand_rssi[anchor] >= (anchor_y - cfg.candidate_margin_db)[:, None]).sum(axis=1)
        return np.clip(reach, np.minimum(cfg.min_candidate_rooms, plan.cand_count[anchor]), cfg.max_candidate_rooms)

    def _unknown(self, dark, anchor, heard_rx, w_end):
        """(n x U) receivers whose silence says nothing for each window: dark (no sighting for
        dark_after_s, or never heard), not heard in it, and could have heard its tag; None if none."""
        if len(dark) == 0:
            return None
        mask = self._co[anchor][:, dark] & self._dark_at(dark, w_end)
        if not mask.any():
            return None
        mask &= ~(heard_rx[:, :, None] == dark[None, None, :]).any(axis=1)
        cols = np.flatnonzero(mask.any(axis=0))
        if len(cols) == 0:
            return None
        return np.where(mask[:, cols], dark[cols][None, :], -1)

    def _heard(self, n, s_win, s_gw, s_rssi, count: bool = True):
        """(n x K) heard receivers and their rssi, loudest first (the loudest copy per receiver). ``count``:
        the reports go into the detection floors' histograms (once per window: when it is decided)."""
        k_max = self.config.max_receivers_per_window
        order = np.lexsort((-s_rssi, s_gw, s_win))
        w, g, r = s_win[order], s_gw[order], s_rssi[order]
        first = np.r_[True, (w[1:] != w[:-1]) | (g[1:] != g[:-1])]
        w, g, r = w[first], g[first], r[first]
        if count and self.config.detection_floor:
            self._count_reports(g, r)
        heard_n = np.bincount(w, minlength=n)
        order = np.lexsort((g, -r, w))
        w, g, r = w[order], g[order], r[order]
        start = np.searchsorted(w, np.arange(n))
        rank = np.arange(len(w)) - start[w]
        keep = rank < k_max
        width = int(min(k_max, max(1, heard_n.max())))
        heard_rx = np.full((n, width), -1, dtype=np.int64)
        heard_y = np.zeros((n, width), dtype=np.float64)
        heard_rx[w[keep], rank[keep]] = g[keep]
        heard_y[w[keep], rank[keep]] = r[keep]
        return heard_rx, heard_y, heard_n

    def _likelihood(self, rooms, heard_rx, heard_y, unknown_rx=None, plan=None):
        """Log-likelihood of each window's sightings for each of its rooms (n x S; -inf for padding).

        A room's likelihood mixes its sample points by their share of its area. Each point scores the
        heard receivers with a split Student-t on the residual after fitting the tag's gain, and every
        receiver that could hear it but did not with log P(miss). ``plan``: other tables (the radio fit's).
        """
        cfg = self.config
        plan = self.plan if plan is None else plan
        n, n_slots = rooms.shape
        k = heard_rx.shape[1] + (0 if unknown_rx is None else unknown_rx.shape[1])
        counts = np.where(rooms >= 0, plan.room_nsamples[np.maximum(rooms, 0)], 0)
        totals = counts.sum(axis=1)
        room_ll = np.full((n, n_slots), -np.inf)
        scale_pos = np.float32(1.0 / (cfg.sigma_db * math.sqrt(cfg.student_nu)))
        scale_neg = np.float32(1.0 / (cfg.fade_sigma_db * math.sqrt(cfg.student_nu)))
        half_nu1 = np.float32((cfg.student_nu + 1.0) / 2.0)
        offset_on = cfg.offset_prior_db > 0
        kappa = np.float32((cfg.sigma_db / cfg.offset_prior_db) ** 2) if offset_on else np.float32(1.0)
        chunks = []
        order = np.argsort(totals, kind="stable")  # similar sizes together: little padding
        sorted_totals = totals[order]
        start = 0
        while start < n:
            # The widest window of a chunk sets its padding: keep widths within ~30% and the chunk in budget.
            similar = int(np.searchsorted(sorted_totals, 1.3 * sorted_totals[start] + 8, side="right"))
            end = min(similar, start + max(1, _CHUNK_ELEMENTS // max(1, int(sorted_totals[start]) * k)))
            while end - start > 1 and (end - start) * int(totals[order[end - 1]]) * k > _CHUNK_ELEMENTS:
                end = start + (end - start) // 2
            idx = order[start:end]
            start = end
            m = len(idx)
            # Flatten (window, room, sample) into (window, position) arrays.
            cnt = counts[idx].ravel()
            rep = np.repeat(np.arange(m * n_slots), cnt)
            within = np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            samp = plan.room_samples[rooms[idx].ravel()[rep], within]
            wl = rep // n_slots
            tot = totals[idx]
            pos = np.arange(len(rep)) - np.repeat(np.cumsum(tot) - tot, tot)
            p = int(tot.max())
            samples = np.zeros((m, p), dtype=np.int64)
            slot = np.full((m, p), -1, dtype=np.int64)
            samples[wl, pos] = samp
            slot[wl, pos] = rep % n_slots
            valid = slot >= 0

            # Elements are laid out (window, receiver, sample): sums over receivers run on whole rows.
            rx = heard_rx[idx]
            rx_ok = (rx >= 0)[:, :, None]
            t = plan.table_index(samples[:, None, :], np.maximum(rx, 0)[:, :, None])
            mu = plan.expected_rssi[t]
            e = heard_y[idx].astype(np.float32)[:, :, None] - mu
            if offset_on:
                # The tag's gain: a shrunk, clipped mean residual of the receivers that can hear here.
                fit = mu > np.float32(UNHEARABLE_DBM + 1.0)
                fit &= rx_ok
                clipped = np.maximum(e, np.float32(-2.0 * cfg.fade_sigma_db))
                np.minimum(clipped, np.float32(2.0 * cfg.sigma_db), out=clipped)
                clipped *= fit
                offset = clipped.sum(axis=1) / (fit.sum(axis=1, dtype=np.float32) + kappa)
                np.clip(offset, -cfg.offset_range_db, cfg.offset_range_db, out=offset)
                e -= offset[:, None, :]
                lpm = plan.log_p_miss(mu + offset[:, None, :], rx)
                prior_term = (0.5 / cfg.offset_prior_db**2) * offset.astype(np.float64) ** 2
                base = plan.miss_total(samples, offset) - prior_term
            else:
                offset = np.zeros(samples.shape, dtype=np.float32)
                lpm = plan.log_p_miss(mu, rx)
                base = plan.miss_total(samples, offset)
            # Split Student-t: z^2 / nu with the spread of the residual's side folded into one scale.
            z = e * np.where(e >= 0, scale_pos, scale_neg)
            z *= z
            term = np.log1p(z, out=z)
            term *= -half_nu1
            term -= lpm
            term *= rx_ok
            ll = term.sum(axis=1, dtype=np.float64) + base + plan.sample_logw[samples]
            if unknown_rx is not None:
                # Receivers that were dark: their not hearing the tag is no evidence either way.
                ux = unknown_rx[idx]
                tu = plan.table_index(samples[:, None, :], np.maximum(ux, 0)[:, :, None])
                lpm_u = plan.log_p_miss(plan.expected_rssi[tu] + offset[:, None, :], ux)
                lpm_u *= (ux >= 0)[:, :, None]
                ll -= lpm_u.sum(axis=1, dtype=np.float64)
            ll[~valid] = -np.inf
            top = ll.max(axis=1, keepdims=True)
            ex = np.where(valid, np.exp(ll - top), 0.0)
            flat = (np.arange(m)[:, None] * n_slots + np.maximum(slot, 0)).ravel()
            sums = np.bincount(flat, weights=ex.ravel(), minlength=m * n_slots).reshape(m, n_slots)
            with np.errstate(divide="ignore"):
                room_ll[idx] = np.where(rooms[idx] >= 0, np.log(sums) + top, -np.inf)
            chunks.append((idx, samples, slot, ll, offset))
        return room_ll, chunks

    def _step(self, ti, ts, rooms, room_ll, heard):
        """One HMM forward step for windows of distinct tags: returns the shown room, its probability
        and the previously shown room, and updates each tag's belief."""
        cfg, plan = self.config, self.plan
        n = len(ti)
        n_rooms = plan.n_rooms
        belief, bp = self._belief_room[ti], self._belief_p[ti]
        last = self._last_ts[ti]
        has_prior = np.isfinite(last) & (belief[:, 0] >= 0)
        dt = np.clip(np.where(has_prior, ts - last, 0.0), 0.0, cfg.max_step_s)
        valid = (rooms >= 0) & np.isfinite(room_ll)
        # Transition prior: stay, or move into a room sharing a wall, two steps away, or anywhere.
        key = belief[:, :, None] * n_rooms + rooms[:, None, :]
        same = belief[:, :, None] == rooms[:, None, :]
        adjacent = _member(plan.adjacent_keys, key)
        near = _member(plan.near_keys, key)
        # Out of a passage (a corridor), a tag whose shown room changed moments ago moves far more readily
        # than out of a room: it is on its way somewhere, so the room it enters is shown on the first
        # convincing window. Leaving a room, or a passage it has been parked in, keeps the parked rates
        # (a still tag does not flip).
        passage = self._passage[np.maximum(belief, 0)]
        on_way = ts - self._moving_since[ti] <= cfg.moving_window_s
        factor = np.where(passage, cfg.passage_rate_factor, 1.0)
        factor = np.where(passage & on_way[:, None], factor * cfg.moving_rate_factor, factor)[:, :, None]
        rate = factor * dt[:, None, None]
        q_adj = -np.expm1(-cfg.move_rate_adjacent * rate)
        q_near = -np.expm1(-cfg.move_rate_near * rate)
        q_far = -np.expm1(-cfg.move_rate_far * rate)
        trans = np.where(same, 1.0, np.where(adjacent, q_adj, np.where(near, q_near, q_far)))
        trans *= (belief >= 0)[:, :, None]
        rest = np.clip(1.0 - bp.sum(axis=1), 0.0, 1.0)  # mass of rooms that fell out of the belief
        prior = (bp[:, :, None] * trans).sum(axis=1) + (rest * np.maximum(-np.expm1(-cfg.move_rate_far * dt), 1e-12))[
            :, None
        ]
        prior = np.where(has_prior[:, None], prior, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            top = np.where(valid, room_ll, -np.inf).max(axis=1, keepdims=True)
            # A window's weight: readings of a still tag are correlated, so each counts for less. Optionally
            # (evidence_correlation_s > 0) by how much of the previous window's shadowing (people, doors,
            # trolleys: a correlation time tau) has changed since, 1 - exp(-dt / tau).
            if cfg.evidence_correlation_s > 0:
                tau = cfg.evidence_correlation_s
                weight = cfg.likelihood_temper * np.where(has_prior, -np.expm1(-dt / tau), 1.0)
            else:
                weight = np.full(n, cfg.likelihood_temper)
            if cfg.max_reading_evidence > 0:
                # The cap grows with the receivers heard: one freak reading (a reflection, a deep fade) is
                # worth at most max_reading_evidence, while several receivers agreeing on the room next
                # door can move the tag on that first window. The discount is for what correlated
                # shadowing can fake, at most half the cap's worth of a gap; beyond that the window is
                # news and counts in full.
                cap = np.minimum(cfg.max_reading_evidence * np.maximum(heard, 1), cfg.max_window_evidence)[:, None]
                gap = top - room_ll
                half = 0.5 * cap
                w = weight[:, None]
                evidence = -np.minimum(cap, w * np.minimum(gap, half) + np.maximum(gap - half, 0.0))
            else:
                # One window can make a room at most e^max_window_evidence times less likely than the
                # best one: a single freak reading cannot move a still tag. A window long after the
                # previous one (slow pings) may count for more, up to twice the cap.
                cap = cfg.max_window_evidence * np.clip(np.sqrt(dt / cfg.evidence_reference_s), 1.0, 2.0)
                evidence = np.maximum(weight[:, None] * (room_ll - top), -cap[:, None])
            logpost = np.where(valid, np.log(np.maximum(prior, 1e-300)) + evidence, -np.inf)
        logpost -= logpost.max(axis=1, keepdims=True)
        post = np.exp(logpost)
        post /= post.sum(axis=1, keepdims=True)

        # Floor first: the floor holding the most probability, then the likeliest room on it; the
        # shown floor and room change only when the new one is switch_ratio times likelier.
        rows = np.arange(n)
        fl = np.where(valid, plan.room_floor[np.maximum(rooms, 0)], -1)
        floor_mass = (post[:, None, :] * (fl[:, :, None] == fl[:, None, :])).sum(axis=2)
        floor_mass = np.where(valid, floor_mass, -1.0)
        best_floor = fl[rows, floor_mass.argmax(axis=1)]
        best_floor_mass = floor_mass.max(axis=1)
        prev = self._shown_room[ti]
        prev_floor = np.where(prev >= 0, plan.room_floor[np.maximum(prev, 0)], -2)
        prev_floor_mass = (post * (fl == prev_floor[:, None])).sum(axis=1)
        keep_floor = (prev >= 0) & (prev_floor_mass * cfg.switch_ratio >= best_floor_mass)
        floor = np.where(keep_floor, prev_floor, best_floor)
        on_floor = np.where(fl == floor[:, None], post, -1.0)
        best_slot = on_floor.argmax(axis=1)
        best_room = rooms[rows, best_slot]
        best_post = on_floor[rows, best_slot]
        prev_post = (post * (rooms == prev[:, None])).sum(axis=1)
        keep_room = (prev >= 0) & (prev_floor == floor) & (prev_post > 0) & (prev_post * cfg.switch_ratio >= best_post)
        pick = np.where(keep_room, prev, best_room)
        pick_post = np.where(keep_room, prev_post, best_post)

        # New belief: the likeliest rooms.
        b = cfg.belief_size
        top_slots = np.argsort(-post, axis=1, kind="stable")[:, :b]
        if cfg.belief_keeps_window_best and top_slots.shape[1] == b > 1:
            # The window's own likeliest room keeps a place (the last) even when the prior leaves it out:
            # otherwise a belief spread evenly over rooms that every window contradicts (each loses only
            # the evidence cap, so their shares stay as they are) never lets the true room in. Not in the
            # place of the room shown (a freak window must not evict it), nor with a posterior of 0.
            lead = np.where(valid, room_ll, -np.inf).argmax(axis=1)
            missing = ~(top_slots == lead[:, None]).any(axis=1) & (post[rows, lead] > 0)
            if missing.any():
                shown_last = rooms[rows, top_slots[:, -1]] == pick
                slot = np.where(shown_last & (b > 2), b - 2, b - 1)
                top_slots[rows[missing], slot[missing]] = lead[missing]
        new_room = np.take_along_axis(rooms, top_slots, axis=1)
        new_p = np.take_along_axis(post, top_slots, axis=1)
        new_room = np.where(new_p > 0, new_room, -1)
        if new_room.shape[1] < b:
            pad = b - new_room.shape[1]
            new_room = np.pad(new_room, ((0, 0), (0, pad)), constant_values=-1)
            new_p = np.pad(new_p, ((0, 0), (0, pad)))
        self._belief_room[ti] = new_room
        self._belief_p[ti] = np.where(new_room >= 0, new_p, 0.0)
        self._last_ts[ti] = ts
        changed = pick != prev
        if changed.any():
            moving_since = self._moving_since[ti]
            on_way = changed & _on_its_way(cfg, self._passage, prev, ts - self._shown_since[ti], ts - moving_since)
            self._moving_since[ti] = np.where(on_way, ts, moving_since)
        self._shown_since[ti] = np.where(changed, ts, self._shown_since[ti])
        self._shown_room[ti] = pick
        return pick, pick_post, prev

    def _position(self, chosen_room, x0, best, gain, heard_rx, heard_y):
        """Robust Gauss-Newton in dB from the chosen room's likeliest point; clamped into the room."""
        cfg, plan = self.config, self.plan
        rx_ok = heard_rx >= 0
        rx = np.maximum(heard_rx, 0)
        mu_best = plan.expected_rssi[plan.table_index(best[:, None], rx)].astype(np.float64)
        hearable = rx_ok & (mu_best > UNHEARABLE_DBM + 1.0)
        floor = plan.room_floor[chosen_room]
        d_level = plan.floor_level[plan.rx_floor[rx]] - plan.floor_level[floor][:, None]
        dz2 = (d_level * cfg.floor_height_m + plan.rx_height_offset[rx]) ** 2
        rxy_x, rxy_y = plan.rx_xy[rx, 0], plan.rx_xy[rx, 1]
        a = plan.rx_rssi_1m[rx]
        slope = 10.0 * plan.rx_exponent[rx] / math.log(10.0)
        d0sq = cfg.min_distance_m**2
        # The walls and floors between the room's best point and each receiver, held fixed while
        # (x, y) moves within the room; the tag's fitted gain makes every reading louder alike.
        bx0, by0 = plan.sample_xy[best, 0:1], plan.sample_xy[best, 1:2]
        d2_best = np.maximum((bx0 - rxy_x) ** 2 + (by0 - rxy_y) ** 2 + dz2, d0sq)
        loss = a - slope * 0.5 * np.log(d2_best) - mu_best - gain[:, None]
        prior = 1.0 / cfg.position_prior_m**2
        x = x0.copy()
        for _ in range(cfg.position_iterations):
            dx, dy = x[:, 0:1] - rxy_x, x[:, 1:2] - rxy_y
            d2 = dx * dx + dy * dy + dz2
            d2c = np.maximum(d2, d0sq)
            mu = a - slope * 0.5 * np.log(d2c) - loss
            res = heard_y - mu
            sig = np.where(res >= 0, cfg.sigma_db, cfg.fade_sigma_db)
            z2 = (res / sig) ** 2
            w = np.where(hearable, (cfg.student_nu + 1.0) / (cfg.student_nu + z2) / sig**2, 0.0)
            g = np.where(d2 > d0sq, -slope / d2c, 0.0)  # d mu / d x = g * dx
            jx, jy = g * dx, g * dy
            hxx = (w * jx * jx).sum(axis=1) + prior
            hyy = (w * jy * jy).sum(axis=1) + prior
            hxy = (w * jx * jy).sum(axis=1)
            bx = (w * jx * res).sum(axis=1) - prior * (x[:, 0] - x0[:, 0])
            by = (w * jy * res).sum(axis=1) - prior * (x[:, 1] - x0[:, 1])
            det = hxx * hyy - hxy * hxy
            sx = (hyy * bx - hxy * by) / det
            sy = (hxx * by - hxy * bx) / det
            scale = np.minimum(1.0, 2.0 / np.maximum(np.hypot(sx, sy), 1e-9))  # at most 2 m per step
            x[:, 0] += sx * scale
            x[:, 1] += sy * scale
        # Uncertainty: the weaker axis of the information matrix, inflated when the residuals are poor.
        tr, det = hxx + hyy, hxx * hyy - hxy * hxy
        lam_min = tr / 2 - np.sqrt(np.maximum(tr * tr / 4 - det, 0.0))
        used = np.maximum(1, hearable.sum(axis=1))
        misfit = np.sqrt(np.maximum(1.0, (w * res * res).sum(axis=1) / used))
        radius = misfit / np.sqrt(np.maximum(lam_min, 1e-9))
        radius = np.clip(radius, cfg.min_radius_m, np.maximum(cfg.min_radius_m, plan.room_extent_m[chosen_room]))
        # Clamp into the room, for display.
        geoms = plan.room_display[chosen_room]
        inside = shapely.contains_xy(geoms, x[:, 0], x[:, 1])
        if not inside.all():
            out = np.flatnonzero(~inside)
            rings = plan.room_display_ring[chosen_room[out]]
            pts = shapely.points(x[out, 0], x[out, 1])
            proj = shapely.line_interpolate_point(rings, shapely.line_locate_point(rings, pts))
            x[out, 0] = shapely.get_x(proj)
            x[out, 1] = shapely.get_y(proj)
        return x[:, 0], x[:, 1], radius


def _wait_hearers(plan: CompiledPlan, config: EngineConfig) -> np.ndarray:
    """(R, R) bool: receiver g would hear a tag in one of receiver r's likely rooms (its candidates it hears
    within wait_room_margin_db of its loudest) at wait_hear_margin_db above sensitivity or more."""
    n_rx = len(plan.gateway_ids)
    co = np.zeros((n_rx, n_rx), dtype=bool)
    limit = config.sensitivity_dbm + config.wait_hear_margin_db
    if plan.rx_floor_db is not None:
        limit = limit + plan.rx_floor_db  # a receiver's reports stop at its learnt floor
    all_rx = np.arange(n_rx)
    for r in range(n_rx):
        count = plan.cand_count[r]
        co[r, r] = True
        if count == 0:
            continue
        likely = plan.cand_rssi[r, :count] >= plan.cand_rssi[r, 0] - config.wait_room_margin_db
        rooms = plan.cand_rooms[r, :count][likely]
        samples = plan.room_samples[rooms].ravel()
        samples = samples[samples >= 0]
        if len(samples) == 0:
            continue
        rssi = plan.expected_rssi[plan.table_index(samples[:, None], all_rx[None, :])]
        co[r] |= (rssi >= limit).any(axis=0)
    return co
