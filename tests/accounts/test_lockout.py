"""Lockout after repeated failed sign-ins (django-axes): the admin, the map and the API's step-up exchange."""

import pytest
from django.urls import reverse

from tests.accounts.helpers import PASSWORD, code_for, enrolled
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limit_three(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's own back-off after a wrong code, aside


def test_the_map_sign_in_locks_out_after_the_limit_even_with_the_right_password(client, security_log):
    UserFactory(username="nurse-a", roles=["Nurse"])
    login = reverse("floormap:login")
    for _ in range(2):
        assert client.post(login, {"username": "nurse-a", "password": "wrong"}).status_code == 200
    locked = client.post(login, {"username": "nurse-a", "password": "wrong"})
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.content.decode()
    # Now even the right password is refused, and the session is not signed in.
    again = client.post(login, {"username": "nurse-a", "password": PASSWORD})
    assert again.status_code == 429
    assert client.get(reverse("floormap:map")).status_code == 302
    assert len(security_log("auth.login_failed")) >= 3
    assert security_log("auth.lockout")[0]["username"] == "nurse-a"


def test_another_address_is_not_locked_out(client, settings):
    """Username and address together: a colleague on another workstation still signs in."""
    UserFactory(username="nurse-b", roles=["Nurse"])
    login = reverse("floormap:login")
    for _ in range(3):
        client.post(login, {"username": "nurse-b", "password": "wrong"}, REMOTE_ADDR="10.1.1.1")
    assert client.post(login, {"username": "nurse-b", "password": PASSWORD}, REMOTE_ADDR="10.1.1.1").status_code == 429
    ok = client.post(login, {"username": "nurse-b", "password": PASSWORD}, REMOTE_ADDR="10.2.2.2")
    assert ok.status_code == 302 and ok["Location"] == reverse("floormap:map")


def test_the_admin_sign_in_locks_out_and_wrong_one_time_codes_count(client, security_log):
    user = UserFactory(username="ce-a", roles=["Clinical engineering"], is_staff=True)
    device = enrolled(user)
    login = reverse("admin:login")
    for _ in range(2):  # the right password, a wrong code: a failed sign-in too
        response = client.post(login, {"username": "ce-a", "password": PASSWORD, "otp_code": "000000"})
        assert response.status_code == 200 and "one-time code is wrong" in response.content.decode()
    locked = client.post(login, {"username": "ce-a", "password": "wrong"})
    assert locked.status_code == 429
    refused = client.post(login, {"username": "ce-a", "password": PASSWORD, "otp_code": code_for(device)})
    assert refused.status_code == 429
    assert client.get(reverse("admin:index")).status_code == 302
    assert security_log("auth.lockout")


def test_the_step_up_exchange_locks_out(client):
    user = UserFactory(username="ce-b", roles=["Clinical engineering"])
    device = enrolled(user)
    url = reverse("api-step-up")
    for _ in range(2):
        wrong = client.post(url, {"username": "ce-b", "password": "nope"}, content_type="application/json")
        assert wrong.status_code == 401 and wrong.json()["code"] == "credentials_invalid"
    third = client.post(url, {"username": "ce-b", "password": "nope"}, content_type="application/json")
    assert third.status_code == 429 and third.json()["code"] == "locked_out"
    body = {"username": "ce-b", "password": PASSWORD, "otp_code": code_for(device)}
    after = client.post(url, body, content_type="application/json")
    assert after.status_code == 429 and after.json()["code"] == "locked_out"


def test_a_successful_sign_in_is_logged(client, security_log):
    UserFactory(username="nurse-c", roles=["Nurse"])
    client.post(reverse("floormap:login"), {"username": "nurse-c", "password": PASSWORD}, REMOTE_ADDR="10.9.9.9")
    (event,) = security_log("auth.login")
    assert event["user"] == "nurse-c" and event["ip"] == "10.9.9.9" and event["door"] == "map"
