"""The periodic pass: each kind is raised when its condition holds and resolves itself when it clears."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from assets.models import Asset, Tag
from declarations.room_types import RoomType
from declarations.states import AssetState
from lifecycle.alerts.choices import AlertKind, AlertStatus
from lifecycle.alerts.models import Alert, ParLevel
from lifecycle.alerts.services import alert_acknowledge, alerts_check_all
from lifecycle.biomed.services import schedule_set
from lifecycle.models import Recall, WorkOrder, WorkOrderKind, WorkOrderStatus
from locations.models import Receiver
from tests.factories import AssetFactory, AssetTypeFactory, ReceiverFactory, RoomFactory, TagFactory
from tests.lifecycle.alerts.helpers import ago, set_state, tracked_asset

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def thresholds(settings):
    settings.LOCATION_STALE_AFTER_SECONDS = 10 * 60
    settings.LOCATION_MISSING_AFTER_SECONDS = 24 * 60 * 60
    settings.TAG_LOW_BATTERY_PERCENT = 20
    settings.RECEIVER_SILENT_AFTER_SECONDS = 15 * 60


def test_par_below_critical_raised_then_resolved_when_stock_comes_back(floor, pump_type, now):
    ward = RoomFactory(floor=floor, unit="4 North")
    par = ParLevel.objects.create(unit="4 North", asset_type=pump_type, target=4, critical=2)
    ParLevel.objects.create(unit="4 North", asset_type=AssetTypeFactory(name="Bed"), target=0, critical=0)
    tracked_asset(room=ward, seen=ago(now, minutes=1), asset_type=pump_type)

    report = alerts_check_all(now=now)
    assert [(a.kind, a.par_level) for a in report.raised] == [(AlertKind.PAR_BELOW_CRITICAL, par)]
    assert report.raised[0].message == "4 North has 1 Infusion pump available (critical 2, target 4)."

    tracked_asset(room=ward, seen=ago(now, minutes=2), asset_type=pump_type)
    report = alerts_check_all(now=now)
    assert report.raised == [] and [a.par_level for a in report.resolved] == [par]
    assert report.resolved[0].auto_resolved


def test_missing_raised_for_tracked_assets_only_and_resolved_when_seen(floor, now):
    ward = RoomFactory(floor=floor)
    gone = tracked_asset(room=ward, seen=ago(now, hours=25))
    tracked_asset(room=ward, seen=None)  # never seen: just imported, no alert
    tracked_asset(room=ward, seen=ago(now, hours=25), tagged=False)  # no tag: we cannot expect to hear it
    tracked_asset(room=ward, seen=ago(now, hours=25), state=AssetState.DECOMMISSIONED)
    tracked_asset(room=ward, seen=ago(now, hours=2))  # stale, not missing

    report = alerts_check_all(now=now)
    assert [a.asset for a in report.raised] == [gone]
    assert report.raised[0].message.startswith(f"{gone.asset_tag} (Infusion pump) not seen since ")
    assert f"last in {ward.code} {ward.name}" in report.raised[0].message

    Asset.objects.filter(pk=gone.pk).update(last_seen=now)
    report = alerts_check_all(now=now)
    assert [(a.kind, a.asset) for a in report.resolved] == [(AlertKind.MISSING, gone)]


def test_a_missing_asset_that_is_decommissioned_has_its_alert_resolved(floor, now):
    gone = tracked_asset(room=RoomFactory(floor=floor), seen=ago(now, hours=30))
    alerts_check_all(now=now)
    set_state(gone, AssetState.DECOMMISSIONED)
    report = alerts_check_all(now=now)
    assert [a.asset for a in report.resolved] == [gone]


def test_left_site_after_an_exit_and_silence_not_missing(floor, now):
    exit_room = RoomFactory(floor=floor, room_type=RoomType.EXIT, unit="")
    just_passing = tracked_asset(room=exit_room, seen=ago(now, minutes=2))
    left = tracked_asset(room=exit_room, seen=ago(now, minutes=20))
    left_long_ago = tracked_asset(room=exit_room, seen=ago(now, hours=48))

    report = alerts_check_all(now=now)
    assert {(a.kind, a.asset) for a in report.raised} == {
        (AlertKind.LEFT_SITE, left),
        (AlertKind.LEFT_SITE, left_long_ago),
    }
    assert not Alert.objects.filter(asset=just_passing).exists()
    assert f"left through exit {exit_room.code}" in report.raised[0].message

    ward = RoomFactory(floor=floor)
    Asset.objects.filter(pk=left.pk).update(current_room=ward, last_seen=now)
    report = alerts_check_all(now=now)
    assert [(a.kind, a.asset) for a in report.resolved] == [(AlertKind.LEFT_SITE, left)]
    assert report.raised == []


def test_low_battery_below_threshold_then_resolved_after_a_new_battery(now):
    low = TagFactory(battery_percent=12, asset=AssetFactory(asset_tag="IP-LOW"))
    TagFactory(battery_percent=20)  # at the threshold: fine
    TagFactory(battery_percent=None)  # never reported
    spare = TagFactory(battery_percent=5)  # unbound spare: replace before it is fitted

    report = alerts_check_all(now=now)
    assert {a.tag for a in report.raised} == {low, spare}
    messages = {a.tag: a.message for a in report.raised}
    assert messages[low] == f"Tag {low} battery at 12%, on IP-LOW: replace the battery."
    assert messages[spare].endswith("not bound to an asset: replace the battery.")

    Tag.objects.filter(pk=low.pk).update(battery_percent=100)
    report = alerts_check_all(now=now)
    assert [a.tag for a in report.resolved] == [low]


def test_pm_overdue_raised_then_resolved_when_pm_is_done(now):
    today = timezone.localdate(now)
    overdue = AssetFactory(in_service_date=today - timedelta(days=400))  # 365-day interval
    AssetFactory(in_service_date=today - timedelta(days=100))
    retired = AssetFactory(in_service_date=today - timedelta(days=400))
    set_state(retired, AssetState.DECOMMISSIONED)

    report = alerts_check_all(now=now)
    assert [(a.kind, a.asset) for a in report.raised] == [(AlertKind.PM_OVERDUE, overdue)]
    due = today - timedelta(days=35)
    assert (
        report.raised[0].message
        == f"{overdue.asset_tag} (Infusion pump) is overdue for maintenance: PM overdue since {due:%Y-%m-%d}."
    )

    schedule_set(asset=overdue, kind="pm", last_done=today)
    report = alerts_check_all(now=now)
    assert [(a.kind, a.asset) for a in report.resolved] == [(AlertKind.PM_OVERDUE, overdue)]


def test_recall_open_raised_then_resolved_when_the_recall_work_is_done(now):
    recalled = AssetFactory(manufacturer="BD", model="Alaris 8015")
    recall = Recall.objects.create(
        reference_number="FSN-2026-07",
        manufacturer="BD",
        model="Alaris 8015",
        serial_numbers="all",
        issued_date=timezone.localdate(now),
    )
    work_order = WorkOrder.objects.create(asset=recalled, kind=WorkOrderKind.RECALL, recall=recall)

    report = alerts_check_all(now=now)
    assert [(a.kind, a.asset) for a in report.raised] == [(AlertKind.RECALL_OPEN, recalled)]
    assert report.raised[0].message == f"{recalled.asset_tag} (Infusion pump) has an open recall: FSN-2026-07."

    WorkOrder.objects.filter(pk=work_order.pk).update(status=WorkOrderStatus.DONE, closed_at=now)
    report = alerts_check_all(now=now)
    assert [(a.kind, a.asset) for a in report.resolved] == [(AlertKind.RECALL_OPEN, recalled)]


def test_silent_receiver_raised_then_resolved_when_heard_or_retired(floor, now):
    silent = ReceiverFactory(floor=floor, gateway_id="gw-4n-401", last_heard=ago(now, minutes=16))
    unplugged = ReceiverFactory(floor=floor, last_heard=ago(now, hours=3))
    ReceiverFactory(floor=floor, last_heard=ago(now, minutes=14))  # within the window
    ReceiverFactory(floor=floor, last_heard=None)  # never heard: not installed yet
    ReceiverFactory(floor=floor, last_heard=ago(now, hours=5), active=False)  # switched off on purpose

    report = alerts_check_all(now=now)
    assert {a.receiver for a in report.raised} == {silent, unplugged}
    assert {a.receiver: a.message for a in report.raised}[silent].startswith(
        f"Receiver gw-4n-401 on {floor} not heard since "
    )

    Receiver.objects.filter(pk=silent.pk).update(last_heard=now)
    Receiver.objects.filter(pk=unplugged.pk).update(active=False)
    report = alerts_check_all(now=now)
    assert {a.receiver for a in report.resolved} == {silent, unplugged}
    assert Alert.objects.open().count() == 0


def test_check_all_is_idempotent(floor, pump_type, now):
    ward = RoomFactory(floor=floor, unit="4 North")
    ParLevel.objects.create(unit="4 North", asset_type=pump_type, target=2, critical=1)
    tracked_asset(room=ward, seen=ago(now, hours=30))
    TagFactory(battery_percent=3)
    ReceiverFactory(floor=floor, last_heard=ago(now, hours=1))

    first = alerts_check_all(now=now)
    assert {a.kind for a in first.raised} == {
        AlertKind.PAR_BELOW_CRITICAL,
        AlertKind.MISSING,
        AlertKind.LOW_BATTERY,
        AlertKind.SILENT_RECEIVER,
    }
    second = alerts_check_all(now=now)
    assert (second.raised, second.resolved) == ([], [])
    assert Alert.objects.count() == 4


def test_an_acknowledged_alert_is_not_raised_again_and_still_resolves_itself(floor, staff, now):
    receiver = ReceiverFactory(floor=floor, last_heard=ago(now, hours=1))
    (alert,) = alerts_check_all(now=now).raised
    alert_acknowledge(alert=alert, user=staff)
    assert alerts_check_all(now=now).raised == []
    Receiver.objects.filter(pk=receiver.pk).update(last_heard=now)
    (resolved,) = alerts_check_all(now=now).resolved
    assert resolved.pk == alert.pk and resolved.status == AlertStatus.RESOLVED
    assert resolved.acknowledged_by == staff and resolved.auto_resolved


def test_command_prints_what_it_raised_and_resolved_and_runs_twice_quietly(floor):
    receiver = ReceiverFactory(floor=floor, gateway_id="gw-quiet", last_heard=timezone.now() - timedelta(hours=2))
    out = StringIO()
    call_command("check_alerts", stdout=out)
    text = out.getvalue()
    assert "raised   #" in text and "silent_receiver: Receiver gw-quiet" in text
    assert "check_alerts: 1 raised, 0 resolved." in text

    out = StringIO()
    call_command("check_alerts", stdout=out)
    assert out.getvalue().strip() == "check_alerts: 0 raised, 0 resolved."

    Receiver.objects.filter(pk=receiver.pk).update(last_heard=timezone.now())
    out = StringIO()
    call_command("check_alerts", stdout=out)
    assert "resolved #" in out.getvalue() and "silent_receiver: gw-quiet" in out.getvalue()
    assert "check_alerts: 0 raised, 1 resolved." in out.getvalue()
