"""The JSON the floor map is fed: plain dicts built from models, selectors and the shared definitions.

Nothing here decides anything: states come from declarations/states.py, room types from
declarations/room_types.py, location status from locations/freshness.py, and what a user may do from
floormap/access.py. Keys are short because a floor's payload carries hundreds of assets.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from assets.models import Asset, AssetType
from declarations.location_status import LocationStatus
from declarations.room_types import RoomType
from declarations.states import all_state_definitions
from lifecycle.alerts.choices import AlertKind
from lifecycle.requests.choices import RequestPriority
from locations.freshness import freshness_definition, status_changes
from locations.models import Floor, Room

# How a location status looks on the map, after what it means (locations.freshness): the text goes in
# every label, so the style is never the only signal (docs/map.md).
LOCATION_STATUS_STYLE = {
    LocationStatus.LOCATED: "",
    LocationStatus.STALE: _("Shown faded, dashed outline."),
    LocationStatus.MISSING: _("Shown faded with ?."),
}


# A polling or live client reloads the whole floor this often, to catch anything an increment missed.
RESYNC_SECONDS = 120


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def floor_option(floor: Floor) -> dict:
    return {
        "id": floor.pk,
        "code": floor.code,
        "name": floor.name,
        "level": floor.level,
        "building": floor.building.name,
        "building_id": floor.building_id,
        "site": floor.building.site.name,
    }


def room_payload(room: Room) -> dict:
    return {
        "id": room.pk,
        "code": room.code,
        "name": room.name,
        "type": room.room_type,
        "unit": room.unit,
        # GeoJSON Polygon coordinates in floor metres: [ring][point][x, y]
        "polygon": room.polygon.get("coordinates", []),
        "c": [round(room.centroid_x, 2), round(room.centroid_y, 2)],
    }


def asset_payload(asset: Asset) -> dict:
    """One marker. ``location_status`` must be annotated (floormap.selectors.floor_map_assets)."""
    return {
        "id": asset.pk,
        "tag": asset.asset_tag,
        "type": asset.asset_type_id,
        "model": f"{asset.manufacturer} {asset.model}".strip(),
        "state": str(asset.state),
        "room": asset.current_room_id,
        "x": asset.position_x,
        "y": asset.position_y,
        "r": asset.position_radius_m,
        "conf": asset.location_confidence,
        "seen": _iso(asset.last_seen),
        # located / stale / missing now, and when it turns stale and missing without a new sighting
        # (locations/freshness.py): the page shows these and declares no thresholds of its own.
        "status": getattr(asset, "location_status", None),
        **_status_changes(asset),
        # lifecycle.biomed: any overdue or failed schedule makes it not serviceable; an open loan reads
        # "on loan (...) until ..." (annotated by floormap.selectors.floor_map_assets).
        "svc": not getattr(asset, "maintenance_overdue", False),
        "loan": _loan_text(asset),
    }


def _status_changes(asset: Asset) -> dict:
    room_type = asset.current_room.room_type if asset.current_room_id is not None else None
    stale_at, missing_at = status_changes(last_seen=asset.last_seen, room_type=room_type)
    return {"stale_at": _iso(stale_at), "missing_at": _iso(missing_at)}


def _loan_text(asset: Asset) -> str | None:
    until = getattr(asset, "loan_until", None)
    if until is None:
        return None
    overdue = " (return overdue)" if until < timezone.now() else ""
    return f"on loan to {asset.loan_to} until {timezone.localtime(until):%Y-%m-%d %H:%M}{overdue}"


def asset_type_payload(asset_type: AssetType) -> dict:
    return {"id": asset_type.pk, "name": asset_type.name, "slug": asset_type.slug}


# The legend names each state's shape in words ("circle, ✓"), in the reader's language; ``shape`` stays the
# machine value the markers are drawn from (static/map/map.js).
SHAPE_LABELS = {
    "circle": _("circle"),
    "diamond": _("diamond"),
    "square": _("square"),
    "triangle": _("triangle"),
    "hexagon": _("hexagon"),
    "cross": _("cross"),
    "ring": _("ring"),
}


def legend_payload() -> dict:
    """Everything the legend shows, from the shared declarations."""
    return {
        "states": [
            {**d.as_dict(), "shape_label": str(SHAPE_LABELS.get(d.shape, d.shape))} for d in all_state_definitions()
        ],
        "room_types": [{"value": value, "label": label} for value, label in RoomType.choices],
        "location_statuses": [
            {**status, "text": f"{status['text']} {LOCATION_STATUS_STYLE[status['value']]}".rstrip()}
            for status in freshness_definition()["statuses"]
        ],
    }


def map_config(*, user, floors, actions_by_state: dict, can_request: bool, poll_seconds: float) -> dict:
    """The page's boot data (json_script): URLs, legend, floors, what this user may do, timings."""
    zero = 0  # URL templates: the client replaces /0/ with the id
    return {
        "user": user.get_username(),
        "floors": [floor_option(f) for f in floors],
        "asset_types": [asset_type_payload(t) for t in AssetType.objects.order_by("name")],
        "legend": legend_payload(),
        "actions_by_state": actions_by_state,
        "can_request": can_request,
        "request_priorities": [{"value": value, "label": label} for value, label in RequestPriority.choices],
        # Live alert events carry the kind's label in the source language (config/i18n.py): the page shows
        # this one, in the reader's language, looked up by the event's stable ``alert_kind``.
        "alert_kinds": {value: str(label) for value, label in AlertKind.choices},
        # The map's JSON calls are /api/v1/map/... (floormap/api.py, in the OpenAPI schema).
        "urls": {
            "floor": reverse("map-floor", args=[zero]),
            "assets": reverse("map-floor-assets", args=[zero]),
            "search": reverse("map-search"),
            "places": reverse("map-places"),
            "action": reverse("map-asset-action", args=[zero]),
            "request": reverse("map-requests"),
            "ws": "/ws/floors/0/",
        },
        "poll_s": poll_seconds,
        "resync_s": RESYNC_SECONDS,
        # The in-memory channel layer (no REDIS_URL) only reaches WebSockets of this process: events from
        # another process (a simulator, an MQTT worker) arrive by polling, so the page polls even when live.
        "live_is_process_local": "InMemory" in settings.CHANNEL_LAYERS["default"]["BACKEND"],
    }


def search_result_payload(result) -> dict:
    """One assets_nearest_available result (lifecycle.nearest.NearestAsset)."""
    asset = result.asset
    return {
        "id": asset.pk,
        "tag": asset.asset_tag,
        "type": asset.asset_type.name,
        "model": f"{asset.manufacturer} {asset.model}".strip(),
        "state": str(asset.state),
        "room": {"id": result.room.pk, "code": result.room.code, "name": result.room.name},
        "floor": {"id": result.floor.pk, "name": result.floor.name, "code": result.floor.code},
        "building": result.building.name,
        "distance_m": result.distance_m,
        "same_floor": result.same_floor,
        "same_building": result.same_building,
        "status": str(result.location_status),
        "seen": _iso(result.last_seen),
    }


def place_room_payload(room: Room) -> dict:
    return {
        "kind": "room",
        "id": room.pk,
        "label": f"{room.code} · {room.name} · {room.floor.name}",
        "floor": room.floor_id,
        "unit": room.unit,
    }


def place_unit_payload(unit: str) -> dict:
    return {"kind": "unit", "id": unit, "label": f"{unit} (whole unit)"}
