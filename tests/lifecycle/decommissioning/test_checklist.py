"""The checklist: what makes it complete, who may change it and when, and its change history."""

import datetime as dt

import pytest
from django.utils import timezone

from assets.models import Tag, TagBinding
from assets.services import tag_bind
from lifecycle.decommissioning import services
from lifecycle.decommissioning.exceptions import (
    ChecklistConflict,
    ChecklistInvalid,
    ChecklistLocked,
    DecommissioningPermissionDenied,
)
from lifecycle.decommissioning.models import ChecklistRevision
from lifecycle.decommissioning.selectors import checklist_missing_items
from lifecycle.services import asset_transition
from tests.factories import AssetFactory
from tests.lifecycle.decommissioning.conftest import (
    COMPLETE_DATA,
    COMPLETE_DISPOSITION,
    COMPLETE_NETWORK,
    add_custody,
    send_to_biomed,
)


def test_a_new_checklist_starts_from_the_asset_record_and_lists_everything_missing(checklist):
    assert checklist.version == 1
    assert checklist.data_bearing is True and checklist.networked is True
    missing = checklist_missing_items(checklist)
    assert "encryption status not confirmed" in missing
    assert any(item.startswith("storage sanitization not recorded") for item in missing)
    assert "sanitization tool not recorded" in missing
    assert "who performed the sanitization not recorded" in missing
    assert "sanitization date not recorded" in missing
    assert "network credentials not revoked" in missing
    assert "network certificates not revoked" in missing
    assert "network allowlist entries not removed" in missing
    assert any(item.startswith("RTLS tag") and "still bound" in item for item in missing)
    assert "chain of custody has no entries" in missing
    assert any(item.startswith("final disposition not recorded") for item in missing)
    assert "disposition recipient not recorded" in missing


def test_a_fully_filled_checklist_is_complete(complete_checklist):
    assert checklist_missing_items(complete_checklist) == []


def test_a_device_without_data_or_network_needs_no_sanitization_or_revocation(biomed):
    asset = send_to_biomed(AssetFactory(data_bearing=False, networked=False), biomed)
    checklist = services.checklist_open(asset=asset, user=biomed)
    checklist = services.checklist_update(checklist=checklist, user=biomed, changes=COMPLETE_DISPOSITION)
    checklist = services.checklist_record_tag_detached(checklist=checklist, user=biomed)
    add_custody(checklist, biomed, to_party="GreenTech Recycling Ltd")
    checklist.refresh_from_db()

    assert checklist_missing_items(checklist) == []
    assert checklist.detached_tag_id == ""  # it never had a tag; recorded as such


def test_data_bearing_device_needs_every_sanitization_field(checklist, biomed):
    everything = {**COMPLETE_DATA, **COMPLETE_NETWORK, **COMPLETE_DISPOSITION}
    services.checklist_update(checklist=checklist, user=biomed, changes=everything)
    services.checklist_record_tag_detached(checklist=checklist, user=biomed)
    add_custody(checklist, biomed)
    checklist.refresh_from_db()
    assert checklist_missing_items(checklist) == []

    expectations = {
        "sanitization_method": "storage sanitization not recorded",
        "sanitization_tool": "sanitization tool not recorded",
        "sanitization_verification": "sanitization verification",
        "sanitized_on": "sanitization date not recorded",
    }
    for field, message in expectations.items():
        blank = None if field == "sanitized_on" else ""
        services.checklist_update(checklist=checklist, user=biomed, changes={field: blank})
        checklist.refresh_from_db()
        assert any(item.startswith(message) for item in checklist_missing_items(checklist)), field
        services.checklist_update(checklist=checklist, user=biomed, changes={field: COMPLETE_DATA[field]})

    # The performer may be a user account instead of a name.
    services.checklist_update(checklist=checklist, user=biomed, changes={"sanitized_by_name": ""})
    checklist.refresh_from_db()
    assert "who performed the sanitization not recorded" in checklist_missing_items(checklist)
    services.checklist_update(checklist=checklist, user=biomed, changes={"sanitized_by": biomed.pk})
    checklist.refresh_from_db()
    assert checklist_missing_items(checklist) == []

    # Encryption confirmed as "unknown" is not an answer.
    services.checklist_update(checklist=checklist, user=biomed, changes={"encryption_status": "unknown"})
    checklist.refresh_from_db()
    assert any("encryption status is confirmed as 'unknown'" in item for item in checklist_missing_items(checklist))


