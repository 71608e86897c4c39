"""The location pipeline: validated sightings in, room changes and current locations out.

Every ingest front (HTTP, MQTT, ``replay_sightings``, ``simulate_rtls --live``) validates a gateway body
ONCE (``locations.ingest.codec``, with the settings' limits) and hands typed ``Sighting``s on, on event
time (docs/design.md §5, §6):

- ``ingest_sightings(sightings)`` maps each tag to the asset it was bound to at the sighting's time
  (``TagBinding``: a reused tag's old sightings are never its new asset's) and pushes the sightings of
  bound tags into the engine (the engine worker calls it with what the queue carries: no second parse, no second check);
  ``ingest_batch(body)`` is validation + ``ingest_sightings`` for the fronts that do not queue.
- ``process(watermark)`` closes the engine's windows up to ``watermark`` and persists what came out,
  in ONE transaction: room changes at once (the asset's current room and position, its room intervals),
  and, coalesced to at most once per ``LOCATION_SEEN_WRITE_SECONDS`` of event time each, the assets'
  last_seen/located_at, the tags' battery and last_seen, the receivers' last_heard. The same transaction
  writes one ``LocationOutbox`` row with the room changes and the tag reports. After the commit the floor
  maps are told at once; the lifecycle work (room-type rules, alerts, webhooks) runs in the outbox
  consumer (``locations.outbox``, ``lifecycle.outbox``), off this thread.
- ``process_idle(wall_now)``: with the queue idle, closes what the wall clock says is complete.

"Write changes, not every sighting": raw sightings are never stored as rows. An interval is written
only when the engine's smoothed room changes; an asset heard in the room it is in is written only when its
last_seen is due.

Decisions worth knowing:
- Unknown tags (no Tag row) are counted and skipped, not auto-registered: gateways also hear phones,
  wearables and the neighbours' beacons, many with random MAC addresses, and registering them would fill
  the tag list with junk. A tag is registered by importing or binding it (assets.services).
  Registered but unbound tags get their battery and last_seen updated; they are not located.
- Replays are idempotent: an estimate no newer than the asset's ``located_at`` (the event time of the
  last estimate already applied) is skipped, so replaying a file the database already holds adds nothing.
- Room changes are computed against the database's current room (read under a row lock when this
  pipeline's cached room differs from the estimate's, or when the asset is due), not the engine's memory, so
  a restart or a lost flush can never leave a gap or an overlap in the history.
- On start, each located tag's smoothing state is restored from its asset's current room
  (``restore_from_db``, the one restore routine; the engine worker calls it per shard on a takeover).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
import queue
import sys
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from assets.models import Asset, Tag, TagBinding
from locations import freshness, live
from locations import outbox as location_outbox
from locations.engine import EngineConfig, LocationEngine
from locations.engine.types import (
    BatchError,
    FloorGeom,
    LocationEstimate,
    ReceiverGeom,
    Rejection,
    RoomGeom,
    Sighting,
    SitePlan,
)
from locations.ingest.codec import _Body as _TypedBody
from locations.ingest.codec import (
    _validate_typed_columns,
    body_size,
    body_time,
    decode_body,
    validate_decoded,
)
from locations.ingest.queue import shard_of
from locations.models import Building, Floor, LocationOutbox, Receiver, Room, RoomInterval, Site
from locations.outbox import outbox_row
from locations.services import receivers_store_engine_estimates
from locations.signals import RoomChange, TagReport

logger = logging.getLogger(__name__)

# The tag -> asset cache is reloaded this often even without a change signal (other processes bind tags).
TAG_CACHE_TTL_S = 60.0
UNKNOWN_TAG_TTL_S = 60.0
ENGINE_ESTIMATES_EVERY_S = 30.0  # gateway clock offsets and calibrations are written at most this often
_UNKNOWN_TAG_LIMIT = 100_000
# The wall clock closes windows (process_idle) only while the newest sighting is this recent: a live stream.
LIVE_HORIZON_S = 60.0
# replay_sightings commits the flushes of this much event time together (``replay_lines``).
REPLAY_COMMIT_EVERY_S = 60.0
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
post_save.connect(_bump_tags, sender=TagBinding, dispatch_uid="pipeline-bindings-save")
post_delete.connect(_bump_tags, sender=TagBinding, dispatch_uid="pipeline-bindings-delete")


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


class _PendingWrites:
    """What one commit writes, gathered: one flush's (live), or a group of flushes' (replay), sent by
    ``write`` in bulk statements. Later values of a row replace earlier ones (an asset's location columns,
    a tag's battery and last_seen, a receiver's last_heard); an interval opened in the group and closed in
    it is written closed; the room intervals and the outbox rows are inserted in the order they were made,
    so they get the ids the flushes one by one would have given them."""

    __slots__ = ("assets", "fields", "closing", "open", "intervals", "tags", "receivers", "outbox")

    def __init__(self) -> None:
        self.assets: dict[int, _AssetRow] = {}  # asset -> its row, read (locked) in this group
        self.fields: dict[int, set[str]] = {}  # asset -> the location columns changed
        self.closing: dict[int, datetime] = {}  # asset -> when its interval open in the database is left
        self.open: dict[int, RoomInterval] = {}  # asset -> its interval opened in this group, still open
        self.intervals: list[RoomInterval] = []
        self.tags: dict[int, list] = {}  # tag pk -> [battery, last_seen, pk]
        self.receivers: dict[int, list] = {}  # receiver pk -> [last_heard, pk]
        self.outbox: list = []

    def add(self, updated, changed_fields, closing, new_intervals, tag_rows, receiver_rows, outbox, index) -> None:
        for asset in updated:
            self.assets[asset.pk] = asset
            self.fields.setdefault(asset.pk, set()).update(changed_fields)
        for asset_id, left in closing.items():
            opened = self.open.pop(asset_id, None)
            if opened is not None:
                opened.left_at = max(left, opened.entered_at)
            elif asset_id not in self.closing:
                self.closing[asset_id] = left
        for interval in new_intervals:
            self.intervals.append(interval)
            if interval.left_at is None:
                self.open[interval.asset_id] = interval
        # A tag's last_seen and a receiver's last_heard say when it was last heard: never later than now, even
        # for sightings stamped ahead of the clock (accepted up to INGEST_MAX_FUTURE_SECONDS ahead), or /healthz
        # and the silent-receiver alert would count from a time that has not come yet.
        now = time.time()
        for entry, ts, battery in tag_rows:
            self.tags[entry.pk] = [battery, to_datetime(min(ts, now)), entry.pk]
        for gateway_id, heard in receiver_rows:
            pk = index.receiver_pk[gateway_id]
            self.receivers[pk] = [to_datetime(min(heard, now)), pk]
        if outbox is not None:
            self.outbox.append(outbox)

    def write(self) -> None:
        if self.fields:
            changed = set().union(*self.fields.values())
            names = [f for f in _LOCATION_FIELDS if f in changed]
            rows = [[getattr(self.assets[pk], f) for f in names] + [pk] for pk in sorted(self.fields)]
            bulk_set(Asset, [f.removesuffix("_id") for f in names], rows)
        if self.closing:
            open_intervals = RoomInterval.objects.filter(
                asset_id__in=list(self.closing), left_at__isnull=True
            ).values_list("pk", "asset_id", "entered_at")
            bulk_set(
                RoomInterval,
                ["left_at"],
                [[max(self.closing[asset_id], entered_at), pk] for pk, asset_id, entered_at in open_intervals],
            )
        if self.intervals:
            RoomInterval.objects.bulk_create(self.intervals, batch_size=1000)
        if self.tags:
            bulk_set(Tag, ["battery_percent", "last_seen"], list(self.tags.values()))
        if self.receivers:
            bulk_set(Receiver, ["last_heard"], list(self.receivers.values()))
        if self.outbox:
            LocationOutbox.objects.bulk_create(self.outbox, batch_size=1000)


# --------------------------------------------------------------------------- results


@dataclass(slots=True)
class IngestResult:
    gateway_id: str
    accepted: int  # new sightings taken in (duplicates and rejected items excluded)
    rejected: list[Rejection]
    duplicates: int  # repeats within the batch, and of sightings already received
    unknown_tags: int = 0  # accepted items whose tag is not registered (counted, not located)
    late: int = 0  # accepted items too old to change a position (their windows had closed); still count as seen
    inactive_gateway: int = 0  # validated by a front, then their receiver was deactivated: counted, dropped
    # accepted items of a tag stamped when it was bound to no asset, though it was bound later (a recording
    # older than the tag's binding, a gap between two bindings): counted, placed on no asset
    not_bound: int = 0

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
            "inactive_gateway": self.inactive_gateway,
            "not_bound": self.not_bound,
        }


@dataclass(slots=True)
class ProcessResult:
    estimates: int = 0
    skipped: int = 0  # estimates no newer than what the database already has (a replay)
    not_bound: int = 0  # estimates of a tag at a time it was bound to no asset: written to none
    room_changes: list[RoomChange] = field(default_factory=list)
    assets_updated: int = 0
    intervals_created: int = 0
    tags_updated: int = 0
    receivers_updated: int = 0
    closed_up_to: float | None = None  # process_idle: every window ending by this event time is closed


@dataclass(slots=True)
class _TagEntry:
    """A registered tag, and which asset it was on when (TagBinding): ``asset_id`` since ``since``, and the
    bindings that ended before, in ``past``. A tag bound without a binding row (bound before bindings were
    recorded) counts as bound since forever, or since its last recorded unbinding."""

    pk: int
    asset_id: int | None  # the asset it is on now (Tag.asset)
    battery: int | None
    last_seen: float  # epoch seconds, -inf if never (as in the database)
    written: float = -math.inf  # event time of the last write or report of this tag (coalescing)
    since: float = -math.inf  # event time from which it is on asset_id
    past: tuple[tuple[float, float, int], ...] = ()  # (bound_at, unbound_at, asset_id) of the bindings that ended
    bound_until: float = -math.inf  # +inf while bound; else when its last binding ended (-inf: never bound)

    def asset_at(self, ts: float) -> int | None:
        """The asset this tag was on at event time ``ts``, None if on none."""
        if self.asset_id is not None and ts >= self.since:
            return self.asset_id
        for bound_at, unbound_at, asset_id in self.past:
            if bound_at <= ts < unbound_at:
                return asset_id
        return None

    def not_bound_at(self, ts: float) -> bool:
        """On no asset at ``ts``, though bound at some later time: a sighting or estimate counted, not placed.
        (After its last unbinding a tag is simply unbound, like one never bound: seen, not counted.)"""
        return ts < self.bound_until and self.asset_at(ts) is None


def _tag_entry(pk, asset_id, battery, last_seen, bindings) -> _TagEntry:
    """``bindings``: the tag's TagBinding rows as (bound_at, unbound_at or None, asset_id), datetimes."""
    seen = _epoch(last_seen)
    entry = _TagEntry(pk, asset_id, battery, seen, seen)
    if not bindings:
        entry.bound_until = math.inf if asset_id is not None else -math.inf
        return entry
    past = tuple(sorted((b.timestamp(), u.timestamp(), a) for b, u, a in bindings if u is not None))
    entry.past = past
    if asset_id is not None:
        current = [b.timestamp() for b, u, a in bindings if u is None and a == asset_id]
        entry.since = max(current) if current else max((u for _, u, _ in past), default=-math.inf)
        entry.bound_until = math.inf
    else:
        entry.bound_until = max((u for _, u, _ in past), default=-math.inf)
    return entry


