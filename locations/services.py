"""Changes to sites, floors, rooms and receivers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from shapely import STRtree
from shapely.geometry import Point

from locations.floorplans import FloorPlanSpec, parse_floorplan
from locations.geometry import find_overlaps
from locations.models import Building, Floor, Receiver, Room, Site


class FloorplanImportError(Exception):
    """The import was refused and nothing was written. ``errors`` names each feature and problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__(
            ngettext(
                "%(count)s problem in the floor plan(s); nothing was imported",
                "%(count)s problems in the floor plan(s); nothing was imported",
                len(errors),
            )
            % {"count": len(errors)}
        )


@dataclass
class ImportCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


@dataclass
class FloorplanImportResult:
    floors: list[str] = field(default_factory=list)
    rooms: ImportCounts = field(default_factory=ImportCounts)
    receivers: ImportCounts = field(default_factory=ImportCounts)


def receivers_store_engine_estimates(
    clocks, *, now, rssi_at_1m: dict[str, float] | None = None, calibrations: bool = True, floors: bool = True
) -> int:
    """Persist what the location engine learnt per gateway (``engine.gateway_clocks()``: its clock offset
    , receiver calibration and detection floor), for the admin, the API, the health detail, the
    gateway-clock alert, and the next engine (``LocationPipeline`` resumes the floors, calibrations and recent
    clock offsets).
    ``rssi_at_1m``: the values the engine was built with; a calibration learnt against another value than the
    row's (changed since) is not stored (Receiver.save). ``calibrations`` / ``floors`` False: those columns
    are left as they are (an engine that started afresh and has not learnt them yet must not blank what an
    earlier one stored). Returns how many receivers were updated."""
    rows = list(Receiver.objects.filter(gateway_id__in=list(clocks)))
    for receiver in rows:
        clock = clocks[receiver.gateway_id]
        if clock.estimated:
            receiver.clock_offset_s = clock.offset_s
            receiver.clock_pairs = clock.pairs
            # When its estimate was made (event time), not when it was stored: a gateway not estimated for
            # hours (dark, or sharing no tag with the others) must not look fresh to the next engine's resume.
            at = clock.estimated_at
            receiver.clock_estimated_at = datetime.fromtimestamp(at, tz=UTC) if at is not None else now
        current = rssi_at_1m is None or rssi_at_1m.get(receiver.gateway_id) == receiver.rssi_at_1m
        if calibrations or not current:
            receiver.calibration_db = clock.calibration_db if current else None
        if floors:
            receiver.detection_floor_dbm = clock.floor_dbm
    Receiver.objects.bulk_update(
        rows, ["clock_offset_s", "clock_pairs", "clock_estimated_at", "calibration_db", "detection_floor_dbm"]
    )
    return len(rows)


def _upsert(model, lookup: dict, values: dict):
    """Create or update one row; returns (instance, "created" | "updated" | "unchanged")."""
    instance = model.objects.filter(**lookup).first()
    if instance is None:
        return model.objects.create(**lookup, **values), "created"
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    if not changed:
        return instance, "unchanged"
    for name in changed:
        setattr(instance, name, values[name])
    instance.save()
    return instance, "updated"


def load_floorplan_files(paths: Iterable[str | Path]) -> tuple[list[tuple[str, object]], list[str]]:
    """Read GeoJSON files; a file that is not JSON is an error naming the file and the position.

    A UTF-8 byte order mark is skipped (editors on Windows write one; the asset CSV import skips it too)."""
    documents, errors = [], []
    for path in paths:
        path = Path(path)
        try:
            documents.append((path.name, json.loads(path.read_text(encoding="utf-8-sig"))))
        except FileNotFoundError:
            errors.append(_("%(file)s: file not found") % {"file": path})
        except RecursionError:
            errors.append(_("%(file)s: not valid GeoJSON: arrays or objects nested too deeply") % {"file": path.name})
        except (UnicodeDecodeError, ValueError) as exc:  # json.JSONDecodeError; a number of thousands of digits
            errors.append(_("%(file)s: not valid JSON: %(error)s") % {"file": path.name, "error": exc})
    return documents, errors


