"""The queue between the ingest fronts and the engine workers (docs/design.md §6).

Validated sightings are split by a stable hash of the tag (CRC-32, never Python's ``hash()``, which
changes per process) into ``INGEST_SHARDS`` shards, so each tag is always handled, in order, by the one
worker that owns its shard. Each entry is one gateway batch's sightings for one shard.

Two implementations of one interface:

- ``RedisStreamQueue`` (production, ``REDIS_URL`` set): one Redis stream per shard, read through the
  consumer group ``engine``. A worker owns a shard while it holds the shard's lock (``SET NX PX``, renewed
  well before it expires); it acknowledges (XACK) an entry only after the database commit that covers
  it; on taking a shard over it claims the previous owner's pending entries (XAUTOCLAIM) and processes
  them first. Acknowledged entries are trimmed after ``INGEST_STREAM_RETAIN_SECONDS``.
- ``InMemoryQueue`` (the embedded default): the same operations on in-process lists, for a laptop or
  ``make demo`` with no server.

The worker (``locations/ingest/worker.py``) drives either one the same way.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings

from declarations.tag_ids import shard_of
from locations.engine.types import Sighting
from locations.ingest.codec import decode_entry, encode_entry

logger = logging.getLogger(__name__)

GROUP = "engine"


@dataclass(frozen=True, slots=True)
class QueuedBatch:
    """One gateway batch's validated sightings for one shard, and when the front received it."""

    gateway_id: str
    received_at: float  # epoch seconds, the front's clock: the worker checks "too far in the future" against it
    sightings: tuple[Sighting, ...]

    @property
    def max_ts(self) -> float:
        return max((s.ts for s in self.sightings), default=-math.inf)

    @property
    def min_ts(self) -> float:
        return min((s.ts for s in self.sightings), default=math.inf)


def encode_batch(batch: QueuedBatch) -> bytes:
    """msgpack, column by column (locations/ingest/codec.py says why)."""
    return encode_entry(batch.gateway_id, batch.received_at, batch.sightings)


class EntryError(ValueError):
    """A queue entry that cannot be decoded (written by something else, or corrupted)."""


def decode_batch(data: bytes | str) -> QueuedBatch:
    """A queue entry -> its validated sightings, as the front queued them: no validation again."""
    if isinstance(data, bytes) and data[:1] != b"{":
        try:
            gateway_id, received_at, sightings = decode_entry(data)
        except (ValueError, TypeError) as exc:
            raise EntryError(f"undecodable queue entry: {exc}") from None
        return QueuedBatch(gateway_id=gateway_id, received_at=received_at, sightings=sightings)
    try:  # the JSON entries written before the msgpack encoding (a rolling upgrade)
        raw = json.loads(data)
        sightings = tuple(
            Sighting(gateway_id=raw["g"], tag_id=tag, rssi=float(rssi), ts=float(ts), battery=battery)
            for tag, rssi, ts, battery in raw["s"]
        )
        return QueuedBatch(gateway_id=str(raw["g"]), received_at=float(raw["r"]), sightings=sightings)
    except (ValueError, TypeError, KeyError) as exc:
        raise EntryError(f"undecodable queue entry: {exc}") from None


def split_by_shard(sightings: Iterable[Sighting], shards: int) -> dict[int, list[Sighting]]:
    parts: dict[int, list[Sighting]] = {}
    for sighting in sightings:
        parts.setdefault(shard_of(sighting.tag_id, shards), []).append(sighting)
    return parts


@dataclass(frozen=True, slots=True)
class Entry:
    shard: int
    entry_id: str
    batch: QueuedBatch | None  # None: the entry could not be decoded (``error`` says why)
    error: str | None = None
    deliveries: int = 1
    warmup: bool = False  # already processed and acknowledged: replayed only to rebuild the per-tag state


@dataclass(slots=True)
class ShardLag:
    shard: int
    undelivered: int  # entries no worker has read yet
    pending: int  # read but not yet acknowledged (not yet committed)
    oldest_age_s: float | None  # age of the oldest entry not yet acknowledged, None when there is none
    owner: str | None = None


