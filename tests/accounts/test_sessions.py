"""Idle timeout and maximum session age on shared workstations; polling is not activity."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from tests.accounts.helpers import PASSWORD
from tests.factories import FloorFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in_nurse(client):
    UserFactory(username="nurse-s", roles=["Nurse"])
    assert client.post(reverse("floormap:login"), {"username": "nurse-s", "password": PASSWORD}).status_code == 302
    return client


def test_the_defaults_suit_a_shared_nursing_workstation(settings):
    assert settings.SESSION_IDLE_SECONDS == 15 * 60
    assert settings.SESSION_MAX_AGE_SECONDS == 12 * 3600


def test_polling_does_not_keep_an_idle_session_alive(signed_in_nurse, security_log):
    client = signed_in_nurse
    floor = FloorFactory()
    polling = reverse("map-floor-assets", args=[floor.pk])
    start = timezone.now()
    with freeze_time(start) as clock:
        for _ in range(14):  # a map left open: it polls every minute for 14 minutes
            clock.tick(timedelta(minutes=1))
            answer = client.get(polling)
            assert answer.status_code == 200
        assert int(answer["X-Session-Expires-In"]) <= 60
        clock.tick(timedelta(minutes=1, seconds=1))
        expired = client.get(polling)
        assert expired.status_code == 401 and expired.json()["code"] == "session_expired"
        page = client.get(reverse("floormap:map"))
        assert page.status_code == 302 and page["Location"].startswith(reverse("floormap:login"))
    assert security_log("session.expired")[0]["reason"] == "idle"
    assert security_log("auth.logout")


def test_a_person_using_the_map_stays_signed_in_until_the_maximum_age(signed_in_nurse, settings):
    client = signed_in_nurse
    start = timezone.now()
    with freeze_time(start) as clock:
        for _ in range(51):  # every 14 minutes someone says "stay signed in", for 11 h 54 min
            clock.tick(timedelta(minutes=14))
            assert client.post(reverse("map-session")).status_code == 200
        clock.move_to(start + timedelta(hours=12, seconds=1))  # 6 minutes idle, but 12 hours signed in
        expired = client.get(reverse("floormap:map"))
        assert expired.status_code == 302 and "expired=max_age" in expired["Location"]


def test_the_session_endpoint_reports_without_counting_and_stay_signed_in_counts(signed_in_nurse):
    client = signed_in_nurse
    start = timezone.now()
    with freeze_time(start) as clock:
        clock.tick(timedelta(minutes=10))
        status = client.get(reverse("map-session")).json()
        assert 280 <= status["expires_in"] <= 300  # asking did not reset the clock
        stay = client.post(reverse("map-session")).json()
        assert stay["expires_in"] >= 15 * 60 - 1
        clock.tick(timedelta(minutes=14))
        assert client.get(reverse("floormap:map")).status_code == 200


def test_the_admin_times_out_too(client, settings):
    user = UserFactory(username="dispatch-admin", roles=["Dispatch"], is_staff=True)
    client.force_login(user)
    with freeze_time(timezone.now() + timedelta(minutes=16)):
        page = client.get(reverse("admin:index"))
    assert page.status_code == 302 and "expired=idle" in page["Location"]
