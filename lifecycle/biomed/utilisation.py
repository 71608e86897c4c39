"""Utilisation, turnaround and downtime, from the transition log and the alerts' missing periods (docs/biomed.md).

For a period [start_at, end_at) and per asset type and owning unit:
- seconds in each state. An asset's state at any moment is the ``to_state`` of its last transition before
  that moment; before its first transition, that transition's ``from_state``; with no transition at all, its
  current state. Time counts from the period's start, or from the asset's creation when later;
- in-use utilisation = seconds in use / seconds in service (every state but decommissioned);
- downtime = seconds in biomed;
- soiled → available turnaround: for every arrival in available inside the period that follows an entry into
  soiled with no other arrival in available in between, the seconds from that soiled entry to the arrival;
  count, median and p90 (linear interpolation, PostgreSQL percentile_cont);
- missing-hours: the open periods of the ``missing`` and ``left_site`` alerts, clipped to the period.
And now, for the whole fleet: the idle fleet (available, and in the same room for N days or more) and
hoarding (par levels whose unit holds more than its target).

All of it is one SQL statement per figure, evaluated by PostgreSQL over the indexed transition log
(benchmarks/biomed_report.py measures it at 50,000 assets with 90 days of history).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from assets.models import Asset, AssetType
from lifecycle.biomed.reports import Period
from lifecycle.states import AssetState

STATES = list(AssetState.values)

_STATE_SQL = """
WITH a AS (
    SELECT x.id, x.asset_type_id, x.unit, x.state AS current_state, GREATEST(x.created_at, %(ps)s) AS t0
    FROM assets_asset x
    WHERE x.created_at < %(pe)s
),
inside AS (
    SELECT l.asset_id, l.at, l.id, l.from_state, l.to_state
    FROM lifecycle_transitionlog l
    WHERE l.at >= %(ps)s AND l.at < %(pe)s
),
first_inside AS (
    SELECT DISTINCT ON (asset_id) asset_id, from_state FROM inside ORDER BY asset_id, at, id
),
opening AS (
    SELECT a.id AS asset_id, a.t0 AS s, 0 AS ord, 0::bigint AS log_id,
           COALESCE(b.to_state, f.from_state, a.current_state) AS state
    FROM a
    LEFT JOIN LATERAL (
        SELECT l.to_state FROM lifecycle_transitionlog l
        WHERE l.asset_id = a.id AND l.at < %(ps)s ORDER BY l.at DESC, l.id DESC LIMIT 1
    ) b ON TRUE
    LEFT JOIN first_inside f ON f.asset_id = a.id
),
segments AS (
    SELECT asset_id, s, ord, log_id, state FROM opening
    UNION ALL
    SELECT asset_id, at, 1, id, to_state FROM inside
),
timed AS (
    SELECT asset_id, state, s,
           LEAD(s, 1, %(pe)s) OVER (PARTITION BY asset_id ORDER BY s, ord, log_id) AS e
    FROM segments
)
SELECT a.asset_type_id, a.unit, t.state,
       SUM(EXTRACT(EPOCH FROM (t.e - GREATEST(t.s, a.t0))))::bigint AS seconds
FROM timed t JOIN a ON a.id = t.asset_id
WHERE t.e > GREATEST(t.s, a.t0)
GROUP BY a.asset_type_id, a.unit, t.state
"""

_TURNAROUND_SQL = """
WITH marks AS (
    SELECT l.asset_id, l.at, l.to_state,
           MAX(CASE WHEN l.to_state = 'soiled' THEN l.at END)
               OVER (PARTITION BY l.asset_id ORDER BY l.at, l.id ROWS UNBOUNDED PRECEDING) AS soiled_at,
           MAX(CASE WHEN l.to_state = 'available' THEN l.at END)
               OVER (PARTITION BY l.asset_id ORDER BY l.at, l.id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
               AS previous_available_at
    FROM lifecycle_transitionlog l
    WHERE l.at < %(pe)s
),
cycles AS (
    SELECT m.asset_id, EXTRACT(EPOCH FROM (m.at - m.soiled_at)) AS seconds
    FROM marks m
    WHERE m.to_state = 'available' AND m.at >= %(ps)s AND m.soiled_at IS NOT NULL
      AND (m.previous_available_at IS NULL OR m.previous_available_at < m.soiled_at)
)
SELECT x.asset_type_id, x.unit, COUNT(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY c.seconds),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY c.seconds)
FROM cycles c JOIN assets_asset x ON x.id = c.asset_id
GROUP BY x.asset_type_id, x.unit
"""

_MISSING_SQL = """
SELECT x.asset_type_id, x.unit,
       SUM(EXTRACT(EPOCH FROM (LEAST(COALESCE(al.resolved_at, %(now)s), %(pe)s) - GREATEST(al.created_at, %(ps)s))))
