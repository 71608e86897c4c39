"""The nearest available equipment (the dispatch API, equipment requests and the floor map's search).

"Available" is the lifecycle's definition (state, schedules, recalls) and "nearest" is the location's (rooms,
floors, freshness), so this selector lives in the lifecycle app, above both."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Case, ExpressionWrapper, F, FloatField, IntegerField, Value, When
from django.db.models.functions import Abs, Sqrt
from django.utils import timezone

from assets.models import Asset
from declarations.location_status import LocationStatus
from declarations.states import AssetState
from lifecycle.requests.selectors import assets_held_by_open_requests
from lifecycle.selectors import assets_pm_overdue, assets_with_open_recall
from locations.freshness import status_q
from locations.models import Building, Floor, Room

# How far away another floor or another building "feels", in metres added to the horizontal distance
# between room centroids. Floor plans give planar metres per floor; there is no measured walking route
# between floors, so a trip by lift/stairs counts as FLOOR_PENALTY_M per floor of difference, and a trip
# to another building (other coordinate frame, a corridor or an outdoor walk) as BUILDING_PENALTY_M more.
# Overridable in settings: NEAREST_FLOOR_PENALTY_M, NEAREST_BUILDING_PENALTY_M.
FLOOR_PENALTY_M = 40.0
BUILDING_PENALTY_M = 250.0
NEAREST_MAX_LIMIT = 100


@dataclass(frozen=True)
class NearestAsset:
    """One search result: the asset (with asset_type, tag, current_room, floor and building loaded)."""

    asset: Asset
    room: Room
    floor: Floor
    building: Building
    distance_m: float
    location_status: str  # "located" or "stale" (missing assets are never listed)
    last_seen: datetime | None
    same_floor: bool
    same_building: bool

    @property
    def stale(self) -> bool:
        return self.location_status == LocationStatus.STALE


def nearest_penalties() -> tuple[float, float]:
    return (
        float(getattr(settings, "NEAREST_FLOOR_PENALTY_M", FLOOR_PENALTY_M)),
        float(getattr(settings, "NEAREST_BUILDING_PENALTY_M", BUILDING_PENALTY_M)),
    )


def _nearest_candidates(*, asset_type, origin: Room, now: datetime):
    """Assets in state available of the type on the origin's site, located or stale, nearest first (SQL)."""
    floor_penalty, building_penalty = nearest_penalties()
    dx = F("current_room__centroid_x") - Value(float(origin.centroid_x))
    dy = F("current_room__centroid_y") - Value(float(origin.centroid_y))
    level_difference = Abs(F("current_room__floor__level") - Value(origin.floor.level))
    penalty = Case(
        When(current_room__floor_id=origin.floor_id, then=Value(0.0)),
        When(
            current_room__floor__building_id=origin.floor.building_id,
            then=level_difference * Value(floor_penalty),
        ),
        default=Value(building_penalty) + level_difference * Value(floor_penalty),
        output_field=FloatField(),
    )
    return (
        Asset.objects.filter(state=AssetState.AVAILABLE, asset_type=asset_type, current_room__site_id=origin.site_id)
        .exclude(status_q(LocationStatus.MISSING, now))
        .annotate(
            distance2_m2=ExpressionWrapper(dx * dx + dy * dy, output_field=FloatField()),
            floor_penalty_m=penalty,
        )
        .annotate(
            distance_m=ExpressionWrapper(Sqrt(F("distance2_m2")) + F("floor_penalty_m"), output_field=FloatField()),
            location_rank=Case(
                When(status_q(LocationStatus.LOCATED, now), then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            ),
        )
        .select_related("asset_type", "current_room__floor__building")
        .order_by("location_rank", "distance_m", "asset_tag")
    )


def assets_nearest_available(*, asset_type, room, limit: int, now: datetime | None = None) -> list[NearestAsset]:
    """Available equipment of ``asset_type`` nearest to ``room``, best first.

    - "Available" is the shared definition (lifecycle.selectors): state available, PM not overdue, no
      open recall. Reserved, in use, decommissioned... are never listed, nor an asset an open equipment
      request still holds (say it came back from biomed while its request stayed assigned).
    - Located assets come first, by distance; then stale ones, by distance, marked ``stale``. Missing
      ones (not heard for LOCATION_MISSING_AFTER_SECONDS, or gone through an exit) are left out.
    - Distance, in metres: on the same floor, between the room centroids; on another floor of the same
      building, that plus FLOOR_PENALTY_M per floor; in another building of the site, that plus
      BUILDING_PENALTY_M. Other sites are not searched.

    How it stays fast at 50,000 assets (docs/benchmarks.md): the database filters (index
    asset_type_state_seen: type, state, last_seen), computes the distance and sorts, returning only a
    page of nearest candidates; schedules and recall are then checked on that page with the lifecycle's own
    selectors (assets_pm_overdue: any overdue schedule, assets_with_open_recall), the rule assets_available_for_use
    applies to the whole table, and further pages are read only if too many candidates were refused.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    limit = min(int(limit), NEAREST_MAX_LIMIT)
    now = now or timezone.now()
    today = timezone.localdate(now)
    origin = Room.objects.select_related("floor__building").get(pk=room.pk)
    candidates = _nearest_candidates(asset_type=asset_type, origin=origin, now=now)

    chosen: list[Asset] = []
    page_size, offset = 2 * limit + 10, 0
    while len(chosen) < limit:
        page = list(candidates[offset : offset + page_size])
        if not page:
            break
        ids = [a.pk for a in page]
        recalled = set(assets_with_open_recall().filter(pk__in=ids).values_list("pk", flat=True))
        overdue = set(assets_pm_overdue(today=today).filter(pk__in=ids).values_list("pk", flat=True))  # any schedule
        held = assets_held_by_open_requests(asset_ids=ids)  # promised to a request: not anyone's to take
        chosen += [a for a in page if a.pk not in recalled and a.pk not in overdue and a.pk not in held]
        offset += page_size
        page_size *= 2

    results = []
    for asset in chosen[:limit]:
        current = asset.current_room
        results.append(
            NearestAsset(
                asset=asset,
                room=current,
                floor=current.floor,
                building=current.floor.building,
                distance_m=round(float(asset.distance_m), 1),
                location_status=LocationStatus.LOCATED if asset.location_rank == 0 else LocationStatus.STALE,
                last_seen=asset.last_seen,
                same_floor=current.floor_id == origin.floor_id,
                same_building=current.floor.building_id == origin.floor.building_id,
            )
        )
    return results
