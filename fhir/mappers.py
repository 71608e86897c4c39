"""Assets and places as FHIR R4 resources (plain dicts, JSON-ready). docs/fhir.md has the mapping tables."""

from __future__ import annotations

from datetime import datetime

from config.i18n import source_state, source_text
from declarations.location_status import LocationStatus
from declarations.room_types import RoomType
from declarations.tag_ids import format_tag_id
from fhir import definitions as d
from locations.freshness import asset_location_status
from locations.models import Building, Floor, Room, Site


def instant(value: datetime | None) -> str | None:
    """A FHIR instant: seconds precision at least, with a zone (Django stores aware UTC datetimes)."""
    return value.isoformat() if value is not None else None


def _meta(updated_at) -> dict:
    return {"lastUpdated": instant(updated_at)} if updated_at else {}


# --- Location -----------------------------------------------------------------------------------


def location_id(obj) -> str:
    kind = {Site: d.SITE, Building: d.BUILDING, Floor: d.FLOOR, Room: d.ROOM}[type(obj)]
    return f"{kind}-{obj.pk}"


def location_reference(obj, *, display: str | None = None) -> dict:
    return {"reference": f"Location/{location_id(obj)}", "display": display or obj.name}


def location_identifier_value(obj) -> str:
    """Rooms: the room code (unique per site). Sites, buildings, floors: their codes joined by "/"."""
    if isinstance(obj, Room):
        return obj.code
    if isinstance(obj, Site):
        return obj.code
    if isinstance(obj, Building):
        return f"{obj.site.code}/{obj.code}"
    return f"{obj.building.site.code}/{obj.building.code}/{obj.code}"


def _physical_type(code: str) -> dict:
    return {"coding": [{"system": d.PHYSICAL_TYPE_SYSTEM, "code": code, "display": d.PHYSICAL_TYPES[code]}]}


def location_resource(obj) -> dict:
    """One Location per site, building, floor and room. Rooms need select_related("floor__building__site")."""
    resource: dict = {"resourceType": "Location", "id": location_id(obj)}
    if meta := _meta(obj.updated_at):
        resource["meta"] = meta
    resource["identifier"] = [{"system": d.location_code_system(), "value": location_identifier_value(obj)}]
    resource["status"] = "active"  # places are never suspended or closed in this system
    resource["name"] = obj.name
    if isinstance(obj, Floor) and obj.code:
        resource["alias"] = [f"Floor {obj.code}"]
    resource["mode"] = "instance"
    if isinstance(obj, Room):
        resource["type"] = [
            {
                "coding": [
                    {
                        "system": d.ROOM_TYPE_CODESYSTEM,
                        "code": obj.room_type,
                        "display": source_text(RoomType(obj.room_type).label),
                    }
                ],
                "text": source_text(RoomType(obj.room_type).label),
            }
        ]
        resource["physicalType"] = _physical_type(d.room_physical_type(obj.room_type))
    else:
        resource["physicalType"] = _physical_type(d.KIND_PHYSICAL_TYPE[location_id(obj).split("-", 1)[0]])
    if organization := d.organization_reference():
        resource["managingOrganization"] = organization
    parent = {Building: lambda o: o.site, Floor: lambda o: o.building, Room: lambda o: o.floor}.get(type(obj))
    if parent is not None:
        resource["partOf"] = location_reference(parent(obj))
    return resource


# --- Device -------------------------------------------------------------------------------------


def device_type(asset_type) -> dict:
    coding = []
    if asset_type.code_system and asset_type.code:
        system_coding = {"system": asset_type.code_system, "code": asset_type.code}
        if asset_type.code_display:
            system_coding["display"] = asset_type.code_display
        coding.append(system_coding)
    coding.append({"system": d.ASSET_TYPE_CODESYSTEM, "code": asset_type.slug, "display": asset_type.name})
    return {"coding": coding, "text": asset_type.name}


