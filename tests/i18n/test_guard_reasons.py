"""A transition refused by a guard (issue 17): the reasons are in the reader's language, the codes are not.

The guards' names (is_located, is_serviceable, decommission_ready) are the stable refusal codes; what they say
(``reasons``, the ``message``, an option's ``blocked_by``) follows Accept-Language, on the map and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from declarations.guards import GUARDS
from declarations.states import AssetState
from lifecycle.models import TransitionLog
from lifecycle.services import asset_transition
from tests.api.conftest import client_for
from tests.factories import UserFactory
from tests.i18n.test_spanish import EN, ES, action, signed_in
from tests.map.conftest import build_map_hospital

pytestmark = pytest.mark.django_db

ENGLISH_WORDS = ("overdue", "PM ", "not located", "last seen", "cannot", "recall")


def pm_overdue_pump(hospital, **kwargs):
    last_pm = timezone.localdate() - timedelta(days=400)
    return hospital.place("4N-402", asset_tag="IP-9", last_pm_date=last_pm, **kwargs), last_pm + timedelta(days=365)


def test_a_guard_refusal_on_the_map_is_all_spanish_with_the_same_codes(nurse):
    hospital = build_map_hospital()
    pump, due = pm_overdue_pump(hospital)
    client = signed_in(nurse)
    body = {"action": "start_use", "expected_state": "available"}
    spanish, english = action(client, pump, body, **ES), action(client, pump, body, **EN)

    assert spanish.status_code == english.status_code == 409
    es, en = spanish.json(), english.json()
    assert es["code"] == en["code"] == "guard_failed"
    assert es["reason_codes"] == en["reason_codes"] == ["is_serviceable"]
    assert en["reasons"] == [f"PM overdue since {due:%Y-%m-%d}"]
    assert es["reasons"] == [f"mantenimiento preventivo: vencido desde el {due:%Y-%m-%d}"]
    assert es["message"] == f"no se puede iniciar uso IP-9: mantenimiento preventivo: vencido desde el {due:%Y-%m-%d}"
    assert not any(word in es["message"] for word in ENGLISH_WORDS), es["message"]
    pump.refresh_from_db()
    assert pump.state == AssetState.AVAILABLE  # refused: nothing changed


def test_a_not_located_refusal_in_the_api_is_all_spanish_with_the_same_codes(dispatcher):
    hospital = build_map_hospital()
    pump = hospital.place("4N-402", asset_tag="IP-7", seen_minutes_ago=600)
    client = client_for(dispatcher)
    url = f"/api/v1/assets/{pump.pk}/transitions/"
    spanish = client.post(url, {"transition": "reserve"}, format="json", **ES)
    english = client.post(url, {"transition": "reserve"}, format="json", **EN)

    assert spanish.status_code == english.status_code == 409
    es, en = spanish.json(), english.json()
    assert es["code"] == en["code"] == "guard_failed"
    assert es["reason_codes"] == en["reason_codes"] == ["is_located"]
    assert en["reasons"][0].startswith("asset is not located: stale, last seen in 4N-402 at ")
    assert es["reasons"][0].startswith(
        "el equipo no está localizado: desactualizado, visto por última vez en 4N-402 el "
    )
    assert es["message"].startswith("no se puede reservar IP-7: el equipo no está localizado")
    assert not any(word in es["message"] for word in ENGLISH_WORDS), es["message"]


def test_the_asset_detail_says_why_in_spanish_and_which_guard_in_codes(dispatcher):
    hospital = build_map_hospital()
    pump, due = pm_overdue_pump(hospital, seen_minutes_ago=600)
    client = client_for(dispatcher)
    options = {
        lang: {o["name"]: o for o in client.get(f"/api/v1/assets/{pump.pk}/", **headers).json()["transitions"]}
        for lang, headers in (("en", EN), ("es", ES))
    }
    assert options["es"]["reserve"]["refused_by"] == options["en"]["reserve"]["refused_by"]
    assert options["es"]["reserve"]["refused_by"] == ["is_located", "is_serviceable"]
    blocked = options["es"]["reserve"]["blocked_by"]
    assert blocked[0].startswith("el equipo no está localizado: desactualizado")
    assert blocked[1] == f"mantenimiento preventivo: vencido desde el {due:%Y-%m-%d}"
    assert options["en"]["reserve"]["blocked_by"][1] == f"PM overdue since {due:%Y-%m-%d}"


def test_the_guards_descriptions_follow_the_language():
    with translation.override("es"):
        spanish = {name: str(guard.description) for name, guard in GUARDS.items()}
    with translation.override("en"):
        english = {name: str(guard.description) for name, guard in GUARDS.items()}
    assert set(spanish) == set(english) == {"is_located", "is_serviceable", "decommission_ready"}
    assert spanish["is_serviceable"] == "mantenimiento preventivo al día y sin orden de trabajo de retirada abierta"
    assert english["is_serviceable"] == "PM not overdue and no open recall work order"


def test_a_stored_note_keeps_the_source_language(nurse):
    """A refusal is for the reader; the note finish_cleaning stores (sent to biomed) is a record: English."""
    hospital = build_map_hospital()
    pump, due = pm_overdue_pump(hospital, state=AssetState.CLEANING)
    cleaner = UserFactory(username="ce", roles=["Clinical engineering"])
    with translation.override("es"):
        asset_transition(asset=pump, transition="finish_cleaning", user=cleaner)
    note = TransitionLog.objects.filter(asset=pump).latest("id").note
    assert note == f"sent to biomed instead of available: PM overdue since {due:%Y-%m-%d}"
