"""manage.py replay_sightings: a recorded file through the live pipeline, on event time."""

import io
import json
import re
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from assets.models import Asset, Tag
from assets.services import tag_bind, tag_unbind
from declarations.tag_ids import format_tag_id
from locations import pipeline as pipeline_module
from locations.models import RoomInterval
from locations.pipeline import site_plan_from_db
from locations.simulator import MotionModel, SimTag, Simulator, gateway_bodies
from tests.factories import AssetFactory, TagFactory
from tests.locations.sim_hospital import T0, body, forget_receivers, format_ts, make_ward, pings, tagged_asset

TAG_ID = "c3000000010a"
MOVE_AT = 120.0


@pytest.fixture
def ward(db):
    return make_ward()


@pytest.fixture
def pump(ward):
    asset, _ = tagged_asset(TAG_ID, asset_tag="IP-00001")
    return asset


def record(path, ward, *, seconds=300, seed=1, start=T0, busy_tags=()):
    """A tag resting under gw-a, wheeled to C after two minutes (and `busy_tags` moved about at random):
    bodies to `path`, truth returned."""
    plan = site_plan_from_db()
    tag = SimTag(TAG_ID, start_room_id=ward.rooms["A"].pk, itinerary=((MOVE_AT, ward.rooms["C"].pk),))
    motion = MotionModel(mobile_rest_median_s=40.0, mobile_rest_bounds_s=(10.0, 120.0))
    tags = [tag] + [SimTag(tag_id, mobile=True) for tag_id in busy_tags]
    sim = Simulator(plan, tags, start_ts=start, seed=seed, motion=motion)
    with path.open("w") as out:
        for _ in range(seconds):
            transmissions = sim.advance(1.0)
            for b in gateway_bodies(transmissions, sent_at=sim.now + 0.2, tag_format=format_tag_id):
                out.write(json.dumps(b) + "\n")
    return sim.drain_truth()


def replay(path, *extra):
    out, err = io.StringIO(), io.StringIO()
    call_command("replay_sightings", str(path), *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def history(asset):
    return [
        (i.room.code, i.entered_at, i.left_at)
        for i in RoomInterval.objects.filter(asset=asset).select_related("room").order_by("entered_at")
    ]


def test_replay_places_the_tag_where_the_truth_says(tmp_path, ward, pump):
    truth = record(tmp_path / "day.jsonl", ward)
    assert [c.room_code for c in truth] == ["A", "COR", "C"]
    left_a, entered_c = truth[1].ts, truth[2].ts

    out, _ = replay(tmp_path / "day.jsonl")

    pump.refresh_from_db()
    assert pump.current_room.code == "C"
    stays = history(pump)
    assert stays[0][0] == "A" and T0 <= stays[0][1].timestamp() < T0 + 3
    assert stays[-1][0] == "C" and stays[-1][2] is None
    assert {room for room, _, _ in stays} <= {"A", "COR", "C"}
    assert left_a - 2 <= stays[0][2].timestamp() <= left_a + 15
    assert entered_c - 2 <= stays[-1][1].timestamp() <= entered_c + 15
    assert f"room changes {len(stays)}" in out
    assert re.search(r"[\d,]+ sightings/s", out)
    assert re.search(r"accepted [\d,]+, rejected 0, duplicates 0", out)


def test_the_same_file_into_a_fresh_database_gives_the_same_history(tmp_path, ward, pump):
    busy = ["c3000000020a", "c3000000020b", "c3000000020c"]
    for tag_id in busy:
        tagged_asset(tag_id)
    truth = record(tmp_path / "day.jsonl", ward, seed=4, seconds=600, busy_tags=busy)
    assert sum(1 for c in truth if c.tag_id in busy) > 15  # they do move about
    replay(tmp_path / "day.jsonl")
    first = RoomInterval.objects.order_by("asset_id", "entered_at").values_list(
        "asset_id", "room_id", "entered_at", "left_at"
    )
    first = list(first)
    assert len(first) > 10
    pump.refresh_from_db()
    first_location = (pump.current_room_id, pump.located_at, pump.position_x, pump.position_y, pump.last_seen)

    RoomInterval.objects.all().delete()  # back to a fresh database
    Asset.objects.update(
        current_room=None, location_confidence=None, located_at=None, position_x=None, position_y=None, last_seen=None
    )
    Tag.objects.update(last_seen=None, battery_percent=None)
    forget_receivers()

    replay(tmp_path / "day.jsonl")
    pump.refresh_from_db()
    again = RoomInterval.objects.order_by("asset_id", "entered_at").values_list(
        "asset_id", "room_id", "entered_at", "left_at"
    )
    assert list(again) == first
    assert (pump.current_room_id, pump.located_at, pump.position_x, pump.position_y, pump.last_seen) == first_location


def test_replaying_a_file_the_database_already_has_adds_nothing(tmp_path, ward, pump):
    record(tmp_path / "day.jsonl", ward)
    replay(tmp_path / "day.jsonl")
    before = history(pump)
    out, _ = replay(tmp_path / "day.jsonl")
    assert history(pump) == before
    assert "room changes 0" in out
    assert "already replayed" in out


def test_old_files_replay_on_their_own_time_and_future_items_are_rejected(tmp_path, ward, pump):
    old = datetime(2021, 3, 4, 10, 0, tzinfo=UTC).timestamp()
    path = tmp_path / "old.jsonl"
    lines = [body("gw-a", [(TAG_ID, -60, old + n * 2.0)], sent_at=old + n * 2.0 + 0.5) for n in range(10)]
    lines.append(body("gw-a", [(TAG_ID, -60, old + 21), (TAG_ID, -60, old + 7200)], sent_at=old + 21.5))
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))

    out, _ = replay(path)
    assert re.search(r"accepted 11, rejected 1, duplicates 0", out)
    assert "in the future" in out
    pump.refresh_from_db()
    assert pump.current_room.code == "A"
    assert pump.last_seen == datetime.fromtimestamp(old + 21, tz=UTC)


