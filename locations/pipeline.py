"""The location pipeline: gateway batches in, room changes and current locations out.

Every ingest front (HTTP, MQTT, ``replay_sightings``, ``simulate_rtls --live``) calls the same two
functions, on event time (DESIGN.md §5, §6):

- ``ingest_batch(body, now=...)`` validates one gateway body (``parse_batch``), maps each tag to its
  asset, and pushes the sightings of bound tags into the engine. Nothing touches the database here
  except a lookup when a tag id is not in the cache.
- ``process(watermark)`` closes the engine's windows up to ``watermark`` and persists what came out,
  in ONE transaction: each asset's current room, confidence, position and last_seen (only rows and
  fields that changed), its room intervals (the open one closed, new ones bulk-created), the tags'
  battery and last_seen, and the receivers' last_heard. After the commit it sends
  ``room_changes_committed`` and ``tags_reported`` and tells each floor map which assets moved.

"Write changes, not every sighting": raw sightings are never stored as rows. An interval is written
only when the engine's smoothed room changes.

Decisions worth knowing:
- Unknown tags (no Tag row) are counted and skipped, not auto-registered: gateways also hear phones,
  wearables and the neighbours' beacons, many with random MAC addresses, and registering them would fill
  the tag list with junk. A tag is registered by importing or binding it (assets.services).
  Registered but unbound tags get their battery and last_seen updated; they are not located.
- Replays are idempotent: an estimate no newer than the asset's ``located_at`` (the event time of the
  last estimate already applied) is skipped, so replaying a file the database already holds adds nothing.
- Room changes are computed against the database's current room, not the engine's memory, so a restart
  or a lost flush can never leave a gap or an overlap in the history.
- On start, each located tag's smoothing state is restored from its asset's current room.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save

from assets.models import Asset, Tag
from locations import live
from locations.engine import EngineConfig, LocationEngine, parse_batch
from locations.engine.types import (
    BatchError,
    FloorGeom,
    LocationEstimate,
    ReceiverGeom,
    Rejection,
    RoomGeom,
    SitePlan,
)
from locations.models import Floor, Receiver, Room, RoomInterval
from locations.signals import RoomChange, TagReport, room_changes_committed, tags_reported

logger = logging.getLogger(__name__)

# The tag -> asset cache is reloaded this often even without a change signal (other processes bind tags).
TAG_CACHE_TTL_S = 60.0
UNKNOWN_TAG_TTL_S = 60.0
ENGINE_ESTIMATES_EVERY_S = 30.0  # gateway clock offsets and calibrations are written at most this often
_UNKNOWN_TAG_LIMIT = 100_000
# An asset that stays in its room is re-announced to the floor map when it moved at least this far.
MAP_MOVE_THRESHOLD_M = 1.0

_LOCATION_FIELDS = (
    "current_room_id",
    "location_confidence",
    "located_at",
    "position_x",
    "position_y",
    "position_radius_m",
    "last_seen",
)


def to_datetime(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else -math.inf


# --------------------------------------------------------------------------- change tracking

# Bumped (in this process) whenever rooms, floors, receivers or tags change, so pipelines rebuild
# their plan or tag cache on their next call. Other processes rely on TAG_CACHE_TTL_S and restarts.
_generation = {"plan": 0, "tags": 0}


def _bump_plan(**kwargs):
    _generation["plan"] += 1


def _bump_tags(**kwargs):
    _generation["tags"] += 1


for _model in (Floor, Room, Receiver):
    post_save.connect(_bump_plan, sender=_model, dispatch_uid=f"pipeline-plan-save-{_model.__name__}")
    post_delete.connect(_bump_plan, sender=_model, dispatch_uid=f"pipeline-plan-delete-{_model.__name__}")
post_save.connect(_bump_tags, sender=Tag, dispatch_uid="pipeline-tags-save")
post_delete.connect(_bump_tags, sender=Tag, dispatch_uid="pipeline-tags-delete")


# --------------------------------------------------------------------------- bulk writes


def bulk_set(model, field_names: list[str], rows: list[list]) -> None:
    """UPDATE ``field_names`` of many rows of ``model``; each row is [value per field..., primary key].

    Like ``bulk_update`` without its per-row CASE expressions (which cost more than the location engine
    itself at ingest rates) and without model instances: on PostgreSQL one ``UPDATE ... FROM unnest(...)``
    with an array per column, elsewhere one prepared UPDATE run with executemany. No signals, no save().
    """
    if not rows:
        return
    meta = model._meta
    fields = [meta.get_field(name) for name in field_names]
    quote = connection.ops.quote_name
    table, pk_column = quote(meta.db_table), quote(meta.pk.column)
    columns = [quote(f.column) for f in fields]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array parameter per column, unnested: a short statement whatever the number of rows.
            # psycopg adapts Python lists (aware datetimes and None included) to typed arrays.
            types = [f.db_type(connection) for f in fields] + [meta.pk.rel_db_type(connection)]
            names = [f"c{i}" for i in range(len(fields))] + ["pk"]
            arrays = ", ".join(f"%s::{t}[]" for t in types)
            assignments = ", ".join(f"{column} = v.{name}" for column, name in zip(columns, names, strict=False))
            # Identifiers come from the model's meta, quoted; every value is a parameter.
            sql = (
                f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({', '.join(names)}) "  # noqa: S608
                f"WHERE {table}.{pk_column} = v.pk"
            )
            cursor.execute(sql, [list(column) for column in zip(*rows, strict=True)])
        else:
            prepare = [f.get_db_prep_save for f in fields]
            prepared = [[p(v, connection) for p, v in zip(prepare, row, strict=False)] + [row[-1]] for row in rows]
            assignments = ", ".join(f"{column} = %s" for column in columns)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s", prepared)  # noqa: S608


# --------------------------------------------------------------------------- results


@dataclass(slots=True)
class IngestResult:
    gateway_id: str
    accepted: int  # new sightings taken in (duplicates and rejected items excluded)
    rejected: list[Rejection]
    duplicates: int  # repeats within the batch, and of sightings already received
    unknown_tags: int = 0  # accepted items whose tag is not registered (counted, not located)
    late: int = 0  # accepted items too old to change a position (their windows had closed); still count as seen

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)

    def as_dict(self) -> dict:
        return {
            "gateway": self.gateway_id,
            "accepted": self.accepted,
            "rejected": [{"index": r.index, "reason": r.reason} for r in self.rejected],
            "rejected_count": len(self.rejected),
            "duplicates": self.duplicates,
            "unknown_tags": self.unknown_tags,
            "late": self.late,
        }


@dataclass(slots=True)
class ProcessResult:
    estimates: int = 0
    skipped: int = 0  # estimates no newer than what the database already has (a replay)
    room_changes: list[RoomChange] = field(default_factory=list)
    assets_updated: int = 0
    intervals_created: int = 0
    tags_updated: int = 0
    receivers_updated: int = 0


@dataclass(slots=True)
class _TagEntry:
    pk: int
    asset_id: int | None
    battery: int | None
    last_seen: float  # epoch seconds, -inf if never


@dataclass(slots=True)
class _AssetRow:
    """The location columns of one asset, as the pipeline reads and writes them (no model instance)."""

    pk: int
    asset_tag: str
    current_room_id: int | None
    location_confidence: float | None
    located_at: datetime | None
    position_x: float | None
    position_y: float | None
    position_radius_m: float | None
    last_seen: datetime | None


@dataclass(slots=True)
class _PlanIndex:
    room_floor: dict[int, int]
    receiver_pk: dict[str, int]
    receiver_heard: dict[str, float]


# --------------------------------------------------------------------------- the plan


def site_plan_from_db() -> SitePlan:
    """The engine's view of every floor, room and active receiver in the database."""
    plan, _ = _load_plan()
    return plan


