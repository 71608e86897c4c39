"""The floor map's page and JSON endpoints: who gets in, what a floor shows, the polling fallback, actions."""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from django.utils import timezone

from accounts.services import api_token_issue
from assets.models import Asset
from declarations.room_types import RoomType
from declarations.states import STATE_DEFINITIONS, AssetState
from lifecycle.models import TransitionLog
from lifecycle.requests.models import EquipmentRequest
from lifecycle.services import asset_reserve, asset_start_use
from tests.factories import AssetFactory, RoomFactory, UserFactory, square

pytestmark = pytest.mark.django_db

MAP = "/map/"


def floor_url(floor):
    return f"/api/v1/map/floors/{floor.pk}/"


def action_url(asset):
    return f"/api/v1/map/assets/{asset.pk}/action/"


def post_json(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def db_state(asset):
    return Asset.objects.values_list("state", flat=True).get(pk=asset.pk)


# --- Who gets in -------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_maps_own_sign_in(map_client):
    response = map_client().get(MAP)
    assert response.status_code == 302
    assert response["Location"].startswith("/map/login/?next=/map/")


def test_a_nurse_signs_in_on_the_map_login_and_lands_on_the_map(hospital):
    UserFactory(username="ward-nurse", roles=["Nurse"])
    client = Client()
    response = client.post(
        "/map/login/", {"username": "ward-nurse", "password": "correct horse battery staple", "next": "/map/"}
    )
    assert response.status_code == 302 and response["Location"] == "/map/"
    assert client.get(MAP).status_code == 200


@pytest.mark.parametrize("who", ["nurse", "dispatcher", "biomed", "superuser"])
def test_map_roles_and_superusers_get_the_map(who, request, map_client, hospital):
    user = request.getfixturevalue(who)
    response = map_client(user).get(MAP)
    assert response.status_code == 200
    assert b'id="map"' in response.content


def test_security_only_users_get_403_with_an_explanation(security_officer, map_client, hospital):
    response = map_client(security_officer).get(MAP)
    assert response.status_code == 403
    assert b"Nurse" in response.content and b"Clinical engineering" in response.content


def test_json_endpoints_refuse_anonymous_and_non_map_users(security_officer, map_client, hospital):
    for client, code in ((map_client(), "not_authenticated"), (map_client(security_officer), "permission_denied")):
        for url in (
            floor_url(hospital.floors["floor4"]),
            f"{floor_url(hospital.floors['floor4'])}assets/",
            "/api/v1/map/places/?q=4N",
        ):
            response = client.get(url)
            assert response.status_code == 403, url
            assert response.json()["code"] == code


def test_the_maps_calls_take_the_pages_session_not_an_api_token(nurse, map_client, hospital):
    url = f"{floor_url(hospital.floors['floor4'])}assets/"
    token = api_token_issue(user=nurse).raw
    refused = Client().get(url, headers={"Authorization": f"Token {token}"})
    assert refused.status_code == 403 and refused.json()["code"] == "not_authenticated"
    assert "session" in refused.json()["message"]
    assert map_client(nurse).get(url).status_code == 200
    # The old URLs under /map/api/ are gone: the page calls /api/v1/map/.
    assert map_client(nurse).get(f"/map/api/floors/{hospital.floors['floor4'].pk}/assets/").status_code == 404


# --- The page --------------------------------------------------------------------------------------


def page_config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="map-config" type="application/json">') + len(
        '<script id="map-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_the_page_carries_the_shared_state_definitions_and_shows_them_in_the_legend(nurse, map_client, hospital):
    response = map_client(nurse).get(MAP)
    config = page_config(response)
    assert [s["value"] for s in config["legend"]["states"]] == list(STATE_DEFINITIONS)
    available = STATE_DEFINITIONS["available"]
    assert config["legend"]["states"][0] == {**available.as_dict(), "shape_label": "circle"}
    html = response.content.decode()
    for state in ("available", "in_use", "soiled", "biomed"):
        definition = STATE_DEFINITIONS[state]
        assert str(definition.definition) in html  # the legend prints each state's one definition
        assert f"({definition.shape}, {definition.icon})" in html  # and its shape and icon, not colour alone
    floors = [(f["building"], f["name"]) for f in config["floors"]]
    assert ("North Tower", "4 North") in floors and ("South Pavilion", "Day Surgery") in floors


def test_the_page_offers_each_role_only_the_actions_the_state_machine_allows_it(
    nurse, dispatcher, biomed, map_client, hospital
):
    assert page_config(map_client(nurse).get(MAP))["actions_by_state"] == {
        "available": ["start_use"],
        "in_use": ["return"],
    }
    assert page_config(map_client(dispatcher).get(MAP))["actions_by_state"] == {
        "available": ["start_use"],
        "in_use": ["return"],
    }
    assert page_config(map_client(biomed).get(MAP))["actions_by_state"] == {}  # biomed looks, nurses act


def test_leaflet_and_the_map_code_are_served_from_our_own_static_files(nurse, map_client, hospital):
    html = map_client(nurse).get(MAP).content.decode()
    assert "/static/vendor/leaflet/leaflet.js" in html and "/static/map/map.js" in html
    assert "unpkg" not in html and "cdn" not in html.lower()

    assert finders.find("vendor/leaflet/leaflet.js") and finders.find("vendor/leaflet/leaflet.css")
    assert finders.find("map/map.js") and finders.find("map/map.css")


# --- A floor -----------------------------------------------------------------------------------------


def test_a_floor_has_its_rooms_as_polygons_and_its_equipment_in_service(nurse, map_client, hospital):
    pump = hospital.place("4N-402", asset_tag="IP-1")
    stale = hospital.place("4N-STORE", asset_tag="IP-STALE", seen_minutes_ago=30)
    hospital.place("4N-402", asset_tag="IP-RETIRED", state=AssetState.DECOMMISSIONED)
    hospital.place("3N-301", asset_tag="IP-DOWNSTAIRS")

    body = map_client(nurse).get(floor_url(hospital.floors["floor4"])).json()

    assert body["floor"]["name"] == "4 North" and body["floor"]["building"] == "North Tower"
    rooms = {r["code"]: r for r in body["rooms"]}
    assert set(rooms) == {"4N-401", "4N-402", "4N-NS", "4N-STORE", "4N-SOIL"}
    assert rooms["4N-402"]["polygon"] == [[[10, 0], [14, 0], [14, 4], [10, 4], [10, 0]]]
    assert rooms["4N-402"]["c"] == [12.0, 2.0] and rooms["4N-SOIL"]["type"] == "soiled_utility"
    assert body["bounds"] == [[0, 0], [44, 4]]
    assets = {a["tag"]: a for a in body["assets"]}
    assert set(assets) == {"IP-1", "IP-STALE"}  # not the retired one, not the one downstairs
    assert assets["IP-1"] == {
        "id": pump.pk,
        "tag": "IP-1",
        "type": hospital.pump.pk,
        "model": "BD Alaris 8015",
        "state": "available",
        "room": hospital.rooms["4N-402"].pk,
        "x": 12.0,
        "y": 2.0,
        "r": 1.5,
        "conf": 0.9,
        "seen": pump.last_seen.isoformat(),
        "status": "located",
        # when it turns stale and missing without a new sighting: the page reads these (locations/freshness.py)
        "stale_at": (pump.last_seen + timedelta(seconds=settings.LOCATION_STALE_AFTER_SECONDS)).isoformat(),
        "missing_at": (pump.last_seen + timedelta(seconds=settings.LOCATION_MISSING_AFTER_SECONDS)).isoformat(),
        "svc": True,  # no overdue maintenance schedule (lifecycle.biomed)
        "loan": None,  # not on loan
    }
    assert assets["IP-STALE"]["status"] == "stale" and assets["IP-STALE"]["room"] == stale.current_room_id


def test_each_asset_carries_its_freshness_from_the_server_and_the_page_declares_no_thresholds(
    nurse, map_client, hospital
):
    exit_room = RoomFactory(
        floor=hospital.floors["floor4"], code="4N-EXIT", room_type=RoomType.EXIT, polygon=square(50, 0)
    )
    hospital.rooms["4N-EXIT"] = exit_room
    leaving = hospital.place("4N-EXIT", asset_tag="IP-LEAVING")
    AssetFactory(asset_tag="IP-NEVER", asset_type=hospital.pump, current_room=hospital.rooms["4N-401"], last_seen=None)
    client = map_client(nurse)

    assets = {a["tag"]: a for a in client.get(floor_url(hospital.floors["floor4"])).json()["assets"]}

    # Seen in an exit: located now, then straight to missing when the stale window ends (it left the site).
    stale_window = timedelta(seconds=settings.LOCATION_STALE_AFTER_SECONDS)
    assert assets["IP-LEAVING"]["status"] == "located" and assets["IP-LEAVING"]["stale_at"] is None
    assert assets["IP-LEAVING"]["missing_at"] == (leaving.last_seen + stale_window).isoformat()
    # Never seen: missing, and nothing will change that but a sighting.
    assert (assets["IP-NEVER"]["status"], assets["IP-NEVER"]["stale_at"], assets["IP-NEVER"]["missing_at"]) == (
        "missing",
        None,
        None,
    )
    config = page_config(client.get(MAP))
    assert "stale_after_s" not in config and "missing_after_s" not in config
    assert [s["value"] for s in config["legend"]["location_statuses"]] == ["located", "stale", "missing"]


def test_unknown_floor_is_a_404_not_a_500(nurse, map_client, hospital):
    response = map_client(nurse).get("/api/v1/map/floors/999999/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


# --- Polling fallback --------------------------------------------------------------------------------


def test_polling_since_returns_only_what_changed_and_the_ids_still_on_the_floor(nurse, map_client, hospital):
    quiet = hospital.place("4N-401", asset_tag="QUIET", seen_minutes_ago=5)
    busy = hospital.place("4N-402", asset_tag="BUSY", seen_minutes_ago=5)
    leaving = hospital.place("4N-402", asset_tag="LEAVING", seen_minutes_ago=5)
    client = map_client(nurse)
    first = client.get(f"{floor_url(hospital.floors['floor4'])}assets/").json()
    assert first["full"] is True and {a["tag"] for a in first["assets"]} == {"QUIET", "BUSY", "LEAVING"}

    Asset.objects.filter(pk__in=[quiet.pk, busy.pk, leaving.pk]).update(updated_at=timezone.now() - timedelta(hours=1))

    asset_start_use(asset=busy, user=nurse)  # a transition after the first poll
    leaving.current_room = hospital.rooms["3N-301"]  # the engine moved it downstairs
    leaving.save(update_fields=["current_room"])

    second = client.get(f"{floor_url(hospital.floors['floor4'])}assets/", {"since": first["server_time"]}).json()

    assert second["full"] is False
    assert [(a["tag"], a["state"]) for a in second["assets"]] == [("BUSY", "in_use")]
    assert sorted(second["ids"]) == sorted([quiet.pk, busy.pk])  # LEAVING is gone: the client drops it


def test_polling_with_a_garbled_since_is_a_400_that_says_what_is_wrong(nurse, map_client, hospital):
    for since in ("yesterday", "2026-11-22T08:00:00"):  # the second has no time zone
        response = map_client(nurse).get(f"{floor_url(hospital.floors['floor4'])}assets/", {"since": since})
        assert response.status_code == 400
        assert "since must be an ISO 8601 time with a time zone" in response.json()["detail"]


# --- Actions from a popup ------------------------------------------------------------------------------


def test_a_nurse_starts_use_then_returns_it_and_it_becomes_soiled(nurse, map_client, hospital):
    pump = hospital.place("4N-402", asset_tag="IP-1")
    client = map_client(nurse)

    started = post_json(client, action_url(pump), {"action": "start_use", "expected_state": "available"})
    assert started.status_code == 200, started.json()
    assert started.json()["asset"]["state"] == "in_use" and started.json()["message"] == "IP-1 is now In use."
    returned = post_json(client, action_url(pump), {"action": "return", "expected_state": "in_use"})
    assert returned.status_code == 200 and returned.json()["asset"]["state"] == "soiled"

    assert db_state(pump) == AssetState.SOILED
    log = list(TransitionLog.objects.filter(asset=pump).order_by("id").values_list("transition", "user__username"))
    assert log == [("start_use", "nurse"), ("return", "nurse")]


def test_an_action_on_a_state_someone_else_changed_is_a_409_and_changes_nothing(
    nurse, dispatcher, map_client, hospital
):
    pump = hospital.place("4N-402", asset_tag="IP-1")

    asset_reserve(asset=pump, user=dispatcher)  # dispatch took it while the nurse's map showed it available

    response = post_json(map_client(nurse), action_url(pump), {"action": "start_use", "expected_state": "available"})

    assert response.status_code == 409 and response.json()["code"] == "conflict"
    assert "is now reserved" in response.json()["detail"]
    assert db_state(pump) == AssetState.RESERVED


def test_the_state_machine_refusals_come_back_with_their_status_and_reason(nurse, biomed, map_client, hospital):
    pump = hospital.place("4N-402", asset_tag="IP-1")
    refused = post_json(map_client(biomed), action_url(pump), {"action": "start_use"})
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    wrong_state = post_json(map_client(nurse), action_url(pump), {"action": "return"})
    assert wrong_state.status_code == 409 and wrong_state.json()["code"] == "transition_not_allowed"
    assert "cannot return after use IP-1: it is available" in wrong_state.json()["detail"]
    assert db_state(pump) == AssetState.AVAILABLE


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"action": "decommission"}, "action must be one of start_use, return"),
        ({}, "action must be one of"),
        ("not json", "JSON parse error"),
        ([1, 2], "Expected a dictionary, but got list"),
    ],
)
def test_bad_action_requests_are_400s_naming_the_problem(body, expected, nurse, map_client, hospital):
    pump = hospital.place("4N-402", asset_tag="IP-1")
    client = map_client(nurse)
    if isinstance(body, str):
        response = client.post(action_url(pump), data=body, content_type="application/json")
    else:
        response = post_json(client, action_url(pump), body)
    assert response.status_code == 400 and expected in response.json()["detail"]
    assert db_state(pump) == AssetState.AVAILABLE