def _bindings_of(tag_pks=None) -> dict[int, list]:
    rows = TagBinding.objects.all() if tag_pks is None else TagBinding.objects.filter(tag_id__in=tag_pks)
    bindings: dict[int, list] = defaultdict(list)
    for tag_pk, bound_at, unbound_at, asset_id in rows.values_list("tag_id", "bound_at", "unbound_at", "asset_id"):
        bindings[tag_pk].append((bound_at, unbound_at, asset_id))
    return bindings


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
    room_type: dict[int, str] = field(default_factory=dict)  # freshness of a move (the exit rule)


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
    room_floor, room_types = {}, {}
    for pk, floor_id, code, room_type, polygon in Room.objects.order_by("pk").values_list(
        "pk", "floor_id", "code", "room_type", "polygon"
    ):
        ring = tuple((float(x), float(y)) for x, y, *_ in polygon["coordinates"][0])
        rooms.append(RoomGeom(room_id=pk, floor_id=floor_id, code=code, room_type=room_type, exterior=ring))
        room_floor[pk] = floor_id
        room_types[pk] = room_type
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
    return plan, _PlanIndex(
        room_floor=room_floor, receiver_pk=receiver_pk, receiver_heard=receiver_heard, room_type=room_types
    )


# --------------------------------------------------------------------------- the pipeline


# A restored tag's rooms shown before its current one are read this far back (whether it is on its way:
# EngineConfig.moving_min_stay_s, moving_window_s).
RESTORE_HISTORY_S = 600.0


