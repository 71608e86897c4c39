"""A small hospital for the API tests: one site, two buildings, three floors, rooms at known positions."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import ApiTokenKind
from accounts.services import api_token_issue
from assets.models import Asset
from tests.factories import Hospital, UserFactory, build_hospital

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


def build_api_hospital() -> Hospital:
    """St Olaf: two buildings, three floors; the ward W401 asks, the others are at known distances."""
    return build_hospital(
        site={"code": "st-olaf", "name": "St Olaf General"},
        buildings={
            "north": {"code": "north", "name": "North Tower"},
            "south": {"code": "south", "name": "South Pavilion"},
        },
        floors={
            "a1": {"building": "north", "code": "1", "level": 1, "name": "Level 1"},
            "a2": {"building": "north", "code": "2", "level": 2, "name": "Level 2"},
            "b1": {"building": "south", "code": "S1", "level": 1, "name": "South 1"},
        },
        rooms={
            "W401": {"floor": "a1", "at": (0, 0), "unit": "4 West"},  # the ward asking
            "W402": {"floor": "a1", "at": (10, 0), "unit": "4 West"},  # 10 m away, same floor
            "W409": {"floor": "a1", "at": (60, 0), "unit": "4 West"},  # 60 m away, same floor
            "W201": {"floor": "a2", "at": (0, 0), "unit": "2 West"},  # straight above: 0 m + one floor
            "S101": {"floor": "b1", "at": (0, 0), "unit": "South 1"},  # other building
            "EXIT1": {"floor": "a1", "at": (100, 0), "unit": "", "room_type": "exit"},
        },
        types={"pump": {"name": "Infusion pump"}, "monitor": {"name": "Patient monitor"}},
        ward="W401",
    )


@pytest.fixture
def hospital(db) -> Hospital:
    return build_api_hospital()


def reload(asset: Asset) -> Asset:
    return Asset.objects.get(pk=asset.pk)
