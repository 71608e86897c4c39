"""Read-side queries about sites, floors and rooms."""

from django.db.models import Count, Q

from locations.models import RoomInterval, Site


def site_summaries():
    return Site.objects.annotate(
        building_count=Count("buildings", distinct=True),
        room_count=Count("rooms", distinct=True),
    ).order_by("code")


# --- Location history (RoomInterval) ------------------------------------------------------------------


def _overlapping(queryset, since):
    """Intervals still open at ``since`` or entered after it (a stay that spans ``since`` is included)."""
    if since is None:
        return queryset
    return queryset.filter(Q(left_at__isnull=True) | Q(left_at__gt=since))


def asset_location_history(*, asset, since=None):
    """One asset's room stays, oldest first, each with its room, floor and building."""
    queryset = RoomInterval.objects.filter(asset=asset).select_related("room__floor__building")
    return _overlapping(queryset, since).order_by("entered_at", "pk")


def location_history(*, since=None):
    """Every asset's room stays, oldest first (the export), with asset, room, floor and building."""
    queryset = RoomInterval.objects.select_related("asset", "room__floor__building")
    return _overlapping(queryset, since).order_by("entered_at", "pk")


def location_history_rows(*, since=None):
    """The export's rows as plain tuples: (asset_tag, room, floor, building, entered_at, left_at).

    Room, floor and building are their codes, as in the floor-plan files.
    """
    return (
        location_history(since=since)
        .values_list(
            "asset__asset_tag",
            "room__code",
            "room__floor__code",
            "room__floor__building__code",
            "entered_at",
            "left_at",
        )
        .order_by("entered_at", "pk")
    )


def room_occupants(*, room, at=None):
    """Intervals of the assets in ``room`` now (or at ``at``)."""
    queryset = RoomInterval.objects.filter(room=room).select_related("asset")
    if at is None:
        return queryset.filter(left_at__isnull=True).order_by("entered_at")
    return queryset.filter(Q(left_at__isnull=True) | Q(left_at__gt=at), entered_at__lte=at).order_by("entered_at")
