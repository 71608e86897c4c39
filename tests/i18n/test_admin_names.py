"""The admin's app list, model names and change-list titles follow the language (issue 17): app verbose names and
model verbose names are translated; the app labels and URLs stay as they are."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import UserFactory
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