@dataclass(slots=True)
class QueueLag:
    backend: str
    shards: list[ShardLag] = field(default_factory=list)

    @property
    def entries(self) -> int:
        return sum(s.undelivered + s.pending for s in self.shards)

    @property
    def oldest_age_s(self) -> float:
        ages = [s.oldest_age_s for s in self.shards if s.oldest_age_s is not None]
        return max(ages, default=0.0)

    def as_dict(self) -> dict:
        return {
            "backend": self.backend,
            "entries": self.entries,
            "oldest_age_s": round(self.oldest_age_s, 3),
            "shards_unowned": sum(1 for s in self.shards if s.owner is None),
        }


class QueueUnavailable(RuntimeError):
    """The queue could not take the entries (Redis down): the front answers 503 and the gateway retries."""


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _id_ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


# --------------------------------------------------------------------------- in-process


class InMemoryQueue:
    """The embedded default: the Redis Streams operations on in-process lists. One consumer owns every shard."""

    backend = "memory"

    def __init__(self, *, shards: int, retain_s: float = 600.0):
        self.shards = shards
        self.retain_s = retain_s
        self._cond = threading.Condition()
        self._undelivered: list[deque[tuple[str, QueuedBatch]]] = [deque() for _ in range(shards)]
        self._pending: list[dict[str, QueuedBatch]] = [{} for _ in range(shards)]
        self._acked: list[deque[tuple[str, QueuedBatch]]] = [deque() for _ in range(shards)]
        self._last_ms = 0
        self._seq = 0
        self.puts = 0

    def _next_id(self) -> str:
        ms = int(time.time() * 1000)
        if ms <= self._last_ms:
            ms = self._last_ms
            self._seq += 1
        else:
            self._last_ms, self._seq = ms, 0
        return f"{ms}-{self._seq}"

    # producer side
    def put(self, *, gateway_id: str, sightings: Sequence[Sighting], received_at: float) -> int:
        parts = split_by_shard(sightings, self.shards)
        with self._cond:
            for shard, part in sorted(parts.items()):
                batch = QueuedBatch(gateway_id=gateway_id, received_at=received_at, sightings=tuple(part))
                self._undelivered[shard].append((self._next_id(), batch))
            self.puts += 1
            self._cond.notify_all()
        return len(parts)

    # consumer side
    def register(self, consumer: str) -> int:
        return 1

    def unregister(self, consumer: str) -> None:
        pass

    def acquire_shards(self, consumer: str, *, owned: set[int], want: int) -> set[int]:
        return set(range(self.shards)) - owned

    def renew(self, consumer: str, shards: set[int]) -> set[int]:
        return set()

    def release(self, consumer: str, shard: int) -> None:
        pass

    def claim_pending(self, consumer: str, shard: int) -> list[Entry]:
        with self._cond:
            items = sorted(self._pending[shard].items(), key=lambda kv: _id_key(kv[0]))
        return [Entry(shard, entry_id, batch, deliveries=2) for entry_id, batch in items]

    def read(self, consumer: str, shards: Iterable[int], *, count: int, block_ms: int) -> list[Entry]:
        shards = sorted(shards)
        deadline = time.monotonic() + block_ms / 1000.0
        with self._cond:
            while True:
                entries: list[Entry] = []
                for shard in shards:  # like XREADGROUP: up to `count` entries from each stream
                    queue = self._undelivered[shard]
                    for _ in range(min(count, len(queue))):
                        entry_id, batch = queue.popleft()
                        self._pending[shard][entry_id] = batch
                        entries.append(Entry(shard, entry_id, batch))
                if entries or block_ms <= 0:
                    return entries
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)

    def ack(self, shard: int, entry_ids: Sequence[str]) -> None:
        with self._cond:
            pending, acked = self._pending[shard], self._acked[shard]
            for entry_id in entry_ids:
                batch = pending.pop(entry_id, None)
                if batch is not None:
                    acked.append((entry_id, batch))

    def history(self, shard: int, *, seconds: float, exclude: set[str]) -> list[Entry]:
        """Acknowledged entries from `seconds` before the oldest unacknowledged one (see RedisStreamQueue)."""
        with self._cond:
            acked = sorted(self._acked[shard], key=lambda kv: _id_key(kv[0]))
            open_ids = list(self._pending[shard]) + [i for i, _ in list(self._undelivered[shard])[:1]]
        if not acked:
            return []
        end_ms = min((_id_ms(i) for i in open_ids), default=_id_ms(acked[-1][0]))
        start_ms = end_ms - seconds * 1000
        return [
            Entry(shard, entry_id, batch, warmup=True)
            for entry_id, batch in acked
            if _id_ms(entry_id) >= start_ms and entry_id not in exclude
        ]

    def trim(self, shard: int) -> None:
        floor = (time.time() - self.retain_s) * 1000
        with self._cond:
            acked = self._acked[shard]
            while acked and _id_ms(acked[0][0]) < floor:
                acked.popleft()

    def lag(self) -> QueueLag:
        now_ms = time.time() * 1000
        lag = QueueLag(backend=self.backend)
        with self._cond:
            for shard in range(self.shards):
                ids = list(self._pending[shard]) + [i for i, _ in list(self._undelivered[shard])[:1]]
                oldest = min((_id_ms(i) for i in ids), default=None)
                lag.shards.append(
                    ShardLag(
                        shard=shard,
                        undelivered=len(self._undelivered[shard]),
                        pending=len(self._pending[shard]),
                        oldest_age_s=None if oldest is None else max(0.0, (now_ms - oldest) / 1000),
                        owner="in-process",
                    )
                )
        return lag

    def idle(self) -> bool:
        with self._cond:
            return not any(self._undelivered) and not any(self._pending)


