"""The engine worker: nothing lost, nothing doubled, whatever fails in between."""

import threading

import pytest
from django.db import OperationalError, connection

from locations.engine import EngineConfig
from locations.engine.types import Sighting
from locations.ingest.queue import InMemoryQueue, QueueUnavailable, RedisStreamQueue, shard_of
from locations.ingest.worker import EngineWorker
from locations.pipeline import LocationPipeline
from tests.locations.ingest import scenario
from tests.locations.sim_hospital import make_ward

TAGS = 6
SECONDS = 150


def pipeline(**options) -> LocationPipeline:
    """The workers' pipeline without the learnt radio: each engine fits the site's radio to its own tags, so once
    the fit moves (these scripted signals follow no path-loss model), a worker that took shards over decides
    with another model than one that had them all along (docs/location-engine.md, "Method", 6). These tests are
    about the queue and the workers; the fit's own replay test is tests/locations/engine/test_radio_fit.py."""
    return LocationPipeline(config=EngineConfig(radio_fit=False), **options)


@pytest.fixture
def ward(db):
    return make_ward()


@pytest.fixture
def assets(ward):
    return scenario.make_tags(TAGS)


@pytest.fixture
def stream():
    return scenario.bodies(TAGS, seconds=SECONDS)


def clean_run(assets, stream) -> tuple[list, dict]:
    queue = InMemoryQueue(shards=4)
    scenario.enqueue(queue, stream)
    EngineWorker(queue, pipeline_factory=pipeline, read_count=7).run_until_idle()
    outcome = scenario.history(), scenario.latest(assets)
    scenario.forget_locations(assets)
    return outcome


def test_the_stream_tells_its_story(assets, stream):
    history, latest = clean_run(assets, stream)
    rooms_of = {}
    for asset_tag, room, _, _ in history:
        rooms_of.setdefault(asset_tag, []).append(room)
    # Every tag walks the route A -> B -> C -> COR: its history follows it, one stay per visit.
    for n in range(TAGS):
        visited = rooms_of[f"IP-{n:05d}"]
        assert len(visited) >= 4
        for a, b in zip(visited, visited[1:], strict=False):
            assert scenario.ROUTE.index(b) == (scenario.ROUTE.index(a) + 1) % 4, visited
    assert all(last_seen is not None for _, last_seen, _, _ in latest.values())


def test_read_sizes_and_shard_counts_do_not_change_the_history(assets, stream):
    expected = clean_run(assets, stream)
    for shards, count in ((1, 1000), (8, 3)):
        queue = InMemoryQueue(shards=shards)
        scenario.enqueue(queue, stream)
        EngineWorker(queue, pipeline_factory=pipeline, read_count=count).run_until_idle()
        assert (scenario.history(), scenario.latest(assets)) == expected
        scenario.forget_locations(assets)


def test_a_batch_delivered_twice_counts_once(assets, stream):
    expected = clean_run(assets, stream)
    queue = InMemoryQueue(shards=4)
    scenario.enqueue(queue, [b for body in stream for b in (body, body)])  # every gateway retried every batch
    worker = EngineWorker(queue, pipeline_factory=pipeline)
    worker.run_until_idle()
    assert (scenario.history(), scenario.latest(assets)) == expected
    assert worker.stats.duplicates == worker.stats.accepted > 0


def test_entries_are_acknowledged_only_after_their_commit(assets, stream, monkeypatch):
    queue = InMemoryQueue(shards=4)
    scenario.enqueue(queue, stream[:200])
    worker = EngineWorker(queue, pipeline_factory=pipeline, read_count=20, commit_interval_s=0)
    worker.start()
    commits = []
    real_process = LocationPipeline.process

    def process(self, watermark=None, **kwargs):
        result = real_process(self, watermark, **kwargs)
        commits.append(sum(len(p) for p in queue._pending))  # entries still unacknowledged at the commit
        return result

    monkeypatch.setattr(LocationPipeline, "process", process)
    while worker.step(block_ms=0):
        pass
    # Each commit happened while its entries were still pending; acknowledgements came after.
    assert commits and all(pending > 0 for pending in commits)
    assert queue.lag().entries > 0  # the newest entries wait for windows that are still open


