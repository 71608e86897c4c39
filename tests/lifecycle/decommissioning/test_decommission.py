"""Decommissioning itself: refused until the checklist is complete and both sign-offs are valid, then
one transaction retires the asset and issues an immutable, hashed certificate."""

import hashlib
import json

import pytest

from declarations.states import AssetState
from lifecycle.decommissioning import services
from lifecycle.decommissioning.exceptions import ChecklistLocked, DecommissionRefused
from lifecycle.decommissioning.models import AppendOnlyError, DecommissioningCertificate
from lifecycle.decommissioning.selectors import assets_in_service, certificate_hash_matches
from lifecycle.exceptions import GuardFailed, TransitionPermissionDenied
from lifecycle.models import TransitionLog
from lifecycle.services import asset_transition
from tests.factories import AssetFactory
from tests.lifecycle.decommissioning.conftest import send_to_biomed


def test_an_asset_without_a_checklist_cannot_be_decommissioned(asset, biomed):
    with pytest.raises(DecommissionRefused, match="no decommissioning checklist"):
        services.asset_decommission(asset=asset, user=biomed)
    asset.refresh_from_db()
    assert asset.state == AssetState.BIOMED


def test_an_incomplete_checklist_blocks_decommissioning(checklist, asset, biomed):
    with pytest.raises(DecommissionRefused) as refused:
        services.asset_decommission(asset=asset, user=biomed)
    assert "encryption status not confirmed" in refused.value.reasons
    assert "clinical engineering sign-off missing" in refused.value.reasons
    asset.refresh_from_db()
    assert asset.state == AssetState.BIOMED
    assert not DecommissioningCertificate.objects.exists()


def test_one_sign_off_is_not_enough(complete_checklist, asset, biomed):
    services.checklist_sign_off(
        checklist=complete_checklist, user=biomed, role="clinical_engineering", version=complete_checklist.version
    )
    with pytest.raises(DecommissionRefused) as refused:
        services.asset_decommission(asset=asset, user=biomed)
    assert refused.value.reasons == ["security sign-off missing"]


def test_void_sign_offs_block_decommissioning(signed_checklist, asset, biomed):
    services.checklist_update(checklist=signed_checklist, user=biomed, changes={"disposition_reference": "late"})
    with pytest.raises(DecommissionRefused, match="clinical engineering sign-off void"):
        services.asset_decommission(asset=asset, user=biomed)


def test_the_core_transition_guard_refuses_too(complete_checklist, asset, biomed):
    # Even called directly, the lifecycle `decommission` transition asks our blockers.
    with pytest.raises(GuardFailed) as refused:
        asset_transition(asset=asset, transition="decommission", user=biomed)
    assert "security sign-off missing" in refused.value.reasons


def test_security_staff_cannot_run_the_decommission_transition(signed_checklist, asset, security_officer):
    # docs/design.md §3: the transition itself is biomed's; Security signs off but does not retire the asset.
    with pytest.raises(TransitionPermissionDenied):
        services.asset_decommission(asset=asset, user=security_officer)
    assert not DecommissioningCertificate.objects.exists()


def test_decommissioning_retires_the_asset_logs_it_and_issues_the_certificate(
    signed_checklist, asset, tag, biomed, security_officer
):
    certificate = services.asset_decommission(asset=asset, user=biomed)

    asset.refresh_from_db()
    assert asset.state == AssetState.DECOMMISSIONED
    log = TransitionLog.objects.filter(asset=asset).latest("at")
    assert (log.transition, log.from_state, log.to_state, log.user) == (
        "decommission",
        "biomed",
        "decommissioned",
        biomed,
    )

    content = certificate.content
    assert content["asset"]["asset_tag"] == asset.asset_tag
    assert content["asset"]["asset_type"] == asset.asset_type.name
    assert content["asset"]["manufacturer"] == "BD"
    assert content["asset"]["model"] == asset.model
    assert content["asset"]["serial_number"] == asset.serial_number
    data = content["checklist"]["data"]
    assert data["sanitization_method"] == "purge"
    assert data["sanitization_standard"] == "NIST SP 800-88"
    assert data["sanitization_tool"].startswith("Vendor service tool 4.2")
    assert data["sanitized_by_name"] == "J. Doe (BD field service)"
    assert data["sanitized_on"] == "2026-11-20"
    assert data["encryption_status"] == "encrypted" and data["encryption_status_confirmed"] is True
    assert content["checklist"]["network"]["certificates_revoked"] is True
    assert content["checklist"]["rtls_tag"]["detached"] is True
    assert content["checklist"]["rtls_tag"]["tag_id"].replace(":", "") == tag.tag_id
    assert content["checklist"]["disposition"] == {
        "final_disposition": "recycle",
        "recipient": "GreenTech Recycling Ltd",
        "reference": "",
    }
    assert [(e["position"], e["from"], e["to"], e["container_or_seal_id"]) for e in content["custody_chain"]] == [
        (1, "4 West", "Biomed shop", ""),
        (2, "Biomed shop", "GreenTech Recycling Ltd", "S-1"),
    ]
    signers = {s["role"]: s for s in content["sign_offs"]}
    assert signers["clinical_engineering"]["signed_by"]["username"] == biomed.username
    assert signers["security"]["signed_by"]["username"] == security_officer.username
    assert {s["checklist_version"] for s in content["sign_offs"]} == {signed_checklist.version}
    assert all(s["signed_at"] for s in content["sign_offs"])
    assert content["issued_at"] == certificate.issued_at.isoformat()
    assert content["certificate_id"] == str(certificate.pk)


