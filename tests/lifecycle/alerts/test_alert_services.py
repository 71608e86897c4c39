from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction

from lifecycle.alerts import services
from lifecycle.alerts.choices import AlertKind, AlertStatus
from lifecycle.alerts.models import Alert
from lifecycle.alerts.services import (
    AlertError,
    alert_acknowledge,
    alert_raise,
    alert_resolve,
    alerts_resolve_cleared,
)
from tests.factories import AssetFactory, ReceiverFactory, RoomFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db


def raise_missing(asset, message="IP-1 not seen since yesterday."):
    return alert_raise(kind=AlertKind.MISSING, subject=asset, message=message)


def test_raising_twice_keeps_one_open_alert():
    asset = AssetFactory()
    first, created_first = raise_missing(asset)
    second, created_second = raise_missing(asset, message="a second worker noticed too")
    assert (created_first, created_second) == (True, False)
    assert second.pk == first.pk
    assert Alert.objects.open().filter(asset=asset, kind=AlertKind.MISSING).count() == 1
    assert Alert.objects.get().message == "IP-1 not seen since yesterday."


def test_same_subject_different_kind_or_different_subject_are_separate_alerts():
    asset, other = AssetFactory(), AssetFactory()
    raise_missing(asset)
    alert_raise(kind=AlertKind.PM_OVERDUE, subject=asset, message="PM overdue")
    raise_missing(other)
    assert Alert.objects.open().count() == 3


def test_after_resolve_a_new_alert_can_open(staff):
    asset = AssetFactory()
    first, _ = raise_missing(asset)
    alert_resolve(alert=first, user=staff)
    again, created = raise_missing(asset)
    assert created and again.pk != first.pk
    assert list(Alert.objects.filter(asset=asset).values_list("status", flat=True).order_by("pk")) == [
        AlertStatus.RESOLVED,
        AlertStatus.NEW,
    ]


def test_the_database_refuses_a_second_open_alert_for_the_same_subject_and_kind(staff):
    asset = AssetFactory()
    first, _ = raise_missing(asset)
    alert_acknowledge(alert=first, user=staff)  # acknowledged is still open
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(kind=AlertKind.MISSING, asset=asset, message="duplicate")


def test_a_lost_race_returns_the_winners_alert_and_leaves_the_callers_transaction_usable():
    """The IntegrityError path, on any database: our look finds nothing, but the insert collides."""
    asset = AssetFactory()
    winner, _ = raise_missing(asset)
    real_lookup = services._open_alert
    with mock.patch.object(
        services, "_open_alert", side_effect=[None, real_lookup(AlertKind.MISSING, {"asset": asset})]
    ):
        with transaction.atomic():
            alert, created = raise_missing(asset)
            assert AssetFactory()  # the outer transaction still works after the savepoint rollback
    assert (alert.pk, created) == (winner.pk, False)
    assert Alert.objects.count() == 1


def test_the_subject_must_match_the_kind():
    with pytest.raises(AlertError, match="A low_battery alert is about a saved tag"):
        alert_raise(kind=AlertKind.LOW_BATTERY, subject=AssetFactory(), message="battery")
    with pytest.raises(AlertError, match="Unknown alert kind 'fire'"):
        alert_raise(kind="fire", subject=AssetFactory(), message="fire")
    with pytest.raises(AlertError, match="needs a message"):
        alert_raise(kind=AlertKind.MISSING, subject=AssetFactory(), message="  ")
    assert Alert.objects.count() == 0


def test_acknowledge_then_resolve_records_who_and_when(staff):
    alert, _ = raise_missing(AssetFactory())
    acked = alert_acknowledge(alert=alert, user=staff)
    assert acked.status == AlertStatus.ACKNOWLEDGED
    assert acked.acknowledged_by == staff and acked.acknowledged_at is not None
    resolver = UserFactory(username="biomed-2")
    resolved = alert_resolve(alert=acked, user=resolver)
    resolved.refresh_from_db()
    assert resolved.status == AlertStatus.RESOLVED
    assert (resolved.resolved_by, resolved.auto_resolved, resolved.resolved_by_label) == (resolver, False, "biomed-2")
    assert resolved.acknowledged_by == staff  # the acknowledgement is kept


def test_a_new_alert_can_be_resolved_without_acknowledging(staff):
    alert, _ = raise_missing(AssetFactory())
    assert alert_resolve(alert=alert, user=staff).status == AlertStatus.RESOLVED


def test_acknowledging_a_resolved_alert_is_refused(staff):
    alert, _ = raise_missing(AssetFactory())
    alert_resolve(alert=alert, user=staff)
    with pytest.raises(AlertError, match=rf"Alert #{alert.pk} was already resolved by charge-nurse at .*cannot be ack"):
        alert_acknowledge(alert=alert, user=staff)  # a stale copy still saying "new"
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.acknowledged_by is None


