"""TOTP two-factor sign-in to the admin: required for Clinical engineering, Security and superusers."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from tests.accounts.helpers import PASSWORD, code_for, enrolled
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def sign_in(client, username, code=""):
    return client.post(reverse("admin:login"), {"username": username, "password": PASSWORD, "otp_code": code})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"roles": ["Clinical engineering"], "is_staff": True},
        {"roles": ["Security"], "is_staff": True},
        {"is_staff": True, "is_superuser": True},
    ],
    ids=["clinical-engineering", "security", "superuser"],
)
def test_the_admin_needs_the_password_and_a_fresh_code(client, kwargs, security_log, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's back-off after a wrong code (1 s, 2 s, ...) aside
    user = UserFactory(username="two-factor", **kwargs)
    device = enrolled(user)
    without = sign_in(client, "two-factor")
    assert without.status_code == 200 and "6-digit code" in without.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302
    wrong = sign_in(client, "two-factor", "123456" if code_for(device) != "123456" else "654321")
    assert "one-time code is wrong" in wrong.content.decode()
    code = code_for(device)
    assert sign_in(client, "two-factor", code).status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    assert security_log("auth.login")[-1]["second_factor"] is True
    # The same code never works twice (a shoulder-surfed code is useless afterwards).
    client.logout()
    replay = sign_in(client, "two-factor", code)
    assert "one-time code is wrong" in replay.content.decode()


def test_staff_without_such_a_role_sign_in_with_the_password_only(client):
    UserFactory(username="dispatch-staff", roles=["Dispatch"], is_staff=True)
    assert sign_in(client, "dispatch-staff").status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_role_needing_two_factor_without_an_authenticator_is_told_what_to_do(client):
    UserFactory(username="sec-new", roles=["Security"], is_staff=True)
    response = sign_in(client, "sec-new", "123456")
    assert "manage.py totp_enroll sec-new" in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302


def test_the_requirement_is_a_setting(client, settings):
    settings.OTP_REQUIRED_ROLES = []
    settings.OTP_REQUIRED_FOR_SUPERUSERS = False
    UserFactory(username="ce-plain", roles=["Clinical engineering"], is_staff=True)
    assert sign_in(client, "ce-plain").status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.otp_unverified
def test_a_session_signed_in_without_the_code_does_not_open_the_admin(client):
    """A biomed who signed in on the map (password only) is asked for the code by the admin."""
    user = UserFactory(username="ce-map", roles=["Clinical engineering"], is_staff=True)
    enrolled(user)
    client.force_login(user)
    assert client.get(reverse("floormap:map")).status_code == 200
    page = client.get(reverse("admin:index"))
    assert page.status_code == 302 and page["Location"].startswith(reverse("admin:login"))


def test_totp_enroll_prints_an_otpauth_uri_once(capsys):
    user = UserFactory(username="ce-new", roles=["Clinical engineering"])
    call_command("totp_enroll", "ce-new")
    uri = capsys.readouterr().out.strip()
    assert uri.startswith("otpauth://totp/") and "secret=" in uri and "ce-new" in uri
    with pytest.raises(Exception, match="already has an authenticator"):
        call_command("totp_enroll", "ce-new")
    assert user.totpdevice_set.count() == 1


def test_after_a_wrong_code_the_back_off_is_explained(client):
    """django-otp waits 1 s, 2 s, 4 s... after wrong codes; the form says so instead of "wrong code"."""
    user = UserFactory(username="sec-slow", roles=["Security"], is_staff=True)
    device = enrolled(user)
    sign_in(client, "sec-slow", "000000" if code_for(device) != "000000" else "111111")
    response = sign_in(client, "sec-slow", code_for(device))
    assert "wait a few seconds" in response.content.decode()