def _load_plan() -> tuple[SitePlan, _PlanIndex]:
    floors = tuple(
        FloorGeom(floor_id=pk, building_id=building_id, level=level)
        for pk, building_id, level in Floor.objects.order_by("pk").values_list("pk", "building_id", "level")
    )
    rooms = []
    room_floor = {}
    for pk, floor_id, code, room_type, polygon in Room.objects.order_by("pk").values_list(
        "pk", "floor_id", "code", "room_type", "polygon"
    ):
        ring = tuple((float(x), float(y)) for x, y, *_ in polygon["coordinates"][0])
        rooms.append(RoomGeom(room_id=pk, floor_id=floor_id, code=code, room_type=room_type, exterior=ring))
        room_floor[pk] = floor_id
    receivers, receiver_pk, receiver_heard = [], {}, {}
    for row in (
        Receiver.objects.filter(active=True)
        .order_by("gateway_id")
        .values_list(
            "pk", "gateway_id", "floor_id", "x", "y", "rssi_at_1m", "path_loss_exponent", "height_m", "last_heard"
        )
    ):
        pk, gateway_id, floor_id, x, y, rssi_at_1m, exponent, height, last_heard = row
        receivers.append(
            ReceiverGeom(
                gateway_id=gateway_id,
                floor_id=floor_id,
                x=x,
                y=y,
                rssi_at_1m=rssi_at_1m,
                path_loss_exponent=exponent,
                height_m=height,
            )
        )
        receiver_pk[gateway_id] = pk
        receiver_heard[gateway_id] = _epoch(last_heard)
    plan = SitePlan(floors=floors, rooms=tuple(rooms), receivers=tuple(receivers))
    return plan, _PlanIndex(room_floor=room_floor, receiver_pk=receiver_pk, receiver_heard=receiver_heard)