# --------------------------------------------------------------------------- Redis Streams

# Renew the lock only if it is still ours; release only if it is still ours.
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class RedisStreamQueue:
    backend = "redis"

    def __init__(
        self,
        *,
        url: str,
        prefix: str,
        shards: int,
        lock_ttl_ms: int = 15_000,
        retain_s: float = 600.0,
        client=None,
    ):
        import redis  # noqa: PLC0415 — the Redis client loads only with the Redis Streams backend

        self.shards = shards
        self.prefix = prefix
        self.lock_ttl_ms = lock_ttl_ms
        self.retain_s = retain_s
        self.redis = client or redis.Redis.from_url(
            url, socket_timeout=15, socket_connect_timeout=5, health_check_interval=30
        )
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)
        self._groups_ready = False

    def stream(self, shard: int) -> str:
        return f"{self.prefix}:shard:{shard}"

    def lock_key(self, shard: int) -> str:
        return f"{self.prefix}:lock:{shard}"

    @property
    def workers_key(self) -> str:
        return f"{self.prefix}:workers"

    # producer side
    def put(self, *, gateway_id: str, sightings: Sequence[Sighting], received_at: float) -> int:
        import redis  # noqa: PLC0415 — the Redis client loads only with the Redis Streams backend

        parts = split_by_shard(sightings, self.shards)
        if not parts:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for shard, part in sorted(parts.items()):
            batch = QueuedBatch(gateway_id=gateway_id, received_at=received_at, sightings=tuple(part))
            pipe.xadd(self.stream(shard), {"b": encode_batch(batch)})
        try:
            pipe.execute()
        except redis.RedisError as exc:
            # Some shards may hold the batch already: the gateway's retry repeats them, and the
            # engine counts a (gateway, tag, ts) it has seen once.
            raise QueueUnavailable(f"the sightings queue is unavailable: {exc}") from exc
        return len(parts)

    # consumer side
    def ensure_groups(self) -> None:
        import redis  # noqa: PLC0415 — the Redis client loads only with the Redis Streams backend

        if self._groups_ready:
            return
        for shard in range(self.shards):
            try:
                self.redis.xgroup_create(self.stream(shard), GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._groups_ready = True

    def forget_groups(self) -> None:
        """After a Redis error: the server may have restarted empty, so check the consumer groups again."""
        self._groups_ready = False

    def register(self, consumer: str) -> int:
        """Heartbeat; returns how many workers are alive (each refreshed within a lock TTL)."""
        now_ms = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.workers_key, {consumer: now_ms})
        pipe.zremrangebyscore(self.workers_key, "-inf", now_ms - self.lock_ttl_ms)
        pipe.zcard(self.workers_key)
        return max(1, int(pipe.execute()[-1]))

    def unregister(self, consumer: str) -> None:
        self.redis.zrem(self.workers_key, consumer)

    def acquire_shards(self, consumer: str, *, owned: set[int], want: int) -> set[int]:
        """Take free shards until this consumer owns ``want`` of them. Returns the newly taken ones."""
        self.ensure_groups()
        gained: set[int] = set()
        if len(owned) >= want:
            return gained
        # Start at a per-consumer offset so that workers starting together do not race for shard 0.
        start = zlib.crc32(consumer.encode()) % self.shards
        for i in range(self.shards):
            shard = (start + i) % self.shards
            if shard in owned:
                continue
            if self.redis.set(self.lock_key(shard), consumer, nx=True, px=self.lock_ttl_ms):
                gained.add(shard)
                if len(owned) + len(gained) >= want:
                    break
        return gained

    def renew(self, consumer: str, shards: set[int]) -> set[int]:
        """Extend our locks; returns the shards whose lock is no longer ours (we stalled past the TTL)."""
        if not shards:
            return set()
        ordered = sorted(shards)
        pipe = self.redis.pipeline(transaction=False)
        for shard in ordered:
            self._renew(keys=[self.lock_key(shard)], args=[consumer, self.lock_ttl_ms], client=pipe)
        results = pipe.execute()
        return {shard for shard, ok in zip(ordered, results, strict=True) if not ok}

    def release(self, consumer: str, shard: int) -> None:
        self._release(keys=[self.lock_key(shard)], args=[consumer])

    def owners(self) -> dict[int, str | None]:
        values = self.redis.mget([self.lock_key(s) for s in range(self.shards)])
        return {s: (v.decode() if v else None) for s, v in enumerate(values)}

    def claim_pending(self, consumer: str, shard: int) -> list[Entry]:
        """Every entry of the shard read but not acknowledged, by anyone (we hold the shard's lock, so the
        reader is dead, or is us before a rebuild), claimed for this consumer, oldest first."""
        self.ensure_groups()
        entries: list[Entry] = []
        start = "0-0"
        while True:
            reply = self.redis.xautoclaim(
                self.stream(shard), GROUP, consumer, min_idle_time=0, start_id=start, count=500
            )
            start, claimed = reply[0], reply[1]
            entries.extend(self._entry(shard, entry_id, fields, deliveries=2) for entry_id, fields in claimed)
            start = start.decode() if isinstance(start, bytes) else start
            if start == "0-0" or not claimed:
                break
        return entries

    def read(self, consumer: str, shards: Iterable[int], *, count: int, block_ms: int) -> list[Entry]:
        streams = {self.stream(shard): ">" for shard in sorted(shards)}
        if not streams:
            time.sleep(block_ms / 1000.0)
            return []
        self.ensure_groups()
        reply = self.redis.xreadgroup(GROUP, consumer, streams, count=count, block=block_ms or None)
        entries = []
        for key, items in reply or []:
            name = key.decode() if isinstance(key, bytes) else key
            shard = int(name.rsplit(":", 1)[1])
            entries.extend(self._entry(shard, entry_id, fields) for entry_id, fields in items)
        return entries

    def _entry(self, shard: int, entry_id, fields, *, deliveries: int = 1) -> Entry:
        entry_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        data = (fields or {}).get(b"b")
        if data is None:
            return Entry(shard, entry_id, None, error="entry has no 'b' field", deliveries=deliveries)
        try:
            return Entry(shard, entry_id, decode_batch(data), deliveries=deliveries)
        except EntryError as exc:
            return Entry(shard, entry_id, None, error=str(exc), deliveries=deliveries)

    def ack(self, shard: int, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            self.redis.xack(self.stream(shard), GROUP, *entry_ids)

    def history(self, shard: int, *, seconds: float, exclude: set[str], limit: int = 200_000) -> list[Entry]:
        """Entries already processed and acknowledged, from `seconds` before the oldest unacknowledged one up
        to the group's position: replayed into a rebuilt engine only to warm up its per-tag smoothing. Only
        what the retention (INGEST_STREAM_RETAIN_SECONDS) kept is there."""
        key = self.stream(shard)
        group = self._group_info(key)
        if group is None:
            return []
        last = _text(group["last-delivered-id"])
        if last == "0-0":
            return []
        end_ms = min([_id_ms(i) for i in exclude] or [_id_ms(last)])
        start_ms = max(0, int(end_ms - seconds * 1000))
        items = self.redis.xrange(key, min=f"{start_ms}-0", max=last, count=limit)
        entries = [self._entry(shard, entry_id, fields) for entry_id, fields in items]
        return [
            Entry(shard, e.entry_id, e.batch, e.error, deliveries=0, warmup=True)
            for e in entries
            if e.entry_id not in exclude and e.batch is not None
        ]

    def trim(self, shard: int) -> None:
        """Drop acknowledged entries older than the retention; never one that is unacknowledged."""
        key = self.stream(shard)
        floor = (max(0, int((time.time() - self.retain_s) * 1000)), 0)
        summary = self.redis.xpending(key, GROUP)
        if summary and summary.get("pending"):
            floor = min(floor, _id_key(_text(summary["min"])))  # the oldest unacknowledged entry stays
        group = self._group_info(key)
        if group is not None:
            ms, seq = _id_key(_text(group["last-delivered-id"]))
            floor = min(floor, (ms, seq + 1))  # so do the entries no worker has read yet
        self.redis.xtrim(key, minid=f"{floor[0]}-{floor[1]}", approximate=False)

    def _group_info(self, key: str) -> dict | None:
        for group in self.redis.xinfo_groups(key):
            if _text(group["name"]) == GROUP:
                return group
        return None

    def lag(self) -> QueueLag:
        self.ensure_groups()
        now_ms = time.time() * 1000
        lag = QueueLag(backend=self.backend)
        owners = self.owners()
        for shard in range(self.shards):
            key = self.stream(shard)
            group = self._group_info(key) or {}
            pending = int(group.get("pending", 0))
            last = _text(group.get("last-delivered-id", b"0-0"))
            first_new = self.redis.xrange(key, min=f"({last}", max="+", count=1)
            undelivered = group.get("lag")
            if undelivered is None:  # Redis cannot tell after some deletions: an upper bound
                undelivered = self.redis.xlen(key) - pending if first_new else 0
            oldest = []
            # The pending list may have been acknowledged since the group was read: no oldest then.
            oldest_pending = self.redis.xpending(key, GROUP)["min"] if pending else None
            if oldest_pending is not None:
                oldest.append(_id_ms(_text(oldest_pending)))
            if first_new:
                oldest.append(_id_ms(_text(first_new[0][0])))
            lag.shards.append(
                ShardLag(
                    shard=shard,
                    undelivered=int(undelivered),
                    pending=pending,
                    oldest_age_s=max(0.0, (now_ms - min(oldest)) / 1000) if oldest else None,
                    owner=owners.get(shard),
                )
            )
        return lag

    def idle(self) -> bool:
        return self.lag().entries == 0

    def delete_all(self) -> None:
        """Remove this prefix's streams, locks and worker registry (tests, benchmarks)."""
        keys = [self.stream(s) for s in range(self.shards)] + [self.lock_key(s) for s in range(self.shards)]
        self.redis.delete(*keys, self.workers_key)
        self._groups_ready = False


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --------------------------------------------------------------------------- the configured queue

_default = None
_default_lock = threading.Lock()


def build_queue(**overrides):
    """A queue from the settings (INGEST_QUEUE, INGEST_REDIS_URL, INGEST_STREAM_PREFIX, INGEST_SHARDS...)."""

    backend = overrides.pop("backend", settings.INGEST_QUEUE)
    shards = overrides.pop("shards", settings.INGEST_SHARDS)
    if backend == "memory":
        return InMemoryQueue(shards=shards)
    if backend == "redis":
        url = overrides.pop("url", settings.INGEST_REDIS_URL)
        if not url:
            raise ValueError("INGEST_QUEUE=redis needs INGEST_REDIS_URL or REDIS_URL")
        return RedisStreamQueue(
            url=url,
            prefix=overrides.pop("prefix", settings.INGEST_STREAM_PREFIX),
            shards=shards,
            lock_ttl_ms=overrides.pop("lock_ttl_ms", settings.INGEST_LOCK_TTL_MS),
            retain_s=overrides.pop("retain_s", settings.INGEST_STREAM_RETAIN_SECONDS),
            **overrides,
        )
    raise ValueError(f"INGEST_QUEUE={backend!r} is not one of: memory, redis")


def get_queue():
    """The process-wide queue the fronts write to. In-process mode starts the in-process worker with it."""
    global _default
    with _default_lock:
        if _default is None:
            _default = build_queue()
        return _default


def set_queue(queue) -> None:
    """Replace the process-wide queue (tests; ``run_engine`` and ``ingest_mqtt`` with explicit options)."""
    global _default
    with _default_lock:
        _default = queue