class LocationPipeline:
    """One engine fed from every ingest front, persisting to the database. Thread-safe."""

    def __init__(self, *, config: EngineConfig | None = None, notify: bool = True, resume_learnt: bool = True):
        """resume_learnt: start the engine from what was learnt about the receivers and stored on their rows
        (LocationEngine.resume_learnt). An engine worker rebuilding after a failure passes False: it replays its
        unacknowledged entries, which must be decided as the uninterrupted run decided them, not with what was
        learnt later (the gateways' clocks are resumed either way: _resume_learnt)."""
        self.config = config
        self.notify = notify
        self.resume_learnt = resume_learnt
        self._lock = threading.RLock()

        self.seen_write_s = float(settings.LOCATION_SEEN_WRITE_SECONDS)
        self._tag_seen: dict[str, list] = {}  # tag_id -> [last ts, battery at that ts], not yet written
        self._gateway_heard: dict[str, float] = {}  # gateway_id -> newest event time heard, not yet written
        self._rows: dict[int, _AssetRow] = {}  # asset -> its location columns as last committed or read
        self._held: dict[int, list[LocationEstimate]] = {}  # asset -> estimates not yet written (same room)
        self._asset_seen: dict[int, float] = {}  # asset -> newest ts heard, not yet written
        self._touched_tags: set[str] = set()  # tags heard since the last commit
        self._swept_at = time.monotonic()
        self.dropped_inactive = 0
        self._unknown: dict[str, float] = {}  # tag ids not registered -> wall time to look again
        self._last_processed_watermark = -math.inf
        self._radio_fit_logged = 0  # the engine's radio fit updates already logged
        self._floors_logged = 0  # ... and detection floor updates
        # clock, calibration and detection floor updates stored, and when
        self._estimates_stored: tuple[int, int, int, float] = (0, 0, 0, -math.inf)
        self._group: _PendingWrites | None = None  # replay: the writes of the open group of flushes
        self._build()

    # ----------------------------------------------------------------- setup

    def _build(self) -> None:
        self._write_pending()  # a group's writes first: the restore below reads the database
        self._plan_generation = _generation["plan"]
        self.plan, self._index = _load_plan()
        self.known_gateways = frozenset(self._index.receiver_pk)
        # The engine follows each gateway's delivery order per queue shard (EngineConfig.delivery_streams).
        config = dataclasses.replace(self.config or EngineConfig(), delivery_streams=settings.INGEST_SHARDS)
        self.engine = LocationEngine(self.plan, config)
        buildings = {floor.building_id for floor in self.plan.floors}
        self._sites = set(Building.objects.filter(pk__in=buildings).values_list("site_id", flat=True))
        self._resume_learnt(clocks_only=not self.resume_learnt)
        self._rows = {}
        self._held = {}
        self._load_all_tags()
        self.restore_from_db()

    def _resume_learnt(self, *, clocks_only: bool = False) -> None:
        """Start the engine from what the one before it learnt, as _store_engine_estimates stored it (reload()
        stores it before it rebuilds): the receivers' rssi filters and calibrations, on their rows, and the
        site's radio, on its row. Not relearnt over minutes of traffic after every restart. The gateways' clock
        offsets too, when estimated at most GATEWAY_CLOCK_RESUME_MAX_AGE_SECONDS ago (a clock drifts), for the
        sightings stamped since then less that age (a replay of older sightings is not corrected with them).

        clocks_only: a worker rebuilding to replay (resume_learnt=False) still takes the clocks. They are the
        clocks the uninterrupted run had corrected those entries with (minutes of drift are milliseconds);
        without them its replay would split the copies of each ping from gateways seconds apart for the
        minute its first estimate takes, and decide those windows unlike the run it stands in for."""
        floors, calibrations, offsets = {}, {}, {}
        max_age = float(settings.GATEWAY_CLOCK_RESUME_MAX_AGE_SECONDS)
        fresh_after = timezone.now() - timedelta(seconds=max_age)
        oldest = None
        stored = Receiver.objects.filter(gateway_id__in=self.known_gateways).values_list(
            "gateway_id", "detection_floor_dbm", "calibration_db", "clock_offset_s", "clock_estimated_at"
        )
        for gateway_id, floor, calibration, offset, estimated_at in stored:
            floors[gateway_id], calibrations[gateway_id] = floor, calibration
            if offset is not None and estimated_at is not None and estimated_at >= fresh_after:
                offsets[gateway_id] = offset
                oldest = estimated_at if oldest is None else min(oldest, estimated_at)
        clock_since = oldest.timestamp() - max_age if oldest is not None else math.inf
        radio = (
            None
            if clocks_only
            else (
                Site.objects.filter(
                    pk__in=self._sites, radio_path_loss_exponent__isnull=False, radio_wall_loss_db__isnull=False
                )
                .order_by("code")
                .values_list("radio_path_loss_exponent", "radio_wall_loss_db")
                .first()
            )
        )
        self.engine.resume_learnt(
            floors_dbm=None if clocks_only else floors,
            calibration_db=None if clocks_only else calibrations,
            radio_fit=radio,
            clock_offsets_s=offsets,
            clock_since=clock_since,
        )

    def _load_all_tags(self) -> None:
        self._write_pending()  # a group's tag writes first: the reload reads the database
        self._tags_generation = _generation["tags"]
        self._tags_loaded_at = time.monotonic()
        bindings = _bindings_of()
        self._tags: dict[str, _TagEntry] = {
            tag_id: _tag_entry(pk, asset_id, battery, last_seen, bindings.get(pk))
            for pk, tag_id, asset_id, battery, last_seen in Tag.objects.values_list(
                "pk", "tag_id", "asset_id", "battery_percent", "last_seen"
            )
        }
        self._unknown.clear()

    def restore_from_db(self, *, shard: int | None = None, shards: int | None = None, at: float | None = None) -> int:
        """Seed each located tag's smoothing with its asset's stored room, so a restart does not re-decide
        (and re-announce) where every asset is. The one restore routine: on build (every tag), and by the
        engine worker when it takes a shard over (``shard`` of ``shards``: only that shard's tags, because
        the previous owner has moved them since). ``at`` seeds the state at that event time instead of the
        stored located_at (before a warm-up replay). Returns how many tags were seeded."""

        rows = Tag.objects.filter(asset__isnull=False, asset__current_room__isnull=False).values_list(
            "tag_id",
            "asset_id",
            "asset__current_room_id",
            "asset__located_at",
            "asset__last_seen",
            "asset__location_confidence",
        )
        # Seeded at an earlier time (the start of a warm-up replay), a tag starts from the room its asset was
        # in then, from the room history: its current room may be one it entered during the warm-up, and the
        # replayed windows would first have to move it back. A tag first located after that time starts in
        # the room it was first placed in, where the replay's first window puts it again. And since when it
        # was in that room: a tag that entered a corridor moments before is on its way, as in an uninterrupted
        # run (EngineConfig.moving_rate_factor).
        fields = ("asset_id", "room_id", "entered_at")
        if at is None:
            stay_of = {a: (r, e) for a, r, e in RoomInterval.objects.filter(left_at__isnull=True).values_list(*fields)}
        else:
            moment_at = datetime.fromtimestamp(at, tz=UTC)
            later = RoomInterval.objects.filter(entered_at__gt=moment_at).order_by("-entered_at")
            stay_of = {a: (r, e) for a, r, e in later.values_list(*fields)}  # the earliest one wins
            then = RoomInterval.objects.filter(entered_at__lte=moment_at).exclude(left_at__lte=moment_at)
            stay_of.update({a: (r, e) for a, r, e in then.values_list(*fields)})
        seeds = []
        for tag_id, asset_id, room_id, located_at, last_seen, confidence in rows.iterator(chunk_size=5000):
            stay_room, entered = stay_of.get(asset_id, (None, None))
            if at is not None and stay_room is not None:
                room_id = stay_room
            if room_id not in self._index.room_floor:
                continue
            if shard is not None and shard_of(tag_id, shards) != shard:
                continue
            moment = located_at or last_seen
            ts = at if at is not None else (moment.timestamp() if moment else 0.0)
            extra = {"confidence": confidence} if confidence is not None else {}
            if entered is not None and stay_room == room_id:
                extra["entered_at"] = entered.timestamp()
                extra["shown_before"] = []
            seeds.append((tag_id, asset_id, room_id, ts, extra))
        # Whether it is on its way (it left a room it had stayed in moments before it entered this one) follows
        # from the rooms shown before, for the tags that entered their room within the moving window.
        window = self.engine.config.moving_window_s
        recent = {a: x["entered_at"] for _, a, _, ts, x in seeds if ts - x.get("entered_at", -math.inf) <= window}
        if recent:
            since = datetime.fromtimestamp(min(recent.values()) - RESTORE_HISTORY_S, tz=UTC)
            before = defaultdict(list)
            earlier = RoomInterval.objects.filter(asset_id__in=list(recent), entered_at__gte=since)
            earlier = earlier.order_by("entered_at")
            for asset_id, room, entered in earlier.values_list("asset_id", "room_id", "entered_at").iterator():
                t = entered.timestamp()
                if recent[asset_id] - RESTORE_HISTORY_S <= t < recent[asset_id]:
                    before[asset_id].append((room, t))
            for _, asset_id, _, _, extra in seeds:
                if asset_id in before:
                    extra["shown_before"] = before[asset_id]
        for tag_id, _, room_id, ts, extra in seeds:
            self.engine.restore(tag_id, room_id=room_id, ts=ts, **extra)
        return len(seeds)

    def reload(self) -> None:
        """Rebuild the plan and the engine from the database (after a floor-plan import or a receiver
        change). Open windows are closed and persisted first."""
        with self._lock:
            self._process_locked(None, write_all=True)
            self._build()

    def _refresh(self) -> None:
        if self._plan_generation != _generation["plan"]:
            self._process_locked(None, write_all=True)
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
        columns = ("pk", "tag_id", "asset_id", "battery_percent", "last_seen")
        found = list(Tag.objects.filter(tag_id__in=wanted).values_list(*columns))
        bindings = _bindings_of([row[0] for row in found]) if found else {}
        for pk, tag_id, asset_id, battery, last_seen in found:
            self._tags[tag_id] = _tag_entry(pk, asset_id, battery, last_seen, bindings.get(pk))
            self._unknown.pop(tag_id, None)
        if len(self._unknown) > _UNKNOWN_TAG_LIMIT:
            self._unknown.clear()
        for tag_id in wanted:
            if tag_id not in self._tags:
                self._unknown[tag_id] = wall + UNKNOWN_TAG_TTL_S

    # ----------------------------------------------------------------- ingest

    def ingest_batch(self, body: object, *, now: float | datetime | None = None) -> IngestResult:
        """Validate one gateway body (``codec.validate_decoded``: the settings' limits, once) and take its
        sightings in. Raises BatchError when the body as a whole is bad. For fronts that do not queue:
        ``replay_sightings`` and ``simulate_rtls --live``."""
        if isinstance(now, datetime):
            now = now.timestamp()
        now = time.time() if now is None else float(now)
        with self._lock:
            self._refresh()
            batch = validate_decoded(body, known_gateways=self.known_gateways, now=now)
            result = self._take(batch.accepted, gateway_id=batch.gateway_id, heard_at=batch.sent_at or now)
            result.rejected = batch.rejected
            result.duplicates += batch.duplicates
            return result

    def ingest_sightings(
        self, sightings: Sequence[Sighting], *, gateway_id: str | None = None, now: float | None = None
    ) -> IngestResult:
        """Take in sightings a front has ALREADY validated (the engine worker, from the queue): no parsing,
        no second check of the time limits. ``gateway_id`` names the gateway when every sighting is from one
        (so a batch with no sighting still counts as heard); sightings may mix gateways otherwise.

        Nothing is dropped silently: sightings of a receiver deactivated since the front checked it are
        counted in ``inactive_gateway``; late and repeated ones in ``late`` and ``duplicates``."""
        with self._lock:
            self._refresh()
            return self._take(sightings, gateway_id=gateway_id, heard_at=now)

    def ingest_columns(self, columns: SightingColumns) -> IngestResult:
        """``ingest_sightings`` for validated sightings given column by column (``replay_lines``' reader):
        the same effect as ``ingest_sightings`` of the same sightings in the same order, without a
        ``Sighting`` object per sighting."""
        with self._lock:
            self._refresh()
            return self._take_columns(columns)

    def _take_columns(self, columns: SightingColumns) -> IngestResult:
        # Keep in step with _take: the same counts, the same tag and gateway state, the same engine push.
        tags = self._tags
        known_gateways = self._index.receiver_pk
        n = len(columns.ts)
        tag_ids, gateway_ids = columns.tag_ids, columns.gateway_ids
        if n == 0:
            return IngestResult(gateway_id="", accepted=0, rejected=[], duplicates=0)
        gw_codes, tag_codes, ts = columns.gw, columns.tag, columns.ts
        active_gw = np.fromiter((g in known_gateways for g in gateway_ids), dtype=bool, count=len(gateway_ids))
        if not active_gw.all():
            active = active_gw[gw_codes]
            inactive = int(n - active.sum())
            gw_codes, tag_codes, ts = gw_codes[active], tag_codes[active], ts[active]
            rssi, battery = columns.rssi[active], columns.battery[active]
        else:
            inactive = 0
            rssi, battery = columns.rssi, columns.battery
        present = np.zeros(len(tag_ids), dtype=bool)
        present[tag_codes] = True
        missing = {tag_ids[c] for c in np.flatnonzero(present).tolist() if tag_ids[c] not in tags}
        if missing:
            self._lookup_tags(missing)
        entries = [tags.get(t) for t in tag_ids]
        known_tag = np.fromiter((e is not None for e in entries), dtype=bool, count=len(entries))
        # Each tag's asset from the start of its current binding on (+inf: on none now); a tag with a history of
        # bindings is looked up sighting by sighting below, for the sightings stamped before that.
        since = np.fromiter(
            (e.since if e is not None and e.asset_id is not None else np.inf for e in entries),
            dtype=np.float64,
            count=len(entries),
        )
        dated = np.fromiter(
            (e is not None and (bool(e.past) or e.since > -math.inf) for e in entries), dtype=bool, count=len(entries)
        )
        unknown = int((~known_tag[tag_codes]).sum())
        # Each gateway's newest event time.
        newest = np.full(len(gateway_ids), -np.inf)
        np.maximum.at(newest, gw_codes, ts)
        gateway_heard = self._gateway_heard
        for code in np.flatnonzero(np.isfinite(newest)).tolist():
            gateway, heard = gateway_ids[code], float(newest[code])
            if heard > gateway_heard.get(gateway, -math.inf):
                gateway_heard[gateway] = heard
        # Each known tag's newest ts and its battery then, in arrival order (as _take).
        self._touched_tags.update(tag_ids[c] for c in np.flatnonzero(present & known_tag).tolist())
        tag_seen = self._tag_seen
        slots = [tag_seen.get(t) if e is not None else None for t, e in zip(tag_ids, entries, strict=True)]
        is_known = known_tag.tolist()
        for code, stamp, charge in zip(tag_codes.tolist(), ts.tolist(), battery.tolist(), strict=True):
            seen = slots[code]
            if seen is None:
                if not is_known[code]:
                    continue
                seen = slots[code] = tag_seen[tag_ids[code]] = [stamp, charge if charge >= 0 else None]
            elif stamp >= seen[0]:
                seen[0] = stamp
                if charge >= 0:
                    seen[1] = charge
        repeated = late = not_bound = 0
        located = ts >= since[tag_codes]
        check = dated[tag_codes] & ~located
        if check.any():
            for i in np.flatnonzero(check).tolist():
                entry, stamp = entries[int(tag_codes[i])], float(ts[i])
                if entry.asset_at(stamp) is not None:
                    located[i] = True
                elif stamp < entry.bound_until:
                    not_bound += 1
        if located.any():
            stats = self.engine.stats
            duplicates_before, late_before = stats.duplicates, stats.late
            if located.all():
                self.engine.push_columns(gateway_ids, gw_codes, tag_ids, tag_codes, rssi, ts)
            else:
                self.engine.push_columns(
                    gateway_ids, gw_codes[located], tag_ids, tag_codes[located], rssi[located], ts[located]
                )
            repeated = stats.duplicates - duplicates_before
            late = stats.late - late_before
        if inactive:
            self.dropped_inactive += inactive
        return IngestResult(
            gateway_id=gateway_ids[int(columns.gw[0])],
            accepted=n - inactive - repeated,
            rejected=[],
            duplicates=repeated,
            unknown_tags=unknown,
            late=late,
            inactive_gateway=inactive,
            not_bound=not_bound,
        )

    def _take(self, sightings, *, gateway_id: str | None, heard_at: float | None) -> IngestResult:
        tags = self._tags
        known_gateways = self._index.receiver_pk
        missing = {s.tag_id for s in sightings if s.tag_id not in tags}
        if missing:
            self._lookup_tags(missing)
        tag_seen = self._tag_seen
        touched = self._touched_tags.add
        gateway_heard = self._gateway_heard
        located = []
        unknown = inactive = not_bound = 0
        newest: dict[str, float] = {}
        for sighting in sightings:
            gateway = sighting.gateway_id
            ts = sighting.ts
            if gateway not in known_gateways:
                inactive += 1
                continue
            if ts > newest.get(gateway, -math.inf):
                newest[gateway] = ts
            tag_id = sighting.tag_id
            entry = tags.get(tag_id)
            if entry is None:
                unknown += 1
                continue
            touched(tag_id)
            seen = tag_seen.get(tag_id)
            if seen is None:
                tag_seen[tag_id] = [ts, sighting.battery]
            elif ts >= seen[0]:
                seen[0] = ts
                if sighting.battery is not None:
                    seen[1] = sighting.battery
            # Located when its tag was on an asset at that time (TagBinding): never on the asset it is on now
            # for a time before it was bound to it.
            if (entry.asset_id is not None and ts >= entry.since) or (entry.past and entry.asset_at(ts) is not None):
                located.append(sighting)
            elif ts < entry.bound_until:
                not_bound += 1
        repeated = late = 0
        if located:
            stats = self.engine.stats
            duplicates_before, late_before = stats.duplicates, stats.late
            self.engine.push(located)
            repeated = stats.duplicates - duplicates_before
            late = stats.late - late_before
        if gateway_id is not None and gateway_id in known_gateways and gateway_id not in newest and heard_at:
            newest[gateway_id] = heard_at  # a batch with nothing in it still says the gateway is alive
        for gateway, heard in newest.items():
            if heard > gateway_heard.get(gateway, -math.inf):
                gateway_heard[gateway] = heard
        if inactive:
            self.dropped_inactive += inactive
        return IngestResult(
            gateway_id=gateway_id or (sightings[0].gateway_id if sightings else ""),
            accepted=len(sightings) - inactive - repeated,  # late ones included: they still count as seen
            rejected=[],
            duplicates=repeated,
            unknown_tags=unknown,
            late=late,
            inactive_gateway=inactive,
            not_bound=not_bound,
        )

    # ----------------------------------------------------------------- process

    def process(self, watermark: float | datetime | None = None, *, write_all: bool = False) -> ProcessResult:
        """Persist what the engine can decide by ``watermark`` (event time, typically the newest batch's
        time; the engine keeps windows open for its allowed lateness behind it). None closes every window
        and writes everything held back (``write_all``): last_seen, battery, last_heard."""
        if isinstance(watermark, datetime):
            watermark = watermark.timestamp()
        with self._lock:
            return self._process_locked(watermark, write_all=write_all or watermark is None)

    def is_live(self, wall_now: float) -> bool:
        """The newest sighting is recent (a live stream, not a backlog or a recording)."""
        newest = self.engine.watermark
        return newest is not None and newest >= wall_now - LIVE_HORIZON_S

    def process_idle(self, wall_now: float | None = None, *, lag_s: float | None = None) -> ProcessResult:
        """The queue is idle: commit the windows that closed by the wall clock, so a tag or a whole site that
        goes quiet is committed within seconds (``INGEST_IDLE_FLUSH_LAG_SECONDS`` after its last ping, which
        leaves the slower gateways' copies time to arrive). Uses the engine's ``flush_idle`` when it has one."""
        wall_now = time.time() if wall_now is None else wall_now
        if lag_s is None:
            lag_s = settings.INGEST_IDLE_FLUSH_LAG_SECONDS
        with self._lock:
            engine_max = self.engine.watermark
            if engine_max is None:
                return ProcessResult()
            config = self.engine.config
            flush_idle = getattr(self.engine, "flush_idle", None)
            if flush_idle is not None and engine_max >= wall_now - LIVE_HORIZON_S:
                return self._process_locked(None, estimates=flush_idle(wall_now))
            if engine_max < wall_now - LIVE_HORIZON_S:
                # Not a live stream (a backlog of old batches, a recorded file through the queue): event time
                # alone decides, as on the busy path; the wall clock would make the rest of it late.
                watermark = min(engine_max, wall_now)
            else:
                # flush(W) closes the windows that end by W - allowed_lateness: those older than wall_now -
                # lag_s. Never past the newest sighting's last window (nothing is open beyond it), never
                # behind the event-time watermark the busy path would use.
                watermark = wall_now - lag_s + config.allowed_lateness_s
                watermark = min(watermark, engine_max + config.window_max_s + config.allowed_lateness_s + 1e-6)
                watermark = max(watermark, min(engine_max, wall_now))
            result = self._process_locked(watermark)
            result.closed_up_to = watermark - self.engine.config.allowed_lateness_s
            return result

    def write_held(self) -> ProcessResult:
        """Write everything held back (last_seen, battery, last_heard) now: a graceful stop."""
        with self._lock:
            return self._persist([], write_all=True)

    def tick(self, now: float | None = None) -> ProcessResult:
        """For live fronts, about once a second: process up to the wall clock."""
        return self.process(time.time() if now is None else now)

    def _process_locked(
        self, watermark: float | None, *, write_all: bool = False, estimates: list | None = None
    ) -> ProcessResult:
        if estimates is None:
            if write_all and watermark is not None:
                self.engine.release()  # all its input is in: the first minute need not wait for its clock estimate
            estimates = self.engine.flush(watermark)
        self._store_engine_estimates(final=watermark is None or write_all)
        if watermark is not None:
            self._last_processed_watermark = max(self._last_processed_watermark, watermark)
        if not estimates and not self._tag_seen and not self._gateway_heard and not self._held:
            return ProcessResult()
        return self._persist(estimates, write_all=write_all)

    def _store_engine_estimates(self, *, final: bool) -> None:
        """Persist the engine's per-gateway clock offsets and calibrations when they changed, at most
        every ENGINE_ESTIMATES_EVERY_S of wall time (and at the end of a replay)."""
        stats = self.engine.stats
        if stats.radio_fit_updates != self._radio_fit_logged:
            self._radio_fit_logged = stats.radio_fit_updates
            exponent, wall_db = self.engine.radio_fit
            logger.info("the site's radio, learnt: path-loss exponent %.2f, %.1f dB per wall", exponent, wall_db)
            Site.objects.filter(pk__in=self._sites).update(
                radio_path_loss_exponent=exponent, radio_wall_loss_db=wall_db
            )
        if stats.floor_updates != self._floors_logged:
            self._floors_logged = stats.floor_updates
            floors = Counter(c.floor_dbm for c in self.engine.gateway_clocks().values() if c.floor_dbm is not None)
            logger.info(
                "receivers' detection floors, learnt: %s",
                ", ".join(f"{n} report nothing below {floor:g} dBm" for floor, n in sorted(floors.items())) or "none",
            )
        clocks, calibrations, floors_stored, stored_at = self._estimates_stored
        if (stats.clock_updates, stats.calibration_updates, stats.floor_updates) == (
            clocks,
            calibrations,
            floors_stored,
        ):
            return
        now = time.monotonic()
        if not final and now - stored_at < ENGINE_ESTIMATES_EVERY_S:
            return

        built_with = {r.gateway_id: r.rssi_at_1m for r in self.plan.receivers}
        # An engine that did not resume (a worker rebuilt to replay) leaves the stored calibrations and floors
        # alone until it has learnt its own: a restart meanwhile still finds them.
        receivers_store_engine_estimates(
            self.engine.gateway_clocks(),
            now=datetime.now(UTC),
            rssi_at_1m=built_with,
            calibrations=self.resume_learnt or stats.calibration_updates > 0,
            floors=self.resume_learnt or stats.floor_updates > 0,
        )
        self._estimates_stored = (stats.clock_updates, stats.calibration_updates, stats.floor_updates, now)

    def _due(self, ts: float, written: float) -> bool:
        return ts - written >= self.seen_write_s

    def _persist(self, estimates: list[LocationEstimate], *, write_all: bool) -> ProcessResult:
        """One transaction: room changes at once; last_seen, battery and last_heard coalesced (at most once per
        LOCATION_SEEN_WRITE_SECONDS of event time per asset, tag and receiver); the outbox row for lifecycle.

        Only the assets that need a write are locked and read: a room different from the one this pipeline
        last committed (or read), or a held-back last_seen that is due. Everything else is held in memory
        (``_held``) and written when due, on ``process(None)`` or on a graceful stop. A crash loses at most
        that much last_seen (freshness is judged over minutes); never a room change."""
        result = ProcessResult(estimates=len(estimates))
        tags = self._tags
        rows = self._rows
        held = self._held
        # Only what was heard since the last commit can have become due; every LOCATION_SEEN_WRITE_SECONDS
        # (wall clock) a sweep writes whatever is still held, so a tag that falls silent gets its last
        # sighting written within that period too.
        if not write_all and time.monotonic() - self._swept_at >= self.seen_write_s:
            write_all = True
        if write_all:
            self._swept_at = time.monotonic()
        touched_tags = self._tag_seen.keys() if write_all else self._touched_tags & self._tag_seen.keys()
        touched_assets: set[int] = set()
        for estimate in estimates:
            entry = tags.get(estimate.tag_id)
            if entry is None:
                continue
            # The asset the tag was on at the estimate's time (TagBinding), not the one it is on now.
            asset_id = entry.asset_id
            if asset_id is None or estimate.ts < entry.since:
                asset_id = entry.asset_at(estimate.ts)
                if asset_id is None:
                    result.not_bound += 1
                    continue
            held.setdefault(asset_id, []).append(estimate)
            touched_assets.add(asset_id)
        for tag_id in touched_tags:
            entry = tags.get(tag_id)
            if entry is not None:
                ts = self._tag_seen[tag_id][0]
                asset_id = entry.asset_id if entry.asset_id is not None and ts >= entry.since else entry.asset_at(ts)
                if asset_id is None:
                    continue
                touched_assets.add(asset_id)
                if ts > self._asset_seen.get(asset_id, -math.inf):
                    self._asset_seen[asset_id] = ts
        if write_all:
            touched_assets = set(held) | set(self._asset_seen)
        self._touched_tags = set()

        write: list[int] = []
        for asset_id in touched_assets:
            row = rows.get(asset_id)
            if row is None or write_all:
                write.append(asset_id)
                continue
            located_at = _epoch(row.located_at)
            pending = held.get(asset_id, ())
            if any(e.room_id != row.current_room_id and e.ts > located_at for e in pending):
                write.append(asset_id)
                continue
            newest = max([self._asset_seen.get(asset_id, -math.inf)] + [e.ts for e in pending])
            if self._due(newest, _epoch(row.last_seen)):
                write.append(asset_id)
            elif len(pending) > 1:
                held[asset_id] = [max(pending, key=lambda e: e.ts)]  # only the newest is needed later
        write.sort()

        reports: list[TagReport] = []
        moves: dict[int, list[dict]] = defaultdict(list)
        tag_rows, tag_done = [], []
        for tag_id in list(touched_tags):
            ts, battery = self._tag_seen[tag_id]
            entry = tags.get(tag_id)
            if entry is None:
                tag_done.append(tag_id)
                continue
            if not (write_all or entry.written == -math.inf or self._due(ts, entry.written)):
                continue
            tag_done.append(tag_id)
            if ts > entry.last_seen or (battery is not None and battery != entry.battery and ts >= entry.last_seen):
                tag_rows.append((entry, max(ts, entry.last_seen), battery if battery is not None else entry.battery))
            reading = battery if battery is not None else entry.battery
            reports.append(
                TagReport(tag_id=tag_id, asset_id=entry.asset_at(ts), battery_percent=reading, at=to_datetime(ts))
            )
        receiver_rows, gateway_done = [], []
        heard_cache = self._index.receiver_heard
        for gateway_id, heard in self._gateway_heard.items():
            written = heard_cache.get(gateway_id, -math.inf)
            if heard <= written:
                gateway_done.append(gateway_id)
            elif write_all or written == -math.inf or self._due(heard, written):
                gateway_done.append(gateway_id)
                receiver_rows.append((gateway_id, heard))
        if not write and not tag_rows and not receiver_rows and not reports:
            for tag_id in tag_done:
                self._tag_seen.pop(tag_id, None)
            for gateway_id in gateway_done:
                self._gateway_heard.pop(gateway_id, None)
            return result

        group = self._group
        with transaction.atomic() if group is None else nullcontext():
            # In a group (replay), an asset read (and locked) earlier in the group is not read again: its row
            # is the one this group changed, whose writes are still pending.
            need = write if group is None else [pk for pk in write if pk not in group.assets]
            assets = (
                [
                    _AssetRow(*row)
                    for row in Asset.objects.select_for_update()
                    .filter(pk__in=need)
                    .order_by("pk")
                    .values_list("pk", "asset_tag", *_LOCATION_FIELDS)
                ]
                if need
                else []
            )
            if group is not None:
                group.assets.update((asset.pk, asset) for asset in assets)
                assets = [group.assets[pk] for pk in write if pk in group.assets]
            updated: list[_AssetRow] = []
            changed_fields: set[str] = set()
            closing: dict[int, datetime] = {}
            new_intervals: list[RoomInterval] = []
            for asset in assets:
                changed = self._apply(asset, held.get(asset.pk, ()), self._asset_seen.get(asset.pk), result, moves)
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
            row = outbox_row(changes=result.room_changes, reports=reports, now=timezone.now())
            writes = _PendingWrites() if group is None else group
            writes.add(updated, changed_fields, closing, new_intervals, tag_rows, receiver_rows, row, self._index)
            if group is None:
                writes.write()
            result.assets_updated = len(updated)
            result.intervals_created = len(new_intervals)
            result.tags_updated = len(tag_rows)
            result.receivers_updated = len(receiver_rows)
            notify = self.notify
            transaction.on_commit(lambda: _announce(moves if notify else {}, outbox=row is not None))

        # Committed: the caches now hold what the database holds.
        for asset in assets:
            rows[asset.pk] = asset
            held.pop(asset.pk, None)
            self._asset_seen.pop(asset.pk, None)
        for entry, ts, battery in tag_rows:
            entry.last_seen, entry.battery = ts, battery
        for tag_id in tag_done:
            entry = tags.get(tag_id)
            if entry is not None:
                entry.written = max(entry.written, self._tag_seen[tag_id][0])
            self._tag_seen.pop(tag_id, None)
        for gateway_id, heard in receiver_rows:
            heard_cache[gateway_id] = heard
        for gateway_id in gateway_done:
            self._gateway_heard.pop(gateway_id, None)
        return result

    # ----------------------------------------------------------------- grouped commits (replay)

    @contextmanager
    def grouped_commits(self) -> Iterator[None]:
        """Replay: every ``process`` inside runs in ONE transaction, and its writes are sent in bulk at the end
        (the assets' location columns, the room intervals, the tags, the receivers, the outbox rows, in the
        order and with the values the flushes one by one would have written: the same rows). Nobody watches a
        replay live, so its room changes need not be committed flush by flush. An error inside rolls the
        whole group back (nothing of it is written; the pipeline's caches then no longer match the database,
        so the pipeline must not be used further). The floor maps and the outbox consumer are told at the
        commit."""
        with self._lock, transaction.atomic():
            if self._group is not None:
                raise RuntimeError("a group of commits is already open")
            self._group = _PendingWrites()
            try:
                yield
                self._write_pending()
            finally:
                self._group = None

    def _write_pending(self) -> None:
        """Send a group's pending writes now (still in its transaction), before anything reads the database."""
        if self._group is not None:
            self._group.write()
            self._group = _PendingWrites()

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
                # The map shows the location status from these (locations/freshness.py), not its own rule.
                **_freshness(values["located_at"], self._index.room_type.get(last.room_id)),
            }
            moves[floor_id].append(event)
            old_floor = self._index.room_floor.get(old_room) if old_room is not None else None
            if old_floor is not None and old_floor != floor_id:
                moves[old_floor].append(event)  # so the old floor's map drops it
        return fields, changes