# --------------------------------------------------------------------------- the pipeline


class LocationPipeline:
    """One engine fed from every ingest front, persisting to the database. Thread-safe."""

    def __init__(self, *, config: EngineConfig | None = None, notify: bool = True):
        self.config = config
        self.notify = notify
        self._lock = threading.RLock()
        self._pending_tags: dict[str, list] = {}  # tag_id -> [last ts, battery at that ts]
        self._pending_gateways: dict[str, float] = {}  # gateway_id -> newest event time heard
        self._unknown: dict[str, float] = {}  # tag ids not registered -> wall time to look again
        self._last_processed_watermark = -math.inf
        self._estimates_stored: tuple[int, int, float] = (0, 0, -math.inf)  # clock/calibration updates, when
        self._build()

    # ----------------------------------------------------------------- setup

    def _build(self) -> None:
        self._plan_generation = _generation["plan"]
        self.plan, self._index = _load_plan()
        self.known_gateways = frozenset(self._index.receiver_pk)
        self.engine = LocationEngine(self.plan, self.config)
        self._load_all_tags()
        self._restore()

    def _load_all_tags(self) -> None:
        self._tags_generation = _generation["tags"]
        self._tags_loaded_at = time.monotonic()
        self._tags: dict[str, _TagEntry] = {
            tag_id: _TagEntry(pk, asset_id, battery, _epoch(last_seen))
            for pk, tag_id, asset_id, battery, last_seen in Tag.objects.values_list(
                "pk", "tag_id", "asset_id", "battery_percent", "last_seen"
            )
        }
        self._unknown.clear()

    def _restore(self) -> None:
        """Seed each located tag's smoothing with its asset's current room, so a restart does not
        re-decide (and re-announce) where every asset is."""
        rows = Tag.objects.filter(asset__isnull=False, asset__current_room__isnull=False).values_list(
            "tag_id", "asset__current_room_id", "asset__located_at", "asset__last_seen", "asset__location_confidence"
        )
        for tag_id, room_id, located_at, last_seen, confidence in rows:
            if room_id not in self._index.room_floor:
                continue
            moment = located_at or last_seen
            extra = {"confidence": confidence} if confidence is not None else {}
            self.engine.restore(tag_id, room_id=room_id, ts=moment.timestamp() if moment else 0.0, **extra)

    def reload(self) -> None:
        """Rebuild the plan and the engine from the database (after a floor-plan import or a receiver
        change). Open windows are closed and persisted first."""
        with self._lock:
            self._process_locked(None)
            self._build()

    def _refresh(self) -> None:
        if self._plan_generation != _generation["plan"]:
            self._process_locked(None)
            self._build()
            return
        if self._tags_generation != _generation["tags"] or time.monotonic() - self._tags_loaded_at > TAG_CACHE_TTL_S:
            self._load_all_tags()

    def _lookup_tags(self, tag_ids: set[str]) -> None:
        """Refresh on a cache miss: one query for the batch's new tag ids."""
        wall = time.monotonic()
        wanted = [t for t in tag_ids if self._unknown.get(t, 0.0) <= wall]
        if not wanted:
            return
        found = Tag.objects.filter(tag_id__in=wanted).values_list(
            "pk", "tag_id", "asset_id", "battery_percent", "last_seen"
        )
        for pk, tag_id, asset_id, battery, last_seen in found:
            self._tags[tag_id] = _TagEntry(pk, asset_id, battery, _epoch(last_seen))
            self._unknown.pop(tag_id, None)
        if len(self._unknown) > _UNKNOWN_TAG_LIMIT:
            self._unknown.clear()
        for tag_id in wanted:
            if tag_id not in self._tags:
                self._unknown[tag_id] = wall + UNKNOWN_TAG_TTL_S

    # ----------------------------------------------------------------- ingest

    def ingest_batch(self, body: dict, *, now: float | datetime | None = None) -> IngestResult:
        """Validate and take in one gateway body. Raises BatchError when the body as a whole is bad."""
        if isinstance(now, datetime):
            now = now.timestamp()
        now = time.time() if now is None else float(now)
        with self._lock:
            self._refresh()
            batch = parse_batch(body, known_gateways=self.known_gateways, now=now)
            sightings = batch.accepted
            tags = self._tags
            missing = {s.tag_id for s in sightings if s.tag_id not in tags}
            if missing:
                self._lookup_tags(missing)
            pending = self._pending_tags
            located = []
            unknown = 0
            newest = -math.inf
            for sighting in sightings:
                tag_id = sighting.tag_id
                entry = tags.get(tag_id)
                ts = sighting.ts
                if ts > newest:
                    newest = ts
                if entry is None:
                    unknown += 1
                    continue
                seen = pending.get(tag_id)
                if seen is None:
                    pending[tag_id] = [ts, sighting.battery]
                elif ts >= seen[0]:
                    seen[0] = ts
                    if sighting.battery is not None:
                        seen[1] = sighting.battery
                if entry.asset_id is not None:
                    located.append(sighting)
            repeated = late = 0
            if located:
                stats = self.engine.stats
                duplicates_before, late_before = stats.duplicates, stats.late
                self.engine.push(located)
                repeated = stats.duplicates - duplicates_before
                late = stats.late - late_before
            if batch.gateway_id in self._index.receiver_pk:
                heard = newest if sightings else (batch.sent_at or now)
                if heard > self._pending_gateways.get(batch.gateway_id, -math.inf):
                    self._pending_gateways[batch.gateway_id] = heard
            return IngestResult(
                gateway_id=batch.gateway_id,
                accepted=len(sightings) - repeated,
                rejected=batch.rejected,
                duplicates=batch.duplicates + repeated,
                unknown_tags=unknown,
                late=late,
            )

    # ----------------------------------------------------------------- process

    def process(self, watermark: float | datetime | None = None) -> ProcessResult:
        """Persist what the engine can decide by ``watermark`` (event time, typically the newest batch's
        time; the engine keeps windows open for its allowed lateness behind it). None closes every window."""
        if isinstance(watermark, datetime):
            watermark = watermark.timestamp()
        with self._lock:
            return self._process_locked(watermark)

    def tick(self, now: float | None = None) -> ProcessResult:
        """For live fronts, about once a second: process up to the wall clock."""
        return self.process(time.time() if now is None else now)

    def _process_locked(self, watermark: float | None) -> ProcessResult:
        estimates = self.engine.flush(watermark)
        self._store_engine_estimates(final=watermark is None)
        if watermark is not None:
            self._last_processed_watermark = max(self._last_processed_watermark, watermark)
        pending_tags, self._pending_tags = self._pending_tags, {}
        pending_gateways, self._pending_gateways = self._pending_gateways, {}
        if not estimates and not pending_tags and not pending_gateways:
            return ProcessResult()
        try:
            return self._persist(estimates, pending_tags, pending_gateways)
        except Exception:
            # Keep what the tags and gateways reported for the next flush; the estimates are gone,
            # but the next ones are compared with the database, so the history stays consistent.
            for tag_id, seen in pending_tags.items():
                self._pending_tags.setdefault(tag_id, seen)
            for gateway_id, heard in pending_gateways.items():
                self._pending_gateways.setdefault(gateway_id, heard)
            raise

    def _store_engine_estimates(self, *, final: bool) -> None:
        """Persist the engine's per-gateway clock offsets and calibrations when they changed, at most
        every ENGINE_ESTIMATES_EVERY_S of wall time (and at the end of a replay)."""
        stats = self.engine.stats
        clocks, calibrations, stored_at = self._estimates_stored
        if (stats.clock_updates, stats.calibration_updates) == (clocks, calibrations):
            return
        now = time.monotonic()
        if not final and now - stored_at < ENGINE_ESTIMATES_EVERY_S:
            return
        from locations.services import receivers_store_engine_estimates

        receivers_store_engine_estimates(self.engine.gateway_clocks(), now=datetime.now(UTC))
        self._estimates_stored = (stats.clock_updates, stats.calibration_updates, now)

    def _persist(
        self, estimates: list[LocationEstimate], pending_tags: dict[str, list], pending_gateways: dict[str, float]
    ) -> ProcessResult:
        result = ProcessResult(estimates=len(estimates))
        tags = self._tags
        per_asset: dict[int, list[LocationEstimate]] = defaultdict(list)
        for estimate in estimates:
            entry = tags.get(estimate.tag_id)
            if entry is not None and entry.asset_id is not None:
                per_asset[entry.asset_id].append(estimate)
        asset_seen: dict[int, float] = {}
        for tag_id, (ts, _) in pending_tags.items():
            entry = tags.get(tag_id)
            if entry is not None and entry.asset_id is not None:
                asset_seen[entry.asset_id] = max(ts, asset_seen.get(entry.asset_id, -math.inf))
        asset_ids = sorted(set(per_asset) | set(asset_seen))
        reports: list[TagReport] = []
        moves: dict[int, list[dict]] = defaultdict(list)

        with transaction.atomic():
            assets = [
                _AssetRow(*row)
                for row in Asset.objects.select_for_update()
                .filter(pk__in=asset_ids)
                .order_by("pk")
                .values_list("pk", "asset_tag", *_LOCATION_FIELDS)
            ]
            updated: list[_AssetRow] = []
            changed_fields: set[str] = set()
            closing: dict[int, datetime] = {}
            new_intervals: list[RoomInterval] = []
            for asset in assets:
                changed = self._apply(asset, per_asset.get(asset.pk, ()), asset_seen.get(asset.pk), result, moves)
                if changed is None:
                    continue
                fields, changes = changed
                if fields:
                    updated.append(asset)
                    changed_fields |= fields
                if changes:
                    closing[asset.pk] = to_datetime(changes[0][0])
                    for i, (ts, _, to_room) in enumerate(changes):
                        left = to_datetime(changes[i + 1][0]) if i + 1 < len(changes) else None
                        new_intervals.append(
                            RoomInterval(asset_id=asset.pk, room_id=to_room, entered_at=to_datetime(ts), left_at=left)
                        )
                    result.room_changes.extend(
                        RoomChange(asset_id=asset.pk, from_room_id=src, to_room_id=dst, at=to_datetime(ts))
                        for ts, src, dst in changes
                    )
            if updated:
                # Only the rows that changed; the columns any of them changed (the others rewrite their value).
                names = [f for f in _LOCATION_FIELDS if f in changed_fields]
                bulk_set(
                    Asset,
                    [f.removesuffix("_id") for f in names],
                    [[getattr(a, f) for f in names] + [a.pk] for a in updated],
                )
                result.assets_updated = len(updated)
            if closing:
                open_intervals = RoomInterval.objects.filter(
                    asset_id__in=list(closing), left_at__isnull=True
                ).values_list("pk", "asset_id", "entered_at")
                bulk_set(
                    RoomInterval,
                    ["left_at"],
                    [[max(closing[asset_id], entered_at), pk] for pk, asset_id, entered_at in open_intervals],
                )
                RoomInterval.objects.bulk_create(new_intervals, batch_size=1000)
                result.intervals_created = len(new_intervals)

            tag_rows = []
            for tag_id, (ts, battery) in pending_tags.items():
                entry = tags.get(tag_id)
                if entry is None:
                    continue
                if ts > entry.last_seen or (battery is not None and battery != entry.battery and ts >= entry.last_seen):
                    entry.last_seen = max(ts, entry.last_seen)
                    if battery is not None:
                        entry.battery = battery
                    tag_rows.append([entry.battery, to_datetime(entry.last_seen), entry.pk])
                reports.append(
                    TagReport(tag_id=tag_id, asset_id=entry.asset_id, battery_percent=entry.battery, at=to_datetime(ts))
                )
            if tag_rows:
                bulk_set(Tag, ["battery_percent", "last_seen"], tag_rows)
                result.tags_updated = len(tag_rows)

            receiver_rows = []
            heard_cache = self._index.receiver_heard
            for gateway_id, heard in pending_gateways.items():
                if heard > heard_cache.get(gateway_id, -math.inf):
                    heard_cache[gateway_id] = heard
                    receiver_rows.append([to_datetime(heard), self._index.receiver_pk[gateway_id]])
            if receiver_rows:
                bulk_set(Receiver, ["last_heard"], receiver_rows)
                result.receivers_updated = len(receiver_rows)

            changes = list(result.room_changes)
            notify = self.notify
            transaction.on_commit(lambda: _announce(changes, reports, moves if notify else {}))
        return result

    def _apply(self, asset: _AssetRow, estimates, seen: float | None, result: ProcessResult, moves):
        """Fold one asset's new estimates into its row. Returns (changed fields, room changes) or None."""
        located_at = _epoch(asset.located_at)
        fresh = sorted((e for e in estimates if e.ts > located_at + 1e-6), key=lambda e: e.ts)
        result.skipped += len(estimates) - len(fresh)
        fields: set[str] = set()
        changes: list[tuple[float, int | None, int]] = []
        last_seen = _epoch(asset.last_seen)
        newest = max([seen if seen is not None else -math.inf] + [e.ts for e in fresh])
        if newest > last_seen:
            asset.last_seen = to_datetime(newest)
            fields.add("last_seen")
        if not fresh:
            return (fields, changes) if fields else None
        room = asset.current_room_id
        old_room, old_x, old_y = room, asset.position_x, asset.position_y
        for estimate in fresh:
            if estimate.room_id != room:
                changes.append((estimate.ts, room, estimate.room_id))
                room = estimate.room_id
        last = fresh[-1]
        values = {
            "current_room_id": last.room_id,
            "location_confidence": round(float(last.confidence), 3),
            "located_at": to_datetime(last.ts),
            "position_x": round(float(last.x), 2),
            "position_y": round(float(last.y), 2),
            "position_radius_m": round(float(last.radius_m), 2),
        }
        for name, value in values.items():
            if getattr(asset, name) != value:
                setattr(asset, name, value)
                fields.add(name)
        moved_far = old_x is None or math.hypot(last.x - old_x, last.y - (old_y or 0.0)) >= MAP_MOVE_THRESHOLD_M
        if changes or moved_far:
            floor_id = self._index.room_floor.get(last.room_id)
            event = {
                "asset_id": asset.pk,
                "asset_tag": asset.asset_tag,
                "room_id": last.room_id,
                "from_room_id": old_room,
                "floor_id": floor_id,
                "x": values["position_x"],
                "y": values["position_y"],
                "radius_m": values["position_radius_m"],
                "confidence": values["location_confidence"],
                "at": values["located_at"].isoformat(),
            }
            moves[floor_id].append(event)
            old_floor = self._index.room_floor.get(old_room) if old_room is not None else None
            if old_floor is not None and old_floor != floor_id:
                moves[old_floor].append(event)  # so the old floor's map drops it
        return fields, changes


