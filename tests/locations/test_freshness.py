"""Location status (docs/design.md §2) and low tag batteries, as the map, admin and API select them."""

from datetime import UTC, datetime, timedelta

import pytest

from locations.freshness import (
    LocationStatus,
    asset_location_status,
    assets_by_location_status,
    assets_left_site,
    assets_low_battery,
    assets_with_location_status,
    tags_low_battery,
)
from locations.pipeline import LocationPipeline
from tests.factories import AssetFactory, TagFactory
from tests.locations.sim_hospital import T0, make_ward, pings, tagged_asset

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


@pytest.fixture
def ward(db):
    return make_ward()


@pytest.fixture
def fleet(ward):
    def asset(tag, minutes_ago, room):
        seen = None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago)
        return AssetFactory(asset_tag=tag, last_seen=seen, current_room=ward.rooms[room] if room else None)

    return {
        "fresh": asset("FRESH", 5, "A"),
        "stale": asset("STALE", 20, "A"),
        "old": asset("OLD", 2 * 24 * 60, "B"),
        "never": asset("NEVER", None, None),
        "left": asset("LEFT", 20, "EXIT"),
        "at_exit": asset("AT-EXIT", 5, "EXIT"),
        "left_long_ago": asset("GONE", 3 * 24 * 60, "EXIT"),
    }


EXPECTED = {
    "fresh": LocationStatus.LOCATED,
    "stale": LocationStatus.STALE,
    "old": LocationStatus.MISSING,
    "never": LocationStatus.MISSING,
    "left": LocationStatus.MISSING,
    "at_exit": LocationStatus.LOCATED,
    "left_long_ago": LocationStatus.MISSING,
}


def test_each_asset_gets_its_status(fleet):
    for name, asset in fleet.items():
        assert asset_location_status(asset=asset, now=NOW) == EXPECTED[name], name


def test_the_sql_annotation_agrees_with_the_python_definition(fleet):
    annotated = {a.asset_tag: a.location_status for a in assets_with_location_status(now=NOW)}
    assert annotated == {fleet[name].asset_tag: status.value for name, status in EXPECTED.items()}


def test_filtering_by_status(fleet):
    def tags(status):
        return sorted(a.asset_tag for a in assets_by_location_status(status=status, now=NOW))

    assert tags(LocationStatus.LOCATED) == ["AT-EXIT", "FRESH"]
    assert tags(LocationStatus.STALE) == ["STALE"]
    assert tags(LocationStatus.MISSING) == ["GONE", "LEFT", "NEVER", "OLD"]


def test_left_the_site_means_last_seen_at_an_exit_then_gone(fleet):
    assert [a.asset_tag for a in assets_left_site(now=NOW)] == ["LEFT", "GONE"]
    # Twenty minutes later the one still standing at the exit has gone too.
    later = NOW + timedelta(minutes=20)
    assert sorted(a.asset_tag for a in assets_left_site(now=later)) == ["AT-EXIT", "GONE", "LEFT"]


def test_the_freshness_window_is_a_setting(fleet, settings):
    settings.LOCATION_STALE_AFTER_SECONDS = 30 * 60
    assert asset_location_status(asset=fleet["stale"], now=NOW) == LocationStatus.LOCATED
    settings.LOCATION_MISSING_AFTER_SECONDS = 10 * 60
    assert asset_location_status(asset=fleet["stale"], now=NOW) == LocationStatus.MISSING


def test_low_battery_below_the_threshold(db, settings):
    for n, battery in enumerate([5, 19, 20, None, 90]):
        TagFactory(tag_id=f"c300000000{n:02x}", battery_percent=battery, asset=AssetFactory(asset_tag=f"T{n}"))
    assert settings.TAG_LOW_BATTERY_PERCENT == 20
    assert [t.battery_percent for t in tags_low_battery()] == [5, 19]
    assert [a.asset_tag for a in assets_low_battery()] == ["T0", "T1"]
    settings.TAG_LOW_BATTERY_PERCENT = 10
    assert [t.battery_percent for t in tags_low_battery()] == [5]
    assert [t.battery_percent for t in tags_low_battery(threshold=50)] == [5, 19, 20]


def test_what_the_pipeline_writes_drives_status_and_battery(ward):
    asset, tag = tagged_asset("c3000000010a")
    pipe = LocationPipeline()
    for b in pings("c3000000010a", "EXIT", T0, 5, battery=12):
        pipe.ingest_batch(b, now=T0 + 60)
    pipe.process(None)
    asset.refresh_from_db()
    seen = datetime.fromtimestamp(T0 + 8, tz=UTC)
    assert asset_location_status(asset=asset, now=seen + timedelta(minutes=1)) == LocationStatus.LOCATED
    assert asset_location_status(asset=asset, now=seen + timedelta(minutes=11)) == LocationStatus.MISSING
    assert list(assets_left_site(now=seen + timedelta(minutes=11))) == [asset]
    assert list(tags_low_battery()) == [tag]
