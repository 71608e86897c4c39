"""Location drives status: entering a room runs the room-type rules (docs/design.md §3)."""

import importlib
import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from assets.models import Asset
from declarations.guards import Guard
from declarations.room_types import RoomType
from declarations.states import AssetState
from declarations.transitions import TransitionName, method_name
from lifecycle.exceptions import TransitionNotAllowed
from lifecycle.models import RoomTypeRule, Source, TransitionLog
from lifecycle.selectors import object_change_history
from lifecycle.services import asset_transition
from locations.signals import RoomChange, room_changes_committed
from tests.factories import RoomFactory
from tests.lifecycle.helpers import located_asset

pytestmark = pytest.mark.django_db

ENTERED_AT = datetime(2026, 11, 22, 8, 0, 1, tzinfo=UTC)


def enter(asset, room, at=ENTERED_AT):
    """What the location pipeline does after committing a batch that moved the asset."""
    Asset.objects.filter(pk=asset.pk).update(current_room=room, last_seen=at)
    room_changes_committed.send(
        sender="locations.pipeline",
        changes=[RoomChange(asset_id=asset.pk, from_room_id=asset.current_room_id, to_room_id=room.pk, at=at)],
    )


def state_of(asset):
    return Asset.objects.values_list("state", flat=True).get(pk=asset.pk)


def test_the_default_rule_is_seeded():
    rule = RoomTypeRule.objects.get(room_type=RoomType.SOILED_UTILITY)
    assert (rule.from_states, rule.to_state, rule.active) == (["in_use", "available"], "soiled", True)


@pytest.mark.parametrize("state", [AssetState.IN_USE, AssetState.AVAILABLE])
def test_entering_a_soiled_utility_room_makes_equipment_soiled(state):
    asset = located_asset(state=state)
    soiled_utility = RoomFactory(room_type=RoomType.SOILED_UTILITY, code="4W-SU1", name="Soiled utility 4W")
    enter(asset, soiled_utility)

    assert state_of(asset) == AssetState.SOILED
    [entry] = TransitionLog.objects.filter(asset=asset)
    assert (entry.from_state, entry.to_state, entry.transition) == (state, "soiled", "apply_room_rule")
    assert entry.user is None and entry.source == Source.RULE
    assert entry.room == soiled_utility and entry.at == ENTERED_AT
    rule = RoomTypeRule.objects.get(room_type=RoomType.SOILED_UTILITY)
    assert entry.note.startswith(f"room-type rule #{rule.pk}: entering a soiled utility room moves")
    assert "4W-SU1" in entry.note


@pytest.mark.parametrize("state", [AssetState.RESERVED, AssetState.CLEANING, AssetState.BIOMED, AssetState.SOILED])
def test_states_the_rule_does_not_name_stay_put(state):
    asset = located_asset(state=state)
    enter(asset, RoomFactory(room_type=RoomType.SOILED_UTILITY))
    assert state_of(asset) == state
    assert not TransitionLog.objects.exists()


def test_other_room_types_and_inactive_rules_do_nothing():
    asset = located_asset(state=AssetState.IN_USE)
    enter(asset, RoomFactory(room_type=RoomType.PATIENT))
    RoomTypeRule.objects.update(active=False)
    enter(asset, RoomFactory(room_type=RoomType.SOILED_UTILITY))
    assert state_of(asset) == AssetState.IN_USE