@pytest.mark.django_db(transaction=True)  # the worker replaces its connection, so no test transaction around it
def test_a_database_failure_rebuilds_and_replays_and_drops_nothing(assets, stream, monkeypatch):
    expected = clean_run(assets, stream)
    queue = InMemoryQueue(shards=4)
    scenario.enqueue(queue, stream)
    real_process = LocationPipeline.process
    calls = {"n": 0}

    def flaky_process(self, watermark=None, **kwargs):
        calls["n"] += 1
        if calls["n"] in (5, 6, 30):  # the connection dies mid-stream, twice in a row, then again later
            raise OperationalError("terminating connection due to administrator command")
        return real_process(self, watermark, **kwargs)

    monkeypatch.setattr(LocationPipeline, "process", flaky_process)
    worker = EngineWorker(queue, pipeline_factory=pipeline, read_count=10, backoff_max_s=0.05, commit_interval_s=0)
    worker.run_until_idle()
    assert worker.stats.db_errors == 3 and worker.stats.rebuilds == 3
    assert worker.stats.replayed > 0
    assert (scenario.history(), scenario.latest(assets)) == expected
    assert queue.lag().entries == 0


@pytest.mark.django_db(transaction=True)  # the worker replaces its connection
def test_a_driver_error_while_rebuilding_is_retried_not_fatal(assets, stream, monkeypatch):
    """A failover can also kill the connection while the worker rebuilds: the restore's server-side cursor
    then raises the driver's own error (psycopg's AdminShutdown), not Django's. The worker waits and retries."""
    expected = clean_run(assets, stream)
    queue = InMemoryQueue(shards=4)
    scenario.enqueue(queue, stream)
    real_process = LocationPipeline.process
    calls = {"process": 0, "built": 0}

    def flaky_process(self, watermark=None, **kwargs):
        calls["process"] += 1
        if calls["process"] == 5:
            raise OperationalError("terminating connection due to administrator command")
        return real_process(self, watermark, **kwargs)

    def flaky_factory(**kwargs):
        calls["built"] += 1
        if calls["built"] == 2:  # the first rebuild: the connection dies under the restore
            raise connection.Database.OperationalError("terminating connection due to administrator command")
        return pipeline(**kwargs)

    monkeypatch.setattr(LocationPipeline, "process", flaky_process)
    worker = EngineWorker(queue, pipeline_factory=flaky_factory, read_count=10, backoff_max_s=0.05, commit_interval_s=0)
    worker.run_until_idle()
    assert worker.stats.db_errors == 2 and calls["built"] == 3
    assert (scenario.history(), scenario.latest(assets)) == expected
    assert queue.lag().entries == 0


def test_a_crash_between_commit_and_acknowledgement_changes_nothing(assets, stream, monkeypatch):
    expected = clean_run(assets, stream)
    queue = InMemoryQueue(shards=4)
    scenario.enqueue(queue, stream)
    crashing = EngineWorker(queue, pipeline_factory=pipeline, read_count=10, commit_interval_s=0)
    monkeypatch.setattr(queue, "ack", lambda shard, ids: None)  # it commits, then dies before every XACK
    crashing.start()
    for _ in range(40):
        crashing.step(block_ms=0)
    assert crashing.stats.commits > 0 and queue.lag().entries > 0
    monkeypatch.undo()
    successor = EngineWorker(queue, pipeline_factory=pipeline, read_count=10)
    successor.run_until_idle()
    assert successor.stats.replayed > 0
    assert (scenario.history(), scenario.latest(assets)) == expected


def test_an_undecodable_entry_is_counted_and_acknowledged(assets, redis_queue):
    redis_queue.ensure_groups()
    redis_queue.redis.xadd(redis_queue.stream(0), {"b": b"{not json"})
    redis_queue.redis.xadd(redis_queue.stream(1), {"other": b"x"})
    worker = EngineWorker(redis_queue, pipeline_factory=pipeline)
    worker.run_until_idle(timeout_s=20)
    worker.stop()
    assert worker.stats.bad_entries == 2
    assert redis_queue.lag().entries == 0