def test_the_certificate_hash_is_sha256_of_the_canonical_json(signed_checklist, asset, biomed):
    certificate = services.asset_decommission(asset=asset, user=biomed)
    recomputed = json.dumps(certificate.content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert recomputed == certificate.content_json
    assert hashlib.sha256(recomputed.encode("utf-8")).hexdigest() == certificate.content_sha256
    assert certificate_hash_matches(certificate)

    # A tampered copy no longer matches (the check an auditor or the page runs).
    certificate.content_json = certificate.content_json.replace("GreenTech", "Somebody")
    assert not certificate_hash_matches(certificate)


def test_the_certificate_is_immutable(signed_checklist, asset, biomed):
    certificate = services.asset_decommission(asset=asset, user=biomed)
    certificate.content_json = "{}"
    with pytest.raises(AppendOnlyError):
        certificate.save()
    with pytest.raises(AppendOnlyError):
        DecommissioningCertificate.objects.get(pk=certificate.pk).delete()
    with pytest.raises(AppendOnlyError):
        DecommissioningCertificate.objects.filter(pk=certificate.pk).update(content_json="{}")
    with pytest.raises(AppendOnlyError):
        DecommissioningCertificate.objects.all().delete()
    stored = DecommissioningCertificate.objects.get(pk=certificate.pk)
    assert certificate_hash_matches(stored) and stored.content["asset"]["asset_tag"] == asset.asset_tag


def test_after_decommissioning_the_checklist_is_frozen(signed_checklist, asset, biomed, security_officer):
    services.asset_decommission(asset=asset, user=biomed)
    with pytest.raises(ChecklistLocked, match="decommissioned"):
        services.checklist_update(checklist=signed_checklist, user=biomed, changes={"disposition_reference": "x"})
    with pytest.raises(ChecklistLocked):
        services.checklist_sign_off(
            checklist=signed_checklist, user=security_officer, role="security", version=signed_checklist.version
        )
    with pytest.raises(DecommissionRefused, match="already decommissioned: certificate"):
        services.asset_decommission(asset=asset, user=biomed)
    assert DecommissioningCertificate.objects.count() == 1


def test_a_failed_certificate_rolls_the_transition_back(signed_checklist, asset, biomed, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "_certificate_content", broken)
    with pytest.raises(RuntimeError):
        services.asset_decommission(asset=asset, user=biomed)
    asset.refresh_from_db()
    assert asset.state == AssetState.BIOMED
    assert not TransitionLog.objects.filter(asset=asset, transition="decommission").exists()


def test_sign_off_needs_the_asset_in_biomed(complete_checklist, asset, biomed):
    asset_transition(asset=asset, transition="return_to_service", user=biomed, to_state="soiled")
    with pytest.raises(ChecklistLocked):
        services.checklist_sign_off(
            checklist=complete_checklist, user=biomed, role="clinical_engineering", version=complete_checklist.version
        )


def test_decommissioned_assets_leave_service_but_keep_their_history(signed_checklist, asset, biomed):
    other = AssetFactory()
    in_biomed = send_to_biomed(AssetFactory(), biomed)
    assert set(assets_in_service()) == {asset, other, in_biomed}

    services.asset_decommission(asset=asset, user=biomed)

    assert set(assets_in_service()) == {other, in_biomed}
    assert list(assets_in_service(type(asset).objects.filter(pk=asset.pk))) == []
    assert TransitionLog.objects.filter(asset=asset).count() == 2  # send_to_biomed, decommission
    assert asset.decommissioning_checklist.revisions.count() == signed_checklist.version


def test_the_plain_transition_service_also_issues_the_certificate(signed_checklist, asset, biomed):
    """Whatever the caller (admin, API, shell), retiring an asset goes with its certificate."""
    asset_transition(asset=asset, transition="decommission", user=biomed)
    asset.refresh_from_db()
    assert asset.state == AssetState.DECOMMISSIONED
    certificate = DecommissioningCertificate.objects.get(asset=asset)
    assert certificate.content["asset"]["asset_tag"] == asset.asset_tag
