"""The equipment-request workflow end to end, as a nurse and a dispatcher with only their tokens see it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from declarations.states import AssetState
from lifecycle.models import TransitionLog
from tests.api.conftest import reload

REQUESTS = "/api/v1/equipment-requests/"


def create(client, hospital, **extra):
    body = {"asset_type": "infusion-pump", "destination_room": hospital.ward.pk, **extra}
    return client.post(REQUESTS, body, format="json")


def test_request_assign_deliver_and_return(hospital, clients, users):
    far = hospital.place("W409", asset_tag="PUMP-FAR")
    near = hospital.place("W402", asset_tag="PUMP-NEAR")

    created = create(clients["nurse"], hospital, priority="urgent", note="bed 3")
    assert created.status_code == 201, created.json()
    request_id = created.json()["id"]
    assert created.json()["status"] == "open" and created.json()["requested_by"] == "api-nurse"

    queue = clients["dispatch"].get(REQUESTS, {"open": "true"}).json()["results"]
    assert [r["id"] for r in queue] == [request_id]

    assigned = clients["dispatch"].post(f"{REQUESTS}{request_id}/assign/", {}, format="json")
    assert assigned.status_code == 200, assigned.json()
    assert assigned.json()["status"] == "assigned"
    assert assigned.json()["asset"]["asset_tag"] == "PUMP-NEAR"  # the nearest one
    assert reload(near).state == AssetState.RESERVED and reload(far).state == AssetState.AVAILABLE

    delivered = clients["dispatch"].post(f"{REQUESTS}{request_id}/deliver/", {}, format="json")
    assert delivered.status_code == 200, delivered.json()
    assert delivered.json()["status"] == "delivered"
    assert reload(near).state == AssetState.IN_USE
    log = list(TransitionLog.objects.filter(asset=near).order_by("at", "id").values_list("transition", "source"))
    assert log == [("reserve", "api"), ("deliver", "api")]
    assert "delivered to W401" in TransitionLog.objects.get(asset=near, transition="deliver").note

    # Back from the patient: the nurse returns it through the transitions endpoint.
    returned = clients["nurse"].post(f"/api/v1/assets/{near.pk}/transitions/", {"transition": "return"}, format="json")
    assert returned.status_code == 201, returned.json()
    assert returned.json()["to_state"] == "soiled"
    assert reload(near).state == AssetState.SOILED


def test_queue_lists_stat_first_then_oldest(hospital, clients):
    routine = create(clients["nurse"], hospital, priority="routine").json()["id"]
    urgent_old = create(clients["nurse"], hospital, priority="urgent").json()["id"]
    stat = create(clients["dispatch"], hospital, priority="stat").json()["id"]
    urgent_new = create(clients["nurse"], hospital, priority="urgent").json()["id"]

    queue = clients["dispatch"].get(REQUESTS, {"open": "true"}).json()["results"]

    assert [r["id"] for r in queue] == [stat, urgent_old, urgent_new, routine]


def test_assign_a_chosen_asset_and_cancel_releases_it(hospital, clients):
    chosen = hospital.place("W409", asset_tag="CHOSEN")
    hospital.place("W402", asset_tag="NEARER")
    request_id = create(clients["nurse"], hospital).json()["id"]

    assigned = clients["dispatch"].post(f"{REQUESTS}{request_id}/assign/", {"asset": chosen.pk}, format="json")
    assert assigned.status_code == 200 and assigned.json()["asset"]["asset_tag"] == "CHOSEN"

    cancelled = clients["dispatch"].post(f"{REQUESTS}{request_id}/cancel/", {"reason": "patient moved"}, format="json")
    assert cancelled.status_code == 200, cancelled.json()
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancel_reason"] == "patient moved"
    assert reload(chosen).state == AssetState.AVAILABLE
    assert TransitionLog.objects.filter(asset=chosen, transition="release").exists()


def test_requester_may_cancel_an_open_request_but_only_dispatch_assigns(hospital, clients):
    hospital.place("W402")
    request_id = create(clients["nurse"], hospital).json()["id"]

    refused = clients["nurse"].post(f"{REQUESTS}{request_id}/assign/", {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied" and "Dispatch" in refused.json()["message"]
    assert clients["clinical_engineering"].post(f"{REQUESTS}{request_id}/cancel/", {}, format="json").status_code == 403
    assert clients["security"].post(REQUESTS, {}, format="json").status_code == 403  # may not request

    assert clients["nurse"].post(f"{REQUESTS}{request_id}/cancel/", {}, format="json").status_code == 200


def test_status_conflicts_are_409_with_the_reason(hospital, clients):
    hospital.place("W402")
    request_id = create(clients["nurse"], hospital).json()["id"]
    deliver_early = clients["dispatch"].post(f"{REQUESTS}{request_id}/deliver/", {}, format="json")
    assert deliver_early.status_code == 409 and "assign one first" in deliver_early.json()["message"]

    assert clients["dispatch"].post(f"{REQUESTS}{request_id}/assign/", {}, format="json").status_code == 200
    again = clients["dispatch"].post(f"{REQUESTS}{request_id}/assign/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "conflict" and "already assigned by api-dispatch" in again.json()["message"]


def test_nothing_available_is_409_listing_what_was_tried(hospital, clients):
    hospital.place("W402", asset_tag="STALE-ONLY", seen_minutes_ago=40)
    request_id = create(clients["nurse"], hospital).json()["id"]

    response = clients["dispatch"].post(f"{REQUESTS}{request_id}/assign/", {}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "no_asset_available"
    assert any("STALE-ONLY: stale" in reason for reason in body["reasons"])


def test_a_chosen_asset_must_be_of_the_type_and_really_available(hospital, clients):
    monitor = hospital.place("W402", asset_type=hospital.monitor, asset_tag="MONITOR")
    overdue = hospital.place("W402", asset_tag="OVERDUE", last_pm_date=timezone.localdate() - timedelta(days=400))
    request_id = create(clients["nurse"], hospital).json()["id"]

    wrong_type = clients["dispatch"].post(f"{REQUESTS}{request_id}/assign/", {"asset": monitor.pk}, format="json")
    assert wrong_type.status_code == 400 and "Patient monitor" in wrong_type.json()["message"]

    not_serviceable = clients["dispatch"].post(f"{REQUESTS}{request_id}/assign/", {"asset": overdue.pk}, format="json")
    assert not_serviceable.status_code == 409
    assert not_serviceable.json()["code"] == "guard_failed"
    assert "PM overdue since" in not_serviceable.json()["reasons"][0]
    assert reload(overdue).state == AssetState.AVAILABLE


@pytest.mark.parametrize(
    "body, field",
    [
        ({"asset_type": "no-such-type"}, "asset_type"),
        ({"destination_room": 999999}, "destination_room"),
        ({"priority": "whenever"}, "priority"),
        ({"needed_by": "yesterday"}, "needed_by"),
    ],
)
def test_bad_request_input_is_400_naming_the_field(hospital, clients, body, field):
    response = create(clients["nurse"], hospital, **body)
    assert response.status_code == 400
    assert field in response.json()["field_errors"]


def test_needed_by_in_the_past_is_refused(hospital, clients):
    response = create(clients["nurse"], hospital, needed_by=(timezone.now() - timedelta(hours=2)).isoformat())
    assert response.status_code == 400 and "in the past" in response.json()["message"]


def _transition(client, asset, name, **extra):
    return client.post(f"/api/v1/assets/{asset.pk}/transitions/", {"transition": name, **extra}, format="json")


def test_an_asset_held_by_a_request_is_released_or_delivered_only_through_the_request(hospital, clients):
    """Releasing a reserved asset directly left its request "assigned" to an available asset, and every later
    request for it failed with an anonymous 409. The request holds the asset: 409 naming it, nothing changes."""
    held = hospital.place("W402", asset_tag="HELD")
    spare = hospital.place("W409", asset_tag="SPARE")
    request_id = create(clients["nurse"], hospital).json()["id"]
    assigned = clients["dispatch"].post(f"{REQUESTS}{request_id}/assign/", {}, format="json")
    assert assigned.json()["asset"]["id"] == held.pk

    for name in ("release", "deliver"):
        refused = _transition(clients["dispatch"], held, name)
        assert refused.status_code == 409, refused.json()
        body = refused.json()
        assert body["code"] == "held_by_request"
        assert f"equipment request #{request_id} for W401, assigned by api-dispatch" in body["message"]
        assert f"/api/v1/equipment-requests/{request_id}/" in body["message"]
    assert reload(held).state == AssetState.RESERVED
    assert clients["dispatch"].get(f"{REQUESTS}{request_id}/").json()["status"] == "assigned"
    assert not TransitionLog.objects.filter(asset=held, transition__in=["release", "deliver"]).exists()
    # Unheld reserved assets are released as before.
    assert _transition(clients["dispatch"], spare, "reserve").status_code == 201
    assert _transition(clients["dispatch"], spare, "release").status_code == 201
    # Through the request, both work.
    assert clients["dispatch"].post(f"{REQUESTS}{request_id}/deliver/", {}, format="json").status_code == 200
    assert reload(held).state == AssetState.IN_USE


def test_an_asset_a_request_still_holds_is_never_offered_or_given_to_another(hospital, clients, users):
    """A held asset back to available by another path (sent to biomed, returned to service) while its request
    stayed assigned: the nearest search and auto-assign skip it; a request naming it gets 409 naming the holder."""
    held = hospital.place("W402", asset_tag="HELD")
    hospital.place("W409", asset_tag="FREE")
    first = create(clients["nurse"], hospital).json()["id"]
    assert clients["dispatch"].post(f"{REQUESTS}{first}/assign/", {"asset": held.pk}, format="json").status_code == 200
    assert _transition(clients["nurse"], held, "send_to_biomed", note="alarm fails").status_code == 201
    back = _transition(clients["clinical_engineering"], held, "return_to_service", to_state="available")
    assert back.status_code == 201, back.json()
    assert clients["dispatch"].get(f"{REQUESTS}{first}/").json()["status"] == "assigned"

    nearest = clients["nurse"].get("/api/v1/assets/nearest/", {"type": "infusion-pump", "room": "W401"}).json()
    assert [r["asset"]["asset_tag"] for r in nearest["results"]] == ["FREE"]

    second = create(clients["nurse"], hospital).json()["id"]
    named = clients["dispatch"].post(f"{REQUESTS}{second}/assign/", {"asset": held.pk}, format="json")
    assert named.status_code == 409, named.json()
    assert named.json()["code"] == "conflict"
    holder = f"already reserved for equipment request #{first} for W401, assigned by api-dispatch"
    assert holder in named.json()["message"]
    assert reload(held).state == AssetState.AVAILABLE  # nothing reserved by the refused attempt
    auto = clients["dispatch"].post(f"{REQUESTS}{second}/assign/", {}, format="json")
    assert auto.status_code == 200, auto.json()
    assert auto.json()["asset"]["asset_tag"] == "FREE"
