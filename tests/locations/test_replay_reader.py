"""replay_sightings' reader: decode + validation in a second process, sightings as columns to the engine.

What a user would notice if it went wrong: a different history from the same file, a rejection counted
differently, a failed reader passing for the end of the file."""

import io
import json
import os

import pytest
from django.core.management import call_command

from assets.models import Asset, Tag
from locations.models import Receiver, RoomInterval
from locations.pipeline import (
    LocationPipeline,
    ReaderCounts,
    ReaderProcess,
    ReplayReaderError,
    _steps_from_reader_process,
    replay_lines,
    replay_steps,
)
from tests.locations.sim_hospital import T0, body, forget_receivers, format_ts, make_ward, tagged_asset
from tests.locations.test_replay import TAG_ID, record

BUSY = ["c3000000020a", "c3000000020b", "c3000000020c"]


@pytest.fixture
def ward(db):
    return make_ward()


@pytest.fixture
def tagged(ward):
    tagged_asset(TAG_ID)
    for tag_id in BUSY:
        tagged_asset(tag_id)
    Tag.objects.create(tag_id="c3000000030a")  # registered, bound to no asset: not located, still seen


def mixed_lines(ward_path):
    """A recorded stretch with every kind of line: good bodies, bad items, malformed lines, an unknown
    gateway, a body typed generically (rssi as a string), an unregistered tag, an empty body."""
    lines = ward_path.read_text().splitlines()
    extra = [
        json.dumps(body("gw-a", [(TAG_ID, -61, T0 + 2, 55), ("zz", -61, T0 + 2), (TAG_ID, -150, T0 + 2.5)])),
        "{not json",
        "",
        json.dumps({"gateway": "gw-a"}),
        json.dumps(body("gw-nowhere", [(TAG_ID, -60, T0 + 3)])),
        json.dumps(
            {
                "gateway": "gw-b",
                "sent_at": format_ts(T0 + 4),
                "sightings": [{"tag": TAG_ID, "rssi": "loud", "ts": format_ts(T0 + 3)}],
            }
        ),
        json.dumps(body("gw-b", [("c3000000099f", -70, T0 + 3.5), ("c3000000030a", -70, T0 + 3.6, 80)])),
        json.dumps(body("gw-c", [(TAG_ID, -70, T0 + 3.7), (TAG_ID, -70, T0 + 3.7)])),  # a repeat within the body
        json.dumps({"gateway": "gw-c", "sent_at": format_ts(T0 + 5), "sightings": []}),
    ]
    return lines[:300] + extra + lines[300:]


def comparable(steps):
    out = []
    for step in steps:
        if step[0] == "ingest":
            c = step[1]
            out.append(
                (
                    "ingest",
                    c.gateway_ids,
                    c.gw.tolist(),
                    c.tag_ids,
                    c.tag.tolist(),
                    c.rssi.tolist(),
                    c.ts.tolist(),
                    c.battery.tolist(),
                )
            )
        elif step[0] == "progress":
            out.append(("progress", step[1].lines, step[1].sightings, step[1].rejected))
        else:
            out.append(step)
    return out


def test_the_reader_process_gives_the_same_steps_in_the_same_order(tmp_path, ward, tagged):
    record(tmp_path / "day.jsonl", ward, seconds=120, busy_tags=BUSY)
    lines = mixed_lines(tmp_path / "day.jsonl")
    known = frozenset(["gw-a", "gw-b", "gw-c", "gw-cor", "gw-exit"])
    options = {"known_gateways": known, "flush_every_s": 5.0, "progress_every": 100}

    here, there = ReaderCounts(), ReaderCounts()
    inline = comparable(replay_steps(iter(lines), counts=here, **options))
    forked = comparable(_steps_from_reader_process(iter(lines), counts=there, **options))

    assert forked == inline
    assert there == here
    kinds = {step[0] for step in inline}
    assert kinds == {"ingest", "process", "bad", "progress", "heard"}
    assert here.rejected == 2 + 1 + 1 and here.duplicates == 1  # "zz", -150, the unknown gateway, "loud"
    assert here.rejection_reasons["rssi must be a number of dBm, got 'loud'"] == 1
    assert [step[1] for step in inline if step[0] == "bad"] == [302, 304]


def snapshot():
    return (
        list(
            RoomInterval.objects.order_by("asset_id", "entered_at").values_list(
                "asset_id", "room_id", "entered_at", "left_at"
            )
        ),
        list(
            Asset.objects.order_by("pk").values_list(
                "pk", "current_room_id", "located_at", "position_x", "position_y", "position_radius_m", "last_seen"
            )
        ),
        list(Tag.objects.order_by("pk").values_list("pk", "battery_percent", "last_seen")),
        list(Receiver.objects.order_by("pk").values_list("pk", "last_heard", "clock_offset_s", "calibration_db")),
    )


def fresh_database():
    RoomInterval.objects.all().delete()
    Asset.objects.update(
        current_room=None, location_confidence=None, located_at=None, position_x=None, position_y=None, last_seen=None
    )
    Tag.objects.update(last_seen=None, battery_percent=None)
    forget_receivers()


