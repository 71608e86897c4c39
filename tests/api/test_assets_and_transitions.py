"""Asset list and detail, and running transitions through the API: 403 by role, 409 with the reason."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from assets.services import tag_bind
from declarations.states import AssetState
from locations.models import RoomInterval
from tests.api.conftest import reload
from tests.factories import TagFactory

ASSETS = "/api/v1/assets/"


def transition(client, asset, name, note="", **extra):
    return client.post(f"{ASSETS}{asset.pk}/transitions/", {"transition": name, "note": note, **extra}, format="json")


def test_detail_shows_location_freshness_state_definition_and_the_users_transitions(hospital, clients):
    asset = hospital.place("W402", asset_tag="PUMP-1")
    tag_bind(tag=TagFactory(tag_id="c3000000010a"), asset=asset)

    as_dispatch = clients["dispatch"].get(f"{ASSETS}{asset.pk}/").json()
    as_nurse = clients["nurse"].get(f"{ASSETS}{asset.pk}/").json()

    assert as_dispatch["location"]["status"] == "located"
    assert as_dispatch["location"]["room"]["code"] == "W402"
    assert as_dispatch["location"]["building"]["code"] == "north"
    assert as_dispatch["state"]["value"] == "available"
    assert as_dispatch["state"]["definition"].startswith("Clean, working, PM and calibration not overdue")
    assert as_dispatch["tag"]["tag_id"] == "c3:00:00:00:01:0a"
    assert {t["name"] for t in as_dispatch["transitions"]} == {"reserve", "start_use", "send_to_biomed"}
    assert {t["name"] for t in as_nurse["transitions"]} == {"start_use", "send_to_biomed"}
    assert next(t for t in as_nurse["transitions"] if t["name"] == "send_to_biomed")["needs_note"] is True


def test_detail_says_why_a_transition_is_blocked(hospital, clients):
    stale = hospital.place("W402", seen_minutes_ago=30)
    reserve = next(
        t for t in clients["dispatch"].get(f"{ASSETS}{stale.pk}/").json()["transitions"] if t["name"] == "reserve"
    )
    assert reserve["blocked_by"] and "not located" in reserve["blocked_by"][0]


def test_list_filters_search_and_ordering(hospital, clients):
    hospital.place("W402", asset_tag="A-LOCATED")
    hospital.place("W409", asset_tag="B-STALE", seen_minutes_ago=30)
    hospital.place("W201", asset_tag="C-RESERVED", state=AssetState.RESERVED, serial_number="XYZ-77")
    hospital.place("S101", asset_tag="D-MONITOR", asset_type=hospital.monitor)
    hospital.place("W402", asset_tag="E-OVERDUE", last_pm_date=timezone.localdate() - timedelta(days=400))
    hospital.place("W402", asset_tag="F-DUE-SOON", last_pm_date=timezone.localdate() - timedelta(days=360))
    tag_bind(tag=TagFactory(tag_id="c300000001ff"), asset=hospital.place("W402", asset_tag="G-TAGGED"))

    def tags(**params):
        response = clients["dispatch"].get(ASSETS, params)
        assert response.status_code == 200, response.json()
        return [a["asset_tag"] for a in response.json()["results"]]

    assert tags(type="patient-monitor") == ["D-MONITOR"]
    assert tags(state="reserved") == ["C-RESERVED"]
    assert tags(location_status="stale") == ["B-STALE"]
    assert tags(floor=hospital.rooms["W201"].floor_id) == ["C-RESERVED"]
    assert tags(building=hospital.rooms["S101"].floor.building_id) == ["D-MONITOR"]
    assert tags(room=hospital.rooms["W409"].pk) == ["B-STALE"]
    assert tags(pm_overdue="true") == ["E-OVERDUE"]
    assert tags(pm_due_within_days=30) == ["E-OVERDUE", "F-DUE-SOON"]
    assert tags(search="XYZ-77") == ["C-RESERVED"]
    assert tags(search="C3:00:00:00:01:FF") == ["G-TAGGED"]
    assert tags(tag="C3-00-00-00-01-FF") == ["G-TAGGED"]
    assert tags(ordering="-asset_tag", page_size=2) == ["G-TAGGED", "F-DUE-SOON"]
    bad = clients["dispatch"].get(ASSETS, {"location_status": "lost"})
    assert bad.status_code == 400 and "location_status" in bad.json()["field_errors"]


def test_role_may_not_run_the_transition_is_403(hospital, clients):
    asset = hospital.place("W402")
    response = transition(clients["nurse"], asset, "reserve")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert "Dispatch" in response.json()["message"]
    assert reload(asset).state == AssetState.AVAILABLE


def test_state_does_not_allow_it_is_409_with_the_reason(hospital, clients):
    asset = hospital.place("W402", state=AssetState.SOILED)
    response = transition(clients["nurse"], asset, "start_use")
    assert response.status_code == 409
    assert response.json()["code"] == "transition_not_allowed"
    assert "it is soiled" in response.json()["message"]


def test_guard_failure_is_409_with_the_pm_date(hospital, clients, users):
    last_pm = timezone.localdate() - timedelta(days=375)
    asset = hospital.place("W402", state=AssetState.BIOMED, last_pm_date=last_pm)
    response = transition(clients["clinical_engineering"], asset, "return_to_service")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "guard_failed"
    assert body["reasons"] == [f"PM overdue since {last_pm + timedelta(days=365):%Y-%m-%d}"]


def test_send_to_biomed_without_a_reason_is_400_and_unknown_transition_is_400(hospital, clients):
    asset = hospital.place("W402")
    no_reason = transition(clients["nurse"], asset, "send_to_biomed")
    assert no_reason.status_code == 400 and no_reason.json()["code"] == "reason_required"
    unknown = transition(clients["nurse"], asset, "teleport")
    assert unknown.status_code == 400 and "transition" in unknown.json()["field_errors"]
    ok = transition(clients["nurse"], asset, "send_to_biomed", note="alarm fault")
    assert ok.status_code == 201 and ok.json()["note"] == "alarm fault" and ok.json()["source"] == "api"


def test_transition_log_is_listed_newest_first(hospital, clients):
    asset = hospital.place("W402")
    transition(clients["dispatch"], asset, "reserve")
    transition(clients["dispatch"], asset, "deliver")
    log = clients["security"].get(f"{ASSETS}{asset.pk}/transitions/").json()["results"]
    assert [(e["transition"], e["user"]) for e in log] == [("deliver", "api-dispatch"), ("reserve", "api-dispatch")]


def test_location_history(hospital, clients):
    asset = hospital.place("W402")
    start = timezone.now() - timedelta(hours=2)
    RoomInterval.objects.create(
        asset=asset, room=hospital.rooms["W401"], entered_at=start, left_at=start + timedelta(hours=1)
    )
    RoomInterval.objects.create(asset=asset, room=hospital.rooms["W402"], entered_at=start + timedelta(hours=1))
    history = clients["nurse"].get(f"{ASSETS}{asset.pk}/location-history/").json()["results"]
    assert [(h["room"]["code"], h["left_at"] is None) for h in history] == [("W401", False), ("W402", True)]
    assert history[0]["building"]["code"] == "north"
    recent = clients["nurse"].get(f"{ASSETS}{asset.pk}/location-history/", {"since": timezone.now().isoformat()})
    assert [h["room"]["code"] for h in recent.json()["results"]] == ["W402"]


def test_issue_token_prints_a_working_token_and_rotates_it(users, capsys):
    call_command("issue_token", "api-dispatch")
    key = capsys.readouterr().out.strip()

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/states/").status_code == 200

    call_command("issue_token", "api-dispatch")
    # Only a hash is stored: a token is printed once, so asking again issues a second one.
    assert capsys.readouterr().out.strip() != key
    assert client.get("/api/v1/states/").status_code == 200
    call_command("issue_token", "api-dispatch", "--rotate")
    assert capsys.readouterr().out.strip() != key
    assert client.get("/api/v1/states/").status_code == 401  # the old token is revoked


def test_issue_token_for_an_unknown_user_fails_clearly(db):
    with pytest.raises(CommandError, match="no user 'ghost'"):
        call_command("issue_token", "ghost")