def test_a_file_in_arrival_order_reports_what_the_engine_dropped_and_why(tmp_path, ward, pump):
    """Batches are in the file where they arrived: one delivered 40 s late comes after its tag's window was
    committed, and the replay reports it as dropped, by reason and share. (Batches a few seconds late are
    placed once the engine has learnt the gateway's delivery delay: tests/locations/engine/test_real_network.py.)"""
    old = datetime(2021, 3, 4, 10, 0, tzinfo=UTC).timestamp()
    on_time = {n: body("gw-a", [(TAG_ID, -60, old + n * 2.0)], sent_at=old + n * 2.0 + 0.5) for n in range(40)}
    arrival = [n for n in range(40) if n != 10]
    arrival.insert(arrival.index(30) + 1, 10)  # ping 10 (t+20 s) arrives after ping 30 (t+60 s): 40 s late
    path = tmp_path / "arrival.jsonl"
    path.write_text("".join(json.dumps(on_time[n]) + "\n" for n in arrival))

    out, _ = replay(path)

    assert re.search(r"accepted 40, rejected 0", out)
    assert "dropped by the engine 1 (2.50% of sightings): late 1" in out
    # Too few windows to learn the site's radio from: the configured model, reported as such.
    assert "the site's radio, learnt: path-loss exponent 2.20, 4.0 dB per wall" in out
    pump.refresh_from_db()
    assert pump.current_room.code == "A"


def test_malformed_lines_are_reported_with_their_number_and_skipped(tmp_path, ward, pump):
    path = tmp_path / "mixed.jsonl"
    good = body("gw-a", [(TAG_ID, -60, T0)])
    later = body("gw-a", [(TAG_ID, -61, T0 + 2), ("zz", -61, T0 + 2), (TAG_ID, -150, T0 + 2.5)])
    path.write_text(
        "\n".join(
            [
                json.dumps(good),
                "{not json",
                json.dumps({"gateway": "gw-a"}),
                "[1, 2, 3]",
                "",
                json.dumps({"gateway": "gw-a", "sent_at": "yesterday", "sightings": []}),
                json.dumps(later),
            ]
        )
        + "\n"
    )
    out, err = replay(path)
    assert "line 2: not valid JSON" in err
    assert "line 3: 'sightings' is missing (skipped)" in err
    assert "line 4: body must be a JSON object, got a list (skipped)" in err
    assert "line 6: sent_at 'yesterday' is not an ISO 8601 time (skipped)" in err
    assert "line 5" not in err and "line 1:" not in err and "line 7" not in err
    assert "malformed lines skipped: 4" in out
    assert re.search(r"accepted 2, rejected 2, duplicates 0", out)
    assert "rssi … is outside -120..0" in out
    assert Tag.objects.get(tag_id=TAG_ID).last_seen == datetime.fromtimestamp(T0 + 2, tz=UTC)


