"""Planned maintenance dates, work orders and recalls, and how they keep "available" honest."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from declarations.location_status import LocationStatus
from declarations.states import AssetState
from lifecycle.biomed.selectors import asset_next_due, asset_overdue_schedules
from lifecycle.biomed.services import schedule_set
from lifecycle.exceptions import GuardFailed, RecallError, TransitionPermissionDenied, WorkOrderError
from lifecycle.models import Recall, WorkOrder, WorkOrderKind, WorkOrderStatus
from lifecycle.selectors import (
    assets_available_for_use,
    assets_pm_overdue,
    assets_with_open_recall,
    recall_affected_assets,
)
from lifecycle.services import (
    asset_return_to_service,
    recall_issue,
    work_order_complete,
    work_order_open,
    work_order_update,
)
from tests.factories import AssetFactory, AssetTypeFactory
from tests.lifecycle.helpers import located_asset, open_recall_on, pm_last_done, pm_overdue_asset

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 22)


# Next PM date --------------------------------------------------------------------------------------


def test_next_pm_due_uses_the_type_interval_unless_the_asset_overrides_it():
    pumps = AssetTypeFactory(name="Infusion pump", default_pm_interval_days=365)
    asset = AssetFactory(asset_type=pumps, last_pm_date=date(2026, 1, 10))
    assert asset_next_due(asset=asset) == date(2027, 1, 10)
    schedule_set(asset=asset, kind="pm", interval_value=90)  # the asset overrides its type's PM plan
    assert asset_next_due(asset=asset) == date(2026, 4, 10)


def test_before_the_first_pm_the_in_service_date_counts():
    asset = AssetFactory(in_service_date=date(2026, 3, 1))
    assert asset_next_due(asset=asset) == date(2026, 3, 1) + timedelta(days=365)
    assert asset_next_due(asset=AssetFactory()) is None  # nothing known: not reported overdue


def test_assets_pm_overdue_per_interval_and_boundary():
    yearly = AssetTypeFactory(name="Infusion pump", default_pm_interval_days=365)
    quarterly = AssetTypeFactory(name="Defibrillator", default_pm_interval_days=90)
    overdue_yearly = AssetFactory(asset_type=yearly, last_pm_date=TODAY - timedelta(days=366))
    due_today = AssetFactory(asset_type=yearly, last_pm_date=TODAY - timedelta(days=365))
    overdue_quarterly = AssetFactory(asset_type=quarterly, last_pm_date=TODAY - timedelta(days=91))
    overridden = AssetFactory(asset_type=yearly, pm_interval_days=30, last_pm_date=TODAY - timedelta(days=45))
    from_in_service = AssetFactory(asset_type=quarterly, in_service_date=TODAY - timedelta(days=100))
    AssetFactory(asset_type=yearly)  # no dates: unknown, not listed
    AssetFactory(asset_type=yearly, last_pm_date=TODAY - timedelta(days=800), state=AssetState.DECOMMISSIONED)

    overdue = set(assets_pm_overdue(today=TODAY))
    assert overdue == {overdue_yearly, overdue_quarterly, overridden, from_in_service}
    assert due_today not in overdue
    assert all(asset_overdue_schedules(asset=asset, today=TODAY) for asset in overdue)
    assert not asset_overdue_schedules(asset=due_today, today=TODAY)


def test_completing_a_pm_work_order_sets_the_last_pm_date_and_unblocks_return_to_service(biomed):
    asset = pm_overdue_asset(AssetState.BIOMED)
    with pytest.raises(GuardFailed, match="PM overdue since"):
        asset_return_to_service(asset=asset, user=biomed)

    work_order = work_order_open(asset=asset, kind=WorkOrderKind.PM, user=biomed)
    done = work_order_complete(work_order=work_order, user=biomed)
    assert done.status == WorkOrderStatus.DONE and done.closed_at is not None
    assert pm_last_done(asset) == timezone.localdate()
    assert asset_return_to_service(asset=asset, user=biomed).to_state == AssetState.AVAILABLE


def test_pm_date_never_moves_backwards(biomed):
    asset = located_asset(state=AssetState.BIOMED, last_pm_date=timezone.localdate())
    work_order = work_order_open(asset=asset, kind=WorkOrderKind.PM, user=biomed)
    work_order_complete(work_order=work_order, user=biomed, completed_on=timezone.localdate() - timedelta(days=30))
    assert pm_last_done(asset) == timezone.localdate()


def test_a_repair_does_not_count_as_pm(biomed):
    asset = located_asset(state=AssetState.BIOMED)
    work_order_complete(work_order=work_order_open(asset=asset, kind=WorkOrderKind.REPAIR, user=biomed), user=biomed)
    assert pm_last_done(asset) is None


def test_work_order_status_rules(biomed):
    asset = located_asset(state=AssetState.BIOMED)
    work_order = work_order_open(asset=asset, kind=WorkOrderKind.CALIBRATION, user=biomed)
    work_order_update(work_order=work_order, user=biomed, status=WorkOrderStatus.CANCELLED)
    with pytest.raises(WorkOrderError, match="cancelled cannot become in progress"):
        work_order_update(work_order=work_order, user=biomed, status=WorkOrderStatus.IN_PROGRESS)
    with pytest.raises(WorkOrderError, match="cannot change kind"):
        work_order_update(work_order=work_order, user=biomed, kind=WorkOrderKind.PM)
    with pytest.raises(WorkOrderError, match="in the future"):
        work_order_complete(
            work_order=work_order_open(asset=asset, kind=WorkOrderKind.PM, user=biomed),
            user=biomed,
            completed_on=timezone.localdate() + timedelta(days=1),
        )
    with pytest.raises(WorkOrderError, match="needs its recall"):
        work_order_open(asset=asset, kind=WorkOrderKind.RECALL, user=biomed)


def test_work_order_moves_through_its_declared_transitions_and_only_for_the_roles_the_table_allows(biomed, dispatcher):
    asset = located_asset(state=AssetState.BIOMED)
    work_order = work_order_open(asset=asset, kind=WorkOrderKind.REPAIR, user=biomed)
    with pytest.raises(TransitionPermissionDenied, match="may not start work orders: allowed for Clinical engineering"):
        work_order_update(work_order=work_order, user=dispatcher, status=WorkOrderStatus.IN_PROGRESS)
    assert WorkOrder.objects.get(pk=work_order.pk).status == WorkOrderStatus.OPEN

    started = work_order_update(work_order=work_order, user=biomed, status=WorkOrderStatus.IN_PROGRESS)
    assert (started.status, started.closed_at) == (WorkOrderStatus.IN_PROGRESS, None)
    stopped = work_order_update(work_order=work_order, user=biomed, status=WorkOrderStatus.OPEN)
    assert stopped.status == WorkOrderStatus.OPEN
    with pytest.raises(TransitionPermissionDenied, match="may not complete work orders"):
        work_order_complete(work_order=work_order, user=dispatcher)
    done = work_order_complete(work_order=work_order, user=biomed)
    assert done.status == WorkOrderStatus.DONE and done.closed_at is not None
    with pytest.raises(WorkOrderError, match="done cannot become open; it can become nothing"):
        work_order_update(work_order=work_order, user=biomed, status=WorkOrderStatus.OPEN)


def test_a_decommissioned_asset_takes_no_work_orders(biomed):
    asset = AssetFactory(state=AssetState.DECOMMISSIONED)
    with pytest.raises(WorkOrderError, match="decommissioned"):
        work_order_open(asset=asset, kind=WorkOrderKind.REPAIR, user=biomed)


# Recalls -------------------------------------------------------------------------------------------


def issue(serials, reference="FSN-2026-114", **kwargs):
    return recall_issue(
        reference_number=reference,
        manufacturer=kwargs.pop("manufacturer", "BD"),
        model=kwargs.pop("model", "Alaris 8015"),
        serial_numbers=serials,
        issued_date=date(2026, 11, 1),
        description="Occlusion alarm may not sound",
        **kwargs,
    )


def test_recall_opens_one_work_order_per_affected_asset(biomed):
    hit = AssetFactory(serial_number="SN-1")
    hit_other_case = AssetFactory(serial_number=" sn-2 ", manufacturer="bd", model="ALARIS 8015")
    AssetFactory(serial_number="SN-3")  # not listed
    AssetFactory(serial_number="SN-1", model="Alaris 8100")  # another model
    AssetFactory(serial_number="SN-2", state=AssetState.DECOMMISSIONED, model="Alaris 8015")

    result = issue(["SN-1", "SN-2"], user=biomed)
    assert result.created
    assert {wo.asset for wo in result.opened} == {hit, hit_other_case}
    assert all(wo.kind == WorkOrderKind.RECALL and wo.status == WorkOrderStatus.OPEN for wo in result.opened)
    assert all(wo.recall == result.recall and wo.opened_by == biomed for wo in result.opened)
    assert set(assets_with_open_recall()) == {hit, hit_other_case}


def test_issuing_again_is_idempotent_and_catches_new_assets():
    AssetFactory(serial_number="SN-1")
    first = issue("all")
    assert len(first.opened) == 1
    again = issue("ALL")
    assert (again.created, again.opened, again.already_open) == (False, [], 1)
    newcomer = AssetFactory(serial_number="SN-9")
    third = issue("all")
    assert [wo.asset for wo in third.opened] == [newcomer]
    assert WorkOrder.objects.filter(kind=WorkOrderKind.RECALL).count() == 2


def test_same_reference_with_other_details_is_refused():
    issue(["SN-1"])
    with pytest.raises(RecallError, match="already issued with a different serial_numbers"):
        issue(["SN-1", "SN-2"])


def test_a_recall_needs_serials_and_a_reference():
    with pytest.raises(RecallError, match='serial numbers, or "all"'):
        issue([" "])
    with pytest.raises(RecallError, match="needs reference_number"):
        issue(["SN-1"], reference=" ")
    assert not Recall.objects.exists()


def test_affected_assets_are_listed_with_live_location_and_state(dispatcher):
    here = located_asset(serial_number="SN-1", state=AssetState.IN_USE)
    lost = AssetFactory(serial_number="SN-2")  # never seen
    result = issue(["SN-1", "SN-2"])
    rows = {asset.asset_tag: asset for asset in recall_affected_assets(recall=result.recall)}
    assert set(rows) == {here.asset_tag, lost.asset_tag}

    row = rows[here.asset_tag]
    assert row.location_status == LocationStatus.LOCATED
    assert row.current_room == here.current_room and row.current_room.floor == here.current_room.floor
    assert row.state == AssetState.IN_USE
    assert row.recall_work_order_status == WorkOrderStatus.OPEN
    assert rows[lost.asset_tag].location_status == LocationStatus.MISSING


def test_closing_the_recall_work_order_lifts_the_guard(biomed):
    asset = located_asset(state=AssetState.BIOMED)
    work_order = open_recall_on(asset)
    with pytest.raises(GuardFailed, match=f"open recall work order {work_order.reference}"):
        asset_return_to_service(asset=asset, user=biomed)
    work_order_complete(work_order=work_order, user=biomed, notes="firmware 3.2 installed")
    assert asset not in assets_with_open_recall()
    assert asset_return_to_service(asset=asset, user=biomed).to_state == AssetState.AVAILABLE


def test_available_for_use_excludes_assets_the_definition_rules_out():
    ok = located_asset()
    overdue = pm_overdue_asset(AssetState.AVAILABLE)
    recalled = located_asset()
    open_recall_on(recalled)
    located_asset(state=AssetState.IN_USE)
    assert list(assets_available_for_use(today=timezone.localdate())) == [ok]
    assert overdue in assets_pm_overdue(today=timezone.localdate())


def test_recall_in_the_admin_opens_work_orders(admin_client):
    asset = AssetFactory(serial_number="SN-77")
    response = admin_client.post(
        "/admin/lifecycle/recall/add/",
        {
            "reference_number": "R-123",
            "manufacturer": asset.manufacturer,
            "model": asset.model,
            "serial_numbers": "SN-77, SN-78",
            "issued_date": "2026-11-01",
            "description": "Battery may swell",
            "work_orders-TOTAL_FORMS": "0",
            "work_orders-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    recall = Recall.objects.get(reference_number="R-123")
    assert recall.serial_numbers == ["SN-77", "SN-78"]
    assert WorkOrder.objects.get(recall=recall).asset == asset


def test_work_order_done_in_the_admin_updates_the_pm_date(admin_client, biomed):
    asset = located_asset(state=AssetState.BIOMED)
    work_order = work_order_open(asset=asset, kind=WorkOrderKind.PM, user=biomed)
    response = admin_client.post(
        f"/admin/lifecycle/workorder/{work_order.pk}/change/",
        {"status": "done", "technician": biomed.pk, "notes": "PM passed", "completed_on": "2026-11-20"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.DONE and work_order.closed_at is not None
    assert pm_last_done(asset) == date(2026, 11, 20)


def test_admin_refuses_reopening_a_closed_work_order(admin_client, biomed):
    work_order = work_order_open(asset=located_asset(state=AssetState.BIOMED), kind=WorkOrderKind.REPAIR, user=biomed)
    work_order_complete(work_order=work_order, user=biomed)
    response = admin_client.post(f"/admin/lifecycle/workorder/{work_order.pk}/change/", {"status": "open"})
    assert response.status_code == 200
    assert "cannot become open" in response.content.decode()
    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.DONE
