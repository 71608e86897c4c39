"""The asset page: exactly the transitions this user may run now, each confirmed with a note and run by
the lifecycle service; tag binding; and the read-only panels."""

from django.contrib.messages import get_messages
from django.urls import reverse

from assets.models import Tag, TagBinding
from declarations.states import AssetState
from lifecycle.decommissioning import services as decommissioning
from lifecycle.decommissioning.models import DecommissioningCertificate
from lifecycle.models import TransitionLog, WorkOrderKind
from lifecycle.services import asset_transition, work_order_open
from locations.models import RoomInterval
from tests.factories import TagFactory
from tests.lifecycle.decommissioning.conftest import complete


def page(client, asset):
    response = client.get(reverse("admin:assets_asset_change", args=[asset.pk]))
    assert response.status_code == 200
    return response


def buttons(client, asset):
    response = page(client, asset)
    names = [t["name"] for t in response.context["transitions"]]
    html = response.content.decode()
    for name in names:  # every offered transition is a link to its confirmation page
        assert reverse("admin:assets_asset_transition", args=[asset.pk, name]) in html
    return names


def transition_url(asset, name):
    return reverse("admin:assets_asset_transition", args=[asset.pk, name])


def test_buttons_are_the_transitions_this_user_may_run_now(client, hospital, biomed_staff, security_staff, superuser):
    assets = hospital["assets"]
    client.force_login(biomed_staff)
    assert buttons(client, assets["IP-001"]) == ["send_to_biomed"]  # start_use and reserve are not biomed's
    assert buttons(client, assets["IP-004"]) == ["start_cleaning", "send_to_biomed"]
    assert buttons(client, assets["IP-005"]) == ["finish_cleaning", "send_to_biomed"]
    assert buttons(client, assets["IP-006"]) == ["return_to_service"]
    assert buttons(client, assets["PM-004"]) == []  # decommissioned: terminal

    client.force_login(security_staff)
    assert buttons(client, assets["IP-004"]) == ["send_to_biomed"]

    client.force_login(superuser)
    assert buttons(client, assets["IP-001"]) == ["reserve", "start_use", "send_to_biomed"]
    # IP-002 is available but stale: reserving needs a located asset, and the page says why.
    response = page(client, assets["IP-002"])
    assert [t["name"] for t in response.context["transitions"]] == ["start_use", "send_to_biomed"]
    assert "Reserve: not now — asset is not located: stale" in response.content.decode()


def test_decommission_is_offered_only_when_the_checklist_allows_it(client, hospital, biomed_staff):
    asset = hospital["assets"]["IP-006"]  # in biomed, no checklist
    client.force_login(biomed_staff)
    html = page(client, asset).content.decode()
    assert "Decommission: not now — no decommissioning checklist has been opened" in html
    assert "Open a decommissioning checklist" in html


def test_a_transition_is_confirmed_with_a_note_and_logged(client, hospital, biomed_staff):
    asset = hospital["assets"]["IP-004"]  # soiled
    client.force_login(biomed_staff)
    confirm = client.get(transition_url(asset, "start_cleaning"))
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert 'name="note"' in html and "Soiled →" in html and "Cleaning" in html
    response = client.post(transition_url(asset, "start_cleaning"), {"state": "soiled", "note": "washer 2"})
    assert response.status_code == 302 and response["Location"] == reverse("admin:assets_asset_change", args=[asset.pk])
    asset.refresh_from_db()
    assert asset.state == AssetState.CLEANING
    entry = TransitionLog.objects.get(asset=asset)
    assert (entry.transition, entry.user, entry.note, entry.room) == (
        "start_cleaning",
        biomed_staff,
        "washer 2",
        asset.current_room,
    )
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert "IP-004: start cleaning, Soiled → Cleaning." in messages


def test_send_to_biomed_without_a_reason_is_refused(client, hospital, biomed_staff):
    asset = hospital["assets"]["IP-001"]
    client.force_login(biomed_staff)
    response = client.post(transition_url(asset, "send_to_biomed"), {"state": "available", "note": "  "})
    assert response.status_code == 400
    assert "needs a reason" in response.content.decode()
    asset.refresh_from_db()
    assert asset.state == AssetState.AVAILABLE and not TransitionLog.objects.exists()


