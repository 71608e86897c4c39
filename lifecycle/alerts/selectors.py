"""Read side of par levels and alerts: live par counts, and the one definition of each alert condition.

Each ``*_in_alert`` selector returns the subjects whose condition holds now. ``check_alerts`` raises
an alert for each of them and resolves the open alerts whose subject is no longer listed; the
signal handlers use the same selectors on the assets of one batch, so both agree on what
"missing" or "low battery" means.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from assets.models import Asset, Tag
from declarations.location_status import LocationStatus
from declarations.states import AssetState
from lifecycle.alerts.choices import AlertKind
from lifecycle.alerts.models import Alert, ParLevel
from lifecycle.biomed.selectors import assets_loan_overdue, assets_maintenance_overdue, loans_open
from lifecycle.selectors import assets_pm_overdue, assets_with_open_recall
from locations.freshness import left_site_q, status_q
from locations.models import Receiver, Room


def assets_on_hand(*, now: datetime | None = None) -> QuerySet[Asset]:
    """Assets a nurse could take now: state available, and located (seen within the freshness window).

    Stale assets are left out: a pump last heard an hour ago may be anywhere. So are assets with any overdue
    or failed maintenance schedule (lifecycle.biomed): they are not serviceable, so they do not count to par.
    """

    today = timezone.localdate(now or timezone.now())
    return (
        Asset.objects.filter(state=AssetState.AVAILABLE)
        .filter(status_q(LocationStatus.LOCATED, now))
        .exclude(pk__in=assets_maintenance_overdue(today=today).values("pk"))
    )


def par_levels_with_counts(*, now: datetime | None = None) -> QuerySet[ParLevel]:
    """Every par level with ``available_count``: available and located assets of its type whose current
    room belongs to its unit (where the equipment physically is, not which unit owns it).

    One query for all par levels: the count is a correlated subquery.
    """
    on_hand = (
        assets_on_hand(now=now)
        .filter(asset_type=OuterRef("asset_type"), current_room__unit=OuterRef("unit"))
        .order_by()
        .values("asset_type")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return ParLevel.objects.select_related("asset_type").annotate(
        available_count=Coalesce(Subquery(on_hand, output_field=IntegerField()), 0)
    )


def par_levels_in_alert(*, now: datetime | None = None) -> QuerySet[ParLevel]:
    """Par levels with fewer available, located assets than their critical threshold."""
    return par_levels_with_counts(now=now).filter(available_count__lt=F("critical"))


def tracked_q() -> Q:
    """Assets we expect to hear: not decommissioned, wearing a tag, seen at least once, and not on an open loan.

    An asset never seen (just imported, tag not yet fitted or switched on) or without a tag cannot be
    "missing" in any useful sense; alerting on it would bury the real alerts after every import. A device
    on an open loan (lifecycle.biomed) is off site with permission: once its return is overdue, the
    loan_overdue alert speaks for it instead. The admin's and the API's "tracked" filter is this.
    """
    return (
        ~Q(state=AssetState.DECOMMISSIONED)
        & Q(tag__isnull=False, last_seen__isnull=False)
        & ~Q(pk__in=loans_open().values("asset_id"))
    )


def assets_missing_in_alert(*, now: datetime | None = None) -> QuerySet[Asset]:
    """Tracked assets that are missing (locations.freshness), except those last seen at an exit: those are
    left_site. Together the two are exactly the tracked assets that are missing."""
    return Asset.objects.filter(tracked_q(), status_q(LocationStatus.MISSING, now)).exclude(left_site_q(now))


def assets_left_site_in_alert(*, now: datetime | None = None) -> QuerySet[Asset]:
    """Tracked assets last seen in an exit room and not seen since the freshness window."""
    return Asset.objects.filter(tracked_q(), left_site_q(now))


def assets_loan_overdue_in_alert(*, now: datetime | None = None) -> QuerySet[Asset]:
    """Assets on an open loan whose expected return has passed (lifecycle.biomed)."""

    return assets_loan_overdue(now=now)


def tag_battery_is_low(percent: int | None) -> bool:
    return percent is not None and percent < settings.TAG_LOW_BATTERY_PERCENT


def tags_low_battery_in_alert(*, now: datetime | None = None) -> QuerySet[Tag]:
    return Tag.objects.filter(battery_percent__lt=settings.TAG_LOW_BATTERY_PERCENT)


def receivers_silent_in_alert(*, now: datetime | None = None) -> QuerySet[Receiver]:
    """Active receivers not heard for RECEIVER_SILENT_AFTER_SECONDS. One never heard is not yet installed."""
    now = now or timezone.now()
    silent_before = now - timedelta(seconds=settings.RECEIVER_SILENT_AFTER_SECONDS)
    return Receiver.objects.filter(active=True, last_heard__lt=silent_before)


def receivers_clock_off_in_alert(*, now: datetime | None = None) -> QuerySet[Receiver]:
    """Active receivers whose estimated clock is off the site's consensus by more than
    GATEWAY_CLOCK_ALERT_SECONDS (the engine corrects it, but the gateway needs NTP)."""
    limit = settings.GATEWAY_CLOCK_ALERT_SECONDS
    return Receiver.objects.filter(active=True).filter(Q(clock_offset_s__gt=limit) | Q(clock_offset_s__lt=-limit))


def assets_pm_overdue_in_alert(*, now: datetime | None = None) -> QuerySet[Asset]:
    today: date = timezone.localdate(now or timezone.now())
    return assets_pm_overdue(today=today).exclude(state=AssetState.DECOMMISSIONED)


def assets_recall_open_in_alert(*, now: datetime | None = None) -> QuerySet[Asset]:
    return assets_with_open_recall().exclude(state=AssetState.DECOMMISSIONED)


# kind -> the subjects whose condition holds now. The single definition of every alert condition.
CONDITIONS = {
    AlertKind.PAR_BELOW_CRITICAL: par_levels_in_alert,
    AlertKind.MISSING: assets_missing_in_alert,
    AlertKind.LEFT_SITE: assets_left_site_in_alert,
    AlertKind.LOW_BATTERY: tags_low_battery_in_alert,
    AlertKind.PM_OVERDUE: assets_pm_overdue_in_alert,
    AlertKind.RECALL_OPEN: assets_recall_open_in_alert,
    AlertKind.SILENT_RECEIVER: receivers_silent_in_alert,
    AlertKind.LOAN_OVERDUE: assets_loan_overdue_in_alert,
    AlertKind.GATEWAY_CLOCK: receivers_clock_off_in_alert,
}


def alerts_with_subjects() -> QuerySet[Alert]:
    """Alerts with their subject and the subject's whereabouts joined in (for lists and the map)."""
    return Alert.objects.select_related(
        "asset__asset_type",
        "asset__current_room",
        "tag__asset__current_room",
        "par_level__asset_type",
        "receiver__floor__building",
        "acknowledged_by",
        "resolved_by",
    )


def alert_floor_ids(alert: Alert) -> list[int]:
    """The floors whose map should show this alert: where its asset, tag or receiver is, or every floor
    with a room of the par level's unit. Empty when nobody knows where the subject is."""
    if alert.asset_id:
        room = alert.asset.current_room
        return [room.floor_id] if room else []
    if alert.tag_id:
        asset = alert.tag.asset
        room = asset.current_room if asset else None
        return [room.floor_id] if room else []
    if alert.receiver_id:
        return [alert.receiver.floor_id]
    if alert.par_level_id:
        return sorted(set(Room.objects.filter(unit=alert.par_level.unit).values_list("floor_id", flat=True)))
    return []
