"""Admin users per role, and a small hospital whose assets cover every state and location status."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from assets.services import tag_bind
from declarations.room_types import RoomType
from declarations.states import AssetState
from tests.factories import AssetFactory, TagFactory, UserFactory, build_hospital


def make_staff(user):
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def biomed_staff(biomed):
    return make_staff(biomed)


@pytest.fixture
def security_staff(security_officer):
    return make_staff(security_officer)


@pytest.fixture
def nurse_staff(db):
    """A nurse an administrator made staff but gave no permissions."""
    return make_staff(UserFactory(username="nurse-staff", roles=["Nurse"]))


@pytest.fixture
def dispatch_staff(db):
    return make_staff(UserFactory(username="dispatch-staff", roles=["Dispatch"]))


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def hospital(db):
    """Two buildings, three floors, a dozen assets in every state and location status."""
    now = timezone.now()
    today = timezone.localdate()
    built = build_hospital(
        buildings={
            "north": {"code": "north", "name": "North Tower"},
            "south": {"code": "south", "name": "South Pavilion"},
        },
        floors={
            "n1": {"building": "north", "code": "1", "level": 1, "name": "Floor 1"},
            "n2": {"building": "north", "code": "2", "level": 2, "name": "Floor 2"},
            "s1": {"building": "south", "code": "1", "level": 1, "name": "Floor 1"},
        },
        rooms={
            "n1-ward": {"floor": "n1", "code": "N1-101", "name": "Ward 101", "unit": "4 West"},
            "n2-ward": {"floor": "n2", "code": "N2-201", "name": "Ward 201", "unit": "ICU"},
            "n2-soiled": {
                "floor": "n2",
                "code": "N2-290",
                "name": "Soiled utility",
                "unit": "ICU",
                "room_type": RoomType.SOILED_UTILITY,
            },
            "s1-exit": {"floor": "s1", "code": "S1-EXIT", "name": "Loading dock", "room_type": RoomType.EXIT},
        },
        types={
            "pumps": {"name": "Infusion pump"},
            "monitors": {"name": "Patient monitor", "default_pm_interval_days": 180},
        },
    )
    floors, rooms = built.floors, built.rooms
    pumps, monitors = built.types["pumps"], built.types["monitors"]
    fresh = now - timedelta(minutes=2)
    stale = now - timedelta(hours=2)
    gone = now - timedelta(days=3)
    spec = [
        ("IP-001", pumps, AssetState.AVAILABLE, "n1-ward", fresh, {}),
        ("IP-002", pumps, AssetState.AVAILABLE, "n2-ward", stale, {}),
        ("IP-003", pumps, AssetState.IN_USE, "n2-ward", fresh, {}),
        ("IP-004", pumps, AssetState.SOILED, "n2-soiled", fresh, {}),
        ("IP-005", pumps, AssetState.CLEANING, "n1-ward", fresh, {"last_pm_date": today - timedelta(days=355)}),
        ("IP-006", pumps, AssetState.BIOMED, "n1-ward", fresh, {}),
        ("IP-007", pumps, AssetState.RESERVED, "n1-ward", fresh, {}),
        (
            "PM-001",
            monitors,
            AssetState.AVAILABLE,
            "n2-ward",
            gone,
            {"in_service_date": date(2020, 1, 1), "unit": "ICU"},
        ),
        ("PM-002", monitors, AssetState.IN_USE, "s1-exit", stale, {"unit": "ICU"}),
        ("PM-003", monitors, AssetState.AVAILABLE, None, None, {"model": "IntelliVue MX450"}),
        ("PM-004", monitors, AssetState.DECOMMISSIONED, None, gone, {}),
    ]
    assets = {}
    for tag, asset_type, state, room, seen, extra in spec:
        assets[tag] = AssetFactory(
            asset_tag=tag,
            asset_type=asset_type,
            state=state,
            current_room=rooms[room] if room else None,
            last_seen=seen,
            **extra,
        )
    for name in ("IP-001", "PM-001", "PM-002"):
        tag_bind(tag=TagFactory(), asset=assets[name])
    return {"floors": floors, "rooms": rooms, "assets": assets, "types": {"pumps": pumps, "monitors": monitors}}
