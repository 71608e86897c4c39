# ruff: noqa: F811  (fixtures imported from another test module, used as arguments)
"""Checklist sign-off and decommissioning need a fresh sign-in: in the admin, the password and code again;
for API clients, a short-lived step-up token (a long-lived token is refused with 403 step_up_required)."""

from datetime import timedelta

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.models import ApiToken, ApiTokenKind
from accounts.services import api_token_issue
from config.security_events import SecurityEventMiddleware
from lifecycle.decommissioning import services
from lifecycle.decommissioning.models import DecommissioningCertificate, DecommissioningChecklist, SignOff
from lifecycle.exceptions import StepUpRequired
from lifecycle.models import TransitionLog
from lifecycle.services import asset_transition
from tests.accounts.helpers import PASSWORD, code_for, enrolled
from tests.api.conftest import client_for
from tests.factories import AssetFactory
from tests.lifecycle.decommissioning.conftest import (  # noqa: F401  (fixtures)
    asset,
    checklist,
    complete,
    complete_checklist,
    signed_checklist,
    tag,
)

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


def _transition(client, asset, name="decommission"):
    return client.post(f"/api/v1/assets/{asset.pk}/transitions/", {"transition": name}, format="json")


def test_every_route_to_decommission_refuses_a_long_lived_token(biomed, signed_checklist, asset, security_log):
    """The checklist's own endpoint and the generic transitions endpoint alike: 403 step_up_required, the asset
    stays in biomed and no certificate is issued (docs/security.md, "Stolen token")."""
    client = client_for(biomed)
    for answer in (client.post(_api(asset, "decommission/"), {}, format="json"), _transition(client, asset)):
        assert answer.status_code == 403, answer.json()
        assert answer.json()["code"] == "step_up_required" and "step-up" in answer.json()["message"]
    asset.refresh_from_db()
    assert asset.state == "biomed"
    assert not DecommissioningCertificate.objects.exists()
    assert not TransitionLog.objects.filter(asset=asset, transition="decommission").exists()
    assert security_log("policy.step_up_required")
    # Other transitions need no step-up: the same token sends a pump (available) to biomed.
    other = AssetFactory(state="available")
    sent = client.post(
        f"/api/v1/assets/{other.pk}/transitions/", {"transition": "send_to_biomed", "note": "alarm fails"}
    )
    assert sent.status_code == 201, sent.json()


def test_a_step_up_token_decommissions_through_the_transitions_endpoint(biomed, signed_checklist, asset):
    answer = _transition(client_for(biomed, step_up=True), asset)
    assert answer.status_code == 201, answer.json()
    asset.refresh_from_db()
    assert asset.state == "decommissioned"
    assert DecommissioningCertificate.objects.filter(asset=asset).exists()


def test_a_session_signed_in_too_long_ago_cannot_decommission_through_the_api(client, biomed, signed_checklist, asset):
    """A session (the map's, or a browser on the API) is fresh for FRESH_SIGNIN_MINUTES after its sign-in."""
    client.force_login(biomed)
    with freeze_time(timezone.now() + timedelta(minutes=11)):
        client.post(reverse("map-session"))  # active, so not idle: only the sign-in is old
        old = client.post(
            f"/api/v1/assets/{asset.pk}/transitions/", {"transition": "decommission"}, content_type="application/json"
        )
        assert old.status_code == 403 and old.json()["code"] == "step_up_required"
        asset.refresh_from_db()
        assert asset.state == "biomed"
    fresh = client.post(
        f"/api/v1/assets/{asset.pk}/transitions/", {"transition": "decommission"}, content_type="application/json"
    )
    assert fresh.status_code == 201, fresh.json()


def test_a_new_view_that_forgets_the_step_up_still_cannot_sign_off_or_decommission(biomed, ready, asset):
    """The services ask for the fresh sign-in themselves, from the request being served (every request passes
    SecurityEventMiddleware): a route added tomorrow without FreshSignInRequired is refused all the same."""

    def careless_view(request):
        for attempt in (
            lambda: services.checklist_sign_off(
                checklist=ready, user=request.user, role="clinical_engineering", version=ready.version
            ),
            lambda: services.asset_decommission(asset=asset, user=request.user),
            lambda: asset_transition(asset=asset, transition="decommission", user=request.user),
        ):
            with pytest.raises(StepUpRequired):
                attempt()
        return HttpResponse("done")

    request = RequestFactory().post("/some/new/route/")
    request.user, request.auth = biomed, api_token_issue(user=biomed).token  # as DRF leaves a token request
    assert SecurityEventMiddleware(careless_view)(request).status_code == 200
    assert not SignOff.objects.exists()
    asset.refresh_from_db()
    assert asset.state == "biomed"
    # Outside a request (a management command, the shell) there is no credential to be stale.
    services.checklist_sign_off(checklist=ready, user=biomed, role="clinical_engineering", version=ready.version)
    assert SignOff.objects.count() == 1