def test_process_reader_inline_reader_and_sighting_objects_leave_the_same_history(tmp_path, ward, tagged):
    record(tmp_path / "day.jsonl", ward, seed=4, seconds=400, busy_tags=BUSY)
    lines = mixed_lines(tmp_path / "day.jsonl")
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")

    outputs, histories = [], []
    for reader in ("process", "inline"):
        out, err = io.StringIO(), io.StringIO()
        call_command("replay_sightings", str(path), "--reader", reader, stdout=out, stderr=err)
        outputs.append((out.getvalue().split("\n", 1)[1], err.getvalue()))  # all but the timing line
        histories.append(snapshot())
        fresh_database()

    # The reference: the same steps with Sighting objects through ingest_sightings (the queue's path).
    pipeline = LocationPipeline(notify=False)
    original = pipeline.ingest_columns
    pipeline.ingest_columns = lambda columns: pipeline.ingest_sightings(columns.sightings())
    reference = replay_lines(iter(lines), pipeline=pipeline)
    pipeline.ingest_columns = original
    histories.append(snapshot())

    assert len(histories[0][0]) > 10
    assert histories[0] == histories[1] == histories[2]
    assert outputs[0] == outputs[1]
    assert f"accepted {reference.accepted:,}, rejected {reference.rejected:,}" in outputs[0][0]
    assert "line 302: not valid JSON" in outputs[0][1]


def failing_lines(lines, at):
    for number, line in enumerate(lines, start=1):
        if number == at:
            raise RuntimeError("the disk went away")
        yield line


def test_an_error_in_the_reader_process_is_raised_and_the_file_is_not_finished(tmp_path, ward, tagged):
    record(tmp_path / "day.jsonl", ward, seconds=120, busy_tags=BUSY)
    lines = (tmp_path / "day.jsonl").read_text().splitlines()
    pipeline = LocationPipeline(notify=False)
    with pytest.raises(ReplayReaderError, match="(?s)reader process failed.*RuntimeError: the disk went away"):
        replay_lines(failing_lines(lines, at=5), pipeline=pipeline, reader_process=True)
    # Nothing of the file was committed as if it had ended: no final flush.
    assert not RoomInterval.objects.exists()
    assert not Tag.objects.filter(last_seen__isnull=False).exists()


def test_a_reader_process_that_dies_is_an_error_not_the_end_of_the_file(tmp_path, ward, tagged):
    def dying(lines):
        yield from lines[:3]
        os._exit(3)

    record(tmp_path / "day.jsonl", ward, seconds=60)
    lines = (tmp_path / "day.jsonl").read_text().splitlines()
    with pytest.raises(ReplayReaderError, match=r"exited \(code 3\) before the end of the file"):
        replay_lines(dying(lines), pipeline=LocationPipeline(notify=False), reader_process=True)
    assert not RoomInterval.objects.exists()


@pytest.mark.parametrize("reader", ["process", "inline"])
def test_a_line_that_is_not_utf8_is_reported_by_its_number_and_the_file_goes_on(tmp_path, ward, tagged, reader):
    path = tmp_path / "latin1.jsonl"
    good = [json.dumps(body("gw-a", [(TAG_ID, -60, T0 + n)])).encode() for n in range(3)]
    # Long enough that a decoder reading blocks would fail thousands of bytes into the file.
    path.write_bytes(b"\n".join([good[0]] * 60 + [b'{"gateway": "gw-\xe9t\xe9"}', good[1], good[2]]) + b"\n")
    out, err = io.StringIO(), io.StringIO()
    call_command("replay_sightings", str(path), "--reader", reader, stdout=out, stderr=err)
    assert "line 61: not UTF-8 text (byte 17 of the line is b'\\xe9') (skipped)" in err.getvalue()
    assert "malformed lines skipped: 1" in out.getvalue()
    assert Tag.objects.get(tag_id=TAG_ID).last_seen.timestamp() == T0 + 2


def test_a_file_that_starts_with_a_utf8_bom_is_read(tmp_path, ward, tagged):
    path = tmp_path / "bom.jsonl"
    lines = [json.dumps(body("gw-a", [(TAG_ID, -60, T0 + n)])) for n in range(2)]
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    out, err = io.StringIO(), io.StringIO()
    call_command("replay_sightings", str(path), stdout=out, stderr=err)
    assert "line 1" not in err.getvalue()
    assert "accepted 2, rejected 0" in out.getvalue()


def test_a_reader_started_with_other_receivers_than_the_pipeline_is_refused(tmp_path, ward, tagged):
    record(tmp_path / "day.jsonl", ward, seconds=30)
    lines = (tmp_path / "day.jsonl").read_text().splitlines()
    pipeline = LocationPipeline(notify=False)
    reader = ReaderProcess(
        lines, known_gateways=pipeline.known_gateways - {"gw-a"}, flush_every_s=5.0, progress_every=1000
    )
    with pytest.raises(ReplayReaderError, match="active receivers changed"):
        replay_lines(lines, pipeline=pipeline, reader_process=reader)
    assert not RoomInterval.objects.exists()
