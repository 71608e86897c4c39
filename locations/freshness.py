"""Location status: located, stale or missing, derived from ``last_seen``; separate from lifecycle state
(the names and labels: declarations/location_status.py).

The definition is written once, as data: ``FRESHNESS_RULES``, read top to bottom, the first rule that
holds gives the status.

1. never seen: missing;
2. not seen for more than LOCATION_MISSING_AFTER_SECONDS (default 24 hours): missing;
3. seen within LOCATION_STALE_AFTER_SECONDS (default 10 minutes): located;
4. last seen in an ``exit`` room (and not since, rule 3): missing: it left the site;
5. otherwise: stale (it may have moved).

Everything else is read from these rules: ``location_status`` evaluates them in Python (one asset, the
guards), ``status_q`` / ``status_annotation`` turn them into SQL (lists, filters, counts), ``left_site_q``
is rule 4 on its own (the alerts' "left the site"), and ``freshness_definition()`` gives them as JSON-ready
data (thresholds, labels, texts, rules) for any client that shows location status, such as the map. So
"missing" means the same in the admin's filter, the API's ``location_status`` filter, FHIR, the alerts and
the map.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from operator import and_, or_

from django.conf import settings
from django.db import models
from django.db.models import Case, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from assets.models import Asset, Tag
from declarations.location_status import LocationStatus
from declarations.room_types import RoomType

# What each status means to a reader ({stale} minutes, {missing} hours): the map's legend, the API's docs.
LOCATION_STATUS_TEXT = {
    LocationStatus.LOCATED: _("Seen within the last {stale} minutes. The position is current."),
    LocationStatus.STALE: _("Not seen for more than {stale} minutes: it may have moved."),
    LocationStatus.MISSING: _("Not seen for {missing} hours, or last seen leaving through an exit."),
}

# The thresholds, by the name the rules and clients use, and the setting each one reads.
THRESHOLD_SETTINGS = {
    "stale_after_s": "LOCATION_STALE_AFTER_SECONDS",
    "missing_after_s": "LOCATION_MISSING_AFTER_SECONDS",
}


class Condition(models.TextChoices):
    """The conditions a rule may test (each has a Python and an SQL reading below, and one in any client)."""

    NEVER_SEEN = "never_seen", "never seen"
    NOT_SEEN_FOR_MORE_THAN = "not_seen_for_more_than", "not seen for more than the threshold"
    SEEN_WITHIN = "seen_within", "seen within the threshold"
    LAST_ROOM_TYPE = "last_room_type", "last seen in a room of this type"
    ALWAYS = "always", "otherwise"


@dataclass(frozen=True)
class FreshnessRule:
    name: str
    status: LocationStatus
    when: Condition
    threshold: str | None = None  # a key of THRESHOLD_SETTINGS
    room_type: str | None = None

    def as_dict(self, thresholds: dict[str, int]) -> dict:
        data = {"name": self.name, "status": self.status.value, "when": self.when.value}
        if self.threshold:
            data["threshold"] = self.threshold
            data["seconds"] = thresholds[self.threshold]
        if self.room_type:
            data["room_type"] = str(self.room_type)
        return data


# THE definition. First match wins.
FRESHNESS_RULES: tuple[FreshnessRule, ...] = (
    FreshnessRule("never_seen", LocationStatus.MISSING, Condition.NEVER_SEEN),
    FreshnessRule(
        "not_seen_for_missing_window", LocationStatus.MISSING, Condition.NOT_SEEN_FOR_MORE_THAN, "missing_after_s"
    ),
    FreshnessRule("seen_within_stale_window", LocationStatus.LOCATED, Condition.SEEN_WITHIN, "stale_after_s"),
    FreshnessRule("left_site", LocationStatus.MISSING, Condition.LAST_ROOM_TYPE, room_type=RoomType.EXIT),
    FreshnessRule("otherwise", LocationStatus.STALE, Condition.ALWAYS),
)
LEFT_SITE_RULE = next(rule for rule in FRESHNESS_RULES if rule.name == "left_site")


def thresholds() -> dict[str, int]:
    """{"stale_after_s": 600, "missing_after_s": 86400}: the settings the rules read, now."""
    return {key: int(getattr(settings, setting)) for key, setting in THRESHOLD_SETTINGS.items()}


def freshness_definition() -> dict:
    """The definition as data, for an API to serve and a client (the map) to apply without re-declaring it:
    the thresholds, each status with its label and text, and the rules in order (first match wins)."""
    limits = thresholds()
    stale, missing = round(limits["stale_after_s"] / 60), round(limits["missing_after_s"] / 3600)
    return {
        **limits,
        "statuses": [
            {
                "value": value,
                "label": str(label),
                "text": str(LOCATION_STATUS_TEXT[value]).format(stale=stale, missing=missing),
            }
            for value, label in LocationStatus.choices
        ],
        "rules": [rule.as_dict(limits) for rule in FRESHNESS_RULES],
    }


# Python: one asset ------------------------------------------------------------------------------------


def _holds(rule: FreshnessRule, *, last_seen, room_type, now: datetime, limits: dict[str, int]) -> bool:
    if rule.when == Condition.NEVER_SEEN:
        return last_seen is None
    if rule.when == Condition.ALWAYS:
        return True
    if rule.when == Condition.LAST_ROOM_TYPE:
        return room_type == rule.room_type
    if last_seen is None:
        return False
    cut_off = now - timedelta(seconds=limits[rule.threshold])
    if rule.when == Condition.NOT_SEEN_FOR_MORE_THAN:
        return last_seen < cut_off
    if rule.when == Condition.SEEN_WITHIN:
        return last_seen >= cut_off
    raise ValueError(f"unknown freshness condition {rule.when!r}")


def location_status(*, last_seen: datetime | None, room_type: str | None, now: datetime | None = None) -> str:
    """located / stale / missing for one asset seen at ``last_seen`` in a room of ``room_type``."""
    now, limits = now or timezone.now(), thresholds()
    for rule in FRESHNESS_RULES:
        if _holds(rule, last_seen=last_seen, room_type=room_type, now=now, limits=limits):
            return rule.status
    raise AssertionError("FRESHNESS_RULES must end with an ALWAYS rule")


# SQL: filters and annotations on Asset (or on a relation to it, with prefix="asset__") -----------------


def _q(rule: FreshnessRule, *, now: datetime, limits: dict[str, int], prefix: str) -> Q:
    seen = f"{prefix}last_seen"
    if rule.when == Condition.NEVER_SEEN:
        return Q(**{f"{seen}__isnull": True})
    if rule.when == Condition.ALWAYS:
        return Q()
    if rule.when == Condition.LAST_ROOM_TYPE:
        return Q(**{f"{prefix}current_room__room_type": rule.room_type})
    cut_off = now - timedelta(seconds=limits[rule.threshold])
    if rule.when == Condition.NOT_SEEN_FOR_MORE_THAN:
        return Q(**{f"{seen}__lt": cut_off})
    if rule.when == Condition.SEEN_WITHIN:
        return Q(**{f"{seen}__gte": cut_off})
    raise ValueError(f"unknown freshness condition {rule.when!r}")


def _rule_matches_q(index: int, *, now: datetime, limits: dict[str, int], prefix: str) -> Q:
    """Rule ``index`` is the one that decides: it holds, and no earlier rule giving another status holds.
    (An earlier rule giving the same status would decide the same, so it need not be excluded.)"""
    rule = FRESHNESS_RULES[index]
    conditions = [_q(rule, now=now, limits=limits, prefix=prefix)]
    conditions += [
        ~_q(earlier, now=now, limits=limits, prefix=prefix)
        for earlier in FRESHNESS_RULES[:index]
        if earlier.status != rule.status and earlier.when != Condition.ALWAYS
    ]
    return reduce(and_, conditions)


def status_q(status: str, now: datetime | None = None, prefix: str = "") -> Q:
    """A filter on Asset (or on a relation to it, with prefix="asset__") for one location status."""
    if status not in LocationStatus.values:
        raise ValueError(f"unknown location status {status!r}")
    now, limits = now or timezone.now(), thresholds()
    terms = [
        _rule_matches_q(i, now=now, limits=limits, prefix=prefix)
        for i, rule in enumerate(FRESHNESS_RULES)
        if rule.status == status
    ]
    return reduce(or_, terms) if terms else Q(pk__in=[])


def left_site_q(now: datetime | None = None, prefix: str = "") -> Q:
    """The left-site rule on its own: seen, not seen since the stale window, last seen in an exit room
    (however long ago: an asset gone for days is still one that left through an exit)."""
    now, limits = now or timezone.now(), thresholds()
    index = FRESHNESS_RULES.index(LEFT_SITE_RULE)
    # Heard at least once: an asset never heard is "never seen", not one that left.
    return _rule_matches_q(index, now=now, limits=limits, prefix=prefix) & Q(**{f"{prefix}last_seen__isnull": False})


def status_annotation(now: datetime | None = None, prefix: str = "") -> Case:
    """queryset.annotate(location_status=status_annotation()) gives each asset its status in SQL."""
    now, limits = now or timezone.now(), thresholds()
    *rules, last = FRESHNESS_RULES
    assert last.when == Condition.ALWAYS, "FRESHNESS_RULES must end with an ALWAYS rule"
    return Case(
        *(When(_q(rule, now=now, limits=limits, prefix=prefix), then=Value(rule.status.value)) for rule in rules),
        default=Value(last.status.value),
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


# Moments: when one asset's status changes with no new sighting -------------------------------------------


def status_changes(*, last_seen: datetime | None, room_type: str | None) -> tuple[datetime | None, datetime | None]:
    """(stale_at, missing_at): the moments after which ``location_status`` turns stale, then missing, with no
    new sighting; ``None``: it never turns that (never seen: missing already; a rule such as "left the site"
    that sends it from located straight to missing). Read from the rules above, so a client that shows a
    status for a while (the floor map) compares its clock with these instead of re-declaring them."""
    if last_seen is None:
        return None, None
    limits = thresholds()
    stale_at = last_seen + timedelta(seconds=limits["stale_after_s"])
    missing_at = last_seen + timedelta(seconds=limits["missing_after_s"])
    after_stale_window = location_status(
        last_seen=last_seen, room_type=room_type, now=stale_at + timedelta(microseconds=1)
    )
    if after_stale_window == LocationStatus.MISSING:
        return None, stale_at
    return stale_at, missing_at
