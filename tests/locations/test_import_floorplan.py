"""import_floorplan: the GeoJSON contract of docs/design.md §5, all-or-nothing and idempotent."""

import copy
import io
import json

import pytest
from django.core.management import CommandError, call_command

from locations.models import Building, Floor, Receiver, Room, Site


def room(code, x, y, w=4.0, h=5.0, room_type="patient", unit="4 North", name=None):
    ring = [[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]
    props = {"kind": "room", "code": code, "name": name or f"Room {code}", "room_type": room_type, "unit": unit}
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}


def receiver(gateway_id, x, y, rssi=-59, **extra):
    return {
        "type": "Feature",
        "properties": {"kind": "receiver", "id": gateway_id, "rssi_at_1m": rssi, **extra},
        "geometry": {"type": "Point", "coordinates": [x, y]},
    }


def floor_plan(features, floor="4", level=4, building="North Tower", site="St Olaf Hospital"):
    return {
        "type": "FeatureCollection",
        "properties": {"site": site, "building": building, "floor": floor, "level": level, "units": "m"},
        "features": features,
    }


GOOD_FEATURES = [
    room("4N-401", 0, 0),
    room("4N-402", 4, 0),  # shares a wall with 4N-401: allowed
    room("4N-C1", 0, 5, w=8, h=2.5, room_type="corridor", unit=""),
    room("4N-SU", 8, 0, room_type="soiled_utility"),
    receiver("gw-n4-401", 2, 2.5, path_loss_exponent=2.2, height_m=2.7),
    receiver("gw-n4-c1", 4, 6.2, rssi=-61),
]


def write(tmp_path, name, document):
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def counts():
    return (
        Site.objects.count(),
        Building.objects.count(),
        Floor.objects.count(),
        Room.objects.count(),
        Receiver.objects.count(),
    )


def run_import(*paths):
    call_command("import_floorplan", *paths, stdout=open("/dev/null", "w"), stderr=open("/dev/null", "w"))


def refused(*paths) -> str:
    """Run the import expecting refusal; return everything it wrote to stderr plus the error."""
    err = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_floorplan", *paths, stdout=io.StringIO(), stderr=err)
    return err.getvalue() + str(excinfo.value)


@pytest.mark.django_db
def test_good_file_imports_floor_rooms_and_receivers(tmp_path):
    run_import(write(tmp_path, "n4.geojson", floor_plan(GOOD_FEATURES)))

    site = Site.objects.get()
    assert (site.code, site.name) == ("st-olaf-hospital", "St Olaf Hospital")
    floor = Floor.objects.get()
    assert (floor.building.name, floor.code, floor.level) == ("North Tower", "4", 4)
    r401 = Room.objects.get(code="4N-401")
    assert (r401.room_type, r401.unit, r401.floor, r401.site) == ("patient", "4 North", floor, site)
    assert (r401.centroid_x, r401.centroid_y, r401.area_m2) == pytest.approx((2.0, 2.5, 20.0))
    gw = Receiver.objects.get(gateway_id="gw-n4-401")
    assert (gw.x, gw.y, gw.rssi_at_1m, gw.path_loss_exponent, gw.height_m) == (2, 2.5, -59, 2.2, 2.7)
    assert gw.room == r401, "a receiver is placed in the room its point lies in"
    assert Receiver.objects.get(gateway_id="gw-n4-c1").room.code == "4N-C1"


@pytest.mark.django_db
def test_reimport_changes_nothing_and_edits_are_upserted(tmp_path):
    path = write(tmp_path, "n4.geojson", floor_plan(GOOD_FEATURES))
    run_import(path)
    before = counts()
    rooms_before = list(Room.objects.order_by("code").values())
    run_import(path)
    assert counts() == before
    assert list(Room.objects.order_by("code").values()) == rooms_before

    edited = floor_plan(copy.deepcopy(GOOD_FEATURES))
    edited["features"][0]["properties"]["name"] = "Isolation 401"
    edited["features"][4]["geometry"]["coordinates"] = [1.5, 2.0]

    out = io.StringIO()
    call_command("import_floorplan", write(tmp_path, "n4.geojson", edited), stdout=out, stderr=io.StringIO())
    assert counts() == before, "upsert by code and id: nothing duplicated"
    assert Room.objects.get(code="4N-401").name == "Isolation 401"
    assert (Receiver.objects.get(gateway_id="gw-n4-401").x, Receiver.objects.get(gateway_id="gw-n4-401").y) == (
        1.5,
        2.0,
    )
    assert "rooms 0 created, 1 updated, 3 unchanged" in out.getvalue()


@pytest.mark.django_db
def test_overlapping_rooms_are_refused_and_nothing_is_imported(tmp_path):
    features = [*GOOD_FEATURES, room("4N-403", 2, 0)]  # overlaps 401 and 402 by 10 m² each
    message = refused(write(tmp_path, "n4.geojson", floor_plan(features)))
    assert "feature 1 (room 4N-401) overlaps feature 7 (room 4N-403) by 10.00 m²" in message
    assert "nothing was imported" in message
    assert counts() == (0, 0, 0, 0, 0)