def _announce(changes: list[RoomChange], reports: list[TagReport], moves: dict[int, list[dict]]) -> None:
    """After the commit: signals for lifecycle (rules, alerts), then the floor maps, one message per floor."""
    if changes:
        for _, error in room_changes_committed.send_robust(sender=LocationPipeline, changes=changes):
            if isinstance(error, Exception):
                logger.error("a room_changes_committed receiver failed", exc_info=error)
    if reports:
        for _, error in tags_reported.send_robust(sender=LocationPipeline, reports=reports):
            if isinstance(error, Exception):
                logger.error("a tags_reported receiver failed", exc_info=error)
    for floor_id, assets in moves.items():
        live.notify_floor(floor_id, {"kind": "asset.moved", "floor_id": floor_id, "assets": assets})


# --------------------------------------------------------------------------- replay


@dataclass(slots=True)
class ReplayResult:
    lines: int = 0
    batches: int = 0
    sightings: int = 0  # items in the good bodies
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    unknown_tags: int = 0
    late: int = 0
    room_changes: int = 0
    skipped_estimates: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    # The engine's own drops by reason at the end (engine.stats.drops(): duplicate, late, ...).
    engine_drops: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def sightings_per_second(self) -> float:
        return self.sightings / self.seconds if self.seconds > 0 else 0.0


