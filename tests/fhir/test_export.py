"""manage.py export_fhir: all Locations and all Devices as NDJSON that validates with the R4B models."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from declarations.states import AssetState
from locations.models import Building, Floor, Room, Site
from tests.fhir.conftest import validate


def test_export_writes_every_location_and_device_as_valid_ndjson(hospital, tmp_path):
    hospital.place("W401", asset_tag="EXP-1", firmware_version="2.0", networked=True)
    hospital.place("W402", asset_tag="EXP-2", state=AssetState.DECOMMISSIONED)
    hospital.place("W402", asset_tag="EXP-3", seen_minutes_ago=60 * 48)
    out = io.StringIO()

    call_command("export_fhir", "--out", str(tmp_path / "handover"), stdout=out)

    assert "Exporting everything" in out.getvalue() and "security fields" in out.getvalue()
    lines = {
        kind: (tmp_path / "handover" / f"{kind}.ndjson").read_text(encoding="utf-8").splitlines()
        for kind in ("Location", "Device")
    }
    locations = [json.loads(line) for line in lines["Location"]]
    devices = [json.loads(line) for line in lines["Device"]]
    for resource in locations + devices:
        validate(resource)
    assert (
        len(locations) == Site.objects.count() + Building.objects.count() + Floor.objects.count() + Room.objects.count()
    )
    assert sorted(d["identifier"][0]["value"] for d in devices) == ["EXP-1", "EXP-2", "EXP-3"]
    location_ids = {f"Location/{resource['id']}" for resource in locations}
    for resource in locations + devices:
        for reference in (resource.get("partOf"), resource.get("location")):
            if reference:
                assert reference["reference"] in location_ids
    exp1 = next(d for d in devices if d["identifier"][0]["value"] == "EXP-1")
    assert exp1["version"][0]["value"] == "2.0" and exp1["safety"]  # the administrator's export has everything
    manifest = json.loads((tmp_path / "handover" / "manifest.json").read_text())
    assert {o["type"]: o["count"] for o in manifest["output"]} == {"Location": len(locations), "Device": 3}
    assert not [p.name for p in (tmp_path / "handover").iterdir() if p.name.startswith(".")]  # no temporary files


def test_export_to_a_file_path_is_refused_clearly(db, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    with pytest.raises(CommandError, match="is not a directory"):
        call_command("export_fhir", "--out", str(target))