def _freshness(seen: datetime, room_type: str | None) -> dict:
    stale_at, missing_at = freshness.status_changes(last_seen=seen, room_type=room_type)
    return {
        "status": freshness.location_status(last_seen=seen, room_type=room_type),
        "stale_at": stale_at.isoformat() if stale_at else None,
        "missing_at": missing_at.isoformat() if missing_at else None,
    }


def _announce(moves: dict[int, list[dict]], *, outbox: bool) -> None:
    """Right after the commit: the floor maps first (one message per floor), then wake the outbox consumer
    (room-type rules, alerts and webhooks run there, off this thread)."""
    for floor_id, assets in moves.items():
        live.notify_floor(floor_id, {"kind": "asset.moved", "floor_id": floor_id, "assets": assets})
    if outbox:
        location_outbox.wake()


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
    not_bound: int = 0  # sightings of a tag stamped when it was on no asset (bound only later): placed nowhere
    not_bound_estimates: int = 0  # estimates of such a time (a window across the binding's start): written nowhere
    room_changes: int = 0
    skipped_estimates: int = 0
    outbox_applied: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    # The engine's own drops by reason at the end (engine.stats.drops(): duplicate, late, ...).
    engine_drops: dict[str, int] = field(default_factory=dict)
    radio_fit: tuple[float, float] | None = None  # the site's path-loss exponent and dB per wall, learnt
    seconds: float = 0.0

    @property
    def sightings_per_second(self) -> float:
        return self.sightings / self.seconds if self.seconds > 0 else 0.0


