"""GET /fhir/r4/metadata: the CapabilityStatement, built from the same declarations the routes and the search
use (fhir/search.py), so it lists exactly what is supported. Our two custom SearchParameters are served too."""

from __future__ import annotations

from fhir import definitions as d
from fhir.search import PARAMS

SOFTWARE_VERSION = "1.0.0"
PUBLISHED = "2026-12-06"

# (resource type, interactions) -- the routes in fhir/urls.py serve exactly these.
RESOURCES = (
    ("Location", ("read", "search-type")),
    ("Device", ("read", "search-type")),
    ("SearchParameter", ("read",)),
)


def search_parameter_id(param, resource_type: str) -> str:
    return f"{resource_type}-{param.name}"


def custom_search_parameters() -> dict[str, dict]:
    """Our SearchParameter resources by id."""
    found = {}
    for resource_type, params in PARAMS.items():
        for param in params:
            if not param.custom:
                continue
            ident = search_parameter_id(param, resource_type)
            found[ident] = {
                "resourceType": "SearchParameter",
                "id": ident,
                "url": param.definition,
                "version": SOFTWARE_VERSION,
                "name": ident.replace("-", "_"),
                "status": "active",
                "experimental": False,
                "date": PUBLISHED,
                "publisher": "hospital-assets",
                "description": param.documentation,
                "code": param.name,
                "base": [resource_type],
                "type": param.type,
                "expression": param.expression,
                "xpathUsage": "normal",
            }
    return found


def capability_statement(*, base_url: str) -> dict:
    resources = []
    for resource_type, interactions in RESOURCES:
        entry: dict = {
            "type": resource_type,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
            "interaction": [{"code": code} for code in interactions],
            "versioning": "no-version",
            "readHistory": False,
            "updateCreate": False,
        }
        params = PARAMS.get(resource_type, ())
        if params:
            entry["searchParam"] = [
                {"name": p.name, "definition": p.definition, "type": p.type, "documentation": p.documentation}
                for p in params
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "id": "hospital-assets",
        "url": f"{d.CANONICAL}/CapabilityStatement/hospital-assets",
        "version": SOFTWARE_VERSION,
        "name": "HospitalAssetsFHIRServer",
        "title": "Hospital asset tracking: Device and Location (read-only)",
        "status": "active",
        "experimental": False,
        "date": PUBLISHED,
        "publisher": "hospital-assets",
        "description": (
            "Equipment (Device) with its live room and lifecycle state, and the places (Location: sites, "
            "buildings, floors, rooms). Read and search only. Paging: _count (max 500) and _offset; "
            "Bundle.link next/previous. Unknown parameters are refused (Prefer: handling=lenient ignores them)."
        ),
        "kind": "instance",
        "software": {"name": "hospital-assets", "version": SOFTWARE_VERSION},
        "implementation": {"description": "Hospital asset tracking FHIR R4 endpoint", "url": base_url},
        "fhirVersion": d.FHIR_VERSION,
        "format": ["json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Same tokens and roles as /api/v1/ (docs/api.md); metadata needs none.",
                "security": {
                    "cors": False,
                    "description": (
                        "Authorization: Token <token> (issued with manage.py issue_token), or a signed-in session. "
                        "Callers need a staff role; 401 without credentials, 403 without a role."
                    ),
                },
                "resource": resources,
            }
        ],
    }
