"""Location status (docs/design.md §2) and low tag batteries, as the map, admin and API select them."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from locations.freshness import (
    LocationStatus,
    asset_location_status,
    assets_by_location_status,
    assets_left_site,
    assets_low_battery,
    assets_with_location_status,
    freshness_definition,
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


# One definition: the Python reading, the SQL reading and the data a client receives agree -------------


@pytest.mark.parametrize(
    "stale_s, missing_s",
    [(10 * 60, 24 * 3600), (30 * 60, 10 * 60)],  # the usual order, and a site that set them the other way round
    ids=["stale-before-missing", "missing-before-stale"],
)
def test_sql_filters_and_annotation_agree_with_python_at_every_age(fleet, ward, settings, stale_s, missing_s):
    settings.LOCATION_STALE_AFTER_SECONDS, settings.LOCATION_MISSING_AFTER_SECONDS = stale_s, missing_s
    ages = [0, 5, 9.99, 10, 10.01, 20, 29.99, 30, 30.01, 60, 24 * 60 - 0.01, 24 * 60, 24 * 60 + 0.01, 3 * 24 * 60]
    for n, minutes in enumerate(ages):
        for room in ("A", "EXIT"):
            AssetFactory(
                asset_tag=f"AGE-{n}-{room}",
                last_seen=NOW - timedelta(minutes=minutes),
                current_room=ward.rooms[room],
            )
    AssetFactory(asset_tag="NEVER-AT-EXIT", last_seen=None, current_room=ward.rooms["EXIT"])
    annotated = {a.asset_tag: a.location_status for a in assets_with_location_status(now=NOW)}
    python = {a.asset_tag: asset_location_status(asset=a, now=NOW) for a in assets_with_location_status(now=NOW)}
    assert annotated == python
    for status in LocationStatus.values:
        filtered = {a.asset_tag for a in assets_by_location_status(status=status, now=NOW)}
        assert filtered == {tag for tag, s in python.items() if s == status}, status
    assert python["NEVER-AT-EXIT"] == LocationStatus.MISSING
    assert "NEVER-AT-EXIT" not in {a.asset_tag for a in assets_left_site(now=NOW)}  # never heard: not "left"


def test_with_missing_shorter_than_stale_an_asset_past_the_missing_window_is_missing_in_sql_too(fleet, settings):
    # Before the rules were written once, the SQL said "located" here while Python said "missing".
    settings.LOCATION_STALE_AFTER_SECONDS, settings.LOCATION_MISSING_AFTER_SECONDS = 30 * 60, 10 * 60
    assert asset_location_status(asset=fleet["stale"], now=NOW) == LocationStatus.MISSING
    assert "STALE" in {a.asset_tag for a in assets_by_location_status(status=LocationStatus.MISSING, now=NOW)}
    assert "STALE" not in {a.asset_tag for a in assets_by_location_status(status=LocationStatus.LOCATED, now=NOW)}


def test_the_definition_is_served_as_data_a_client_can_apply(fleet, settings):
    settings.LOCATION_STALE_AFTER_SECONDS, settings.LOCATION_MISSING_AFTER_SECONDS = 15 * 60, 48 * 3600
    definition = freshness_definition()
    assert definition["stale_after_s"] == 15 * 60 and definition["missing_after_s"] == 48 * 3600
    assert [s["value"] for s in definition["statuses"]] == ["located", "stale", "missing"]
    assert [s["label"] for s in definition["statuses"]] == ["Located", "Stale", "Missing"]
    assert "15 minutes" in definition["statuses"][0]["text"] and "48 hours" in definition["statuses"][2]["text"]
    assert json.loads(json.dumps(definition)) == definition

    # A client that applies the served rules (first match wins), as map.js does, gets the server's answer.
    def apply(rules, *, age_s, room_type):
        for rule in rules:
            when, seconds = rule["when"], rule.get("seconds")
            if (
                (when == "never_seen" and age_s is None)
                or (when == "not_seen_for_more_than" and age_s is not None and age_s > seconds)
                or (when == "seen_within" and age_s is not None and age_s <= seconds)
                or (when == "last_room_type" and room_type == rule["room_type"])
                or when == "always"
            ):
                return rule["status"]

    for asset in fleet.values():
        age = None if asset.last_seen is None else (NOW - asset.last_seen).total_seconds()
        room_type = asset.current_room.room_type if asset.current_room else None
        served = apply(definition["rules"], age_s=age, room_type=room_type)
        assert served == asset_location_status(asset=asset, now=NOW), asset.asset_tag
