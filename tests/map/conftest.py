"""A small hospital for the floor-map tests: one building with floors 3 and 4, a second building, rooms at
known positions (squares of 4 m; centroids given below), infusion pumps and monitors."""

from __future__ import annotations

import pytest
from django.test import Client

from declarations.room_types import RoomType
from tests.factories import (
    Hospital,
    UserFactory,
    build_hospital,
)


def build_map_hospital() -> Hospital:
    """Map General: floors 4 and 3 of the North Tower, Day Surgery in the South Pavilion; 4 m square rooms
    (centroid at x + 2, y + 2); assets placed with a position, as the engine gives them."""
    rooms = {
        # code: (floor, x, y, room_type, unit)
        "4N-401": ("floor4", 0, 0, RoomType.PATIENT, "4 North"),
        "4N-402": ("floor4", 10, 0, RoomType.PATIENT, "4 North"),
        "4N-NS": ("floor4", 20, 0, RoomType.NURSE_STATION, "4 North"),
        "4N-STORE": ("floor4", 30, 0, RoomType.STORAGE, "4 North"),
        "4N-SOIL": ("floor4", 40, 0, RoomType.SOILED_UTILITY, "4 North"),
        "3N-301": ("floor3", 0, 0, RoomType.PATIENT, "3 North"),
        "S-101": ("south", 0, 0, RoomType.PROCEDURE, "Day Surgery"),
    }
    return build_hospital(
        site={"code": "map-general", "name": "Map General"},
        buildings={
            "tower": {"code": "north", "name": "North Tower"},
            "pavilion": {"code": "south", "name": "South Pavilion"},
        },
        floors={
            "floor4": {"building": "tower", "code": "4", "level": 4, "name": "4 North"},
            "floor3": {"building": "tower", "code": "3", "level": 3, "name": "3 North"},
            "south": {"building": "pavilion", "code": "1", "level": 1, "name": "Day Surgery"},
        },
        rooms={
            code: {"floor": floor, "at": (x, y), "name": f"Room {code}", "room_type": kind, "unit": unit}
            for code, (floor, x, y, kind, unit) in rooms.items()
        },
        types={
            "pump": {"name": "Infusion pump", "slug": "infusion-pump"},
            "monitor": {"name": "Vital signs monitor", "slug": "vital-signs-monitor"},
        },
        positions=True,
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