def _reason_kind(reason: str) -> str:
    """'rssi -130 is outside -120..0' -> 'rssi ... is outside -120..0', to count rejections by kind."""
    words = reason.split()
    return " ".join(word if not any(ch.isdigit() for ch in word) or word == "-120..0" else "…" for word in words)


def replay_lines(
    lines: Iterable[str],
    *,
    pipeline: LocationPipeline,
    flush_every_s: float = 5.0,
    progress: Callable[[ReplayResult], None] | None = None,
    progress_every: int = 10_000,
    on_bad_line: Callable[[int, str], None] | None = None,
) -> ReplayResult:
    """Feed recorded gateway bodies (one JSON object per line) through the pipeline, on event time.

    Each body is checked against its own ``sent_at`` (or its newest ``ts``), so an old file replays;
    windows are closed every ``flush_every_s`` of event time, so the same file gives the same history
    however fast the machine is. A malformed line is reported and skipped.
    """
    result = ReplayResult()
    started = time.perf_counter()
    last_flush = -math.inf
    for number, raw in enumerate(lines, start=1):
        result.lines = number
        line = raw.strip()
        if line:
            problem = None
            try:
                body = json.loads(line)
            except ValueError as exc:
                problem = f"not valid JSON ({exc})"
            else:
                now = _body_time(body)
                try:
                    outcome = pipeline.ingest_batch(body, now=now)
                except BatchError as exc:
                    problem = str(exc)
                else:
                    result.batches += 1
                    result.sightings += len(body["sightings"])
                    result.accepted += outcome.accepted
                    result.rejected += len(outcome.rejected)
                    result.duplicates += outcome.duplicates
                    result.unknown_tags += outcome.unknown_tags
                    result.late += outcome.late
                    for rejection in outcome.rejected:
                        kind = _reason_kind(rejection.reason)
                        result.rejection_reasons[kind] = result.rejection_reasons.get(kind, 0) + 1
                    if now is not None and now - last_flush >= flush_every_s:
                        done = pipeline.process(now)
                        result.room_changes += len(done.room_changes)
                        result.skipped_estimates += done.skipped
                        last_flush = now
            if problem is not None:
                result.bad_lines.append((number, problem))
                if on_bad_line:
                    on_bad_line(number, problem)
        if progress and number % progress_every == 0:
            result.seconds = time.perf_counter() - started
            progress(result)
    done = pipeline.process(None)
    result.room_changes += len(done.room_changes)
    result.skipped_estimates += done.skipped
    result.engine_drops = pipeline.engine.stats.drops()
    result.seconds = time.perf_counter() - started
    return result