FROM alerts_alert al JOIN assets_asset x ON x.id = al.asset_id
WHERE al.kind IN ('missing', 'left_site') AND al.created_at < %(pe)s
  AND COALESCE(al.resolved_at, %(now)s) > %(ps)s
  AND LEAST(COALESCE(al.resolved_at, %(now)s), %(pe)s) > GREATEST(al.created_at, %(ps)s)
GROUP BY x.asset_type_id, x.unit
"""


@dataclass
class UtilisationRow:
    asset_type_id: int
    asset_type: str
    unit: str
    seconds: dict = field(default_factory=dict)  # state -> seconds in the period
    turnarounds: int = 0
    turnaround_median_s: float | None = None
    turnaround_p90_s: float | None = None
    missing_seconds: int = 0

    @property
    def in_service_seconds(self) -> int:
        return sum(v for k, v in self.seconds.items() if k != AssetState.DECOMMISSIONED)

    @property
    def in_use_share(self) -> float | None:
        total = self.in_service_seconds
        return None if not total else self.seconds.get(AssetState.IN_USE, 0) / total

    @property
    def downtime_seconds(self) -> int:
        return self.seconds.get(AssetState.BIOMED, 0)

    def share(self, state: str) -> float:
        total = sum(self.seconds.values())
        return 0.0 if not total else self.seconds.get(state, 0) / total


def utilisation(*, period: Period, now: datetime | None = None) -> list[UtilisationRow]:
    """Per (asset type, unit): state seconds, turnaround, downtime and missing seconds for the period."""
    now = now or timezone.now()
    end = min(period.end_at, now) if period.end_at > now else period.end_at
    params = {"ps": period.start_at, "pe": end, "now": now}
    names = dict(AssetType.objects.values_list("pk", "name"))
    rows: dict[tuple[int, str], UtilisationRow] = {}

    def row(type_id, unit) -> UtilisationRow:
        key = (type_id, unit)
        if key not in rows:
            rows[key] = UtilisationRow(asset_type_id=type_id, asset_type=names.get(type_id, "?"), unit=unit)
        return rows[key]

    with connection.cursor() as cursor:
        if period.start_at < end:
            cursor.execute(_STATE_SQL, params)
            for type_id, unit, state, seconds in cursor.fetchall():
                row(type_id, unit).seconds[state] = int(seconds)
            cursor.execute(_TURNAROUND_SQL, params)
            for type_id, unit, count, median, p90 in cursor.fetchall():
                target = row(type_id, unit)
                target.turnarounds, target.turnaround_median_s, target.turnaround_p90_s = count, median, p90
            cursor.execute(_MISSING_SQL, params)
            for type_id, unit, seconds in cursor.fetchall():
                row(type_id, unit).missing_seconds = int(seconds or 0)
    return sorted(rows.values(), key=lambda r: (r.asset_type, r.unit))


def idle_fleet(*, days: int, now: datetime | None = None):
    """Assets in state available whose current room stay began ``days`` or more ago (not moved since)."""
    from locations.models import RoomInterval

    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    stays = RoomInterval.objects.filter(left_at__isnull=True, entered_at__lte=cutoff).values("asset_id")
    return (
        Asset.objects.filter(state=AssetState.AVAILABLE, pk__in=stays)
        .select_related("asset_type", "current_room")
        .order_by("asset_type__name", "unit", "asset_tag")
    )


def hoarding(*, now: datetime | None = None):
    """Par levels whose unit holds more available, located equipment than its target (with ``excess``)."""
    from django.db.models import F

    from lifecycle.alerts.selectors import par_levels_with_counts

    return (
        par_levels_with_counts(now=now)
        .filter(available_count__gt=F("target"))
        .annotate(excess=F("available_count") - F("target"))
        .order_by("-excess", "unit")
    )