def _reason_kind(reason: str) -> str:
    """'rssi -130 is outside -120..0' -> 'rssi ... is outside -120..0', to count rejections by kind."""
    words = reason.split()
    return " ".join(word if not any(ch.isdigit() for ch in word) or word == "-120..0" else "…" for word in words)


# Replay feeds the engine consecutive bodies together, up to this many sightings or this much event time:
# small gateway batches (~12 sightings) would otherwise pay the per-call cost on every line.
REPLAY_GROUP_SIGHTINGS = 4000
REPLAY_GROUP_SPAN_S = 1.0
# The reader process sends its steps to the pipeline in messages of about this many lines.
READER_MESSAGE_LINES = 400
READER_QUEUE_MESSAGES = 64  # how far (in messages) the reader may run ahead of the pipeline


@dataclass(slots=True)
class SightingColumns:
    """Validated sightings column by column, in arrival order: sighting i is gateway
    ``gateway_ids[gw[i]]``, tag ``tag_ids[tag[i]]`` (both lists in order of first appearance),
    ``rssi[i]``, ``ts[i]`` and ``battery[i]`` (-1: none). Cheap to send between processes."""

    gateway_ids: list[str]
    gw: np.ndarray  # int32 codes into gateway_ids
    tag_ids: list[str]
    tag: np.ndarray  # int32 codes into tag_ids
    rssi: np.ndarray  # float64
    ts: np.ndarray  # float64
    battery: np.ndarray  # int16, -1 when the gateway gave none

    def __len__(self) -> int:
        return len(self.ts)

    def sightings(self) -> list[Sighting]:
        """The same sightings as objects (tests, and ``ingest_sightings``)."""
        gws, tags = self.gateway_ids, self.tag_ids
        return [
            Sighting(gws[g], tags[t], r, ts, b if b >= 0 else None)
            for g, t, r, ts, b in zip(
                self.gw.tolist(),
                self.tag.tolist(),
                self.rssi.tolist(),
                self.ts.tolist(),
                self.battery.tolist(),
                strict=True,
            )
        ]