def _body_time(body) -> float | None:
    """A recorded body's own time: its sent_at, else its newest ts; None if it has neither."""
    from locations.engine.parsing import parse_timestamp

    if not isinstance(body, dict):
        return None
    try:
        return parse_timestamp(body.get("sent_at"), field="sent_at")
    except ValueError:
        pass
    newest = None
    items = body.get("sightings")
    if isinstance(items, list):
        for item in items:
            try:
                ts = parse_timestamp(item.get("ts")) if isinstance(item, dict) else None
            except ValueError:
                continue
            if ts is not None and (newest is None or ts > newest):
                newest = ts
    return newest


# --------------------------------------------------------------------------- the process-wide pipeline

_default: LocationPipeline | None = None
_default_lock = threading.Lock()


def get_pipeline() -> LocationPipeline:
    """The in-process pipeline that the embedded ingest fronts share (built on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = LocationPipeline()
        return _default


def reset_pipeline() -> None:
    """Drop the in-process pipeline (tests; after a database restore). Open windows are discarded."""
    global _default
    with _default_lock:
        _default = None


def ingest_batch(body: dict, *, now: float | datetime | None = None) -> IngestResult:
    """The one entry point for every ingest front. Raises BatchError for a malformed body (HTTP 400)."""
    return get_pipeline().ingest_batch(body, now=now)


def process(watermark: float | datetime | None = None) -> ProcessResult:
    return get_pipeline().process(watermark)
