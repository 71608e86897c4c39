"""Refusals users read in the admin and the API are in their language (issue 17): equipment requests, webhook
subscriptions, decommissioning, the asset and floor-plan imports' row-by-row errors and the admin's messages.
The codes (``code``, ``reason_codes``, field names) stay the same in every language."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation

from lifecycle.decommissioning import selectors as decommissioning
from lifecycle.decommissioning import services as decommissioning_services
from lifecycle.decommissioning.exceptions import DecommissionRefused
from tests.admin.conftest import make_staff
from tests.api.conftest import build_api_hospital, client_for
from tests.factories import TagFactory, UserFactory
from tests.i18n.test_spanish import EN, ES
from tests.locations.test_import_floorplan import GOOD_FEATURES, floor_plan

pytestmark = pytest.mark.django_db

REQUESTS = "/api/v1/equipment-requests/"


@pytest.fixture
def api():
    hospital = build_api_hospital()
    nurse = client_for(UserFactory(username="api-nurse", roles=["Nurse"], password=None))
    dispatch = client_for(UserFactory(username="api-dispatch", roles=["Dispatch"], password=None))
    return hospital, nurse, dispatch


def new_request(client, hospital) -> int:
    body = {"asset_type": "infusion-pump", "destination_room": hospital.ward.pk}
    return client.post(REQUESTS, body, format="json").json()["id"]


def test_equipment_request_refusals_are_spanish_with_the_same_codes(api):
    hospital, nurse, dispatch = api
    hospital.place("W402", asset_tag="IP-1")
    request_id = new_request(nurse, hospital)
    url = f"{REQUESTS}{request_id}/deliver/"
    early = {lang: dispatch.post(url, {}, format="json", **h) for lang, h in (("en", EN), ("es", ES))}
    assert early["en"].status_code == early["es"].status_code == 409
    assert early["en"].json()["code"] == early["es"].json()["code"]
    assert early["en"].json()["message"] == f"request #{request_id} has no asset yet: assign one first"
    assert early["es"].json()["message"] == f"la solicitud n.º {request_id} aún no tiene equipo: asigne uno primero"

    assert dispatch.post(f"{REQUESTS}{request_id}/assign/", {}, format="json").status_code == 200
    again = dispatch.post(f"{REQUESTS}{request_id}/assign/", {}, format="json", **ES).json()
    assert again["code"] == "conflict"
    assert again["message"].startswith(f"no se puede asignar la solicitud n.º {request_id}: ya está asignada por ")
    assert "con IP-1; vuelva a cargarla" in again["message"]


def test_no_asset_available_lists_what_was_tried_in_spanish(api):
    hospital, nurse, dispatch = api
    hospital.place("W402", asset_tag="STALE-ONLY", seen_minutes_ago=40)
    request_id = new_request(nurse, hospital)
    body = dispatch.post(f"{REQUESTS}{request_id}/assign/", {}, format="json", **ES).json()
    assert body["code"] == "no_asset_available"
    assert body["message"].startswith("no se pudo reservar ningún Infusion pump para la solicitud")
    assert any(r.startswith("STALE-ONLY: desactualizado, visto por última vez en W402") for r in body["reasons"])


def test_reserving_an_overdue_asset_for_a_request_is_refused_in_spanish_with_the_guards_code(api):
    hospital, nurse, dispatch = api
    overdue = hospital.place("W402", asset_tag="OVERDUE", last_pm_date=timezone.localdate() - timedelta(days=400))
    request_id = new_request(nurse, hospital)
    url = f"{REQUESTS}{request_id}/assign/"
    answers = {
        lang: dispatch.post(url, {"asset": overdue.pk}, format="json", **h) for lang, h in (("en", EN), ("es", ES))
    }
    en, es = answers["en"].json(), answers["es"].json()
    assert en["code"] == es["code"] == "guard_failed" and en["reason_codes"] == es["reason_codes"] == ["is_serviceable"]
    assert es["message"].startswith("no se puede reservar OVERDUE: mantenimiento preventivo: vencido desde el ")


def test_a_webhook_subscription_to_an_internal_address_is_refused_in_spanish(api):
    _hospital, _nurse, dispatch = api
    body = {"name": "intranet", "url": "https://127.0.0.1/hook", "events": ["alert.raised"]}
    url = "/api/v1/webhooks/subscriptions/"
    answers = {lang: dispatch.post(url, body, format="json", **h) for lang, h in (("en", EN), ("es", ES))}
    assert answers["en"].status_code == answers["es"].status_code == 400
    en, es = answers["en"].json(), answers["es"].json()
    assert en["code"] == es["code"] == "invalid" and set(en["field_errors"]) == set(es["field_errors"]) == {"url"}
    assert "is a loopback address; webhooks go to public addresses only" in en["field_errors"]["url"][0]
    assert es["field_errors"]["url"][0].startswith("rechazado: 127.0.0.1 es una dirección de bucle local")
    assert es["message"].startswith("datos no válidos: url: rechazado:")


def test_decommissioning_refusals_and_what_is_missing_are_spanish(hospital_with_checklist):
    asset, checklist, biomed = hospital_with_checklist
    with translation.override("es"):
        missing = decommissioning.checklist_missing_items(checklist)
        with pytest.raises(DecommissionRefused) as refused:
            decommissioning_services.asset_decommission(asset=asset, user=biomed)
    assert "estado de cifrado sin confirmar" in missing
    assert "la cadena de custodia no tiene entradas" in missing
    assert refused.value.code == "decommission_refused"
    assert refused.value.message.startswith(f"el equipo {asset} aún no puede darse de baja: ")
    assert "falta la firma de ingeniería clínica" in refused.value.reasons
    with translation.override("en"):
        assert "clinical engineering sign-off missing" in decommissioning.decommission_blockers(asset)


@pytest.fixture
def hospital_with_checklist():
    hospital = build_api_hospital()
    asset = hospital.place("W402", asset_tag="IP-OLD", state="biomed", data_bearing=True)
    biomed = UserFactory(username="ce", roles=["Clinical engineering"])
    checklist = decommissioning_services.checklist_open(asset=asset, user=biomed)
    return asset, checklist, biomed


@pytest.fixture
def admin_biomed(client):
    client.force_login(make_staff(UserFactory(username="biomed-staff", roles=["Clinical engineering"])))
    return client


def test_the_asset_imports_row_errors_are_spanish(admin_biomed):
    bad = "asset_tag,asset_type,tag_id,manufacturer,model,serial_number\nIP-0001,Infusion pump,xyz,BD,Alaris,S1\n"
    bad += ",Infusion pump,,BD,Alaris,S2\n"
    upload = SimpleUploadedFile("bad.csv", bad.encode(), content_type="text/csv")
    response = admin_biomed.post(reverse("admin:assets_asset_import"), {"files": upload}, **ES)
    html = response.content.decode()
    assert response.status_code == 400
    assert "fila 2 (asset_tag IP-0001): tag id &#x27;xyz&#x27; no es 12 dígitos hexadecimales" in html
    assert "fila 3 (asset_tag ?): asset_tag está vacío" in html
    assert "is empty" not in html and "hexadecimal digits" not in html


def test_the_floor_plan_imports_errors_are_spanish(admin_biomed):
    features = [*GOOD_FEATURES, {"type": "Feature", "properties": {"kind": "door"}, "geometry": None}]
    document = json.dumps(floor_plan(features)).encode()
    upload = SimpleUploadedFile("n4.geojson", document, content_type="application/geo+json")
    response = admin_biomed.post(reverse("admin:locations_floor_import"), {"files": upload}, **ES)
    html = response.content.decode()
    assert response.status_code == 400, html[:500]
    assert f"n4.geojson: elemento {len(features)} (door): &quot;kind&quot; debe ser &quot;room&quot; o" in html
    assert "must be" not in html


def test_admin_messages_are_spanish(admin_biomed):
    hospital = build_api_hospital()
    asset = hospital.place("W402", asset_tag="IP-5")
    tag = TagFactory(tag_id="c30000000abc")
    response = admin_biomed.post(reverse("admin:assets_asset_tag_bind", args=[asset.pk]), {"tag_id": tag.tag_id}, **ES)
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [f"La etiqueta {tag} está ahora en {asset}."]
    refused = admin_biomed.post(reverse("admin:assets_asset_tag_bind", args=[asset.pk]), {"tag_id": "xyz"}, **ES)
    assert refused.status_code == 400
    assert "tag id &#x27;xyz&#x27; no es 12 dígitos hexadecimales" in refused.content.decode()