@pytest.mark.django_db
def test_room_missing_its_code_is_refused_naming_the_feature(tmp_path):
    features = copy.deepcopy(GOOD_FEATURES)
    del features[1]["properties"]["code"]
    message = refused(write(tmp_path, "n4.geojson", floor_plan(features)))
    assert 'n4.geojson: feature 2 (room): "code" is missing' in message
    assert counts() == (0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda f: f[0]["properties"].update(room_type="kitchen"),
            "feature 1 (room 4N-401): \"room_type\" 'kitchen' is not",
        ),
        (
            lambda f: f[0]["geometry"].update(coordinates=[[[0, 0], [4, 5], [4, 0], [0, 5], [0, 0]]]),
            "feature 1 (room 4N-401): polygon is not valid: Self-intersection",
        ),
        (lambda f: f[0]["geometry"].update(type="Point"), "feature 1 (room 4N-401): geometry must be a Polygon"),
        (
            lambda f: f[4]["properties"].update(rssi_at_1m="loud"),
            'feature 5 (receiver gw-n4-401): "rssi_at_1m" must be',
        ),
        (lambda f: f[5]["properties"].update(id="gw-n4-401"), "receiver id gw-n4-401 is used twice (also feature 5"),
        (lambda f: f[1]["properties"].update(code="4N-401"), "room code 4N-401 is used twice (also feature 1"),
        (lambda f: f[2]["properties"].update(kind="door"), 'feature 3 (door): "kind" must be "room" or "receiver"'),
    ],
)
@pytest.mark.django_db
def test_bad_features_are_named_with_their_problem(tmp_path, mutate, expected):
    features = copy.deepcopy(GOOD_FEATURES)
    mutate(features)
    assert expected in refused(write(tmp_path, "n4.geojson", floor_plan(features)))
    assert counts() == (0, 0, 0, 0, 0)


@pytest.mark.django_db
def test_bad_collection_properties_and_bad_json_are_refused(tmp_path):
    document = floor_plan(GOOD_FEATURES)
    document["properties"]["units"] = "ft"
    document["properties"]["level"] = "four"
    message = refused(write(tmp_path, "n4.geojson", document))
    assert '"units" must be "m"' in message and '"level" must be a whole number' in message

    bad = tmp_path / "broken.geojson"
    bad.write_text('{"type": "FeatureCollection", ')
    assert "broken.geojson: not valid JSON" in refused(str(bad))
    assert "missing.geojson: file not found" in refused(str(tmp_path / "missing.geojson"))


@pytest.mark.django_db
def test_one_bad_file_among_several_imports_nothing(tmp_path):
    good = write(tmp_path, "n4.geojson", floor_plan(GOOD_FEATURES))
    bad_features = [room("5N-501", 0, 0), room("5N-502", 1, 1)]
    bad = write(tmp_path, "n5.geojson", floor_plan(bad_features, floor="5", level=5))
    message = refused(good, bad)
    assert "n5.geojson: feature 1 (room 5N-501) overlaps feature 2 (room 5N-502)" in message
    assert counts() == (0, 0, 0, 0, 0)


@pytest.mark.django_db
def test_conflicts_with_rooms_already_in_the_database_are_refused(tmp_path):
    run_import(write(tmp_path, "n4.geojson", floor_plan(GOOD_FEATURES)))
    before = counts()
    # Same code on another floor of the same site.
    other_floor = floor_plan([room("4N-401", 0, 0)], floor="5", level=5)
    assert "room code 4N-401 already exists on North Tower · Floor 4" in refused(
        write(tmp_path, "n5.geojson", other_floor)
    )
    # A new room overlapping a room that the new file does not mention.
    overlap = floor_plan([room("4N-499", 1, 1)])
    assert "feature 1 (room 4N-499) overlaps existing room 4N-401" in refused(write(tmp_path, "n4b.geojson", overlap))
    assert counts() == before


