"""The moments the map is sent (locations.freshness.status_changes) agree with the one definition of located /
stale / missing (locations.freshness.location_status): the page, which only compares its clock with them,
shows what the server would say at every moment."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from declarations.room_types import RoomType
from locations.freshness import location_status, status_changes

SEEN = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def status_from_the_moments(stale_at, missing_at, status_now, now):
    """What map.js does (locationStatus): past missing_at is missing, past stale_at is stale, else as sent."""
    if missing_at is not None and now > missing_at:
        return "missing"
    if stale_at is not None and now > stale_at:
        return "stale"
    return status_now


@pytest.mark.parametrize("room_type", [RoomType.PATIENT, RoomType.EXIT, None])
@pytest.mark.parametrize("last_seen", [SEEN, None])
def test_the_moments_give_the_definitions_status_at_every_time(room_type, last_seen):
    stale, missing = settings.LOCATION_STALE_AFTER_SECONDS, settings.LOCATION_MISSING_AFTER_SECONDS
    stale_at, missing_at = status_changes(last_seen=last_seen, room_type=room_type)
    sent_at = SEEN + timedelta(seconds=1)  # the map loaded just after the sighting
    status_then = location_status(last_seen=last_seen, room_type=room_type, now=sent_at)
    offsets = [0, 1, stale - 1, stale, stale + 1, missing - 1, missing, missing + 1, 3 * missing]
    for offset in offsets:
        now = SEEN + timedelta(seconds=offset)
        if now < sent_at:
            continue
        expected = location_status(last_seen=last_seen, room_type=room_type, now=now)
        assert status_from_the_moments(stale_at, missing_at, status_then, now) == expected, (room_type, offset)
