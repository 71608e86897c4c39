"""The location pipeline's signals, sent as the pipeline sends them: after it has written the batch."""

import logging
from unittest import mock

import pytest

from assets.models import Asset, Tag
from declarations.room_types import RoomType
from lifecycle.alerts import services
from lifecycle.alerts.choices import AlertKind, AlertStatus
from lifecycle.alerts.models import Alert
from lifecycle.alerts.services import alerts_check_all
from locations.signals import RoomChange, TagReport, room_changes_committed, tags_reported
from tests.factories import RoomFactory
from tests.lifecycle.alerts.helpers import ago, tracked_asset

pytestmark = pytest.mark.django_db


class Pipeline:
    """Stands in for the location pipeline: writes what it learnt, then signals."""


@pytest.fixture(autouse=True)
def thresholds(settings):
    settings.LOCATION_STALE_AFTER_SECONDS = 10 * 60
    settings.LOCATION_MISSING_AFTER_SECONDS = 24 * 60 * 60
    settings.TAG_LOW_BATTERY_PERCENT = 20


def move(asset, room, at):
    from_room_id = asset.current_room_id
    Asset.objects.filter(pk=asset.pk).update(current_room=room, last_seen=at, located_at=at)
    room_changes_committed.send(
        sender=Pipeline, changes=[RoomChange(asset_id=asset.pk, from_room_id=from_room_id, to_room_id=room.pk, at=at)]
    )


def report(tag, at, battery):
    Tag.objects.filter(pk=tag.pk).update(last_seen=at, battery_percent=battery)
    if tag.asset_id:
        Asset.objects.filter(pk=tag.asset_id).update(last_seen=at)
    tags_reported.send(
        sender=Pipeline,
        reports=[TagReport(tag_id=tag.tag_id, asset_id=tag.asset_id, battery_percent=battery, at=at)],
    )


def test_entering_an_exit_room_raises_nothing_yet(floor, now):
    asset = tracked_asset(room=RoomFactory(floor=floor), seen=ago(now, minutes=1))
    move(asset, RoomFactory(floor=floor, room_type=RoomType.EXIT), now)
    assert Alert.objects.count() == 0


def test_a_missing_asset_seen_in_a_new_room_resolves_its_alert(floor, now):
    asset = tracked_asset(room=RoomFactory(floor=floor), seen=ago(now, hours=30))
    (alert,) = alerts_check_all(now=now).raised
    move(asset, RoomFactory(floor=floor), now)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.auto_resolved


def test_an_asset_that_left_and_comes_back_through_the_exit_resolves_left_site(floor, now):
    exit_room = RoomFactory(floor=floor, room_type=RoomType.EXIT)
    asset = tracked_asset(room=exit_room, seen=ago(now, hours=2))
    (alert,) = alerts_check_all(now=now).raised
    assert alert.kind == AlertKind.LEFT_SITE

    move(asset, exit_room, now)  # heard again at the door, on its way back in
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert Alert.objects.open().count() == 0


def test_a_tag_report_for_a_missing_asset_resolves_its_alert(floor, now):
    asset = tracked_asset(room=RoomFactory(floor=floor), seen=ago(now, hours=30))
    (alert,) = alerts_check_all(now=now).raised
    report(asset.tag, now, battery=90)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_a_late_old_sighting_does_not_resolve_missing(floor, now):
    """Reports carry event time; a batch replayed from two days ago does not mean the asset is back."""
    asset = tracked_asset(room=RoomFactory(floor=floor), seen=ago(now, hours=60))
    (alert,) = alerts_check_all(now=now).raised
    report(asset.tag, ago(now, hours=48), battery=90)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.NEW


def test_battery_below_threshold_raises_and_back_above_resolves(floor, now, django_capture_on_commit_callbacks):
    room = RoomFactory(floor=floor)
    asset = tracked_asset(room=room, seen=now)
    tag = asset.tag

    with mock.patch.object(services, "notify_floor") as notify:
        with django_capture_on_commit_callbacks(execute=True):
            report(tag, now, battery=19)
    (alert,) = Alert.objects.open()
    assert (alert.kind, alert.tag, alert.message) == (
        AlertKind.LOW_BATTERY,
        tag,
        f"Tag {tag} battery at 19%, on {asset.asset_tag}: replace the battery.",
    )
    notify.assert_called_once()
    assert notify.call_args.args[0] == room.floor_id and notify.call_args.args[1]["alert_kind"] == "low_battery"

    report(tag, now, battery=12)  # still low: the same alert
    assert Alert.objects.count() == 1

    report(tag, now, battery=None)  # a report without a battery reading changes nothing
    assert Alert.objects.open().count() == 1

    report(tag, now, battery=95)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.resolved_by_label == "auto"


def test_a_batch_with_many_tags_and_an_unknown_one(floor, now):
    assets = [tracked_asset(room=RoomFactory(floor=floor), seen=now) for _ in range(3)]
    reports = [
        TagReport(tag_id=assets[0].tag.tag_id, asset_id=assets[0].pk, battery_percent=5, at=now),
        TagReport(tag_id=assets[1].tag.tag_id, asset_id=assets[1].pk, battery_percent=50, at=now),
        # any spelling of the id finds the tag
        TagReport(tag_id=str(assets[2].tag).upper(), asset_id=assets[2].pk, battery_percent=10, at=now),
        TagReport(tag_id="ffffffffffff", asset_id=None, battery_percent=1, at=now),  # not registered
        TagReport(tag_id="not-a-tag", asset_id=None, battery_percent=1, at=now),  # malformed: skipped
    ]
    tags_reported.send(sender=Pipeline, reports=reports)
    assert {a.tag.asset for a in Alert.objects.open()} == {assets[0], assets[2]}


def test_a_failing_handler_is_logged_and_does_not_break_the_pipeline(now, caplog):
    with mock.patch.object(services, "alerts_tag_reports", side_effect=RuntimeError("database went away")):
        with caplog.at_level(logging.ERROR, logger="lifecycle.alerts.handlers"):
            tags_reported.send(sender=Pipeline, reports=[TagReport("c30000000001", None, 5, now)])
    assert "alerts: could not process 1 tag reports" in caplog.text
    assert "database went away" in caplog.text