def test_actions_need_the_csrf_token_the_page_carries(nurse, hospital):
    pump = hospital.place("4N-402", asset_tag="IP-1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(nurse)
    assert post_json(client, action_url(pump), {"action": "start_use"}).status_code == 403
    token = page_config(client.get(MAP))["csrf_token"]
    response = client.post(
        action_url(pump),
        data=json.dumps({"action": "start_use"}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200 and db_state(pump) == AssetState.IN_USE


def test_actions_on_unknown_assets_and_with_get_are_refused_cleanly(nurse, map_client, hospital):
    client = map_client(nurse)
    assert post_json(client, "/api/v1/map/assets/999999/action/", {"action": "start_use"}).status_code == 404
    assert client.get("/api/v1/map/assets/1/action/").status_code == 405


# --- Request delivery --------------------------------------------------------------------------------


def test_a_nurse_requests_delivery_and_dispatch_gets_an_equipment_request(nurse, map_client, hospital):
    pump = hospital.place("4N-STORE", asset_tag="IP-7")
    body = {"asset_type": hospital.pump.pk, "room": hospital.rooms["4N-402"].pk, "asset": pump.pk, "priority": "urgent"}

    response = post_json(map_client(nurse), "/api/v1/map/requests/", body)

    assert response.status_code == 201, response.json()
    created = EquipmentRequest.objects.get(pk=response.json()["request"]["id"])
    assert (created.asset_type, created.destination_room.code, created.priority, created.status) == (
        hospital.pump,
        "4N-402",
        "urgent",
        "open",
    )
    assert created.requested_by == nurse and created.note == "Seen on the floor map: IP-7 in 4N-STORE."
    assert response.json()["message"] == f"Request #{created.pk} sent to dispatch: Infusion pump to 4N-402."
    assert db_state(pump) == AssetState.AVAILABLE  # dispatch assigns; the map only asks


def test_delivery_to_a_unit_goes_to_its_nurse_station(dispatcher, map_client, hospital):
    response = post_json(
        map_client(dispatcher), "/api/v1/map/requests/", {"asset_type": hospital.pump.pk, "unit": "4 North"}
    )
    assert response.status_code == 201 and response.json()["request"]["destination"]["code"] == "4N-NS"


def test_request_delivery_refusals(nurse, biomed, map_client, hospital):
    room = hospital.rooms["4N-402"].pk
    biomed_try = post_json(map_client(biomed), "/api/v1/map/requests/", {"asset_type": hospital.pump.pk, "room": room})
    assert biomed_try.status_code == 403 and biomed_try.json()["code"] == "permission_denied"
    bad_priority = post_json(
        map_client(nurse), "/api/v1/map/requests/", {"asset_type": hospital.pump.pk, "room": room, "priority": "asap"}
    )
    assert bad_priority.status_code == 400 and "unknown priority 'asap'" in bad_priority.json()["message"]
    nowhere = post_json(map_client(nurse), "/api/v1/map/requests/", {"asset_type": hospital.pump.pk})
    assert nowhere.status_code == 400 and nowhere.json()["field_errors"] == {
        "room": ["say where it should go: room (id) or unit (name)"]
    }
    no_type = post_json(map_client(nurse), "/api/v1/map/requests/", {"asset_type": 999999, "room": room})
    assert no_type.status_code == 400 and "there is no asset type 999999" in no_type.json()["message"]
    assert not EquipmentRequest.objects.exists()


def test_the_page_offers_request_delivery_to_nurses_and_dispatch_only(nurse, biomed, map_client, hospital):
    assert page_config(map_client(nurse).get(MAP))["can_request"] is True
    assert page_config(map_client(biomed).get(MAP))["can_request"] is False


def test_impossible_dates_and_ids_beyond_any_database_key_are_4xx_not_500(nurse, map_client, hospital):
    client = map_client(nurse)
    huge = 10**20
    impossible = client.get(f"{floor_url(hospital.floors['floor4'])}assets/", {"since": "2026-13-45T00:00:00Z"})
    assert impossible.status_code == 400 and impossible.json()["field_errors"]["since"]
    assert client.get(f"/api/v1/map/floors/{huge}/").status_code == 404
    assert client.get(f"/api/v1/map/floors/{huge}/assets/").status_code == 404
    assert client.get("/api/v1/map/search/", {"q": "pump", "room": huge}).status_code == 400
    assert post_json(client, f"/api/v1/map/assets/{huge}/action/", {"action": "start_use"}).status_code == 404
    assert post_json(client, "/api/v1/map/requests/", {"asset_type": huge, "room": 1}).status_code == 400


def test_polling_since_the_edges_of_time_is_clamped_not_a_500(nurse, map_client, hospital):
    url = f"{floor_url(hospital.floors['floor4'])}assets/"
    everything = map_client(nurse).get(url).json()
    for since in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:59Z"):
        response = map_client(nurse).get(url, {"since": since})
        assert response.status_code == 200, since
        assert {a["tag"] for a in response.json()["assets"]} == {a["tag"] for a in everything["assets"]}
    for since in ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59-12:00"):
        response = map_client(nurse).get(url, {"since": since})
        assert response.status_code == 200, since
        assert response.json()["assets"] == []
