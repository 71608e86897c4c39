"""Who reads FHIR: the /api/v1/ tokens and rules; no role: 403 OperationOutcome; security fields as /api/v1/
shows them; a Device read costs a constant number of queries."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from assets.api.views import AssetViewSet
from fhir import access
from locations.api.resources import RoomViewSet
from tests.api.conftest import client_for
from tests.factories import TagFactory
from tests.fhir.conftest import FHIR, fhir_get, validate


@pytest.mark.parametrize("role", ["nurse", "dispatch", "clinical_engineering", "security"])
def test_every_staff_role_reads_devices_and_locations(hospital, clients, role):
    asset = hospital.place("W401")
    for path in (f"Device/{asset.pk}", "Device", f"Location/room-{hospital.ward.pk}", "Location"):
        response = fhir_get(clients[role], path)
        assert response.status_code == 200, (role, path)
        validate(response.json())


def test_no_token_is_401_and_a_token_without_a_role_is_403_operation_outcome(hospital, clients):
    asset = hospital.place("W401")
    for path in (f"Device/{asset.pk}", "Device", "Location", f"Location/room-{hospital.ward.pk}"):
        anonymous = fhir_get(clients["anonymous"], path)
        assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"
        assert validate(anonymous.json()) and anonymous.json()["issue"][0]["code"] == "login"
        no_role = fhir_get(clients["no_role"], path)
        assert no_role.status_code == 403
        body = no_role.json()
        validate(body)
        assert body["issue"][0]["code"] == "forbidden" and "may read" in body["issue"][0]["diagnostics"]
    # The same policy gate as /api/v1/ (declarations/policy.py): reading FHIR is exactly as permitted.
    assert clients["no_role"].get("/api/v1/assets/").status_code == 403


def test_a_bad_token_is_401(hospital, clients):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = fhir_get(client, "Device")
    assert response.status_code == 401 and response.json()["issue"][0]["code"] == "login"


def test_fhir_uses_the_api_v1_authentication_and_permission_classes():
    """Imported from the /api/v1/ viewsets, not copied: when the policy table rewires them, FHIR follows."""
    assert access.DEVICE_AUTHENTICATION == list(AssetViewSet.authentication_classes)
    assert access.DEVICE_PERMISSIONS[: len(AssetViewSet.permission_classes)] == list(AssetViewSet.permission_classes)
    assert access.LOCATION_AUTHENTICATION == list(RoomViewSet.authentication_classes)
    assert access.LOCATION_PERMISSIONS[: len(RoomViewSet.permission_classes)] == list(RoomViewSet.permission_classes)


@pytest.mark.parametrize("role", ["nurse", "dispatch", "clinical_engineering", "security"])
def test_security_fields_follow_what_api_v1_shows_the_role(hospital, clients, role):
    asset = hospital.place("W401", data_bearing=True, networked=True, firmware_version="4.2.1")
    api = clients[role].get(f"/api/v1/assets/{asset.pk}/").json()
    device = fhir_get(clients[role], f"Device/{asset.pk}").json()
    listed = fhir_get(clients[role], "Device").json()["entry"][0]["resource"]
    sees = "firmware_version" in api
    for resource in (device, listed):
        assert ("safety" in resource) == sees and ("version" in resource) == sees
    if sees:
        codes = {c["coding"][0]["code"] for c in device["safety"]}
        assert {"data-bearing", "networked"} <= codes
        assert device["version"] == [{"type": {"text": "firmware"}, "value": "4.2.1"}]


def test_without_the_security_rule_safety_and_firmware_are_left_out(hospital, clients, monkeypatch):
    asset = hospital.place("W401", data_bearing=True, networked=True, firmware_version="4.2.1")
    monkeypatch.setattr(access, "may_read_security_fields", lambda request: False)
    device = fhir_get(clients["clinical_engineering"], f"Device/{asset.pk}").json()
    validate(device)
    assert "safety" not in device and "version" not in device
    assert device["manufacturer"]  # the rest is still there


def test_a_device_read_costs_a_constant_number_of_queries(hospital, clients, django_assert_num_queries):
    plain = hospital.place("W401")
    rich = hospital.place("W402", data_bearing=True, firmware_version="1.0")
    TagFactory(asset=rich)
    hospital.pump.code_system, hospital.pump.code = "http://snomed.info/sct", "44668000"
    hospital.pump.save()
    client = clients["nurse"]
    fhir_get(client, f"Device/{plain.pk}")  # warm-up (content types, caches)

    with CaptureQueriesContext(connection) as first:
        assert fhir_get(client, f"Device/{plain.pk}").status_code == 200
    with django_assert_num_queries(len(first.captured_queries)):
        assert fhir_get(client, f"Device/{rich.pk}").status_code == 200
    # token lookup, roles, the asset with its type, tag and room in one query
    assert len(first.captured_queries) <= 4, [q["sql"][:80] for q in first.captured_queries]


def test_a_superuser_without_a_role_reads(hospital):
    root = get_user_model().objects.create_superuser("fhir-root", "root@example.org", None)
    assert fhir_get(client_for(root), "Device").status_code == 200


SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-ES,es;q=0.9"}


def test_fhir_answers_in_english_whatever_accept_language_says(hospital, clients):
    """docs/translating.md: OperationOutcome texts and codings stay in English for the systems that read them."""
    refusals = [
        (clients["anonymous"].get(f"{FHIR}/Device", **SPANISH), 401, "credentials"),
        (clients["nurse"].post(f"{FHIR}/Device", {}, **SPANISH), 405, "not allowed"),
        (clients["nurse"].get(f"{FHIR}/Device", HTTP_ACCEPT="application/fhir+xml", **SPANISH), 406, "Accept header"),
        (clients["nurse"].get(f"{FHIR}/Device", {"_lastUpdated": "yesterday"}, **SPANISH), 400, "is not a date"),
    ]
    for response, status, words in refusals:
        assert response.status_code == status
        assert words in response.json()["issue"][0]["diagnostics"], response.json()
        assert response["Content-Language"] == "en"
    ok = clients["nurse"].get(f"{FHIR}/Device", **SPANISH)
    assert ok.status_code == 200 and ok["Content-Language"] == "en"


def test_device_safety_is_english_for_a_spanish_biomed_reader(hospital, clients):
    asset = hospital.place("W401", data_bearing=True, networked=True, encryption_status="encrypted")
    device = clients["clinical_engineering"].get(f"{FHIR}/Device/{asset.pk}", **SPANISH).json()
    texts = [c["text"] for c in device["safety"]]
    assert texts == ["Stores data", "Networked", "Encryption: Encrypted at rest"]
