"""Maintenance schedules: plans per type or model, asset overrides, due dates, serviceability everywhere,
work order generation, results and misses."""

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from freezegun import freeze_time

from assets.models import Asset
from declarations.states import AssetState
from lifecycle.alerts.models import ParLevel
from lifecycle.alerts.selectors import par_levels_with_counts
from lifecycle.biomed.models import MaintenanceSchedule, ScheduledWork, SchedulePlan, add_interval
from lifecycle.biomed.services import (
    plan_save,
    schedule_set,
    scheduled_work_cancel,
    scheduled_work_complete,
    work_orders_generate,
)
from lifecycle.exceptions import GuardFailed, WorkOrderError
from lifecycle.models import TransitionLog, WorkOrder, WorkOrderKind, WorkOrderStatus
from lifecycle.nearest import assets_nearest_available
from lifecycle.selectors import asset_availability_blockers, assets_available_for_use
from lifecycle.services import (
    asset_deliver,
    asset_finish_cleaning,
    asset_reserve,
    asset_return,
    asset_start_cleaning,
    asset_start_use,
    work_order_update,
)
from tests.factories import AssetFactory, AssetTypeFactory, RoomFactory
from tests.lifecycle.helpers import located_asset

pytestmark = pytest.mark.django_db


def calibration_plan(asset_type, *, months=12, lead_days=14, checklist=()):
    return plan_save(
        plan=SchedulePlan(
            asset_type=asset_type,
            kind="calibration",
            interval_value=months,
            interval_unit="months",
            lead_days=lead_days,
            checklist=list(checklist),
        )
    )


def schedule(asset, kind="calibration", name=""):
    return MaintenanceSchedule.objects.get(asset=asset, kind=kind, name=name)


def overdue_calibration(asset, *, days=3):
    """The asset's calibration fell due ``days`` days ago (its PM is fine)."""
    calibration_plan(asset.asset_type)
    last = add_interval(timezone.localdate() - timedelta(days=days), -12, "months")
    return schedule_set(asset=asset, kind="calibration", last_done=last)


# Plans, overrides, due dates -----------------------------------------------------------------------


def test_month_intervals_are_calendar_months():
    assert add_interval(date(2026, 1, 31), 1, "months") == date(2026, 2, 28)
    assert add_interval(date(2026, 1, 31), 12, "months") == date(2027, 1, 31)
    assert add_interval(date(2026, 1, 31), 30, "days") == date(2026, 3, 2)


def test_a_type_plan_reaches_every_asset_and_a_model_plan_wins_over_it():
    pumps = AssetTypeFactory(name="Infusion pump")
    alaris = AssetFactory(asset_type=pumps, model="Alaris 8015", in_service_date=date(2026, 1, 10))
    other = AssetFactory(asset_type=pumps, model="Volumat", in_service_date=date(2026, 1, 10))
    calibration_plan(pumps, months=12)
    plan_save(
        plan=SchedulePlan(
            manufacturer="bd", model="ALARIS 8015", kind="calibration", interval_value=6, interval_unit="months"
        )
    )
    assert schedule(alaris).next_due == date(2026, 7, 10)  # the model's plan, matched case-insensitively
    assert schedule(other).next_due == date(2027, 1, 10)
    # Every asset keeps its PM schedule from the type too: several schedules per asset.
    assert set(alaris.schedules.values_list("kind", flat=True)) == {"pm", "calibration"}
    # A new asset of the model gets them at once.
    newcomer = AssetFactory(asset_type=pumps, model="Alaris 8015", in_service_date=date(2026, 2, 1))
    assert schedule(newcomer).next_due == date(2026, 8, 1)


def test_an_asset_override_survives_a_plan_change_and_other_assets_follow_it():
    pumps = AssetTypeFactory(name="Infusion pump")
    follows = AssetFactory(asset_type=pumps, in_service_date=date(2026, 1, 10))
    overridden = AssetFactory(asset_type=pumps, in_service_date=date(2026, 1, 10))
    plan = calibration_plan(pumps, months=12)
    schedule_set(asset=overridden, kind="calibration", interval_value=3)
    assert schedule(overridden).next_due == date(2026, 4, 10)

    plan.interval_value = 6
    plan_save(plan=plan)
    assert schedule(follows).next_due == date(2026, 7, 10)
    assert schedule(overridden).next_due == date(2026, 4, 10)
    assert schedule(overridden).overrides_plan


