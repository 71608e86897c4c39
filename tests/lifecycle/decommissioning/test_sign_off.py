"""Sign-off rules (docs/design.md §4): one Clinical engineering and one Security sign-off, by two different
people, each approving one checklist version; any later change voids them."""

import pytest

from lifecycle.decommissioning import services
from lifecycle.decommissioning.exceptions import (
    ChecklistInvalid,
    DecommissioningPermissionDenied,
    SignOffRefused,
)
from lifecycle.decommissioning.models import SignOff
from lifecycle.decommissioning.selectors import decommission_blockers, valid_sign_offs
from tests.lifecycle.decommissioning.conftest import add_custody


def sign(checklist, user, role, version=None):
    return services.checklist_sign_off(
        checklist=checklist, user=user, role=role, version=checklist.version if version is None else version
    )


def test_two_people_in_the_two_roles_make_the_asset_ready(complete_checklist, asset, biomed, security_officer):
    ce = sign(complete_checklist, biomed, "clinical_engineering")
    assert decommission_blockers(asset) == ["security sign-off missing"]
    sec = sign(complete_checklist, security_officer, "security")

    assert decommission_blockers(asset) == []
    assert (ce.checklist_version, sec.checklist_version) == (complete_checklist.version, complete_checklist.version)
    assert {s.signed_by for s in valid_sign_offs(complete_checklist)} == {biomed, security_officer}


def test_blockers_name_both_missing_sign_offs(complete_checklist, asset):
    assert decommission_blockers(asset) == ["clinical engineering sign-off missing", "security sign-off missing"]


def test_one_person_holding_both_roles_cannot_give_both_sign_offs(complete_checklist, both_roles):
    sign(complete_checklist, both_roles, "clinical_engineering")
    with pytest.raises(SignOffRefused, match="must come from a different person"):
        sign(complete_checklist, both_roles, "security")
    assert SignOff.objects.filter(checklist=complete_checklist).count() == 1


def test_a_user_who_already_signed_is_refused_a_second_sign_off(complete_checklist, biomed):
    sign(complete_checklist, biomed, "clinical_engineering")
    with pytest.raises(SignOffRefused, match="already signed version"):
        sign(complete_checklist, biomed, "clinical_engineering")


def test_a_role_already_signed_by_someone_else_is_refused(
    complete_checklist, biomed, security_officer, second_security
):
    sign(complete_checklist, security_officer, "security")
    with pytest.raises(SignOffRefused, match="Security sign-off for version .* was already given by security"):
        sign(complete_checklist, second_security, "security")


@pytest.mark.parametrize("who", ["nurse", "dispatcher"])
def test_nurses_and_dispatchers_are_refused(complete_checklist, who, request):
    user = request.getfixturevalue(who)
    for role in ("clinical_engineering", "security"):
        with pytest.raises(DecommissioningPermissionDenied, match="is not in the"):
            sign(complete_checklist, user, role)
    assert not SignOff.objects.exists()


def test_a_signer_lacking_the_role_is_refused(complete_checklist, biomed, security_officer):
    with pytest.raises(DecommissioningPermissionDenied, match="not in the 'Security' group"):
        sign(complete_checklist, biomed, "security")
    with pytest.raises(DecommissioningPermissionDenied, match="not in the 'Clinical engineering' group"):
        sign(complete_checklist, security_officer, "clinical_engineering")


def test_a_superuser_without_the_role_cannot_sign(complete_checklist, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "x")
    with pytest.raises(DecommissioningPermissionDenied):
        sign(complete_checklist, admin, "security")


def test_only_the_two_decommissioning_roles_exist(complete_checklist, biomed):
    with pytest.raises(ChecklistInvalid, match="role 'nurse' cannot sign off"):
        sign(complete_checklist, biomed, "nurse")


def test_an_incomplete_checklist_cannot_be_signed_and_the_refusal_lists_what_is_missing(checklist, biomed):
    with pytest.raises(SignOffRefused) as refused:
        sign(checklist, biomed, "clinical_engineering")
    assert "encryption status not confirmed" in refused.value.reasons
    assert "chain of custody has no entries" in refused.value.reasons
    assert "the checklist is incomplete: " in refused.value.message
    assert "sanitization tool not recorded" in refused.value.message


def test_signing_a_version_other_than_the_current_one_is_refused(complete_checklist, biomed):
    with pytest.raises(
        SignOffRefused, match=f"you reviewed version 1 but the checklist is now version {complete_checklist.version}"
    ):
        sign(complete_checklist, biomed, "clinical_engineering", version=1)


def test_an_edit_after_sign_off_voids_it_and_the_blockers_say_so(complete_checklist, asset, biomed, security_officer):
    signed_version = complete_checklist.version
    sign(complete_checklist, biomed, "clinical_engineering")
    sign(complete_checklist, security_officer, "security")
    assert decommission_blockers(asset) == []

    services.checklist_update(
        checklist=complete_checklist, user=security_officer, changes={"disposition_reference": "WTN-2026-77"}
    )
    now = signed_version + 1
    why = f"the checklist changed after it (version {signed_version} signed, now {now})"
    assert decommission_blockers(asset) == [
        f"clinical engineering sign-off void: {why}",
        f"security sign-off void: {why}",
    ]
    complete_checklist.refresh_from_db()
    assert valid_sign_offs(complete_checklist) == []


def test_adding_a_custody_entry_voids_the_sign_offs_too(complete_checklist, asset, biomed, security_officer):
    sign(complete_checklist, biomed, "clinical_engineering")
    add_custody(
        complete_checklist, biomed, hours_ago=0, from_party="GreenTech Recycling Ltd", to_party="GreenTech shredder"
    )
    blockers = decommission_blockers(asset)
    assert blockers[0].startswith("clinical engineering sign-off void: the checklist changed after it")
    assert blockers[1] == "security sign-off missing"


def test_after_a_void_the_same_people_sign_the_new_version(complete_checklist, asset, biomed, security_officer):
    sign(complete_checklist, biomed, "clinical_engineering")
    sign(complete_checklist, security_officer, "security")
    checklist = services.checklist_update(
        checklist=complete_checklist, user=biomed, changes={"disposition_reference": "WTN-1"}
    )
    sign(checklist, biomed, "clinical_engineering")
    sign(checklist, security_officer, "security")
    assert decommission_blockers(asset) == []
    assert SignOff.objects.filter(checklist=checklist).count() == 4  # the void ones stay in the record


def test_sign_offs_are_append_only(complete_checklist, biomed):
    sign_off = sign(complete_checklist, biomed, "clinical_engineering")
    sign_off.checklist_version = 99
    with pytest.raises(Exception, match="append-only"):
        sign_off.save()
    with pytest.raises(Exception, match="append-only"):
        sign_off.delete()
    with pytest.raises(Exception, match="append-only"):
        SignOff.objects.filter(pk=sign_off.pk).update(checklist_version=99)
