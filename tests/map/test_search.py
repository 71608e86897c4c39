"""The map's search, "what do I need, where am I": type matching, where-I-am, and the order of the results.

The ordering itself is lifecycle.nearest.assets_nearest_available (tests/api/test_nearest.py); here it is
checked through the map's endpoint, as the nurse's page sees it.
"""

import pytest

from assets.selectors import asset_types_matching
from declarations.states import AssetState
from tests.factories import AssetTypeFactory

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/map/search/"


@pytest.fixture
def types(db):
    names = ["Infusion pump", "Feeding pump", "SCD pump", "Vital signs monitor", "Ventilator", "Wheelchair"]
    return {name: AssetTypeFactory(name=name, slug=name.lower().replace(" ", "-")) for name in names}


@pytest.mark.parametrize(
    ("typed", "best"),
    [
        ("infusion pump", "Infusion pump"),
        ("Infusion Pumps", "Infusion pump"),  # case and plural
        ("infu", "Infusion pump"),  # prefix
        ("infsuion pmup", "Infusion pump"),  # typos in both words
        ("clean infusion pump", "Infusion pump"),  # words around the type name
        ("ventilater", "Ventilator"),
        ("monitor", "Vital signs monitor"),  # any word of the name
        ("wheel chair", "Wheelchair"),
    ],
)
def test_types_match_by_name_with_prefix_and_typo_tolerance(typed, best, types):
    matches = asset_types_matching(query=typed)
    assert matches and matches[0].name == best


def test_a_word_shared_by_several_types_matches_them_all_equally_and_nonsense_matches_nothing(types):
    pumps = asset_types_matching(query="pump")
    assert [t.name for t in pumps] == ["Feeding pump", "Infusion pump", "SCD pump"]
    assert len({t.match_score for t in pumps}) == 1
    assert asset_types_matching(query="xylophone") == [] and asset_types_matching(query="  ") == []


def result_tags(response):
    return [(r["tag"], r["status"]) for r in response.json()["results"]]


def test_results_same_floor_first_then_other_floors_and_stale_last_and_labelled(nurse, map_client, hospital):
    hospital.place("4N-SOIL", asset_tag="SAME-FLOOR-FAR")  # 30 m from 4N-402 on the same floor
    hospital.place("4N-401", asset_tag="SAME-FLOOR-NEAR")  # 10 m
    hospital.place("3N-301", asset_tag="FLOOR-BELOW")  # 10 m across + one floor
    hospital.place("S-101", asset_tag="OTHER-BUILDING")
    hospital.place("4N-402", asset_tag="STALE-HERE", seen_minutes_ago=40)  # in the very room, but stale
    hospital.place("4N-402", asset_tag="RETIRED-HERE", state=AssetState.DECOMMISSIONED)
    hospital.place("4N-402", asset_tag="IN-USE-HERE", state=AssetState.IN_USE)
    hospital.place("4N-402", asset_tag="MONITOR-HERE", asset_type=hospital.monitor)

    response = map_client(nurse).get(SEARCH, {"q": "infusion pump", "room": hospital.rooms["4N-402"].pk})

    assert response.status_code == 200, response.json()
    assert result_tags(response) == [
        ("SAME-FLOOR-NEAR", "located"),
        ("SAME-FLOOR-FAR", "located"),
        ("FLOOR-BELOW", "located"),
        ("OTHER-BUILDING", "located"),
        ("STALE-HERE", "stale"),
    ]
    first, *_, stale = response.json()["results"]
    assert first["room"]["code"] == "4N-401" and first["floor"]["name"] == "4 North"
    assert first["building"] == "North Tower" and first["distance_m"] == pytest.approx(10.0)
    assert first["same_floor"] is True and first["seen"]
    assert stale["distance_m"] == 0.0 and stale["status"] == "stale"
    assert response.json()["type"]["name"] == "Infusion pump"
    assert response.json()["origin"]["label"].startswith("4N-402")