def test_a_rule_added_in_the_admin_applies(admin_client):
    response = admin_client.post(
        "/admin/lifecycle/roomtyperule/add/",
        {"room_type": RoomType.BIOMED, "from_states": ["soiled", "cleaning"], "to_state": "biomed", "active": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    asset = located_asset(state=AssetState.SOILED)
    enter(asset, RoomFactory(room_type=RoomType.BIOMED))
    assert state_of(asset) == AssetState.BIOMED


def test_one_refusal_does_not_stop_the_batch(caplog):
    """A rule that may no longer apply (here: a row written around the model's checks, moving biomed
    equipment) is refused for that asset only; the rest of the batch still runs."""
    RoomTypeRule.objects.create(room_type=RoomType.CLEAN_UTILITY, from_states=["biomed", "in_use"], to_state="soiled")
    held = located_asset(state=AssetState.BIOMED)
    fine = located_asset(state=AssetState.IN_USE)
    clean_utility = RoomFactory(room_type=RoomType.CLEAN_UTILITY)
    Asset.objects.filter(pk__in=[held.pk, fine.pk]).update(current_room=clean_utility)
    with caplog.at_level(logging.WARNING, logger="lifecycle.services"):
        room_changes_committed.send(
            sender="locations.pipeline",
            changes=[
                RoomChange(asset_id=held.pk, from_room_id=None, to_room_id=clean_utility.pk, at=ENTERED_AT),
                RoomChange(asset_id=fine.pk, from_room_id=None, to_room_id=clean_utility.pk, at=ENTERED_AT),
            ],
        )
    assert state_of(held) == AssetState.BIOMED
    assert "no rule may move equipment that is biomed" in caplog.text
    assert state_of(fine) == AssetState.SOILED


def test_unknown_assets_in_a_batch_are_skipped():
    asset = located_asset(state=AssetState.IN_USE)
    room = RoomFactory(room_type=RoomType.SOILED_UTILITY)
    # An asset deleted since the pipeline's batch must not stop the rest of the batch.
    room_changes_committed.send(
        sender="locations.pipeline",
        changes=[
            RoomChange(asset_id=999_999, from_room_id=None, to_room_id=room.pk, at=ENTERED_AT),
            RoomChange(asset_id=asset.pk, from_room_id=None, to_room_id=room.pk, at=ENTERED_AT),
        ],
    )
    assert state_of(asset) == AssetState.SOILED


def test_entering_the_same_soiled_room_again_logs_nothing_new():
    asset = located_asset(state=AssetState.IN_USE)
    room = RoomFactory(room_type=RoomType.SOILED_UTILITY)
    enter(asset, room)
    enter(asset, room, at=ENTERED_AT + timedelta(minutes=5))
    assert TransitionLog.objects.filter(asset=asset).count() == 1


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"from_states": []}, "from_states", "at least one state"),
        ({"from_states": ["broken"]}, "from_states", "unknown state"),
        ({"from_states": ["decommissioned"]}, "from_states", "terminal"),
        ({"from_states": ["soiled"], "to_state": "soiled"}, "from_states", "both a from state and the to state"),
        ({"to_state": "decommissioned"}, "to_state", "dual sign-off"),
        ({"from_states": ["available"]}, "from_states", "already covers available"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(fields, field, message):
    rule = RoomTypeRule(
        room_type=RoomType.SOILED_UTILITY, **{"from_states": ["cleaning"], "to_state": "soiled", **fields}
    )
    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()
    assert message in " ".join(excinfo.value.message_dict[field])


# Rules may only take availability away (issue 13, defect 3) -------------------------------------


@pytest.mark.parametrize("target", ["available", "in_use", "reserved"])
def test_a_rule_may_not_give_availability(target):
    rule = RoomTypeRule(room_type=RoomType.CORRIDOR, from_states=["soiled"], to_state=target)
    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()
    message = " ".join(excinfo.value.message_dict["to_state"])
    assert "may only take availability away" in message and "soiled, cleaning, biomed" in message


@pytest.mark.parametrize("source", ["biomed", "reserved"])
def test_a_rule_may_not_take_equipment_from_biomed_or_a_reservation(source):
    rule = RoomTypeRule(room_type=RoomType.CORRIDOR, from_states=[source], to_state="soiled")
    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()
    assert f"no rule may move equipment that is {source}" in " ".join(excinfo.value.message_dict["from_states"])


def test_the_database_refuses_an_active_rule_that_gives_availability():
    with pytest.raises(IntegrityError), transaction.atomic():
        RoomTypeRule.objects.create(room_type=RoomType.CORRIDOR, from_states=["biomed"], to_state="in_use")


def test_a_corridor_rule_cannot_put_biomed_equipment_into_use(admin_client):
    """The review's example: biomed -> in use when a device passes a corridor. The admin refuses the rule
    with the reason, and a biomed asset entering a corridor stays in biomed."""
    response = admin_client.post(
        "/admin/lifecycle/roomtyperule/add/",
        {"room_type": RoomType.CORRIDOR, "from_states": ["biomed"], "to_state": "in_use", "active": "on"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "may only take availability away" in page and "no rule may move equipment that is biomed" in page
    assert not RoomTypeRule.objects.filter(room_type=RoomType.CORRIDOR).exists()
    asset = located_asset(state=AssetState.BIOMED)
    enter(asset, RoomFactory(room_type=RoomType.CORRIDOR))
    assert state_of(asset) == AssetState.BIOMED


def test_the_state_machine_itself_refuses_a_rule_into_availability():
    asset = located_asset(state=AssetState.CLEANING)
    with pytest.raises(TransitionNotAllowed):
        asset_transition(asset=asset, transition="apply_room_rule", user=None, source="rule", to_state="available")
    biomed = located_asset(state=AssetState.BIOMED)
    with pytest.raises(TransitionNotAllowed):
        asset_transition(asset=biomed, transition="apply_room_rule", user=None, source="rule", to_state="soiled")


def test_rule_caused_changes_are_in_the_change_history():
    asset = located_asset(state=AssetState.IN_USE)
    enter(asset, RoomFactory(room_type=RoomType.SOILED_UTILITY, code="SU-9"))
    [record] = object_change_history(instance=asset)
    assert record.user is None
    assert record.changes["state"] == {"from": "in_use", "to": "soiled"}
    assert "SU-9" in record.changes["room_type_rule"]["to"]


def test_rule_edits_in_the_admin_are_in_the_change_history(admin_client, admin_user):
    rule = RoomTypeRule.objects.get(room_type=RoomType.SOILED_UTILITY)
    response = admin_client.post(
        f"/admin/lifecycle/roomtyperule/{rule.pk}/change/",
        {"room_type": rule.room_type, "from_states": ["in_use"], "to_state": "soiled", "active": "on"},
    )
    assert response.status_code == 302
    [record] = object_change_history(instance=rule)
    assert record.user == admin_user
    assert record.changes["from_states"] == {"from": ["in_use", "available"], "to": ["in_use"]}


def test_the_migration_deactivates_existing_rules_that_break_the_rule():
    migration = importlib.import_module("lifecycle.migrations.0006_room_rules_only_take_availability_away")
    bad = RoomTypeRule.objects.create(room_type=RoomType.CORRIDOR, from_states=["reserved"], to_state="soiled")
    migration.deactivate_rules_that_give_availability(apps, None)
    bad.refresh_from_db()
    assert not bad.active and "deactivated by migration 0006: moves equipment that is reserved" in bad.description
    assert RoomTypeRule.objects.get(room_type=RoomType.SOILED_UTILITY).active  # the default rule is fine


def test_a_rule_runs_the_guards_of_the_transition_that_normally_leads_to_its_target(monkeypatch, caplog):
    """Were `return` (in use -> soiled) ever guarded, a rule moving equipment to soiled obeys that guard too."""
    refuse = Guard("needs_a_count", "the set was counted", lambda asset: ["instrument count missing"])
    method = getattr(Asset, method_name(TransitionName.RETURN))
    for fsm_transition in method._django_fsm.transitions.values():
        monkeypatch.setattr(fsm_transition, "conditions", [*fsm_transition.conditions, refuse])
    asset = located_asset(state=AssetState.IN_USE)
    with caplog.at_level(logging.WARNING, logger="lifecycle.services"):
        enter(asset, RoomFactory(room_type=RoomType.SOILED_UTILITY))
    assert state_of(asset) == AssetState.IN_USE
    assert "instrument count missing" in caplog.text