def test_a_named_schedule_of_kind_other_needs_a_name_and_is_separate():
    asset = located_asset()
    with pytest.raises(Exception, match="needs a name"):
        schedule_set(asset=asset, kind="other", interval_value=30)
    battery = schedule_set(asset=asset, kind="other", name="Battery replacement", interval_value=24)
    assert battery.label == "Battery replacement" and battery.interval_unit == "days"
    assert asset.schedules.count() == 2  # PM from the type, and this one


# Any overdue schedule: not serviceable anywhere ---------------------------------------------------


def test_an_overdue_calibration_blocks_reserve_start_use_nearest_par_and_the_shared_definition(dispatcher):
    room = RoomFactory(unit="4 North")
    asset = located_asset(current_room=room)
    ok = located_asset(current_room=room, asset_type=asset.asset_type)
    overdue_calibration(asset)
    due = schedule(asset).next_due

    assert asset_availability_blockers(asset=asset) == [f"calibration overdue since {due:%Y-%m-%d}"]
    with pytest.raises(GuardFailed, match="calibration overdue since"):
        asset_reserve(asset=asset, user=dispatcher)
    with pytest.raises(GuardFailed, match="calibration overdue since"):
        asset_start_use(asset=asset, user=dispatcher)
    assert [r.asset for r in assets_nearest_available(asset_type=asset.asset_type, room=room, limit=5)] == [ok]
    assert list(assets_available_for_use(today=timezone.localdate())) == [ok]
    ParLevel.objects.create(unit="4 North", asset_type=asset.asset_type, target=4, critical=1)
    assert [p.available_count for p in par_levels_with_counts()] == [1]


def test_overdue_while_in_use_it_stays_in_use_then_cleaning_sends_it_to_biomed(dispatcher):
    asset = located_asset(state=AssetState.IN_USE)
    overdue_calibration(asset)
    assert Asset.objects.get(pk=asset.pk).state == AssetState.IN_USE  # nothing moved it
    asset_return(asset=asset, user=dispatcher)
    asset_start_cleaning(asset=asset, user=dispatcher)
    entry = asset_finish_cleaning(asset=asset, user=dispatcher)
    assert entry.to_state == AssetState.BIOMED
    assert "calibration overdue since" in entry.note


def test_reserved_then_overdue_it_cannot_be_delivered_and_stays_reserved(dispatcher):
    asset = located_asset(state=AssetState.RESERVED)
    overdue_calibration(asset)
    with pytest.raises(GuardFailed, match="calibration overdue"):
        asset_deliver(asset=asset, user=dispatcher)
    assert Asset.objects.get(pk=asset.pk).state == AssetState.RESERVED
    assert not TransitionLog.objects.filter(asset=asset, to_state=AssetState.IN_USE).exists()


# Work orders: generation, results, misses ----------------------------------------------------------


def test_work_orders_open_lead_days_before_the_due_date_once():
    asset = located_asset(in_service_date=date(2026, 1, 10))
    calibration_plan(asset.asset_type, months=12, lead_days=10)  # due 2027-01-10
    schedule_set(asset=asset, kind="pm", last_done=date(2026, 6, 1))  # PM not due: only calibration counts here
    assert work_orders_generate(today=date(2026, 12, 30)).opened == []  # 11 days ahead: not yet
    opened = work_orders_generate(today=date(2026, 12, 31)).opened  # 10 days ahead
    assert [(wo.kind, wo.scheduled.due_date) for wo in opened] == [(WorkOrderKind.CALIBRATION, date(2027, 1, 10))]
    again = work_orders_generate(today=date(2027, 1, 2))
    assert again.opened == [] and again.already_open == 1


