"""Location history selectors: what the API, the admin and the export read."""

from datetime import UTC, datetime

import pytest

from locations.models import RoomInterval
from locations.pipeline import LocationPipeline
from locations.selectors import asset_location_history, location_history, room_occupants
from tests.factories import AssetFactory
from tests.locations.sim_hospital import T0, make_ward, pings, tagged_asset


def utc(hour, minute=0) -> datetime:
    return datetime(2026, 11, 18, hour, minute, tzinfo=UTC)


@pytest.fixture
def ward(db):
    return make_ward(building_code="north", floor_code="4")


@pytest.fixture
def pump(ward):
    pump = AssetFactory(asset_tag="IP-00001")
    RoomInterval.objects.create(asset=pump, room=ward.rooms["B"], entered_at=utc(9), left_at=utc(10))
    RoomInterval.objects.create(asset=pump, room=ward.rooms["A"], entered_at=utc(7), left_at=utc(9))
    RoomInterval.objects.create(asset=pump, room=ward.rooms["COR"], entered_at=utc(10))
    other = AssetFactory(asset_tag="IP-00002")
    RoomInterval.objects.create(asset=other, room=ward.rooms["A"], entered_at=utc(8))
    return pump


def test_history_is_oldest_first_with_room_floor_and_building_in_one_query(pump, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = [
            (i.room.code, i.room.floor.code, i.room.floor.building.code, i.entered_at, i.left_at)
            for i in asset_location_history(asset=pump)
        ]
    assert rows == [
        ("A", "4", "north", utc(7), utc(9)),
        ("B", "4", "north", utc(9), utc(10)),
        ("COR", "4", "north", utc(10), None),
    ]


def test_since_includes_the_stay_going_on_at_that_time(pump):
    assert [i.room.code for i in asset_location_history(asset=pump, since=utc(9, 30))] == ["B", "COR"]
    assert [i.room.code for i in asset_location_history(asset=pump, since=utc(9))] == ["B", "COR"]
    assert [i.room.code for i in asset_location_history(asset=pump, since=utc(23))] == ["COR"]


def test_all_assets_history_for_the_export(pump):
    assert [(i.asset.asset_tag, i.room.code) for i in location_history()] == [
        ("IP-00001", "A"),
        ("IP-00002", "A"),
        ("IP-00001", "B"),
        ("IP-00001", "COR"),
    ]


def test_who_is_in_a_room_now_and_then(pump, ward):
    assert [i.asset.asset_tag for i in room_occupants(room=ward.rooms["A"])] == ["IP-00002"]
    assert sorted(i.asset.asset_tag for i in room_occupants(room=ward.rooms["A"], at=utc(8, 30))) == [
        "IP-00001",
        "IP-00002",
    ]
    assert [i.asset.asset_tag for i in room_occupants(room=ward.rooms["B"], at=utc(11))] == []


def test_the_pipeline_writes_a_history_without_gaps(ward):
    asset, _ = tagged_asset("c3000000010a")
    pipe = LocationPipeline()
    for b in pings("c3000000010a", "A", T0, 30) + pings("c3000000010a", "C", T0 + 80, 30):
        pipe.ingest_batch(b, now=T0 + 1000)
    pipe.process(None)
    stays = list(asset_location_history(asset=asset))
    assert stays[0].room.code == "A" and stays[-1].room.code == "C" and stays[-1].left_at is None
    for before, after in zip(stays, stays[1:], strict=False):
        assert before.left_at == after.entered_at
    assert all(s.room.floor.building.code == "north" for s in stays)


def test_the_admin_lists_history_read_only(pump, client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw-for-tests-only")
    client.force_login(admin)
    response = client.get("/admin/locations/roominterval/?q=IP-00001")
    assert response.status_code == 200
    assert response.content.decode().count("IP-00001") >= 3
    assert client.get("/admin/locations/roominterval/add/").status_code == 403
    interval = RoomInterval.objects.filter(asset=pump).first()
    assert client.post(f"/admin/locations/roominterval/{interval.pk}/delete/", {"post": "yes"}).status_code == 403