def _check_against_database(plans: list[FloorPlanSpec], floors: dict[str, Floor]) -> list[str]:
    """Problems only visible with the database: codes used on another floor, receiver ids of a gateway on a floor
    this import does not touch, overlaps with rooms kept there."""
    errors = []
    tolerance = settings.ROOM_OVERLAP_TOLERANCE_M2
    for plan in plans:
        floor = floors[plan.source]
        codes = [room.code for room in plan.rooms]
        elsewhere = Room.objects.filter(site_id=floor.building.site_id, code__in=codes).exclude(floor=floor)
        by_code = {room.code: room for room in plan.rooms}
        for room in elsewhere.select_related("floor__building"):
            errors.append(
                _(
                    "%(file)s: %(feature)s: room code %(code)s already exists on %(floor)s; room codes are unique "
                    "per site"
                )
                % {"file": plan.source, "feature": by_code[room.code].label, "code": room.code, "floor": room.floor}
            )
        # A gateway is moved to another floor only when its current floor is imported too (its plan no
        # longer lists it): a plan of one floor naming a live gateway of another is a mistake, not a move.
        imported = [f.pk for f in floors.values()]
        gateways = {receiver.gateway_id: receiver for receiver in plan.receivers}
        moved = Receiver.objects.filter(gateway_id__in=list(gateways)).exclude(floor_id__in=imported)
        for receiver in moved.select_related("floor__building__site").order_by("gateway_id"):
            errors.append(
                _(
                    "%(file)s: %(feature)s: receiver id %(id)s is already on %(floor)s (site %(site)s); import that "
                    "floor's plan without it in the same run to move it, or use another id"
                )
                % {
                    "file": plan.source,
                    "feature": gateways[receiver.gateway_id].label,
                    "id": receiver.gateway_id,
                    "floor": receiver.floor,
                    "site": receiver.floor.building.site.code,
                }
            )
        kept = [(r.code, r.shape()) for r in Room.objects.filter(floor=floor).exclude(code__in=codes)]
        if kept:
            incoming = [(r.code, r.shape) for r in plan.rooms]
            kept_codes = {code for code, _ in kept}
            for overlap in find_overlaps(incoming + kept, tolerance_m2=tolerance):
                if (overlap.first in kept_codes) != (overlap.second in kept_codes):
                    new, old = (
                        (overlap.second, overlap.first)
                        if overlap.first in kept_codes
                        else (overlap.first, overlap.second)
                    )
                    errors.append(
                        _("%(file)s: %(feature)s overlaps existing room %(room)s by %(area)s m²")
                        % {
                            "file": plan.source,
                            "feature": by_code[new].label,
                            "room": old,
                            "area": f"{overlap.area_m2:.2f}",
                        }
                    )
    return errors


def _seen_twice_across_files(plans: list[FloorPlanSpec]) -> list[str]:
    errors, rooms, receivers, floors = [], {}, {}, {}
    for plan in plans:
        for room in plan.rooms:
            key = (plan.site_code, room.code)
            if key in rooms:
                errors.append(
                    _("%(file)s: %(feature)s: room code %(code)s is also in %(other)s")
                    % {"file": plan.source, "feature": room.label, "code": room.code, "other": rooms[key]}
                )
            rooms.setdefault(key, plan.source)
        for receiver in plan.receivers:
            if receiver.gateway_id in receivers:
                errors.append(
                    _("%(file)s: %(feature)s: receiver id %(id)s is also in %(other)s")
                    % {
                        "file": plan.source,
                        "feature": receiver.label,
                        "id": receiver.gateway_id,
                        "other": receivers[receiver.gateway_id],
                    }
                )
            receivers.setdefault(receiver.gateway_id, plan.source)
        floor_key = (plan.site_code, plan.building_code, plan.floor_code)
        if floor_key in floors:
            errors.append(
                _("%(file)s: floor %(floor)s of %(building)s is also in %(other)s")
                % {
                    "file": plan.source,
                    "floor": plan.floor_code,
                    "building": plan.building_name,
                    "other": floors[floor_key],
                }
            )
        floors.setdefault(floor_key, plan.source)
    return errors


# Two imports at once (two administrators, or the command and the admin): the second waits for the first, then
# upserts over what it wrote, instead of failing on a unique code. PostgreSQL: a lock held until the
# transaction ends; SQLite (development) lets one writer at a time anyway.
_IMPORT_LOCK_KEY = int.from_bytes(hashlib.sha256(b"locations.floorplan_import").digest()[:8], "big", signed=True)


def _one_import_at_a_time() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK_KEY])


def _room_containing(point: Point, tree: STRtree, rooms: list[Room]) -> Room | None:
    for index in tree.query(point, predicate="intersects").tolist():
        return rooms[index]
    return None