def test_the_daily_command_generates_and_reports(monkeypatch):
    asset = located_asset(in_service_date=timezone.localdate() - timedelta(days=360))  # PM due in 5 days
    out = StringIO()
    call_command("generate_work_orders", stdout=out)
    work_order = WorkOrder.objects.get(asset=asset)
    assert work_order.kind == WorkOrderKind.PM and work_order.status == WorkOrderStatus.OPEN
    assert f"opened {work_order.reference}" in out.getvalue()
    call_command("generate_work_orders", stdout=out)
    assert WorkOrder.objects.filter(asset=asset).count() == 1
    with pytest.raises(Exception, match="is not a date"):
        call_command("generate_work_orders", "--today", "tomorrow")


def test_a_pass_moves_the_due_date_from_the_day_it_was_done(biomed):
    asset = located_asset(in_service_date=date(2025, 12, 1))
    calibration_plan(asset.asset_type, months=12, checklist=["zero the scale", "test 1 kg"])
    [work_order] = [wo for wo in work_orders_generate(today=date(2026, 11, 20)).opened if wo.kind == "calibration"]
    with freeze_time("2026-11-25 10:00"):
        with pytest.raises(WorkOrderError, match="not ticked: test 1 kg"):
            scheduled_work_complete(work_order=work_order, user=biomed, result="pass", checklist_results=[True, False])
        work = scheduled_work_complete(
            work_order=work_order, user=biomed, result="pass", checklist_results=[True, True]
        )
    assert work.on_time and work.performed_on == date(2026, 11, 25)
    assert work.checklist_results == [{"step": "zero the scale", "ok": True}, {"step": "test 1 kg", "ok": True}]
    assert schedule(asset).next_due == date(2027, 11, 25)
    assert WorkOrder.objects.get(pk=work_order.pk).status == WorkOrderStatus.DONE


def test_a_fail_sends_the_asset_to_biomed_and_blocks_it_until_a_pass(biomed, dispatcher):
    asset = located_asset(state=AssetState.AVAILABLE, in_service_date=timezone.localdate() - timedelta(days=170))
    calibration_plan(asset.asset_type, months=6, lead_days=30)  # due in about 12 days
    [work_order] = [wo for wo in work_orders_generate().opened if wo.kind == "calibration"]
    scheduled_work_complete(work_order=work_order, user=biomed, result="fail", notes="drifts 8%")
    asset.refresh_from_db()
    assert asset.state == AssetState.BIOMED
    log = TransitionLog.objects.filter(asset=asset).first()
    assert log.transition == "send_to_biomed" and "Calibration failed" in log.note
    assert asset_availability_blockers(asset=asset) == [f"calibration failed on {timezone.localdate():%Y-%m-%d}"]
    # The retest is generated at once, due today.
    [retest] = work_orders_generate().opened
    assert retest.scheduled.due_date == timezone.localdate()
    scheduled_work_complete(work_order=retest, user=biomed, result="pass")
    assert asset_availability_blockers(asset=asset) == []


def test_late_completion_and_cancellation_need_the_miss_reason(biomed):
    asset = located_asset(in_service_date=date(2025, 11, 1))
    calibration_plan(asset.asset_type, months=12)
    [work_order] = [wo for wo in work_orders_generate(today=date(2026, 10, 25)).opened if wo.kind == "calibration"]
    with freeze_time("2026-11-05"):
        with pytest.raises(WorkOrderError, match="was due on 2026-11-01 and done on 2026-11-05: give the reason"):
            scheduled_work_complete(work_order=work_order, user=biomed, result="pass")
        work = scheduled_work_complete(
            work_order=work_order, user=biomed, result="pass", miss_reason="device was with a patient in ICU"
        )
    assert not work.on_time and work.miss_reason == "device was with a patient in ICU"

    pm = WorkOrder.objects.get(asset=asset, kind=WorkOrderKind.PM)
    with pytest.raises(WorkOrderError, match="give the reason"):
        scheduled_work_cancel(work_order=pm, user=biomed, reason="  ")
    cancelled = scheduled_work_cancel(work_order=pm, user=biomed, reason="sent to vendor")
    assert cancelled.miss_reason == "sent to vendor"
    assert WorkOrder.objects.get(pk=pm.pk).status == WorkOrderStatus.CANCELLED


