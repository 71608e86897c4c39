"""Smaller fixes of issue 13 (defect 7) around retired assets and personal responsibilities: no tag may be
bound to a decommissioned asset (admin and import), a superuser cannot decommission without the Clinical
engineering role, and nobody deletes a work order."""

import pytest

from assets.models import Tag
from assets.services import TagBindingError, tag_bind
from declarations.states import AssetState
from lifecycle.asset_import import AssetImportError, assets_import_text
from lifecycle.decommissioning import services
from lifecycle.exceptions import TransitionPermissionDenied
from lifecycle.models import WorkOrder
from lifecycle.services import work_order_open
from tests.factories import TagFactory, UserFactory


@pytest.fixture
def retired(signed_checklist, asset, biomed):
    services.asset_decommission(asset=asset, user=biomed)
    asset.refresh_from_db()
    assert asset.state == AssetState.DECOMMISSIONED
    return asset


def test_no_tag_may_be_bound_to_a_decommissioned_asset(retired, biomed):
    spare = TagFactory()
    with pytest.raises(TagBindingError, match="is decommissioned"):
        tag_bind(tag=spare, asset=retired, user=biomed)
    assert not Tag.objects.filter(asset=retired).exists()


def test_the_admin_bind_page_refuses_with_the_reason(retired, admin_client):
    spare = TagFactory()
    response = admin_client.post(f"/admin/assets/asset/{retired.pk}/tag/bind/", {"tag_id": spare.tag_id})
    assert response.status_code == 400
    assert "is decommissioned: no tag may be bound to it" in response.content.decode()
    assert not Tag.objects.filter(asset=retired).exists()


def test_the_import_refuses_a_tag_for_a_decommissioned_asset(retired):
    spare = TagFactory()
    header = "asset_tag,asset_type,tag_id,manufacturer,model,serial_number\n"
    row = (
        f"{retired.asset_tag},{retired.asset_type.name},{spare.tag_id},"
        f"{retired.manufacturer},{retired.model},{retired.serial_number}\n"
    )
    with pytest.raises(AssetImportError) as refused:
        assets_import_text(text=header + row)
    assert f"row 2 (asset_tag {retired.asset_tag}): the asset is decommissioned" in " ".join(refused.value.errors)
    assert not Tag.objects.filter(asset=retired).exists()


def test_a_superuser_without_the_clinical_engineering_role_cannot_decommission(signed_checklist, asset):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    with pytest.raises(TransitionPermissionDenied, match="Clinical engineering"):
        services.asset_decommission(asset=asset, user=root)
    asset.refresh_from_db()
    assert asset.state == AssetState.BIOMED


def test_a_superuser_cannot_delete_a_work_order(asset, biomed, admin_client):
    work_order = work_order_open(asset=asset, kind="repair", user=biomed)
    page = admin_client.get(f"/admin/lifecycle/workorder/{work_order.pk}/delete/")
    assert page.status_code == 403
    assert admin_client.post(f"/admin/lifecycle/workorder/{work_order.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = admin_client.post(
        "/admin/lifecycle/workorder/", {"action": "delete_selected", "_selected_action": [work_order.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    assert WorkOrder.objects.filter(pk=work_order.pk).exists()
