"""Asset types carry an optional coding (Device.type): its form is checked, the admin and the CSV import
accept it, the demo types get SNOMED CT concepts."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from assets.codings import SNOMED_CT, snomed_concept_id_problem, type_coding_problems
from assets.demo import DEMO_TYPE_SNOMED_CT, demo_asset_types_ensure
from assets.models import AssetType
from tests.factories import AssetTypeFactory

HEADER = "asset_tag,asset_type,tag_id,manufacturer,model,serial_number,type_code_system,type_code,type_code_display"


@pytest.mark.parametrize("code", ["58938008", "91537007", "706172005", "19257004", "44668000", "469317002"])
def test_published_snomed_concept_ids_have_a_valid_form(code):
    assert snomed_concept_id_problem(code) is None


@pytest.mark.parametrize("code", ["182722004", "706182007"])
def test_infusion_pump_ids_in_circulation_that_are_not_concept_ids_are_refused(code):
    """Both are given for "infusion pump" in public code; their Verhoeff check digit is wrong (docs/fhir.md)."""
    assert "check digit" in snomed_concept_id_problem(code)


@pytest.mark.parametrize(
    "code,words",
    [
        ("58938009", "check digit"),  # one digit off
        ("12345", "6 to 18 digits"),
        ("012345", "no leading zero"),
        ("12a45678", "6 to 18 digits"),
        ("58938028", "partition identifier"),
    ],
)
def test_malformed_snomed_codes_are_refused_with_the_reason(code, words):
    assert words in snomed_concept_id_problem(code)


def test_coding_needs_system_and_code_together():
    assert type_coding_problems(system="", code="", display="") == {}
    assert "code_system" in type_coding_problems(system="", code="58938008", display="Wheelchair")
    assert "code" in type_coding_problems(system=SNOMED_CT, code="", display="Wheelchair")
    assert "code_system" in type_coding_problems(system="snomed", code="58938008", display="")
    assert type_coding_problems(system="http://example.org/local", code="WC-1", display="") == {}  # other systems: free


@pytest.mark.django_db
def test_model_clean_refuses_a_bad_coding():
    wheelchair = AssetType(name="Wheelchair", slug="wheelchair", code_system=SNOMED_CT, code="58938009")
    with pytest.raises(ValidationError) as excinfo:
        wheelchair.full_clean()
    assert "check digit" in str(excinfo.value.message_dict["code"])


@pytest.mark.django_db
def test_the_admin_saves_a_coding_and_refuses_a_malformed_one(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.org", "pw-for-tests-only")
    client.force_login(admin)
    wheelchair = AssetTypeFactory(name="Wheelchair")
    url = f"/admin/assets/assettype/{wheelchair.pk}/change/"
    form = {"name": "Wheelchair", "slug": "wheelchair", "default_pm_interval_days": "365", "code_system": SNOMED_CT}

    refused = client.post(url, {**form, "code": "58938009", "code_display": "Wheelchair"})
    assert refused.status_code == 200 and "check digit" in refused.content.decode()
    saved = client.post(url, {**form, "code": "58938008", "code_display": "Wheelchair"})
    assert saved.status_code == 302
    wheelchair.refresh_from_db()
    assert (wheelchair.code_system, wheelchair.code, wheelchair.code_display) == (SNOMED_CT, "58938008", "Wheelchair")


@pytest.mark.django_db
def test_the_import_sets_the_types_coding(tmp_path):
    path = tmp_path / "assets.csv"
    path.write_text(
        f"{HEADER}\n"
        f"WC-1,Wheelchair,,Invacare,Tracer,S1,{SNOMED_CT},58938008,Wheelchair\n"
        "WC-2,Wheelchair,,Invacare,Tracer,S2,,,\n"  # blank: leaves the type's coding alone
    )
    call_command("import_assets", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    wheelchair = AssetType.objects.get(slug="wheelchair")
    assert (wheelchair.code_system, wheelchair.code, wheelchair.code_display) == (SNOMED_CT, "58938008", "Wheelchair")


@pytest.mark.django_db
def test_the_import_refuses_a_bad_or_conflicting_coding_and_writes_nothing(tmp_path):
    path = tmp_path / "assets.csv"
    path.write_text(
        f"{HEADER}\n"
        f"WC-1,Wheelchair,,Invacare,Tracer,S1,{SNOMED_CT},58938009,Wheelchair\n"
        f"VE-1,Ventilator,,Draeger,V500,S2,{SNOMED_CT},706172005,Ventilator\n"
        f"VE-2,Ventilator,,Draeger,V500,S3,{SNOMED_CT},19257004,Defibrillator\n"
    )
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_assets", str(path), stdout=io.StringIO(), stderr=err)
    message = err.getvalue()
    assert "row 2 (asset_tag WC-1): type_code: SNOMED CT code '58938009' has a wrong check digit" in message
    assert "row 4 (asset_tag VE-2): the coding of asset type Ventilator differs from the one on row 3" in message
    assert not AssetType.objects.exists()


@pytest.mark.django_db
def test_demo_types_get_well_formed_snomed_codes():
    demo_asset_types_ensure()
    coded = {t.name: t for t in AssetType.objects.exclude(code="")}
    assert set(coded) == set(DEMO_TYPE_SNOMED_CT)
    assert coded["Wheelchair"].code == "58938008" and coded["Ventilator"].code == "706172005"
    assert coded["Infusion pump"].code_system == SNOMED_CT
    assert coded["SCD pump"].code == "469317002"  # intermittent venous compression system pump
    for asset_type in coded.values():
        assert asset_type.code_system == SNOMED_CT and snomed_concept_id_problem(asset_type.code) is None
        asset_type.full_clean()
