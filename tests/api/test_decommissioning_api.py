"""Decommissioning through the API: checklist, custody, tag, two sign-offs, decommission, certificate."""

from datetime import timedelta

import pytest
from django.utils import timezone

from assets.models import Tag
from assets.services import tag_bind
from declarations.states import AssetState
from lifecycle.decommissioning.canonical import canonical_json, sha256_hex
from tests.api.conftest import client_for, reload
from tests.factories import TagFactory, UserFactory


@pytest.fixture
def clients(users):
    """Sign-off and decommission need a fresh sign-in: these clients hold step-up tokens (accounts)."""
    return {"anonymous": client_for(None), **{role: client_for(user, step_up=True) for role, user in users.items()}}


def url(asset, rest=""):
    return f"/api/v1/assets/{asset.pk}/decommissioning/{rest}"


def biomed_asset(hospital, clients):
    asset = hospital.place("W402", data_bearing=True, networked=True, encryption_status="encrypted")
    tag_bind(tag=TagFactory(), asset=asset)
    sent = clients["clinical_engineering"].post(
        f"/api/v1/assets/{asset.pk}/transitions/",
        {"transition": "send_to_biomed", "note": "end of life"},
        format="json",
    )
    assert sent.status_code == 201
    return asset


def fill_in(client, asset):
    checklist = client.patch(
        url(asset),
        {
            "encryption_status_confirmed": True,
            "sanitization_method": "purge",
            "sanitization_tool": "Vendor tool 4.2",
            "sanitization_verification": "re-read: empty",
            "sanitized_by_name": "J. Doe",
            "sanitized_on": "2026-01-05",
            "network_credentials_revoked": True,
            "network_certificates_revoked": True,
            "network_allowlists_removed": True,
            "final_disposition": "recycle",
            "disposition_recipient": "GreenTech Recycling Ltd",
        },
        format="json",
    )
    assert checklist.status_code == 200, checklist.json()
    assert client.post(url(asset, "tag-detachment/")).status_code == 200
    for hours, (src, dst) in ((3, ("4 West", "Biomed shop")), (1, ("Biomed shop", "GreenTech Recycling Ltd"))):
        entry = client.post(
            url(asset, "custody-entries/"),
            {
                "from_party": src,
                "to_party": dst,
                "place": "Biomed shop",
                "transferred_at": (timezone.now() - timedelta(hours=hours)).isoformat(),
            },
            format="json",
        )
        assert entry.status_code == 201, entry.json()
    return entry.json()


def test_full_decommissioning_through_the_api(hospital, clients, users):
    asset = biomed_asset(hospital, clients)
    biomed, security = clients["clinical_engineering"], clients["security"]

    opened = biomed.post(url(asset))
    assert opened.status_code == 201 and opened.json()["version"] == 1
    assert opened.json()["missing_items"]  # nothing filled in yet
    checklist = fill_in(biomed, asset)
    assert checklist["missing_items"] == [] and checklist["rtls_tag"]["detached"] is True
    assert not Tag.objects.filter(asset=asset).exists()  # unbound: the tag can be reused
    version = checklist["version"]

    refused = biomed.post(url(asset, "decommission/"), {}, format="json")
    assert refused.status_code == 409 and "clinical engineering sign-off missing" in refused.json()["reasons"]
    signed = biomed.post(url(asset, "sign-offs/"), {"role": "clinical_engineering", "version": version}, format="json")
    assert signed.status_code == 201, signed.json()
    assert (
        security.post(url(asset, "sign-offs/"), {"role": "security", "version": version}, format="json").status_code
        == 201
    )
    assert [s["valid"] for s in security.get(url(asset, "sign-offs/")).json()] == [True, True]
    assert biomed.get(url(asset)).json()["ready_to_decommission"] is True

    assert biomed.get(url(asset, "certificate/")).status_code == 404
    by_security = security.post(url(asset, "decommission/"), {}, format="json")
    assert by_security.status_code == 403 and "Clinical engineering" in by_security.json()["message"]
    done = biomed.post(url(asset, "decommission/"), {"note": "replaced by PUMP-2"}, format="json")
    assert done.status_code == 201, done.json()
    assert reload(asset).state == AssetState.DECOMMISSIONED
    certificate = security.get(url(asset, "certificate/")).json()
    assert certificate["content_sha256"] == sha256_hex(canonical_json(certificate["certificate"]))
    assert {s["role"] for s in certificate["certificate"]["sign_offs"]} == {"clinical_engineering", "security"}
    assert certificate["certificate"]["asset"]["asset_tag"] == asset.asset_tag


def test_sign_off_refusals_say_why(hospital, clients, users):
    asset = biomed_asset(hospital, clients)
    biomed = clients["clinical_engineering"]
    biomed.post(url(asset))

    incomplete = biomed.post(url(asset, "sign-offs/"), {"role": "clinical_engineering", "version": 1}, format="json")
    assert incomplete.status_code == 409 and incomplete.json()["code"] == "sign_off_refused"
    assert "RTLS tag" in " ".join(incomplete.json()["reasons"])

    v = fill_in(biomed, asset)["version"]
    wrong_role = biomed.post(url(asset, "sign-offs/"), {"role": "security", "version": v}, format="json")
    assert wrong_role.status_code == 403 and "Security" in wrong_role.json()["message"]
    nurse = clients["nurse"].post(url(asset, "sign-offs/"), {"role": "security", "version": v}, format="json")
    assert nurse.status_code == 403

    dual = client_for(
        UserFactory(username="dual", roles=["Clinical engineering", "Security"], password=None), step_up=True
    )
    first = dual.post(url(asset, "sign-offs/"), {"role": "clinical_engineering", "version": v}, format="json")
    assert first.status_code == 201
    twice = dual.post(url(asset, "sign-offs/"), {"role": "security", "version": v}, format="json")
    assert twice.status_code == 409 and "different person" in twice.json()["message"]

    stale_version = clients["security"].post(
        url(asset, "sign-offs/"), {"role": "security", "version": 1}, format="json"
    )
    assert stale_version.status_code == 409 and "version 1" in stale_version.json()["message"]


def test_checklist_edits_are_checked(hospital, clients):
    asset = biomed_asset(hospital, clients)
    biomed = clients["clinical_engineering"]
    assert biomed.get(url(asset)).status_code == 404  # not opened yet
    version = biomed.post(url(asset)).json()["version"]

    unknown = biomed.patch(url(asset), {"tag_detached": True}, format="json")
    assert unknown.status_code == 400 and "tag_detached" in unknown.json()["field_errors"]
    stale = biomed.patch(url(asset), {"disposition_recipient": "X", "expected_version": version + 5}, format="json")
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    backwards = biomed.post(
        url(asset, "custody-entries/"),
        {"from_party": "a", "to_party": "b", "place": "c", "transferred_at": "2999-01-01T00:00:00Z"},
        format="json",
    )
    assert backwards.status_code == 400 and "in the future" in backwards.json()["message"]


def test_only_biomed_and_security_see_decommissioning(hospital, clients):
    asset = biomed_asset(hospital, clients)
    clients["clinical_engineering"].post(url(asset))
    assert clients["dispatch"].get(url(asset)).status_code == 403
    assert clients["security"].get(url(asset)).status_code == 200
