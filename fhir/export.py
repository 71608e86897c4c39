"""Bulk-Data-style NDJSON export of the whole inventory: one file per resource type (manage.py export_fhir).

An administrator's hand-over: every Location and every Device, security fields included, with no role
check (whoever can run manage.py already holds the database). Each file is written under a temporary name
and renamed when complete, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.utils import timezone

from fhir.definitions import FHIR_VERSION
from fhir.mappers import device_resource, location_resource
from fhir.views import device_queryset
from locations.models import Building, Floor, Room, Site


@dataclass
class ExportResult:
    files: dict[str, Path] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def _locations():
    yield from Site.objects.order_by("pk").iterator(chunk_size=500)
    yield from Building.objects.select_related("site").order_by("pk").iterator(chunk_size=500)
    yield from Floor.objects.select_related("building__site").order_by("pk").iterator(chunk_size=500)
    yield from Room.objects.select_related("floor__building__site").order_by("pk").iterator(chunk_size=500)


def _devices(now):
    yield from device_queryset(now).order_by("pk").iterator(chunk_size=500)


def _write_ndjson(out_dir: Path, name: str, resources) -> int:
    count = 0
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            for resource in resources:
                stream.write(json.dumps(resource, ensure_ascii=False, separators=(",", ":")))
                stream.write("\n")
                count += 1
        os.replace(temporary, out_dir / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count


def export_ndjson(*, out_dir: Path) -> ExportResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    now = timezone.now()
    result = ExportResult()
    for resource_type, resources in (
        ("Location", (location_resource(obj) for obj in _locations())),
        ("Device", (device_resource(asset, security_fields=True) for asset in _devices(now))),
    ):
        name = f"{resource_type}.ndjson"
        result.counts[resource_type] = _write_ndjson(out_dir, name, resources)
        result.files[resource_type] = out_dir / name
    manifest = {
        "transactionTime": now.isoformat(),
        "fhirVersion": FHIR_VERSION,
        "requiresAccessToken": False,
        "output": [
            {"type": kind, "url": path.name, "count": result.counts[kind]} for kind, path in result.files.items()
        ],
        "error": [],
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return result
