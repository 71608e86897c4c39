"""Fault tests on the machine's real PostgreSQL, Redis and Mosquitto, with real worker processes.

Each compares the room history after the fault with a clean run of the same stream: identical means
nothing was lost and nothing doubled. Run them on their own:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> REDIS_URL=redis://127.0.0.1:6379/<n> \\
        .venv/bin/pytest -m faults tests/locations/ingest/test_faults.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from declarations.room_types import RoomType
from lifecycle.models import TransitionLog
from lifecycle.outbox import location_outbox_drain
from lifecycle.webhooks.models import WebhookDelivery, WebhookSubscription
from locations.ingest.mqtt import client_options
from locations.ingest.queue import InMemoryQueue, RedisStreamQueue, decode_batch
from locations.ingest.worker import EngineWorker
from locations.models import LocationOutbox
from locations.pipeline import LocationPipeline
from tests.factories import AssetFactory
from tests.locations.ingest import scenario
from tests.locations.sim_hospital import make_ward

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
TAGS = 12
SECONDS = 120
SHARDS = 4
LOCK_TTL_MS = 2000


@pytest.fixture(autouse=True)
def _real_services():
    if not os.environ.get("REDIS_URL"):
        pytest.skip("fault tests need REDIS_URL (a real Redis)")
    if connection.vendor != "postgresql":
        pytest.skip("fault tests need DATABASE_URL pointing to PostgreSQL")


@pytest.fixture
def prefix():
    return f"faults-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def queue(prefix):
    q = RedisStreamQueue(url=os.environ["REDIS_URL"], prefix=prefix, shards=SHARDS, lock_ttl_ms=LOCK_TTL_MS)
    yield q
    q.delete_all()


@pytest.fixture
def assets(db):
    make_ward()
    return scenario.make_tags(TAGS)


@pytest.fixture
def stream():
    return scenario.bodies(TAGS, seconds=SECONDS)


@pytest.fixture
def recent_stream():
    """The story stamped in the last minutes: a real ingest_mqtt receives with its own clock, and refuses
    stamps older than INGEST_MAX_PAST_SECONDS (a broker's backlog through an outage is younger)."""
    return scenario.bodies(TAGS, seconds=SECONDS, start=float(int(time.time())) - SECONDS - 5)


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def clean_run(assets, stream):
    queue = InMemoryQueue(shards=SHARDS)
    scenario.enqueue(queue, stream)
    EngineWorker(queue, pipeline_factory=LocationPipeline).run_until_idle()
    outcome = scenario.history(), scenario.latest(assets)
    clean_run.outbox = sorted(scenario.outbox_changes(), key=repr)
    scenario.forget_locations(assets)
    assert len(outcome[0]) > TAGS * 3  # a real story: every tag moved several times
    return outcome


def database_url(application_name: str) -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return (
        f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        f"?application_name={application_name}"
    )


def child_env(prefix: str, application_name: str, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(application_name),
        INGEST_STREAM_PREFIX=prefix,
        INGEST_SHARDS=str(SHARDS),
        INGEST_LOCK_TTL_MS=str(LOCK_TTL_MS),
        INGEST_IN_PROCESS_WORKER="0",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def start(processes, tmp_path, name: str, args: list[str], env: dict) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    processes.append(process)
    return process, log


def wait_for(predicate, *, timeout: float, what: str, logs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def start_worker(processes, tmp_path, prefix, name, *, application_name="ingest-faults", stats=None):
    args = ["run_engine", "--name", name, "--read-count", "50"]
    if stats:
        args += ["--stats-json", str(stats)]
    process, log = start(processes, tmp_path, name, args, child_env(prefix, application_name))
    wait_for(lambda: "ready" in log.read_text(), timeout=60, what=f"worker {name} to start", logs=[log])
    return process, log


def feed_gradually(queue, stream, *, seconds: float, on_progress=None):
    """The gateways keep sending while the fault happens."""
    chunk = max(1, len(stream) // int(seconds * 10))
    for start_at in range(0, len(stream), chunk):
        scenario.enqueue(queue, stream[start_at : start_at + chunk])
        if on_progress:
            on_progress(start_at + chunk)
        time.sleep(0.1)


def wait_drained(queue, logs, timeout=90):
    wait_for(lambda: queue.lag().entries == 0, timeout=timeout, what="the queue to drain", logs=logs)


def test_killing_a_worker_mid_stream_another_takes_over_and_the_history_is_identical(
    assets, stream, queue, prefix, processes, tmp_path
):
    expected = clean_run(assets, stream)
    first, first_log = start_worker(processes, tmp_path, prefix, "first")
    second, second_log = start_worker(processes, tmp_path, prefix, "second")
    killed = {}

    def kill_first_mid_stream(fed: int):
        owners = queue.owners()
        if killed or fed < len(stream) // 3 or "first" not in owners.values() or "second" not in owners.values():
            return
        os.kill(first.pid, signal.SIGKILL)  # no goodbye: locks, heartbeat and pending entries left behind
        first.wait(10)
        killed["pending"] = sum(s.pending for s in queue.lag().shards if s.owner == "first")
        killed["shards"] = sorted(s for s, owner in owners.items() if owner == "first")

    feed_gradually(queue, stream, seconds=6, on_progress=kill_first_mid_stream)
    assert killed, "the first worker was never killed (the workers did not share the shards)"
    wait_drained(queue, [first_log, second_log])
    wait_for(lambda: set(queue.owners().values()) == {"second"}, timeout=10, what="takeover", logs=[second_log])
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0, second_log.read_text()[-3000:]

    log = second_log.read_text()
    assert "took shard(s)" in log and "rebuilding the pipeline (took over shards)" in log
    got = (scenario.history(), scenario.latest(assets))
    assert got == expected, scenario.differences(got, expected)
    # The lifecycle work is not lost either: every room change is in the outbox exactly once ...
    assert sorted(scenario.outbox_changes(), key=repr) == clean_run.outbox
    # ... and the consumer applies every row once (a second pass finds nothing to do).

    assert location_outbox_drain(limit=10**6) == LocationOutbox.objects.count() > 0
    assert location_outbox_drain() == 0


def test_the_database_going_away_mid_stream_is_retried_and_nothing_is_dropped(
    assets, stream, queue, prefix, processes, tmp_path
):
    expected = clean_run(assets, stream)
    app = f"ingest-faults-{uuid.uuid4().hex[:6]}"
    stats = tmp_path / "stats.json"
    worker, log = start_worker(processes, tmp_path, prefix, "lonely", application_name=app, stats=stats)
    db = connection.settings_dict
    admin = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    terminated = []
    stop = threading.Event()

    def terminate_worker_connections():
        """For three seconds mid-stream, kill every connection the worker opens, as a failover would."""
        time.sleep(1.5)
        until = time.monotonic() + 3
        while time.monotonic() < until and not stop.is_set():
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [app]
            ).fetchall()
            terminated.extend(rows)
            time.sleep(0.05)

    killer = threading.Thread(target=terminate_worker_connections)
    killer.start()
    try:
        feed_gradually(queue, stream, seconds=6)
    finally:
        stop.set()
        killer.join()
        admin.close()
    assert terminated, "no worker connection was terminated"
    wait_drained(queue, [log])
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, log.read_text()[-3000:]

    counters = json.loads(stats.read_text())
    assert counters["db_errors"] > 0 and counters["rebuilds"] > 0 and counters["replayed"] > 0
    # Every sighting was taken in at least once (the unacknowledged ones again after each rebuild) ...
    assert counters["sightings"] >= sum(len(body["sightings"]) for body in stream)
    # ... and counted once: the same history, the same last sightings and batteries as a clean run.
    got = (scenario.history(), scenario.latest(assets))
    assert got == expected, scenario.differences(got, expected)


def _publisher(port: int):
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def test_messages_published_while_ingest_mqtt_is_down_are_processed_after_it_restarts(
    assets, recent_stream, queue, prefix, processes, tmp_path
):
    stream = recent_stream
    options = client_options(os.environ.get("MQTT_URL") or settings.MQTT_URL)
    try:
        publisher = _publisher(options["port"])
    except OSError as exc:
        pytest.skip(f"no MQTT broker at {options['host']}:{options['port']}: {exc}")
    expected = clean_run(assets, stream)
    topic_prefix = f"rtls-{prefix}"
    env = child_env(
        prefix,
        "ingest-mqtt-faults",
        INGEST_MQTT_TOPIC_PREFIX=topic_prefix,
        INGEST_MQTT_CLIENT_ID=f"ingest-{prefix}",
    )

    def publish(bodies):
        for body in bodies:
            info = publisher.publish(f"{topic_prefix}/{body['gateway']}/sightings", json.dumps(body), qos=1)
            info.wait_for_publish(10)

    def queued_sightings() -> int:
        total = 0
        for shard in range(SHARDS):
            for _, fields in queue.redis.xrange(queue.stream(shard)):
                total += len(decode_batch(fields[b"b"]).sightings)
        return total

    half = len(stream) // 2
    ingest, log = start(processes, tmp_path, "ingest1", ["ingest_mqtt"], env)
    wait_for(lambda: "MQTT subscribed" in log.read_text(), timeout=30, what="the subscription", logs=[log])
    publish(stream[:half])
    first_half = sum(len(b["sightings"]) for b in stream[:half])
    wait_for(lambda: queued_sightings() == first_half, timeout=30, what="the first half", logs=[log])

    ingest.send_signal(signal.SIGKILL)  # down hard; the broker keeps the persistent session
    ingest.wait(10)
    publish(stream[half:])
    publisher.publish(f"{topic_prefix}/gw-a/sightings", b"{not json", qos=1).wait_for_publish(10)
    spoofed = dict(stream[0], gateway="gw-b")
    publisher.publish(f"{topic_prefix}/gw-a/sightings", json.dumps(spoofed), qos=1).wait_for_publish(10)
    publisher.loop_stop()
    publisher.disconnect()

    ingest, log = start(processes, tmp_path, "ingest2", ["ingest_mqtt"], env)
    total = sum(len(b["sightings"]) for b in stream)
    # At least once: a message queued just before the kill but not yet acknowledged comes again.
    wait_for(lambda: queued_sightings() >= total, timeout=60, what="the messages published while down", logs=[log])
    time.sleep(0.5)  # the two bad messages come last
    ingest.send_signal(signal.SIGTERM)
    assert ingest.wait(30) == 0
    final = log.read_text()
    assert "'malformed': 1" in final and "'refused': 1" in final, final[-2000:]

    worker = EngineWorker(queue, pipeline_factory=LocationPipeline)
    worker.run_until_idle()
    worker.stop()
    got = (scenario.history(), scenario.latest(assets))
    assert got == expected, scenario.differences(got, expected)  # and a redelivery counted once


def test_killing_the_outbox_consumer_mid_drain_applies_every_rule_exactly_once(db, processes, tmp_path, prefix):
    """SIGKILL the consumer while it applies rows: each row is applied with its rule, its transition and
    its webhook delivery in one transaction, so at the kill a row is either done or untouched; the restarted
    consumer finishes the rest. One transition and one delivery (with its own stable id) per room change."""
    ward = make_ward()
    soiled = ward.rooms["C"]
    soiled.room_type = RoomType.SOILED_UTILITY
    soiled.save()
    WebhookSubscription.objects.create(name="dispatch", url="http://127.0.0.1:9/hook", events=["asset.state_changed"])
    assets = [AssetFactory(state="in_use", current_room=soiled) for _ in range(400)]
    now = timezone.now()
    LocationOutbox.objects.bulk_create(
        LocationOutbox(created_at=now, room_changes=[[a.pk, ward.rooms["A"].pk, soiled.pk, now.isoformat()]])
        for a in assets
    )
    env = child_env(prefix, "outbox-faults", WEBHOOK_DELIVERY="worker")  # record deliveries, send none
    consumer, log = start(processes, tmp_path, "consumer", ["consume_location_outbox", "--poll", "0.2"], env)
    wait_for(
        lambda: LocationOutbox.objects.filter(processed_at__isnull=False).count() >= 40,
        timeout=60,
        what="the consumer to apply some rows",
        logs=[log],
    )
    os.kill(consumer.pid, signal.SIGKILL)
    consumer.wait(10)
    done = set(LocationOutbox.objects.filter(processed_at__isnull=False).values_list("pk", flat=True))
    assert 0 < len(done) < 400, "the kill did not land mid-drain"
    # At the kill: a row is applied (rule, transition, delivery) if and only if it is marked processed.
    transitioned = set(TransitionLog.objects.filter(to_state="soiled").values_list("asset_id", flat=True))
    applied_rows = {row.pk for row in LocationOutbox.objects.all() if row.room_changes[0][0] in transitioned}
    assert applied_rows == done
    assert WebhookDelivery.objects.count() == len(transitioned)

    again, log2 = start(processes, tmp_path, "consumer2", ["consume_location_outbox", "--once"], env)
    assert again.wait(120) == 0, log2.read_text()[-3000:]
    assert LocationOutbox.objects.filter(processed_at__isnull=True).count() == 0
    per_asset = list(TransitionLog.objects.filter(to_state="soiled").values_list("asset_id", flat=True))
    assert sorted(per_asset) == sorted(a.pk for a in assets)  # exactly once each
    deliveries = list(WebhookDelivery.objects.values_list("pk", flat=True))
    assert len(deliveries) == len(set(deliveries)) == 400  # one delivery each, each with its own stable id
