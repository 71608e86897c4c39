"""The engine worker: queue entries in, committed locations out, acknowledged only after the commit.

One loop, whichever queue is behind it (``run_engine`` on Redis Streams, or the in-process thread of the
embedded default):

1. keep the shards it owns (renew their locks), take its fair share of free ones
   (ceil(shards / live workers)), give back extras when more workers join;
2. read new entries from its shards and merge them by arrival (entry id) across shards, so the engine
   sees one stream in arrival order whatever the shard boundaries, read sizes or takeovers were;
3. feed the entries' sightings to the location pipeline (``LocationPipeline.ingest_sightings``): they were
   validated once by the front and arrive typed (msgpack): no second parse, no second check of the limits;
4. close the windows the event-time watermark allows (``process``), which commits in one transaction and
   hands the changes to Channels on commit; when the queue is idle, close what the wall clock says is
   complete (``process_idle``), so a tag or a site that goes quiet is committed within seconds;
5. acknowledge every entry whose sightings all sat in windows that commit closed.

Taking a shard over (its owner died, or gave it back): the shard's backlog is older than what this worker's
engine has already seen, and the engine would drop it as late. So the worker rebuilds its pipeline from the
database (which also seeds every tag's smoothing from the stored rooms) and replays every entry of its shards
not yet acknowledged, merged in arrival order, the dead owner's pending entries included (XAUTOCLAIM).

Idempotence: an entry read twice (a crash between the commit and the XACK, a takeover) is harmless. The
engine drops a (gateway, tag, ts) it has already seen, and the pipeline skips an estimate no newer than the
asset's stored ``located_at``. So a sighting processed twice counts once.

Nothing accepted is dropped silently: a sighting the front answered 202 for either lands in the engine, or
is counted by reason in ``WorkerStats.dropped`` (too late to place, a repeat, an unregistered tag, a
receiver deactivated since) and logged (at most once a minute per reason, with the running counts).

Failures: a database error (connection killed, server restarting) closes the connection, waits with
backoff while still renewing the shard locks, then rebuilds and replays the same way: nothing is dropped.
A Redis error forgets the shards (their locks may have expired) and takes them again when Redis answers.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import Error as DatabaseError
from django.db import close_old_connections, connection

from locations import pipeline
from locations.ingest.queue import Entry, QueueUnavailable, _id_key, consumer_name
from locations.outbox import ensure_in_process_consumer


def _database_errors() -> tuple[type[BaseException], ...]:
    """Django's database errors, and the driver's own: a server-side cursor (QuerySet.iterator) closed on a
    terminated connection raises psycopg's AdminShutdown unwrapped, from Django's cursor_iter."""
    return (DatabaseError, connection.Database.Error)


logger = logging.getLogger(__name__)

# Consecutive entries spanning at most this much event time are fed to the pipeline together.
SLICE_S = 1.0
# With nothing read for this long, a live stream counts as quiet: the wall clock closes its windows.
IDLE_TICK_S = 1.0


def _redis_errors() -> tuple[type[BaseException], ...]:
    try:
        import redis  # noqa: PLC0415 — the Redis client loads only with the Redis Streams backend
    except ImportError:  # pragma: no cover - redis is a pinned dependency
        return (QueueUnavailable,)
    return (redis.RedisError, QueueUnavailable)


@dataclass(slots=True)
class WorkerStats:
    entries: int = 0  # queue entries taken in (replays included)
    sightings: int = 0
    accepted: int = 0  # new sightings the engine took into its windows
    duplicates: int = 0
    rejected: int = 0  # items the pipeline refused (a receiver deactivated since the front checked it)
    unknown_tags: int = 0
    not_bound: int = 0  # of a tag stamped before it was bound to its asset (or between two bindings): not placed
    late: int = 0  # accepted by the front, too late for the engine's windows: counted and logged
    idle_commits: int = 0  # commits driven by the wall clock with the queue idle
    bad_entries: int = 0  # undecodable entries: logged, acknowledged, never retried forever
    commits: int = 0
    estimates: int = 0
    room_changes: int = 0
    acked: int = 0
    db_errors: int = 0
    queue_errors: int = 0
    rebuilds: int = 0
    shards_taken: int = 0
    shards_lost: int = 0
    replayed: int = 0  # pending entries claimed on taking a shard or after a rebuild
    warmup_entries: int = 0  # committed entries replayed (not re-committed) to rebuild per-tag state
    latencies: array = field(default_factory=lambda: array("d"))  # commit wall time - sighting ts, s
    arrivals: array = field(default_factory=lambda: array("d"))  # commit wall time - front's receipt, s

    @property
    def dropped(self) -> dict[str, int]:
        """Sightings taken from the queue that will never change a location, by reason."""
        return {
            "too late to place": self.late,
            "repeated": self.duplicates,
            "tag not registered": self.unknown_tags,
            "tag not bound at that time": self.not_bound,
            "receiver no longer active": self.rejected,
        }

    def as_dict(self) -> dict:
        out = {name: getattr(self, name) for name in self.__slots__ if name not in ("latencies", "arrivals")}
        for name, samples in (("latency", self.latencies), ("since_receipt", self.arrivals)):
            if samples:
                ordered = sorted(samples)
                out[f"{name}_p50_s"] = round(ordered[len(ordered) // 2], 3)
                out[f"{name}_p99_s"] = round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3)
                out[f"{name}_samples"] = len(ordered)
        return out


@dataclass(slots=True)
class _Inflight:
    entry: Entry
    max_ts: float


class EngineWorker:
    """Feeds a LocationPipeline from a queue. Single-threaded: one worker object per thread or process."""

    def __init__(
        self,
        queue,
        *,
        pipeline_factory: Callable[..., object],
        name: str | None = None,
        read_count: int = 500,
        max_feed: int = 2000,
        commit_interval_s: float = 0.5,
        max_stall_s: float = 120.0,
        block_ms: int = 200,
        idle_flush_s: float = 2.0,
        max_shards: int | None = None,
        record_latency: bool = False,
        backoff_max_s: float = 5.0,
        warmup_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.queue = queue
        self.pipeline_factory = pipeline_factory
        self.name = name or consumer_name()
        self.read_count = read_count
        self.max_feed = max_feed
        self.commit_interval_s = commit_interval_s
        self.max_stall_s = max_stall_s
        self.block_ms = block_ms
        self.idle_flush_s = idle_flush_s
        self.max_shards = max_shards
        self.record_latency = record_latency
        self.backoff_max_s = backoff_max_s
        if warmup_s is None:
            warmup_s = settings.INGEST_WARMUP_SECONDS
        self.warmup_s = warmup_s
        self.clock = clock
        self.stats = WorkerStats()
        self.pipeline = None
        self.owned: set[int] = set()
        self._buffers: dict[int, deque[Entry]] = {}  # read, not yet fed (waiting for the merge)
        self._backlogged: set[int] = set()  # shards whose last read was full: more may be waiting
        self._inflight: dict[int, dict[str, _Inflight]] = {}  # fed, not yet acknowledged
        self._max_ts = -math.inf
        self._fed = False  # the engine has taken sightings since it was built
        self._last_entry_at = time.monotonic()
        self._unflushed = False
        self._renew_every = max(0.2, getattr(queue, "lock_ttl_ms", 15_000) / 1000 / 3)
        self._renewed_at = -math.inf
        self._lost: set[int] = set()  # reported by the heartbeat thread
        self._lost_lock = threading.Lock()
        self._heartbeat_stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._committed_at = -math.inf
        self._progress_at = time.monotonic()
        self._trimmed_at = time.monotonic()
        self._ack_margin = None
        self._redis_errors = _redis_errors()
        self._drop_logged: dict[str, tuple[float, int]] = {}

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Register, then build the pipeline (slow on a big site) before holding any shard lock."""
        self._call_queue(self.queue.register, self.name)
        if self.queue.backend == "redis":
            self._heartbeat_stop.clear()
            self._heartbeat = threading.Thread(target=self._beat, name=f"{self.name}-heartbeat", daemon=True)
            self._heartbeat.start()
        self._build_pipeline()

    def _beat(self) -> None:
        """Renew the shard locks and the worker's registration every TTL/3, whatever the main loop is doing
        (a long commit or a replay must not make the shards look abandoned)."""
        while not self._heartbeat_stop.wait(self._renew_every):
            if time.monotonic() - self._progress_at > self.max_stall_s:
                # The main loop is stuck (a hung connection...): let the locks lapse so another worker takes
                # the shards; this one finds them lost if it ever wakes up.
                continue
            owned = set(self.owned)
            try:
                self.queue.register(self.name)
                lost = self.queue.renew(self.name, owned)
            except self._redis_errors:
                continue
            if lost:
                with self._lost_lock:
                    self._lost |= lost

    def stop(self) -> None:
        """Graceful stop: commit what is closed, write what was held back (last_seen...), acknowledge, give
        the shards back."""
        self._heartbeat_stop.set()
        if self.pipeline is not None and self.owned:
            try:
                # Commit and acknowledge what the watermark covers. The rest (windows still open, entries read
                # but not fed) stays pending: the next owner of the shard replays it, after a warm-up, exactly
                # as this worker would have gone on. Closing the open windows now would cut the pings whose
                # copies from other gateways are still on their way.
                self._process(final=False)
                self.pipeline.write_held()
            except _database_errors():
                logger.warning("worker %s: could not commit on stop; the next owner replays the entries", self.name)
            except self._redis_errors:
                logger.warning("worker %s: could not acknowledge on stop; the next owner replays", self.name)
        for shard in sorted(self.owned):
            try:
                self.queue.release(self.name, shard)
            except self._redis_errors:
                pass
        self.owned.clear()
        try:
            self.queue.unregister(self.name)
        except self._redis_errors:
            pass

    def run(self, *, stop: threading.Event | None = None, max_seconds: float | None = None) -> WorkerStats:
        stop = stop or threading.Event()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        if self.pipeline is None:
            self.start()
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                self.step()
        finally:
            self.stop()
        return self.stats

    def run_until_idle(self, *, timeout_s: float = 60.0) -> WorkerStats:
        """Process until the queue holds nothing (tests, replays). Commits and acknowledges everything."""
        if self.pipeline is None:
            self.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            read = self.step(block_ms=0)
            if read == 0 and not self._has_buffered() and not self._backlogged:
                if self._has_inflight() or self._unflushed:
                    self._guard(lambda: self._process(final=True))
                if not self._has_inflight() and self.owned and self.queue.idle():
                    return self.stats
        raise TimeoutError(f"the queue was not drained within {timeout_s} s")

    # ----------------------------------------------------------------- one iteration

    def step(self, *, block_ms: int | None = None) -> int:
        """One round: shards, read, merge, feed, commit, acknowledge. Returns how many entries were read."""
        return self._guard(lambda: self._step(self.block_ms if block_ms is None else block_ms)) or 0

    def _step(self, block_ms: int) -> int:
        self._progress_at = time.monotonic()
        self._keep_shards()
        read = self._read(block_ms)
        fed = self._feed()
        if read:
            self._last_entry_at = time.monotonic()
        # Nothing read for a while and nothing more to read: the stream (every gateway of our shards) went quiet.
        quiet = not read and not self._backlogged and not self._has_buffered()
        quiet_for = time.monotonic() - self._last_entry_at
        due = time.monotonic() - self._committed_at >= self.commit_interval_s
        live = self.pipeline is not None and self.pipeline.is_live(self.clock())
        if quiet and live and self._fed and quiet_for >= IDLE_TICK_S and (self._unflushed or self._has_inflight()):
            # A live stream gone quiet: the wall clock, not the next sighting, closes its last windows (within
            # INGEST_IDLE_FLUSH_LAG_SECONDS of its last ping). While sightings flow, event time alone decides:
            # under load, batches arrive seconds late, and the wall clock would make them late.
            if due:
                self._process_idle()
        elif quiet and not live and quiet_for >= self.idle_flush_s and self._has_inflight():
            # A recorded or old backlog that ended: close every window.
            self._process(final=True)
        elif due and (fed or self._unflushed):
            self._process(final=False)
        if time.monotonic() - self._trimmed_at > 30:
            self._trimmed_at = time.monotonic()
            for shard in sorted(self.owned):
                self.queue.trim(shard)
        return read

    def _guard(self, action):
        try:
            return action()
        except _database_errors() as exc:
            self.stats.db_errors += 1
            logger.warning("worker %s: database error, rebuilding and replaying: %s", self.name, exc)
            self._recover_database()
        except self._redis_errors as exc:
            self.stats.queue_errors += 1
            logger.warning("worker %s: queue error, taking the shards again when it answers: %s", self.name, exc)
            self._forget_shards(set(self.owned))
            forget_groups = getattr(self.queue, "forget_groups", None)
            if forget_groups:
                forget_groups()
            time.sleep(min(1.0, self.backoff_max_s))
        return None

    # ----------------------------------------------------------------- shards

    def _want(self) -> int:
        alive = self.queue.register(self.name)
        want = math.ceil(self.queue.shards / alive)
        return min(want, self.max_shards) if self.max_shards else want

    def _keep_shards(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._renewed_at < self._renew_every:
            return
        self._renewed_at = now
        if self._heartbeat is not None:
            with self._lost_lock:
                lost, self._lost = self._lost & self.owned, set()
        else:
            lost = self.queue.renew(self.name, self.owned)
        if lost:
            self.stats.shards_lost += len(lost)
            logger.warning("worker %s: lost shards %s (stalled past the lock TTL)", self.name, sorted(lost))
            self._forget_shards(lost)
        want = self._want()
        if len(self.owned) > want:
            self._give_back(len(self.owned) - want)
        elif len(self.owned) < want:
            gained = self.queue.acquire_shards(self.name, owned=self.owned, want=want)
            if gained:
                self._take(gained)

    def _forget_shards(self, shards: set[int]) -> None:
        for shard in shards:
            self.owned.discard(shard)
            self._inflight.pop(shard, None)
            self._buffers.pop(shard, None)
            self._backlogged.discard(shard)

    def _take(self, gained: set[int]) -> None:
        self.stats.shards_taken += len(gained)
        logger.info("worker %s: took shard(s) %s", self.name, sorted(gained))
        self.owned |= gained
        if self._fed:
            # The engine has seen newer sightings than the new shards' backlog: start it again from the
            # database and replay every unacknowledged entry of all our shards in arrival order.
            self._rebuild_and_replay(reason="took over shards")
            return
        for shard in sorted(gained):
            restore_shard(self.pipeline, shard=shard, shards=self.queue.shards)
            self._claim(shard)

    def _claim(self, shard: int) -> None:
        """Queue up a shard's replay: the recent, already committed entries first (only to warm the engine's
        per-tag smoothing up, as it was in the previous owner), then every unacknowledged entry."""
        self._inflight.setdefault(shard, {})
        buffer = self._buffers.setdefault(shard, deque())
        pending = self.queue.claim_pending(self.name, shard)
        warmup = []
        if self.warmup_s > 0:
            warmup = self.queue.history(shard, seconds=self.warmup_s, exclude={e.entry_id for e in pending})
        if warmup:
            # Seed the smoothing as it stood just before the warm-up, so the replayed windows move it on in
            # time (seeded at the stored located_at, every older window would be a zero-length step).
            first = (
                min(s.ts for e in warmup for s in e.batch.sightings) if any(e.batch.sightings for e in warmup) else None
            )
            if first is not None:
                restore_shard(self.pipeline, shard=shard, shards=self.queue.shards, at=first - 1.0)
        if pending or warmup:
            logger.info(
                "worker %s: shard %s: replaying %d pending entries after %d warm-up entries",
                self.name,
                shard,
                len(pending),
                len(warmup),
            )
            self.stats.replayed += len(pending)
            self.stats.warmup_entries += len(warmup)
            buffer.extend(sorted(warmup + pending, key=_arrival))
            self._last_entry_at = time.monotonic()
        self._backlogged.add(shard)  # undelivered entries may follow the pending ones

    def _give_back(self, count: int) -> None:
        """More workers joined: commit what the watermark covers, release the extra shards with the rest
        still pending (their next owner replays it), and start again from the database on ours."""
        self._process(final=False)
        for shard in sorted(self.owned, reverse=True)[:count]:
            self._forget_shards({shard})
            self.queue.release(self.name, shard)
            logger.info("worker %s: gave shard %s back", self.name, shard)
        if self._fed:
            # The engine holds open windows of tags that are no longer ours: drop them with the engine.
            self._rebuild_and_replay(reason="gave shards back")

    # ----------------------------------------------------------------- reading, merging, feeding

    def _read(self, block_ms: int) -> int:
        # Do not read further ahead on shards whose buffer already waits for a backlogged one.
        limit = 4 * self.read_count
        shards = [s for s in sorted(self.owned) if len(self._buffers.get(s, ())) < limit]
        if not shards:
            return 0
        if self._has_buffered():
            block_ms = 0
        entries = self.queue.read(self.name, shards, count=self.read_count, block_ms=block_ms)
        counts: dict[int, int] = {}
        for entry in entries:
            self._buffers.setdefault(entry.shard, deque()).append(entry)
            counts[entry.shard] = counts.get(entry.shard, 0) + 1
        for shard in shards:
            if counts.get(shard, 0) >= self.read_count:
                self._backlogged.add(shard)
            else:
                self._backlogged.discard(shard)
        return len(entries)

    def _feed(self, *, flush_buffers: bool = False) -> int:
        """Feed buffered entries in arrival order, up to where every backlogged shard has been read."""
        horizon = None
        if not flush_buffers:
            for shard in self._backlogged:
                buffer = self._buffers.get(shard)
                if buffer:
                    last = _arrival(buffer[-1])
                    horizon = last if horizon is None or last < horizon else horizon
                elif shard in self.owned:
                    return 0  # a backlogged shard with nothing read yet: wait for it
        ready: list[Entry] = []
        for buffer in self._buffers.values():
            while buffer and (horizon is None or _arrival(buffer[0]) <= horizon):
                ready.append(buffer.popleft())
        if ready:
            ready.sort(key=_arrival)
            if len(ready) > self.max_feed and not flush_buffers:  # bounded work per round: commits keep flowing
                for entry in reversed(ready[self.max_feed :]):
                    self._buffers[entry.shard].appendleft(entry)
                ready = ready[: self.max_feed]
            self._ingest(ready)
        return len(ready)

    def _has_buffered(self) -> bool:
        return any(self._buffers.values())

    def _ingest(self, entries: list[Entry]) -> None:
        """Feed entries (in arrival order) to the pipeline, then track them until their commit.

        A gateway batch is split over the shards, so entries are small; one pipeline call per entry would
        cost more than the location maths. Consecutive entries are fed as one
        body per gateway: the slice spans at most SLICE_S of event time, so the reordering stays far inside the
        engine's allowed lateness (the engine sorts by event time within its windows anyway).
        """
        stats = self.stats
        bad: dict[int, list[str]] = {}
        good: list[Entry] = []
        for entry in entries:
            if entry.shard not in self.owned:
                continue
            if entry.batch is None:
                stats.bad_entries += 1
                logger.error(
                    "worker %s: dropping entry %s of shard %s: %s", self.name, entry.entry_id, entry.shard, entry.error
                )
                bad.setdefault(entry.shard, []).append(entry.entry_id)
                continue
            good.append(entry)
        start, low = 0, None
        for i, entry in enumerate(good):
            if low is None:
                low = entry.batch.min_ts
            elif entry.batch.max_ts - low > SLICE_S:
                self._feed_slice(good[start:i])
                start, low = i, entry.batch.min_ts
        if good:
            self._feed_slice(good[start:])
        for entry in good:
            batch = entry.batch
            if batch.max_ts > self._max_ts:
                self._max_ts = batch.max_ts
            if not entry.warmup:  # warm-up entries were acknowledged by whoever committed them
                stats.entries += 1
                stats.sightings += len(batch.sightings)
                self._inflight.setdefault(entry.shard, {})[entry.entry_id] = _Inflight(entry, batch.max_ts)
        for shard, ids in bad.items():
            self.queue.ack(shard, ids)

    def _feed_slice(self, entries: list[Entry]) -> None:
        live = [e.batch.sightings for e in entries if not e.warmup and e.batch.sightings]
        warm = [e.batch.sightings for e in entries if e.warmup and e.batch.sightings]
        stats = self.stats
        for sightings, warmup in ((warm, True), (live, False)):
            if not sightings:
                continue
            flat = [s for part in sightings for s in part]
            result = self.pipeline.ingest_sightings(flat)
            self._fed = self._unflushed = True
            if not warmup:
                stats.accepted += result.accepted - result.late - result.not_bound  # placed by the engine
                stats.duplicates += result.duplicates
                stats.rejected += result.inactive_gateway
                stats.unknown_tags += result.unknown_tags
                stats.not_bound += result.not_bound
                stats.late += result.late
                if result.late or result.inactive_gateway:
                    self._log_drops()

    def _log_drops(self) -> None:
        """Say so when accepted sightings are dropped: once a minute per reason, with the running count."""
        now = time.monotonic()
        for reason, count in (
            ("too late to place", self.stats.late),
            ("receiver no longer active", self.stats.rejected),
        ):
            logged_at, logged_count = self._drop_logged.get(reason, (-math.inf, 0))
            if count > logged_count and now - logged_at >= 60:
                logger.warning(
                    "worker %s: %d accepted sightings dropped so far: %s (%d since the last report)",
                    self.name,
                    count,
                    reason,
                    count - logged_count,
                )
                self._drop_logged[reason] = (now, count)

    # ----------------------------------------------------------------- committing

    def _process(self, *, final: bool) -> None:
        """Commit the windows the watermark closes, then acknowledge the entries they cover."""
        if final:
            if not math.isfinite(self._max_ts):  # nothing fed since the engine was built: nothing to close
                self._unflushed = False
                self._ack_covered(None, self.clock())
                return
            # Far enough past the newest sighting to close every open window, but finite: the engine's
            # flush(None) would also close the event-time clock for good, and every later sighting would
            # then count as late.
            watermark = self._max_ts + self._margin()
        else:
            if not math.isfinite(self._max_ts):
                return
            # Event time drives the windows (a replay gives the same answer as the live run); the wall
            # clock caps it so that a gateway with a clock running ahead cannot close everyone's windows.
            watermark = min(self._max_ts, self.clock())
        result = self.pipeline.process(watermark, write_all=final)
        self._committed_at = time.monotonic()
        committed_at = self.clock()
        self.stats.commits += 1
        self.stats.estimates += result.estimates
        self.stats.room_changes += len(result.room_changes)
        if final:
            self._unflushed = False
        if not final and getattr(self.pipeline.engine, "holding", False):
            return  # the first minute's windows wait for the first clock estimate: they are not committed yet
        self._ack_covered(None if final else watermark - self._margin(), committed_at)

    def _process_idle(self) -> None:
        """The queue is idle: commit the windows the wall clock says are complete, acknowledge them."""
        if self.pipeline is None:
            return
        result = self.pipeline.process_idle(self.clock())
        self._committed_at = time.monotonic()
        committed_at = self.clock()
        self.stats.commits += 1
        self.stats.idle_commits += 1
        self.stats.estimates += result.estimates
        self.stats.room_changes += len(result.room_changes)
        engine = self.pipeline.engine
        self._unflushed = engine.pending > 0
        if getattr(engine, "holding", False):
            return  # the first minute's windows wait for the first clock estimate: nothing is committed yet
        if not self._unflushed:
            self._ack_covered(None, committed_at)  # every window fed so far is closed and committed
        elif result.closed_up_to is not None:
            # A sighting at ts sits in a window that ends by ts + window_max_s.
            self._ack_covered(result.closed_up_to - engine.config.window_max_s - 1e-6, committed_at)

    def _margin(self) -> float:
        if self._ack_margin is None:
            config = self.pipeline.engine.config
            # A sighting at ts sits in a window ending by ts + window_max_s; flush(W) closes the windows
            # ending by W - allowed_lateness_s.
            self._ack_margin = config.window_max_s + config.allowed_lateness_s + 1e-6
        return self._ack_margin

    def _ack_covered(self, up_to: float | None, committed_at: float) -> None:
        for shard, inflight in self._inflight.items():
            done = [eid for eid, item in inflight.items() if up_to is None or item.max_ts <= up_to]
            if not done:
                continue
            self.queue.ack(shard, done)
            self.stats.acked += len(done)
            for eid in done:
                item = inflight.pop(eid)
                if self.record_latency and item.entry.batch is not None and item.entry.deliveries == 1:
                    batch = item.entry.batch
                    self.stats.latencies.extend(committed_at - s.ts for s in batch.sightings)
                    self.stats.arrivals.extend(committed_at - batch.received_at for _ in batch.sightings)

    def _has_inflight(self) -> bool:
        return any(self._inflight.values())

    # ----------------------------------------------------------------- recovery

    def _build_pipeline(self, *, rebuild: bool = False) -> None:
        # A rebuild replays the unacknowledged entries: the new engine must decide them as the one before did,
        # so it relearns the receivers from them instead of resuming what the rows say now (LocationPipeline).
        self.pipeline = self.pipeline_factory(resume_learnt=False) if rebuild else self.pipeline_factory()
        self._ack_margin = None
        self._fed = False
        self._max_ts = -math.inf
        self._unflushed = False

    def _rebuild_and_replay(self, *, reason: str) -> None:
        self.stats.rebuilds += 1
        logger.info("worker %s: rebuilding the pipeline (%s)", self.name, reason)
        self._build_pipeline(rebuild=True)
        self._buffers.clear()
        self._inflight.clear()
        self._backlogged.clear()
        for shard in sorted(self.owned):
            self._claim(shard)

    def _recover_database(self) -> None:
        """The database failed mid-way: what the engine held is suspect. Wait for the database (renewing the
        shard locks meanwhile), rebuild from it and replay every unacknowledged entry."""
        if connection.in_atomic_block:
            # Inside someone's transaction the connection cannot be replaced: retrying would spin forever.
            raise RuntimeError("the engine worker must not run inside a database transaction")
        delay = 0.2
        while True:
            try:
                connection.close()
            except _database_errors():
                pass
            close_old_connections()
            self._sleep_renewing(delay)
            try:
                connection.ensure_connection()
                self._rebuild_and_replay(reason="database error")
                break
            except _database_errors() as exc:
                self.stats.db_errors += 1
                logger.warning("worker %s: database still unavailable: %s", self.name, exc)
                delay = min(delay * 2, self.backoff_max_s)
            except self._redis_errors as exc:
                self.stats.queue_errors += 1
                logger.warning("worker %s: queue error during recovery: %s", self.name, exc)
                self._forget_shards(set(self.owned))
                break
        logger.info("worker %s: recovered from the database error", self.name)

    def _sleep_renewing(self, seconds: float) -> None:
        if self._heartbeat is not None:  # the heartbeat thread keeps the locks meanwhile
            time.sleep(seconds)
            return
        end = time.monotonic() + seconds
        while True:
            try:
                lost = self.queue.renew(self.name, self.owned)
                self.queue.register(self.name)
                if lost:
                    self.stats.shards_lost += len(lost)
                    self._forget_shards(lost)
            except self._redis_errors:
                pass
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, self._renew_every))

    def _call_queue(self, fn, *args):
        delay = 0.2
        while True:
            try:
                return fn(*args)
            except self._redis_errors as exc:
                self.stats.queue_errors += 1
                logger.warning("worker %s: queue unavailable: %s", self.name, exc)
                time.sleep(delay)
                delay = min(delay * 2, self.backoff_max_s)


