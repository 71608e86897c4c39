"""API tokens: hashed, expiring, revocable; shown once at issue; the old plain-text DRF tokens moved over."""

import hashlib
import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_issue
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def api(raw):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return client


def stored_text(token) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken WHERE id = %s", [token.pk])
        return " ".join(str(v) for v in cursor.fetchone())


def test_issue_token_prints_it_once_and_stores_only_a_hash(capsys):
    UserFactory(username="dispatch-bot", roles=["Dispatch"], password=None)
    call_command("issue_token", "dispatch-bot")
    raw = capsys.readouterr().out.strip()
    token = ApiToken.objects.get()
    assert raw not in stored_text(token) and hashlib.sha256(raw.encode()).hexdigest() == token.digest
    assert api(raw).get("/api/v1/assets/").status_code == 200
    assert token.expires_at - timezone.now() > timedelta(days=89)
    # Asking again issues a new token: the first cannot be shown again.
    call_command("issue_token", "dispatch-bot")
    assert capsys.readouterr().out.strip() != raw and ApiToken.objects.count() == 2


def test_rotate_revokes_the_old_token_and_revoke_revokes_all(capsys):
    UserFactory(username="dispatch-bot", roles=["Dispatch"], password=None)
    call_command("issue_token", "dispatch-bot")
    old = capsys.readouterr().out.strip()
    call_command("issue_token", "dispatch-bot", "--rotate")
    new = capsys.readouterr().out.strip()
    assert api(old).get("/api/v1/assets/").status_code == 401
    assert api(new).get("/api/v1/assets/").status_code == 200
    call_command("issue_token", "dispatch-bot", "--revoke")
    refused = api(new).get("/api/v1/assets/")
    assert refused.status_code == 401 and "revoked" in refused.json()["message"]


def test_an_expired_token_is_refused():
    user = UserFactory(username="dispatch-bot", roles=["Dispatch"], password=None)
    raw = api_token_issue(user=user, lifetime=timedelta(days=1)).raw
    assert api(raw).get("/api/v1/assets/").status_code == 200
    with freeze_time(timezone.now() + timedelta(days=1, seconds=1)):
        assert api(raw).get("/api/v1/assets/").status_code == 401


def test_a_script_revokes_its_own_token():
    user = UserFactory(username="dispatch-bot", roles=["Dispatch"], password=None)
    raw = api_token_issue(user=user).raw
    assert api(raw).delete(reverse("api-current-token")).status_code == 204
    assert api(raw).get("/api/v1/assets/").status_code == 401


def test_the_admin_shows_a_new_token_once_and_never_again(client):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    bot = UserFactory(username="dispatch-bot", roles=["Dispatch"], password=None)
    client.force_login(admin)
    page = client.post(reverse("admin:accounts_apitoken_add"), {"user": bot.pk, "label": "dispatch board", "days": 30})
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    token = ApiToken.objects.get()
    raw = page.context["issued"][0][1]
    assert raw in page.content.decode() and api(raw).get("/api/v1/assets/").status_code == 200
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    detail = client.get(reverse("admin:accounts_apitoken_change", args=[token.pk])).content.decode()
    assert raw not in detail and token.key in detail
    listing = client.get(reverse("admin:accounts_apitoken_changelist")).content.decode()
    assert raw not in listing
    # Revoke and rotate from the list.
    rotated = client.post(
        reverse("admin:accounts_apitoken_changelist"), {"action": "rotate_tokens", "_selected_action": [token.pk]}
    )
    new_raw = rotated.context["issued"][0][1]
    assert api(raw).get("/api/v1/assets/").status_code == 401
    assert api(new_raw).get("/api/v1/assets/").status_code == 200
    client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": list(ApiToken.objects.values_list("pk", flat=True))},
    )
    assert api(new_raw).get("/api/v1/assets/").status_code == 401


def test_existing_plain_text_drf_tokens_move_over_hashed_and_keep_working():
    user = UserFactory(username="legacy-bot", roles=["Dispatch"], password=None)
    old_key = Token.objects.create(user=user).key
    migration = importlib.import_module("accounts.migrations.0002_hash_drf_tokens")
    migration.hash_existing_tokens(apps, None)
    assert not Token.objects.exists()
    moved = ApiToken.objects.get(user=user)
    assert old_key not in stored_text(moved)
    assert api(old_key).get("/api/v1/assets/").status_code == 200  # the same header still works
