"""FHIR search on Location and Device: the parameters, declared once (the CapabilityStatement lists these
same objects), parsed strictly, turned into querysets.

Semantics (FHIR R4 §3.1.1.4 "search"): a parameter repeated is AND, comma-separated values are OR;
string: case-insensitive starts-with (``:exact``, ``:contains``); token: ``code``, ``system|code``,
``|code``, ``system|``; reference: ``Location/room-12``, ``room-12`` or an absolute URL ending so;
date: ``eq ne gt lt ge le`` prefixes on YYYY, YYYY-MM, YYYY-MM-DD or a date-time. Unknown parameters and
modifiers are refused with 400 naming them (``Prefer: handling=lenient`` ignores unknown parameters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

from django.db.models import Q
from django.utils import timezone

from declarations.location_status import LocationStatus
from declarations.room_types import RoomType
from declarations.states import STATE_DEFINITIONS
from declarations.tag_ids import TagIdError, normalize_tag_id
from fhir import definitions as d
from locations.freshness import status_q

BASE = "http://hl7.org/fhir/SearchParameter"
DEFAULT_COUNT, MAX_COUNT, MAX_OFFSET = 50, 500, 10**9
CONTROL_PARAMETERS = ("_count", "_offset", "_format", "_pretty")
NOTHING = Q(pk__in=[])
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class SearchError(Exception):
    """Bad search input: answered 400 with an OperationOutcome naming the parameter."""

    def __init__(self, message: str, *, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # token | string | reference | date
    documentation: str
    definition: str
    modifiers: tuple[str, ...] = ()
    custom: bool = False  # ours: the server publishes its SearchParameter resource
    expression: str = ""
    targets: tuple[str, ...] = ()
    example: str = ""  # a value the generated tests use


STRING_MODIFIERS = ("exact", "contains")

LOCATION_PARAMS = (
    Param(
        "_id", "token", "The logical id: site-N, building-N, floor-N, room-N.", f"{BASE}/Resource-id", example="room-1"
    ),
    Param(
        "_lastUpdated", "date", "When the place last changed.", f"{BASE}/Resource-lastUpdated", example="ge2000-01-01"
    ),
    Param(
        "name",
        "string",
        "Name, starts with (case-insensitive).",
        f"{BASE}/Location-name",
        STRING_MODIFIERS,
        example="a",
    ),
    Param(
        "identifier",
        "token",
        "Room code; site, building and floor codes joined by '/', e.g. st-olaf/north/4.",
        f"{BASE}/Location-identifier",
        example="W401",
    ),
    Param(
        "partof",
        "reference",
        "The places directly inside a Location (a site's buildings, a building's floors, a floor's rooms).",
        f"{BASE}/Location-partof",
        targets=("Location",),
        example="Location/floor-1",
    ),
    Param("type", "token", "Room type (rooms only), e.g. soiled_utility.", f"{BASE}/Location-type", example="patient"),
    Param(
        "status",
        "token",
        "active | suspended | inactive (every place is active).",
        f"{BASE}/Location-status",
        example="active",
    ),
    Param(
        "physical-type",
        "token",
        "location-physical-type: si (site), bu (building), lvl (floor), ro (room), co (corridor).",
        f"{d.CANONICAL}/SearchParameter/Location-physical-type",
        custom=True,
        expression="Location.physicalType",
        example="ro",
    ),
)

DEVICE_PARAMS = (
    Param("_id", "token", "The logical id (the asset's id).", f"{BASE}/Resource-id", example="1"),
    Param(
        "_lastUpdated",
        "date",
        "When the asset record last changed.",
        f"{BASE}/Resource-lastUpdated",
        example="ge2000-01-01",
    ),
    Param(
        "identifier",
        "token",
        "Asset tag (system FHIR_ASSET_TAG_SYSTEM) or RTLS tag id (FHIR_RTLS_TAG_SYSTEM); without a system, either.",
        f"{BASE}/Device-identifier",
        example="IP-00001",
    ),
    Param(
        "type",
        "token",
        "The asset type's coding (e.g. SNOMED CT) or our type slug.",
        f"{BASE}/Device-type",
        example="infusion-pump",
    ),
    Param(
        "location",
        "reference",
        "The room it is in now (located or stale). location:below=Location/floor-3 (or building-N, site-N): "
        "every room under that place.",
        f"{BASE}/Device-location",
        ("below",),
        targets=("Location",),
        example="Location/room-1",
    ),
    Param(
        "status",
        "token",
        "active | inactive (see docs/fhir.md for our seven states).",
        f"{BASE}/Device-status",
        example="active",
    ),
    Param(
        "manufacturer",
        "string",
        "Manufacturer, starts with.",
        f"{BASE}/Device-manufacturer",
        STRING_MODIFIERS,
        example="B",
    ),
    Param(
        "model", "string", "Model (modelNumber), starts with.", f"{BASE}/Device-model", STRING_MODIFIERS, example="A"
    ),
    Param(
        "lifecycle-state",
        "token",
        "Our lifecycle state: " + ", ".join(STATE_DEFINITIONS) + ".",
        f"{d.CANONICAL}/SearchParameter/Device-lifecycle-state",
        custom=True,
        expression=f"Device.extension('{d.LIFECYCLE_EXTENSION}').extension('state').value",
        example="available",
    ),
)

PARAMS = {"Location": LOCATION_PARAMS, "Device": DEVICE_PARAMS}


# --- parsing --------------------------------------------------------------------------------------


@dataclass
class Query:
    """A parsed search: [(param, modifier, [values OR'd])] AND'ed, plus paging."""

    clauses: list = field(default_factory=list)
    count: int = DEFAULT_COUNT
    offset: int = 0


def _int_param(name: str, raw: str, *, low: int, high: int) -> int:
    raw = raw.strip()
    if not re.fullmatch(r"[0-9]{1,10}", raw) or not low <= int(raw) <= high:
        raise SearchError(f"{name} must be a whole number from {low} to {high}, not {raw[:40]!r}")
    return int(raw)


def parse_query(resource_type: str, params, *, lenient: bool = False) -> Query:
    """``params``: a QueryDict (or {name: [values]}). Raises SearchError on anything it cannot honour."""
    known = {p.name: p for p in PARAMS[resource_type]}
    query = Query()
    items = params.lists() if hasattr(params, "lists") else params.items()
    for key, values in items:
        for text in (key, *values):
            if CONTROL_CHARACTERS.search(text):
                raise SearchError(f"{key[:60]!r}: control characters (such as NUL) are not allowed in a search")
        if key in ("_format", "_pretty"):
            continue
        if key == "_count":
            query.count = min(_int_param("_count", values[-1], low=0, high=10**6), MAX_COUNT)
            continue
        if key == "_offset":
            query.offset = _int_param("_offset", values[-1], low=0, high=MAX_OFFSET)
            continue
        name, _, modifier = key.partition(":")
        param = known.get(name)
        if param is None:
            if lenient:
                continue
            supported = ", ".join([*known, *CONTROL_PARAMETERS])
            raise SearchError(
                f"unknown search parameter {key[:60]!r} for {resource_type}; supported: {supported}",
                code="not-supported",
            )
        if modifier and modifier not in param.modifiers:
            allowed = ", ".join(f":{m}" for m in param.modifiers) or "none"
            raise SearchError(
                f"modifier :{modifier[:30]} is not supported on {resource_type} {name} (supported: {allowed})",
                code="not-supported",
            )
        for value in values:
            parts = [part for part in value.split(",")]
            if any(not part.strip() for part in parts):
                raise SearchError(f"{key}: empty value in {value[:60]!r}")
            query.clauses.append((param, modifier, [part.strip() for part in parts]))
    return query


def parse_token(name: str, value: str) -> tuple[str | None, str | None]:
    """(system, code): system None = any system; "" = no system; code None = any code of the system."""
    if value.count("|") > 1:
        raise SearchError(f"{name}: {value[:60]!r} is not a token (code, system|code, |code or system|)")
    if "|" not in value:
        return None, value
    system, code = value.split("|")
    if not system and not code:
        raise SearchError(f"{name}: {value!r} is not a token (code, system|code, |code or system|)")
    return system, code or None


REFERENCE_RE = re.compile(r"^(?:(?:https?://[^\s]+/)?Location/)?([A-Za-z0-9\-.]{1,64})$")
LOCATION_ID_RE = re.compile(r"^(site|building|floor|room)-([0-9]{1,18})$")


def parse_location_reference(name: str, value: str) -> tuple[str, int] | None:
    """(kind, pk) of a Location reference; None when it names no Location we could have."""
    if "/" in value and not re.search(r"(^|/)Location/[^/]+$", value):
        raise SearchError(f"{name} must reference a Location (Location/room-12 or room-12), not {value[:60]!r}")
    match = REFERENCE_RE.match(value)
    if not match:
        raise SearchError(f"{name}: {value[:60]!r} is not a Location reference (Location/room-12 or room-12)")
    found = LOCATION_ID_RE.match(match.group(1))
    return (found.group(1), int(found.group(2))) if found else None


DATE_RE = re.compile(
    r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)?"
    r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2})(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,9})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?$"
)


def parse_date(name: str, value: str) -> tuple[str, datetime, datetime]:
    """(prefix, start, end): the value as the half-open range [start, end) its precision implies."""
    match = DATE_RE.match(value)
    if not match:
        raise SearchError(f"{name}: {value[:60]!r} is not a date (e.g. ge2026-11-22 or lt2026-11-22T08:00:00Z)")
    prefix, year, month, day, hour, minute, second, zone = match.groups()
    prefix = prefix or "eq"
    if prefix in ("sa", "eb", "ap"):
        raise SearchError(
            f"{name}: the prefix {prefix} is not supported (eq, ne, gt, lt, ge, le)", code="not-supported"
        )
    try:
        start = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        raise SearchError(f"{name}: {value[:60]!r} is not a real date") from None
    if zone == "Z":
        start = start.replace(tzinfo=UTC)
    elif zone:
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 14 or minutes > 59:
            raise SearchError(f"{name}: {zone!r} is not a time zone offset")
        start = start.replace(tzinfo=dt_timezone(sign * timedelta(hours=hours, minutes=minutes)))
    else:
        start = timezone.make_aware(start)
    try:
        if second is not None:
            end = start + timedelta(seconds=1)
        elif minute is not None:
            end = start + timedelta(minutes=1)
        elif day is not None:
            end = start + timedelta(days=1)
        elif month is not None:
            end = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            end = start.replace(year=start.year + 1)
        end = end.astimezone(UTC)
    except (OverflowError, ValueError):
        # The range ends after the last moment Python holds (end of year 9999): it runs to the end of time,
        # so ge9999-12 or gt9999-12-31 are valid searches that simply find nothing.
        end = datetime.max.replace(tzinfo=UTC)
    try:
        start = start.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+14:00 or 9999-12-31T23:59:59-12:00: before year 1 or after 9999 in UTC.
        raise SearchError(
            f"{name}: {value[:60]!r} is outside the dates this server can search (years 1 to 9999, UTC)"
        ) from None
    return prefix, start, end


def date_q(name: str, value: str, column: str) -> Q:
    prefix, start, end = parse_date(name, value)
    return {
        "eq": Q(**{f"{column}__gte": start, f"{column}__lt": end}),
        "ne": Q(**{f"{column}__lt": start}) | Q(**{f"{column}__gte": end}),
        "gt": Q(**{f"{column}__gte": end}),
        "ge": Q(**{f"{column}__gte": start}),
        "lt": Q(**{f"{column}__lt": start}),
        "le": Q(**{f"{column}__lt": end}),
    }[prefix]


def string_q(column: str, modifier: str, value: str) -> Q:
    lookup = {"": "istartswith", "exact": "exact", "contains": "icontains"}[modifier]
    return Q(**{f"{column}__{lookup}": value})


# --- Location ---------------------------------------------------------------------------------------

KINDS = (d.SITE, d.BUILDING, d.FLOOR, d.ROOM)


def _all(q: Q | None = None) -> dict:
    return {kind: q or Q() for kind in KINDS}


def _location_value(param: Param, modifier: str, value: str) -> dict:
    """{kind: Q} for one value; a kind absent from the dict cannot match."""
    name = param.name
    if name == "_id":
        found = LOCATION_ID_RE.match(value)
        return {found.group(1): Q(pk=int(found.group(2)))} if found else {}
    if name == "_lastUpdated":
        return _all(date_q(name, value, "updated_at"))
    if name == "name":
        return _all(string_q("name", modifier, value))
    if name == "identifier":
        system, code = parse_token(name, value)
        if system not in (None, d.location_code_system()):
            return {}
        if code is None:
            return _all()
        parts = code.split("/")
        if len(parts) == 1:
            return {d.SITE: Q(code=code), d.ROOM: Q(code=code)}
        if len(parts) == 2:
            return {d.BUILDING: Q(site__code=parts[0], code=parts[1])}
        if len(parts) == 3:
            return {d.FLOOR: Q(building__site__code=parts[0], building__code=parts[1], code=parts[2])}
        return {}
    if name == "partof":
        target = parse_location_reference(name, value)
        if target is None:
            return {}
        kind, pk = target
        return {
            d.SITE: {d.BUILDING: Q(site_id=pk)},
            d.BUILDING: {d.FLOOR: Q(building_id=pk)},
            d.FLOOR: {d.ROOM: Q(floor_id=pk)},
        }.get(kind, {})
    if name == "type":
        system, code = parse_token(name, value)
        if system not in (None, d.ROOM_TYPE_CODESYSTEM):
            return {}
        return {d.ROOM: Q(room_type=code) if code else Q()}
    if name == "status":
        system, code = parse_token(name, value)
        if system not in (None, "http://hl7.org/fhir/location-status"):
            return {}
        return _all() if code in ("active", None) else {}
    if name == "physical-type":
        system, code = parse_token(name, value)
        if system not in (None, d.PHYSICAL_TYPE_SYSTEM):
            return {}
        if code is None:
            return _all()
        return {
            "si": {d.SITE: Q()},
            "bu": {d.BUILDING: Q()},
            "lvl": {d.FLOOR: Q()},
            "ro": {d.ROOM: ~Q(room_type=RoomType.CORRIDOR)},
            "co": {d.ROOM: Q(room_type=RoomType.CORRIDOR)},
        }.get(code, {})
    raise AssertionError(name)  # every declared parameter is handled above


def location_filters(query: Query) -> dict:
    """{kind: Q} over all clauses; kinds that cannot match are absent."""
    result = _all()
    for param, modifier, values in query.clauses:
        ored: dict = {}
        for value in values:
            for kind, q in _location_value(param, modifier, value).items():
                ored[kind] = ored[kind] | q if kind in ored else q
        result = {kind: result[kind] & ored[kind] for kind in result if kind in ored}
    return result


# --- Device -----------------------------------------------------------------------------------------


def _fresh(now) -> Q:
    return status_q(LocationStatus.LOCATED, now) | status_q(LocationStatus.STALE, now)


def _device_value(param: Param, modifier: str, value: str, now) -> Q:
    name = param.name
    if name == "_id":
        return Q(pk=int(value)) if value.isdigit() and len(value) <= 18 else NOTHING
    if name == "_lastUpdated":
        return date_q(name, value, "updated_at")
    if name in ("manufacturer", "model"):
        return string_q(name, modifier, value)
    if name == "identifier":
        system, code = parse_token(name, value)
        asset_tag_q = Q(asset_tag=code) if code else Q()
        try:
            tag_q = Q(tag__tag_id=normalize_tag_id(code)) if code else Q(tag__isnull=False)
        except TagIdError:
            tag_q = NOTHING
        if system is None:
            return asset_tag_q | tag_q
        if system == d.asset_tag_system():
            return asset_tag_q
        if system == d.rtls_tag_system():
            return tag_q
        return NOTHING
    if name == "type":
        system, code = parse_token(name, value)
        if system is None:
            return Q(asset_type__code=code) | Q(asset_type__slug=code)
        if system == d.ASSET_TYPE_CODESYSTEM:
            return Q(asset_type__slug=code) if code else Q()
        if system == "":
            return NOTHING
        return Q(asset_type__code_system=system, **({"asset_type__code": code} if code else {}))
    if name == "location":
        target = parse_location_reference(name, value)
        if target is None:
            return NOTHING
        kind, pk = target
        if modifier == "below":
            column = {
                d.SITE: "current_room__site_id",
                d.BUILDING: "current_room__floor__building_id",
                d.FLOOR: "current_room__floor_id",
                d.ROOM: "current_room_id",
            }[kind]
        elif kind == d.ROOM:
            column = "current_room_id"
        else:
            return NOTHING  # a Device's location is a room; use location:below for floors, buildings, sites
        return Q(**{column: pk}) & _fresh(now)
    if name == "status":
        system, code = parse_token(name, value)
        if system not in (None, "http://hl7.org/fhir/device-status"):
            return NOTHING
        if code is None:
            return Q()
        states = [state for state, status in d.DEVICE_STATUS.items() if status == code]
        return Q(state__in=states) if states else NOTHING
    if name == "lifecycle-state":
        system, code = parse_token(name, value)
        if system not in (None, d.LIFECYCLE_CODESYSTEM):
            return NOTHING
        if code is None:
            return Q()
        return Q(state=code) if code in STATE_DEFINITIONS else NOTHING
    raise AssertionError(name)  # every declared parameter is handled above


def device_filter(query: Query, *, now=None) -> Q:
    now = now or timezone.now()
    result = Q()
    for param, modifier, values in query.clauses:
        ored = NOTHING
        for value in values:
            ored |= _device_value(param, modifier, value, now)
        result &= ored
    return result
