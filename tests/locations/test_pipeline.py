"""The location pipeline: ingest_batch + process, persisted as an auditor and a gateway would see it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction

from assets.models import Tag
from assets.services import tag_bind
from lifecycle import outbox as consumer
from locations import live, pipeline
from locations.engine.types import BatchError
from locations.models import LocationOutbox, Receiver, RoomInterval
from locations.pipeline import LocationPipeline
from tests.factories import AssetFactory, ReceiverFactory, TagFactory
from tests.locations.sim_hospital import T0, body, make_ward, pings, tagged_asset

TAG = "c3:00:00:00:01:0a"
TAG_ID = "c3000000010a"


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def feed(pipe: LocationPipeline, bodies: list[dict]) -> list:
    return [pipe.ingest_batch(b, now=T0 + 10_000) for b in bodies]


@pytest.fixture
def ward(db):
    return make_ward()


@pytest.fixture
def pump(ward):
    asset, _ = tagged_asset(TAG_ID, asset_tag="IP-00001")
    return asset


def test_resting_tag_is_placed_in_its_room_with_one_open_interval(ward, pump):
    pipe = LocationPipeline()
    feed(pipe, pings(TAG, "B", T0, 10, battery=87))
    result = pipe.process(None)

    pump.refresh_from_db()
    assert pump.current_room == ward.rooms["B"]
    assert 0 < pump.location_confidence <= 1
    assert pump.located_at == at(T0 + 18)
    assert pump.last_seen == at(T0 + 18)
    assert 5 <= pump.position_x <= 10 and 0 <= pump.position_y <= 5
    assert pump.position_radius_m > 0
    intervals = list(RoomInterval.objects.filter(asset=pump))
    assert [(i.room.code, i.entered_at, i.left_at) for i in intervals] == [("B", at(T0), None)]
    assert [(c.asset_id, c.from_room_id, c.to_room_id) for c in result.room_changes] == [
        (pump.pk, None, ward.rooms["B"].pk)
    ]


def test_a_move_closes_the_interval_and_opens_the_next(ward, pump):
    pipe = LocationPipeline()
    feed(pipe, pings(TAG, "A", T0, 20))
    pipe.process(T0 + 30)
    feed(pipe, pings(TAG, "COR", T0 + 40, 3))
    feed(pipe, pings(TAG, "C", T0 + 46, 20))
    pipe.process(None)

    pump.refresh_from_db()
    assert pump.current_room == ward.rooms["C"]
    intervals = list(RoomInterval.objects.filter(asset=pump).order_by("entered_at"))
    rooms = [i.room.code for i in intervals]
    assert rooms[0] == "A" and rooms[-1] == "C"
    assert set(rooms) <= {"A", "COR", "C"}
    assert intervals[-1].left_at is None
    assert RoomInterval.objects.filter(asset=pump, left_at__isnull=True).count() == 1
    for before, after in zip(intervals, intervals[1:], strict=False):
        assert before.left_at == after.entered_at  # no gap, no overlap
    assert T0 + 38 <= intervals[0].left_at.timestamp() <= T0 + 52
    assert T0 + 46 <= intervals[-1].entered_at.timestamp() <= T0 + 62


def test_rejected_items_are_listed_with_reasons_and_good_items_still_count(ward, pump):
    pipe = LocationPipeline()
    result = pipe.ingest_batch(
        {
            "gateway": "gw-a",
            "sent_at": "2026-11-18T11:06:41.000Z",
            "sightings": [
                {"tag": TAG, "rssi": -60, "ts": "2026-11-18T11:06:40.100Z"},
                {"tag": TAG, "rssi": -130, "ts": "2026-11-18T11:06:40.200Z"},
                {"tag": "not-a-tag", "rssi": -60, "ts": "2026-11-18T11:06:40.300Z"},
                {"tag": TAG, "rssi": -60, "ts": "2027-11-18T11:06:40.300Z"},
                {"tag": TAG, "rssi": -61, "ts": 1795000000400},
            ],
        },
        now=T0 + 1,
    )
    assert result.accepted == 2
    assert [r.index for r in result.rejected] == [1, 2, 3]
    assert "rssi -130 is outside -120..0" in result.rejected[0].reason
    assert "not-a-tag" in result.rejected[1].reason
    assert "future" in result.rejected[2].reason
    assert result.as_dict()["rejected_count"] == 3


def test_unknown_gateway_rejects_every_item_and_a_malformed_body_raises(ward, pump):
    pipe = LocationPipeline()
    result = pipe.ingest_batch(body("gw-nowhere", [(TAG, -60, T0), (TAG, -61, T0 + 2)]), now=T0 + 3)
    assert result.accepted == 0
    assert [r.reason for r in result.rejected] == ["unknown gateway gw-nowhere"] * 2
    with pytest.raises(BatchError, match="sightings"):
        pipe.ingest_batch({"gateway": "gw-a"}, now=T0)


def test_inactive_receiver_is_an_unknown_gateway(ward, pump):
    Receiver.objects.filter(gateway_id="gw-a").update(active=False)
    pipe = LocationPipeline()
    result = pipe.ingest_batch(body("gw-a", [(TAG, -60, T0)]), now=T0 + 1)
    assert result.accepted == 0 and result.rejected[0].reason == "unknown gateway gw-a"


def test_the_same_batch_twice_counts_once(ward, pump):
    pipe = LocationPipeline()
    batch = body("gw-b", [(TAG, -60, T0), (TAG, -61, T0 + 2), (TAG, -61, T0 + 2)])
    first = pipe.ingest_batch(batch, now=T0 + 3)
    second = pipe.ingest_batch(batch, now=T0 + 3)
    assert (first.accepted, first.duplicates) == (2, 1)
    assert (second.accepted, second.duplicates) == (0, 3)
    pipe.process(None)
    assert RoomInterval.objects.filter(asset=pump).count() == 1


def test_processing_twice_or_replaying_into_a_database_that_has_it_adds_nothing(ward, pump):
    bodies = pings(TAG, "A", T0, 10) + pings(TAG, "C", T0 + 30, 15)
    first = LocationPipeline()
    feed(first, bodies)
    first.process(None)
    history = list(RoomInterval.objects.filter(asset=pump).values_list("room_id", "entered_at", "left_at"))
    assert len(history) >= 2

    again = LocationPipeline()  # a restart, then the same data again
    feed(again, bodies)
    result = again.process(None)
    assert result.room_changes == []
    assert result.skipped > 0
    assert list(RoomInterval.objects.filter(asset=pump).values_list("room_id", "entered_at", "left_at")) == history


def test_tag_battery_and_receiver_last_heard_are_updated(ward, pump):
    pipe = LocationPipeline()
    feed(pipe, pings(TAG, "A", T0, 3, battery=64))
    feed(pipe, [body("gw-a", [(TAG, -60, T0 + 6, 63)])])
    pipe.process(None)
    tag = Tag.objects.get(tag_id=TAG_ID)
    assert tag.battery_percent == 63
    assert tag.last_seen == at(T0 + 6)
    assert Receiver.objects.get(gateway_id="gw-a").last_heard == at(T0 + 6)
    assert Receiver.objects.get(gateway_id="gw-c").last_heard == at(T0 + 4)
    assert Receiver.objects.get(gateway_id="gw-exit").last_heard is None  # never heard anything

    # An older batch arriving late never moves last_seen or last_heard backwards.
    feed(pipe, [body("gw-a", [(TAG, -60, T0 + 1, 99)])])
    pipe.process(None)
    tag.refresh_from_db()
    assert tag.last_seen == at(T0 + 6) and tag.battery_percent == 63
    assert Receiver.objects.get(gateway_id="gw-a").last_heard == at(T0 + 6)


def test_unknown_tags_are_counted_and_skipped_not_registered(ward, pump):
    pipe = LocationPipeline()
    result = pipe.ingest_batch(body("gw-a", [("aa:bb:cc:dd:ee:ff", -60, T0), (TAG, -60, T0)]), now=T0 + 1)
    assert result.accepted == 2 and result.unknown_tags == 1
    pipe.process(None)
    assert not Tag.objects.filter(tag_id="aabbccddeeff").exists()
    assert RoomInterval.objects.count() == 1  # only the known pump


def test_a_tag_registered_later_is_found_on_the_next_batch(ward):
    pipe = LocationPipeline()
    assert pipe.ingest_batch(body("gw-a", [(TAG, -60, T0)]), now=T0 + 1).unknown_tags == 1
    asset, _ = tagged_asset(TAG_ID)
    feed(pipe, pings(TAG, "A", T0 + 2, 5))
    pipe.process(None)
    asset.refresh_from_db()
    assert asset.current_room.code == "A"


def test_unbound_tag_reports_battery_but_locates_nothing(ward):
    tag = TagFactory(tag_id=TAG_ID, asset=None, battery_percent=None)
    pipe = LocationPipeline()
    feed(pipe, pings(TAG, "A", T0, 3, battery=15))
    pipe.process(None)
    tag.refresh_from_db()
    assert tag.battery_percent == 15 and tag.last_seen == at(T0 + 4)
    assert RoomInterval.objects.count() == 0
    [row] = LocationOutbox.objects.all()  # the battery reading goes to the alerts through the outbox
    assert row.room_changes == [] and row.tag_reports == [[TAG_ID, None, 15, at(T0 + 4).isoformat()]]


def test_the_outbox_row_is_written_with_the_room_change_and_the_map_is_told_after_the_commit(
    ward, pump, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(live, "notify_floor", lambda floor_id, event: sent.append(floor_id))
    pipe = LocationPipeline()
    feed(pipe, pings(TAG, "A", T0, 5, battery=50))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        pipe.process(None)
        # In the same transaction as the room change: both or neither.
        [row] = LocationOutbox.objects.all()
        assert row.room_changes == [[pump.pk, None, ward.rooms["A"].pk, at(T0).isoformat()]]
        assert row.tag_reports == [[TAG_ID, pump.pk, 50, at(T0 + 8).isoformat()]]
        assert row.processed_at is None
    assert sent == []  # nothing is announced before the commit
    for callback in callbacks:
        callback()
    assert sent == [ward.floor.pk]


def test_a_rolled_back_transaction_announces_nothing_and_leaves_no_outbox_row(
    ward, pump, django_capture_on_commit_callbacks
):
    pipe = LocationPipeline()
    feed(pipe, pings(TAG, "A", T0, 5))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            pipe.process(None)
            raise RuntimeError("the caller's transaction fails")
    assert callbacks == []
    assert LocationOutbox.objects.count() == 0
    assert RoomInterval.objects.count() == 0


def test_floor_maps_get_one_message_per_floor_with_the_moved_assets(
    ward, pump, monkeypatch, django_capture_on_commit_callbacks
):
    other, _ = tagged_asset("c3000000010b", asset_tag="IP-00002")
    sent = []
    monkeypatch.setattr(live, "notify_floor", lambda floor_id, event: sent.append((floor_id, event)))
    pipe = LocationPipeline()
    feed(pipe, pings(TAG, "A", T0, 5) + pings("c3000000010b", "C", T0, 5))
    with django_capture_on_commit_callbacks(execute=True):
        pipe.process(None)
        assert sent == []  # only once the transaction commits
    assert len(sent) == 1
    floor_id, event = sent[0]
    assert floor_id == ward.floor.pk and event["kind"] == "asset.moved"
    moved = {a["asset_tag"]: a for a in event["assets"]}
    assert set(moved) == {"IP-00001", "IP-00002"}
    assert moved["IP-00001"]["room_id"] == ward.rooms["A"].pk
    assert moved["IP-00002"]["room_id"] == ward.rooms["C"].pk
    assert other.pk == moved["IP-00002"]["asset_id"]
    # The map shows the location status from the server's moments (locations/freshness.py), not its own rule.
    seen = datetime.fromisoformat(moved["IP-00001"]["at"])
    assert datetime.fromisoformat(moved["IP-00001"]["stale_at"]) == seen + timedelta(
        seconds=settings.LOCATION_STALE_AFTER_SECONDS
    )
    assert datetime.fromisoformat(moved["IP-00001"]["missing_at"]) == seen + timedelta(
        seconds=settings.LOCATION_MISSING_AFTER_SECONDS
    )


def test_a_failing_consumer_does_not_undo_the_commit_and_retries_the_row(ward, pump, monkeypatch):
    def broken(**kwargs):
        raise ValueError("rule bug")

    monkeypatch.setattr(consumer, "apply_room_changes", broken)
    pipe = LocationPipeline()
    feed(pipe, pings(TAG, "A", T0, 5))
    pipe.process(None)
    assert consumer.location_outbox_drain() == 0
    [row] = LocationOutbox.objects.all()
    assert row.processed_at is None and row.attempts == 1 and "rule bug" in row.last_error
    pump.refresh_from_db()
    assert pump.current_room.code == "A"  # the location stays committed
    monkeypatch.undo()
    assert consumer.location_outbox_drain() == 1
    row.refresh_from_db()
    assert row.processed_at is not None and row.attempts == 2


def test_restart_restores_each_tag_from_its_assets_current_room(ward, pump):
    first = LocationPipeline()
    feed(first, pings(TAG, "A", T0, 15))
    first.process(None)
    never_located, _ = tagged_asset("c3000000010b")

    restarted = LocationPipeline()
    assert restarted.engine.room_of(TAG_ID) == ward.rooms["A"].pk
    assert restarted.engine.room_of("c3000000010b") is None
    # One ping that leans a little towards B: not enough to move an asset known to be in A,
    # while the same ping places an asset nobody has located yet in B.
    leaning = {"gw-a": -72, "gw-b": -68, "gw-cor": -74, "gw-c": -85}
    for gateway, rssi in leaning.items():
        restarted.ingest_batch(body(gateway, [(TAG, rssi, T0 + 40), ("c3000000010b", rssi, T0 + 40)]), now=T0 + 41)
    restarted.process(None)
    pump.refresh_from_db()
    never_located.refresh_from_db()
    assert pump.current_room.code == "A"
    assert RoomInterval.objects.filter(asset=pump).count() == 1
    assert never_located.current_room.code == "B"


def test_one_open_interval_per_asset_is_enforced_by_the_database(ward, pump):
    RoomInterval.objects.create(asset=pump, room=ward.rooms["A"], entered_at=at(T0))
    with pytest.raises(IntegrityError), transaction.atomic():
        RoomInterval.objects.create(asset=pump, room=ward.rooms["B"], entered_at=at(T0 + 5))


def test_the_embedded_fronts_share_one_process_wide_pipeline(ward, pump):
    pipeline.reset_pipeline()
    try:
        result = pipeline.get_pipeline().ingest_batch(pings(TAG, "A", T0, 1)[0], now=T0 + 5)
        assert result.accepted == 1 and result.gateway_id == "gw-a"
        assert pipeline.get_pipeline() is pipeline.get_pipeline()
        pipeline.get_pipeline().process(None)
        pump.refresh_from_db()
        assert pump.last_seen == at(T0)
    finally:
        pipeline.reset_pipeline()


def test_a_new_receiver_is_picked_up_without_a_restart(ward, pump):
    pipe = LocationPipeline()
    assert pipe.ingest_batch(body("gw-new", [(TAG, -60, T0)]), now=T0 + 1).accepted == 0
    ReceiverFactory(gateway_id="gw-new", floor=ward.floor, x=1.0, y=1.0)
    assert pipe.ingest_batch(body("gw-new", [(TAG, -60, T0)]), now=T0 + 1).accepted == 1


def test_rebinding_a_tag_moves_the_next_estimates_to_the_new_asset(ward, pump):
    pipe = LocationPipeline()
    feed(pipe, pings(TAG, "A", T0, 5))
    pipe.process(None)
    replacement = AssetFactory(asset_tag="IP-09999")
    tag = Tag.objects.get(tag_id=TAG_ID)
    tag.asset = replacement
    tag.save()
    feed(pipe, pings(TAG, "A", T0 + 20, 5))
    pipe.process(None)
    replacement.refresh_from_db()
    assert replacement.current_room.code == "A"
    assert RoomInterval.objects.filter(asset=replacement).count() == 1


def test_sightings_from_before_a_tag_was_bound_are_not_its_assets(ward):
    """The live path (ingest_batch, as the engine worker's ingest_sightings): bound at T0 + 30, the tag's pings
    before that place nobody and are counted; from then on they place the asset."""
    asset = AssetFactory(asset_tag="IP-00077")
    tag_bind(tag=TagFactory(tag_id=TAG_ID), asset=asset, at=at(T0 + 30))
    pipe = LocationPipeline()
    before = feed(pipe, pings(TAG, "A", T0, 10))  # T0 .. T0 + 18, in room A
    after = feed(pipe, pings(TAG, "C", T0 + 40, 10))  # T0 + 40 .. T0 + 58, in room C
    result = pipe.process(None)

    assert sum(r.not_bound for r in before) == 10 * 4 and sum(r.not_bound for r in after) == 0
    assert result.not_bound == 0
    asset.refresh_from_db()
    assert asset.current_room == ward.rooms["C"]
    assert [(i.room.code, i.entered_at, i.left_at) for i in RoomInterval.objects.filter(asset=asset)] == [
        ("C", at(T0 + 40), None)
    ]
    assert asset.last_seen == at(T0 + 58)