def _rtls_tag_id(asset):
    """The bound RTLS tag's id: the ``rtls_tag_id`` annotation (fhir.views.device_queryset) when present, else
    the ``tag`` relation. The querysets annotate it rather than select_related("tag"): a reverse one-to-one
    loaded that way points back at the asset (asset -> tag -> asset), a reference cycle that keeps every
    page's model rows alive until a full garbage collection (docs/benchmarks.md, FHIR Device search)."""
    if hasattr(asset, "rtls_tag_id"):
        return asset.rtls_tag_id
    try:
        return asset.tag.tag_id
    except asset.__class__.tag.RelatedObjectDoesNotExist:
        return None


def lifecycle_extension(state: str) -> dict:
    definition = source_state(state)
    return {
        "url": d.LIFECYCLE_EXTENSION,
        "extension": [
            {
                "url": "state",
                "valueCoding": {
                    "system": d.LIFECYCLE_CODESYSTEM,
                    "code": definition.value,
                    "display": definition.label,
                },
            },
            {"url": "definition", "valueString": definition.definition},
        ],
    }


def device_resource(asset, *, security_fields: bool) -> dict:
    """One Device per asset. Expects fhir.views.device_queryset's rows (type, room, floor and building joined,
    the RTLS tag id annotated).

    ``security_fields``: include ``safety`` (data-bearing, networked, encryption) and ``version``
    (firmware) -- only for callers whose role may read them (fhir/access.py).
    """
    status = getattr(asset, "location_status", None) or asset_location_status(asset=asset)
    resource: dict = {"resourceType": "Device", "id": str(asset.pk)}
    if meta := _meta(asset.updated_at):
        resource["meta"] = meta
    extensions = [
        lifecycle_extension(asset.state),
        {
            "url": d.LOCATION_STATUS_EXTENSION,
            "valueCoding": {
                "system": d.LOCATION_STATUS_CODESYSTEM,
                "code": str(status),
                "display": source_text(LocationStatus(status).label),
            },
        },
    ]
    if asset.last_seen:
        extensions.append({"url": d.LAST_SEEN_EXTENSION, "valueDateTime": instant(asset.last_seen)})
    resource["extension"] = extensions
    identifiers = [
        {"use": "official", "type": {"text": "Asset tag"}, "system": d.asset_tag_system(), "value": asset.asset_tag}
    ]
    tag_id = _rtls_tag_id(asset)
    if tag_id is not None:
        identifiers.append(
            {
                "use": "secondary",
                "type": {"text": "RTLS tag"},
                "system": d.rtls_tag_system(),
                "value": format_tag_id(tag_id),
            }
        )
    resource["identifier"] = identifiers
    resource["status"] = d.DEVICE_STATUS[asset.state]
    if asset.manufacturer:
        resource["manufacturer"] = asset.manufacturer
    if asset.serial_number:
        resource["serialNumber"] = asset.serial_number
    if asset.model:
        resource["deviceName"] = [{"name": asset.model, "type": "model-name"}]
        resource["modelNumber"] = asset.model
    resource["type"] = device_type(asset.asset_type)
    if security_fields and asset.firmware_version:
        resource["version"] = [{"type": {"text": "firmware"}, "value": asset.firmware_version}]
    organization = d.organization_reference()
    if asset.unit:
        owner = {"display": asset.unit}
        if organization and organization.get("display"):
            owner["display"] = f"{asset.unit}, {organization['display']}"
        resource["owner"] = owner
    elif organization:
        resource["owner"] = organization
    # Only while located or stale: a missing asset's last room is history, not where it is.
    if asset.current_room_id is not None and status in (LocationStatus.LOCATED, LocationStatus.STALE):
        room = asset.current_room
        resource["location"] = location_reference(room, display=f"{room.code} {room.name}")
    if security_fields:
        resource["safety"] = safety_codes(asset)
    return resource


def safety_codes(asset) -> list[dict]:
    codes = [
        (
            "data-bearing" if asset.data_bearing else "not-data-bearing",
            "Stores data" if asset.data_bearing else "Stores no data",
        ),
        ("networked" if asset.networked else "not-networked", "Networked" if asset.networked else "Not networked"),
        (f"encryption-{asset.encryption_status}", f"Encryption: {source_text(asset.get_encryption_status_display())}"),
    ]
    return [
        {"coding": [{"system": d.SECURITY_CODESYSTEM, "code": code, "display": display}], "text": display}
        for code, display in codes
    ]
