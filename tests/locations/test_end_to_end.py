"""From files to rooms: an unseen floor plan and asset list, imported through the real commands, get
correct rooms through replay_sightings and export_location_history; entering the soiled utility room
applies the room-type rule (docs/design.md §3) from the replayed file."""

import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from assets.models import Asset, TagBinding
from declarations.states import AssetState
from declarations.tag_ids import format_tag_id
from lifecycle.models import Source, TransitionLog
from locations.models import Room
from locations.pipeline import reset_pipeline, site_plan_from_db
from locations.simulator import SimTag, Simulator, gateway_bodies

T0 = 1_795_100_000.0


def room(code, room_type, x0, y0, x1, y1):
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {
        "type": "Feature",
        "properties": {"kind": "room", "code": code, "name": code, "room_type": room_type, "unit": "7 East"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def receiver(gateway_id, x, y):
    return {
        "type": "Feature",
        "properties": {"kind": "receiver", "id": gateway_id, "rssi_at_1m": -59, "height_m": 2.7},
        "geometry": {"type": "Point", "coordinates": [x, y]},
    }


def unseen_floor() -> dict:
    """An L-shaped unit no other test uses: four rooms off a corridor, and a soiled utility at the end."""
    features = [
        room("7E-701", "patient", 0, 0, 4.5, 6),
        room("7E-702", "patient", 4.5, 0, 9, 6),
        room("7E-703", "patient", 9, 0, 13.5, 6),
        room("7E-COR", "corridor", 0, 6, 18, 8.5),
        room("7E-SU", "soiled_utility", 13.5, 0, 18, 6),
        room("7E-704", "procedure", 0, 8.5, 6, 13),
    ]
    centres = {"7E-701": (2.2, 3), "7E-702": (6.8, 3), "7E-703": (11.2, 3), "7E-COR": (9, 7.2),
               "7E-SU": (15.7, 3), "7E-704": (3, 10.7)}  # fmt: skip
    features += [receiver(f"gw-{code.lower()}", x, y) for code, (x, y) in centres.items()]
    return {
        "type": "FeatureCollection",
        "properties": {"site": "Lakeside Clinic", "building": "East Wing", "floor": "7", "level": 7, "units": "m"},
        "features": features,
    }


@pytest.mark.django_db
def test_files_in_rooms_out(tmp_path, django_capture_on_commit_callbacks):
    reset_pipeline()
    plan_path = tmp_path / "east-7.geojson"
    plan_path.write_text(json.dumps(unseen_floor()))
    csv_path = tmp_path / "assets.csv"
    csv_path.write_text(
        "asset_tag,asset_type,tag_id,manufacturer,model,serial_number\n"
        "LC-1,Infusion pump,C3:00:00:00:07:01,BD,Alaris 8015,A1\n"
        "LC-2,Wheelchair,c30000000702,Invacare,Tracer SX5,W2\n"
    )
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    call_command("import_floorplan", str(plan_path), **quiet)
    call_command("import_assets", str(csv_path), **quiet)
    # The import binds the tags now; the recording below is of 2026-11-19. Tags are placed on the asset they
    # were on at each sighting's time, so say they were put on these assets before the recording was made.
    TagBinding.objects.update(bound_at=datetime.fromtimestamp(T0 - 86400, tz=UTC))
    rooms = {r.code: r.pk for r in Room.objects.all()}

    # The pump rests in 702, is wheeled to the soiled utility after 2 minutes; the wheelchair stays in 704.
    tags = [
        SimTag("c30000000701", start_room_id=rooms["7E-702"], itinerary=((120.0, rooms["7E-SU"]),)),
        SimTag("c30000000702", start_room_id=rooms["7E-704"], itinerary=((3600.0, rooms["7E-704"]),)),
    ]
    sim = Simulator(site_plan_from_db(), tags, start_ts=T0, seed=7)
    recording = tmp_path / "sightings.jsonl"
    with recording.open("w") as out:
        for _ in range(300):
            for body in gateway_bodies(sim.advance(1.0), sent_at=sim.now + 0.2, tag_format=format_tag_id):
                out.write(json.dumps(body) + "\n")
    truth = sim.drain_truth()
    assert [(t.tag_id, t.room_code) for t in truth] == [
        ("c30000000701", "7E-702"),
        ("c30000000702", "7E-704"),
        ("c30000000701", "7E-COR"),
        ("c30000000701", "7E-SU"),
    ]

    with django_capture_on_commit_callbacks(execute=True):  # the pipeline announces after commit
        call_command("replay_sightings", str(recording), **quiet)
    export = io.StringIO()
    call_command("export_location_history", "--format", "jsonl", stdout=export)
    lines = [json.loads(line) for line in export.getvalue().splitlines()]

    pump_stays = [(x["room"], x["left_at"]) for x in lines if x["asset_tag"] == "LC-1"]
    assert pump_stays[0][0] == "7E-702" and pump_stays[-1] == ("7E-SU", None)
    assert {r for r, _ in pump_stays} <= {"7E-702", "7E-COR", "7E-703", "7E-SU"}
    chair_stays = [(x["room"], x["left_at"]) for x in lines if x["asset_tag"] == "LC-2"]
    assert chair_stays == [("7E-704", None)], "a resting asset never changes room"
    assert {x["floor"] for x in lines} == {"7"} and {x["building"] for x in lines} == {"east-wing"}

    # The rule moved the available pump to soiled when it entered the soiled utility, logged as the rule.
    pump = Asset.objects.get(asset_tag="LC-1")
    assert pump.state == AssetState.SOILED
    entry = TransitionLog.objects.get(asset=pump)
    assert (entry.source, entry.user, entry.from_state, entry.to_state) == (Source.RULE, None, "available", "soiled")
    assert entry.room.code == "7E-SU"
    assert Asset.objects.get(asset_tag="LC-2").state == AssetState.AVAILABLE
