"""Parse and check floor-plan GeoJSON (docs/design.md §5) before anything touches the database.

One FeatureCollection per floor, planar metres. The collection carries the foreign member
``"properties": {"site", "building", "floor", "level", "units": "m"}`` (optionally
``site_name``, ``building_name``, ``floor_name``). Rooms are Polygons with
``{"kind": "room", "code", "name", "room_type", "unit"}``; receivers are Points with
``{"kind": "receiver", "id", "rssi_at_1m"}`` and optionally ``path_loss_exponent``, ``height_m``.

Every problem is reported as "<file>: feature <n> (<kind> <code>): <problem>".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.utils.text import slugify
from django.utils.translation import gettext as _
from shapely.geometry import Polygon

from declarations.room_types import RoomType
from locations.geometry import GeometryError, find_overlaps, polygon_from_geojson
from locations.models import Building, Floor, Receiver, Room, Site

RSSI_AT_1M_RANGE = (-100.0, -20.0)
PATH_LOSS_EXPONENT_RANGE = (1.0, 6.0)
HEIGHT_RANGE_M = (0.0, 30.0)
# Below ground to the top of the tallest building; Floor.level itself would take any 32-bit integer.
LEVEL_RANGE = (-20, 200)
# Floor metres: a campus is a few kilometres across. Beyond this a coordinate is a unit or typing mistake
# (degrees, millimetres), and areas and centroids of such polygons are not finite numbers any more.
COORDINATE_LIMIT_M = 100_000.0


def _limit(model, name: str) -> int:
    return model._meta.get_field(name).max_length


# Text a file gives, and the longest each may be (the model fields: longer is a DataError at the write).
TEXT_LIMITS = {
    "site": _limit(Site, "code"),  # the site's code is made from it (slugify)
    "site_name": _limit(Site, "name"),
    "building": _limit(Building, "code"),
    "building_name": _limit(Building, "name"),
    "floor": _limit(Floor, "code"),
    "floor_name": _limit(Floor, "name"),
}
ROOM_TEXT_LIMITS = {"code": _limit(Room, "code"), "name": _limit(Room, "name"), "unit": _limit(Room, "unit")}
RECEIVER_ID_LIMIT = _limit(Receiver, "gateway_id")


@dataclass
class RoomSpec:
    code: str
    name: str
    room_type: str
    unit: str
    geometry: dict
    shape: Polygon
    label: str  # "feature 3 (room 4N-401)", for messages


@dataclass
class ReceiverSpec:
    gateway_id: str
    x: float
    y: float
    rssi_at_1m: float
    path_loss_exponent: float | None
    height_m: float | None
    label: str


@dataclass
class FloorPlanSpec:
    source: str
    site_code: str
    site_name: str
    building_code: str
    building_name: str
    floor_code: str
    floor_name: str
    level: int
    rooms: list[RoomSpec] = field(default_factory=list)
    receivers: list[ReceiverSpec] = field(default_factory=list)


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _text_problems(values: dict[str, str], limits: dict[str, int]) -> list[str]:
    """Text the database would refuse: longer than its column, or with a NUL character (PostgreSQL)."""
    problems = []
    for name, value in values.items():
        if "\x00" in value:
            problems.append(_('"%(name)s" contains a NUL character') % {"name": name})
        if len(value) > limits[name]:
            problems.append(_('"%(name)s" is longer than %(limit)s characters') % {"name": name, "limit": limits[name]})
    return problems


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _parse_header(document, source: str, errors: list[str]) -> FloorPlanSpec | None:
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        errors.append(_("%(file)s: not a GeoJSON FeatureCollection") % {"file": source})
        return None
    props = document.get("properties")
    if not isinstance(props, dict):
        errors.append(
            _('%(file)s: the collection has no "properties" with site, building, floor, level and units')
            % {"file": source}
        )
        return None
    problems = []
    site, building, floor = _text(props.get("site")), _text(props.get("building")), str(props.get("floor", "")).strip()
    for name, value in (("site", site), ("building", building), ("floor", floor)):
        if not value:
            problems.append(_('"%(name)s" is missing') % {"name": name})
    level = props.get("level")
    if isinstance(level, bool) or not isinstance(level, int):
        problems.append(_('"level" must be a whole number, got %(value)s') % {"value": repr(level)})
    elif not LEVEL_RANGE[0] <= level <= LEVEL_RANGE[1]:
        problems.append(
            _('"level" must be from %(low)s to %(high)s, got %(value)s')
            % {"low": LEVEL_RANGE[0], "high": LEVEL_RANGE[1], "value": level}
        )
    if props.get("units") != "m":
        problems.append(_('"units" must be "m" (planar metres), got %(value)s') % {"value": repr(props.get("units"))})
    if site and not slugify(site):
        problems.append(
            _('"%(name)s" %(value)s has no letters or digits to make a code from')
            % {"name": "site", "value": repr(site)}
        )
    if building and not slugify(building):
        problems.append(
            _('"%(name)s" %(value)s has no letters or digits to make a code from')
            % {"name": "building", "value": repr(building)}
        )
    names = {
        "site_name": _text(props.get("site_name")) or site,
        "building_name": _text(props.get("building_name")) or building,
        "floor_name": _text(props.get("floor_name")) or f"Floor {floor}",
    }
    # The site's and building's codes are made from their names (slugify): it is the code that must fit.
    problems += _text_problems({"site": slugify(site), "building": slugify(building), "floor": floor}, TEXT_LIMITS)
    for name, value in (("site", site), ("building", building)):  # slugify drops a NUL; the name keeps it
        if "\x00" in value and not props.get(f"{name}_name"):
            problems.append(_('"%(name)s" contains a NUL character') % {"name": name})
    problems += _text_problems(
        {name: value for name, value in names.items() if props.get(name) or "\x00" not in value}, TEXT_LIMITS
    )
    if problems:
        errors.extend(
            _("%(file)s: collection properties: %(problem)s") % {"file": source, "problem": p} for p in problems
        )
        return None
    if not isinstance(document.get("features"), list):
        errors.append(_('%(file)s: "features" must be a list') % {"file": source})
        return None
    return FloorPlanSpec(
        source=source,
        site_code=slugify(site),
        site_name=names["site_name"],
        building_code=slugify(building),
        building_name=names["building_name"],
        floor_code=floor,
        floor_name=names["floor_name"],
        level=level,
    )


def _parse_room(props: dict, geometry, label: str, problems: list[str]) -> RoomSpec | None:
    code = _text(props.get("code"))
    if not code:
        problems.append(_('"%(name)s" is missing') % {"name": "code"})
    room_type = props.get("room_type")
    if room_type not in RoomType.values:
        problems.append(
            _('"room_type" %(value)s is not one of %(choices)s')
            % {"value": repr(room_type), "choices": ", ".join(RoomType.values)}
        )
    texts = {"code": code, "name": _text(props.get("name")) or code, "unit": _text(props.get("unit"))}
    problems += _text_problems(texts, ROOM_TEXT_LIMITS)
    try:
        shape = polygon_from_geojson(geometry)
    except GeometryError as exc:
        problems.append(str(exc))
        shape = None
    if shape is not None and not all(abs(bound) <= COORDINATE_LIMIT_M for bound in shape.bounds):
        problems.append(_coordinates_problem())
    if problems:
        return None
    return RoomSpec(
        code=code,
        name=texts["name"],
        room_type=room_type,
        unit=texts["unit"],
        geometry={"type": "Polygon", "coordinates": geometry["coordinates"]},
        shape=shape,
        label=label,
    )


def _coordinates_problem() -> str:
    return _("coordinates must be floor metres within %(limit)s m of the origin") % {
        "limit": f"{COORDINATE_LIMIT_M:,.0f}"
    }


def _parse_receiver(props: dict, geometry, label: str, problems: list[str]) -> ReceiverSpec | None:
    gateway_id = _text(props.get("id"))
    if not gateway_id:
        problems.append(_('"%(name)s" is missing') % {"name": "id"})
    problems += _text_problems({"id": gateway_id}, {"id": RECEIVER_ID_LIMIT})
    rssi = _number(props.get("rssi_at_1m"))
    if rssi is None or not RSSI_AT_1M_RANGE[0] <= rssi <= RSSI_AT_1M_RANGE[1]:
        problems.append(
            _('"rssi_at_1m" must be a number of dBm between -100 and -20, got %(value)s')
            % {"value": repr(props.get("rssi_at_1m"))}
        )
    optional = {}
    for key, (low, high) in (("path_loss_exponent", PATH_LOSS_EXPONENT_RANGE), ("height_m", HEIGHT_RANGE_M)):
        raw = props.get(key)
        value = _number(raw)
        if raw is not None and (value is None or not low <= value <= high):
            problems.append(
                _('"%(name)s" must be a number between %(low)s and %(high)s, got %(value)s')
                % {"name": key, "low": f"{low:g}", "high": f"{high:g}", "value": repr(raw)}
            )
        optional[key] = value
    coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        problems.append(_("geometry must be a Point"))
    elif not (
        isinstance(coordinates, list) and len(coordinates) >= 2 and all(_number(c) is not None for c in coordinates[:2])
    ):
        problems.append(_("point coordinates must be two numbers [x, y]"))
    elif not all(abs(c) <= COORDINATE_LIMIT_M for c in coordinates[:2]):
        problems.append(_coordinates_problem())
    if problems:
        return None
    return ReceiverSpec(
        gateway_id=gateway_id,
        x=float(coordinates[0]),
        y=float(coordinates[1]),
        rssi_at_1m=rssi,
        path_loss_exponent=optional["path_loss_exponent"],
        height_m=optional["height_m"],
        label=label,
    )


def parse_floorplan(document, *, source: str, tolerance_m2: float) -> tuple[FloorPlanSpec | None, list[str]]:
    """Check one floor's FeatureCollection. Returns the plan and every problem found in it."""
    errors: list[str] = []
    plan = _parse_header(document, source, errors)
    if plan is None:
        return None, errors
    room_labels: dict[str, str] = {}
    receiver_labels: dict[str, str] = {}
    for index, feature in enumerate(document["features"], start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            errors.append(_("%(file)s: feature %(index)s: not a GeoJSON Feature") % {"file": source, "index": index})
            continue
        props = feature.get("properties")
        if not isinstance(props, dict):
            errors.append(_('%(file)s: feature %(index)s: "properties" is missing') % {"file": source, "index": index})
            continue
        kind = props.get("kind")
        name = _text(props.get("code") if kind == "room" else props.get("id"))
        values = {"index": index, "kind": kind, "name": name}
        label = (
            _("feature %(index)s (%(kind)s %(name)s)") % values if name else _("feature %(index)s (%(kind)s)") % values
        )
        problems: list[str] = []
        if kind == "room":
            room = _parse_room(props, feature.get("geometry"), label, problems)
            if room and room.code in room_labels:
                problems.append(
                    _("room code %(code)s is used twice (also %(other)s)")
                    % {"code": room.code, "other": room_labels[room.code]}
                )
            elif room:
                room_labels[room.code] = label
                plan.rooms.append(room)
        elif kind == "receiver":
            receiver = _parse_receiver(props, feature.get("geometry"), label, problems)
            if receiver and receiver.gateway_id in receiver_labels:
                problems.append(
                    _("receiver id %(id)s is used twice (also %(other)s)")
                    % {"id": receiver.gateway_id, "other": receiver_labels[receiver.gateway_id]}
                )
            elif receiver:
                receiver_labels[receiver.gateway_id] = label
                plan.receivers.append(receiver)
        else:
            problems.append(_('"kind" must be "room" or "receiver", got %(value)s') % {"value": repr(kind)})
        errors.extend(f"{source}: {label}: {problem}" for problem in problems)
    for overlap in find_overlaps(((r.code, r.shape) for r in plan.rooms), tolerance_m2=tolerance_m2):
        errors.append(
            _("%(file)s: %(first)s overlaps %(second)s by %(area)s m²")
            % {
                "file": source,
                "first": room_labels[overlap.first],
                "second": room_labels[overlap.second],
                "area": f"{overlap.area_m2:.2f}",
            }
        )
    return plan, errors
