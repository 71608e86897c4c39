"""Property: an asset with any overdue (or failed) maintenance schedule is never returned by nearest search,
never counted towards par, and never moved into available through any door."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.models import Asset
from declarations.states import AssetState
from declarations.transitions import TransitionName
from lifecycle.alerts.models import ParLevel
from lifecycle.alerts.selectors import par_levels_with_counts
from lifecycle.biomed.models import MaintenanceSchedule
from lifecycle.biomed.selectors import assets_maintenance_overdue
from lifecycle.exceptions import LifecycleError
from lifecycle.nearest import assets_nearest_available
from lifecycle.services import asset_transition
from tests.factories import AssetTypeFactory, RoomFactory
from tests.lifecycle.helpers import located_asset

pytestmark = pytest.mark.django_db

KINDS = ["pm", "calibration", "electrical_safety"]
# A schedule: (kind, days from today to its due date or None, failed). Due yesterday or before: overdue.
schedule_st = st.tuples(st.sampled_from(KINDS), st.one_of(st.none(), st.integers(-400, 400)), st.booleans())
asset_st = st.tuples(
    st.sampled_from([AssetState.AVAILABLE, AssetState.RESERVED, AssetState.CLEANING, AssetState.BIOMED]),
    st.lists(schedule_st, max_size=3, unique_by=lambda s: s[0]),
)

# Every door into available, with who may open it.
DOORS = [
    (TransitionName.RELEASE, "dispatcher", None),
    (TransitionName.FINISH_CLEANING, "dispatcher", None),
    (TransitionName.RETURN_TO_SERVICE, "biomed", AssetState.AVAILABLE),
    (TransitionName.APPLY_ROOM_RULE, None, AssetState.AVAILABLE),
]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fleet=st.lists(asset_st, min_size=1, max_size=5))
def test_no_overdue_asset_is_ever_serviceable(fleet, dispatcher, biomed):
    users = {"dispatcher": dispatcher, "biomed": biomed, None: None}
    today = timezone.localdate()
    with transaction.atomic():
        pumps = AssetTypeFactory(name="Property pump")
        unit_room = RoomFactory(unit="Prop unit")
        assets = []
        for state, schedules in fleet:
            asset = located_asset(state=state, asset_type=pumps, current_room=unit_room)
            MaintenanceSchedule.objects.filter(asset=asset).delete()
            for kind, days, failed in schedules:
                MaintenanceSchedule.objects.create(
                    asset=asset,
                    kind=kind,
                    interval_value=365,
                    next_due=None if days is None else today + timedelta(days=days),
                    last_result="fail" if failed else "pass",
                    last_result_on=today if failed else None,
                )
            assets.append(asset)
        overdue = set(assets_maintenance_overdue(today=today).values_list("pk", flat=True))
        expected_overdue = {
            asset.pk
            for asset, (_, schedules) in zip(assets, fleet, strict=True)
            if any(failed or (days is not None and days < 0) for _, days, failed in schedules)
        }
        assert overdue == expected_overdue

        found = {r.asset.pk for r in assets_nearest_available(asset_type=pumps, room=unit_room, limit=100)}
        assert not found & overdue
        ParLevel.objects.create(unit="Prop unit", asset_type=pumps, target=10, critical=0)
        [par] = [p for p in par_levels_with_counts() if p.asset_type_id == pumps.pk]
        fit_and_available = [a for a in assets if a.state == AssetState.AVAILABLE and a.pk not in overdue]
        assert par.available_count == len(fit_and_available)

        for asset in assets:
            for name, who, to_state in DOORS:
                try:
                    with transaction.atomic():
                        current = Asset.objects.get(pk=asset.pk)
                        asset_transition(asset=current, transition=name, user=users[who], to_state=to_state)
                except LifecycleError:
                    pass
        # An asset already in state available when its schedule fell due stays there (nothing moves it), but
        # it is not serviceable (above); what must never happen is a move INTO available.
        elsewhere = [a.pk for a in assets if a.state != AssetState.AVAILABLE]
        moved = Asset.objects.filter(pk__in=elsewhere, state=AssetState.AVAILABLE)
        assert not set(moved.values_list("pk", flat=True)) & overdue
        assert set(moved.values_list("pk", flat=True)) <= set(elsewhere) - overdue
        transaction.set_rollback(True)
