"""The CapabilityStatement matches the routes, a test walks it, and searches generated from it (valid and
malformed values, any modifier) never get a 5xx."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir.definitions import CANONICAL
from fhir.search import PARAMS
from tests.fhir.conftest import FHIR_JSON, validate


@pytest.fixture
def capability(client, db):
    response = client.get("/fhir/r4/metadata", HTTP_ACCEPT=FHIR_JSON)  # no token: metadata is public
    assert response.status_code == 200 and response["Content-Type"].startswith(FHIR_JSON)
    body = response.json()
    validate(body)
    return body


def test_capability_statement_declares_r4_json_and_exactly_the_routes(capability):
    assert capability["fhirVersion"] == "4.0.1"
    assert capability["kind"] == "instance" and capability["status"] == "active"
    assert set(capability["format"]) == {"json", "application/fhir+json"}
    declared = {
        (resource["type"], interaction["code"])
        for resource in capability["rest"][0]["resource"]
        for interaction in resource["interaction"]
    }
    routed = set()
    for pattern in get_resolver().url_patterns:
        if getattr(pattern, "namespace", None) == "fhir":
            for inner in pattern.url_patterns:
                if inner.name and inner.name != "metadata":
                    kind, _, interaction = inner.name.partition("-")
                    resource_type = {"device": "Device", "location": "Location", "searchparameter": "SearchParameter"}
                    routed.add((resource_type[kind], {"read": "read", "search": "search-type"}[interaction]))
    assert declared == routed


def test_walk_the_capability_statement(capability, hospital, clients):
    """Every declared interaction answers, every declared search parameter is accepted, and every custom
    parameter's definition is served as a SearchParameter resource that validates."""
    asset = hospital.place("W401")
    known_ids = {"Device": str(asset.pk), "Location": f"room-{hospital.ward.pk}"}
    nurse = clients["nurse"]
    custom_seen = 0
    for resource in capability["rest"][0]["resource"]:
        kind = resource["type"]
        for interaction in (i["code"] for i in resource["interaction"]):
            if interaction == "read" and kind in known_ids:
                response = nurse.get(f"/fhir/r4/{kind}/{known_ids[kind]}")
                assert response.status_code == 200, kind
                assert validate(response.json()) and response.json()["resourceType"] == kind
            elif interaction == "search-type":
                assert response_ok(nurse.get(f"/fhir/r4/{kind}"))
        for param in resource.get("searchParam", []):
            example = next(p.example for p in PARAMS[kind] if p.name == param["name"])
            bundle = response_ok(nurse.get(f"/fhir/r4/{kind}", {param["name"]: example}))
            assert bundle["type"] == "searchset", (kind, param["name"])
            if param["definition"].startswith(CANONICAL):
                custom_seen += 1
                ident = param["definition"].rsplit("/", 1)[1]
                definition = nurse.get(f"/fhir/r4/SearchParameter/{ident}").json()
                validate(definition)
                assert definition["url"] == param["definition"] and definition["code"] == param["name"]
                assert definition["base"] == [kind] and definition["type"] == param["type"]
            else:
                assert param["definition"].startswith("http://hl7.org/fhir/SearchParameter/")
    assert custom_seen == 2  # physical-type on Location, lifecycle-state on Device
    assert nurse.get("/fhir/r4/Patient").status_code == 404


def response_ok(response):
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    validate(body)
    return body


MALFORMED = [
    "",
    " ",
    ",",
    "|",
    "||",
    "a|b|c",
    "Location/",
    "Location/room-",
    "Patient/1",
    "http://x/Location/room-1",
    "room-999999999999999999999",
    "ge",
    "2026-02-30",
    "ap2026-01-01",
    "le2026-01-01T25:00",
    "2026-01-01T10:00+99:00",
    "x" * 300,
    "\u0000",
    "%",
    "😀",
    "-1",
    "99999999999999999999",
]
MODIFIERS = ["", ":exact", ":contains", ":below", ":above", ":not", ":missing", ":text", ":Location", ":"]


def _declared(capability):
    return [
        (resource["type"], param["name"])
        for resource in capability["rest"][0]["resource"]
        for param in resource.get("searchParam", [])
    ] + [(t, p) for t in ("Device", "Location") for p in ("_count", "_offset", "_format")]


def assert_no_5xx(response):
    assert response.status_code < 500, response.content[:300]
    body = response.json()
    if response.status_code >= 400:
        assert body["resourceType"] == "OperationOutcome"
    validate(body)


def test_search_sweep_generated_from_the_capability_statement_has_no_5xx(capability, hospital, clients):
    hospital.place("W401")
    nurse = clients["nurse"]
    for kind, name in _declared(capability):
        for modifier in MODIFIERS:
            for value in MALFORMED:
                assert_no_5xx(nurse.get(f"/fhir/r4/{kind}", {f"{name}{modifier}": value}))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_searches_from_the_capability_statement_have_no_5xx(capability, hospital, clients, data):
    declared = _declared(capability)
    params = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(declared),
                st.sampled_from(MODIFIERS),
                st.one_of(
                    st.text(max_size=40), st.sampled_from(MALFORMED), st.from_regex(r"(ge|lt|eq)?\d{4}(-\d\d){0,2}")
                ),
            ),
            min_size=1,
            max_size=4,
        )
    )
    kind = params[0][0][0]
    query = [(f"{name}{modifier}", value) for (k, name), modifier, value in params if k == kind]

    assert_no_5xx(clients["nurse"].get(f"/fhir/r4/{kind}?{urlencode(query)}"))