def test_times_before_2000_are_all_refused_in_any_shape(tmp_path, ward, pump):
    stamps = ["1999-12-31T23:59:30Z", "1999-12-31T23:59:31.000Z", "1999-12-31T23:59:32.000+00:00"]
    path = tmp_path / "y2k.jsonl"
    path.write_text(
        "".join(
            json.dumps({"gateway": "gw-a", "sightings": [{"tag": TAG_ID, "rssi": -60, "ts": ts}]}) + "\n"
            for ts in stamps
        )
    )
    out, _ = replay(path)
    assert re.search(r"accepted 0, rejected 3, duplicates 0", out)
    assert "rejected 3: ts … is before the year … (epoch seconds instead of milliseconds?)" in out
    assert Tag.objects.get(tag_id=TAG_ID).last_seen is None
    assert not RoomInterval.objects.exists()


@pytest.mark.parametrize("reader", ["process", "inline"])
def test_a_number_beyond_the_float_range_is_one_bad_item_or_line_not_the_end_of_the_file(tmp_path, ward, pump, reader):
    huge = "9" * 400  # a valid JSON number, beyond any float

    def line(item: str, sent_at: str = f'"{format_ts(T0 + 5)}"') -> str:
        return f'{{"gateway": "gw-a", "sent_at": {sent_at}, "sightings": [{item}]}}'

    lines = [
        json.dumps(body("gw-a", [(TAG_ID, -60, T0)])),
        line(f'{{"tag": "{TAG_ID}", "rssi": {huge}, "ts": "{format_ts(T0 + 1)}"}}'),
        line(f'{{"tag": "{TAG_ID}", "rssi": -60, "ts": "{format_ts(T0 + 2)}", "battery": {huge}}}'),
        line(f'{{"tag": "{TAG_ID}", "rssi": -60, "ts": {huge}}}'),
        line(f'{{"tag": "{TAG_ID}", "rssi": -60, "ts": "{format_ts(T0 + 3)}"}}', sent_at=huge),
        json.dumps(body("gw-a", [(TAG_ID, -61, T0 + 4)])),
    ]
    path = tmp_path / "huge.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out, err = replay(path, "--reader", reader)
    assert re.search(r"accepted 2, rejected 3, duplicates 0", out)
    for field in ("rssi", "battery", "ts"):
        assert f"rejected 1: {field} … is not a finite number" in out
    assert "line 5: sent_at 99999999999999999999... is not a finite number (skipped)" in err
    assert "malformed lines skipped: 1" in out
    assert Tag.objects.get(tag_id=TAG_ID).last_seen == datetime.fromtimestamp(T0 + 4, tz=UTC)


@pytest.mark.parametrize("reader", ["process", "inline"])
def test_an_unexpected_error_on_one_line_is_that_line_reported_not_the_end_of_the_file(
    tmp_path, ward, pump, reader, monkeypatch
):
    validate = pipeline_module.validate_columns

    def breaks_on_rssi_minus_61(body, **kwargs):
        if body.sightings[0].rssi == -61:
            raise RuntimeError("a bug")
        return validate(body, **kwargs)

    monkeypatch.setattr(pipeline_module, "validate_columns", breaks_on_rssi_minus_61)
    path = tmp_path / "bug.jsonl"
    path.write_text(
        "".join(json.dumps(body("gw-a", [(TAG_ID, rssi, T0 + n)])) + "\n" for n, rssi in enumerate([-60, -61, -62]))
    )
    out, err = replay(path, "--reader", reader)
    assert "line 2: could not be read (RuntimeError: a bug) (skipped)" in err
    assert re.search(r"accepted 2, rejected 0", out)
    assert Tag.objects.get(tag_id=TAG_ID).last_seen == datetime.fromtimestamp(T0 + 2, tz=UTC)