def _arrival(entry: Entry) -> tuple:
    """Merge order across shards: when the front received the batch, then the stream position. (Stream ids
    alone tie within a millisecond, and their sequence numbers are per stream.)"""
    ms, seq = _id_key(entry.entry_id)
    received = entry.batch.received_at if entry.batch is not None else ms / 1000.0
    return received, ms, seq, entry.shard


def restore_shard(pipeline, *, shard: int, shards: int, at: float | None = None) -> int:
    """Seed the engine's smoothing for one shard's tags from the assets' stored rooms: the pipeline's one
    restore routine (``LocationPipeline.restore_from_db``), for that shard only."""
    return pipeline.restore_from_db(shard=shard, shards=shards, at=at)


# --------------------------------------------------------------------------- the embedded default

_thread: threading.Thread | None = None
_thread_stop = threading.Event()
_thread_lock = threading.Lock()


def live_engine_config():
    """The engine's configuration for a live worker: the defaults, with the wait for slower gateways capped at
    ``INGEST_LIVE_MAX_WAIT_SECONDS`` (None: the defaults)."""
    from locations.engine import EngineConfig  # noqa: PLC0415 - keeps the engine out of the import of the queue

    cap = float(settings.INGEST_LIVE_MAX_WAIT_SECONDS or 0)
    default = EngineConfig()
    if cap <= 0 or cap >= default.allowed_lateness_s:
        return None
    return EngineConfig(allowed_lateness_s=max(cap, default.min_lateness_s))


