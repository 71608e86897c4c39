"""Per-gateway clock offsets, estimated from the sightings themselves.

Several receivers hear the same transmission of a tag at the same instant, so the differences of their
timestamps for it are the differences of their clocks (plus a few ms of stamping noise). For every pair of
gateways the estimator collects, over the last ``clock_window_s`` of a sample of tags, the differences
of the timestamps of one tag heard by both, and takes the densest ``clock_peak_s`` cluster of them: copies
of one ping agree to a few ms, whereas a ping matched with the tag's previous or next ping is spread by
the BLE advertising jitter (0-10 ms per interval) and, across tags, by their different intervals. The pair
differences are then solved by weighted least squares for one offset per gateway, relative to the
consensus (the median gateway of each group of gateways that hear common tags), with the edges that
disagree with the solution dropped and the solve repeated.

Everything is a function of the sightings pushed so far (their event times, never an arrival time), and
updates happen when the engine's event-time frontier crosses fixed steps, so a replay of the same
batches in the same order reproduces the estimates exactly.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from locations.engine.config import EngineConfig


def tag_share_key(tag_id: str) -> float:
    """A stable number in [0, 1) per tag: tags under the current share feed the estimator."""
    return zlib.crc32(tag_id.encode()) / 2**32


class ClockEstimator:
    def __init__(self, n_gateways: int, config: EngineConfig):
        self.config = config
        self.n = n_gateways
        self.offset = np.zeros(n_gateways)  # seconds: gateway clock minus consensus
        self.evidence = np.zeros(n_gateways, dtype=np.int64)  # matched pairs behind the last estimate
        self.locked = np.zeros(n_gateways, dtype=bool)  # estimated at least once, or resumed
        self.estimated = np.zeros(n_gateways, dtype=bool)  # estimated by this estimator
        self.estimated_at = np.full(n_gateways, -np.inf)  # event time (epoch) of each one's last estimate
        self.updated_at: float | None = None  # event time of the last update
        self.updates = 0
        self.attempts = 0  # updates tried, estimated or not (the rotating subsets of tags follow it)
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # tag, gateway, raw ts
        self._first_ts = math.inf
        self._next_update = math.inf
        # The offsets in force from each epoch on (by the gateway's raw time): a sighting is corrected
        # with the estimate of the latest epoch before it, whenever it arrives and however it is batched.
        self.epochs = np.zeros(0)
        self._history = np.zeros((0, n_gateways))
        self._pruned = False
        # An estimator that resumed nothing is "held" until its first estimate (EngineConfig.clock_hold_first: the
        # engine closes no window before it), whose offsets then correct every sighting stamped before it too.
        self.released = False
        self._backward = False
        self._resumed_since: float | None = None  # resume(): decided at the first sightings

    def resume(self, offsets: np.ndarray, given: np.ndarray, since: float) -> None:
        """Start from offsets an earlier estimator found (``given`` per gateway), applied to the sightings stamped
        from ``since`` on until the first estimate of this one. A resumed gateway counts as locked: its first
        estimate (a wide search, as every first one) jumps away from the resumed offset only on clearly better
        support, as for a gateway whose clock jumps while running."""
        since = float(since)
        if math.isnan(since) or since == math.inf:
            raise ValueError("resume: since must be a finite time or -inf")
        self.offset = np.where(given, offsets, 0.0)
        self.locked = given.copy()
        applied = np.where(np.abs(self.offset) >= self.config.clock_deadband_s, self.offset, 0.0)
        self.epochs = np.array([since])
        self._history = applied[None, :]
        self._resumed_since = since
        self.released = bool(given.any())

    def _start(self, raw_ts: np.ndarray) -> None:
        """At the first sightings: a resume estimated after them (a replay of older sightings) is forgotten, so
        the replay is decided as by an engine that resumed nothing. Judged on the median of the first push, so
        that one sighting stamped in 2000 by a gateway whose clock was reset does not undo it for everyone."""
        since, self._resumed_since = self._resumed_since, None
        if len(raw_ts) and float(np.median(raw_ts)) < since:
            self.offset[:] = 0.0
            self.locked[:] = False
            self.epochs, self._history = np.zeros(0), np.zeros((0, self.n))
            self.released = False

    def applied(self) -> np.ndarray:
        """The offsets applied to the newest sightings (the estimate, less the dead band)."""
        return self._history[-1].copy() if len(self.epochs) else np.zeros(self.n)

    def offsets_for(self, gw: np.ndarray, raw_ts: np.ndarray) -> np.ndarray:
        if self._resumed_since is not None:
            self._start(raw_ts)
        if len(self.epochs) == 0:
            return np.zeros(len(gw))
        idx = np.searchsorted(self.epochs, raw_ts, side="right") - 1
        if self._pruned or self._backward:
            idx = np.maximum(idx, 0)
        out = self._history[np.maximum(idx, 0), gw]
        return np.where(idx >= 0, out, 0.0)

    def catch_up(self, frontier: float) -> float | None:
        """Estimate at every epoch the frontier has passed; returns the first new epoch (or None; -inf when it
        was the first estimate of a held estimator, which corrects every sighting before it too)."""
        first = None
        while frontier >= self._next_update:
            epoch = self._next_update
            if self._skip_empty(epoch, frontier):
                continue
            self.update(epoch)
            # A resumed row stamped after this epoch (a replay of older sightings) gives way to the estimate.
            keep = self.epochs < epoch
            self.epochs, self._history = self.epochs[keep], self._history[keep]
            self.epochs = np.r_[self.epochs, epoch]
            # Offsets within the dead band are not applied: an NTP-synced gateway keeps its own stamps, so a
            # restarted engine (which has to learn again) places the same sightings at the same times.
            applied = np.where(np.abs(self.offset) >= self.config.clock_deadband_s, self.offset, 0.0)
            self._history = np.vstack([self._history, applied[None, :]])
            first = epoch if first is None else first
            if not self.released:
                self.released = True
                if self.config.clock_hold_first and len(self.epochs) == 1:
                    self._backward, first = True, -math.inf
        return first

    def _skip_empty(self, epoch: float, frontier: float) -> bool:
        """Step over the epochs whose stretch holds no sighting, at once: each would estimate nothing and keep
        the offsets as they are, so skipping them changes no correction (live and replay alike). Without this,
        one sighting stamped years back (a gateway whose clock reset to 2000) among the first would cost
        an estimate per minute since then."""
        cfg = self.config
        lower = epoch - cfg.clock_search_s - cfg.clock_window_s
        earliest = min(
            (float(raw[raw >= lower].min()) for _, _, raw in self._chunks if (raw >= lower).any()), default=None
        )
        # The first epoch whose stretch [e - search - window, e - search] can hold `earliest`.
        reach = frontier if earliest is None else earliest + cfg.clock_search_s
        steps = math.floor((min(reach, frontier) - epoch) / cfg.clock_update_s)
        if steps < 2:
            return False
        self._next_update = epoch + steps * cfg.clock_update_s
        return True

    def prune(self, before: float) -> None:
        """Forget the offsets of epochs before `before` (a sighting older than that, if one is still
        placed, gets the oldest estimate kept)."""
        drop = int(np.searchsorted(self.epochs, before, side="right")) - 1
        if drop > 0:
            self.epochs, self._history, self._pruned = self.epochs[drop:], self._history[drop:], True

    def add(self, tag: np.ndarray, gw: np.ndarray, raw_ts: np.ndarray) -> None:
        if len(tag):
            self._chunks.append((tag, gw, raw_ts))
            if not math.isfinite(self._next_update):
                self._first_ts = min(self._first_ts, float(raw_ts.min()))
                cfg = self.config
                self._next_update = self._first_ts + cfg.clock_first_update_s + cfg.clock_search_s

    def due(self, frontier: float) -> bool:
        return self.config.clock_estimation and frontier >= self._next_update

    def update(self, epoch: float) -> np.ndarray | None:
        """Re-estimate from the sightings stamped in [epoch - margin - clock_window_s, epoch - margin]
        (margin = clock_search_s: by the time the frontier reaches the epoch they have all arrived, in a
        live run as in a replay); returns the change of each offset (or None)."""
        cfg = self.config
        self._next_update = epoch + cfg.clock_update_s
        self.updated_at = epoch
        self.attempts += 1
        if not self._chunks:
            return None
        tag, gw, raw = (np.concatenate(c) for c in zip(*self._chunks, strict=True))
        upper = epoch - cfg.clock_search_s
        lower = upper - cfg.clock_window_s
        recent = raw >= lower
        tag, gw, raw = tag[recent], gw[recent], raw[recent]
        self._chunks = [(tag, gw, raw)] if len(tag) else []
        use = raw <= upper
        tag, gw, raw = tag[use], gw[use], raw[use]
        if len(tag) < 2:
            return None
        present = np.zeros(self.n, dtype=bool)
        present[gw] = True
        # Before a gateway is locked its offset may be seconds off: search wide (aliases are told apart
        # by the sharpness of the peak); afterwards only track drift near the current estimate.
        wide = (present & ~self.locked).any() or self.updates % cfg.clock_research_every == 0
        radius = cfg.clock_search_s if wide else cfg.clock_track_s
        if wide:
            # A wide search pairs each sighting with seconds of others: on a big site, a rotating
            # subset of about clock_wide_tags tags is plenty.
            stride = max(1, math.ceil(len(np.unique(tag)) / cfg.clock_wide_tags))
        else:
            # Tracking drift needs far fewer copies than a dense site delivers (the pairs grow with the square
            # of the receivers hearing each ping): a rotating subset of tags, about clock_track_sightings.
            stride = max(1, math.ceil(len(tag) / cfg.clock_track_sightings)) if cfg.clock_track_sightings else 1
        if stride > 1:
            keep = tag % stride == self.attempts % stride
            tag, gw, raw = tag[keep], gw[keep], raw[keep]
        ts = raw - self.offset[gw]
        order = np.lexsort((gw, ts, tag))
        tag, gw, ts = tag[order], gw[order], ts[order]
        # Every pair (i, i + k) of sightings of one tag within `radius`, by k, then by i. Sorted by tag and
        # time, a pair that fails at k fails at every larger k: only the survivors are tried at k + 1.
        a_idx, b_idx = [], []
        n_ts = len(ts)
        active = np.arange(n_ts - 1)
        for k in range(1, n_ts):
            if k > 1:
                active = active[active < n_ts - k]
            partner = active + k
            ok = (tag[partner] == tag[active]) & (ts[partner] - ts[active] <= radius)
            if not ok.any():
                break
            active, partner = active[ok], partner[ok]
            other = gw[partner] != gw[active]
            a_idx.append(active[other])
            b_idx.append(partner[other])
        if not a_idx:
            return None
        ia, ib = np.concatenate(a_idx), np.concatenate(b_idx)
        if len(ia) == 0:
            return None
        ga, gb = gw[ia], gw[ib]
        d = ts[ib] - ts[ia]
        swap = ga > gb
        ga, gb = np.where(swap, gb, ga), np.where(swap, ga, gb)
        d = np.where(swap, -d, d)
        key = ga * self.n + gb
        span = 2.0 * radius + 1.0
        value = key * span + (d + radius)
        # Equal values are equal differences of one pair (ts sit on a grid far coarser than value's
        # rounding), which every step below treats alike: the unstable (faster) sort gives the same result.
        order = np.argsort(value)
        value, key, d = value[order], key[order], d[order]
        # Densest cluster per pair, on two scales around each difference: within clock_peak_s (robust to
        # stamping jitter) and within clock_sharp_s, weighted 3x: copies of one ping agree to the
        # gateways' stamping noise, whereas a ping matched with the tag's previous one also carries the
        # BLE advertising delay (0-10 ms, random per interval) and, across tags, their different intervals.
        pos = np.arange(len(key))
        wide_h, sharp_h = cfg.clock_peak_s, cfg.clock_sharp_s
        # Differences repeat (time stamps in ms): search among the distinct values, then map each bound back
        # to the first element of its run; the same bounds as searching the whole array.
        new_run = np.r_[True, value[1:] != value[:-1]]
        run_start = np.flatnonzero(new_run)
        distinct = value[run_start]
        run_of = np.cumsum(new_run) - 1
        bound = np.r_[run_start, len(value)]
        lo = bound[np.searchsorted(distinct, distinct - wide_h, side="left")][run_of]
        hi = bound[np.searchsorted(distinct, distinct + wide_h, side="right")][run_of]
        sharp = (
            bound[np.searchsorted(distinct, distinct + sharp_h, side="right")]
            - bound[np.searchsorted(distinct, distinct - sharp_h, side="left")]
        )[run_of]
        count = hi - lo
        score = count + 3 * sharp
        group_start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        sizes = np.diff(np.r_[group_start, len(key)])
        best = np.maximum.reduceat(score, group_start)
        # Near-ties (tags pinging at one steady interval match their previous ping about as well as
        # the same ping): the cluster nearest the current estimate wins unless another is clearly
        # better; between two gateways already estimated, a jump needs 3x the support and plenty of copies.
        group_of = np.repeat(np.arange(len(group_start)), sizes)
        both_locked = (self.locked[key // self.n] & self.locked[key % self.n])[group_start]
        near = np.abs(d) <= cfg.clock_track_s
        near_best = np.zeros(len(group_start))
        near_group, near_score = group_of[near], score[near]
        if len(near_group):  # the best near score per group (groups are contiguous: a segmented max)
            firsts = np.flatnonzero(np.r_[True, near_group[1:] != near_group[:-1]])
            near_best[near_group[firsts]] = np.maximum(np.maximum.reduceat(near_score, firsts), 0)
        jump = both_locked & ((best < 3.0 * near_best) | (best < 4 * cfg.clock_min_pairs))
        # Eligible: within the noise of the best (about two standard deviations of a score).
        threshold = np.where(jump, np.inf, best - 4.0 * np.sqrt(best))
        eligible = score >= threshold[group_of]
        eligible |= jump[group_of] & near & (score >= near_best[group_of])
        idx = np.flatnonzero(eligible)
        idx = idx[np.lexsort((pos[idx], np.abs(d[idx]), key[idx]))]
        first_best = idx[np.r_[True, key[idx[1:]] != key[idx[:-1]]]]
        csum = np.r_[0.0, np.cumsum(d)]
        count = hi - lo
        peak = (csum[hi[first_best]] - csum[lo[first_best]]) / count[first_best]
        weight = count[first_best].astype(np.float64)
        keep = weight >= cfg.clock_min_pairs
        if not keep.any():
            return None
        edge_key, peak, weight = key[first_best][keep], peak[keep], weight[keep]
        ea, eb = edge_key // self.n, edge_key % self.n
        delta, used = self._solve(ea, eb, peak, weight)
        if delta is None:
            return None
        new = self.offset + delta
        # Gauge: within each group of connected gateways, the median gateway is the consensus (0).
        touched = np.zeros(self.n, dtype=bool)
        touched[ea[used]] = True
        touched[eb[used]] = True
        for members in _components(self.n, ea[used], eb[used]):
            members = members[touched[members]]
            if not len(members):
                continue
            known = members[self.locked[members]]
            if len(known) and (self.locked & ~touched).any():
                # Some estimated (or resumed) gateways were not reached (a subset of the tags, or quiet ones): they
                # keep their offsets, so the reached ones must not move as a whole against them. The solve fixes
                # only their differences; the gauge keeps the median change of those known before at 0.
                new[members] -= float(np.median(new[known] - self.offset[known]))
            else:
                new[members] -= float(np.median(new[members]))
        change = new - self.offset
        change[~touched] = 0.0
        self.offset = np.where(touched, new, self.offset)
        counts = np.bincount(ea[used], weights=weight[used], minlength=self.n) + np.bincount(
            eb[used], weights=weight[used], minlength=self.n
        )
        self.evidence = np.where(touched, counts.astype(np.int64), self.evidence)
        self.locked |= touched
        self.estimated |= touched
        self.estimated_at = np.where(touched, epoch, self.estimated_at)
        self.updates += 1
        return change

    def _solve(self, ea, eb, d, w):
        """Offsets with o[b] - o[a] = d, robustly: iteratively reweighted least squares close to a
        least-absolute-deviations fit (a pair estimate that picked the wrong ping cannot pull the
        others), then the edges off by more than clock_outlier_s are dropped and a plain weighted
        least-squares solve gives the answer."""
        n = self.n
        used = np.ones(len(d), dtype=bool)
        weight = w.astype(np.float64).copy()
        delta = None
        for step in range(7):
            final = step == 6
            if final:
                used = np.abs(delta[eb] - delta[ea] - d) <= self.config.clock_outlier_s
                weight = w.astype(np.float64)
            if not used.any():
                return None, used
            delta = self._weighted(n, ea[used], eb[used], d[used], weight[used])
            if not final:
                resid = np.abs(delta[eb] - delta[ea] - d)
                weight = w / np.maximum(resid, 0.005)
        return delta, used

    @staticmethod
    def _weighted(n, a, b, d, wu):
        lap = np.zeros((n, n))
        rhs = np.zeros(n)
        np.add.at(lap, (a, a), wu)
        np.add.at(lap, (b, b), wu)
        np.add.at(lap, (a, b), -wu)
        np.add.at(lap, (b, a), -wu)
        np.add.at(rhs, b, wu * d)
        np.add.at(rhs, a, -wu * d)
        scale = wu.max() if len(wu) else 1.0
        lap[np.diag_indices(n)] += 1e-6 * scale
        lonely = np.diag(lap) <= 1e-5 * scale
        lap[lonely, lonely] = 1.0
        return np.linalg.solve(lap, rhs)


def _components(n: int, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    roots = np.array([find(x) for x in range(n)])
    return [np.flatnonzero(roots == r) for r in np.unique(roots)]
