"""Seeding the engine from the database: at the start of a warm-up replay, the room the asset was in then."""

from datetime import UTC, datetime

import pytest

from locations.models import RoomInterval
from locations.pipeline import LocationPipeline
from tests.locations.sim_hospital import make_ward, tagged_asset

T0 = 1_800_000_000.0


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, tz=UTC)


@pytest.fixture
def moved(db):
    """A pump in A for a minute, then in B (where it is now); a second pump located only later, in C."""
    ward = make_ward()
    pump, _ = tagged_asset("c30000000001", current_room=ward.rooms["B"], located_at=_at(60), last_seen=_at(90))
    RoomInterval.objects.create(asset=pump, room=ward.rooms["A"], entered_at=_at(0), left_at=_at(60))
    RoomInterval.objects.create(asset=pump, room=ward.rooms["B"], entered_at=_at(60))
    late, _ = tagged_asset("c30000000002", current_room=ward.rooms["C"], located_at=_at(80), last_seen=_at(90))
    RoomInterval.objects.create(asset=late, room=ward.rooms["C"], entered_at=_at(80))
    return ward


def test_a_restore_seeds_each_tag_in_its_current_room(moved):
    pipeline = LocationPipeline()
    assert pipeline.restore_from_db() == 2
    assert pipeline.engine.room_of("c30000000001") == moved.rooms["B"].pk
    assert pipeline.engine.room_of("c30000000002") == moved.rooms["C"].pk
    # ... since its stay began: a tag that entered a corridor moments before is still on its way.
    assert pipeline.engine.shown_since("c30000000001") == pytest.approx(T0 + 60)
    assert pipeline.engine.shown_since("c30000000002") == pytest.approx(T0 + 80)


def test_a_restore_before_a_warm_up_seeds_the_room_each_tag_was_in_then(moved):
    """Seeded at the current room, the warm-up's first windows (in A) would have to move the pump back, and a
    worker taking shards over could then decide the next moves a ping later than an uninterrupted one."""
    pipeline = LocationPipeline()
    assert pipeline.restore_from_db(at=T0 + 30) == 2
    assert pipeline.engine.room_of("c30000000001") == moved.rooms["A"].pk
    assert pipeline.engine.shown_since("c30000000001") == pytest.approx(T0)
    # Not located then: the room it was first placed in, since then (the warm-up's windows place it there).
    assert pipeline.engine.room_of("c30000000002") == moved.rooms["C"].pk
    assert pipeline.engine.shown_since("c30000000002") == pytest.approx(T0 + 80)


def test_a_tag_first_located_after_the_warm_up_starts_is_seeded_where_it_was_first_placed(db):
    """Seeded in its current room (B), the warm-up's first windows (in A) would have to move it back first."""
    ward = make_ward()
    pump, _ = tagged_asset("c30000000003", current_room=ward.rooms["B"], located_at=_at(70), last_seen=_at(90))
    RoomInterval.objects.create(asset=pump, room=ward.rooms["A"], entered_at=_at(40), left_at=_at(70))
    RoomInterval.objects.create(asset=pump, room=ward.rooms["B"], entered_at=_at(70))
    pipeline = LocationPipeline()
    assert pipeline.restore_from_db(at=T0 + 30) == 1
    assert pipeline.engine.room_of("c30000000003") == ward.rooms["A"].pk
    assert pipeline.engine.shown_since("c30000000003") == pytest.approx(T0 + 40)


def test_a_restore_works_out_from_the_stored_rooms_whether_a_tag_is_on_its_way(db):
    """A pump that left room A after a minute and entered the corridor 5 s ago is on its way (the moving
    rates out of the corridor), as in an uninterrupted run; one whose first room ever shown is the corridor
    has not set off; one that entered the corridor minutes ago is parked."""
    ward = make_ward()
    corridor = ward.rooms["COR"]
    left, _ = tagged_asset("c30000000004", current_room=corridor, located_at=_at(65), last_seen=_at(65))
    RoomInterval.objects.create(asset=left, room=ward.rooms["A"], entered_at=_at(0), left_at=_at(60))
    RoomInterval.objects.create(asset=left, room=corridor, entered_at=_at(60))
    first, _ = tagged_asset("c30000000005", current_room=corridor, located_at=_at(65), last_seen=_at(65))
    RoomInterval.objects.create(asset=first, room=corridor, entered_at=_at(60))
    parked, _ = tagged_asset("c30000000006", current_room=corridor, located_at=_at(600), last_seen=_at(600))
    RoomInterval.objects.create(asset=parked, room=ward.rooms["A"], entered_at=_at(0), left_at=_at(60))
    RoomInterval.objects.create(asset=parked, room=corridor, entered_at=_at(60))
    pipeline = LocationPipeline()
    assert pipeline.restore_from_db() == 3
    assert pipeline.engine.moving_since("c30000000004") == pytest.approx(T0 + 60)
    assert pipeline.engine.moving_since("c30000000005") is None
    assert pipeline.engine.moving_since("c30000000006") is None
