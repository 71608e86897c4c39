"""The admin's app list, model names, change-list titles, column headers and form labels follow the language (issue
17): app, model and field verbose names and field help texts are translated; the app labels and URLs stay as they
are."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import AssetFactory, UserFactory
from tests.i18n.test_spanish import EN, ES

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_the_admin_index_names_apps_and_models_in_spanish(root):
    spanish = root.get(reverse("admin:index"), **ES).content.decode()
    english = root.get(reverse("admin:index"), **EN).content.decode()
    for text in (
        "Equipos y etiquetas",
        "Ubicaciones: centros, plantas, habitaciones y receptores",
        "Bajas: lista de comprobación, firmas y certificados",
        "Tipos de equipo",
        "Listas de comprobación de baja",
        "Órdenes de trabajo",
        "Solicitudes de equipos",
        "Tokens de pasarela",
    ):
        assert text in spanish, text
    assert "Assets and tags" in english and "Decommissioning checklists" in english
    assert "Assets and tags" not in spanish and "Decommissioning checklists" not in spanish
    # The URLs keep the app labels.
    assert reverse("admin:assets_assettype_changelist") in spanish


def test_a_change_list_title_is_in_spanish(root):
    html = root.get(reverse("admin:lifecycle_workorder_changelist"), **ES).content.decode()
    assert "orden de trabajo" in html.lower()
    assert "Select work order to change" not in html


def test_the_asset_list_column_headers_are_in_spanish(root):
    AssetFactory(asset_tag="INV-0001")
    spanish = root.get(reverse("admin:assets_asset_changelist"), **ES).content.decode()
    english = root.get(reverse("admin:assets_asset_changelist"), **EN).content.decode()
    # Column headers (field verbose names) and a list filter's title.
    for text in (">Número de inventario</a>", ">Tipo de equipo</a>", ">Modelo</a>", "Por clase de riesgo"):
        assert text in spanish, text
    # (The search box's help text is not translated yet, so the header is matched as a link.)
    for text in (">Asset tag</a>", "By risk class"):
        assert text in english and text not in spanish, text


def test_the_asset_form_labels_and_help_texts_are_in_spanish(root):
    asset = AssetFactory(asset_tag="INV-0002")
    url = reverse("admin:assets_asset_change", args=[asset.pk])
    spanish = root.get(url, **ES).content.decode()
    english = root.get(url, **EN).content.decode()
    for text in (
        "Número de serie:",
        "Fabricante:",
        "Versión de firmware:",
        "Fecha de puesta en servicio:",
        "El número de inventario del hospital.",
    ):
        assert text in spanish, text
    for text in ("Serial number:", "Firmware version:", "In service date:", "inventory number."):
        assert text in english and text not in spanish, text