def test_acknowledging_an_auto_resolved_alert_says_it_cleared_itself(staff):
    asset = AssetFactory()
    alert, _ = raise_missing(asset)
    alerts_resolve_cleared(kind=AlertKind.MISSING, still_active=[])
    with pytest.raises(AlertError, match="resolved automatically at .* when its condition cleared"):
        alert_acknowledge(alert=alert, user=staff)


def test_acknowledging_twice_and_resolving_twice_are_refused(staff):
    alert, _ = raise_missing(AssetFactory())
    alert_acknowledge(alert=alert, user=staff)
    with pytest.raises(AlertError, match="already acknowledged by charge-nurse"):
        alert_acknowledge(alert=alert, user=UserFactory())
    alert_resolve(alert=alert, user=staff)
    with pytest.raises(AlertError, match="already resolved"):
        alert_resolve(alert=alert, user=staff)


def test_only_a_signed_in_user_may_acknowledge_or_resolve():
    alert, _ = raise_missing(AssetFactory())
    for service in (alert_acknowledge, alert_resolve):
        with pytest.raises(AlertError, match="signed-in user"):
            service(alert=alert, user=AnonymousUser())
        with pytest.raises(AlertError, match="signed-in user"):
            service(alert=alert, user=None)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.NEW


def test_resolve_cleared_only_touches_the_kind_and_subjects_asked_for():
    a, b, c = AssetFactory(), AssetFactory(), AssetFactory()
    for asset in (a, b, c):
        raise_missing(asset)
    pm, _ = alert_raise(kind=AlertKind.PM_OVERDUE, subject=a, message="PM")
    # b still missing; c not looked at (not in this batch); a cleared.
    resolved = alerts_resolve_cleared(kind=AlertKind.MISSING, still_active=[b.pk], subject_ids=[a.pk, b.pk])
    assert [alert.asset for alert in resolved] == [a]
    assert resolved[0].auto_resolved and resolved[0].resolved_by_label == "auto"
    open_missing = set(Alert.objects.open().filter(kind=AlertKind.MISSING).values_list("asset", flat=True))
    assert open_missing == {b.pk, c.pk}
    pm.refresh_from_db()
    assert pm.is_open


def test_a_new_alert_is_pushed_to_its_floor_map_after_commit(django_capture_on_commit_callbacks):
    room = RoomFactory()
    asset = AssetFactory(current_room=room)
    with mock.patch.object(services, "notify_floor") as notify:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            alert, _ = raise_missing(asset)
        notify.assert_not_called()  # nothing is pushed before the commit
        for callback in callbacks:
            callback()
    notify.assert_called_once()
    floor_id, event = notify.call_args.args
    assert floor_id == room.floor_id
    assert event["kind"] == "alert"
    assert event["id"] == alert.pk and event["alert_kind"] == "missing" and event["status"] == "new"
    assert event["subject"] == {"type": "asset", "id": asset.pk, "label": asset.asset_tag}
    assert event["message"] == "IP-1 not seen since yesterday."


def test_no_push_when_nobody_knows_where_the_subject_is_nor_for_a_repeat(django_capture_on_commit_callbacks):
    roomless = AssetFactory(current_room=None)
    receiver = ReceiverFactory()
    with mock.patch.object(services, "notify_floor") as notify:
        with django_capture_on_commit_callbacks(execute=True):
            raise_missing(roomless)
            alert_raise(kind=AlertKind.SILENT_RECEIVER, subject=receiver, message="silent")
            alert_raise(kind=AlertKind.SILENT_RECEIVER, subject=receiver, message="silent again")
    assert [c.args[0] for c in notify.call_args_list] == [receiver.floor_id]


def test_a_rolled_back_raise_pushes_nothing_and_leaves_no_alert(django_capture_on_commit_callbacks):
    room = RoomFactory()
    tag = TagFactory(asset=AssetFactory(current_room=room))
    with mock.patch.object(services, "notify_floor") as notify:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(RuntimeError), transaction.atomic():
                alert_raise(kind=AlertKind.LOW_BATTERY, subject=tag, message="low")
                raise RuntimeError("the batch failed")
    assert callbacks == []
    notify.assert_not_called()
    assert Alert.objects.count() == 0


def test_an_automatic_resolution_is_pushed_so_the_map_drops_the_alert(django_capture_on_commit_callbacks):
    room = RoomFactory()
    asset = AssetFactory(current_room=room)
    alert, _ = raise_missing(asset)
    with mock.patch.object(services, "notify_floor") as notify:
        with django_capture_on_commit_callbacks(execute=True):
            alerts_resolve_cleared(kind=AlertKind.MISSING, still_active=[])
    notify.assert_called_once()
    floor_id, event = notify.call_args.args
    assert (floor_id, event["id"], event["status"]) == (room.floor_id, alert.pk, "resolved")
