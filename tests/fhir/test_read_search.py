"""FHIR R4 Device and Location: read, search, paging, _format, errors as OperationOutcome, auth by role.
Every resource returned is validated with fhir.resources' R4B models (tests/fhir/conftest.py)."""

from __future__ import annotations

import gc
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from assets.models import Asset, Tag
from declarations.states import AssetState
from locations.models import Room
from tests.factories import RoomFactory, TagFactory, square
from tests.fhir.conftest import FHIR_JSON, fhir_get, validate

SNOMED = "http://snomed.info/sct"
LIFECYCLE = "http://hospital-assets.example.org/fhir/StructureDefinition/asset-lifecycle-state"


def ok(response, status=200):
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith(FHIR_JSON)
    body = response.json()
    validate(body)
    return body


def ids(bundle):
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


@pytest.fixture
def coded(hospital):
    pump = hospital.pump
    pump.code_system, pump.code, pump.code_display = SNOMED, "44668000", "Pump"
    pump.save()
    return hospital


def test_device_read_carries_identifiers_type_state_and_current_room(coded, clients):
    asset = coded.place("W402", asset_tag="IP-00042", serial_number="SN-1", manufacturer="BD", model="Alaris 8015")
    TagFactory(tag_id="c300000001aa", asset=asset)

    device = ok(fhir_get(clients["nurse"], f"Device/{asset.pk}"))

    assert device["id"] == str(asset.pk)
    assert device["identifier"][0]["value"] == "IP-00042"
    assert device["identifier"][0]["system"] == "urn:hospital-assets:asset-tag"
    assert device["identifier"][1] == {
        "use": "secondary",
        "type": {"text": "RTLS tag"},
        "system": "urn:hospital-assets:rtls-tag",
        "value": "c3:00:00:00:01:aa",
    }
    assert device["serialNumber"] == "SN-1" and device["manufacturer"] == "BD"
    assert device["deviceName"] == [{"name": "Alaris 8015", "type": "model-name"}]
    assert device["type"]["coding"][0] == {"system": SNOMED, "code": "44668000", "display": "Pump"}
    assert device["type"]["coding"][1]["code"] == "infusion-pump"
    assert device["status"] == "active"
    room = coded.rooms["W402"]
    assert device["location"] == {"reference": f"Location/room-{room.pk}", "display": f"W402 {room.name}"}
    (lifecycle,) = [e for e in device["extension"] if e["url"] == LIFECYCLE]
    state, definition = lifecycle["extension"]
    assert state["valueCoding"]["code"] == "available" and state["valueCoding"]["display"] == "Available"
    assert definition["valueString"].startswith("Clean, working")
    assert device["owner"] == {"display": "4 West"}


def test_stale_device_keeps_its_room_and_says_stale_missing_has_no_location(coded, clients):
    stale = coded.place("W402", seen_minutes_ago=60)
    missing = coded.place("W402", seen_minutes_ago=60 * 48)

    stale_device = ok(fhir_get(clients["nurse"], f"Device/{stale.pk}"))
    missing_device = ok(fhir_get(clients["nurse"], f"Device/{missing.pk}"))

    assert stale_device["location"]["reference"] == f"Location/room-{coded.rooms['W402'].pk}"
    status = {e["url"].rsplit("/", 1)[1]: e for e in stale_device["extension"]}
    assert status["asset-location-status"]["valueCoding"]["code"] == "stale"
    assert status["asset-last-seen"]["valueDateTime"].startswith(str(stale.last_seen.year))
    assert "location" not in missing_device
    missing_status = {e["url"].rsplit("/", 1)[1]: e for e in missing_device["extension"]}
    assert missing_status["asset-location-status"]["valueCoding"]["code"] == "missing"


@pytest.mark.parametrize(
    "state,status",
    [
        (AssetState.AVAILABLE, "active"),
        (AssetState.RESERVED, "active"),
        (AssetState.IN_USE, "active"),
        (AssetState.SOILED, "active"),
        (AssetState.CLEANING, "active"),
        (AssetState.BIOMED, "inactive"),
        (AssetState.DECOMMISSIONED, "inactive"),
    ],
)
def test_seven_states_map_to_device_status(hospital, clients, state, status):
    asset = hospital.place("W401", state=state)
    device = ok(fhir_get(clients["dispatch"], f"Device/{asset.pk}"))
    assert device["status"] == status
    assert ids(ok(fhir_get(clients["dispatch"], "Device", status=status))) == [str(asset.pk)]
    assert ids(ok(fhir_get(clients["dispatch"], "Device", **{"lifecycle-state": str(state)}))) == [str(asset.pk)]


