"""A sign-off covers what was signed (issue 13, defect 2): the checklist snapshot and the asset's identity,
hashed; the identity is frozen while a checklist exists; decommissioning recomputes the hash, refuses on a
mismatch, and the certificate states the signed content."""

import json

import pytest

from assets.models import Asset, AssetIdentityFrozen
from declarations.states import AssetState
from lifecycle.asset_import import AssetImportError, assets_import_text
from lifecycle.decommissioning import selectors, services
from lifecycle.decommissioning.canonical import canonical_json, sha256_hex
from lifecycle.decommissioning.exceptions import DecommissionRefused, SignOffRefused
from lifecycle.decommissioning.models import DecommissioningCertificate
from tests.api.conftest import client_for
from tests.factories import AssetFactory


def test_each_sign_off_stores_the_hash_of_the_checklist_and_the_asset_identity(signed_checklist, asset):
    for sign_off in signed_checklist.sign_offs.all():
        content = json.loads(sign_off.signed_content)
        assert sign_off.content_sha256 == sha256_hex(sign_off.signed_content)
        assert sign_off.signed_content == canonical_json(content)
        assert content["asset"]["serial_number"] == asset.serial_number
        assert content["asset"]["model"] == asset.model and content["asset"]["manufacturer"] == asset.manufacturer
        assert content["asset"]["record_says_data_bearing"] is True
        assert content["asset"]["record_says_networked"] is True
        assert content["checklist"]["version"] == signed_checklist.version
        assert len(content["checklist"]["custody_chain"]) == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("serial_number", "SN-SWAPPED"), ("model", "Other model"), ("manufacturer", "Other"), ("data_bearing", False)],
)
def test_identity_is_frozen_once_a_checklist_is_open(checklist, asset, field, value):
    asset = Asset.objects.get(pk=asset.pk)
    setattr(asset, field, value)
    with pytest.raises(AssetIdentityFrozen, match=f"cannot change {field}"):
        asset.save()
    assert getattr(Asset.objects.get(pk=asset.pk), field) != value


def test_identity_of_an_asset_without_a_checklist_stays_editable(db):
    asset = AssetFactory(serial_number="SN-1")
    asset.serial_number = "SN-2"
    asset.save()
    assert Asset.objects.get(pk=asset.pk).serial_number == "SN-2"