@dataclass(slots=True)
class ReaderCounts:
    """What the reader (decode + validation) counted: lines, good bodies, their items, the items it
    rejected (by reason) and the repeats within a body."""

    lines: int = 0
    batches: int = 0
    sightings: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejection_reasons: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> ReaderCounts:
        return ReaderCounts(
            self.lines, self.batches, self.sightings, self.duplicates, self.rejected, dict(self.rejection_reasons)
        )


class ReplayReaderError(RuntimeError):
    """The reader process of a replay failed (its traceback is in the message) or died."""


class _Group:
    """The validated sightings of consecutive bodies, gathered for one push into the engine."""

    __slots__ = ("gateways", "tags", "gw", "tag", "rssi", "ts", "battery", "low")

    def __init__(self) -> None:
        self.gateways: dict[str, int] = {}
        self.tags: dict[str, int] = {}
        self.gw: list[int] = []
        self.tag: list[int] = []
        self.rssi: list[float] = []
        self.ts: list[float] = []
        self.battery: list[int] = []
        self.low = math.inf

    def add(self, gateway: str, tags: list[str], rssi: list[float], ts: list[float], battery: list) -> None:
        gateways = self.gateways
        code = gateways.get(gateway)
        if code is None:
            code = gateways[gateway] = len(gateways)
        self.gw.extend([code] * len(tags))
        codes = self.tags
        self.tag.extend([codes.setdefault(t, len(codes)) for t in tags])
        self.rssi.extend(rssi)
        self.ts.extend(ts)
        self.battery.extend([-1 if b is None else b for b in battery])

    def columns(self) -> SightingColumns:
        return SightingColumns(
            gateway_ids=list(self.gateways),
            gw=np.array(self.gw, dtype=np.int32),
            tag_ids=list(self.tags),
            tag=np.array(self.tag, dtype=np.int32),
            rssi=np.array(self.rssi, dtype=np.float64),
            ts=np.array(self.ts, dtype=np.float64),
            battery=np.array(self.battery, dtype=np.int16),
        )


