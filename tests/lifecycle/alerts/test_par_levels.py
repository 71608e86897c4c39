import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from declarations.states import AssetState
from lifecycle.alerts.models import ParLevel
from lifecycle.alerts.selectors import par_levels_with_counts
from tests.factories import AssetTypeFactory, RoomFactory
from tests.lifecycle.alerts.helpers import ago, tracked_asset

pytestmark = pytest.mark.django_db


@pytest.fixture
def wards(floor):
    return {
        "4N-a": RoomFactory(floor=floor, unit="4 North"),
        "4N-b": RoomFactory(floor=floor, unit="4 North"),
        "5S": RoomFactory(floor=floor, unit="5 South"),
    }


def counts():
    return {(p.unit, p.asset_type.name): p.available_count for p in par_levels_with_counts()}


def test_counts_available_located_assets_by_the_unit_of_the_room_they_are_in(wards, pump_type, now):
    vent = AssetTypeFactory(name="Ventilator")
    ParLevel.objects.create(unit="4 North", asset_type=pump_type, target=6, critical=2)
    ParLevel.objects.create(unit="4 North", asset_type=vent, target=2, critical=1)
    ParLevel.objects.create(unit="5 South", asset_type=pump_type, target=4, critical=1)
    ParLevel.objects.create(unit="5 South", asset_type=vent, target=1, critical=0)

    # Counted for 4 North pumps: available and located in a 4 North room...
    tracked_asset(room=wards["4N-a"], seen=ago(now, minutes=1), asset_type=pump_type)
    tracked_asset(room=wards["4N-b"], seen=ago(now, minutes=9), asset_type=pump_type)
    # ...including one owned by 5 South that is physically on 4 North now.
    tracked_asset(room=wards["4N-a"], seen=now, asset_type=pump_type, unit="5 South")

    # Not counted for 4 North pumps:
    tracked_asset(room=wards["4N-a"], seen=ago(now, minutes=11), asset_type=pump_type)  # stale
    tracked_asset(room=wards["4N-a"], seen=now, asset_type=pump_type, state=AssetState.IN_USE)
    tracked_asset(room=wards["4N-a"], seen=now, asset_type=pump_type, state=AssetState.DECOMMISSIONED)
    tracked_asset(room=wards["4N-a"], seen=now, asset_type=pump_type, state=AssetState.SOILED)
    tracked_asset(room=None, seen=now, asset_type=pump_type)  # heard, but in no room
    # Owned by 4 North but sitting in a 5 South room: counts for 5 South, where it is.
    tracked_asset(room=wards["5S"], seen=now, asset_type=pump_type, unit="4 North")
    # Another type in 4 North.
    tracked_asset(room=wards["4N-b"], seen=now, asset_type=vent)

    assert counts() == {
        ("4 North", "Infusion pump"): 3,
        ("4 North", "Ventilator"): 1,
        ("5 South", "Infusion pump"): 1,
        ("5 South", "Ventilator"): 0,
    }


def test_one_query_for_all_par_levels(wards, pump_type, now, django_assert_num_queries):
    for i in range(5):
        kind = AssetTypeFactory(name=f"Type {i}")
        ParLevel.objects.create(unit="4 North", asset_type=kind, target=3, critical=1)
        tracked_asset(room=wards["4N-a"], seen=now, asset_type=kind)
    with django_assert_num_queries(1):
        rows = [(p.asset_type.name, p.available_count) for p in par_levels_with_counts()]
    assert rows == [(f"Type {i}", 1) for i in range(5)]


def test_critical_above_target_is_refused_by_validation_and_by_the_database(wards, pump_type):
    par = ParLevel(unit="4 North", asset_type=pump_type, target=2, critical=3)
    with pytest.raises(ValidationError) as exc:
        par.full_clean()
    assert exc.value.message_dict == {"critical": ["The critical threshold (3) cannot be above the target (2)."]}
    with pytest.raises(IntegrityError), transaction.atomic():
        par.save()


def test_one_par_level_per_unit_and_asset_type(wards, pump_type):
    ParLevel.objects.create(unit="4 North", asset_type=pump_type, target=4, critical=1)
    duplicate = ParLevel(unit="4 North", asset_type=pump_type, target=5, critical=2)
    with pytest.raises(ValidationError) as exc:
        duplicate.full_clean()
    assert "already exists" in str(exc.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_a_unit_no_room_belongs_to_is_refused_with_the_known_units(wards, pump_type):
    par = ParLevel(unit="4 Nroth", asset_type=pump_type, target=4, critical=1)
    with pytest.raises(ValidationError) as exc:
        par.full_clean()
    assert exc.value.message_dict["unit"] == ["No room belongs to unit '4 Nroth'. Known units: 4 North, 5 South."]