def test_where_i_am_can_be_a_unit_measured_from_its_nurse_station(nurse, map_client, hospital):
    hospital.place("4N-401", asset_tag="BY-THE-FIRST-ROOM")  # 20 m from the nurse station
    hospital.place("4N-STORE", asset_tag="BY-THE-STORE")  # 10 m from it

    response = map_client(nurse).get(SEARCH, {"q": "infu", "unit": "4 North"})

    assert [tag for tag, _ in result_tags(response)] == ["BY-THE-STORE", "BY-THE-FIRST-ROOM"]
    assert response.json()["origin"]["measured_from"]["label"].startswith("4N-NS")


def test_a_typo_still_finds_the_type_and_ambiguity_asks_which_one(nurse, map_client, hospital, types):
    hospital.place("4N-401", asset_tag="IP-1")
    room = hospital.rooms["4N-402"].pk
    client = map_client(nurse)

    typo = client.get(SEARCH, {"q": "infsuion pmup", "room": room}).json()
    assert typo["type"]["name"] == "Infusion pump" and [r["tag"] for r in typo["results"]] == ["IP-1"]

    ambiguous = client.get(SEARCH, {"q": "pump", "room": room}).json()
    assert ambiguous["type"] is None and ambiguous["results"] == []
    assert [t["name"] for t in ambiguous["types"]] == ["Feeding pump", "Infusion pump", "SCD pump"]

    chosen = client.get(SEARCH, {"type": hospital.pump.pk, "room": room}).json()
    assert [r["tag"] for r in chosen["results"]] == ["IP-1"]

    nothing = client.get(SEARCH, {"q": "xylophone", "room": room}).json()
    assert nothing["results"] == [] and "No equipment type matches “xylophone”" in nothing["message"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "pump"}, "say where you are"),
        ({"q": "pump", "room": "abc"}, "room must be a whole number"),
        ({"q": "pump", "room": "999999"}, "there is no room 999999"),
        ({"q": "pump", "unit": "Mars"}, "no room belongs to the unit 'Mars'"),
        ({"room": "ROOM"}, "say what you need"),
        ({"type": "999999", "room": "ROOM"}, "there is no asset type 999999"),
        ({"q": "pump", "room": "ROOM", "limit": "0"}, "limit must be between 1 and 50"),
    ],
)
def test_bad_search_input_is_a_400_that_says_what_is_missing(params, expected, nurse, map_client, hospital):
    params = {k: (hospital.rooms["4N-402"].pk if v == "ROOM" else v) for k, v in params.items()}
    response = map_client(nurse).get(SEARCH, params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and expected in body["message"] and body["detail"] == body["message"]


def test_a_bad_parameter_is_named_in_field_errors(nurse, map_client, hospital):
    body = map_client(nurse).get(SEARCH, {"q": "pump", "room": "abc"}).json()
    assert body["field_errors"] == {"room": ["room must be a whole number, got 'abc'"]}


def test_places_offer_units_and_rooms_for_where_i_am(nurse, map_client, hospital):
    places = map_client(nurse).get("/api/v1/map/places/", {"q": "4 north"}).json()["places"]
    assert places[0] == {"kind": "unit", "id": "4 North", "label": "4 North (whole unit)"}
    assert {p["label"].split(" · ")[0] for p in places[1:]} == {"4N-401", "4N-402", "4N-NS", "4N-STORE", "4N-SOIL"}
    rooms = map_client(nurse).get("/api/v1/map/places/", {"q": "4N-40"}).json()["places"]
    assert [p["label"].split(" · ")[0] for p in rooms] == ["4N-401", "4N-402"]


def test_search_refusals_are_in_spanish_for_a_spanish_reader(nurse, map_client, hospital):
    spanish = {"HTTP_ACCEPT_LANGUAGE": "es-ES,es;q=0.9"}
    response = map_client(nurse).get(SEARCH, {"q": "pump", "room": "abc"}, **spanish)
    assert response.status_code == 400
    assert response.json()["field_errors"] == {"room": ["room debe ser un número entero; se recibió 'abc'"]}
    response = map_client(nurse).get(SEARCH, {"q": "pump"}, **spanish)
    assert "indique dónde está" in response.json()["message"]
    missing = map_client(nurse).get("/api/v1/map/floors/99999/assets/", **spanish)
    assert missing.status_code == 404 and "no existe la planta 99999" in missing.json()["message"]