def test_locations_form_the_hierarchy_with_physical_types(hospital, clients, settings):
    settings.FHIR_ORGANIZATION_NAME = "St Olaf Health"
    corridor = RoomFactory(floor=hospital.ward.floor, code="4N-C1", room_type="corridor", polygon=square(200, 0))
    room = hospital.rooms["W401"]
    floor, building, site = room.floor, room.floor.building, room.site

    as_room = ok(fhir_get(clients["nurse"], f"Location/room-{room.pk}"))
    as_corridor = ok(fhir_get(clients["nurse"], f"Location/room-{corridor.pk}"))
    as_floor = ok(fhir_get(clients["nurse"], f"Location/floor-{floor.pk}"))
    as_building = ok(fhir_get(clients["nurse"], f"Location/building-{building.pk}"))
    as_site = ok(fhir_get(clients["nurse"], f"Location/site-{site.pk}"))

    def physical(resource):
        return resource["physicalType"]["coding"][0]["code"]

    assert [physical(r) for r in (as_site, as_building, as_floor, as_room, as_corridor)] == [
        "si",
        "bu",
        "lvl",
        "ro",
        "co",
    ]
    assert as_room["partOf"]["reference"] == f"Location/floor-{floor.pk}"
    assert as_floor["partOf"]["reference"] == f"Location/building-{building.pk}"
    assert as_building["partOf"]["reference"] == f"Location/site-{site.pk}"
    assert "partOf" not in as_site
    assert as_room["identifier"] == [{"system": "urn:hospital-assets:location-code", "value": "W401"}]
    assert as_floor["identifier"][0]["value"] == f"st-olaf/{building.code}/{floor.code}"
    assert as_room["name"] == room.name and as_room["status"] == "active"
    assert as_room["type"][0]["coding"][0]["code"] == "patient"
    assert as_room["managingOrganization"] == {"display": "St Olaf Health"}
    assert as_room["meta"]["lastUpdated"]


def test_location_search_parameters(hospital, clients):
    room = hospital.rooms["W401"]
    floor = room.floor
    nurse = clients["nurse"]

    def search(**params):
        return set(ids(ok(fhir_get(nurse, "Location", **params))))

    floor_rooms = {f"room-{r.pk}" for r in Room.objects.filter(floor=floor)}
    assert search(partof=f"Location/floor-{floor.pk}") == floor_rooms
    assert search(identifier="W401") == {f"room-{room.pk}"}
    assert search(identifier="urn:hospital-assets:location-code|W401") == {f"room-{room.pk}"}
    assert search(identifier="other-system|W401") == set()
    assert search(identifier=f"st-olaf/{floor.building.code}/{floor.code}") == {f"floor-{floor.pk}"}
    south = floor.building.site.buildings.get(code="south")
    assert search(name="south") == {f"building-{south.pk}", f"floor-{south.floors.get().pk}"}  # "South 1" too
    assert set(ids(ok(nurse.get("/fhir/r4/Location", {"name:exact": "Level 1"})))) == {f"floor-{floor.pk}"}
    assert search(type="exit") == {f"room-{hospital.rooms['EXIT1'].pk}"}
    assert search(**{"physical-type": "si"}) == {f"site-{room.site_id}"}
    floors, buildings = search(**{"physical-type": "lvl"}), search(**{"physical-type": "bu"})
    assert len(floors) == 3 and len(buildings) == 2
    assert search(**{"physical-type": "lvl,bu"}) == floors | buildings  # comma: OR
    everything = search(_count="500")
    assert search(status="active") == everything and search(status="inactive") == set()
    assert len(everything) == 1 + 2 + 3 + 6
    assert search(_lastUpdated=f"ge{(timezone.now() - timedelta(hours=1)).date().isoformat()}") == everything
    assert search(_lastUpdated="lt2000-01-01") == set()
    # AND of two parameters: rooms of the floor that are exits.
    assert search(partof=f"Location/floor-{floor.pk}", type="exit") == {f"room-{hospital.rooms['EXIT1'].pk}"}


