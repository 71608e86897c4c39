"""The state machine through its one entry point, lifecycle.services.asset_transition."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

import lifecycle.decommissioning.selectors as decommissioning
from assets.models import Asset
from declarations.guards import DECOMMISSION_READY
from declarations.states import AssetState
from declarations.transitions import TransitionName
from lifecycle import services
from lifecycle.biomed.selectors import asset_next_due
from lifecycle.decommissioning.exceptions import DecommissionRefused
from lifecycle.exceptions import (
    ConcurrentTransition,
    GuardFailed,
    LifecycleError,
    ReasonRequired,
    TransitionNotAllowed,
    TransitionPermissionDenied,
    UnknownTransition,
)
from lifecycle.models import Source, TransitionLog
from lifecycle.services import asset_transition
from tests.factories import AssetFactory, UserFactory
from tests.lifecycle.helpers import located_asset, open_recall_on, pm_overdue_asset

pytestmark = pytest.mark.django_db


def db_state(asset):
    return Asset.objects.values_list("state", flat=True).get(pk=asset.pk)


def test_a_day_in_the_life_of_a_pump(nurse, dispatcher, biomed):
    asset = located_asset()
    services.asset_reserve(asset=asset, user=dispatcher, note="request #42 for 4 West")
    services.asset_deliver(asset=asset, user=dispatcher)
    services.asset_return(asset=asset, user=nurse)
    services.asset_start_cleaning(asset=asset, user=dispatcher)
    services.asset_finish_cleaning(asset=asset, user=biomed)
    services.asset_start_use(asset=asset, user=nurse)
    assert db_state(asset) == AssetState.IN_USE == asset.state

    log = list(TransitionLog.objects.filter(asset=asset).order_by("id"))
    assert [(e.transition, e.from_state, e.to_state) for e in log] == [
        ("reserve", "available", "reserved"),
        ("deliver", "reserved", "in_use"),
        ("return", "in_use", "soiled"),
        ("start_cleaning", "soiled", "cleaning"),
        ("finish_cleaning", "cleaning", "available"),
        ("start_use", "available", "in_use"),
    ]
    assert [e.user for e in log] == [dispatcher, dispatcher, nurse, dispatcher, biomed, nurse]
    assert all(e.room_id == asset.current_room_id and e.source == Source.USER for e in log)
    assert log[0].note == "request #42 for 4 West"


def test_release_makes_a_reserved_asset_available_again(dispatcher):
    asset = located_asset()
    services.asset_reserve(asset=asset, user=dispatcher)
    entry = services.asset_release(asset=asset, user=dispatcher, note="request cancelled")
    assert (entry.from_state, entry.to_state, db_state(asset)) == ("reserved", "available", "available")


def test_the_log_records_the_room_at_that_moment(nurse):
    asset = located_asset(state=AssetState.IN_USE)
    room = asset.current_room
    entry = services.asset_return(asset=asset, user=nurse)
    assert entry.room == room


def test_state_not_allowing_the_transition_is_refused_with_the_reason(nurse):
    asset = located_asset(state=AssetState.SOILED)
    with pytest.raises(TransitionNotAllowed) as excinfo:
        services.asset_start_use(asset=asset, user=nurse)
    assert "it is soiled" in str(excinfo.value)
    assert "only from available" in str(excinfo.value)
    assert excinfo.value.status_code == 409
    assert db_state(asset) == AssetState.SOILED
    assert not TransitionLog.objects.exists()


def test_decommissioned_is_terminal(biomed, superuser):
    asset = AssetFactory(state=AssetState.DECOMMISSIONED)
    for name in TransitionName.values:
        with pytest.raises(TransitionNotAllowed, match="decommissioned \\(terminal\\)"):
            asset_transition(asset=asset, transition=name, user=superuser, note="x")


def test_unknown_transition_is_a_bad_request(nurse):
    with pytest.raises(UnknownTransition, match="unknown transition 'teleport'") as excinfo:
        asset_transition(asset=AssetFactory(), transition="teleport", user=nurse)
    assert excinfo.value.status_code == 400


def test_reserve_requires_the_asset_to_be_located(dispatcher):
    never_seen = AssetFactory()
    with pytest.raises(GuardFailed, match="never seen") as excinfo:
        services.asset_reserve(asset=never_seen, user=dispatcher)
    assert excinfo.value.status_code == 409

    stale = located_asset()
    Asset.objects.filter(pk=stale.pk).update(last_seen=timezone.now() - timedelta(hours=2))
    stale = Asset.objects.get(pk=stale.pk)
    with pytest.raises(GuardFailed, match=f"stale, last seen in {stale.current_room.code}"):
        services.asset_reserve(asset=stale, user=dispatcher)
    assert db_state(stale) == AssetState.AVAILABLE


def test_send_to_biomed_needs_a_reason(security_officer):
    asset = located_asset(state=AssetState.IN_USE)
    with pytest.raises(ReasonRequired) as excinfo:
        services.asset_send_to_biomed(asset=asset, user=security_officer, reason="   ")
    assert excinfo.value.status_code == 400
    entry = services.asset_send_to_biomed(asset=asset, user=security_officer, reason="cracked housing")
    assert (entry.to_state, entry.note, entry.user) == ("biomed", "cracked housing", security_officer)


def test_finish_cleaning_goes_to_biomed_when_pm_is_overdue_and_says_why(dispatcher):
    asset = pm_overdue_asset(AssetState.CLEANING, days_overdue=10)
    due = asset_next_due(asset=asset)
    entry = services.asset_finish_cleaning(asset=asset, user=dispatcher, note="bay 3")
    assert entry.to_state == AssetState.BIOMED == db_state(asset)
    assert entry.note == f"sent to biomed instead of available: PM overdue since {due:%Y-%m-%d}. bay 3"


def test_finish_cleaning_goes_to_biomed_when_a_recall_is_open(dispatcher):
    asset = located_asset(state=AssetState.CLEANING)
    work_order = open_recall_on(asset, reference="R-123")
    entry = services.asset_finish_cleaning(asset=asset, user=dispatcher)
    assert entry.to_state == AssetState.BIOMED
    assert f"open recall work order {work_order.reference} (recall R-123)" in entry.note


def test_pm_due_today_is_not_overdue(dispatcher):
    asset = pm_overdue_asset(AssetState.CLEANING, days_overdue=0)
    assert asset_next_due(asset=asset) == timezone.localdate()
    assert services.asset_finish_cleaning(asset=asset, user=dispatcher).to_state == AssetState.AVAILABLE


def test_return_to_service_is_refused_naming_the_failing_guards(biomed):
    asset = pm_overdue_asset(AssetState.BIOMED, days_overdue=3)
    work_order = open_recall_on(asset)
    with pytest.raises(GuardFailed) as excinfo:
        services.asset_return_to_service(asset=asset, user=biomed)
    assert excinfo.value.reasons == [
        f"PM overdue since {asset_next_due(asset=asset):%Y-%m-%d}",
        f"open recall work order {work_order.reference} (recall R-123)",
    ]
    assert "PM overdue since" in str(excinfo.value)
    # Even to soiled: the device must not leave biomed while PM is due or a recall is open.
    with pytest.raises(GuardFailed):
        services.asset_return_to_service(asset=asset, user=biomed, needs_cleaning=True)
    assert db_state(asset) == AssetState.BIOMED


def test_return_to_service_to_available_or_to_soiled(biomed):
    clean = located_asset(state=AssetState.BIOMED)
    assert services.asset_return_to_service(asset=clean, user=biomed).to_state == AssetState.AVAILABLE
    dirty = located_asset(state=AssetState.BIOMED)
    entry = services.asset_return_to_service(asset=dirty, user=biomed, needs_cleaning=True)
    assert entry.to_state == AssetState.SOILED


def test_return_to_service_refuses_a_target_it_does_not_have(biomed):
    asset = located_asset(state=AssetState.BIOMED)
    with pytest.raises(TransitionNotAllowed, match="available or soiled, not 'in_use'"):
        asset_transition(asset=asset, transition="return_to_service", user=biomed, to_state="in_use")


def test_release_is_refused_when_a_recall_opened_while_reserved(dispatcher):
    asset = located_asset()
    services.asset_reserve(asset=asset, user=dispatcher)
    open_recall_on(asset)
    with pytest.raises(GuardFailed, match="open recall work order"):
        services.asset_release(asset=asset, user=dispatcher)


def test_decommission_guard_uses_the_checklist_blockers(biomed, monkeypatch):
    asset = located_asset(state=AssetState.BIOMED)
    monkeypatch.setattr(decommissioning, "decommission_blockers", lambda a: ["security sign-off missing"])
    with pytest.raises(GuardFailed) as excinfo:
        services.asset_transition(asset=asset, transition="decommission", user=biomed)
    assert excinfo.value.reasons == ["security sign-off missing"]

    # With the guard satisfied but no checklist to certify, nothing is retired: no certificate, no retirement.
    monkeypatch.setattr(decommissioning, "decommission_blockers", lambda a: [])
    with pytest.raises(DecommissionRefused, match="no decommissioning checklist"):
        services.asset_transition(asset=asset, transition="decommission", user=biomed)
    assert db_state(asset) == AssetState.BIOMED


def test_decommission_is_refused_while_the_real_checklist_is_missing(biomed):
    asset = located_asset(state=AssetState.BIOMED)
    with pytest.raises(GuardFailed) as excinfo:
        services.asset_transition(asset=asset, transition="decommission", user=biomed)
    assert excinfo.value.reasons  # the decommissioning app names what is missing
    assert db_state(asset) == AssetState.BIOMED


def test_decommission_refuses_when_no_checklist_app_bound_its_guard(biomed, monkeypatch):
    """Without the decommissioning app (nobody bound the guard's check), decommissioning is refused, never let
    through unchecked."""
    monkeypatch.setattr(DECOMMISSION_READY, "_check", None)
    asset = located_asset(state=AssetState.BIOMED)
    with pytest.raises(GuardFailed) as excinfo:
        services.asset_transition(asset=asset, transition="decommission", user=biomed)
    assert excinfo.value.reasons == ["decommissioning checklist not found"]


def test_a_stale_copy_gets_a_conflict_and_changes_nothing(nurse, dispatcher):
    asset = located_asset()
    seen_by_dispatch = Asset.objects.get(pk=asset.pk)
    services.asset_start_use(asset=asset, user=nurse)
    with pytest.raises(ConcurrentTransition) as excinfo:
        services.asset_reserve(asset=seen_by_dispatch, user=dispatcher)
    message = str(excinfo.value)
    assert "changed from available to in use (start_use by nurse" in message
    assert "reload and try again" in message
    assert excinfo.value.status_code == 409
    assert TransitionLog.objects.filter(asset=asset).count() == 1


def test_a_stale_full_save_cannot_undo_a_transition(nurse):
    asset = located_asset()
    stale_copy = Asset.objects.get(pk=asset.pk)
    services.asset_start_use(asset=asset, user=nurse)
    stale_copy.firmware_version = "2.1"  # say, an admin edit or the location engine
    stale_copy.save()
    assert db_state(asset) == AssetState.IN_USE
    assert Asset.objects.get(pk=asset.pk).firmware_version == "2.1"


def test_refresh_from_db_works_despite_the_protected_field(nurse):
    asset = located_asset()
    copy = Asset.objects.get(pk=asset.pk)
    services.asset_start_use(asset=asset, user=nurse)
    copy.refresh_from_db()
    assert copy.state == AssetState.IN_USE


def test_live_update_goes_out_after_commit_only(nurse, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(services, "notify_floor", lambda floor_id, event: sent.append((floor_id, event)))
    asset = located_asset(state=AssetState.IN_USE)

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            services.asset_return(asset=Asset.objects.get(pk=asset.pk), user=nurse)
            raise RuntimeError("the caller's transaction fails after the transition")
    assert sent == [] and db_state(asset) == AssetState.IN_USE

    with django_capture_on_commit_callbacks(execute=True):
        entry = services.asset_return(asset=asset, user=nurse)
    [(floor_id, event)] = sent
    assert floor_id == asset.current_room.floor_id
    assert event["kind"] == "asset.state"
    assert (event["asset_id"], event["from_state"], event["state"]) == (asset.pk, "in_use", "soiled")
    assert event["transition"] == "return" and event["log_id"] == entry.pk
    assert event["label"] == "Soiled" and event["colour"].startswith("#")


def test_an_asset_nowhere_on_a_floor_changes_state_without_a_live_update(
    nurse, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr(services, "notify_floor", lambda floor_id, event: calls.append(floor_id))
    asset = AssetFactory(state=AssetState.IN_USE)
    with django_capture_on_commit_callbacks(execute=True):
        services.asset_return(asset=asset, user=nurse)
    assert calls == [None]  # notify_floor ignores floor None
    assert db_state(asset) == AssetState.SOILED


def test_errors_share_one_base_with_an_http_status():
    for error in (ConcurrentTransition, GuardFailed, TransitionNotAllowed, TransitionPermissionDenied):
        assert issubclass(error, LifecycleError)
    assert TransitionPermissionDenied.status_code == 403
    assert GuardFailed("x", ["PM overdue since 2026-10-02"], ["is_serviceable"]).as_dict() == {
        "code": "guard_failed",
        "detail": "x",
        "reasons": ["PM overdue since 2026-10-02"],
        "reason_codes": ["is_serviceable"],
    }


@pytest.fixture
def superuser(db):
    user = UserFactory(username="root")
    user.is_superuser = True
    user.save()
    return user


@pytest.mark.parametrize("transition", ["reserve", "start_use"])
def test_equipment_whose_pm_came_due_while_available_cannot_go_to_a_patient(transition, dispatcher):
    """ "Available" means PM not overdue: a pump that aged past its PM on the shelf is refused, not handed out."""
    asset = pm_overdue_asset(AssetState.AVAILABLE, days_overdue=2)
    with pytest.raises(GuardFailed, match="PM overdue"):
        asset_transition(asset=asset, transition=transition, user=dispatcher)
    assert db_state(asset) == AssetState.AVAILABLE


def test_equipment_under_an_open_recall_cannot_be_reserved(dispatcher):
    asset = located_asset()
    open_recall_on(asset)
    with pytest.raises(GuardFailed, match="open recall work order"):
        services.asset_reserve(asset=asset, user=dispatcher)
