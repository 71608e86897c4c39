"""The engine's per-gateway clock estimate, end to end: a recorded file from gateways without NTP goes
through replay_sightings (real PostgreSQL); the estimate lands on the receiver rows and shows in the
admin, the API and /healthz, and a gateway off by more than GATEWAY_CLOCK_ALERT_SECONDS raises an alert."""

import pytest
from django.test import Client

from lifecycle.alerts.choices import AlertKind
from lifecycle.alerts.services import alerts_check_all
from locations.models import Receiver
from locations.simulator import RadioModel
from tests.api.conftest import client_for
from tests.factories import UserFactory
from tests.locations.sim_hospital import make_ward, replay_simulated, tagged_asset

TAGS = [f"c30000000{n:03x}" for n in range(1, 7)]


@pytest.fixture
def skewed_replay(db, tmp_path):
    """Five minutes of six tags on the ward, every gateway's clock off by up to 1.5 s; replayed."""
    ward = make_ward()
    for tag_id in TAGS:
        tagged_asset(tag_id)
    sim = replay_simulated(tmp_path / "skewed.jsonl", TAGS, seed=3, radio=RadioModel(gateway_clock_offset_s=1.5))
    truth = {}
    for building in sim.buildings.values():
        for i, gateway_id in enumerate(building.rx_ids):
            truth[gateway_id] = float(building.rx_skew[i])
    return ward, truth


def test_replay_stores_each_gateways_clock_offset_on_its_receiver(skewed_replay):
    ward, truth = skewed_replay
    rows = {r.gateway_id: r for r in Receiver.objects.all()}
    estimated = {g: r.clock_offset_s for g, r in rows.items() if r.clock_offset_s is not None}
    assert len(estimated) >= 4
    # Relative to the consensus (the median gateway), within 20 ms of the gateways' real clocks.
    shift = sorted(estimated[g] - truth[g] for g in estimated)[len(estimated) // 2]
    for gateway_id, offset in estimated.items():
        assert offset - truth[gateway_id] == pytest.approx(shift, abs=0.02), gateway_id
        assert rows[gateway_id].clock_pairs > 0 and rows[gateway_id].clock_estimated_at is not None


def test_the_estimate_shows_in_the_api_admin_and_healthz_and_a_skewed_gateway_raises_an_alert(skewed_replay, settings):
    ward, truth = skewed_replay
    worst = max(Receiver.objects.exclude(clock_offset_s=None), key=lambda r: abs(r.clock_offset_s))
    settings.GATEWAY_CLOCK_ALERT_SECONDS = abs(worst.clock_offset_s) - 0.05

    reader = UserFactory(username="clock-reader", password=None, roles=["Clinical engineering"])
    api = client_for(reader).get("/api/v1/receivers/")
    assert api.status_code == 200
    listed = {r["gateway_id"]: r for r in api.json()["results"]}
    assert listed[worst.gateway_id]["clock_offset_s"] == pytest.approx(worst.clock_offset_s)
    assert listed[worst.gateway_id]["clock_pairs"] == worst.clock_pairs

    settings.HEALTHZ_TOKEN = "monitor-token-for-tests"  # the detail is for monitoring, not for anonymous callers
    health = Client().get("/healthz", HTTP_AUTHORIZATION="Bearer monitor-token-for-tests").json()["gateway_clocks"]
    assert health["status"] == "skewed" and health["off"] == [worst.gateway_id]
    assert health["worst_offset_s"] == pytest.approx(abs(worst.clock_offset_s))

    report = alerts_check_all()
    clock_alerts = [a for a in report.raised if a.kind == AlertKind.GATEWAY_CLOCK]
    assert [a.receiver for a in clock_alerts] == [worst]
    assert f"Gateway {worst.gateway_id}" in clock_alerts[0].message and "NTP" in clock_alerts[0].message

    admin = Client()
    admin.force_login(UserFactory(username="clock-admin", is_staff=True, is_superuser=True))
    page = admin.get("/admin/locations/receiver/")
    assert page.status_code == 200
    assert "receiver-clock-off" in page.content.decode()
    assert f"{worst.clock_offset_s * 1000:+.0f} ms" in page.content.decode()

    settings.GATEWAY_CLOCK_ALERT_SECONDS = abs(worst.clock_offset_s) + 1.0  # NTP fixed: the alert clears
    assert [a.kind for a in alerts_check_all().resolved] == [AlertKind.GATEWAY_CLOCK]