def test_a_line_of_too_many_items_is_reported_as_bad(tmp_path, ward, pump, settings):
    settings.INGEST_MAX_BATCH_ITEMS = 50
    path = tmp_path / "big.jsonl"
    big = body("gw-a", [(TAG_ID, -60, T0 + n / 100) for n in range(51)])
    path.write_text(json.dumps(body("gw-a", [(TAG_ID, -60, T0 - 1)])) + "\n" + json.dumps(big) + "\n")
    out, err = replay(path)
    assert "line 2: the batch has 51 items, more than 50 (INGEST_MAX_BATCH_ITEMS); send smaller batches" in err
    assert re.search(r"accepted 1, rejected 0", out)


def test_a_recording_older_than_the_tags_binding_is_not_written_to_todays_asset(tmp_path, ward):
    """The tag was bound to this pump today: sightings stamped 2021 say nothing about the pump."""
    asset = AssetFactory(asset_tag="IP-00042")
    tag_bind(tag=TagFactory(tag_id=TAG_ID), asset=asset)
    old = datetime(2021, 3, 4, 10, 0, tzinfo=UTC).timestamp()
    path = tmp_path / "2021.jsonl"
    path.write_text("".join(json.dumps(b) + "\n" for b in pings(TAG_ID, "A", old, 20)))

    out, _ = replay(path)

    asset.refresh_from_db()
    assert (asset.current_room_id, asset.located_at, asset.last_seen) == (None, None, None)
    assert not RoomInterval.objects.exists()
    assert "not bound at that time 80 sightings, 0 estimates" in out
    assert "room changes 0" in out


def test_a_reused_tag_places_each_recording_on_the_asset_it_was_on_then(tmp_path, ward):
    day = datetime(2021, 3, 4, tzinfo=UTC).timestamp()
    before, after = AssetFactory(asset_tag="IP-OLD"), AssetFactory(asset_tag="IP-NEW")
    tag = TagFactory(tag_id=TAG_ID)
    tag_bind(tag=tag, asset=before, at=datetime.fromtimestamp(day + 9 * 3600, tz=UTC))  # 09:00 to 11:00
    tag_unbind(tag=tag, at=datetime.fromtimestamp(day + 11 * 3600, tz=UTC))
    tag_bind(tag=tag, asset=after)  # today
    path = tmp_path / "2021.jsonl"
    bodies = pings(TAG_ID, "A", day + 10 * 3600, 20) + pings(TAG_ID, "C", day + 12 * 3600, 20)  # 10:00, 12:00
    path.write_text("".join(json.dumps(b) + "\n" for b in bodies))

    out, _ = replay(path)

    assert [(code, entered.timestamp(), left) for code, entered, left in history(before)] == [
        ("A", day + 10 * 3600, None)
    ]
    before.refresh_from_db()
    assert before.current_room.code == "A"
    assert day + 10 * 3600 < before.last_seen.timestamp() < day + 11 * 3600
    after.refresh_from_db()
    assert (after.current_room_id, after.located_at, after.last_seen) == (None, None, None)
    assert history(after) == []
    assert "not bound at that time 80 sightings" in out  # the pings at 12:00: between the two bindings


def test_progress_goes_to_stderr_every_n_lines(tmp_path, ward, pump):
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(body("gw-a", [(TAG_ID, -60, T0 + n)])) + "\n" for n in range(5)))
    out, err = replay(path, "--progress-every", "2")
    progress = [line for line in err.splitlines() if "lines," in line]
    assert len(progress) == 2
    assert progress[0].strip().startswith("2 lines, 2 sightings")
    assert "so far" not in out


def test_a_missing_file_is_a_clear_error(tmp_path, ward):
    with pytest.raises(CommandError, match="no such file"):
        call_command("replay_sightings", str(tmp_path / "nope.jsonl"))
