"""Spanish end to end (issue 17): Accept-Language sets the default, the picker overrides it, the machine values
(state keys, error codes) never change, and only the human text is translated."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from declarations.roles import Role
from declarations.states import STATE_DEFINITIONS, AssetState, state_definition
from fhir.mappers import lifecycle_extension
from lifecycle.alerts.choices import AlertKind
from lifecycle.models import TransitionLog
from lifecycle.webhooks.payloads import transition_payload
from tests.api.conftest import client_for
from tests.factories import UserFactory
from tests.map.conftest import build_map_hospital

pytestmark = pytest.mark.django_db

ES = {"HTTP_ACCEPT_LANGUAGE": "es-ES,es;q=0.9"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def action(client, asset, body, **headers):
    url = f"/api/v1/map/assets/{asset.pk}/action/"
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def test_the_map_sign_in_page_follows_the_browsers_language():
    spanish = Client().get("/map/login/", **ES).content.decode()
    english = Client().get("/map/login/", **EN).content.decode()
    assert '<html lang="es">' in spanish
    assert "Iniciar sesión en el plano" in spanish and "Contraseña" in spanish
    assert "Sign in to the floor map" not in spanish
    assert '<html lang="en">' in english and "Sign in to the floor map" in english


def test_the_map_and_its_legend_are_in_spanish_with_the_same_state_keys(nurse):
    build_map_hospital()
    page = signed_in(nurse).get("/map/", **ES)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Buscar el equipo disponible más cercano" in html and "Leyenda" in html
    # The legend's definitions, in Spanish, on the same machine keys as in English.
    assert 'data-state="available"' in html
    assert "Limpio, funciona, mantenimiento preventivo y calibración al día" in html
    assert "Usado y devuelto, o encontrado en un cuarto sucio" in html
    assert "Clean, working, PM and calibration not overdue" not in html
    config = page.context["config"]
    states = {s["value"]: (str(s["label"]), str(s["definition"])) for s in config["legend"]["states"]}
    assert list(states) == list(STATE_DEFINITIONS)
    assert states["available"][0] == "Disponible" and states["soiled"][0] == "Sucio"
    assert states["cleaning"][0] == "En limpieza" and states["decommissioned"][0] == "Dado de baja"
    # Shapes in words, and a search example that finds something (type names are the hospital's data).
    assert "(círculo, ✓)" in html and "(rombo, ⚑)" in html and "(circle," not in html
    assert 'placeholder="p. ej. infusion pump"' in html and "bomba de infusión" not in html
    # The page loads the JavaScript catalogue before map.js, which draws the rest.
    assert html.index(reverse("javascript-catalog")) < html.index("map/map.js")


def test_the_javascript_catalogue_answers_in_the_pages_language():
    spanish = Client().get(reverse("javascript-catalog"), **ES).content.decode()
    english = Client().get(reverse("javascript-catalog"), **EN).content.decode()
    assert "Mostrar en el mapa" in spanish and "Buscando\\u2026" in spanish
    assert "Mostrar en el mapa" not in english


def test_a_transition_error_is_in_spanish_with_the_same_code_and_status(nurse):
    hospital = build_map_hospital()
    pump = hospital.place("4N-402", asset_tag="IP-1")
    client = signed_in(nurse)
    spanish = action(client, pump, {"action": "return"}, **ES)
    english = action(client, pump, {"action": "return"}, **EN)
    assert spanish.status_code == english.status_code == 409
    assert spanish.json()["code"] == english.json()["code"] == "transition_not_allowed"
    assert "cannot return after use IP-1: it is available" in english.json()["detail"]
    assert spanish.json()["detail"].startswith("no se puede devolver tras el uso IP-1: está disponible")
    assert spanish.json()["message"] == spanish.json()["detail"]


def test_a_successful_action_answers_in_spanish(nurse):
    hospital = build_map_hospital()
    pump = hospital.place("4N-402", asset_tag="IP-1")
    response = action(signed_in(nurse), pump, {"action": "start_use", "expected_state": "available"}, **ES)
    assert response.status_code == 200
    assert response.json()["message"] == "IP-1: ahora «En uso»."
    assert response.json()["asset"]["state"] == AssetState.IN_USE == "in_use"


def test_the_api_states_keep_their_keys_and_translate_labels_and_definitions(nurse):
    client = client_for(nurse)
    english = client.get("/api/v1/states/", **EN)
    spanish = client.get("/api/v1/states/", **ES)
    assert english.status_code == spanish.status_code == 200
    en, es = english.json(), spanish.json()
    assert [s["value"] for s in es] == [s["value"] for s in en] == list(STATE_DEFINITIONS)
    for en_state, es_state in zip(en, es, strict=True):
        assert set(es_state) == set(en_state)  # the same fields
        for machine_field in ("value", "colour", "icon", "shape", "pattern", "usable", "terminal"):
            assert es_state[machine_field] == en_state[machine_field]
        assert es_state["label"] != en_state["label"] and es_state["definition"] != en_state["definition"]
    by_key = {s["value"]: s for s in es}
    assert by_key["available"]["label"] == "Disponible"
    assert by_key["reserved"]["label"] == "Reservado"
    assert by_key["in_use"]["label"] == "En uso"
    assert by_key["biomed"]["label"] == "En biomédica"
    assert by_key["in_use"]["definition"] == "Con un paciente o en un procedimiento."
    assert spanish["Content-Language"] == "es" and "Accept-Language" in spanish["Vary"]


def test_api_error_codes_are_the_same_in_both_languages(nurse):
    hospital = build_map_hospital()
    pump = hospital.place("4N-402", asset_tag="IP-1")
    client = client_for(nurse)
    url = f"/api/v1/assets/{pump.pk}/transitions/"
    answers = {
        lang: client.post(url, {"transition": name}, format="json", **headers)
        for lang, headers in (("en", EN), ("es", ES))
        for name in ["return"]
    }
    assert answers["en"].status_code == answers["es"].status_code == 409
    assert answers["en"].json()["code"] == answers["es"].json()["code"] == "transition_not_allowed"
    assert answers["en"].json()["detail"] != answers["es"].json()["detail"]
    assert "no se puede" in answers["es"].json()["detail"]
    refused = {
        lang: client.post(url, {"transition": "reserve"}, format="json", **headers)
        for lang, headers in (("en", EN), ("es", ES))
    }
    assert refused["en"].status_code == refused["es"].status_code == 403
    assert refused["en"].json()["code"] == refused["es"].json()["code"]
    unknown = {
        lang: client.post(url, {"transition": "fly"}, format="json", **headers)
        for lang, headers in (("en", EN), ("es", ES))
    }
    assert unknown["en"].status_code == unknown["es"].status_code
    assert unknown["en"].json()["code"] == unknown["es"].json()["code"]


def test_the_admin_dashboard_tiles_are_in_spanish(biomed):
    biomed.is_staff = True
    biomed.save()
    build_map_hospital().place("4N-402", asset_tag="IP-1")
    html = signed_in(biomed).get(reverse("admin:index"), **ES).content.decode()
    assert "Equipos por estado" in html and "Requiere atención" in html and "Mi trabajo" in html
    assert 'id="tile-state-available"' in html  # the same keys and links
    for label in ("Disponible", "Reservado", "En uso", "Sucio", "En limpieza", "En biomédica", "Dado de baja"):
        assert f"</span> {label}</span>" in html, label
    assert "Mantenimiento preventivo vencido" in html and "Retiradas abiertas" in html
    assert "Equipment by state" not in html


def test_the_language_picker_switches_the_map_and_the_admin_and_is_remembered(nurse, biomed):
    build_map_hospital()
    biomed.is_staff = True
    biomed.save()
    map_client, admin_client = signed_in(nurse), signed_in(biomed)
    # The picker is on both, offering both languages.
    map_html = map_client.get("/map/").content.decode()
    admin_html = admin_client.get(reverse("admin:index")).content.decode()
    for html in (map_html, admin_html):
        assert f'action="{reverse("set_language")}"' in html
        assert 'value="es"' in html and "español" in html
    # Choosing Spanish wins over an English browser, on the next pages and for good (a cookie).
    for client, page in ((map_client, "/map/"), (admin_client, reverse("admin:index"))):
        chosen = client.post(reverse("set_language"), {"language": "es", "next": page}, **EN)
        assert chosen.status_code == 302 and chosen["Location"] == page
        assert chosen.cookies["hx_language"].value == "es"
    assert "Buscar el equipo disponible más cercano" in map_client.get("/map/", **EN).content.decode()
    assert "Equipos por estado" in admin_client.get(reverse("admin:index"), **EN).content.decode()
    # And back.
    map_client.post(reverse("set_language"), {"language": "en", "next": "/map/"})
    assert "Find the nearest available equipment" in map_client.get("/map/", **ES).content.decode()


def test_an_unknown_language_falls_back_to_english(nurse):
    html = Client().get("/map/login/", HTTP_ACCEPT_LANGUAGE="tlh").content.decode()
    assert '<html lang="en">' in html and "Sign in to the floor map" in html


def test_group_names_stay_english_whatever_the_language(nurse):
    with translation.override("es"):
        assert str(Role.NURSE.label) == "Enfermería"
        assert Role.NURSE.group_name == "Nurse"
        assert UserFactory(username="enfermera", roles=["Nurse"]).groups.filter(name=Role.NURSE.group_name).exists()


def test_machine_payloads_keep_source_language_labels_in_a_spanish_request(nurse):
    """Live events, webhooks and FHIR codings are read by other systems and by pages in other languages."""
    hospital = build_map_hospital()
    pump = hospital.place("4N-402", asset_tag="IP-1")
    assert (
        action(signed_in(nurse), pump, {"action": "start_use", "expected_state": "available"}, **ES).status_code == 200
    )
    with translation.override("es"):
        assert state_definition("in_use").label == "En uso"  # the interfaces' text
        assert transition_payload(TransitionLog.objects.get(asset=pump))["to_state_label"] == "In use"
        coding = lifecycle_extension("available")["extension"][0]["valueCoding"]
        assert (coding["code"], coding["display"]) == ("available", "Available")


def test_the_maps_alert_kinds_are_in_the_pages_language_by_their_stable_keys(nurse):
    """Live alert events keep the source-language label (a machine payload); the map shows the kind's label from
    its config, which the server translates (static/map/map.js alertKindLabel)."""
    build_map_hospital()
    spanish = signed_in(nurse).get("/map/", **ES).context["config"]["alert_kinds"]
    english = signed_in(nurse).get("/map/", **EN).context["config"]["alert_kinds"]
    assert list(spanish) == list(english) == list(AlertKind.values)
    assert english["low_battery"] == "Tag battery low"
    assert spanish["low_battery"] == "Batería de la etiqueta baja"
    assert spanish["pm_overdue"] != english["pm_overdue"]