def test_device_search_parameters(coded, clients):
    w401 = coded.place("W401", asset_tag="A-W401", manufacturer="Baxter", model="Sigma")
    w201 = coded.place("W201", asset_tag="A-W201", asset_type=coded.monitor, model="IntelliVue")
    s101 = coded.place("S101", asset_tag="A-S101", state=AssetState.BIOMED)
    stale = coded.place("W402", asset_tag="A-STALE", seen_minutes_ago=60)
    gone = coded.place("W402", asset_tag="A-GONE", seen_minutes_ago=60 * 48)
    TagFactory(tag_id="c300000000ff", asset=w201)
    room = coded.rooms["W401"]
    floor, building, site = room.floor, room.floor.building, room.site
    dispatch = clients["dispatch"]

    def search(params):
        return {Asset.objects.get(pk=int(i)).asset_tag for i in ids(ok(dispatch.get("/fhir/r4/Device", params)))}

    assert search({"identifier": "A-W401"}) == {"A-W401"}
    assert search({"identifier": "c3:00:00:00:00:ff"}) == {"A-W201"}
    assert search({"identifier": "urn:hospital-assets:rtls-tag|C3-00-00-00-00-FF"}) == {"A-W201"}
    assert search({"identifier": "urn:hospital-assets:asset-tag|c3:00:00:00:00:ff"}) == set()
    assert search({"type": f"{SNOMED}|44668000"}) == {"A-W401", "A-S101", "A-STALE", "A-GONE"}
    assert search({"type": "patient-monitor"}) == {"A-W201"}
    assert search({"location": f"Location/room-{room.pk}"}) == {"A-W401"}
    assert search({"location": f"Location/room-{coded.rooms['W402'].pk}"}) == {"A-STALE"}  # not the missing one
    assert search({"location:below": f"Location/floor-{floor.pk}"}) == {"A-W401", "A-STALE"}
    assert search({"location:below": f"Location/building-{building.pk}"}) == {"A-W401", "A-W201", "A-STALE"}
    assert search({"location:below": f"site-{site.pk}"}) == {"A-W401", "A-W201", "A-S101", "A-STALE"}
    assert search({"location": f"Location/floor-{floor.pk}"}) == set()  # a Device points at rooms only
    assert search({"status": "inactive"}) == {"A-S101"}
    assert search({"manufacturer": "bax"}) == {"A-W401"}
    assert search({"model": "Intelli"}) == {"A-W201"}
    assert search({"model:contains": "ellivu"}) == {"A-W201"}
    assert search({"lifecycle-state": "biomed,in_use"}) == {"A-S101"}
    assert search({"type": "infusion-pump", "status": "active"}) == {"A-W401", "A-STALE", "A-GONE"}
    assert gone.pk and s101.pk and stale.pk and w401.pk


def test_paging_with_count_and_next_previous_links(hospital, clients):
    for n in range(7):
        hospital.place("W401", asset_tag=f"PAGE-{n}")
    nurse = clients["nurse"]

    seen, url, pages = [], "/fhir/r4/Device?_count=3", 0
    while url:
        bundle = ok(nurse.get(url))
        pages += 1
        assert bundle["total"] == 7
        seen += ids(bundle)
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        url = links.get("next")
        if url:
            url = url.split("testserver", 1)[1]
        if pages > 1:
            assert "previous" in links
    assert pages == 3 and len(seen) == 7 and len(set(seen)) == 7
    first = ok(nurse.get("/fhir/r4/Device", {"_count": "3"}))
    assert "previous" not in {link["relation"] for link in first["link"]}
    only_total = ok(nurse.get("/fhir/r4/Device", {"_count": "0"}))
    assert only_total["total"] == 7 and "entry" not in only_total or only_total["entry"] == []


def test_format_is_honoured_and_xml_is_refused(hospital, clients):
    asset = hospital.place("W401")
    nurse = clients["nurse"]
    assert nurse.get(f"/fhir/r4/Device/{asset.pk}", {"_format": "json"})["Content-Type"].startswith(FHIR_JSON)
    plain = nurse.get(f"/fhir/r4/Device/{asset.pk}", {"_format": "application/json"})
    assert plain.status_code == 200 and plain["Content-Type"].startswith("application/json")
    assert (
        nurse.get(f"/fhir/r4/Device/{asset.pk}", HTTP_ACCEPT="application/fhir+json; fhirVersion=4.0").status_code
        == 200
    )
    for refused in ({"_format": "xml"}, {"_format": "application/fhir+xml"}):
        response = nurse.get(f"/fhir/r4/Device/{asset.pk}", refused)
        body = ok(response, 406)
        assert body["issue"][0]["code"] == "not-supported" and "JSON" in body["issue"][0]["diagnostics"]
    assert (
        ok(nurse.get("/fhir/r4/Device", HTTP_ACCEPT="application/fhir+xml"), 406)["resourceType"] == "OperationOutcome"
    )


