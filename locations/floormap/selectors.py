"""Read-side queries of the floor map: floors, what is on one floor, changes since a poll, places.

The nearest-equipment search is not here: the map calls ``lifecycle.nearest.assets_nearest_available``,
the same selector as the API's nearest endpoint, so both answer the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from assets.models import Asset
from declarations.room_types import RoomType
from declarations.states import AssetState
from lifecycle.biomed.selectors import loans_open, schedules_overdue
from locations.freshness import status_annotation
from locations.models import Floor, Room

# A poll with ``since`` also returns assets whose sighting is up to this much older: sightings carry their
# event time, which trails the moment the pipeline writes them (gateways batch, the queue lags a little).
MAP_POLL_OVERLAP_SECONDS = 60


def floors_for_map() -> QuerySet[Floor]:
    """Every floor, by site, building and level: the map's building and floor selector."""
    return Floor.objects.select_related("building__site").order_by(
        "building__site__code", "building__code", "level", "code"
    )


def floor_rooms(*, floor: Floor) -> QuerySet[Room]:
    return Room.objects.filter(floor=floor).order_by("code")


def floor_map_assets(*, floor: Floor, since: datetime | None = None, now: datetime | None = None) -> QuerySet[Asset]:
    """The equipment on ``floor``: assets in service whose current room is on it, each annotated with its
    ``location_status`` (located, stale, missing) as of ``now``.

    With ``since`` (the server time of the previous poll), only the assets that changed after it: a
    transition (``updated_at``) or a new sighting or room (event time, with MAP_POLL_OVERLAP_SECONDS of
    overlap). Decommissioned equipment is retired: it is not on any map.
    """
    queryset = (
        Asset.objects.filter(current_room__floor=floor)
        .exclude(state=AssetState.DECOMMISSIONED)
        .select_related("asset_type", "current_room")
        .annotate(location_status=status_annotation(now), **_biomed_annotations(now))
        .order_by("asset_tag")
    )
    if since is not None:
        overlap = since - timedelta(seconds=MAP_POLL_OVERLAP_SECONDS)
        queryset = queryset.filter(Q(updated_at__gte=since) | Q(located_at__gte=overlap) | Q(last_seen__gte=overlap))
    return queryset


def floor_map_asset_ids(*, floor: Floor) -> list[int]:
    """Ids of everything on the floor now: a polling client drops the markers not in it (moved away)."""
    return list(
        Asset.objects.filter(current_room__floor=floor)
        .exclude(state=AssetState.DECOMMISSIONED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def map_units() -> list[str]:
    """The care units that have rooms, for "where am I"."""
    return sorted(set(Room.objects.exclude(unit="").values_list("unit", flat=True).distinct()))


def units_matching(*, query: str) -> list[str]:
    query = query.strip().lower()
    return [unit for unit in map_units() if query in unit.lower()]


def rooms_matching(*, query: str, limit: int = 20) -> QuerySet[Room]:
    """Rooms whose code starts with, or whose name or unit contains, what was typed; codes first."""
    query = query.strip()
    rooms = Room.objects.select_related("floor__building").exclude(room_type=RoomType.EXIT)
    if query:
        rooms = rooms.filter(Q(code__istartswith=query) | Q(name__icontains=query) | Q(unit__icontains=query))
    return rooms.order_by("code")[:limit]


def unit_reference_room(*, unit: str) -> Room | None:
    """Where "I am on 4 North" is measured from: the unit's nurse station, else its first room by code."""
    rooms = Room.objects.filter(unit__iexact=unit.strip()).select_related("floor__building")
    return (
        rooms.filter(room_type=RoomType.NURSE_STATION).order_by("code").first()
        or rooms.exclude(room_type=RoomType.EXIT).order_by("code").first()
        or rooms.order_by("code").first()
    )


def map_asset(*, asset_id: int, now: datetime | None = None) -> Asset:
    """One asset as the map shows it (after an action), with its ``location_status``."""
    return (
        Asset.objects.select_related("asset_type", "current_room")
        .annotate(location_status=status_annotation(now), **_biomed_annotations(now))
        .get(pk=asset_id)
    )


def _biomed_annotations(now: datetime | None) -> dict:
    """maintenance_overdue (any overdue or failed schedule) and the open loan's loan_until / loan_to."""

    today = timezone.localdate(now or timezone.now())
    loan = loans_open().filter(asset=OuterRef("pk"))
    return {
        "maintenance_overdue": Exists(schedules_overdue(today=today).filter(asset=OuterRef("pk"))),
        "loan_until": Subquery(loan.values("expected_return")[:1]),
        "loan_to": Subquery(loan.values("borrower")[:1]),
    }
