"""Fixtures for decommissioning: an asset in biomed with a tag, and a way to fill its checklist in."""

import datetime as dt

import pytest
from django.utils import timezone

from assets.services import tag_bind
from lifecycle.decommissioning import services
from lifecycle.services import asset_transition
from tests.factories import AssetFactory, TagFactory, UserFactory


def send_to_biomed(asset, user):
    asset_transition(asset=asset, transition="send_to_biomed", user=user, note="end of life: replacement bought")
    return asset


@pytest.fixture
def both_roles(db):
    """One person who is both in Clinical engineering and in Security."""
    return UserFactory(username="dual", roles=["Clinical engineering", "Security"])


@pytest.fixture
def second_security(db):
    return UserFactory(username="security2", roles=["Security"])


@pytest.fixture
def tag(db):
    return TagFactory()


@pytest.fixture
def asset(db, biomed, tag):
    """A data-bearing, networked infusion pump with an RTLS tag, sent to biomed for retirement."""
    asset = AssetFactory(data_bearing=True, networked=True, encryption_status="encrypted", firmware_version="12.1")
    tag_bind(tag=tag, asset=asset, user=biomed)
    return send_to_biomed(asset, biomed)


@pytest.fixture
def checklist(asset, biomed):
    return services.checklist_open(asset=asset, user=biomed)


COMPLETE_DATA = {
    "encryption_status": "encrypted",
    "encryption_status_confirmed": True,
    "sanitization_method": "purge",
    "sanitization_tool": "Vendor service tool 4.2, factory reset + crypto erase",
    "sanitization_verification": "Re-read of the storage: no patient records; vendor tool report #8812 OK",
    "sanitized_by_name": "J. Doe (BD field service)",
    "sanitized_on": dt.date(2026, 11, 20),
}
COMPLETE_NETWORK = {
    "network_credentials_revoked": True,
    "network_certificates_revoked": True,
    "network_allowlists_removed": True,
    "network_revocation_details": "CHG-1234",
}
COMPLETE_DISPOSITION = {"final_disposition": "recycle", "disposition_recipient": "GreenTech Recycling Ltd"}


def add_custody(checklist, user, *, hours_ago=2, from_party="4 West", to_party="Biomed shop", seal=""):
    return services.custody_entry_add(
        checklist=checklist,
        user=user,
        from_party=from_party,
        to_party=to_party,
        transferred_at=timezone.now() - dt.timedelta(hours=hours_ago),
        place="Biomed shop, B2",
        container_or_seal_id=seal,
    )


def complete(checklist, user):
    """Fill in every checklist item for a data-bearing, networked asset; returns the fresh checklist."""
    checklist = services.checklist_update(
        checklist=checklist, user=user, changes={**COMPLETE_DATA, **COMPLETE_NETWORK, **COMPLETE_DISPOSITION}
    )
    checklist = services.checklist_record_tag_detached(checklist=checklist, user=user)
    add_custody(checklist, user, hours_ago=3, from_party="4 West", to_party="Biomed shop")
    add_custody(checklist, user, hours_ago=1, from_party="Biomed shop", to_party="GreenTech Recycling Ltd", seal="S-1")
    checklist.refresh_from_db()
    return checklist


@pytest.fixture
def complete_checklist(checklist, biomed):
    return complete(checklist, biomed)


@pytest.fixture
def signed_checklist(complete_checklist, biomed, security_officer):
    services.checklist_sign_off(
        checklist=complete_checklist, user=biomed, role="clinical_engineering", version=complete_checklist.version
    )
    services.checklist_sign_off(
        checklist=complete_checklist, user=security_officer, role="security", version=complete_checklist.version
    )
    return complete_checklist