def replay_steps(
    lines: Iterable[str | bytes],
    *,
    known_gateways: frozenset[str],
    flush_every_s: float,
    progress_every: int,
    counts: ReaderCounts,
    max_future_s: float | None = None,
):
    """The reader's half of a replay, with no database and no engine: decode and validate each line once
    (``codec``), gather the good sightings of consecutive bodies, and yield the pipeline's steps in order:

    - ("ingest", SightingColumns): push these sightings (``LocationPipeline.ingest_columns``);
    - ("heard", gateway_id, time): a known gateway's body with nothing accepted still says it is alive;
    - ("process", time): close the windows and write, up to this event time;
    - ("bad", line number, problem): a malformed line, skipped;
    - ("progress", ReaderCounts): the counts so far, every ``progress_every`` lines.

    Every step depends only on the file (and the known gateways), never on the pipeline's state, so the
    reader can run in another process and the history is the same. ``counts`` is kept up to date.
    """
    if max_future_s is None:
        max_future_s = settings.INGEST_MAX_FUTURE_SECONDS
    last_flush = -math.inf
    group = _Group()
    reasons = counts.rejection_reasons
    failures = 0
    for number, raw in enumerate(lines, start=1):
        counts.lines = number
        problem = None
        batch = None
        if number == 1 and raw[:1] in (b"\xef", "\ufeff"):
            raw = raw.removeprefix(b"\xef\xbb\xbf") if isinstance(raw, bytes) else raw.removeprefix("\ufeff")  # a BOM
        try:
            body = decode_body(raw)
        except (ValueError, RecursionError) as exc:
            body = None
            if raw.strip():
                problem = _not_json(raw, exc)
        except Exception as exc:
            problem, body = _unexpected(number, exc, failures), None
            failures += 1
        if body is not None:
            try:
                now = body_time(body)
                batch, tags, rssi, stamps, battery = validate_columns(
                    body,
                    known_gateways=known_gateways,
                    now=now if now is not None else time.time(),
                    max_future_s=max_future_s,
                )
                size = body_size(body)
            except BatchError as exc:
                problem = str(exc)
            except Exception as exc:  # a bug on one line: that line is bad, the rest of the file goes on
                problem = _unexpected(number, exc, failures)
                failures += 1
            if batch is not None and problem is None:
                counts.batches += 1
                counts.sightings += size
                counts.duplicates += batch.duplicates
                if batch.rejected:
                    counts.rejected += len(batch.rejected)
                    for rejection in batch.rejected:
                        kind = _reason_kind(rejection.reason)
                        reasons[kind] = reasons.get(kind, 0) + 1
                if stamps:
                    low = min(stamps)
                    if group.ts and (
                        len(group.ts) >= REPLAY_GROUP_SIGHTINGS or abs(low - group.low) > REPLAY_GROUP_SPAN_S
                    ):
                        yield ("ingest", group.columns())
                        group = _Group()
                    group.add(batch.gateway_id, tags, rssi, stamps, battery)
                    group.low = min(group.low, low)
                elif batch.gateway_id in known_gateways:
                    heard = batch.sent_at or now
                    if heard:
                        yield ("heard", batch.gateway_id, heard)
                if now is not None and now - last_flush >= flush_every_s:
                    if group.ts:
                        yield ("ingest", group.columns())
                        group = _Group()
                    yield ("process", now)
                    last_flush = now
        if problem is not None:
            yield ("bad", number, problem)
        if number % progress_every == 0:
            yield ("progress", counts.snapshot())
    if group.ts:
        yield ("ingest", group.columns())


def _not_json(raw: str | bytes, exc: Exception) -> str:
    if isinstance(raw, bytes):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            return f"not UTF-8 text (byte {bad.start + 1} of the line is {raw[bad.start : bad.start + 1]!r})"
    return f"not valid JSON ({exc})"


# Tracebacks of unexpected errors logged per replay (the lines themselves are all reported as bad).
_UNEXPECTED_LOGGED = 5


def _unexpected(number: int, exc: Exception, failures: int) -> str:
    """An error no rule words (a bug): the line is reported as bad with it, and the first few are logged in full."""
    if failures < _UNEXPECTED_LOGGED:
        logger.error("replay: line %d could not be read", number, exc_info=exc)
    return f"could not be read ({type(exc).__name__}: {str(exc)[:200]})"


def validate_columns(body, *, known_gateways, now: float, max_future_s: float):
    """``codec.validate_decoded`` with the accepted sightings as columns (tag ids, rssi, ts, battery)."""
    if isinstance(body, _TypedBody):
        return _validate_typed_columns(body, known_gateways=known_gateways, now=now, max_future_s=max_future_s)
    batch = validate_decoded(body, known_gateways=known_gateways, now=now, max_future_s=max_future_s)
    accepted, batch.accepted = batch.accepted, []
    return (
        batch,
        [s.tag_id for s in accepted],
        [s.rssi for s in accepted],
        [s.ts for s in accepted],
        [s.battery for s in accepted],
    )


def _reader_main(conn, lines, known_gateways, flush_every_s, progress_every, max_future_s) -> None:
    """The reader process: run replay_steps, send the steps in messages; ("end", counts) or ("error", ...).

    A thread sends the messages from a queue of up to READER_QUEUE_MESSAGES, so the reader keeps reading
    while the pipeline is busy with a flush and its writes (a pipe alone holds about one message)."""
    outbox: queue.Queue = queue.Queue(maxsize=READER_QUEUE_MESSAGES)
    broken = threading.Event()

    def sender() -> None:
        while True:
            message = outbox.get()
            if message is None:
                return
            try:
                conn.send(message)
            except Exception:  # the pipeline's process stopped reading (or a step would not pickle): stop
                broken.set()
                return

    thread = threading.Thread(target=sender, name="replay-reader-sender", daemon=True)
    thread.start()

    def put(message: list) -> None:
        while not broken.is_set():
            try:
                outbox.put(message, timeout=1.0)
                return
            except queue.Full:
                continue

    try:
        counts = ReaderCounts()
        message: list = []
        lines_at = 0
        for step in replay_steps(
            lines,
            known_gateways=known_gateways,
            flush_every_s=flush_every_s,
            progress_every=progress_every,
            counts=counts,
            max_future_s=max_future_s,
        ):
            message.append(step)
            if counts.lines - lines_at >= READER_MESSAGE_LINES:
                put(message)
                message, lines_at = [], counts.lines
                if broken.is_set():
                    return
        message.append(("end", counts))
        put(message)
    except BaseException as exc:  # everything goes back to the pipeline's process, which raises it
        put([("error", exc if isinstance(exc, UnicodeDecodeError) else None, traceback.format_exc())])
    finally:
        put(None)
        thread.join()
        conn.close()


