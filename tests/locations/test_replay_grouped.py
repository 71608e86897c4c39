"""replay_sightings commits the flushes of --commit-every seconds of event time together: the same rows as a
commit per flush, and a failure leaves no half-written group."""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from assets.models import Asset, Tag
from locations import pipeline as pipeline_module
from locations.models import LocationOutbox, Receiver, RoomInterval
from locations.pipeline import _LOCATION_FIELDS
from tests.locations.ingest.scenario import NO_LOCATION
from tests.locations.sim_hospital import forget_receivers, make_ward, tagged_asset
from tests.locations.test_replay import TAG_ID, record

BUSY = ["c3000000020a", "c3000000020b", "c3000000020c", "c3000000020d"]


@pytest.fixture
def day(tmp_path, db):
    ward = make_ward()
    tagged_asset(TAG_ID, asset_tag="IP-00001")
    for i, tag_id in enumerate(BUSY):
        tagged_asset(tag_id, asset_tag=f"IP-0100{i}")
    path = tmp_path / "day.jsonl"
    record(path, ward, seed=4, seconds=600, busy_tags=BUSY)
    return path


def replay(path, *extra):
    call_command(
        "replay_sightings", str(path), "--reader", "inline", *extra, stdout=io.StringIO(), stderr=io.StringIO()
    )


def written():
    """Everything a replay writes that a user sees, ids of the room intervals and outbox rows included."""
    return {
        "intervals": list(
            RoomInterval.objects.order_by("pk").values_list("pk", "asset_id", "room_id", "entered_at", "left_at")
        ),
        "assets": list(Asset.objects.order_by("pk").values_list("pk", *_LOCATION_FIELDS)),
        "tags": list(Tag.objects.order_by("pk").values_list("pk", "battery_percent", "last_seen")),
        "receivers": list(Receiver.objects.order_by("pk").values_list("pk", "last_heard")),
        "outbox": [
            (pk, changes)
            for pk, changes in LocationOutbox.objects.order_by("pk").values_list("pk", "room_changes")
            if changes
        ],
    }


def fresh_database():
    """Back to the database before any replay, with the id sequences restarted."""
    RoomInterval.objects.all().delete()
    LocationOutbox.objects.all().delete()
    Asset.objects.update(**NO_LOCATION)
    Tag.objects.update(last_seen=None, battery_percent=None)
    forget_receivers()
    with connection.cursor() as cursor:
        for model in (RoomInterval, LocationOutbox):
            cursor.execute(f"ALTER SEQUENCE {model._meta.db_table}_id_seq RESTART WITH 1")


@pytest.mark.parametrize("commit_every", ["60", "17", "100000"])
def test_grouped_commits_write_the_rows_of_a_commit_per_flush(day, commit_every):
    fresh_database()
    replay(day, "--commit-every", "0")
    one_by_one = written()
    assert len(one_by_one["intervals"]) > 10 and len(one_by_one["outbox"]) > 5

    fresh_database()
    replay(day, "--commit-every", commit_every)
    assert written() == one_by_one


def test_a_failure_rolls_the_group_under_way_back_whole_and_a_second_replay_completes_it(day, monkeypatch):
    fresh_database()
    replay(day)
    complete = written()
    fresh_database()

    real_write = pipeline_module._PendingWrites.write
    seen = []

    def failing_write(self):
        real_write(self)
        seen.append(RoomInterval.objects.count())
        if len(seen) == 3:  # every statement of the third group ran, and then the commit fails
            raise RuntimeError("database went away")

    monkeypatch.setattr(pipeline_module._PendingWrites, "write", failing_write)
    with pytest.raises(RuntimeError, match="went away"):
        replay(day, "--commit-every", "60")
    assert seen[2] > seen[1]  # the third group did write intervals before it failed ...
    after = written()
    assert len(after["intervals"]) == seen[1]  # ... and none of them is left: the first two groups only
    # the intervals the first two groups opened, as the complete history has them (the last ones still open)
    assert [i[:4] for i in after["intervals"]] == [i[:4] for i in complete["intervals"] if i[0] <= seen[1]]
    assert after["outbox"] == [row for row in complete["outbox"] if row[0] <= after["outbox"][-1][0]]
    monkeypatch.undo()

    replay(day)  # again: what the first two groups committed is kept, the rest is added
    again = written()
    # What was committed before the failure stands: same rows, same ids (the intervals still open then are
    # closed by the second replay, so their left_at is not compared).
    kept = [i[:4] for i in again["intervals"] if i[0] <= seen[1]]
    assert kept == [i[:4] for i in after["intervals"]]
    # The rest is decided again, like after any restart: the engine is seeded from the database's rooms and
    # re-learns the receivers' calibration, so a decision after the resume point may come a ping earlier or
    # later than in the uninterrupted replay. The history is complete all the same: per asset, the intervals
    # follow each other without a gap or an overlap, the last one is open, and it is the room the
    # uninterrupted replay ends in.
    by_asset = {}
    for _pk, asset_id, room_id, entered_at, left_at in again["intervals"]:
        by_asset.setdefault(asset_id, []).append((entered_at, left_at, room_id))
    for asset_id, rows in by_asset.items():
        rows.sort()
        assert all(left == nxt[0] for (_e, left, _r), nxt in zip(rows, rows[1:], strict=False)), asset_id
        assert rows[-1][1] is None, asset_id
    final_rooms = {row[0]: row[1] for row in again["assets"]}
    assert final_rooms == {row[0]: row[1] for row in complete["assets"]}
    assert len(again["intervals"]) >= len(complete["intervals"]) * 0.8
