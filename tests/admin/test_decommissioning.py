"""The decommissioning page: a sign-off button for the signer's own role only, who signed and whether each
sign-off still holds, and the certificate link."""

import pytest
from django.urls import reverse

from lifecycle.dashboard import checklists_awaiting_sign_off
from lifecycle.decommissioning import services
from lifecycle.decommissioning.models import SignOff
from tests.admin.conftest import make_staff
from tests.factories import UserFactory
from tests.lifecycle.decommissioning.conftest import complete


@pytest.fixture
def checklist(hospital, biomed_staff):
    return complete(services.checklist_open(asset=hospital["assets"]["IP-006"], user=biomed_staff), biomed_staff)


def change_page(client, checklist):
    response = client.get(reverse("admin:decommissioning_decommissioningchecklist_change", args=[checklist.pk]))
    assert response.status_code == 200
    return response.content.decode()


def sign_off_url(checklist):
    return reverse("admin:decommissioning_sign_off", args=[checklist.pk])


def test_each_signer_gets_a_button_for_their_own_role_only(client, checklist, biomed_staff, security_staff):
    client.force_login(biomed_staff)
    html = change_page(client, checklist)
    assert "Sign off as Clinical engineering…" in html and "Sign off as Security…" not in html
    client.force_login(security_staff)
    html = change_page(client, checklist)
    assert "Sign off as Security…" in html and "Sign off as Clinical engineering…" not in html
    page = client.get(sign_off_url(checklist)).content.decode()
    assert 'name="role" value="security"' in page and '<select name="role"' not in page  # no other role to pick


def test_signing_through_the_admin_and_the_panel_shows_who_and_whether_it_holds(
    client, checklist, biomed_staff, security_staff
):
    client.force_login(biomed_staff)
    response = client.post(sign_off_url(checklist), {"role": "clinical_engineering", "version": checklist.version})
    assert response.status_code == 302
    html = change_page(client, checklist)
    assert "Sign off as" not in html  # nothing left for biomed to sign
    assert f"signed by <strong>{biomed_staff.username}</strong>" in html and "✓ valid" in html
    assert "Security: <strong>not signed</strong>" in html

    # A change to the checklist voids the sign-off, and the page says so.
    services.checklist_update(checklist=checklist, user=security_staff, changes={"disposition_reference": "PO-77"})
    checklist.refresh_from_db()
    html = change_page(client, checklist)
    assert "✗ void" in html and f"(now version {checklist.version})" in html
    assert "Sign off as Clinical engineering…" in html  # biomed may sign the new version


def test_one_person_with_both_roles_signs_once(client, checklist):
    both = make_staff(UserFactory(username="dual", roles=["Clinical engineering", "Security"]))
    client.force_login(both)
    html = change_page(client, checklist)
    assert "Sign off as Clinical engineering…" in html and "Sign off as Security…" in html
    client.post(sign_off_url(checklist), {"role": "security", "version": checklist.version})
    assert "Sign off as" not in change_page(client, checklist)
    refused = client.post(
        sign_off_url(checklist), {"role": "clinical_engineering", "version": checklist.version}, follow=True
    )
    assert "the other sign-off must come from a different person" in refused.content.decode()
    assert SignOff.objects.count() == 1


def test_decommission_button_and_certificate_link(client, checklist, biomed_staff, security_staff):
    client.force_login(biomed_staff)
    assert 'id="decommission-button"' not in change_page(client, checklist)  # not signed yet
    for user, role in ((biomed_staff, "clinical_engineering"), (security_staff, "security")):
        services.checklist_sign_off(checklist=checklist, user=user, role=role, version=checklist.version)
    assert 'id="decommission-button"' in change_page(client, checklist)
    response = client.post(reverse("admin:decommissioning_decommission", args=[checklist.pk]))
    assert response.status_code == 302
    html = change_page(client, checklist)
    assert response["Location"] in html  # the certificate link on the checklist page
    assert "Sign off as" not in html and 'id="decommission-button"' not in html


def test_the_decommission_confirmation_is_translated_and_runs_from_a_script_the_csp_allows(
    client, checklist, biomed_staff, security_staff
):
    """The question comes from the template in the reader's language, in a data- attribute: the CSP allows no
    inline onsubmit= handler, so static/admin_confirm/confirm.js asks it."""
    for user, role in ((biomed_staff, "clinical_engineering"), (security_staff, "security")):
        services.checklist_sign_off(checklist=checklist, user=user, role=role, version=checklist.version)
    client.force_login(biomed_staff)
    url = reverse("admin:decommissioning_decommissioningchecklist_change", args=[checklist.pk])
    spanish = client.get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    asset = checklist.asset
    assert f'data-confirm="¿Dar de baja definitivamente {asset} y emitir su certificado?"' in spanish
    assert f'data-confirm="Decommission {asset} for good and issue its certificate?"' in english
    for html in (spanish, english):
        assert "onsubmit" not in html and "admin_confirm/confirm.js" in html


def test_a_type_renamed_after_both_sign_offs_voids_them_and_both_sign_again(
    client, checklist, biomed_staff, security_staff, superuser
):
    """The freeze keeps the asset's own identity fields, not its type's name: renaming the type in the admin
    changes what was signed. Both sign-offs are void (the panel says why), both signers get their button back,
    sign a new version, and the asset can be decommissioned."""
    for user, role in ((biomed_staff, "clinical_engineering"), (security_staff, "security")):
        services.checklist_sign_off(checklist=checklist, user=user, role=role, version=checklist.version)
    signed_version = checklist.version
    asset_type = checklist.asset.asset_type

    client.force_login(superuser)
    url = reverse("admin:assets_assettype_change", args=[asset_type.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() not in (None, False)}
    data["name"] = "Volumetric infusion pump"
    assert client.post(url, data).status_code == 302

    client.force_login(biomed_staff)
    html = change_page(client, checklist)
    assert html.count("✗ void") == 2, html
    assert "asset asset_type changed after it was signed; it must be signed again" in html
    assert 'id="decommission-button"' not in html
    assert "Sign off as Clinical engineering…" in html
    assert [c.pk for c in checklists_awaiting_sign_off(user=biomed_staff)] == [checklist.pk]  # the dashboard
    refused = client.post(reverse("admin:decommissioning_decommission", args=[checklist.pk]), follow=True)
    assert "asset asset_type changed after it was signed" in refused.content.decode()

    page = client.get(sign_off_url(checklist)).content.decode()
    assert "Volumetric infusion pump" in page  # the signer sees the identity they sign
    response = client.post(sign_off_url(checklist), {"role": "clinical_engineering", "version": signed_version})
    assert response.status_code == 302
    checklist.refresh_from_db()
    assert checklist.version == signed_version + 1
    revision = checklist.revisions.get(version=checklist.version)
    assert (revision.action, revision.changed_fields) == ("content_changed", ["asset asset_type"])

    client.force_login(security_staff)
    html = change_page(client, checklist)
    assert "Sign off as Security…" in html and "the checklist changed since (now version" in html
    response = client.post(sign_off_url(checklist), {"role": "security", "version": checklist.version})
    assert response.status_code == 302

    client.force_login(biomed_staff)
    html = change_page(client, checklist)
    assert html.count("✓ valid") == 2 and 'id="decommission-button"' in html
    response = client.post(reverse("admin:decommissioning_decommission", args=[checklist.pk]))
    assert response.status_code == 302
    certificate = checklist.asset.decommissioning_certificate
    assert certificate.content["asset"]["asset_type"] == "Volumetric infusion pump"
    assert SignOff.objects.filter(checklist=checklist).count() == 4  # the void ones stay in the record