def test_a_change_made_meanwhile_is_a_conflict_not_a_double_move(client, hospital, biomed_staff, dispatcher):
    asset = hospital["assets"]["IP-001"]
    client.force_login(biomed_staff)
    assert client.get(transition_url(asset, "send_to_biomed")).status_code == 200  # the page says: available
    asset_transition(asset=asset, transition="start_use", user=dispatcher)  # someone else, meanwhile
    response = client.post(transition_url(asset, "send_to_biomed"), {"state": "available", "note": "alarm E12"})
    assert response.status_code == 409
    assert "since you loaded it" in response.content.decode()
    asset.refresh_from_db()
    assert asset.state == AssetState.IN_USE
    assert TransitionLog.objects.filter(asset=asset).count() == 1


def test_a_transition_outside_the_users_role_is_refused(client, hospital, biomed_staff):
    asset = hospital["assets"]["IP-001"]
    client.force_login(biomed_staff)
    page_ = client.get(transition_url(asset, "start_use"))
    assert page_.status_code == 403
    assert "not open to you" in page_.content.decode()
    response = client.post(transition_url(asset, "start_use"), {"state": "available"})
    assert response.status_code == 403  # the service refuses it too
    assert "may not start use" in response.content.decode()
    asset.refresh_from_db()
    assert asset.state == AssetState.AVAILABLE


def test_return_to_service_lets_biomed_choose_soiled(client, hospital, biomed_staff):
    asset = hospital["assets"]["IP-006"]
    client.force_login(biomed_staff)
    html = client.get(transition_url(asset, "return_to_service")).content.decode()
    assert 'value="available"' in html and 'value="soiled"' in html
    client.post(transition_url(asset, "return_to_service"), {"state": "biomed", "to_state": "soiled", "note": "ok"})
    asset.refresh_from_db()
    assert asset.state == AssetState.SOILED


def test_nurses_made_staff_open_only_the_transition_pages_the_policy_table_gives_them(client, hospital, nurse_staff):
    # One policy for every door (declarations/policy.py): the admin gives the verdict the map and the API give.
    client.force_login(nurse_staff)
    assert client.get(transition_url(hospital["assets"]["IP-001"], "start_use")).status_code == 200
    assert client.get(transition_url(hospital["assets"]["IP-001"], "reserve")).status_code == 403


def test_retiring_from_the_asset_page_goes_through_the_decommissioning_service(
    client, hospital, biomed_staff, security_staff
):
    asset = hospital["assets"]["IP-006"]
    checklist = complete(decommissioning.checklist_open(asset=asset, user=biomed_staff), biomed_staff)
    for user, role in ((biomed_staff, "clinical_engineering"), (security_staff, "security")):
        decommissioning.checklist_sign_off(checklist=checklist, user=user, role=role, version=checklist.version)
    client.force_login(biomed_staff)
    assert "decommission" in buttons(client, asset)
    response = client.post(transition_url(asset, "decommission"), {"state": "biomed", "note": "replaced"})
    certificate = DecommissioningCertificate.objects.get(asset=asset)
    assert response.status_code == 302
    assert response["Location"] == reverse("decommissioning:certificate-detail", args=[certificate.pk])
    asset.refresh_from_db()
    assert asset.state == AssetState.DECOMMISSIONED
    assert TransitionLog.objects.get(asset=asset, transition="decommission").note == "replaced"


def test_binding_and_unbinding_a_tag(client, hospital, biomed_staff):
    asset = hospital["assets"]["IP-003"]
    tag = TagFactory(tag_id="c3000000abcd")
    client.force_login(biomed_staff)
    bind_url = reverse("admin:assets_asset_tag_bind", args=[asset.pk])
    assert "Bind a tag" in page(client, asset).content.decode()

    response = client.post(bind_url, {"tag_id": "C3:00:00:00:AB:CD"})
    assert response.status_code == 302
    tag.refresh_from_db()
    assert tag.asset == asset
    binding = TagBinding.objects.get(tag=tag)
    assert binding.bound_by == biomed_staff and binding.unbound_at is None

    response = client.post(reverse("admin:assets_asset_tag_unbind", args=[asset.pk]))
    assert response.status_code == 302
    tag.refresh_from_db()
    binding.refresh_from_db()
    assert tag.asset is None and binding.unbound_by == biomed_staff


