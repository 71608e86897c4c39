"""The transition log and the change history are append-only, and the admin shows them read-only."""

import pytest
from django.contrib.contenttypes.models import ContentType

from assets.models import Asset
from declarations.states import AssetState
from lifecycle.history import record_changes, snapshot
from lifecycle.models import AppendOnlyError, ChangeRecord, TransitionLog, WorkOrderKind, WorkOrderStatus
from lifecycle.services import asset_start_use, work_order_complete, work_order_open, work_order_update
from tests.factories import AssetFactory, AssetTypeFactory, UserFactory
from tests.lifecycle.helpers import located_asset

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(nurse):
    return asset_start_use(asset=located_asset(), user=nurse)


def test_log_rows_cannot_be_changed(entry):
    entry.note = "rewritten"
    with pytest.raises(AppendOnlyError, match="append-only"):
        entry.save()
    with pytest.raises(AppendOnlyError):
        TransitionLog.objects.filter(pk=entry.pk).update(note="rewritten")
    with pytest.raises(AppendOnlyError):
        TransitionLog.objects.bulk_update([entry], ["note"])
    assert TransitionLog.objects.get(pk=entry.pk).note == ""


def test_log_rows_cannot_be_deleted(entry):
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        TransitionLog.objects.all().delete()
    assert TransitionLog.objects.filter(pk=entry.pk).exists()


def test_change_records_are_append_only_too(nurse):
    asset = AssetFactory()
    record = record_changes(instance=asset, user=nurse, before={"unit": "4 West"}, after={"unit": "ICU"})
    with pytest.raises(AppendOnlyError):
        record.delete()
    with pytest.raises(AppendOnlyError):
        ChangeRecord.objects.update(user=None)


def test_admin_shows_the_log_but_offers_no_add_change_or_delete(admin_client, entry):
    listing = admin_client.get("/admin/lifecycle/transitionlog/")
    assert listing.status_code == 200
    assert entry.asset.asset_tag in listing.content.decode()
    assert admin_client.get("/admin/lifecycle/transitionlog/add/").status_code == 403
    detail = admin_client.get(f"/admin/lifecycle/transitionlog/{entry.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert admin_client.post(f"/admin/lifecycle/transitionlog/{entry.pk}/change/", {"note": "x"}).status_code == 403
    assert admin_client.post(f"/admin/lifecycle/transitionlog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert TransitionLog.objects.get(pk=entry.pk).note == ""


def test_asset_page_shows_its_transition_history(admin_client, entry):
    page = admin_client.get(f"/admin/assets/asset/{entry.asset_id}/change/").content.decode()
    assert "start_use" in page or "Start use" in page


def test_record_changes_keeps_only_what_changed(biomed):
    asset = AssetFactory(unit="4 West", firmware_version="1.0")
    before = snapshot(asset)
    asset.firmware_version = "1.2"
    asset.save()
    record = record_changes(instance=asset, user=biomed, before=before, after=snapshot(asset))
    assert record.changes == {"firmware_version": {"from": "1.0", "to": "1.2"}}
    assert (record.user, record.object_id, record.object_repr) == (biomed, str(asset.pk), asset.asset_tag)
    assert record.content_type == ContentType.objects.get_for_model(Asset)
    assert record_changes(instance=asset, user=biomed, before=snapshot(asset), after=snapshot(asset)) is None


def test_editing_an_asset_in_the_admin_records_who_changed_what(client, db):
    editor = UserFactory(username="biomed-admin", roles=["Clinical engineering"])
    editor.is_staff = editor.is_superuser = True
    editor.save()
    client.force_login(editor)
    pumps, vents = AssetTypeFactory(name="Infusion pump"), AssetTypeFactory(name="Ventilator")
    asset = AssetFactory(asset_type=pumps, firmware_version="1.0", state=AssetState.IN_USE)
    form = {
        "asset_tag": asset.asset_tag,
        "asset_type": vents.pk,
        "manufacturer": asset.manufacturer,
        "model": asset.model,
        "serial_number": asset.serial_number,
        "unit": asset.unit,
        "encryption_status": asset.encryption_status,
        "firmware_version": "2.0",
        "risk_class": asset.risk_class,
        "tag_bindings-TOTAL_FORMS": "0",
        "tag_bindings-INITIAL_FORMS": "0",
        "transition_logs-TOTAL_FORMS": "0",
        "schedules-TOTAL_FORMS": "0",
        "schedules-INITIAL_FORMS": "0",
        "transition_logs-INITIAL_FORMS": "0",
    }
    response = client.post(f"/admin/assets/asset/{asset.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    [record] = ChangeRecord.objects.filter(content_type__model="asset")  # (role grants are recorded too)
    assert record.user == editor
    assert record.changes == {
        "asset_type": {"from": "Infusion pump", "to": "Ventilator"},
        "firmware_version": {"from": "1.0", "to": "2.0"},
    }
    assert Asset.objects.get(pk=asset.pk).state == AssetState.IN_USE  # the form cannot touch the state


def test_work_order_changes_are_recorded(biomed):
    asset = located_asset(state=AssetState.BIOMED)
    work_order = work_order_open(asset=asset, kind=WorkOrderKind.REPAIR, user=biomed, notes="screen cracked")
    work_order_update(work_order=work_order, user=biomed, status=WorkOrderStatus.IN_PROGRESS, technician=biomed)
    work_order_complete(work_order=work_order, user=biomed, notes="screen replaced")
    records = ChangeRecord.objects.filter(
        content_type=ContentType.objects.get_for_model(work_order), object_id=str(work_order.pk)
    ).order_by("id")  # the content type too: another table's row may have the same id (SQLite restarts at 1)
    assert [r.action for r in records] == ["created", "changed", "changed"]
    assert records[1].changes["status"] == {"from": "open", "to": "in_progress"}
    assert records[1].changes["technician"] == {"from": None, "to": "biomed"}
    assert records[2].changes["status"] == {"from": "in_progress", "to": "done"}
    assert records[2].changes["notes"] == {"from": "screen cracked", "to": "screen cracked\nscreen replaced"}