def live_pipeline(*, resume_learnt: bool = True):
    """A pipeline for a live engine worker (run_engine)."""
    return pipeline.LocationPipeline(config=live_engine_config(), resume_learnt=resume_learnt)


def in_process_pipeline():
    """The process-wide pipeline (shared with replay_sightings and the simulator in this process)."""

    return pipeline.get_pipeline()


def rebuilt_in_process_pipeline(*, resume_learnt: bool = False):
    pipeline.reset_pipeline()
    return pipeline.get_pipeline(resume_learnt=resume_learnt)


def ensure_in_process_worker(queue) -> None:
    """Start the background worker thread of the embedded default (no REDIS_URL), once per process, and
    the in-process outbox consumer (room-type rules, alerts, webhooks) next to it."""
    global _thread

    ensure_in_process_consumer()
    with _thread_lock:
        if _thread is not None and _thread.is_alive():
            return
        _thread_stop.clear()

        def loop():
            first = [True]

            def factory(*, resume_learnt: bool = True):
                if first[0]:
                    first[0] = False
                    return in_process_pipeline()
                return rebuilt_in_process_pipeline(resume_learnt=resume_learnt)

            worker = EngineWorker(queue, pipeline_factory=factory, name="in-process", block_ms=500)
            try:
                worker.run(stop=_thread_stop)
            except Exception:  # the thread must report, not vanish silently
                logger.exception("the in-process engine worker stopped")
            finally:
                connection.close()

        _thread = threading.Thread(target=loop, name="in-process-engine-worker", daemon=True)
        _thread.start()


def stop_in_process_worker(timeout_s: float = 5.0) -> None:
    global _thread
    with _thread_lock:
        thread, _thread = _thread, None
    if thread is not None:
        _thread_stop.set()
        thread.join(timeout_s)