def test_answering_not_data_bearing_against_the_asset_record_needs_a_reason(complete_checklist, biomed):
    checklist = services.checklist_update(checklist=complete_checklist, user=biomed, changes={"data_bearing": False})
    assert any("asset record marks the device data-bearing" in item for item in checklist_missing_items(checklist))
    checklist = services.checklist_update(
        checklist=checklist, user=biomed, changes={"data_bearing_note": "Storage module removed by vendor in 2024"}
    )
    assert checklist_missing_items(checklist) == []


def test_networked_device_needs_each_revocation(complete_checklist, biomed):
    for field, message in [
        ("network_credentials_revoked", "network credentials not revoked"),
        ("network_certificates_revoked", "network certificates not revoked"),
        ("network_allowlists_removed", "network allowlist entries not removed"),
    ]:
        checklist = services.checklist_update(checklist=complete_checklist, user=biomed, changes={field: False})
        assert checklist_missing_items(checklist) == [message]
        services.checklist_update(checklist=checklist, user=biomed, changes={field: True})


def test_every_change_bumps_the_version_and_stores_a_revision(checklist, biomed, security_officer):
    services.checklist_update(checklist=checklist, user=security_officer, changes={"network_credentials_revoked": True})
    add_custody(checklist, biomed)
    services.checklist_record_tag_detached(checklist=checklist, user=biomed)
    checklist.refresh_from_db()
    assert checklist.version == 4

    revisions = list(ChecklistRevision.objects.filter(checklist=checklist).order_by("version"))
    assert [(r.version, r.action) for r in revisions] == [
        (1, "opened"),
        (2, "edited"),
        (3, "custody_added"),
        (4, "tag_detached"),
    ]
    edit = revisions[1]
    assert edit.changed_by == security_officer
    assert edit.changed_fields == ["network_credentials_revoked"]
    assert edit.snapshot["network"]["credentials_revoked"] is True
    assert revisions[2].snapshot["custody_chain"][0]["from"] == "4 West"
    assert revisions[3].snapshot["rtls_tag"]["detached"] is True


def test_saving_the_same_values_again_is_not_a_new_version(checklist, biomed):
    services.checklist_update(checklist=checklist, user=biomed, changes={"sanitization_tool": "Blancco 7"})
    again = services.checklist_update(checklist=checklist, user=biomed, changes={"sanitization_tool": " Blancco 7 "})
    assert again.version == 2
    assert ChecklistRevision.objects.filter(checklist=checklist).count() == 2


def test_a_stale_edit_is_refused_rather_than_mixed_in(checklist, biomed, security_officer):
    services.checklist_update(checklist=checklist, user=security_officer, changes={"network_allowlists_removed": True})
    with pytest.raises(ChecklistConflict, match="you had version 1, now 2"):
        services.checklist_update(
            checklist=checklist, user=biomed, changes={"sanitization_tool": "x"}, expected_version=1
        )


def test_bad_input_is_refused_with_the_field_named(checklist, biomed):
    with pytest.raises(ChecklistInvalid, match="sanitization_method"):
        services.checklist_update(checklist=checklist, user=biomed, changes={"sanitization_method": "shred"})
    with pytest.raises(ChecklistInvalid, match="unknown or read-only checklist field.*tag_detached"):
        services.checklist_update(checklist=checklist, user=biomed, changes={"tag_detached": True})
    with pytest.raises(ChecklistInvalid, match="final_disposition"):
        services.checklist_update(checklist=checklist, user=biomed, changes={"final_disposition": "landfill"})
    with pytest.raises(ChecklistInvalid, match="sanitized_on.*in the future"):
        services.checklist_update(
            checklist=checklist, user=biomed, changes={"sanitized_on": timezone.localdate() + dt.timedelta(days=2)}
        )
    with pytest.raises(ChecklistInvalid, match="sanitized_by: no user"):
        services.checklist_update(checklist=checklist, user=biomed, changes={"sanitized_by": 999999})
    checklist.refresh_from_db()
    assert checklist.version == 1  # nothing was written