def test_the_lag_survives_entries_acknowledged_while_it_is_read(redis_queue, monkeypatch):
    """A worker acknowledges between lag()'s read of the group (1 pending) and its read of the pending
    list (now empty): the lag says "nothing pending", it does not crash /healthz or the drain wait
    (seen in the worker-kill fault test)."""
    redis_queue.ensure_groups()
    redis_queue.put(gateway_id="gw-a", sightings=[Sighting("gw-a", "c3000000000a", -60.0, 1.8e9)], received_at=1.8e9)
    entry = redis_queue.read("w", range(redis_queue.shards), count=10, block_ms=0)[0]
    read_group = redis_queue._group_info
    stale = {}

    def group_info_then_ack(key):
        info = read_group(key)
        if info and int(info.get("pending", 0)) and not stale:
            stale[key] = True
            redis_queue.ack(entry.shard, [entry.entry_id])  # acknowledged right after the group was read
        return info

    monkeypatch.setattr(redis_queue, "_group_info", group_info_then_ack)
    lag = redis_queue.lag()
    assert stale, "the race was not staged"
    shard = next(s for s in lag.shards if s.shard == entry.shard)
    assert shard.pending == 1 and shard.oldest_age_s is None


def test_on_redis_a_dead_workers_shards_are_taken_over_with_their_pending_entries(assets, stream, redis_queue):
    """In-process version of the fault test (tests/locations/ingest/test_faults.py kills real processes)."""
    expected = clean_run(assets, stream)
    scenario.enqueue(redis_queue, stream)
    doomed = EngineWorker(redis_queue, pipeline_factory=pipeline, name="doomed", read_count=5, commit_interval_s=0)
    survivor = EngineWorker(redis_queue, pipeline_factory=pipeline, name="survivor", read_count=5)
    doomed.start()
    survivor.start()
    for _ in range(6):  # both take their share and work for a while
        doomed.step(block_ms=0)
        survivor.step(block_ms=0)
    assert doomed.owned and survivor.owned and not doomed.owned & survivor.owned
    assert len(doomed.owned) + len(survivor.owned) == redis_queue.shards
    assert sum(s.pending for s in redis_queue.lag().shards if s.owner == "doomed") > 0
    # "doomed" dies here: no release, no heartbeat (its thread stops, as a killed process's would).
    # Its locks expire after the TTL (1.5 s).
    doomed._heartbeat_stop.set()
    survivor.run_until_idle(timeout_s=60)
    assert survivor.owned == set(range(redis_queue.shards))
    survivor.stop()
    assert survivor.stats.replayed > 0 and survivor.stats.rebuilds == 1
    assert (scenario.history(), scenario.latest(assets)) == expected


def test_on_redis_a_graceful_stop_leaves_the_open_windows_to_the_next_owner(assets, stream, redis_queue):
    """What docs/operations.md says SIGTERM does: commit and acknowledge what is closed, leave what is still open
    unacknowledged, release the shards; the next owner replays the rest, and the history is the clean run's."""
    expected = clean_run(assets, stream)
    scenario.enqueue(redis_queue, stream)
    first = EngineWorker(redis_queue, pipeline_factory=pipeline, name="first", read_count=5)
    first.start()
    for _ in range(200):  # past the first minute, which waits for the first clock estimate, and a little more
        first.step(block_ms=0)
        if first.stats.acked:
            break
    for _ in range(4):
        first.step(block_ms=0)
    assert first.owned == set(range(redis_queue.shards))
    first.stop()
    lag = redis_queue.lag()
    assert all(owner is None for owner in redis_queue.owners().values())  # released: no lock TTL to wait for
    assert sum(s.pending for s in lag.shards) > 0  # read, still open: not acknowledged
    assert first.stats.acked > 0  # what was closed: committed and acknowledged
    second = EngineWorker(redis_queue, pipeline_factory=pipeline, name="second", read_count=5)
    second.run_until_idle(timeout_s=60)
    second.stop()
    assert second.stats.replayed > 0
    assert (scenario.history(), scenario.latest(assets)) == expected


def test_on_redis_workers_share_the_shards_fairly(assets, redis_queue):
    first = EngineWorker(redis_queue, pipeline_factory=pipeline, name="first")
    first.start()
    first.step(block_ms=0)
    assert first.owned == {0, 1, 2, 3}
    second = EngineWorker(redis_queue, pipeline_factory=pipeline, name="second")
    second.start()  # registers: now two workers are alive
    first._renewed_at = second._renewed_at = float("-inf")
    first.step(block_ms=0)  # gives two back
    second.step(block_ms=0)  # takes them
    assert len(first.owned) == len(second.owned) == 2
    assert redis_queue.owners() == {s: ("first" if s in first.owned else "second") for s in range(4)}
    stop = threading.Event()
    stop.set()
    first.run(stop=stop)  # a graceful stop releases its shards at once
    second._renewed_at = float("-inf")
    second.step(block_ms=0)
    assert second.owned == {0, 1, 2, 3}
    second.stop()


