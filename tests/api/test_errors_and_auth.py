"""One error format everywhere, token and session auth, per-user throttling, the schema and Swagger UI."""

import pytest
from django.core.management import call_command
from django.test import Client

from tests.api.conftest import client_for

ERROR_KEYS = {"code", "message", "field_errors"}


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert ERROR_KEYS <= set(body), body
    assert body["code"] == code, body
    assert body["message"] and isinstance(body["field_errors"], dict)
    return body


def test_every_kind_of_error_has_the_same_shape(hospital, clients):
    assert_error(clients["anonymous"].get("/api/v1/assets/"), 401, "not_authenticated")
    bad_token = client_for(None)
    bad_token.credentials(HTTP_AUTHORIZATION="Token nope")
    assert_error(bad_token.get("/api/v1/assets/"), 401, "authentication_failed")
    assert_error(clients["nurse"].get("/api/v1/assets/999999/"), 404, "not_found")
    assert_error(clients["nurse"].delete("/api/v1/assets/"), 405, "method_not_allowed")
    assert_error(clients["nurse"].get("/api/v1/assets/1/decommissioning/"), 403, "permission_denied")
    body = assert_error(
        clients["nurse"].post("/api/v1/equipment-requests/", {"priority": "x"}, format="json"), 400, "invalid"
    )
    assert set(body["field_errors"]) == {"asset_type", "destination_room", "priority"}
    assert "asset_type" in body["message"]
    malformed = clients["nurse"].post("/api/v1/equipment-requests/", "{not json", content_type="application/json")
    assert_error(malformed, 400, "parse_error")


def test_anonymous_gets_401_with_a_token_challenge(db):
    response = Client().get("/api/v1/states/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


def test_session_auth_works_for_the_browser(users):
    browser = Client()
    browser.force_login(users["dispatch"])
    assert browser.get("/api/v1/states/").status_code == 200


def test_throttling_is_per_user(users, settings):
    settings.API_USER_THROTTLE_RATE = "3/min"
    dispatch, nurse = client_for(users["dispatch"]), client_for(users["nurse"])
    assert [dispatch.get("/api/v1/states/").status_code for _ in range(3)] == [200, 200, 200]
    throttled = dispatch.get("/api/v1/states/")
    assert_error(throttled, 429, "throttled")
    assert int(throttled.headers["Retry-After"]) > 0
    assert nurse.get("/api/v1/states/").status_code == 200  # another user has their own budget


def test_the_gateway_ingest_keeps_its_errors_readable(db):
    response = Client().post("/api/v1/rtls/sightings", data="{}", content_type="application/json")
    body = assert_error(response, 401, "not_authenticated")
    assert body["detail"] == body["message"]


def test_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/v1/equipment-requests/{id}/assign/" in (tmp_path / "schema.yaml").read_text()


def test_schema_and_swagger_ui_are_served_offline(db):
    client = Client()
    schema = client.get("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    assert schema.status_code == 200
    assert "/api/v1/assets/nearest/" in schema.json()["paths"]
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html  # our static files, no CDN
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


@pytest.mark.parametrize("path", ["/api/v1/assets/12345678901234567890123/", "/api/v1/rooms/99999999999999999999/"])
def test_huge_ids_are_404_not_database_errors(db, clients, path):
    assert clients["nurse"].get(path).status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/assets/1%0a/", "/api/v1/nope%0a/", "/api/v1/assets/%0a"])
def test_a_url_with_a_newline_gets_the_json_404_too(db, clients, path):
    body = assert_error(clients["nurse"].get(path), 404, "not_found")
    assert "no API endpoint" in body["message"]


def test_a_fhir_url_with_a_newline_gets_an_operation_outcome(db, clients):
    answer = clients["nurse"].get("/fhir/r4/Device/1%0a")
    assert answer.status_code == 404 and answer.json()["resourceType"] == "OperationOutcome"


def test_a_target_state_on_a_transition_that_takes_none_is_400_naming_to_state(hospital, clients):
    asset = hospital.place("W402")
    url = f"/api/v1/assets/{asset.pk}/transitions/"
    body = assert_error(
        clients["nurse"].post(url, {"transition": "start_use", "to_state": "soiled"}, format="json"), 400, "invalid"
    )
    assert list(body["field_errors"]) == ["to_state"] and "only return_to_service" in body["message"]
    assert clients["nurse"].get(f"/api/v1/assets/{asset.pk}/").json()["state"]["value"] == "available"


def test_the_service_itself_refuses_a_target_state_with_a_400(hospital, users):
    from lifecycle.exceptions import TransitionInputInvalid  # noqa: PLC0415
    from lifecycle.services import asset_transition  # noqa: PLC0415

    asset = hospital.place("W402")
    with pytest.raises(TransitionInputInvalid) as refused:
        asset_transition(asset=asset, transition="start_use", user=users["nurse"], to_state="soiled")
    assert refused.value.status_code == 400 and refused.value.code == "invalid"


def test_needed_by_without_a_time_zone_is_400(hospital, clients):
    body = {"asset_type": "infusion-pump", "destination_room": hospital.ward.pk, "needed_by": "2030-11-22T09:30:00"}
    refused = assert_error(clients["nurse"].post("/api/v1/equipment-requests/", body, format="json"), 400, "invalid")
    assert list(refused["field_errors"]) == ["needed_by"] and "time zone" in refused["message"]
    body["needed_by"] = "2030-11-22T09:30:00+01:00"
    created = clients["nurse"].post("/api/v1/equipment-requests/", body, format="json")
    assert created.status_code == 201 and created.json()["needed_by"] == "2030-11-22T08:30:00Z"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/equipment-requests/", {"open": "maybe"}),
        ("/api/v1/alerts/", {"open": "yes please"}),
        ("/api/v1/assets/", {"pm_overdue": "sometimes"}),
        ("/api/v1/assets/", {"data_bearing": "perhaps"}),
        ("/api/v1/receivers/", {"active": "maybe"}),
    ],
)
def test_a_yes_no_filter_that_is_neither_is_400_naming_it(hospital, clients, path, params):
    body = assert_error(clients["dispatch"].get(path, params), 400, "invalid")
    assert list(body["field_errors"]) == list(params) and "use true or false" in body["message"]
    for word in ("true", "False", "1", "0"):
        assert clients["dispatch"].get(path, {next(iter(params)): word}).status_code == 200
