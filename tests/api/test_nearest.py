"""Nearest available equipment: same floor by distance, then other floors, then other buildings; stale ones
after the located ones and marked; unavailable, decommissioned and missing ones never."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from declarations.states import AssetState
from lifecycle.nearest import assets_nearest_available
from lifecycle.selectors import assets_available_for_use
from lifecycle.services import recall_issue

URL = "/api/v1/assets/nearest/"


def tags(results):
    return [r.asset.asset_tag for r in results]


def test_ranks_same_floor_by_distance_then_other_floors_then_other_buildings_then_stale(hospital):
    far = hospital.place("W409", asset_tag="FAR-SAME-FLOOR")  # 60 m
    near = hospital.place("W402", asset_tag="NEAR-SAME-FLOOR")  # 10 m
    above = hospital.place("W201", asset_tag="ONE-FLOOR-UP")  # 0 m + 40 m
    south = hospital.place("S101", asset_tag="OTHER-BUILDING")  # 0 m + 250 m
    stale_near = hospital.place("W402", asset_tag="STALE-NEAR", seen_minutes_ago=45)
    here = hospital.place("W401", asset_tag="SAME-ROOM")

    results = assets_nearest_available(asset_type=hospital.pump, room=hospital.ward, limit=10)

    assert tags(results) == [
        "SAME-ROOM",
        "NEAR-SAME-FLOOR",
        "ONE-FLOOR-UP",
        "FAR-SAME-FLOOR",
        "OTHER-BUILDING",
        "STALE-NEAR",
    ]
    by_tag = {r.asset.asset_tag: r for r in results}
    assert by_tag["SAME-ROOM"].distance_m == 0.0
    assert by_tag["NEAR-SAME-FLOOR"].distance_m == pytest.approx(10.0)
    assert by_tag["ONE-FLOOR-UP"].distance_m == pytest.approx(40.0) and not by_tag["ONE-FLOOR-UP"].same_floor
    assert by_tag["OTHER-BUILDING"].distance_m == pytest.approx(250.0)
    assert not by_tag["OTHER-BUILDING"].same_building
    assert [r.stale for r in results] == [False] * 5 + [True]
    assert by_tag["STALE-NEAR"].location_status == "stale"
    assert {far, near, above, south, stale_near, here}  # all created


def test_never_lists_unavailable_decommissioned_missing_overdue_or_recalled_equipment(hospital):
    hospital.place("W402", asset_tag="OK")
    hospital.place("W402", asset_tag="RESERVED", state=AssetState.RESERVED)
    hospital.place("W402", asset_tag="IN-USE", state=AssetState.IN_USE)
    hospital.place("W402", asset_tag="RETIRED", state=AssetState.DECOMMISSIONED)
    hospital.place("W402", asset_tag="MISSING", seen_minutes_ago=60 * 25)
    hospital.place("EXIT1", asset_tag="LEFT-SITE", seen_minutes_ago=30)
    hospital.place("W402", asset_tag="MONITOR", asset_type=hospital.monitor)
    hospital.place("W402", asset_tag="PM-OVERDUE", last_pm_date=timezone.localdate() - timedelta(days=400))
    recalled = hospital.place("W402", asset_tag="RECALLED", model="Alaris 9000", serial_number="SN-R1")
    recall_issue(
        reference_number="R-1",
        manufacturer=recalled.manufacturer,
        model="Alaris 9000",
        serial_numbers=["SN-R1"],
        issued_date=date(2026, 11, 1),
    )

    results = assets_nearest_available(asset_type=hospital.pump, room=hospital.ward, limit=50)

    assert tags(results) == ["OK"]


def test_limit_is_applied_after_ordering(hospital):
    for i in range(5):
        hospital.place("W409", asset_tag=f"FAR-{i}")
    hospital.place("W402", asset_tag="NEAR")
    assert tags(assets_nearest_available(asset_type=hospital.pump, room=hospital.ward, limit=2)) == ["NEAR", "FAR-0"]


def test_http_endpoint_answers_with_distances_and_freshness(hospital, clients):
    hospital.place("W402", asset_tag="NEAR")
    hospital.place("W401", asset_tag="STALE", seen_minutes_ago=30)

    response = clients["nurse"].get(URL, {"type": "infusion-pump", "room": "W401", "limit": 5})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["origin"]["code"] == "W401"
    assert body["asset_type"]["slug"] == "infusion-pump"
    assert [(r["asset"]["asset_tag"], r["location_status"], r["stale"]) for r in body["results"]] == [
        ("NEAR", "located", False),
        ("STALE", "stale", True),
    ]
    assert body["results"][0]["room"]["code"] == "W402"
    assert body["results"][0]["distance_m"] == pytest.approx(10.0)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"type": "wheelchair", "room": "W401"}, "type"),
        ({"type": "infusion-pump", "room": "NOPE"}, "room"),
        ({"type": "infusion-pump", "room": "W401", "limit": 0}, "limit"),
        ({"room": "W401"}, "type"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(hospital, clients, params, field):
    response = clients["dispatch"].get(URL, params)
    assert response.status_code == 400
    assert field in response.json()["field_errors"]


def test_agrees_with_the_shared_definition_of_available(hospital):
    """The search checks PM and recalls page by page; the set it can return must be exactly what
    lifecycle.selectors.assets_available_for_use calls available (among located and stale assets)."""
    today = timezone.localdate()
    for i in range(30):
        hospital.place(
            ["W401", "W402", "W409", "W201", "S101"][i % 5],
            asset_tag=f"MIX-{i:02d}",
            seen_minutes_ago=[1, 30][i % 2],
            state=[AssetState.AVAILABLE, AssetState.AVAILABLE, AssetState.IN_USE][i % 3],
            last_pm_date=today - timedelta(days=[100, 370, 500, 10][i % 4]),
            serial_number=f"SN-MIX-{i}",
        )
    recall_issue(
        reference_number="R-MIX",
        manufacturer="BD",
        model="Alaris 8015",
        serial_numbers=[f"SN-MIX-{i}" for i in range(0, 30, 7)],
        issued_date=date(2026, 11, 1),
    )

    found = {
        r.asset.asset_tag for r in assets_nearest_available(asset_type=hospital.pump, room=hospital.ward, limit=100)
    }
    shared = set(assets_available_for_use(today=today).values_list("asset_tag", flat=True))
    assert found == shared and len(found) >= 5
