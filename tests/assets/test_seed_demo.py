"""`python manage.py seed_demo`: the demo hospital, loaded through the real import commands.

The hospital is seeded once for the module (inside a transaction rolled back at the end), because
seeding ~850 assets per test would make the suite slow. Each test still runs in its own savepoint.
"""

import csv
import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings
from shapely.geometry import Point, shape

from assets.demo import DEMO_USERS
from assets.models import Asset, AssetType, Tag, TagBinding
from declarations.room_types import RoomType
from declarations.tag_ids import normalize_tag_id
from locations.models import Building, Floor, Receiver, Room, Site

DEMO_DIR = Path(settings.BASE_DIR) / "demo"
FLOORPLANS = sorted((DEMO_DIR / "floorplans").glob("*.geojson"))
ASSETS_CSV = DEMO_DIR / "assets.csv"


def run_seed_demo(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The output of one seed_demo run; the data is rolled back after the module."""
    with django_db_blocker.unblock(), override_settings(DEBUG=True):
        with transaction.atomic():
            output = run_seed_demo()
            yield output
            transaction.set_rollback(True)


def snapshot() -> dict:
    """Every row seed_demo writes, with the timestamps an update would move."""
    User = get_user_model()
    return {
        "sites": list(Site.objects.values()),
        "buildings": list(Building.objects.values()),
        "floors": list(Floor.objects.values()),
        "rooms": list(Room.objects.values()),
        "receivers": list(Receiver.objects.values()),
        "asset_types": list(AssetType.objects.values()),
        "assets": list(Asset.objects.values()),
        "tags": list(Tag.objects.values()),
        "bindings": list(TagBinding.objects.values()),
        "users": list(User.objects.order_by("username").values()),
        "memberships": list(User.groups.through.objects.order_by("user_id", "group_id").values()),
    }


# --- The command against the database ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_refuses_when_debug_is_off_unless_forced():
    before = snapshot()
    with override_settings(DEBUG=False), pytest.raises(CommandError, match="--force"):
        run_seed_demo()
    assert snapshot() == before


@pytest.mark.django_db
def test_loads_a_hospital_of_the_promised_size(seeded):
    assert Site.objects.count() == 1
    site = Site.objects.get()
    assert site.code == "st-olaf"
    assert Building.objects.filter(site=site).count() == 2
    assert Floor.objects.count() >= 5
    assert Room.objects.count() >= 150
    assert set(Room.objects.values_list("room_type", flat=True)) == set(RoomType.values)
    for floor in Floor.objects.all():
        types = set(floor.rooms.values_list("room_type", flat=True))
        assert {RoomType.SOILED_UTILITY, RoomType.CLEAN_UTILITY, RoomType.NURSE_STATION} <= types, floor
        if floor.level == 0:
            assert RoomType.EXIT in types, f"{floor} is a ground floor without an exit"


@pytest.mark.django_db
def test_receivers_are_in_rooms_and_corridors(seeded):
    assert not Receiver.objects.filter(room__isnull=True).exists()
    assert (
        Receiver.objects.filter(room__room_type=RoomType.CORRIDOR).count()
        == Room.objects.filter(room_type=RoomType.CORRIDOR).count()
    )
    patient_rooms = Room.objects.filter(room_type=RoomType.PATIENT)
    assert patient_rooms.exclude(receivers__isnull=False).count() == 0
    for receiver in Receiver.objects.select_related("room"):
        assert receiver.floor_id == receiver.room.floor_id
        assert -62 <= receiver.rssi_at_1m <= -57


@pytest.mark.django_db
def test_every_asset_of_the_register_is_loaded_and_bound_to_its_tag(seeded):
    with ASSETS_CSV.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert Asset.objects.count() == len(rows) >= 800
    assert AssetType.objects.filter(assets__isnull=False).distinct().count() >= 8
    assets = {a.asset_tag: a for a in Asset.objects.select_related("tag", "asset_type")}
    for row in rows:
        asset = assets[row["asset_tag"]]
        assert asset.tag.tag_id == normalize_tag_id(row["tag_id"]), row["asset_tag"]
        assert asset.asset_type.name == row["asset_type"]
        assert (asset.manufacturer, asset.model, asset.serial_number) == (
            row["manufacturer"],
            row["model"],
            row["serial_number"],
        )
    open_bindings = TagBinding.objects.filter(unbound_at__isnull=True)
    assert open_bindings.count() == len(rows)
    assert set(open_bindings.values_list("asset__asset_tag", flat=True)) == set(assets)


@pytest.mark.django_db
def test_the_demo_users_sign_in_with_their_printed_passwords(seeded):
    for spec in DEMO_USERS:
        assert f"{spec.username}" in seeded and spec.password in seeded
        user = authenticate(username=spec.username, password=spec.password)
        assert user is not None, spec.username
        groups = set(user.groups.values_list("name", flat=True))
        assert groups == ({spec.role.group_name} if spec.role else set())
        assert user.is_staff == spec.is_staff
        assert user.is_superuser == spec.is_superuser
    User = get_user_model()
    assert User.objects.get(username="biomed").is_staff and User.objects.get(username="security").is_staff
    assert not User.objects.get(username="nurse").is_staff
    assert User.objects.get(username="admin").is_superuser


@pytest.mark.django_db
def test_a_second_run_changes_nothing(seeded):
    before = snapshot()
    with override_settings(DEBUG=True):
        output = run_seed_demo()
    assert snapshot() == before
    # Rooms and receivers carry no timestamp, so also hold the imports to what they report:
    # rooms, receivers and assets each "0 created, 0 updated".
    assert output.count("0 created, 0 updated") == 3, output
    assert output.count("already existed, left unchanged") == len(DEMO_USERS)


@pytest.mark.django_db
def test_a_second_run_keeps_a_password_the_administrator_changed(seeded):
    nurse = get_user_model().objects.get(username="nurse")
    nurse.set_password("changed-by-the-administrator")
    nurse.save()
    run_seed_demo("--force")
    assert authenticate(username="nurse", password="changed-by-the-administrator") is not None
    assert authenticate(username="nurse", password="nurse-demo-2026") is None


# --- The data files themselves, checked without the importer -----------------------------------------------------


def load_plans() -> list[dict]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in FLOORPLANS]


def test_the_committed_files_are_what_the_generator_writes(tmp_path):
    subprocess.run([sys.executable, str(DEMO_DIR / "generate.py"), "--out", str(tmp_path)], check=True, stdout=-1)
    generated = sorted((tmp_path / "floorplans").glob("*.geojson"))
    assert [p.name for p in generated] == [p.name for p in FLOORPLANS]
    for ours, theirs in zip(FLOORPLANS, generated, strict=True):
        assert ours.read_bytes() == theirs.read_bytes(), f"{ours.name} is stale: run python demo/generate.py"
    assert ASSETS_CSV.read_bytes() == (tmp_path / "assets.csv").read_bytes()


def test_every_floor_plan_has_valid_rooms_that_only_share_walls():
    assert len(FLOORPLANS) >= 5
    codes = set()
    for plan in load_plans():
        header = plan["properties"]
        assert header["units"] == "m" and {"site", "building", "floor", "level"} <= set(header)
        rooms = [f for f in plan["features"] if f["properties"]["kind"] == "room"]
        shapes = [shape(room["geometry"]) for room in rooms]
        for room, polygon in zip(rooms, shapes, strict=True):
            props = room["properties"]
            assert polygon.is_valid and polygon.area > 0, props["code"]
            assert props["room_type"] in RoomType.values
            assert props["code"] not in codes, f"room code {props['code']} is used twice on the site"
            codes.add(props["code"])
        for i, first in enumerate(shapes):
            for j in range(i + 1, len(shapes)):
                overlap = first.intersection(shapes[j]).area
                assert overlap <= 0.05, (rooms[i]["properties"]["code"], rooms[j]["properties"]["code"], overlap)


def test_every_receiver_is_inside_a_room_of_its_floor():
    gateway_ids = set()
    for plan in load_plans():
        rooms = [shape(f["geometry"]) for f in plan["features"] if f["properties"]["kind"] == "room"]
        receivers = [f for f in plan["features"] if f["properties"]["kind"] == "receiver"]
        assert receivers
        for receiver in receivers:
            gateway_id = receiver["properties"]["id"]
            point = Point(receiver["geometry"]["coordinates"])
            assert any(room.contains(point) for room in rooms), f"{gateway_id} is outside every room"
            assert gateway_id not in gateway_ids
            gateway_ids.add(gateway_id)


def test_floors_of_a_building_share_one_footprint():
    footprints: dict[str, set] = {}
    for plan in load_plans():
        bounds = [shape(f["geometry"]).bounds for f in plan["features"] if f["properties"]["kind"] == "room"]
        footprint = (
            min(b[0] for b in bounds),
            min(b[1] for b in bounds),
            max(b[2] for b in bounds),
            max(b[3] for b in bounds),
        )
        footprints.setdefault(plan["properties"]["building"], set()).add(footprint)
    assert len(footprints) == 2
    assert all(len(shapes) == 1 for shapes in footprints.values()), footprints
