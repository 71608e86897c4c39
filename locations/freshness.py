"""Location status, derived from last_seen; separate from lifecycle state (names: declarations/location_status.py).

- located: seen within LOCATION_STALE_AFTER_SECONDS (default 10 minutes);
- stale: seen before that;
- missing: not seen for LOCATION_MISSING_AFTER_SECONDS (default 24 hours), never seen, or
  last seen in an `exit` room and not seen since the stale window: it left the site.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from assets.models import Asset, Tag
from declarations.location_status import LocationStatus
from declarations.room_types import RoomType


def _windows(now: datetime | None) -> tuple[datetime, datetime]:
    now = now or timezone.now()
    return (
        now - timedelta(seconds=settings.LOCATION_STALE_AFTER_SECONDS),
        now - timedelta(seconds=settings.LOCATION_MISSING_AFTER_SECONDS),
    )


def location_status(*, last_seen: datetime | None, room_type: str | None, now: datetime | None = None) -> str:
    stale_before, missing_before = _windows(now)
    if last_seen is None or last_seen < missing_before:
        return LocationStatus.MISSING
    if last_seen >= stale_before:
        return LocationStatus.LOCATED
    if room_type == RoomType.EXIT:
        return LocationStatus.MISSING  # last seen leaving through an exit, then gone
    return LocationStatus.STALE


def left_site_q(now: datetime | None = None, prefix: str = "") -> Q:
    stale_before, _ = _windows(now)
    return Q(**{f"{prefix}last_seen__lt": stale_before, f"{prefix}current_room__room_type": RoomType.EXIT})


def status_q(status: str, now: datetime | None = None, prefix: str = "") -> Q:
    """A filter on Asset (or on a relation to it, with prefix="asset__") for one location status."""
    stale_before, missing_before = _windows(now)
    seen = f"{prefix}last_seen"
    if status == LocationStatus.LOCATED:
        return Q(**{f"{seen}__gte": stale_before})
    if status == LocationStatus.STALE:
        return Q(**{f"{seen}__lt": stale_before, f"{seen}__gte": missing_before}) & ~left_site_q(now, prefix)
    if status == LocationStatus.MISSING:
        return Q(**{f"{seen}__isnull": True}) | Q(**{f"{seen}__lt": missing_before}) | left_site_q(now, prefix)
    raise ValueError(f"unknown location status {status!r}")


def status_annotation(now: datetime | None = None, prefix: str = "") -> Case:
    """queryset.annotate(location_status=status_annotation()) gives each asset its status in SQL."""
    return Case(
        When(status_q(LocationStatus.LOCATED, now, prefix), then=Value(LocationStatus.LOCATED.value)),
        When(status_q(LocationStatus.STALE, now, prefix), then=Value(LocationStatus.STALE.value)),
        default=Value(LocationStatus.MISSING.value),
        output_field=models.CharField(),
    )


# --- Selectors on assets and tags (the map, the admin and the API use these) -------------------------


def asset_location_status(*, asset, now: datetime | None = None) -> str:
    """located / stale / missing for one asset, by the definition above."""
    room_type = asset.current_room.room_type if asset.current_room_id is not None else None
    return location_status(last_seen=asset.last_seen, room_type=room_type, now=now)


def assets_with_location_status(*, queryset=None, now: datetime | None = None):
    """Assets annotated with ``location_status`` (computed in SQL), with their room, floor and building."""

    queryset = Asset.objects.all() if queryset is None else queryset
    return queryset.select_related("current_room__floor__building").annotate(location_status=status_annotation(now))


def assets_by_location_status(*, status: str, queryset=None, now: datetime | None = None):
    queryset = Asset.objects.all() if queryset is None else queryset
    return queryset.filter(status_q(status, now)).select_related("current_room__floor__building")


def assets_left_site(*, now: datetime | None = None):
    """Assets last seen in an exit room and not heard since the freshness window: they left the site."""

    return (
        Asset.objects.filter(left_site_q(now))
        .select_related("current_room__floor__building")
        .order_by("-last_seen", "asset_tag")
    )


def low_battery_threshold() -> int:
    return settings.TAG_LOW_BATTERY_PERCENT


def tags_low_battery(*, threshold: int | None = None):
    """Tags whose last reported battery is below TAG_LOW_BATTERY_PERCENT, emptiest first, with their asset."""

    threshold = low_battery_threshold() if threshold is None else threshold
    return (
        Tag.objects.filter(battery_percent__lt=threshold).select_related("asset").order_by("battery_percent", "tag_id")
    )


def assets_low_battery(*, threshold: int | None = None):
    """Assets whose bound tag reports a battery below TAG_LOW_BATTERY_PERCENT."""

    threshold = low_battery_threshold() if threshold is None else threshold
    return (
        Asset.objects.filter(tag__battery_percent__lt=threshold)
        .select_related("tag", "current_room")
        .order_by("tag__battery_percent", "asset_tag")
    )
