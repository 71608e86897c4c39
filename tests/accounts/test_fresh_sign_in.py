# ruff: noqa: F811  (fixtures imported from another test module, used as arguments)
"""Checklist sign-off and decommissioning need a fresh sign-in: in the admin, the password and code again;
for API clients, a short-lived step-up token (a long-lived token is refused with 403 step_up_required)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.models import ApiToken, ApiTokenKind
from lifecycle.decommissioning.models import DecommissioningChecklist, SignOff
from tests.accounts.helpers import PASSWORD, code_for, enrolled
from tests.api.conftest import client_for
from tests.lifecycle.decommissioning.conftest import asset, checklist, complete, tag  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(checklist, biomed):
    return complete(checklist, biomed)


def test_an_old_admin_sign_in_must_sign_in_again_before_signing_off(client, biomed, ready, security_log, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's back-off after the wrong code below, aside
    biomed.is_staff = True
    biomed.save()
    device = enrolled(biomed)
    assert (
        client.post(
            reverse("admin:login"), {"username": "biomed", "password": PASSWORD, "otp_code": code_for(device)}
        ).status_code
        == 302
    )
    sign_off_url = reverse("admin:decommissioning_sign_off", args=[ready.pk])
    with freeze_time(timezone.now() + timedelta(minutes=11)):
        client.post(reverse("map-session"))  # active, so not idle: only the sign-in is old
        refused = client.post(sign_off_url, {"role": "clinical_engineering", "version": ready.version})
        assert refused.status_code == 302 and refused["Location"].startswith(reverse("admin:reauth"))
        assert not SignOff.objects.exists()
        wrong = client.post(refused["Location"], {"password": PASSWORD, "otp_code": "000000"})
        assert wrong.status_code == 200 and not SignOff.objects.exists()
        again = client.post(refused["Location"], {"password": PASSWORD, "otp_code": code_for(device, steps_ahead=1)})
        assert again.status_code == 302 and again["Location"] == sign_off_url
        signed = client.post(sign_off_url, {"role": "clinical_engineering", "version": ready.version})
        assert signed.status_code == 302 and SignOff.objects.count() == 1
    assert security_log("admin.fresh_signin_required")


def _api(asset, rest):
    return f"/api/v1/assets/{asset.pk}/decommissioning/{rest}"


def test_a_long_lived_token_cannot_sign_off_or_decommission(biomed, ready, asset):
    client = client_for(biomed)
    sign = client.post(_api(asset, "sign-offs/"), {"role": "clinical_engineering"}, format="json")
    assert sign.status_code == 403 and sign.json()["code"] == "step_up_required"
    assert "step-up" in sign.json()["message"]
    decommission = client.post(_api(asset, "decommission/"), {}, format="json")
    assert decommission.status_code == 403 and decommission.json()["code"] == "step_up_required"
    assert not SignOff.objects.exists()
    assert client.get(_api(asset, "")).status_code == 200  # reading needs no step-up


def test_the_step_up_exchange_gives_a_short_lived_token_that_may_sign_off(biomed, ready, asset, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device = enrolled(biomed)
    anonymous = APIClient()
    no_code = anonymous.post(reverse("api-step-up"), {"username": "biomed", "password": PASSWORD}, format="json")
    assert no_code.status_code == 401 and no_code.json()["code"] == "otp_required"
    wrong = anonymous.post(
        reverse("api-step-up"), {"username": "biomed", "password": PASSWORD, "otp_code": "000000"}, format="json"
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "otp_invalid"
    got = anonymous.post(
        reverse("api-step-up"),
        {"username": "biomed", "password": PASSWORD, "otp_code": code_for(device)},
        format="json",
    )
    assert got.status_code == 201
    token = ApiToken.objects.get(kind=ApiTokenKind.STEP_UP)
    assert got.json()["token"] not in token.digest and token.expires_at <= timezone.now() + timedelta(minutes=10)
    step_up = APIClient()
    step_up.credentials(HTTP_AUTHORIZATION=f"Token {got.json()['token']}")
    version = DecommissioningChecklist.objects.get(asset=asset).version
    signed = step_up.post(
        _api(asset, "sign-offs/"), {"role": "clinical_engineering", "version": version}, format="json"
    )
    assert signed.status_code == 201, signed.json()
    with freeze_time(timezone.now() + timedelta(minutes=11)):
        late = step_up.get(_api(asset, ""))
        assert late.status_code == 401  # expired: the short-lived token is no longer accepted at all
