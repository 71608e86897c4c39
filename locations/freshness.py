"""Location status (DESIGN.md §2), derived from last_seen; separate from lifecycle state.

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

from locations.choices import RoomType


class LocationStatus(models.TextChoices):
    LOCATED = "located", "Located"
    STALE = "stale", "Stale"
    MISSING = "missing", "Missing"


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
