"""Imports from the admin: the same services as the commands, a dry-run preview with counts or row
errors, then a confirm that imports exactly the previewed file."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from assets.models import Asset, AssetType, Tag
from lifecycle.asset_import import AssetImportError, assets_import
from locations.models import Floor, Receiver, Room
from locations.services import floorplan_import
from tests.locations.test_import_floorplan import GOOD_FEATURES, floor_plan, room

CSV = """asset_tag,asset_type,tag_id,manufacturer,model,serial_number,unit
IP-0001,Infusion pump,C3:00:00:00:01:0A,BD,Alaris 8015,SN-1001,4 North
WC-0001,Wheelchair,,Invacare,Tracer SX5,WC-77,
"""
BAD_CSV = """asset_tag,asset_type,tag_id,manufacturer,model,serial_number
IP-0001,Infusion pump,xyz,BD,Alaris 8015,SN-1001
,Infusion pump,,BD,Alaris 8015,SN-1002
"""


# The services' dry run ---------------------------------------------------------------------------------


def test_asset_dry_run_counts_everything_and_writes_nothing(db):
    result = assets_import(stream=io.StringIO(CSV), dry_run=True)
    assert (result.created, result.updated, result.tags_registered, result.tags_bound) == (2, 0, 1, 1)
    assert result.asset_types_created == ["Infusion pump", "Wheelchair"]
    assert not Asset.objects.exists() and not Tag.objects.exists() and not AssetType.objects.exists()
    # ...and the real run reports the same.
    real = assets_import(stream=io.StringIO(CSV))
    assert (real.created, real.tags_bound) == (2, 1) and Asset.objects.count() == 2


def test_asset_dry_run_reports_row_errors_like_the_real_run(db):
    with pytest.raises(AssetImportError) as excinfo:
        assets_import(stream=io.StringIO(BAD_CSV), dry_run=True)
    assert any("row 2 (asset_tag IP-0001)" in e and "12 hexadecimal digits" in e for e in excinfo.value.errors)
    assert any(e.startswith("row 3 (asset_tag ?): asset_tag is empty") for e in excinfo.value.errors)


def test_floorplan_dry_run_counts_and_writes_nothing(db):
    result = floorplan_import(documents=[("n4.geojson", floor_plan(GOOD_FEATURES))], dry_run=True)
    assert (result.rooms.created, result.receivers.created) == (4, 2)
    assert not Floor.objects.exists() and not Room.objects.exists() and not Receiver.objects.exists()


# The admin pages ---------------------------------------------------------------------------------------


@pytest.fixture
def as_biomed(client, biomed_staff):
    client.force_login(biomed_staff)
    return client


def upload(name, text):
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def test_asset_import_previews_then_imports_on_confirm(as_biomed, biomed_staff):
    url = reverse("admin:assets_asset_import")
    assert as_biomed.get(url).status_code == 200
    preview = as_biomed.post(url, {"files": upload("inventory.csv", CSV)})
    assert preview.status_code == 200
    html = preview.content.decode()
    assert "Preview of inventory.csv: nothing has been written yet" in html
    assert dict(preview.context["summary"])["assets created"] == 2
    assert not Asset.objects.exists()  # a preview writes nothing

    confirmed = as_biomed.post(url, {"token": preview.context["token"]})
    assert confirmed.status_code == 302 and confirmed["Location"] == reverse("admin:assets_asset_changelist")
    assert set(Asset.objects.values_list("asset_tag", flat=True)) == {"IP-0001", "WC-0001"}
    tag = Tag.objects.get(tag_id="c3000000010a")
    assert tag.asset.asset_tag == "IP-0001" and tag.bindings.get().bound_by == biomed_staff

    # The previewed file is gone from the session: confirming twice imports nothing more.
    again = as_biomed.post(url, {"token": preview.context["token"]}, follow=True)
    assert "That preview has expired" in again.content.decode()


def test_asset_import_shows_row_errors_and_no_confirm_button(as_biomed):
    response = as_biomed.post(reverse("admin:assets_asset_import"), {"files": upload("bad.csv", BAD_CSV)})
    assert response.status_code == 400
    html = response.content.decode()
    assert "bad.csv: 2 problems. Nothing was imported" in html
    assert "row 2 (asset_tag IP-0001)" in html and "12 hexadecimal digits" in html
    assert "Confirm the import" not in html
    assert not Asset.objects.exists()


def test_a_file_that_is_not_utf8_is_named(as_biomed):
    bad = SimpleUploadedFile("latin1.csv", "asset_tag,é\n".encode("latin-1"))
    response = as_biomed.post(reverse("admin:assets_asset_import"), {"files": bad})
    assert response.status_code == 400 and "latin1.csv: the file is not UTF-8 text" in response.content.decode()


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("X-1," + "T" * 101 + ",,A,M,S,", "row 2 (asset_tag X-1): asset_type is longer than 100 characters"),
        ("X-1,Pump,,A\x00B,M,S,", "row 2 (asset_tag X-1): manufacturer contains a NUL character"),
        ("X-1,Pump,,A,M,S", "row 2 (asset_tag X-1): has fewer fields than the header (6 of 7)"),
    ],
)
def test_values_the_database_would_refuse_are_row_errors_not_a_500(as_biomed, row, expected):
    text = "asset_tag,asset_type,tag_id,manufacturer,model,serial_number,unit\n" + row + "\n"
    response = as_biomed.post(reverse("admin:assets_asset_import"), {"files": upload("bad.csv", text)})
    assert response.status_code == 400
    assert expected in response.content.decode()
    assert not Asset.objects.exists() and not AssetType.objects.exists()


def test_a_token_from_another_session_imports_nothing(client, as_biomed, biomed_staff):
    preview = as_biomed.post(reverse("admin:assets_asset_import"), {"files": upload("inventory.csv", CSV)})
    client.logout()
    client.force_login(biomed_staff)  # a new session
    client.post(reverse("admin:assets_asset_import"), {"token": preview.context["token"]})
    assert not Asset.objects.exists()


def geojson(name, document):
    return SimpleUploadedFile(name, json.dumps(document).encode(), content_type="application/geo+json")


def test_floorplan_import_previews_several_files_then_imports(as_biomed):
    url = reverse("admin:locations_floor_import")
    floor5 = floor_plan([room("5N-501", 0, 0), room("5N-502", 4, 0)], floor="5", level=5)
    preview = as_biomed.post(
        url, {"files": [geojson("n4.geojson", floor_plan(GOOD_FEATURES)), geojson("n5.geojson", floor5)]}
    )
    assert preview.status_code == 200, preview.content.decode()[:3000]
    summary = dict(preview.context["summary"])
    assert summary["rooms"] == "6 created, 0 updated, 0 unchanged"
    assert summary["receivers"] == "2 created, 0 updated, 0 unchanged"
    assert not Room.objects.exists()
    confirmed = as_biomed.post(url, {"token": preview.context["token"]})
    assert confirmed.status_code == 302
    assert Room.objects.count() == 6 and Receiver.objects.count() == 2 and Floor.objects.count() == 2


def test_floorplan_errors_name_the_file_and_feature(as_biomed):
    overlapping = floor_plan([room("4N-401", 0, 0), room("4N-402", 2, 0)])
    response = as_biomed.post(
        reverse("admin:locations_floor_import"),
        {"files": [geojson("n4.geojson", overlapping), SimpleUploadedFile("broken.geojson", b"{not json")]},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "broken.geojson: not valid JSON" in html
    assert not Room.objects.exists()


def test_floorplan_values_the_database_would_refuse_are_named_not_a_500(as_biomed):
    long_code = floor_plan([room("R" * 65, 0, 0)], floor="F" * 33, level=10**12)
    deep = SimpleUploadedFile("deep.geojson", b"[" * 100_000 + b"]" * 100_000)
    bom = SimpleUploadedFile("bom.geojson", b"\xef\xbb\xbf" + json.dumps(floor_plan(GOOD_FEATURES)).encode())
    url = reverse("admin:locations_floor_import")
    response = as_biomed.post(url, {"files": [geojson("n4.geojson", long_code), bom]})
    assert response.status_code == 400
    errors = response.context["errors"]
    assert 'n4.geojson: collection properties: "floor" is longer than 32 characters' in errors
    assert 'n4.geojson: collection properties: "level" must be from -20 to 200, got 1000000000000' in errors
    assert not any(error.startswith("bom.geojson") for error in errors), errors
    response = as_biomed.post(url, {"files": [deep]})
    assert response.status_code == 400
    assert response.context["errors"] == ["deep.geojson: not valid GeoJSON: arrays or objects nested too deeply"]
    assert not Room.objects.exists()


def test_a_nul_in_a_list_filter_is_a_400_not_a_500(as_biomed):
    for url in (
        "/admin/locations/room/?unit=%00",
        "/admin/locations/room/?room_type=%00",
        "/admin/assets/asset/?q=%00",
    ):
        response = as_biomed.get(url)
        assert response.status_code == 400, url
        assert "NUL character" in response.content.decode()
    assert as_biomed.get("/admin/locations/room/?unit=4+North").status_code == 200


def test_only_those_allowed_may_import(client, security_staff, nurse_staff):
    for user in (security_staff, nurse_staff):
        client.force_login(user)
        assert client.get(reverse("admin:assets_asset_import")).status_code == 403
        assert client.post(reverse("admin:assets_asset_import"), {"files": upload("x.csv", CSV)}).status_code == 403
        assert client.get(reverse("admin:locations_floor_import")).status_code == 403
    assert not Asset.objects.exists()