def test_nurses_and_dispatchers_cannot_open_or_edit_a_checklist(asset, checklist, nurse, dispatcher):
    for user in (nurse, dispatcher):
        with pytest.raises(DecommissioningPermissionDenied):
            services.checklist_update(checklist=checklist, user=user, changes={"sanitization_tool": "x"})
        with pytest.raises(DecommissioningPermissionDenied):
            services.checklist_open(asset=asset, user=user)
        with pytest.raises(DecommissioningPermissionDenied):
            add_custody(checklist, user)


def test_the_checklist_is_editable_only_while_the_asset_is_in_biomed(asset, checklist, biomed):
    asset_transition(asset=asset, transition="return_to_service", user=biomed, to_state="soiled")
    with pytest.raises(ChecklistLocked, match="only be changed while the asset is in biomed"):
        services.checklist_update(checklist=checklist, user=biomed, changes={"sanitization_tool": "x"})
    with pytest.raises(ChecklistLocked):
        add_custody(checklist, biomed)
    with pytest.raises(ChecklistLocked):
        services.checklist_record_tag_detached(checklist=checklist, user=biomed)


def test_a_checklist_cannot_be_opened_for_an_asset_outside_biomed(biomed):
    with pytest.raises(ChecklistLocked, match="available"):
        services.checklist_open(asset=AssetFactory(), user=biomed)


def test_detaching_the_tag_closes_its_binding_so_the_tag_can_be_reused(asset, checklist, tag, biomed):
    checklist = services.checklist_record_tag_detached(checklist=checklist, user=biomed)

    assert checklist.tag_detached and checklist.detached_tag_id == tag.tag_id
    assert not Tag.objects.filter(asset=asset).exists()
    binding = TagBinding.objects.get(tag=tag, asset=asset)
    assert binding.unbound_at is not None and binding.unbound_by == biomed
    other = AssetFactory()
    tag_bind(tag=tag, asset=other, user=biomed)  # reusable
    assert Tag.objects.get(pk=tag.pk).asset == other


def test_a_tag_bound_again_after_detachment_blocks_completion(complete_checklist, asset, biomed):
    spare = Tag.objects.create(tag_id="c3ffffffff01")
    tag_bind(tag=spare, asset=asset, user=biomed)
    missing = checklist_missing_items(complete_checklist)
    assert missing == ["RTLS tag c3:ff:ff:ff:ff:01 is still bound to the asset: detach and unbind it"]


def test_custody_entries_are_ordered_and_must_not_go_back_in_time(checklist, biomed):
    first = add_custody(checklist, biomed, hours_ago=1)
    with pytest.raises(ChecklistInvalid, match="before the previous hand-over"):
        add_custody(checklist, biomed, hours_ago=5, from_party="Biomed shop", to_party="Store")
    second = add_custody(checklist, biomed, hours_ago=0, from_party="Biomed shop", to_party="Store")
    assert (first.position, second.position) == (1, 2)


def test_custody_entry_input_is_checked(checklist, biomed):
    with pytest.raises(ChecklistInvalid, match="from_party is empty; .*place is empty"):
        services.custody_entry_add(
            checklist=checklist, user=biomed, from_party=" ", to_party="x", transferred_at=timezone.now(), place=""
        )
    with pytest.raises(ChecklistInvalid, match="time zone"):
        services.custody_entry_add(
            checklist=checklist,
            user=biomed,
            from_party="a",
            to_party="b",
            transferred_at=dt.datetime(2026, 1, 1, 8, 0),  # noqa: DTZ001 - naive on purpose
            place="p",
        )
    with pytest.raises(ChecklistInvalid, match="in the future"):
        add_custody(checklist, biomed, hours_ago=-2)


def test_a_gap_in_the_custody_chain_keeps_the_checklist_incomplete(complete_checklist, biomed):
    add_custody(complete_checklist, biomed, hours_ago=0, from_party="Loading dock", to_party="Courier")
    complete_checklist.refresh_from_db()
    missing = checklist_missing_items(complete_checklist)
    assert len(missing) == 1
    assert "chain of custody is broken: entry 3 starts from 'Loading dock'" in missing[0]