def test_the_admin_form_refuses_an_identity_edit_with_the_reason(checklist, asset, admin_client):
    page = admin_client.get(f"/admin/assets/asset/{asset.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data.update({"serial_number": "SN-SWAPPED", "asset_type": asset.asset_type_id})
    response = admin_client.post(f"/admin/assets/asset/{asset.pk}/change/", data)
    assert response.status_code == 200
    assert "frozen: a decommissioning checklist is open" in response.content.decode()
    assert Asset.objects.get(pk=asset.pk).serial_number == asset.serial_number


def test_an_import_may_not_rewrite_a_signed_identity(signed_checklist, asset):
    header = "asset_tag,asset_type,tag_id,manufacturer,model,serial_number,data_bearing\n"
    row = f"{asset.asset_tag},{asset.asset_type.name},,{asset.manufacturer},{asset.model},SN-SWAPPED,false\n"
    with pytest.raises(AssetImportError) as refused:
        assets_import_text(text=header + row)
    message = " ".join(refused.value.errors)
    assert "cannot change serial_number, data_bearing" in message and asset.asset_tag in message
    assert Asset.objects.get(pk=asset.pk).serial_number == asset.serial_number


def test_decommission_refuses_when_the_identity_changed_behind_the_service(
    signed_checklist, asset, biomed, security_log
):
    """Even a change that bypasses the model (raw UPDATE) is caught: the hash no longer matches."""
    Asset.objects.filter(pk=asset.pk).update(serial_number="SN-SWAPPED")
    with pytest.raises(DecommissionRefused) as refused:
        services.asset_decommission(asset=asset, user=biomed)
    reasons = " ".join(refused.value.reasons)
    assert "clinical engineering sign-off does not match" in reasons
    assert "asset serial_number changed after it was signed" in reasons
    assert Asset.objects.get(pk=asset.pk).state == AssetState.BIOMED
    assert not DecommissioningCertificate.objects.exists()
    [event] = security_log.events("decommissioning.decommission_refused")
    assert event["user"] == biomed.username and "does not match" in event["reason"]


def test_the_certificate_states_the_signed_content(signed_checklist, asset, biomed):
    certificate = services.asset_decommission(asset=asset, user=biomed)
    signed = json.loads(signed_checklist.sign_offs.first().signed_content)
    assert certificate.content["asset"] == signed["asset"]
    assert certificate.content["custody_chain"] == signed["checklist"]["custody_chain"]
    hashes = {s["signed_content_sha256"] for s in certificate.content["sign_offs"]}
    assert hashes == {sha256_hex(canonical_json(signed))}
    assert selectors.certificate_hash_matches(certificate)


def test_a_refused_sign_off_goes_to_the_security_log(checklist, biomed, security_log):
    with pytest.raises(SignOffRefused):
        services.checklist_sign_off(checklist=checklist, user=biomed, role="clinical_engineering", version=1)
    [event] = security_log.events("decommissioning.sign_off_refused")
    assert event["user"] == biomed.username and event["role"] == "clinical_engineering"
    assert "incomplete" in event["reason"]


def test_the_api_requires_the_version_being_signed(complete_checklist, asset, biomed):
    response = client_for(biomed, step_up=True).post(
        f"/api/v1/assets/{asset.pk}/decommissioning/sign-offs/", {"role": "clinical_engineering"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert "version" in body["field_errors"] and "version is required" in body["message"]
    assert not complete_checklist.sign_offs.exists()


def test_through_the_api_a_sign_off_voided_by_a_renamed_type_is_given_again(signed_checklist, asset, biomed):
    security = signed_checklist.sign_offs.get(role="security").signed_by
    asset.asset_type.name = "Renamed pump"
    asset.asset_type.save()
    url = f"/api/v1/assets/{asset.pk}/decommissioning/"
    body = client_for(biomed).get(url).json()
    assert not body["ready_to_decommission"]
    assert any("asset asset_type changed after it was signed" in b for b in body["sign_off_blockers"])
    listed = client_for(biomed).get(url + "sign-offs/").json()
    assert len(listed) == 2 and not any(s["valid"] for s in listed)  # the list agrees: both void

    version = signed_checklist.version
    for user, role in ((biomed, "clinical_engineering"), (security, "security")):
        response = client_for(user, step_up=True).post(
            url + "sign-offs/", {"role": role, "version": version}, format="json"
        )
        assert response.status_code == 201, response.json()
        version = response.json()["checklist_version"]
    assert version == signed_checklist.version + 1
    assert client_for(biomed).get(url).json()["ready_to_decommission"] is True
    certificate = services.asset_decommission(asset=asset, user=biomed)
    assert certificate.content["asset"]["asset_type"] == "Renamed pump"


def test_a_sign_off_after_a_rename_starts_a_new_version_for_both_roles(
    complete_checklist, asset, biomed, security_officer
):
    """Clinical engineering signs, the type is renamed, then Security signs the version it reviewed: a new
    version is started for Security's sign-off, so the sign-offs that count always cover the same content."""
    version = complete_checklist.version
    services.checklist_sign_off(checklist=complete_checklist, user=biomed, role="clinical_engineering", version=version)
    asset.asset_type.name = "Renamed pump"
    asset.asset_type.save()
    sign_off = services.checklist_sign_off(
        checklist=complete_checklist, user=security_officer, role="security", version=version
    )
    complete_checklist.refresh_from_db()
    assert sign_off.checklist_version == complete_checklist.version == version + 1
    assert [s.role for s in selectors.valid_sign_offs(complete_checklist)] == ["security"]
    assert "clinical engineering sign-off void: the checklist changed after it" in " ".join(
        selectors.decommission_blockers(asset)
    )
    with pytest.raises(SignOffRefused, match="you reviewed version"):
        services.checklist_sign_off(
            checklist=complete_checklist, user=biomed, role="clinical_engineering", version=version
        )
    services.checklist_sign_off(
        checklist=complete_checklist, user=biomed, role="clinical_engineering", version=version + 1
    )
    assert selectors.decommission_blockers(asset) == []