def test_the_redis_queue_keeps_unacknowledged_entries_when_trimming(redis_queue):
    redis_queue.retain_s = -1  # every acknowledged entry is past the retention, even one of this very millisecond
    redis_queue.ensure_groups()
    for n in range(3):
        redis_queue.put(gateway_id="gw-a", sightings=[Sighting("gw-a", "c3000000010a", -60.0, 1.0 + n)], received_at=5)
    shard = next(s for s in range(4) if redis_queue.redis.xlen(redis_queue.stream(s)))
    entries = redis_queue.read("me", [shard], count=10, block_ms=0)
    assert [e.batch.sightings[0].ts for e in entries] == [1.0, 2.0, 3.0]
    redis_queue.ack(shard, [entries[0].entry_id])
    redis_queue.trim(shard)
    assert redis_queue.redis.xlen(redis_queue.stream(shard)) == 2
    lag = redis_queue.lag().shards[shard]
    assert (lag.pending, lag.undelivered) == (2, 0) and lag.oldest_age_s >= 0
    redis_queue.ack(shard, [e.entry_id for e in entries[1:]])
    redis_queue.trim(shard)
    assert redis_queue.redis.xlen(redis_queue.stream(shard)) == 0


def test_a_shard_lock_has_one_owner_at_a_time(redis_queue):
    a = redis_queue.acquire_shards("a", owned=set(), want=4)
    assert a == {0, 1, 2, 3}
    assert redis_queue.acquire_shards("b", owned=set(), want=4) == set()
    assert redis_queue.renew("b", {0}) == {0}  # not b's to renew
    assert redis_queue.renew("a", a) == set()
    redis_queue.release("b", 0)  # not b's to release
    assert redis_queue.owners()[0] == "a"
    redis_queue.release("a", 0)
    assert redis_queue.acquire_shards("b", owned=set(), want=4) == {0}


@pytest.mark.parametrize("queue_kind", ["memory", "redis"])
def test_both_queues_shard_by_a_stable_hash_of_the_tag(queue_kind, request):
    # CRC-32, the same in every process and on every machine (Python's hash() of a str is not).
    assert [shard_of(f"c3{n:010x}", 8) for n in range(6)] == [2, 4, 6, 0, 3, 5]
    queue = InMemoryQueue(shards=8) if queue_kind == "memory" else request.getfixturevalue("redis_queue")
    sightings = [Sighting("gw-a", f"c3{n:010x}", -60.0, 1.0) for n in range(40)]
    queue.put(gateway_id="gw-a", sightings=sightings, received_at=2.0)
    entries = queue.read("me", range(queue.shards), count=100, block_ms=0)
    for entry in entries:
        assert {shard_of(s.tag_id, queue.shards) for s in entry.batch.sightings} == {entry.shard}
    assert sorted(s.tag_id for e in entries for s in e.batch.sightings) == sorted(s.tag_id for s in sightings)


def test_the_redis_queue_answers_unavailable_when_redis_is_down():
    queue = RedisStreamQueue(url="redis://127.0.0.1:1/0", prefix="nowhere", shards=2)
    with pytest.raises(QueueUnavailable):
        queue.put(gateway_id="gw-a", sightings=[Sighting("gw-a", "c3000000010a", -60.0, 1.0)], received_at=2.0)


def test_the_worker_keeps_locating_after_a_quiet_spell(assets, stream):
    """An idle worker closes its open windows; sightings that come after the quiet spell are still located."""
    _, expected_latest = clean_run(assets, stream)
    queue = InMemoryQueue(shards=4)
    worker = EngineWorker(queue, pipeline_factory=pipeline, idle_flush_s=0.0)
    half = len(stream) // 2
    scenario.enqueue(queue, stream[:half])
    worker.run_until_idle()
    # Quiet, nothing open any more, and the worker closes everything again (an idle flush, a shard given
    # back): closing an empty engine must not close its event-time clock for good.
    worker._process(final=True)
    moved_before = len(scenario.history())
    scenario.enqueue(queue, stream[half:])
    worker.run_until_idle()
    assert len(scenario.history()) > moved_before  # the second half still moved the assets
    assert scenario.latest(assets) == expected_latest
