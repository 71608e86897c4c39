"""One ingest path: a sighting answered 202 lands or is counted and logged; the limits are the settings;
writes are coalesced without anything user-visible getting worse; quiet tags are committed promptly."""

import io
import logging
import time
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.test import Client

from assets.models import Asset
from declarations.location_status import LocationStatus
from declarations.room_types import RoomType
from lifecycle.models import TransitionLog
from lifecycle.outbox import location_outbox_drain
from locations.engine import EngineConfig
from locations.freshness import location_status
from locations.ingest.auth import gateway_token_issue
from locations.ingest.front import accept_body
from locations.ingest.mqtt import handle_message
from locations.ingest.worker import EngineWorker
from locations.models import LocationOutbox, Receiver, RoomInterval
from locations.pipeline import LocationPipeline
from locations.simulator import format_ts
from tests.locations.sim_hospital import HEARD_IN, T0, make_ward, pings, tagged_asset

TAG_ID = "c3000000010a"


@pytest.fixture
def ward(db):
    return make_ward()


@pytest.fixture
def pump(ward):
    return tagged_asset(TAG_ID, asset_tag="IP-00001")[0]


def live_pings(room: str, start: float, count: int, every: float = 2.0) -> list[dict]:
    bodies = []
    for n in range(count):
        ts = start + n * every
        for gateway, rssi in HEARD_IN[room].items():
            bodies.append(
                {
                    "gateway": gateway,
                    "sent_at": format_ts(ts + 0.5),
                    "sightings": [{"tag": TAG_ID, "rssi": rssi, "ts": format_ts(ts)}],
                }
            )
    return bodies


def post_all(client, bodies) -> int:
    tokens = {}
    accepted = 0
    for body in bodies:
        gateway = body["gateway"]
        tokens.setdefault(gateway, gateway_token_issue(gateway_id=gateway).raw)
        response = client.post(
            "/api/v1/rtls/sightings",
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {tokens[gateway]}"},
        )
        assert response.status_code == 202, response.content
        accepted += response.json()["accepted"]
    return accepted


def test_a_sighting_answered_202_lands_or_is_counted_and_logged(ward, pump, memory_queue, caplog):
    client = Client()
    now = time.time()
    accepted = post_all(client, live_pings("A", now - 30, 5))
    # A receiver is switched off after the front accepted its sightings ...
    accepted += post_all(client, [b for b in live_pings("B", now - 20, 3) if b["gateway"] == "gw-c"])
    Receiver.objects.filter(gateway_id="gw-c").update(active=False)
    worker = EngineWorker(memory_queue, pipeline_factory=LocationPipeline, read_count=1000)
    with caplog.at_level(logging.WARNING, logger="locations.ingest.worker"):
        worker.run_until_idle()
        # ... and, once those windows are committed, a late batch: minutes older than what gw-a sent before.
        accepted += post_all(client, [b for b in live_pings("A", now - 600, 2) if b["gateway"] == "gw-a"])
        stats = worker.run_until_idle()
    landed = stats.accepted
    dropped = stats.dropped
    assert dropped["receiver no longer active"] == 5 + 3  # gw-c also heard the five pings in room A
    assert dropped["too late to place"] == 2
    assert landed + sum(dropped.values()) == accepted == stats.sightings
    assert "dropped so far: too late to place" in caplog.text
    assert "dropped so far: receiver no longer active" in caplog.text
    pump.refresh_from_db()
    assert pump.current_room == ward.rooms["A"]


def test_the_future_limit_is_checked_once_with_the_setting(ward, pump, memory_queue, settings):
    """Raising INGEST_MAX_FUTURE_SECONDS must not give a 202 for sightings the worker then drops."""
    settings.INGEST_MAX_FUTURE_SECONDS = 300
    now = time.time()
    ahead = now + 120  # a gateway clock two minutes ahead: allowed by the setting
    for body in live_pings("B", ahead, 3):
        assert accept_body(body, received_at=now, queue=memory_queue).accepted == 1
    stats = EngineWorker(memory_queue, pipeline_factory=LocationPipeline).run_until_idle()
    assert stats.accepted == stats.sightings == 3 * len(HEARD_IN["B"])
    assert sum(stats.dropped.values()) == 0
    pump.refresh_from_db()
    assert pump.current_room == ward.rooms["B"]


