"""The API tests' small hospital, FHIR clients per role, and validation with fhir.resources' R4B models."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from fhir.resources.R4B import get_fhir_model_class

from tests.api.conftest import ROLES, build_api_hospital, client_for
from tests.factories import UserFactory

FHIR = "/fhir/r4"
FHIR_JSON = "application/fhir+json"

# The value sets of the codes we send (checked here; fhir.resources checks structure and cardinality).
DEVICE_STATUS = {"active", "inactive", "entered-in-error", "unknown"}
LOCATION_STATUS = {"active", "suspended", "inactive"}
LOCATION_MODE = {"instance", "kind"}
PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
PHYSICAL_TYPES = {"si", "bu", "wi", "wa", "lvl", "co", "ro", "bd", "ve", "ho", "ca", "rd", "area", "jdn"}
ISSUE_TYPES = {"invalid", "login", "forbidden", "not-found", "not-supported", "throttled", "exception", "processing"}
DEVICE_NAME_TYPES = {
    "udi-label-name",
    "user-friendly-name",
    "patient-reported-name",
    "manufacturer-name",
    "model-name",
    "other",
}


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def hospital(db):
    return build_api_hospital()


@pytest.fixture
def users(db):
    found = {role: UserFactory(username=f"fhir-{role}", roles=groups, password=None) for role, groups in ROLES.items()}
    found["no_role"] = UserFactory(username="fhir-no-role", password=None)
    return found


@pytest.fixture
def clients(users):
    return {"anonymous": client_for(None), **{role: client_for(user) for role, user in users.items()}}


def validate(resource: dict):
    """Parse with the R4B model of its type (structure, required elements, cardinality), then check the
    codes we use against their value sets. Returns the model."""
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    kind = resource["resourceType"]
    if kind == "Device":
        assert resource["status"] in DEVICE_STATUS
        assert resource["identifier"] and all(i["system"] and i["value"] for i in resource["identifier"])
        for name in resource.get("deviceName", []):
            assert name["type"] in DEVICE_NAME_TYPES
        for coding in resource["type"]["coding"]:
            assert coding["system"] and coding["code"]
    elif kind == "Location":
        assert resource["status"] in LOCATION_STATUS
        assert resource["mode"] in LOCATION_MODE
        (coding,) = resource["physicalType"]["coding"]
        assert coding["system"] == PHYSICAL_TYPE and coding["code"] in PHYSICAL_TYPES
    elif kind == "Bundle":
        assert resource["type"] == "searchset"
        for entry in resource.get("entry", []):
            validate(entry["resource"])
            assert entry["search"]["mode"] == "match"
    elif kind == "OperationOutcome":
        assert all(issue["code"] in ISSUE_TYPES and issue["severity"] == "error" for issue in resource["issue"])
    return model


def fhir_get(client, path, **params):
    response = client.get(f"{FHIR}/{path}", params, HTTP_ACCEPT=FHIR_JSON)
    return response