@pytest.mark.django_db
def test_an_unseen_floorplan_with_several_floors_imports(tmp_path):
    """A layout this code has never seen: two stacked floors of another building, rooms touching at corners."""
    floors = []
    for level in (0, 1):
        features = [
            room(f"S{level}-{i}", (i % 6) * 3.0, (i // 6) * 3.0, w=3, h=3, room_type="storage") for i in range(12)
        ]
        features.append(receiver(f"gw-s{level}", 4.5, 1.5))
        floors.append(
            write(tmp_path, f"s{level}.geojson", floor_plan(features, floor=f"L{level}", level=level, building="South"))
        )
    run_import(*floors)
    assert Floor.objects.filter(building__code="south").count() == 2
    assert Room.objects.count() == 24
    assert Receiver.objects.get(gateway_id="gw-s1").room.code == "S1-1"


# Values the database would refuse are named, never a traceback ----------------------------------------


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["features"][0]["properties"].update(code="R" * 65),
            "(room " + "R" * 65 + '): "code" is longer than 64 characters',
        ),
        (lambda d: d["features"][0]["properties"].update(unit="U" * 65), '"unit" is longer than 64 characters'),
        (lambda d: d["features"][0]["properties"].update(name="N" * 201), '"name" is longer than 200 characters'),
        (lambda d: d["features"][4]["properties"].update(id="g" * 65), '"id" is longer than 64 characters'),
        (lambda d: d["features"][0]["properties"].update(code="4N\x00401"), '"code" contains a NUL character'),
        (lambda d: d["features"][4]["properties"].update(id="gw\x00"), '"id" contains a NUL character'),
        (
            lambda d: d["properties"].update(floor="F" * 33),
            'n4.geojson: collection properties: "floor" is longer than 32 characters',
        ),
        (
            lambda d: d["properties"].update(site="S" * 65),
            'n4.geojson: collection properties: "site" is longer than 64 characters',
        ),
        (
            lambda d: d["properties"].update(building_name="B" * 201),
            'collection properties: "building_name" is longer than 200 characters',
        ),
        (lambda d: d["properties"].update(site="St\x00Olaf"), 'collection properties: "site" contains a NUL character'),
        (
            lambda d: d["properties"].update(level=10**12),
            'collection properties: "level" must be from -20 to 200, got 1000000000000',
        ),
        (
            lambda d: d["features"][0]["geometry"].update(coordinates=[[[0, 0], [1e308, 0], [1e308, 1e308], [0, 0]]]),
            "feature 1 (room 4N-401): coordinates must be floor metres within 100,000 m of the origin",
        ),
        (
            lambda d: d["features"][4]["geometry"].update(coordinates=[2, 1e200]),
            "feature 5 (receiver gw-n4-401): coordinates must be floor metres within 100,000 m of the origin",
        ),
    ],
)
@pytest.mark.django_db
def test_values_the_database_would_refuse_are_named(tmp_path, mutate, expected):
    document = floor_plan(copy.deepcopy(GOOD_FEATURES))
    mutate(document)
    message = refused(write(tmp_path, "n4.geojson", document))
    assert expected in message and "nothing was imported" in message
    assert counts() == (0, 0, 0, 0, 0)


@pytest.mark.django_db
def test_json_nested_too_deeply_or_with_an_endless_number_is_named(tmp_path):
    deep = tmp_path / "deep.geojson"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert "deep.geojson: not valid GeoJSON: arrays or objects nested too deeply" in refused(str(deep))
    endless = tmp_path / "endless.geojson"
    endless.write_text(json.dumps(floor_plan(GOOD_FEATURES)).replace('"level": 4', '"level": ' + "9" * 5000))
    assert "endless.geojson: not valid JSON" in refused(str(endless))
    assert counts() == (0, 0, 0, 0, 0)


@pytest.mark.django_db
def test_a_file_with_a_byte_order_mark_imports(tmp_path):
    path = tmp_path / "n4.geojson"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(floor_plan(GOOD_FEATURES)).encode())
    run_import(str(path))
    assert (Room.objects.count(), Receiver.objects.count()) == (4, 2)


# Receivers: never moved off a floor the import does not touch, never outside every room ---------------


@pytest.mark.django_db
def test_a_plan_of_another_floor_does_not_move_a_live_gateway(tmp_path):
    run_import(write(tmp_path, "n4.geojson", floor_plan(GOOD_FEATURES)))
    before = list(Receiver.objects.order_by("gateway_id").values("gateway_id", "floor_id", "x", "y", "room_id"))
    probe = floor_plan([room("P-1", 0, 0), receiver("gw-n4-401", 2, 2)], site="Probe Site", floor="2", level=2)
    message = refused(write(tmp_path, "probe.geojson", probe))
    assert (
        "probe.geojson: feature 2 (receiver gw-n4-401): receiver id gw-n4-401 is already on North Tower · Floor 4 "
        "(site st-olaf-hospital)"
    ) in message
    assert list(Receiver.objects.order_by("gateway_id").values("gateway_id", "floor_id", "x", "y", "room_id")) == before
    assert not Site.objects.filter(code="probe-site").exists()

    # Moving it on purpose: both floors in one run, the old floor's plan without it.
    old = floor_plan([f for f in copy.deepcopy(GOOD_FEATURES) if f["properties"].get("id") != "gw-n4-401"])
    new = floor_plan([room("5N-501", 0, 0), receiver("gw-n4-401", 2, 2)], floor="5", level=5)
    run_import(write(tmp_path, "n4.geojson", old), write(tmp_path, "n5.geojson", new))
    moved = Receiver.objects.get(gateway_id="gw-n4-401")
    assert (moved.floor.code, moved.room.code) == ("5", "5N-501")


@pytest.mark.django_db
def test_a_receiver_outside_every_room_is_refused(tmp_path):
    features = [*copy.deepcopy(GOOD_FEATURES), receiver("gw-lost", 40, 2.5)]
    message = refused(write(tmp_path, "n4.geojson", floor_plan(features)))
    assert (
        "n4.geojson: feature 7 (receiver gw-lost): the point (40, 2.5) is outside every room of North Tower · Floor 4"
    ) in message
    assert counts() == (0, 0, 0, 0, 0)
