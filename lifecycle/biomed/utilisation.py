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

Closed days are rolled up once (``utilisation_rollup``, command ``rollup_utilisation``, daily after midnight,
and run by ``make demo``); a period reads the rollups for those days and computes only the rest live, with the
same SQL (benchmarks/biomed_report.py measures it at 50,000 assets with 90 days of history).

The SQL is PostgreSQL's (LATERAL joins, percentile_cont). The embedded default (SQLite: ``make demo``, a
laptop) computes the same three figures in Python from the same rows, with the same definitions
(``_state_rows``, ``_cycle_rows``, ``_missing_rows`` below); tests/biomed/test_utilisation.py runs on both.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from statistics import quantiles

from django.db import connection, transaction
from django.db.models import F, OuterRef, Subquery, Sum
from django.utils import timezone

from assets.models import Asset, AssetType
from declarations.states import AssetState
from lifecycle.alerts.models import Alert
from lifecycle.alerts.selectors import par_levels_with_counts
from lifecycle.biomed.models import TurnaroundCycle, UtilisationDay, UtilisationRollup
from lifecycle.biomed.reports import Period
from lifecycle.models import TransitionLog
from locations.models import RoomInterval

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
opening AS (
    SELECT a.id AS asset_id, a.t0 AS s, 0 AS ord, 0::bigint AS log_id,
           COALESCE(b.to_state, f.from_state, a.current_state) AS state
    FROM a
    LEFT JOIN LATERAL (
        SELECT l.to_state FROM lifecycle_transitionlog l
        WHERE l.asset_id = a.id AND l.at < %(ps)s ORDER BY l.at DESC, l.id DESC LIMIT 1
    ) b ON TRUE
    LEFT JOIN LATERAL (
        SELECT l.from_state FROM lifecycle_transitionlog l
        WHERE l.asset_id = a.id AND l.at >= %(ps)s ORDER BY l.at, l.id LIMIT 1
    ) f ON TRUE
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

# Cycles whose arrival in available is in [ps, pe): the soiled entry and the previous arrival before it are
# index lookups (transitionlog_asset_at) per arrival, so the cost follows the arrivals, not the history.
_CYCLES_SQL = """
SELECT arr.asset_id, x.asset_type_id, x.unit, s.at AS soiled_at, arr.at AS available_at,
       EXTRACT(EPOCH FROM (arr.at - s.at)) AS seconds
FROM lifecycle_transitionlog arr
JOIN assets_asset x ON x.id = arr.asset_id
JOIN LATERAL (
    SELECT l.at, l.id FROM lifecycle_transitionlog l
    WHERE l.asset_id = arr.asset_id AND l.to_state = 'soiled' AND (l.at, l.id) < (arr.at, arr.id)
    ORDER BY l.at DESC, l.id DESC LIMIT 1
) s ON TRUE
LEFT JOIN LATERAL (
    SELECT l.at, l.id FROM lifecycle_transitionlog l
    WHERE l.asset_id = arr.asset_id AND l.to_state = 'available' AND (l.at, l.id) < (arr.at, arr.id)
    ORDER BY l.at DESC, l.id DESC LIMIT 1
) prev ON TRUE
WHERE arr.to_state = 'available' AND arr.at >= %(ps)s AND arr.at < %(pe)s
  AND (prev.at IS NULL OR (prev.at, prev.id) < (s.at, s.id))
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


def _rolled_through() -> date | None:
    return UtilisationRollup.objects.values_list("through_day", flat=True).first()


def utilisation(*, period: Period, now: datetime | None = None) -> list[UtilisationRow]:
    """Per (asset type, unit): state seconds, turnaround, downtime and missing seconds for the period.

    Days already rolled up (``utilisation_rollup``) are read from the rollup tables; the rest of the period
    (today, or days not rolled up yet) is computed live from the transition log. Both use the same SQL, so
    the sum is the same to the second as computing it all live (tests/biomed/test_utilisation.py)."""

    now = now or timezone.now()
    ps, pe = period.start_at, min(period.end_at, now)
    names = dict(AssetType.objects.values_list("pk", "name"))
    rows: dict[tuple[int, str], UtilisationRow] = {}

    def row(type_id, unit) -> UtilisationRow:
        key = (type_id, unit)
        if key not in rows:
            rows[key] = UtilisationRow(asset_type_id=type_id, asset_type=names.get(type_id, "?"), unit=unit)
        return rows[key]

    if ps >= pe:
        return []
    through = _rolled_through()
    live_from = ps
    if through is not None and through >= period.start:
        last = min(through, period.end)
        live_from = min(pe, _midnight(last + timedelta(days=1)))
        days = UtilisationDay.objects.filter(day__gte=period.start, day__lte=last)
        for type_id, unit, state, seconds in (
            days.values("asset_type_id", "unit", "state")
            .annotate(total=Sum("seconds"))
            .values_list("asset_type_id", "unit", "state", "total")
        ):
            target = row(type_id, unit)
            target.seconds[state] = target.seconds.get(state, 0) + int(seconds)
    if live_from < pe:
        for type_id, unit, state, seconds in _state_rows(live_from, pe):
            target = row(type_id, unit)
            target.seconds[state] = target.seconds.get(state, 0) + int(seconds)
    rolled = TurnaroundCycle.objects.filter(available_at__gte=ps, available_at__lt=live_from)
    if _postgres():
        with connection.cursor() as cursor:
            rolled_sql, rolled_params = rolled.values_list("asset_type_id", "unit", "seconds").query.sql_with_params()
            # The SQL pieces are this module's constants and Django's own compiled query: no user text in them.
            cycles_sql = _CYCLES_SQL.replace("%(ps)s", "%s").replace("%(pe)s", "%s")
            sql = "".join(  # noqa: S608
                [
                    "SELECT c.asset_type_id, c.unit, COUNT(*), ",
                    "percentile_cont(0.5) WITHIN GROUP (ORDER BY c.seconds), ",
                    "percentile_cont(0.9) WITHIN GROUP (ORDER BY c.seconds) FROM (",
                    rolled_sql,
                    " UNION ALL SELECT t.asset_type_id, t.unit, t.seconds FROM (",
                    cycles_sql,
                    ") t) c (asset_type_id, unit, seconds) GROUP BY c.asset_type_id, c.unit",
                ]
            )
            cursor.execute(sql, [*rolled_params, live_from, pe])
            turnarounds = cursor.fetchall()
    else:
        durations: dict[tuple[int, str], list[float]] = defaultdict(list)
        for type_id, unit, seconds in rolled.values_list("asset_type_id", "unit", "seconds"):
            durations[(type_id, unit)].append(seconds)
        for _, type_id, unit, _, _, seconds in _cycle_rows(live_from, pe) if live_from < pe else []:
            durations[(type_id, unit)].append(seconds)
        turnarounds = [(t, u, len(v), _percentile(v, 0.5), _percentile(v, 0.9)) for (t, u), v in durations.items() if v]
    for type_id, unit, count, median, p90 in turnarounds:
        target = row(type_id, unit)
        target.turnarounds, target.turnaround_median_s, target.turnaround_p90_s = count, median, p90
    for type_id, unit, seconds in _missing_rows(ps, pe, now):
        row(type_id, unit).missing_seconds = int(seconds or 0)
    return sorted(rows.values(), key=lambda r: (r.asset_type, r.unit))


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _state_rows(ps: datetime, pe: datetime) -> list[tuple[int, str, str, int]]:
    """_STATE_SQL: (asset type, unit, state, seconds) in [ps, pe)."""
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute(_STATE_SQL, {"ps": ps, "pe": pe})
            return [(t, u, st, int(sec)) for t, u, st, sec in cursor.fetchall()]

    # The opening state, as in _STATE_SQL's two LATERAL lookups: the last transition before ps, else the
    # first one at or after ps *whatever its time* (a first transition after pe still says what the asset
    # was until then), else the current state.
    logs = TransitionLog.objects.filter(asset_id=OuterRef("pk"))
    assets = {
        pk: (type_id, unit, before or first_from or state, max(created, ps))
        for pk, type_id, unit, state, created, before, first_from in Asset.objects.filter(created_at__lt=pe)
        .annotate(
            before=Subquery(logs.filter(at__lt=ps).order_by("-at", "-id").values("to_state")[:1]),
            first_from=Subquery(logs.filter(at__gte=ps).order_by("at", "id").values("from_state")[:1]),
        )
        .values_list("pk", "asset_type_id", "unit", "state", "created_at", "before", "first_from")
    }
    inside: dict[int, list] = defaultdict(list)
    for asset_id, at, from_state, to_state in (
        TransitionLog.objects.filter(asset_id__in=assets, at__gte=ps, at__lt=pe)
        .order_by("at", "id")
        .values_list("asset_id", "at", "from_state", "to_state")
    ):
        inside[asset_id].append((at, from_state, to_state))
    totals: dict[tuple[int, str, str], float] = defaultdict(float)
    for asset_id, (type_id, unit, opening, t0) in assets.items():
        segments = [(t0, opening)] + [(at, to_state) for at, _, to_state in inside.get(asset_id, [])]
        for (start, state), (end, _) in zip(segments, [*segments[1:], (pe, None)], strict=True):
            begin = max(start, t0)
            if end > begin:
                totals[(type_id, unit, state)] += (end - begin).total_seconds()
    return [(t, u, st, int(sec + 0.5)) for (t, u, st), sec in totals.items()]  # ::bigint rounds


def _cycle_rows(ps: datetime, pe: datetime) -> list[tuple[int, int, str, datetime, datetime, float]]:
    """_CYCLES_SQL: (asset, type, unit, soiled_at, available_at, seconds) for arrivals in [ps, pe)."""
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute(_CYCLES_SQL, {"ps": ps, "pe": pe})
            return [tuple(row) for row in cursor.fetchall()]

    arrivals = TransitionLog.objects.filter(to_state="available", at__gte=ps, at__lt=pe)
    asset_ids = set(arrivals.values_list("asset_id", flat=True))
    info = dict(
        (pk, (type_id, unit))
        for pk, type_id, unit in Asset.objects.filter(pk__in=asset_ids).values_list("pk", "asset_type_id", "unit")
    )
    rows = []
    soiled_at: dict[int, datetime] = {}
    for asset_id, at, to_state in (
        TransitionLog.objects.filter(asset_id__in=asset_ids, at__lt=pe, to_state__in=["soiled", "available"])
        .order_by("asset_id", "at", "id")
        .values_list("asset_id", "at", "to_state")
    ):
        if to_state == "soiled":
            soiled_at[asset_id] = at
            continue
        entered = soiled_at.pop(asset_id, None)  # an arrival closes the cycle; the next needs a new soiled entry
        if entered is not None and at >= ps:
            type_id, unit = info[asset_id]
            rows.append((asset_id, type_id, unit, entered, at, (at - entered).total_seconds()))
    return rows


def _percentile(values: list[float], q: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    return quantiles(ordered, n=100, method="inclusive")[round(q * 100) - 1]


def _missing_rows(ps: datetime, pe: datetime, now: datetime) -> list[tuple[int, str, float]]:
    """_MISSING_SQL: (type, unit, seconds) of missing / left_site alert periods clipped to [ps, pe)."""
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute(_MISSING_SQL, {"ps": ps, "pe": pe, "now": now})
            return list(cursor.fetchall())

    totals: dict[tuple[int, str], float] = defaultdict(float)
    for type_id, unit, created, resolved in Alert.objects.filter(
        kind__in=["missing", "left_site"], created_at__lt=pe, asset__isnull=False
    ).values_list("asset__asset_type_id", "asset__unit", "created_at", "resolved_at"):
        end, begin = min(resolved or now, pe), max(created, ps)
        if end > begin:
            totals[(type_id, unit)] += (end - begin).total_seconds()
    return [(t, u, sec) for (t, u), sec in totals.items()]


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class RollupError(ValueError):
    """A rollup request refused before anything is written; ``option`` names the argument at fault."""

    def __init__(self, option: str, detail: str):
        self.option, self.detail = option, detail
        super().__init__(f"{option} {detail}")


def utilisation_rollup(
    *, until: date | None = None, rebuild_from: date | None = None, today: date | None = None
) -> list[date]:
    """Roll up every closed day not rolled up yet, up to ``until`` (default yesterday): state seconds per day,
    type, unit and state, and the turnaround cycles arriving that day. One transaction per day. A transition
    written later for a day already rolled up is not seen: ``rebuild_from`` recomputes from that day on.

    A day is rolled up once it is over: ``until`` must be before today (a later transition for today would
    never be counted). ``rebuild_from`` must not be after ``until``. Both are checked before anything is
    written. A rebuild deletes the rollups from ``rebuild_from`` on, recomputes them up to ``until`` and moves
    the pointer to ``until``, all in one transaction: if it fails, the rollups are as they were; days not rolled
    up yet before ``rebuild_from`` are rolled up too, so the pointer never claims a day without its rows. The
    rollups start on the first day with data (the first asset's creation or the first transition), whatever
    ``rebuild_from`` says. The pointer row is locked while a day is written: two runs never write the same day."""

    today = today or timezone.localdate()
    yesterday = today - timedelta(days=1)
    until = until if until is not None else yesterday
    if until >= today:
        raise RollupError("until", f"{until} is not over yet: a day is rolled up once it is over (at most {yesterday})")
    if rebuild_from is not None and rebuild_from > until:
        raise RollupError("rebuild_from", f"{rebuild_from} is after the last day to roll up ({until})")
    firsts = [
        TransitionLog.objects.order_by("at").values_list("at", flat=True).first(),
        Asset.objects.order_by("created_at").values_list("created_at", flat=True).first(),
    ]
    firsts = [timezone.localdate(at) for at in firsts if at is not None]
    if not firsts:
        return []
    first_day = min(firsts)
    # The pointer row exists from the first run on (nothing before the first day has data), so every run can
    # lock it.
    UtilisationRollup.objects.get_or_create(pk=1, defaults={"through_day": first_day - timedelta(days=1)})

    if rebuild_from is not None:
        with transaction.atomic():
            pointer = UtilisationRollup.objects.select_for_update().get(pk=1)
            start = max(min(rebuild_from, pointer.through_day + timedelta(days=1)), first_day)
            UtilisationDay.objects.filter(day__gte=start).delete()
            TurnaroundCycle.objects.filter(available_at__gte=_midnight(start)).delete()
            done = []
            day = start
            while day <= until:
                _rollup_day(day)
                done.append(day)
                day += timedelta(days=1)
            pointer.through_day = until
            pointer.save(update_fields=["through_day", "updated_at"])
        return done

    done = []
    while True:
        with transaction.atomic():
            pointer = UtilisationRollup.objects.select_for_update().get(pk=1)
            day = max(pointer.through_day + timedelta(days=1), first_day)
            if day > until:
                break
            _rollup_day(day)
            pointer.through_day = day
            pointer.save(update_fields=["through_day", "updated_at"])
        done.append(day)
    return done


def _rollup_day(day: date) -> None:
    """Write one day's rollup rows (inside the caller's transaction)."""
    params = {"ps": _midnight(day), "pe": _midnight(day + timedelta(days=1))}
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO biomed_utilisationday (day, asset_type_id, unit, state, seconds) "  # noqa: S608
                f"SELECT %(day)s, s.* FROM ({_STATE_SQL}) s",
                {**params, "day": day},
            )
            cursor.execute(
                "INSERT INTO biomed_turnaroundcycle "
                f"(asset_id, asset_type_id, unit, soiled_at, available_at, seconds) {_CYCLES_SQL}",
                params,
            )
        return
    UtilisationDay.objects.bulk_create(
        UtilisationDay(day=day, asset_type_id=t, unit=u, state=st, seconds=sec)
        for t, u, st, sec in _state_rows(params["ps"], params["pe"])
    )
    TurnaroundCycle.objects.bulk_create(
        TurnaroundCycle(asset_id=a, asset_type_id=t, unit=u, soiled_at=s_at, available_at=a_at, seconds=sec)
        for a, t, u, s_at, a_at, sec in _cycle_rows(params["ps"], params["pe"])
    )


def idle_fleet(*, days: int, now: datetime | None = None):
    """Assets in state available whose current room stay began ``days`` or more ago (not moved since)."""

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

    return (
        par_levels_with_counts(now=now)
        .filter(available_count__gt=F("target"))
        .annotate(excess=F("available_count") - F("target"))
        .order_by("-excess", "unit")
    )
