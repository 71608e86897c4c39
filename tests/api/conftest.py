"""A small hospital for the API tests: one site, two buildings, three floors, rooms at known positions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from assets.models import Asset, AssetType
from declarations.states import AssetState
from locations.models import Room
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

ROLES = {
    "nurse": ["Nurse"],
    "dispatch": ["Dispatch"],
    "clinical_engineering": ["Clinical engineering"],
    "security": ["Security"],
}


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()  # throttle counters live in the default cache
    yield
    cache.clear()


def client_for(user=None, *, step_up: bool = False) -> APIClient:
    """An API client with a long-lived token of ``user`` (or a short-lived step-up token: sign-off and
    decommission refuse the long-lived kind; tests/api/test_step_up.py goes through the real exchange)."""
    from accounts.models import ApiTokenKind
    from accounts.services import api_token_issue

    client = APIClient()
    if user is not None:
        issued = api_token_issue(user=user, kind=ApiTokenKind.STEP_UP if step_up else ApiTokenKind.API)
        client.credentials(HTTP_AUTHORIZATION=f"Token {issued.raw}")
    return client


@pytest.fixture
def users(db):
    # No password: tokens only, and no PBKDF2 rounds per test.
    return {role: UserFactory(username=f"api-{role}", roles=groups, password=None) for role, groups in ROLES.items()}


@pytest.fixture
def clients(users):
    return {"anonymous": client_for(None), **{role: client_for(user) for role, user in users.items()}}


@dataclass
class Hospital:
    pump: AssetType
    monitor: AssetType
    ward: Room  # 4 West, floor A1: the rooms asking for equipment
    rooms: dict[str, Room] = field(default_factory=dict)

    def place(self, room_key: str, *, asset_type=None, state=AssetState.AVAILABLE, seen_minutes_ago=1, **kwargs):
        """An asset last heard ``seen_minutes_ago`` in the named room."""
        return AssetFactory(
            asset_type=asset_type or self.pump,
            state=state,
            current_room=self.rooms[room_key],
            last_seen=timezone.now() - timedelta(minutes=seen_minutes_ago),
            **kwargs,
        )


def build_hospital() -> Hospital:
    site = SiteFactory(code="st-olaf", name="St Olaf General")
    north = BuildingFactory(site=site, code="north", name="North Tower")
    south = BuildingFactory(site=site, code="south", name="South Pavilion")
    a1 = FloorFactory(building=north, code="1", level=1, name="Level 1")
    a2 = FloorFactory(building=north, code="2", level=2, name="Level 2")
    b1 = FloorFactory(building=south, code="S1", level=1, name="South 1")

    def room(key, floor, x, y, **kwargs):
        return key, RoomFactory(floor=floor, code=key, polygon=square(x, y, 4.0), **kwargs)

    rooms = dict(
        [
            room("W401", a1, 0, 0, unit="4 West"),  # the ward asking
            room("W402", a1, 10, 0, unit="4 West"),  # 10 m away, same floor
            room("W409", a1, 60, 0, unit="4 West"),  # 60 m away, same floor
            room("W201", a2, 0, 0, unit="2 West"),  # straight above: 0 m + one floor
            room("S101", b1, 0, 0, unit="South 1"),  # other building
            room("EXIT1", a1, 100, 0, unit="", room_type="exit"),
        ]
    )
    pump = AssetTypeFactory(name="Infusion pump")
    monitor = AssetTypeFactory(name="Patient monitor")
    return Hospital(pump=pump, monitor=monitor, ward=rooms["W401"], rooms=rooms)


@pytest.fixture
def hospital(db) -> Hospital:
    return build_hospital()


def reload(asset: Asset) -> Asset:
    return Asset.objects.get(pk=asset.pk)
