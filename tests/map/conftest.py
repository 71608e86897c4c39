"""A small hospital for the floor-map tests: one building with floors 3 and 4, a second building, rooms at
known positions (squares of 4 m; centroids given below), infusion pumps and monitors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from assets.models import AssetType
from declarations.room_types import RoomType
from declarations.states import AssetState
from locations.models import Floor, Room
from tests.factories import (
    AssetFactory,
    AssetTypeFactory,
    BuildingFactory,
    FloorFactory,
    RoomFactory,
    SiteFactory,
    UserFactory,
    square,
)


@dataclass
class MapHospital:
    pump: AssetType
    monitor: AssetType
    floor4: Floor
    floor3: Floor
    south: Floor  # another building
    rooms: dict[str, Room] = field(default_factory=dict)

    def place(self, room: str, *, asset_type=None, state=AssetState.AVAILABLE, seen_minutes_ago=1.0, **kwargs):
        """An asset last heard ``seen_minutes_ago`` in the named room, with a position in it."""
        where = self.rooms[room]
        return AssetFactory(
            asset_type=asset_type or self.pump,
            state=state,
            current_room=where,
            position_x=where.centroid_x,
            position_y=where.centroid_y,
            position_radius_m=1.5,
            location_confidence=0.9,
            located_at=timezone.now() - timedelta(minutes=seen_minutes_ago),
            last_seen=timezone.now() - timedelta(minutes=seen_minutes_ago),
            **kwargs,
        )


def build_map_hospital() -> MapHospital:
    site = SiteFactory(code="map-general", name="Map General")
    tower = BuildingFactory(site=site, code="north", name="North Tower")
    pavilion = BuildingFactory(site=site, code="south", name="South Pavilion")
    floor4 = FloorFactory(building=tower, code="4", level=4, name="4 North")
    floor3 = FloorFactory(building=tower, code="3", level=3, name="3 North")
    south = FloorFactory(building=pavilion, code="1", level=1, name="Day Surgery")
    layout = {
        # code: (floor, x, y, room_type, unit)  -> centroid (x + 2, y + 2)
        "4N-401": (floor4, 0, 0, RoomType.PATIENT, "4 North"),
        "4N-402": (floor4, 10, 0, RoomType.PATIENT, "4 North"),
        "4N-NS": (floor4, 20, 0, RoomType.NURSE_STATION, "4 North"),
        "4N-STORE": (floor4, 30, 0, RoomType.STORAGE, "4 North"),
        "4N-SOIL": (floor4, 40, 0, RoomType.SOILED_UTILITY, "4 North"),
        "3N-301": (floor3, 0, 0, RoomType.PATIENT, "3 North"),
        "S-101": (south, 0, 0, RoomType.PROCEDURE, "Day Surgery"),
    }
    rooms = {
        code: RoomFactory(floor=floor, code=code, name=f"Room {code}", room_type=kind, unit=unit, polygon=square(x, y))
        for code, (floor, x, y, kind, unit) in layout.items()
    }
    return MapHospital(
        pump=AssetTypeFactory(name="Infusion pump", slug="infusion-pump"),
        monitor=AssetTypeFactory(name="Vital signs monitor", slug="vital-signs-monitor"),
        floor4=floor4,
        floor3=floor3,
        south=south,
        rooms=rooms,
    )


@pytest.fixture
def hospital(db):
    return build_map_hospital()


@pytest.fixture
def map_client():
    """map_client(user) -> a test Client signed in as that user (or anonymous for None)."""

    def make(user=None):
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def superuser(db):
    user = UserFactory(username="map-admin")
    user.is_superuser = True
    user.is_staff = True
    user.save()
    return user
