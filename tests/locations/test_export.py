"""manage.py export_location_history: the exact formats of docs/design.md §5."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from locations.models import Room, RoomInterval
from tests.factories import AssetFactory
from tests.locations.sim_hospital import make_ward


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def stays(db):
    ward = make_ward(building_code="north", floor_code="4")
    pump = AssetFactory(asset_tag="IP-00001")
    bed = AssetFactory(asset_tag="BED-0002")
    RoomInterval.objects.create(
        asset=pump,
        room=ward.rooms["A"],
        entered_at=utc(2026, 11, 18, 8, 0, 0, 123000),
        left_at=utc(2026, 11, 18, 8, 30),
    )
    RoomInterval.objects.create(asset=pump, room=ward.rooms["COR"], entered_at=utc(2026, 11, 18, 8, 30))
    RoomInterval.objects.create(
        asset=bed, room=ward.rooms["B"], entered_at=utc(2026, 11, 18, 7, 0), left_at=utc(2026, 11, 18, 7, 10)
    )
    return ward


def export(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("export_location_history", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_jsonl_is_one_object_per_stay_oldest_first(stays):
    out, err = export()
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [
        {
            "asset_tag": "BED-0002",
            "room": "B",
            "floor": "4",
            "building": "north",
            "entered_at": "2026-11-18T07:00:00.000Z",
            "left_at": "2026-11-18T07:10:00.000Z",
        },
        {
            "asset_tag": "IP-00001",
            "room": "A",
            "floor": "4",
            "building": "north",
            "entered_at": "2026-11-18T08:00:00.123Z",
            "left_at": "2026-11-18T08:30:00.000Z",
        },
        {
            "asset_tag": "IP-00001",
            "room": "COR",
            "floor": "4",
            "building": "north",
            "entered_at": "2026-11-18T08:30:00.000Z",
            "left_at": None,
        },
    ]
    assert list(json.loads(out.splitlines()[0])) == ["asset_tag", "room", "floor", "building", "entered_at", "left_at"]
    assert "3 stays exported" in err


def test_csv_has_the_header_and_the_same_rows(stays):
    out, _ = export("--format", "csv")
    assert out == (
        "asset_tag,room,floor,building,entered_at,left_at\n"
        "BED-0002,B,4,north,2026-11-18T07:00:00.000Z,2026-11-18T07:10:00.000Z\n"
        "IP-00001,A,4,north,2026-11-18T08:00:00.123Z,2026-11-18T08:30:00.000Z\n"
        "IP-00001,COR,4,north,2026-11-18T08:30:00.000Z,\n"
    )


def test_since_keeps_stays_going_on_then_or_begun_after(stays):
    out, _ = export("--since", "2026-11-18T08:10:00Z")
    assert [(row["asset_tag"], row["room"]) for row in map(json.loads, out.splitlines())] == [
        ("IP-00001", "A"),
        ("IP-00001", "COR"),
    ]
    out, _ = export("--since", "2026-11-18T09:00:00+01:00")  # 08:00Z: the bed left at 07:10
    assert len(out.splitlines()) == 2
    out, _ = export("--since", "2026-11-18")  # a date is midnight (TIME_ZONE, UTC here)
    assert len(out.splitlines()) == 3


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "18/11/2026"])
def test_a_bad_since_is_a_clear_error(stays, value):
    with pytest.raises(CommandError, match=rf"--since '{value}' is not an ISO 8601 date or time"):
        export("--since", value)


def test_output_file(stays, tmp_path):
    target = tmp_path / "history.csv"
    _, err = export("--format", "csv", "--output", str(target))
    assert target.read_text().splitlines()[0] == "asset_tag,room,floor,building,entered_at,left_at"
    assert len(target.read_text().splitlines()) == 4
    assert f"3 stays exported to {target}" in err
    assert not list(tmp_path.glob(".*partial"))


def test_output_into_a_missing_directory_is_refused(stays, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        export("--output", str(tmp_path / "nowhere" / "history.jsonl"))


def test_an_empty_history_exports_nothing_but_the_csv_header(db):
    out, err = export("--format", "csv")
    assert out == "asset_tag,room,floor,building,entered_at,left_at\n"
    out, err = export()
    assert out == "" and "0 stays exported" in err


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(stays):
    """Asset tags and room codes come from imported files: none may run as a formula in a spreadsheet."""
    evil = AssetFactory(asset_tag="+cmd|' /C calc'!A0")
    room = stays.rooms["B"]
    Room.objects.filter(pk=room.pk).update(code="@SUM(1+1)")
    RoomInterval.objects.create(asset=evil, room=room, entered_at=utc(2026, 11, 18, 9, 0))
    out, _ = export("--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    cells = [cell for row in rows[1:] for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]
    assert ["'+cmd|' /C calc'!A0", "'@SUM(1+1)"] == rows[-1][:2]
