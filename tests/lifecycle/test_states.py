"""One definition per state, shown identically by the code, the API, the admin and the docs."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from assets.models import Asset
from declarations.states import STATE_DEFINITIONS, AssetState, state_definition
from lifecycle.display import state_badge
from lifecycle.statedocs import render_states_markdown
from tests.factories import AssetFactory, UserFactory

# The agreed meaning of each state, word for word (docs/design.md §2: one definition per state).
DESIGN_DEFINITIONS = {
    "available": "Clean, working, PM and calibration not overdue, no open recall, not reserved or in use. "
    "Can be handed to a patient now.",
    "reserved": "Claimed by a dispatch request and on its way. Nobody else may take it.",
    "in_use": "With a patient or a procedure.",
    "soiled": "Used and returned, or found in a soiled utility room. Must be reprocessed before use.",
    "cleaning": "Being reprocessed by environmental services or central equipment.",
    "biomed": "With clinical engineering for PM, repair, calibration or recall work. Not usable.",
    "decommissioned": "Permanently retired after the decommissioning checklist and dual sign-off. Terminal.",
}


def test_each_state_is_declared_once_with_the_design_definition():
    assert list(STATE_DEFINITIONS) == list(DESIGN_DEFINITIONS)
    assert AssetState.values == list(DESIGN_DEFINITIONS)
    for value, text in DESIGN_DEFINITIONS.items():
        d = state_definition(value)
        assert d.definition == text
        assert AssetState(value).label == d.label


def test_colour_is_never_the_only_signal():
    definitions = list(STATE_DEFINITIONS.values())
    for attribute in ("colour", "icon", "shape"):
        values = [getattr(d, attribute) for d in definitions]
        assert len(set(values)) == len(values), f"two states share a {attribute}"
    assert all(d.colour.startswith("#") and len(d.colour) == 7 for d in definitions)
    assert [d.value for d in definitions if d.usable] == ["available"]
    assert [d.value for d in definitions if d.terminal] == ["decommissioned"]


def test_unknown_state_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown asset state 'broken'.*available, reserved"):
        state_definition("broken")


def test_model_field_uses_the_shared_choices_and_defaults_to_available(db):
    field = Asset._meta.get_field("state")
    assert field.choices == AssetState.choices
    assert field.protected
    assert AssetFactory().state == AssetState.AVAILABLE


def test_state_cannot_be_assigned_directly(db):
    asset = AssetFactory()
    with pytest.raises(AttributeError, match="Direct state modification is not allowed"):
        asset.state = AssetState.IN_USE


def test_api_lists_the_same_definitions(db):
    client = APIClient()
    client.force_authenticate(UserFactory(roles=["Nurse"]))
    response = client.get("/api/v1/states/")
    assert response.status_code == 200
    body = response.json()
    assert [s["value"] for s in body] == list(DESIGN_DEFINITIONS)
    for item in body:
        d = state_definition(item["value"])
        assert item == d.as_dict()
        assert item["definition"] == DESIGN_DEFINITIONS[item["value"]]


def test_api_requires_sign_in(db):
    assert APIClient().get("/api/v1/states/").status_code in (401, 403)


def test_openapi_schema_documents_the_states_endpoint(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out), "--validate")
    schema = out.read_text(encoding="utf-8")
    assert "/api/v1/states/:" in schema
    assert "The one agreed meaning of the state" in schema


def test_admin_badge_shows_colour_icon_label_and_definition():
    html = str(state_badge("soiled"))
    d = state_definition("soiled")
    assert d.colour in html and d.icon in html and d.label in html
    assert f'title="{d.definition}"' in html


def test_admin_asset_list_shows_the_state_badge(admin_client, db):
    AssetFactory(asset_tag="IP-BADGE", state=AssetState.BIOMED)
    response = admin_client.get("/admin/assets/asset/")
    assert response.status_code == 200
    assert str(state_badge("biomed")) in response.content.decode()


def test_docs_page_matches_the_declarations():
    path = Path(settings.BASE_DIR) / "docs" / "states.md"
    assert path.read_text(encoding="utf-8") == render_states_markdown(), (
        "docs/states.md is out of date: run python manage.py document_states"
    )
    text = path.read_text(encoding="utf-8")
    for value, definition in DESIGN_DEFINITIONS.items():
        assert f"| `{value}` |" in text and definition in text
    assert "| `return` | `in_use` | `soiled` | Nurse, Dispatch, superusers |" in text


def test_document_states_command_writes_and_checks(tmp_path):
    out = tmp_path / "states.md"
    with pytest.raises(CommandError, match="out of date"):
        call_command("document_states", "--check", "--output", str(out))
    call_command("document_states", "--output", str(out))
    assert out.read_text(encoding="utf-8") == render_states_markdown()
    call_command("document_states", "--check", "--output", str(out))