@transaction.atomic
def floorplan_import(
    *,
    documents: list[tuple[str, object]],
    progress: Callable[[str], None] | None = None,
    dry_run: bool = False,
) -> FloorplanImportResult:
    """Upsert floors, rooms (by code) and receivers (by id) from parsed GeoJSON documents.

    All or nothing: any problem in any document raises FloorplanImportError and writes nothing.
    Re-importing the same files changes nothing. ``dry_run=True`` does all of it, then rolls back and
    returns the counts (the admin's preview).
    """
    tolerance = settings.ROOM_OVERLAP_TOLERANCE_M2
    plans, errors = [], []
    for source, document in documents:
        plan, problems = parse_floorplan(document, source=source, tolerance_m2=tolerance)
        errors.extend(problems)
        if plan is not None:
            plans.append(plan)
    errors.extend(_seen_twice_across_files(plans))
    if errors:
        raise FloorplanImportError(errors)

    _one_import_at_a_time()
    try:
        result = _floorplans_write(plans, progress)
    except (DatabaseError, OverflowError) as exc:
        # The checks above should leave nothing for the database to refuse; if it does (a concurrent change,
        # say), the files are named and the transaction rolls back.
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FloorplanImportError(
            [
                _(
                    "%(files)s: the database refused the import (%(error)s): another import or edit may have "
                    "changed the same sites, floors, rooms or receivers meanwhile; run the import again"
                )
                % {"files": ", ".join(plan.source for plan in plans), "error": detail}
            ]
        ) from None
    if dry_run:
        transaction.set_rollback(True)
    return result


def _floorplans_write(plans: list[FloorPlanSpec], progress: Callable[[str], None] | None) -> FloorplanImportResult:
    """Upsert the checked plans (inside floorplan_import's transaction); refuses what only the database shows."""
    result = FloorplanImportResult()
    floors: dict[str, Floor] = {}
    for plan in plans:
        site, _created = Site.objects.get_or_create(code=plan.site_code, defaults={"name": plan.site_name})
        building, _created = Building.objects.get_or_create(
            site=site, code=plan.building_code, defaults={"name": plan.building_name}
        )
        floor, _outcome = _upsert(
            Floor, {"building": building, "code": plan.floor_code}, {"level": plan.level, "name": plan.floor_name}
        )
        floors[plan.source] = floor
    errors = _check_against_database(plans, floors)
    if errors:
        raise FloorplanImportError(errors)  # rolls back the sites, buildings and floors above

    for plan in plans:
        floor = floors[plan.source]
        for spec in plan.rooms:
            _room, outcome = _upsert(
                Room,
                {"site_id": floor.building.site_id, "code": spec.code},
                {
                    "floor": floor,
                    "name": spec.name,
                    "room_type": spec.room_type,
                    "unit": spec.unit,
                    "polygon": spec.geometry,
                },
            )
            result.rooms.add(outcome)
        floor_rooms = list(Room.objects.filter(floor=floor))
        tree = STRtree([room.shape() for room in floor_rooms])
        rooms = {spec.gateway_id: _room_containing(Point(spec.x, spec.y), tree, floor_rooms) for spec in plan.receivers}
        # A receiver is mounted in a room (a corridor is a room too): outside every room of its floor, its
        # coordinates are wrong (swapped, another floor's, another unit), and the engine would place tags by it.
        outside = [spec for spec in plan.receivers if rooms[spec.gateway_id] is None]
        errors.extend(
            _(
                "%(file)s: %(feature)s: the point (%(x)s, %(y)s) is outside every room of %(floor)s: check its "
                "coordinates (a receiver in a corridor needs the corridor drawn as a room)"
            )
            % {"file": plan.source, "feature": spec.label, "x": f"{spec.x:g}", "y": f"{spec.y:g}", "floor": floor}
            for spec in outside
        )
        if outside:
            continue
        for spec in plan.receivers:
            room = rooms[spec.gateway_id]
            _receiver, outcome = _upsert(
                Receiver,
                {"gateway_id": spec.gateway_id},
                {
                    "floor": floor,
                    "room": room,
                    "x": spec.x,
                    "y": spec.y,
                    "rssi_at_1m": spec.rssi_at_1m,
                    "path_loss_exponent": spec.path_loss_exponent,
                    "height_m": spec.height_m,
                },
            )
            result.receivers.add(outcome)
        result.floors.append(f"{floor}")
        if progress:
            progress(f"{plan.source}: {floor}: {len(plan.rooms)} rooms, {len(plan.receivers)} receivers")
    if errors:
        raise FloorplanImportError(errors)
    return result