def test_a_gateway_clock_reset_years_back_is_refused_at_the_door_with_the_reason(ward, pump, memory_queue, settings):
    """Stamps older than INGEST_MAX_PAST_SECONDS get the reason in the 202's body; the rest of the batch lands,
    and no stay is ever recorded in 2000."""
    settings.INGEST_MAX_PAST_SECONDS = 3600
    token = gateway_token_issue(gateway_id="gw-b").raw
    now = time.time()
    stamps = ["2000-01-01T00:00:05.000Z", format_ts(now - 7200), format_ts(now - 1800), format_ts(now - 1)]
    body = {"gateway": "gw-b", "sightings": [{"tag": TAG_ID, "rssi": -50, "ts": ts} for ts in stamps]}
    response = Client().post(
        "/api/v1/rtls/sightings",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["accepted"] == 2  # half an hour back is within the setting
    assert [r["index"] for r in answer["rejected"]] == [0, 1]
    assert "days in the past (at most 3600 s; a gateway clock that was reset?" in answer["rejected"][0]["reason"]
    assert "is 7200 s in the past (at most 3600 s" in answer["rejected"][1]["reason"]
    for body in live_pings("B", now - 20, 5):
        accept_body(body, received_at=now, queue=memory_queue)
    stats = EngineWorker(memory_queue, pipeline_factory=LocationPipeline).run_until_idle()
    assert stats.accepted == 2 + 5 * len(HEARD_IN["B"])
    pump.refresh_from_db()
    assert pump.current_room == ward.rooms["B"]
    first = RoomInterval.objects.filter(asset=pump).order_by("entered_at").first()
    assert first.entered_at.timestamp() >= now - 1800 - 5


def test_a_tag_heard_continuously_never_turns_stale_while_writes_are_coalesced(ward, pump, settings):
    settings.LOCATION_STALE_AFTER_SECONDS = 60
    settings.LOCATION_SEEN_WRITE_SECONDS = 30
    pipe = LocationPipeline()
    asset_writes = 0
    for minute in range(10):  # ten minutes of pings every 2 s, processed every 2 s of event time
        for step in range(30):
            ts = T0 + minute * 60 + step * 2
            for body in pings("c3:00:00:00:01:0a", "A", ts, 1):
                pipe.ingest_batch(body, now=ts + 1)
            result = pipe.process(ts)
            asset_writes += result.assets_updated
            last_seen = Asset.objects.values_list("last_seen", flat=True).get(pk=pump.pk)
            now = datetime.fromtimestamp(ts, tz=UTC)
            if last_seen is not None:  # the first window closes a few seconds in
                assert location_status(last_seen=last_seen, room_type="patient", now=now) == LocationStatus.LOCATED
                assert (now - last_seen).total_seconds() <= 30 + 2 + 3  # the period + a ping + the window
    # One write per 30 s (and the first), not one per ping: 300 pings, ~20 asset writes.
    assert asset_writes <= 25
    assert RoomInterval.objects.filter(asset=pump).count() == 1
    tag = pump.tag
    tag.refresh_from_db()
    assert (T0 + 600) - tag.last_seen.timestamp() <= 35
    receiver = Receiver.objects.get(gateway_id="gw-a")
    assert (T0 + 600) - receiver.last_heard.timestamp() <= 35


def test_a_room_change_is_committed_at_once_whatever_the_write_period(ward, pump, settings):
    settings.LOCATION_SEEN_WRITE_SECONDS = 3600
    # The clocks taken as known: a fresh engine would hold the windows of its first minute for its first clock
    # estimate (docs/location-engine.md, "Time model"), and this is about the writes.
    pipe = LocationPipeline(config=EngineConfig(clock_hold_first=False))
    for body in pings("c3:00:00:00:01:0a", "A", T0, 10):
        pipe.ingest_batch(body, now=T0 + 30)
    pipe.process(T0 + 30)
    for body in pings("c3:00:00:00:01:0a", "C", T0 + 30, 10):
        pipe.ingest_batch(body, now=T0 + 60)
    pipe.process(T0 + 60)
    pump.refresh_from_db()
    assert pump.current_room == ward.rooms["C"]
    assert [i.room.code for i in RoomInterval.objects.filter(asset=pump).order_by("entered_at")] == ["A", "C"]


def test_a_tag_that_goes_quiet_is_committed_within_seconds_of_wall_clock(ward, pump, memory_queue, settings):
    """No more sightings after the last ping: the idle worker commits it by the wall clock."""
    settings.INGEST_IDLE_FLUSH_LAG_SECONDS = 4
    now = time.time()
    for body in live_pings("C", now - 3, 2, every=1.0):  # last ping one second ago
        accept_body(body, received_at=now, queue=memory_queue)
    worker = EngineWorker(memory_queue, pipeline_factory=LocationPipeline, block_ms=50, idle_flush_s=3600)
    worker.start()
    started = time.monotonic()
    committed_after = None
    while time.monotonic() - started < 10 and (committed_after is None or not memory_queue.idle()):
        worker.step()
        if committed_after is None and Asset.objects.filter(pk=pump.pk, current_room=ward.rooms["C"]).exists():
            committed_after = time.monotonic() - started
    pump.refresh_from_db()
    assert pump.current_room == ward.rooms["C"]
    assert (
        committed_after is not None and committed_after <= 6
    )  # ~3 s to go (last ping + lag) and a commit interval, not a minute
    assert worker.stats.idle_commits >= 1
    assert memory_queue.idle()  # and acknowledged
    worker.stop()


def test_an_outbox_row_applies_the_room_rule_exactly_once(ward, pump):
    """A soiled-utility room makes equipment soiled: once, however often the consumer runs."""
    ward.rooms["C"].room_type = RoomType.SOILED_UTILITY
    ward.rooms["C"].save()
    Asset.objects.filter(pk=pump.pk).update(state="in_use")
    pipe = LocationPipeline()
    for body in pings("c3:00:00:00:01:0a", "A", T0, 5) + pings("c3:00:00:00:01:0a", "C", T0 + 10, 8):
        pipe.ingest_batch(body, now=T0 + 60)
    pipe.process(None)
    assert Asset.objects.get(pk=pump.pk).state == "in_use"  # nothing applied on the pipeline's thread
    assert location_outbox_drain() == 1
    assert location_outbox_drain() == 0
    assert Asset.objects.get(pk=pump.pk).state == "soiled"
    assert TransitionLog.objects.filter(asset=pump, to_state="soiled").count() == 1
    assert LocationOutbox.objects.get().processed_at is not None


def test_nothing_is_acknowledged_while_a_fresh_engine_waits_for_its_first_clock_estimate(ward, pump, memory_queue):
    """A worker killed in a site's first minute leaves every entry of it to the next owner: with clock_hold_first
    (on by default) the windows of that minute are not committed before the first clock estimate
    (docs/location-engine.md, "Time model"), so none of its entries may be acknowledged either."""
    now = time.time()
    for body in live_pings("C", now - 20, 20, every=1.0):
        accept_body(body, received_at=now, queue=memory_queue)
    worker = EngineWorker(
        memory_queue,
        pipeline_factory=lambda: LocationPipeline(config=EngineConfig(clock_hold_first=True)),
        block_ms=50,
        idle_flush_s=3600,
    )
    worker.start()
    worker.step()
    assert worker.pipeline.engine.holding
    assert worker.stats.acked == 0 and not memory_queue.idle()
    started = time.monotonic()
    while time.monotonic() - started < 10 and not memory_queue.idle():
        worker.step()
    pump.refresh_from_db()
    assert pump.current_room == ward.rooms["C"]  # the site went quiet: its clocks estimated from what was heard
    assert memory_queue.idle()  # and then acknowledged
    worker.stop()


def test_nan_infinity_and_numbers_out_of_range_reject_their_item_alone_in_every_front(
    ward, pump, memory_queue, tmp_path
):
    """The same text through HTTP, MQTT and replay_sightings: one decoder, the same outcome item for item."""
    ts = format_ts(time.time() - 1)
    items = [
        f'{{"tag": "{TAG_ID}", "rssi": -62, "ts": "{ts}"}}',
        f'{{"tag": "{TAG_ID}", "rssi": NaN, "ts": "{ts}"}}',
        f'{{"tag": "{TAG_ID}", "rssi": -Infinity, "ts": "{ts}"}}',
        f'{{"tag": "{TAG_ID}", "rssi": -63, "ts": Infinity}}',
        f'{{"tag": "{TAG_ID}", "rssi": 1e400, "ts": "{ts}"}}',
        f'{{"tag": "{TAG_ID}", "rssi": -62, "ts": "{ts}", "battery": NaN}}',
    ]
    raw = '{"gateway": "gw-b", "sightings": [' + ", ".join(items) + "]}"
    expected = [
        (1, "rssi nan is not a finite number"),
        (2, "rssi -inf is not a finite number"),
        (3, "ts inf is not a finite number"),
        (4, "rssi inf is not a finite number"),
        (5, "battery nan is not a finite number"),
    ]
    response = Client().post(
        "/api/v1/rtls/sightings",
        data=raw,
        content_type="application/json",
        headers={"Authorization": f"Bearer {gateway_token_issue(gateway_id='gw-b').raw}"},
    )
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == 1
    assert [(r["index"], r["reason"]) for r in response.json()["rejected"]] == expected

    outcome = handle_message("rtls/gw-b/sightings", raw.encode(), prefix="rtls", queue=memory_queue)
    assert outcome.status == "accepted"
    assert outcome.result.accepted == 1
    assert [(r.index, r.reason) for r in outcome.result.rejected] == expected

    path = tmp_path / "nan.jsonl"
    path.write_text(raw + "\n")
    out = io.StringIO()
    call_command("replay_sightings", str(path), stdout=out, stderr=io.StringIO())
    assert "accepted 1, rejected 5, duplicates 0" in out.getvalue()
    assert "malformed lines" not in out.getvalue()
    for _, reason in expected:
        assert f"rejected 1: {reason}" in out.getvalue()


def test_sightings_stamped_ahead_of_the_clock_never_make_last_seen_or_last_heard_future(
    ward, pump, memory_queue, settings
):
    """Accepted up to INGEST_MAX_FUTURE_SECONDS ahead, and placed; but /healthz and the silent-receiver alert read
    last_heard, and a tag heard "45 s from now" was heard now."""
    settings.INGEST_MAX_FUTURE_SECONDS = 60
    now = time.time()
    for body in live_pings("B", now + 40, 3, every=2.0):  # a gateway clock 40-45 s ahead
        assert accept_body(body, received_at=now, queue=memory_queue).accepted == 1
    EngineWorker(memory_queue, pipeline_factory=LocationPipeline).run_until_idle()
    done = time.time()
    pump.refresh_from_db()
    assert pump.current_room == ward.rooms["B"]
    tag = pump.tag
    tag.refresh_from_db()
    assert now <= tag.last_seen.timestamp() <= done
    for receiver in Receiver.objects.filter(gateway_id__in=HEARD_IN["B"]):
        assert now <= receiver.last_heard.timestamp() <= done, receiver.gateway_id
