"""The site's radio, learnt online: how much its path-loss exponent and its loss per wall differ from
the configured ones (docs/location-engine.md, "Method", 6).

A building's walls may cost 3 dB or 8, and its signal may fall off with distance faster or slower than
the datasheet says. A model that is a few dB per wall off places tags in rooms without their own
receiver in the room next door (on our own world with 7 dB walls and an exponent of 2.4, the configured
4 dB and 2.2 gave 90 % settled accuracy with one receiver per three rooms, the true values 98 %).

How it is learnt. A regression of the heard readings' residuals on distance and walls is biased: a
receiver behind more walls than the model thinks is heard only when a reading happens to be loud, so
the readings that arrive say the walls cost less than they do. The engine's own likelihood already
accounts for that (a receiver that should have heard the tag and did not counts against the place), so
the fit compares models by it: the confidently placed windows of a sample of tags (by a hash of the tag
id, so a replay samples the same ones) are scored in their chosen room, mixed over the room's points as
the engine does, under candidate models: a wide grid around the configured model the first time, then
the current model's 8 neighbours. The best one becomes the model when it is clearly better. One step per
calibration epoch, from windows of epochs that closed at least two epochs before (as the calibration), so
a replay learns exactly what the live run learnt.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from locations.engine.config import EngineConfig
from locations.engine.plan import UNHEARABLE_DBM, CompiledPlan, miss_sums, refresh_radio_fit, shift_hearable

_EXPONENT_STEP = 0.1
_WALL_STEP_DB = 0.5
_HISTORY_EPOCHS = 3  # epochs of windows scored together
_WIDE_EXPONENT = (-0.4, -0.2, 0.0, 0.2, 0.4)  # the first search, around the configured model
_WIDE_WALL_DB = (-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
_FIRST_GAIN_PER_WINDOW = 0.2  # nats a window a model must gain to move in the first fit (RadioFit.first)


@dataclass(slots=True)
class _Tables:
    """The expected rssi and miss tables of a few sample points under a changed radio model, shaped as
    CompiledPlan's so that the engine's likelihood can read them."""

    config: EngineConfig
    room_samples: np.ndarray
    room_nsamples: np.ndarray
    sample_logw: np.ndarray
    expected_rssi: np.ndarray
    n_rx: int
    offset_grid: np.ndarray
    miss_grid: np.ndarray
    rx_floor_db: np.ndarray | None

    def table_index(self, samples: np.ndarray, receivers: np.ndarray) -> np.ndarray:
        return samples * self.n_rx + receivers

    def log_p_miss(self, rssi: np.ndarray, receivers: np.ndarray | None = None) -> np.ndarray:
        return CompiledPlan.log_p_miss(self, rssi, receivers)

    def miss_total(self, samples: np.ndarray, offset: np.ndarray) -> np.ndarray:
        return CompiledPlan.miss_total(self, samples, offset)


class RadioFit:
    """One engine's learnt radio model: collects windows, steps once per epoch, keeps the plan's tables."""

    def __init__(self, plan: CompiledPlan, config: EngineConfig):
        self.plan, self.config = plan, config
        self.applied = np.zeros(2)  # (exponent, dB per wall) changes already in the plan's tables
        self.updates = 0
        self._windows: dict[int, list[tuple[np.ndarray, ...]]] = {}  # epoch -> (share key, ts, room, rx, rssi)
        # epoch -> the fit its windows are judged with (exponent change, dB per wall change, searched wide)
        self._fits: dict[int, tuple[float, float, bool]] = {}
        self._states: dict[tuple, tuple] = {}  # (fit, tables version) -> the plan's arrays under it
        self._initial: tuple[float, float, bool] = (0.0, 0.0, False)  # the fit before any epoch's step

    def resume(self, exponent: float, wall_db: float) -> None:
        """Start from a fit learnt before (the site's path-loss exponent and loss per wall, absolute), within the
        fit's bounds, and step from it with the 8 neighbours (no wide search: the building is known)."""
        cfg = self.config
        d_exponent = float(
            np.clip(exponent - cfg.path_loss_exponent, -cfg.radio_fit_max_exponent, cfg.radio_fit_max_exponent)
        )
        d_wall = float(np.clip(wall_db - cfg.wall_loss_db, 1.0 - cfg.wall_loss_db, cfg.radio_fit_max_wall_db))
        self._start_from((round(d_exponent, 6), round(d_wall, 6)), searched=True)

    def _start_from(self, value: tuple[float, float], *, searched: bool) -> None:
        """Make ``value`` (exponent change, dB per wall change) the fit before any epoch's step, in the tables;
        ``searched``: the epochs step from it with the 8 neighbours, without a wide search of their own."""
        self._initial = (value[0], value[1], searched)
        if any(value):
            refresh_radio_fit(self.plan, value[0] - float(self.applied[0]), value[1] - float(self.applied[1]))
            self.applied = np.array(value)
            self.updates += 1

    @property
    def values(self) -> tuple[float, float]:
        return (
            round(self.config.path_loss_exponent + float(self.applied[0]), 3),
            round(self.config.wall_loss_db + float(self.applied[1]), 2),
        )

    def collect(self, epoch: int, keep: np.ndarray, share_key, ts, room, heard_rx, heard_y) -> None:
        """Remember the windows ``keep`` (confidently placed, of sampled tags) of an epoch."""
        if not keep.any():
            return
        self._windows.setdefault(epoch, []).append(
            (share_key[keep], ts[keep], room[keep], heard_rx[keep], heard_y[keep])
        )

    def use(self, epoch: int, likelihood, version: object = 0) -> bool:
        """Put the fit of ``epoch`` in the plan's tables; returns whether they changed.

        The fit of an epoch is a pure function of the windows of earlier epochs: the fit of the epoch
        before, moved one grid step toward its likeliest neighbour when the windows of epochs
        epoch - 1 - _HISTORY_EPOCHS .. epoch - 2 say so. So a window is judged with the same model however
        the windows were batched into flushes (a replay equals the live run), also when a late window of
        an older epoch comes after newer ones. ``likelihood(rooms, heard_rx, heard_y, plan=...)`` is the
        engine's; ``version`` changes whenever something else (the calibration, the detection floors)
        rewrites the tables.

        Near an epoch boundary a live pipeline closes windows of both epochs, flush after flush, so the
        tables go back and forth between two fits: the last few table states are kept, and going back is
        swapping arrays, not recomputing them (nor accumulating float32 rounding: a replay, which goes
        back and forth fewer times, has exactly the same tables)."""
        state = self._fits.get(epoch)
        if state is None:
            earlier = [k for k in self._fits if k < epoch]
            last = max(earlier) if earlier else None
            state = self._fits[last] if last is not None else self._initial
            first = epoch if last is None else last + 1
            for e in range(first, epoch + 1):
                state = self._next(state, e, likelihood)
                self._fits[e] = state
            self._prune()
        value = state[:2]
        change = np.array(value) - self.applied
        if not change.any():
            return False
        self._states = {k: v for k, v in self._states.items() if k[1] == version}
        self._states[(tuple(self.applied.tolist()), version)] = self._snapshot()
        cached = self._states.get((tuple(value), version))
        if cached is not None:
            self._restore(cached)
        else:
            refresh_radio_fit(self.plan, float(change[0]), float(change[1]))
            self.updates += 1
        while len(self._states) > 3:
            self._states.pop(next(iter(self._states)))
        self.applied = np.array(value)
        return True

    @contextmanager
    def configured(self) -> Iterator[None]:
        """The plan's tables as the configured radio model gives them, for the duration; the learnt fit is put
        back after (its arrays, untouched: refresh_radio_fit makes new ones)."""
        if not self.applied.any():
            yield
            return
        saved = self._snapshot()
        refresh_radio_fit(self.plan, -float(self.applied[0]), -float(self.applied[1]))
        try:
            yield
        finally:
            self._restore(saved)

    _TABLES = ("expected_rssi", "miss_grid", "cand_rooms", "cand_rssi", "cand_count", "rx_exponent", "rx_floor_db")

    def _snapshot(self) -> tuple:
        return tuple(getattr(self.plan, name) for name in self._TABLES)

    def _restore(self, state: tuple) -> None:
        for name, value in zip(self._TABLES, state, strict=True):
            setattr(self.plan, name, value)

    def _prune(self) -> None:
        newest = max(self._fits)
        for k in [k for k in self._windows if k < newest - 2 * _HISTORY_EPOCHS - 4]:
            del self._windows[k]
        for k in [k for k in self._fits if k < newest - 24]:
            del self._fits[k]

    def _next(self, state: tuple[float, float, bool], epoch: int, likelihood) -> tuple[float, float, bool]:
        """The fit after ``epoch``'s step, scored on the windows of epochs epoch - 1 - _HISTORY_EPOCHS ..
        epoch - 2: the first time there are enough of them, the likeliest model of a wide grid around the
        configured one (exponent -0.4..+0.4, -2..+5 dB per wall: a building is learnt in one epoch, not
        in six); afterwards, one step to the likeliest of the 8 neighbours. A model replaces the current
        one only when it is better by radio_fit_min_gain nats."""
        cfg = self.config
        value, wide = state[:2], state[2]
        lo = epoch - 1 - _HISTORY_EPOCHS
        parts = [c for k in sorted(self._windows) if lo <= k <= epoch - 2 for c in self._windows[k]]
        if not parts or sum(len(p[1]) for p in parts) < cfg.radio_fit_min_windows:
            return state
        width = max(p[3].shape[1] for p in parts)
        key = np.concatenate([p[0] for p in parts])
        ts = np.concatenate([p[1] for p in parts])
        room = np.concatenate([p[2] for p in parts])
        heard_rx = np.concatenate(
            [np.pad(p[3], ((0, 0), (0, width - p[3].shape[1])), constant_values=-1) for p in parts]
        )
        heard_y = np.concatenate([np.pad(p[4], ((0, 0), (0, width - p[4].shape[1]))) for p in parts])
        # A fixed order (the windows reach the fit in flush batches, which a replay cuts differently).
        order = np.lexsort((ts, key))
        # At most radio_fit_max_windows of them, spread evenly over the tags and the time (bounded cost).
        order = order[:: -(-len(order) // cfg.radio_fit_max_windows)]
        room, heard_rx, heard_y = room[order], heard_rx[order], heard_y[order]

        base = self._local(room, heard_rx)
        heard_rx = np.where(heard_rx >= 0, base["column"][np.maximum(heard_rx, 0)], -1)

        def score(tables: _Tables) -> float:
            room_ll, _ = likelihood(base["rooms"][:, None], heard_rx, heard_y, plan=tables)
            return float(np.where(np.isfinite(room_ll), room_ll, 0.0).sum())

        chosen = self._search(tuple(value), wide, base, score, cfg.radio_fit_min_gain)
        return (chosen[0], chosen[1], True)

    def _search(
        self, value: tuple[float, float], wide: bool, base: dict, score, min_gain: float
    ) -> tuple[float, float]:
        """The likeliest model by ``score(tables)`` among the current one's 8 neighbours (``wide``: a search
        already made) or a wide grid around the configured one; the current one unless another is better by
        ``min_gain`` nats."""
        cfg = self.config
        if wide:
            grid = [
                (value[0] + dn * _EXPONENT_STEP, value[1] + dw * _WALL_STEP_DB)
                for dn in (-1, 0, 1)
                for dw in (-1, 0, 1)
            ]
        else:
            grid = [(dn, dw) for dn in _WIDE_EXPONENT for dw in _WIDE_WALL_DB]
        candidates = {
            (
                round(float(np.clip(n, -cfg.radio_fit_max_exponent, cfg.radio_fit_max_exponent)), 6),
                round(float(np.clip(w, 1.0 - cfg.wall_loss_db, cfg.radio_fit_max_wall_db)), 6),
            )
            for n, w in grid
        }
        candidates.add(value)
        best, best_score, centre = value, -np.inf, -np.inf
        for n_try, w_try in sorted(candidates):
            result = score(self._tables(base, n_try - self.applied[0], w_try - self.applied[1]))
            if (n_try, w_try) == value:
                centre = result
            if result > best_score:
                best, best_score = (n_try, w_try), result
        return best if best_score > centre + min_gain else value

    def first(
        self, group: np.ndarray, rooms: np.ndarray, heard_rx: np.ndarray, heard_y: np.ndarray, likelihood
    ) -> bool:
        """The wide search, made at once on the windows of an engine's held first minute (before any of them is
        decided), so that the first minute is decided with the building's radio and not the datasheet's.

        The windows are not placed yet, so a model is not scored in their chosen rooms (as ``_next`` does) but in
        the room each tag's windows fit best together: one room per tag for the minute (``group``, sorted: the
        windows of one tag; ``rooms``: the same candidate rooms on each of its rows). Returns whether the model
        moved; the epochs then make their own wide search with it as the model to beat. Nothing is done for an
        engine that resumed a fit or has already stepped, or with fewer than half radio_fit_min_windows windows.
        """
        cfg = self.config
        if self._fits or self._initial[2] or len(group) < cfg.radio_fit_min_windows // 2:
            return False
        flat = np.unique(rooms[rooms >= 0])
        base = self._local(flat, heard_rx)
        local_rooms = np.where(rooms >= 0, np.searchsorted(flat, np.maximum(rooms, 0)), -1)
        heard_rx = np.where(heard_rx >= 0, base["column"][np.maximum(heard_rx, 0)], -1)
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        padding = local_rooms[starts] < 0

        def score(tables: _Tables) -> float:
            room_ll, _ = likelihood(local_rooms, heard_rx, heard_y, plan=tables)
            per_tag = np.add.reduceat(np.where(local_rooms >= 0, room_ll, 0.0), starts, axis=0)
            per_tag[padding] = -np.inf
            top = per_tag.max(axis=1)
            return float(top[np.isfinite(top)].sum())

        # A minute of unplaced windows: a model must explain them clearly better than the configured one (by
        # _FIRST_GAIN_PER_WINDOW nats a window); measured, a building with 7 dB walls does by 56-1,100 nats on 200
        # windows, while moves along the ridge of models as likely as the configured one (exponent against dB per
        # wall) gained 0-37 and cost lab third 0.03-0.08 point.
        min_gain = max(cfg.radio_fit_min_gain, _FIRST_GAIN_PER_WINDOW * len(group))
        value = self._search((0.0, 0.0), False, base, score, min_gain)
        if not any(value):
            return False  # the configured model: the epochs' own wide search comes when they have the windows
        self._start_from(value, searched=False)  # the epochs still search wide, with this as the model to beat
        return True

    def _local(self, room: np.ndarray, heard_rx: np.ndarray) -> dict:
        """The scored windows' rooms, their sample points and the receivers that could hear them or were
        heard, renumbered 0.. (a small plan of their own: a big site's other receivers change nothing)."""
        plan = self.plan
        rooms, local_room = np.unique(room, return_inverse=True)
        samples = plan.room_samples[rooms]
        valid = samples >= 0
        flat = samples[valid]
        local = np.full(samples.shape, -1, dtype=np.int64)
        local[valid] = np.arange(len(flat))
        n_all = len(plan.gateway_ids)
        index = plan.table_index(flat[:, None], np.arange(n_all)[None, :])
        keep = (plan.expected_rssi[index] > np.float32(UNHEARABLE_DBM + 1.0)).any(axis=0)
        keep[heard_rx[heard_rx >= 0]] = True
        receivers = np.flatnonzero(keep)
        column = np.full(n_all, -1, dtype=np.int64)
        column[receivers] = np.arange(len(receivers))
        index = index[:, receivers]
        n_rx = len(receivers)
        return {
            "column": column,
            "fit_exponent": plan.rx_fit_exponent[receivers].astype(np.float32),
            "rooms": local_room,
            "room_samples": local,
            "room_nsamples": valid.sum(axis=1),
            "sample_logw": plan.sample_logw[flat],
            "expected": plan.expected_rssi[index],
            "log_d": plan.table_log_d[index].astype(np.float32),
            "walls": plan.table_walls2[index].astype(np.float32) * np.float32(0.5),
            "n_rx": n_rx,
            "floor": None if plan.rx_floor_db is None else plan.rx_floor_db[receivers],
        }

    def _tables(self, base: dict, d_exponent: float, d_wall: float) -> _Tables:
        plan = self.plan
        expected = base["expected"]
        if d_exponent or d_wall:
            fit = base["fit_exponent"][None, :]
            shift = np.float32(-d_exponent) * fit * base["log_d"] - np.float32(d_wall) * base["walls"]
            expected = shift_hearable(expected, shift)
        grid = plan.offset_grid
        return _Tables(
            config=self.config,
            room_samples=base["room_samples"],
            room_nsamples=base["room_nsamples"],
            sample_logw=base["sample_logw"],
            expected_rssi=np.concatenate([expected.ravel(), np.array([UNHEARABLE_DBM], dtype=np.float32)]),
            n_rx=base["n_rx"],
            offset_grid=grid,
            miss_grid=miss_sums(expected, base["floor"], grid, self.config),
            rx_floor_db=base["floor"],
        )