def test_a_scheduled_work_order_cannot_be_closed_without_its_result(biomed):
    asset = located_asset(in_service_date=timezone.localdate() - timedelta(days=360))
    [work_order] = work_orders_generate().opened
    with pytest.raises(WorkOrderError, match="close it with its result"):
        work_order_update(work_order=work_order, user=biomed, status=WorkOrderStatus.DONE)
    work_order_update(work_order=work_order, user=biomed, status=WorkOrderStatus.IN_PROGRESS)  # allowed
    assert ScheduledWork.objects.get(work_order=work_order).result == ""
    assert asset.pk == work_order.asset_id


def test_a_pass_dated_before_a_recorded_fail_cannot_clear_it(biomed):
    """The retest of a fail recorded today, entered as a pass done three weeks ago: refused, still overdue."""
    today = timezone.localdate()
    asset = located_asset(in_service_date=today - timedelta(days=360))  # PM due in 5 days
    [work_order] = work_orders_generate().opened
    scheduled_work_complete(work_order=work_order, user=biomed, result="fail")
    [retest] = work_orders_generate().opened
    earlier = today - timedelta(days=20)
    with pytest.raises(WorkOrderError, match=f"performed on {earlier} is before the Preventive maintenance that fail"):
        scheduled_work_complete(work_order=retest, user=biomed, result="pass", performed_on=earlier)
    pm = schedule(asset, kind="pm")
    assert (pm.last_result, pm.last_result_on, pm.last_done) == ("fail", today, None)
    assert asset_availability_blockers(asset=asset) == [f"PM failed on {today:%Y-%m-%d}"]
    assert WorkOrder.objects.get(pk=retest.pk).status == WorkOrderStatus.OPEN
    assert ScheduledWork.objects.get(work_order=retest).result == ""
    # The retest done today clears it.
    scheduled_work_complete(work_order=retest, user=biomed, result="pass")
    assert asset_availability_blockers(asset=asset) == []


def test_an_older_result_is_recorded_but_the_later_one_stands(biomed):
    """Scheduled work closed late with its real (earlier) date, after a later pass was recorded: the work
    order keeps its result, the schedule keeps the later pass, and an older fail sends nothing to biomed."""
    today = timezone.localdate()
    asset = located_asset(in_service_date=today - timedelta(days=360))
    [work_order] = work_orders_generate().opened
    schedule_set(asset=asset, kind="pm", last_done=today - timedelta(days=2))  # a pass two days ago
    work = scheduled_work_complete(work_order=work_order, user=biomed, result="fail", performed_on=today - timedelta(5))
    assert (work.result, work.performed_on) == ("fail", today - timedelta(days=5))
    pm = schedule(asset, kind="pm")
    assert (pm.last_result, pm.last_result_on, pm.last_done) == ("pass", today - timedelta(2), today - timedelta(2))
    assert Asset.objects.get(pk=asset.pk).state == AssetState.AVAILABLE
    assert asset_availability_blockers(asset=asset) == []


def test_closing_scheduled_work_needs_one_answer_per_checklist_step(biomed):
    asset = located_asset(in_service_date=date(2025, 12, 1))
    calibration_plan(asset.asset_type, months=12, checklist=["zero the scale", "test 1 kg", "test 5 kg"])
    [work_order] = [wo for wo in work_orders_generate(today=date(2026, 11, 20)).opened if wo.kind == "calibration"]
    with freeze_time("2026-11-25 10:00"):
        for result in ("pass", "fail"):
            with pytest.raises(WorkOrderError, match="checklist has 3 step"):
                scheduled_work_complete(work_order=work_order, user=biomed, result=result)
        with pytest.raises(WorkOrderError, match=r"one answer per step \(3 steps\)"):
            scheduled_work_complete(work_order=work_order, user=biomed, result="pass", checklist_results=[True])
        assert WorkOrder.objects.get(pk=work_order.pk).status == WorkOrderStatus.OPEN
        work = scheduled_work_complete(
            work_order=work_order, user=biomed, result="fail", checklist_results=[True, False, True]
        )
    assert [item["ok"] for item in work.checklist_results] == [True, False, True]
    assert schedule(asset).last_result == "fail"
