"""The receivers' learnt detection floors, end to end: a recorded file from gateways that forward only
readings of -88 dBm or louder goes through replay_sightings (real PostgreSQL); the floor lands on the
receiver rows and shows in the API and the admin."""

from django.test import Client

from locations.models import Receiver
from locations.pipeline import LocationPipeline
from locations.simulator import RadioModel
from tests.api.conftest import client_for
from tests.factories import UserFactory
from tests.locations.sim_hospital import make_ward, replay_simulated, tagged_asset

TAGS = [f"c30000000{n:03x}" for n in range(1, 13)]


def replay(tmp_path, radio: RadioModel) -> None:
    """Five minutes of twelve tags on the ward, replayed."""
    make_ward()
    for tag_id in TAGS:
        tagged_asset(tag_id)
    replay_simulated(tmp_path / "filtered.jsonl", TAGS, seed=5, radio=radio)


def test_a_gateways_rssi_filter_is_learnt_and_shown_in_the_api_and_the_admin(db, tmp_path):
    replay(tmp_path, RadioModel(sensitivity_dbm=-88.0))
    floors = dict(Receiver.objects.values_list("gateway_id", "detection_floor_dbm"))
    learnt = {g for g, floor in floors.items() if floor is not None}
    assert len(learnt) >= 3, floors
    assert {floors[g] for g in learnt} == {-88.0}

    reader = UserFactory(username="floor-reader", password=None, roles=["Clinical engineering"])
    listed = {r["gateway_id"]: r for r in client_for(reader).get("/api/v1/receivers/").json()["results"]}
    assert {g: listed[g]["detection_floor_dbm"] for g in floors} == floors

    admin = Client()
    admin.force_login(UserFactory(username="floor-admin", is_staff=True, is_superuser=True))
    receiver = Receiver.objects.get(gateway_id=sorted(learnt)[0])
    page = admin.get(f"/admin/locations/receiver/{receiver.pk}/change/").content.decode()
    assert "Detection floor dBm" in page and "-88.0" in page


def test_a_restarted_worker_starts_from_the_stored_floors(db, tmp_path):
    """A worker built after the replay (a restart, a deploy) does not take the filtered receivers' silence for
    evidence for the minutes it would take to relearn their filters."""
    replay(tmp_path, RadioModel(sensitivity_dbm=-88.0))
    stored = dict(Receiver.objects.exclude(detection_floor_dbm=None).values_list("gateway_id", "detection_floor_dbm"))
    assert stored
    restarted = LocationPipeline(notify=False).engine.gateway_clocks()
    assert {g: c.floor_dbm for g, c in restarted.items() if c.floor_dbm is not None} == stored


def test_gateways_that_forward_everything_they_hear_have_no_floor(db, tmp_path):
    replay(tmp_path, RadioModel())
    assert not Receiver.objects.exclude(detection_floor_dbm=None).exists()
    assert all(c.floor_dbm is None for c in LocationPipeline(notify=False).engine.gateway_clocks().values())
