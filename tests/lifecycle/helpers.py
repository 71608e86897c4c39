"""Small builders shared by the lifecycle core tests."""

from datetime import date, timedelta

from django.utils import timezone

from declarations.room_types import RoomType
from declarations.states import AssetState
from lifecycle.biomed.models import MaintenanceSchedule
from lifecycle.models import WorkOrderKind
from lifecycle.services import recall_issue, work_order_open
from tests.factories import AssetFactory, RoomFactory


def located_asset(state=AssetState.AVAILABLE, room_type=RoomType.PATIENT, **kwargs):
    """An asset the RTLS saw a minute ago in a room of ``room_type``."""
    room = kwargs.pop("current_room", None) or RoomFactory(room_type=room_type)
    return AssetFactory(state=state, current_room=room, last_seen=timezone.now() - timedelta(minutes=1), **kwargs)


def pm_overdue_asset(state, *, days_overdue=10, **kwargs):
    """An asset whose PM (365-day interval) fell due ``days_overdue`` days ago."""
    last_pm = timezone.localdate() - timedelta(days=365 + days_overdue)
    return located_asset(state=state, last_pm_date=last_pm, **kwargs)


def open_recall_on(asset, reference="R-123"):
    result = recall_issue(
        reference_number=reference,
        manufacturer=asset.manufacturer,
        model=asset.model,
        serial_numbers=[asset.serial_number],
        issued_date=date(2026, 11, 1),
        description="Occlusion alarm may not sound",
    )
    return result.opened[0]


def open_pm_work_order(asset, user=None):
    return work_order_open(asset=asset, kind=WorkOrderKind.PM, user=user)


def pm_last_done(asset):
    """The last passing PM of the asset (its PM schedule, lifecycle.biomed)."""
    return MaintenanceSchedule.objects.get(asset_id=asset.pk, kind="pm", name="").last_done