@pytest.mark.parametrize(
    "path,params,status,code,words",
    [
        ("Device", {"colour": "red"}, 400, "not-supported", "unknown search parameter 'colour'"),
        ("Device", {"location:above": "Location/room-1"}, 400, "not-supported", ":above"),
        ("Device", {"_lastUpdated": "ge2026-13-45"}, 400, "invalid", "not a real date"),
        ("Device", {"_lastUpdated": "yesterday"}, 400, "invalid", "is not a date"),
        ("Device", {"_count": "-1"}, 400, "invalid", "_count"),
        ("Device", {"location": "Patient/1"}, 400, "invalid", "must reference a Location"),
        ("Location", {"identifier": "a|b|c"}, 400, "invalid", "is not a token"),
        ("Device/999999", {}, 404, "not-found", "Device/999999"),
        ("Device/abc", {}, 404, "not-found", "Device/abc"),
        ("Location/room-0", {}, 404, "not-found", "Location/room-0"),
        ("Location/ward-1", {}, 404, "not-found", "site-N"),
        ("Patient", {}, 404, "not-found", "not supported"),
    ],
)
def test_errors_are_operation_outcomes_with_the_right_status(hospital, clients, path, params, status, code, words):
    body = ok(clients["nurse"].get(f"/fhir/r4/{path}", params), status)
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code
    assert words in body["issue"][0]["diagnostics"]


def test_lenient_handling_ignores_unknown_parameters(hospital, clients):
    hospital.place("W401")
    response = clients["nurse"].get("/fhir/r4/Device", {"colour": "red"}, HTTP_PREFER="handling=lenient")
    assert ok(response)["total"] == 1


def test_writes_are_405(hospital, clients):
    asset = hospital.place("W401")
    response = clients["dispatch"].put(f"/fhir/r4/Device/{asset.pk}", {}, format="json")
    assert ok(response, 405)["issue"][0]["code"] == "not-supported"
    assert Asset.objects.filter(pk=asset.pk).exists() and not Tag.objects.exists()


def test_a_device_page_is_freed_by_reference_counting_not_left_to_the_garbage_collector(hospital, clients):
    """No reference cycle holds a search page's rows or resources (docs/benchmarks.md, FHIR Device search):
    they go when the request ends, not at the next full collection, which would then have to free them."""
    for n in range(5):
        TagFactory(asset=hospital.place("W402", asset_tag=f"GC-{n}"))
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        response = fhir_get(clients["nurse"], "Device", _count=100)
        # Not response.json(): the test client caches the parsed body on the response, in a cycle of its own.
        assert response.status_code == 200 and len(json.loads(response.content)["entry"]) >= 5
        del response
        gc.collect()
        left = [
            type(o).__name__
            for o in gc.garbage
            # type(), not isinstance(): the garbage holds lazy objects (the CSP nonce) that isinstance would evaluate
            if type(o) in (Asset, Tag) or (type(o) is dict and o.get("resourceType") in {"Device", "Bundle"})
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []


@pytest.mark.parametrize("path", ["Device", "Location"])
@pytest.mark.parametrize("value", ["9999", "ge9999-12", "gt9999-12-31", "9999-12-31T23:59:59Z", "9999-12-31T23:59Z"])
def test_last_updated_at_the_end_of_year_9999_finds_nothing(hospital, clients, path, value):
    body = ok(clients["nurse"].get(f"/fhir/r4/{path}", {"_lastUpdated": value}), 200)
    assert body["resourceType"] == "Bundle"
    assert not body.get("entry")


@pytest.mark.parametrize("path", ["Device", "Location"])
@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-12:00", "lt0001-01-01T00:00:00+14:00"])
def test_last_updated_outside_utc_years_1_to_9999_is_a_400_naming_the_parameter(hospital, clients, path, value):
    body = ok(clients["nurse"].get(f"/fhir/r4/{path}", {"_lastUpdated": value}), 400)
    assert body["issue"][0]["code"] == "invalid"
    assert "_lastUpdated" in body["issue"][0]["diagnostics"] and "outside the dates" in body["issue"][0]["diagnostics"]


def test_the_dstu2_json_type_in_accept_is_answered_fhir_json(hospital, clients):
    for accept in ("application/json+fhir", "application/json+fhir; charset=utf-8", "text/html, application/json+fhir"):
        response = clients["nurse"].get("/fhir/r4/Device", HTTP_ACCEPT=accept)
        assert response.status_code == 200, accept
        assert response["Content-Type"].startswith("application/fhir+json")
        assert response.json()["resourceType"] == "Bundle"
