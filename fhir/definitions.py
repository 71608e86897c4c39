"""Everything the FHIR mapping names: canonical URLs, code systems, and our seven states -> Device.status.

Declared once; the mappers, the search, the CapabilityStatement, the export and docs/fhir.md use these.
"""

from __future__ import annotations

from django.conf import settings

from declarations.room_types import RoomType
from declarations.states import AssetState

FHIR_VERSION = "4.0.1"
# Canonical base of the definitions this server publishes (extensions, code systems, search parameters).
# A canonical URL names a definition; it is not configurable per site, and need not resolve.
CANONICAL = "http://hospital-assets.example.org/fhir"

LIFECYCLE_EXTENSION = f"{CANONICAL}/StructureDefinition/asset-lifecycle-state"
LOCATION_STATUS_EXTENSION = f"{CANONICAL}/StructureDefinition/asset-location-status"
LAST_SEEN_EXTENSION = f"{CANONICAL}/StructureDefinition/asset-last-seen"
LIFECYCLE_CODESYSTEM = f"{CANONICAL}/CodeSystem/asset-lifecycle-state"
LOCATION_STATUS_CODESYSTEM = f"{CANONICAL}/CodeSystem/asset-location-status"
ASSET_TYPE_CODESYSTEM = f"{CANONICAL}/CodeSystem/asset-type"
ROOM_TYPE_CODESYSTEM = f"{CANONICAL}/CodeSystem/room-type"
SECURITY_CODESYSTEM = f"{CANONICAL}/CodeSystem/asset-security"
PHYSICAL_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/location-physical-type"

# Device.status (FHIRDeviceStatus: active | inactive | entered-in-error | unknown) for our seven states.
# active: in circulation, including the workflow steps between patients (reserved, in use, soiled,
# cleaning); inactive: "no longer available for use" -- with clinical engineering, or retired for good.
# entered-in-error is never sent: we never delete an asset's record, a mistake is decommissioned with a note.
DEVICE_STATUS = {
    AssetState.AVAILABLE: "active",
    AssetState.RESERVED: "active",
    AssetState.IN_USE: "active",
    AssetState.SOILED: "active",
    AssetState.CLEANING: "active",
    AssetState.BIOMED: "inactive",
    AssetState.DECOMMISSIONED: "inactive",
}
DEVICE_STATUS_CODES = ("active", "inactive", "entered-in-error", "unknown")
LOCATION_STATUS_CODES = ("active", "suspended", "inactive")

# Location kinds: (id prefix, physical type code, display).
SITE, BUILDING, FLOOR, ROOM = "site", "building", "floor", "room"
PHYSICAL_TYPES = {"si": "Site", "bu": "Building", "lvl": "Level", "ro": "Room", "co": "Corridor"}
KIND_PHYSICAL_TYPE = {SITE: "si", BUILDING: "bu", FLOOR: "lvl"}


def room_physical_type(room_type: str) -> str:
    return "co" if room_type == RoomType.CORRIDOR else "ro"


def asset_tag_system() -> str:
    return settings.FHIR_ASSET_TAG_SYSTEM


def rtls_tag_system() -> str:
    return settings.FHIR_RTLS_TAG_SYSTEM


def location_code_system() -> str:
    return settings.FHIR_LOCATION_CODE_SYSTEM


def organization_reference() -> dict | None:
    """managingOrganization / owner when FHIR_ORGANIZATION_NAME or FHIR_ORGANIZATION_REFERENCE is set."""
    name, reference = settings.FHIR_ORGANIZATION_NAME, settings.FHIR_ORGANIZATION_REFERENCE
    if not (name or reference):
        return None
    ref: dict = {}
    if reference:
        ref["reference"] = reference
    if name:
        ref["display"] = name
    return ref