class ReaderProcess:
    """``replay_steps`` run in a second process (forked at construction, so it can start reading while this
    process builds its pipeline): the same steps, in the same order, while this process pushes, estimates
    and writes. ``steps(counts)`` yields them; an error there is raised here (a UnicodeDecodeError as
    itself, anything else as ReplayReaderError with the reader's traceback), and a reader that dies raises
    ReplayReaderError. ``close()`` stops it (``replay_lines`` does, however it ends)."""

    def __init__(self, lines, *, known_gateways: frozenset[str], flush_every_s: float, progress_every: int):
        self.known_gateways = frozenset(known_gateways)
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_reader_main,
            args=(
                send,
                lines,
                self.known_gateways,
                flush_every_s,
                progress_every,
                settings.INGEST_MAX_FUTURE_SECONDS,
            ),
            name="replay-reader",
            daemon=True,
        )
        self._process.start()
        send.close()

    def steps(self, counts: ReaderCounts):
        receive, reader = self._receive, self._process
        try:
            while True:
                try:
                    message = receive.recv()
                except EOFError:
                    reader.join(timeout=5)
                    raise ReplayReaderError(
                        f"the replay's reader process exited (code {reader.exitcode}) before the end of the file"
                    ) from None
                for step in message:
                    kind = step[0]
                    if kind == "end":
                        _copy_counts(step[1], counts)
                        return
                    if kind == "error":
                        if step[1] is not None:
                            raise step[1]
                        raise ReplayReaderError(f"the replay's reader process failed:\n{step[2]}")
                    if kind == "progress":
                        _copy_counts(step[1], counts)
                    yield step
        finally:
            self.close()

    def close(self) -> None:
        self._receive.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


def _copy_counts(source: ReaderCounts, target: ReaderCounts) -> None:
    target.lines, target.batches, target.sightings = source.lines, source.batches, source.sightings
    target.duplicates, target.rejected = source.duplicates, source.rejected
    target.rejection_reasons = source.rejection_reasons


def _steps_from_reader_process(lines, *, known_gateways, flush_every_s, progress_every, counts: ReaderCounts):
    """replay_steps run in a ReaderProcess."""
    reader = ReaderProcess(
        lines, known_gateways=known_gateways, flush_every_s=flush_every_s, progress_every=progress_every
    )
    return reader.steps(counts)


def active_gateways() -> frozenset[str]:
    """The gateway ids of the active receivers: a pipeline's ``known_gateways``, without building one."""
    return frozenset(Receiver.objects.filter(active=True).values_list("gateway_id", flat=True))


def replay_lines(
    lines: Iterable[str | bytes],
    *,
    pipeline: LocationPipeline,
    flush_every_s: float = 5.0,
    progress: Callable[[ReplayResult], None] | None = None,
    progress_every: int = 10_000,
    on_bad_line: Callable[[int, str], None] | None = None,
    drain_outbox: bool = True,
    reader_process: bool | ReaderProcess = False,
    commit_every_s: float = REPLAY_COMMIT_EVERY_S,
) -> ReplayResult:
    """Feed recorded gateway bodies (one JSON object per line) through the pipeline, on event time.

    The same validate-once path as every front: each line is decoded (typed, msgspec) and validated once,
    against its own ``sent_at`` (or its newest ``ts``), so an old file replays; the good sightings go to the
    engine without further parsing, a few consecutive lines at a time. Windows are closed every
    ``flush_every_s`` of event time, so the same file gives the same history however fast the machine is.
    A malformed line is reported and skipped. The outbox rows written (rules, alerts) are applied before
    returning (``drain_outbox``).

    ``reader_process``: decode and validate in a second process (``replay_steps``, forked), pipelined with
    the engine and the writes here; the steps and their order are the same, so is the history. If the
    reader fails, the error is raised here and the end of the file is not processed (no final flush).
    A ``ReaderProcess`` already started on ``lines`` (before the pipeline was built) may be passed instead.

    ``commit_every_s``: the flushes of this much event time are committed together, in one transaction with
    bulk statements (``LocationPipeline.grouped_commits``); the rows written are those of a commit per flush
    (0: a commit per flush, as live). On an error, every group before it is committed and the group under way
    is rolled back whole; replaying the same file again then adds the rest (a replay is idempotent).
    """
    result = ResultAccumulator(ReplayResult())
    out = result.result
    started = time.perf_counter()
    with pipeline._lock:
        pipeline._refresh()
        known = pipeline.known_gateways
    counts = ReaderCounts()
    options = {"known_gateways": known, "flush_every_s": flush_every_s, "progress_every": progress_every}
    if isinstance(reader_process, ReaderProcess):
        if reader_process.known_gateways != known:
            reader_process.close()
            raise ReplayReaderError("the active receivers changed while the replay started; run it again")
        steps = reader_process.steps(counts)
    elif reader_process:
        steps = _steps_from_reader_process(lines, counts=counts, **options)
    else:
        steps = replay_steps(lines, counts=counts, **options)

    def merge(snapshot: ReaderCounts) -> None:
        out.lines, out.batches, out.sightings = snapshot.lines, snapshot.batches, snapshot.sightings
        out.rejection_reasons = dict(snapshot.rejection_reasons)

    group: ExitStack | None = None  # the open group of commits
    group_start = -math.inf
    try:
        for step in steps:
            kind = step[0]
            if kind == "ingest":
                result.add(pipeline.ingest_columns(step[1]))
            elif kind == "process":
                if group is None and commit_every_s > 0:
                    group, group_start = ExitStack(), step[1]
                    group.enter_context(pipeline.grouped_commits())
                done = pipeline.process(step[1])
                out.room_changes += len(done.room_changes)
                out.skipped_estimates += done.skipped
                out.not_bound_estimates += done.not_bound
                if group is not None and step[1] - group_start >= commit_every_s:
                    group, committing = None, group
                    committing.close()
            elif kind == "heard":
                gateway_id, heard = step[1], step[2]
                with pipeline._lock:
                    if heard > pipeline._gateway_heard.get(gateway_id, -math.inf):
                        pipeline._gateway_heard[gateway_id] = heard
            elif kind == "bad":
                out.bad_lines.append((step[1], step[2]))
                if on_bad_line:
                    on_bad_line(step[1], step[2])
            elif kind == "progress" and progress:
                snapshot = step[1]
                merge(snapshot)
                engine_duplicates, engine_rejected = out.duplicates, out.rejected
                out.duplicates += snapshot.duplicates
                out.rejected += snapshot.rejected
                out.seconds = time.perf_counter() - started
                progress(out)
                out.duplicates, out.rejected = engine_duplicates, engine_rejected
        merge(counts)
        out.duplicates += counts.duplicates
        out.rejected += counts.rejected
        if group is None and commit_every_s > 0:
            group = ExitStack()
            group.enter_context(pipeline.grouped_commits())
        done = pipeline.process(None)
        out.room_changes += len(done.room_changes)
        out.skipped_estimates += done.skipped
        out.not_bound_estimates += done.not_bound
        if group is not None:
            group, committing = None, group
            committing.close()
    except BaseException:
        if group is not None:
            group.__exit__(*sys.exc_info())  # rolls the group under way back
        raise
    out.engine_drops = pipeline.engine.stats.drops()
    out.radio_fit = pipeline.engine.radio_fit
    if drain_outbox:
        out.outbox_applied = location_outbox.drain(limit=10**9)
    out.seconds = time.perf_counter() - started
    return out


def _ts(sighting: Sighting) -> float:
    return sighting.ts


@dataclass(slots=True)
class ResultAccumulator:
    result: ReplayResult

    def add(self, outcome: IngestResult) -> None:
        r = self.result
        r.accepted += outcome.accepted
        r.duplicates += outcome.duplicates
        r.unknown_tags += outcome.unknown_tags
        r.late += outcome.late
        r.not_bound += outcome.not_bound
        if outcome.inactive_gateway:
            r.rejected += outcome.inactive_gateway


def _body_time(body) -> float | None:
    """A recorded body's own time: its sent_at, else its newest ts; None if it has neither."""
    return body_time(body)


# --------------------------------------------------------------------------- the process-wide pipeline

_default: LocationPipeline | None = None
_default_lock = threading.Lock()


def get_pipeline(*, resume_learnt: bool = True) -> LocationPipeline:
    """The in-process pipeline that the embedded ingest fronts share (built on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = LocationPipeline(resume_learnt=resume_learnt)
        return _default


def reset_pipeline() -> None:
    """Drop the in-process pipeline (tests; after a database restore). Open windows are discarded."""
    global _default
    with _default_lock:
        _default = None
