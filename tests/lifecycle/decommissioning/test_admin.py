"""The basic decommissioning admin: it works through the services, by role, and never edits history."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from declarations.states import AssetState
from lifecycle.decommissioning import services
from lifecycle.decommissioning.models import (
    CustodyEntry,
    DecommissioningCertificate,
    DecommissioningChecklist,
    SignOff,
)

CHANGELIST = "admin:decommissioning_decommissioningchecklist_changelist"


@pytest.fixture
def staff(biomed, security_officer, nurse):
    for user in (biomed, security_officer, nurse):
        user.is_staff = True
        user.save()
    return {"biomed": biomed, "security": security_officer, "nurse": nurse}


def change_url(checklist):
    return reverse("admin:decommissioning_decommissioningchecklist_change", args=[checklist.pk])


def form_data(response):
    """The change form's current values, as the browser would post them back (inlines included)."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if field.disabled or value is None or value is False:
            continue
        data[name] = value.pk if hasattr(value, "pk") else value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for key, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{key}"] = value
        data[f"{formset.prefix}-TOTAL_FORMS"] = formset.initial_form_count()
        for i, sub in enumerate(formset.initial_forms):
            data[f"{formset.prefix}-{i}-id"] = sub.instance.pk
            data[f"{formset.prefix}-{i}-checklist"] = sub.instance.checklist_id
    return data


def test_nurses_do_not_see_the_decommissioning_admin(client, staff, checklist):
    client.force_login(staff["nurse"])
    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert client.get(change_url(checklist)).status_code == 403


def test_opening_a_checklist_from_the_admin(client, staff, asset):
    client.force_login(staff["biomed"])
    response = client.post(reverse("admin:decommissioning_decommissioningchecklist_add"), {"asset": asset.pk})
    assert response.status_code == 302, response.content.decode()[:2000]
    checklist = DecommissioningChecklist.objects.get(asset=asset)
    assert checklist.version == 1 and checklist.data_bearing is True


def test_editing_in_the_admin_bumps_the_version_and_adds_custody_entries(client, staff, checklist):
    client.force_login(staff["security"])
    page = client.get(change_url(checklist))
    assert page.status_code == 200
    assert "encryption status not confirmed" in page.content.decode()
    data = form_data(page)
    data.update(network_credentials_revoked="on", network_revocation_details="CHG-1")
    new = next(
        i.formset
        for i in page.context["inline_admin_formsets"]
        if i.formset.model is CustodyEntry and i.formset.initial_form_count() == 0 and i.formset.extra
    )
    now = timezone.localtime()
    data.update(
        {
            f"{new.prefix}-TOTAL_FORMS": 1,
            f"{new.prefix}-0-from_party": "4 West",
            f"{new.prefix}-0-to_party": "Biomed shop",
            f"{new.prefix}-0-transferred_at_0": now.strftime("%Y-%m-%d"),
            f"{new.prefix}-0-transferred_at_1": (now - dt.timedelta(minutes=10)).strftime("%H:%M:%S"),
            f"{new.prefix}-0-place": "B2",
        }
    )
    response = client.post(change_url(checklist), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    checklist.refresh_from_db()
    assert checklist.network_credentials_revoked is True
    assert checklist.version == 3  # the edit, then the custody entry
    assert list(checklist.custody_entries.values_list("from_party", "to_party")) == [("4 West", "Biomed shop")]
    assert checklist.revisions.get(version=2).changed_by == staff["security"]


def test_a_stale_admin_form_is_refused(client, staff, checklist):
    client.force_login(staff["biomed"])
    page = client.get(change_url(checklist))

    services.checklist_update(checklist=checklist, user=staff["security"], changes={"network_allowlists_removed": True})
    data = form_data(page)
    data["sanitization_tool"] = "Blancco"
    response = client.post(change_url(checklist), data)
    assert response.status_code == 200
    assert "Somebody changed the checklist while you were editing it" in response.content.decode()
    checklist.refresh_from_db()
    assert checklist.sanitization_tool == "" and checklist.version == 2


def test_sign_off_and_decommission_from_the_admin(client, staff, complete_checklist, asset):
    sign_off_url = reverse("admin:decommissioning_sign_off", args=[complete_checklist.pk])
    for who, role in (("biomed", "clinical_engineering"), ("security", "security")):
        client.force_login(staff[who])
        page = client.get(sign_off_url)
        assert page.status_code == 200 and f"version {complete_checklist.version}" in page.content.decode()
        response = client.post(sign_off_url, {"role": role, "version": complete_checklist.version})
        assert response.status_code == 302
    assert SignOff.objects.filter(checklist=complete_checklist).count() == 2

    client.force_login(staff["biomed"])
    response = client.post(reverse("admin:decommissioning_decommission", args=[complete_checklist.pk]))
    certificate = DecommissioningCertificate.objects.get(asset=asset)
    assert response.status_code == 302
    assert response["Location"] == reverse("decommissioning:certificate-detail", args=[certificate.pk])
    asset.refresh_from_db()
    assert asset.state == AssetState.DECOMMISSIONED


def test_a_refused_sign_off_is_reported_not_recorded(client, staff, checklist):
    client.force_login(staff["biomed"])
    url = reverse("admin:decommissioning_sign_off", args=[checklist.pk])
    response = client.post(url, {"role": "clinical_engineering", "version": checklist.version}, follow=True)
    assert "Sign-off refused: the checklist is incomplete" in response.content.decode()
    assert not SignOff.objects.exists()


def test_certificates_and_sign_offs_are_read_only_in_the_admin(client, staff, signed_checklist, asset):
    certificate = services.asset_decommission(asset=asset, user=staff["biomed"])
    client.force_login(staff["security"])
    page = client.get(reverse("admin:decommissioning_decommissioningcertificate_change", args=[certificate.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert reverse("decommissioning:certificate-detail", args=[certificate.pk]) in html
    assert 'name="_save"' not in html
    delete = reverse("admin:decommissioning_decommissioningcertificate_delete", args=[certificate.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    sign_off = SignOff.objects.first()
    assert (
        client.post(reverse("admin:decommissioning_signoff_delete", args=[sign_off.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert DecommissioningCertificate.objects.filter(pk=certificate.pk).exists()