def test_binding_refusals_name_the_problem(client, hospital, biomed_staff):
    asset = hospital["assets"]["IP-003"]
    client.force_login(biomed_staff)
    url = reverse("admin:assets_asset_tag_bind", args=[asset.pk])
    bad = client.post(url, {"tag_id": "xyz"})
    assert bad.status_code == 400 and "is not 12 hexadecimal digits" in bad.content.decode()
    unknown = client.post(url, {"tag_id": "c3:ff:ff:ff:ff:ff"})
    assert unknown.status_code == 400 and "is registered; add it under Tags first" in unknown.content.decode()
    taken = Tag.objects.get(asset=hospital["assets"]["IP-001"])
    elsewhere = client.post(url, {"tag_id": taken.tag_id})
    assert (
        elsewhere.status_code == 400 and "is bound to asset IP-001; unbind it there first" in elsewhere.content.decode()
    )
    assert not Tag.objects.filter(asset=asset).exists()


def test_security_gets_no_tag_binding_or_work_order_links(client, hospital, security_staff):
    client.force_login(security_staff)
    asset = hospital["assets"]["IP-003"]
    html = page(client, asset).content.decode()
    assert reverse("admin:assets_asset_tag_bind", args=[asset.pk]) not in html
    assert "Open a work order" not in html and 'name="_save"' not in html
    assert (
        client.post(reverse("admin:assets_asset_tag_bind", args=[asset.pk]), {"tag_id": "c3000000abcd"}).status_code
        == 403
    )


def test_panels_show_history_work_orders_and_checklist(client, hospital, biomed_staff, dispatcher):
    asset = hospital["assets"]["IP-001"]
    asset_transition(asset=asset, transition="start_use", user=dispatcher, note="bed 4")
    work_order_open(asset=asset, kind=WorkOrderKind.REPAIR, user=biomed_staff, notes="cracked housing")
    RoomInterval.objects.create(asset=asset, room=asset.current_room, entered_at=asset.last_seen)
    client.force_login(biomed_staff)
    html = page(client, asset).content.decode()
    assert "bed 4" in html and "dispatch" in html  # transition log: note and who
    assert "Repair" in html and "Open a work order" in html
    assert "N1-101" in html and "still there" in html  # location history
    assert "None (a checklist can be opened while the asset is in biomed)." in html


def test_editing_the_asset_still_works_and_never_touches_the_state(client, hospital, biomed_staff):
    asset = hospital["assets"]["IP-003"]
    client.force_login(biomed_staff)
    response = page(client, asset)
    form = response.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data = {k: (v if v is not False else "") for k, v in data.items()}
    data.update({"firmware_version": "9.9", "tag_bindings-TOTAL_FORMS": "0", "tag_bindings-INITIAL_FORMS": "0"})
    data.update({"schedules-TOTAL_FORMS": "0", "schedules-INITIAL_FORMS": "0"})  # the read-only schedules inline
    data = {k: v for k, v in data.items() if v != ""}
    saved = client.post(reverse("admin:assets_asset_change", args=[asset.pk]), data)
    assert saved.status_code == 302, saved.context["adminform"].form.errors if saved.context else saved
    asset.refresh_from_db()
    assert asset.firmware_version == "9.9" and asset.state == AssetState.IN_USE


def test_adding_an_asset_with_a_date_out_of_range_is_a_form_error(client, hospital, biomed_staff):
    """9999-12-01 is no in-service date; a schedule counted from it would not be a date (OverflowError, a 500)."""
    client.force_login(biomed_staff)
    url = reverse("admin:assets_asset_add")
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() not in (None, False, "")}
    data.update({"tag_bindings-TOTAL_FORMS": "0", "tag_bindings-INITIAL_FORMS": "0"})
    data.update({"schedules-TOTAL_FORMS": "0", "schedules-INITIAL_FORMS": "0"})
    pump = hospital["assets"]["IP-003"]
    data.update(asset_tag="NEW-1", asset_type=pump.asset_type_id, manufacturer="BD", model="Alaris")
    data.update(in_service_date="9999-12-01", purchase_date="1066-10-14")
    response = client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["in_service_date"] == ["9999-12-01 is not between 1900-01-01 and 2100-12-31"]
    assert errors["purchase_date"] == ["1066-10-14 is not between 1900-01-01 and 2100-12-31"]
    assert not pump.__class__.objects.filter(asset_tag="NEW-1").exists()

    data.update(in_service_date="2026-01-05", purchase_date="2025-12-01")
    assert client.post(url, data).status_code == 302
    assert pump.__class__.objects.get(asset_tag="NEW-1").in_service_date.isoformat() == "2026-01-05"
