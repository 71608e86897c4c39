"""The receivers' learnt detection floors, end to end: a recorded file from gateways that forward only
readings of -88 dBm or louder goes through replay_sightings (real PostgreSQL); the floor lands on the
receiver rows and shows in the API and the admin."""

import io
import json

from django.core.management import call_command
from django.test import Client

from declarations.tag_ids import format_tag_id
from locations.models import Receiver
from locations.pipeline import site_plan_from_db
from locations.simulator import MotionModel, RadioModel, SimTag, Simulator, gateway_bodies
from tests.api.conftest import client_for
from tests.factories import UserFactory
from tests.locations.sim_hospital import T0, make_ward, tagged_asset

TAGS = [f"c30000000{n:03x}" for n in range(1, 13)]


def replay(tmp_path, radio: RadioModel) -> None:
    """Five minutes of twelve tags on the ward, replayed."""
    make_ward()
    for tag_id in TAGS:
        tagged_asset(tag_id)
    sim = Simulator(
        site_plan_from_db(),
        [SimTag(tag_id, mobile=True) for tag_id in TAGS],
        start_ts=T0,
        seed=5,
        radio=radio,
        motion=MotionModel(mobile_rest_median_s=40.0, mobile_rest_bounds_s=(10.0, 120.0)),
    )
    path = tmp_path / "filtered.jsonl"
    with path.open("w") as out:
        for _ in range(300):
            for b in gateway_bodies(sim.advance(1.0), sent_at=sim.now + 0.2, tag_format=format_tag_id):
                out.write(json.dumps(b) + "\n")
    call_command("replay_sightings", str(path), stdout=io.StringIO(), stderr=io.StringIO())


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


def test_gateways_that_forward_everything_they_hear_have_no_floor(db, tmp_path):
    replay(tmp_path, RadioModel())
    assert not Receiver.objects.exclude(detection_floor_dbm=None).exists()
