"""Par levels with live counts, alerts (acknowledge, resolve), work orders, recalls with affected assets, and
the places: floors carry their rooms as GeoJSON."""

from datetime import date

from lifecycle.alerts.models import ParLevel
from lifecycle.alerts.services import alert_raise
from lifecycle.services import recall_issue


def test_par_levels_count_available_located_assets_in_the_units_rooms(hospital, clients):
    ParLevel.objects.create(unit="4 West", asset_type=hospital.pump, target=3, critical=2)
    hospital.place("W402")
    hospital.place("W409")
    hospital.place("W409", seen_minutes_ago=30)  # stale: not counted
    hospital.place("W201")  # 2 West
    [par] = clients["dispatch"].get("/api/v1/par-levels/").json()["results"]
    assert (par["unit"], par["available_count"], par["below_critical"], par["shortfall"]) == ("4 West", 2, False, 1)


def test_alerts_can_be_acknowledged_and_resolved_once(hospital, clients):
    alert, _ = alert_raise(kind="missing", subject=hospital.place("W402"), message="not heard for 25 h")
    base = f"/api/v1/alerts/{alert.pk}/"
    assert clients["nurse"].post(base + "acknowledge/").status_code == 403
    acked = clients["dispatch"].post(base + "acknowledge/")
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "api-dispatch"
    again = clients["dispatch"].post(base + "acknowledge/")
    assert again.status_code == 409 and "already acknowledged" in again.json()["message"]
    resolved = clients["clinical_engineering"].post(base + "resolve/")
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert clients["nurse"].get("/api/v1/alerts/", {"open": "true"}).json()["results"] == []
    assert [a["id"] for a in clients["nurse"].get("/api/v1/alerts/", {"kind": "missing"}).json()["results"]] == [
        alert.pk
    ]


def test_recall_lists_affected_assets_with_their_location_and_work_order(hospital, clients):
    hit = hospital.place("W201", serial_number="SN-1", asset_tag="HIT")
    hospital.place("W402", serial_number="SN-2", asset_tag="MISS")
    result = recall_issue(
        reference_number="FSN-9",
        manufacturer="BD",
        model=hit.model,
        serial_numbers=["SN-1"],
        issued_date=date(2026, 11, 1),
    )
    affected = clients["dispatch"].get(f"/api/v1/recalls/{result.recall.pk}/affected-assets/").json()["results"]
    assert [
        (a["asset_tag"], a["room"]["code"], a["location_status"], a["recall_work_order_status"]) for a in affected
    ] == [("HIT", "W201", "located", "open")]
    orders = clients["security"].get("/api/v1/work-orders/", {"kind": "recall"}).json()["results"]
    assert [(o["asset_tag"], o["recall_reference"]) for o in orders] == [("HIT", "FSN-9")]


def test_floor_detail_has_room_polygons_as_geojson(hospital, clients):
    floor = hospital.ward.floor
    body = clients["nurse"].get(f"/api/v1/floors/{floor.pk}/").json()
    rooms = body["rooms"]
    assert rooms["type"] == "FeatureCollection"
    codes = {f["properties"]["code"]: f for f in rooms["features"]}
    assert set(codes) == {"W401", "W402", "W409", "EXIT1"}
    assert codes["W402"]["geometry"]["type"] == "Polygon"
    assert codes["W402"]["properties"]["centroid"] == [12.0, 2.0]
    listed = clients["nurse"].get("/api/v1/rooms/", {"floor": floor.pk, "room_type": "exit"}).json()["results"]
    assert [r["code"] for r in listed] == ["EXIT1"]
    assert clients["nurse"].get("/api/v1/buildings/").json()["count"] == 2
