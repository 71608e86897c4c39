"""Who may open which admin page (docs/admin.md, lifecycle/migrations/0005_admin_role_permissions.py).

Every registered admin page is requested as every role: the list, an object's page and the add page,
plus the custom pages (transitions, tag binding, imports, export, tokens, sign-off, certificate).
"""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from rest_framework.authtoken.models import Token, TokenProxy

from assets.services import tag_bind
from lifecycle.alerts.choices import AlertKind
from lifecycle.alerts.models import Alert, ParLevel
from lifecycle.alerts.services import alert_raise
from lifecycle.decommissioning import services as decommissioning
from lifecycle.history import record_changes
from lifecycle.models import RoomTypeRule, WorkOrderKind
from lifecycle.services import asset_transition, work_order_open
from locations.ingest.auth import gateway_token_issue
from locations.models import RoomInterval
from tests.factories import AssetFactory, ReceiverFactory, TagFactory
from tests.lifecycle.decommissioning.conftest import complete, send_to_biomed
from tests.lifecycle.helpers import open_recall_on

OURS = {"locations", "assets", "lifecycle", "decommissioning", "alerts", "auth", "authtoken"}

CE_VIEW = {
    "locations.site",
    "locations.building",
    "locations.floor",
    "locations.room",
    "locations.receiver",
    "locations.gatewaytoken",
    "locations.roominterval",
    "assets.assettype",
    "assets.asset",
    "assets.tag",
    "assets.tagbinding",
    "lifecycle.transitionlog",
    "lifecycle.changerecord",
    "lifecycle.roomtyperule",
    "lifecycle.workorder",
    "lifecycle.recall",
    "decommissioning.decommissioningchecklist",
    "decommissioning.signoff",
    "decommissioning.decommissioningcertificate",
    "alerts.parlevel",
    "alerts.alert",
}
CE_CHANGE = {
    "locations.site",
    "locations.building",
    "locations.floor",
    "locations.room",
    "locations.receiver",
    "locations.gatewaytoken",  # its label; and revoking
    "assets.assettype",
    "assets.asset",
    "assets.tag",
    "lifecycle.roomtyperule",
    "lifecycle.workorder",
    "lifecycle.recall",
    "decommissioning.decommissioningchecklist",
    "alerts.parlevel",
    "alerts.alert",  # acknowledge and resolve
}
CE_ADD = CE_CHANGE - {"locations.gatewaytoken", "alerts.alert"}  # tokens: the issue page; alerts: the system
SECURITY_VIEW = {
    "locations.gatewaytoken",
    "assets.assettype",
    "assets.asset",
    "assets.tag",
    "assets.tagbinding",
    "lifecycle.transitionlog",
    "lifecycle.changerecord",
    "decommissioning.decommissioningchecklist",
    "decommissioning.signoff",
    "decommissioning.decommissioningcertificate",
}
SECURITY_CHANGE = SECURITY_ADD = {"decommissioning.decommissioningchecklist"}

EXPECTED = {
    # role: (may view, may change, may add)
    "biomed": (CE_VIEW, CE_CHANGE, CE_ADD),
    "security": (SECURITY_VIEW, SECURITY_CHANGE, SECURITY_ADD),
    "nurse_staff": (set(), set(), set()),
    "dispatch_staff": (set(), set(), set()),
}


@pytest.fixture
def everything(hospital, superuser, biomed_staff, security_staff):
    """One object of every model the admin shows."""
    assets = hospital["assets"]
    receiver = ReceiverFactory(floor=hospital["floors"]["n1"])
    retired = send_to_biomed(AssetFactory(asset_tag="OLD-1"), biomed_staff)
    tag_bound = TagFactory()

    tag_bind(tag=tag_bound, asset=retired)
    old = complete(decommissioning.checklist_open(asset=retired, user=biomed_staff), biomed_staff)
    for user, role in ((biomed_staff, "clinical_engineering"), (security_staff, "security")):
        decommissioning.checklist_sign_off(checklist=old, user=user, role=role, version=old.version)
    certificate = decommissioning.asset_decommission(asset=retired, user=biomed_staff)
    current = complete(decommissioning.checklist_open(asset=assets["IP-006"], user=biomed_staff), biomed_staff)
    sign_off = decommissioning.checklist_sign_off(
        checklist=current, user=biomed_staff, role="clinical_engineering", version=current.version
    )
    objects = {
        "auth.group": Group.objects.first(),
        "auth.user": superuser,
        "authtoken.tokenproxy": TokenProxy.objects.get(key=Token.objects.create(user=superuser).key),
        "locations.site": hospital["floors"]["n1"].building.site,
        "locations.building": hospital["floors"]["n1"].building,
        "locations.floor": hospital["floors"]["n1"],
        "locations.room": hospital["rooms"]["n1-ward"],
        "locations.receiver": receiver,
        "locations.gatewaytoken": gateway_token_issue(gateway_id=receiver.gateway_id).token,
        "locations.roominterval": RoomInterval.objects.create(
            asset=assets["IP-001"], room=hospital["rooms"]["n1-ward"], entered_at=assets["IP-001"].last_seen
        ),
        "assets.assettype": hospital["types"]["pumps"],
        "assets.asset": assets["IP-001"],
        "assets.tag": tag_bound,
        "assets.tagbinding": tag_bound.bindings.first(),
        "lifecycle.transitionlog": asset_transition(
            asset=assets["IP-004"], transition="start_cleaning", user=superuser
        ),
        "lifecycle.changerecord": record_changes(
            instance=assets["IP-001"], user=superuser, before={"unit": "4 West"}, after={"unit": "ICU"}
        ),
        "lifecycle.roomtyperule": RoomTypeRule.objects.first(),
        "lifecycle.workorder": work_order_open(asset=assets["IP-001"], kind=WorkOrderKind.REPAIR, user=superuser),
        "lifecycle.recall": open_recall_on(assets["IP-003"]).recall,
        "decommissioning.decommissioningchecklist": current,
        "decommissioning.signoff": sign_off,
        "decommissioning.decommissioningcertificate": certificate,
        "alerts.parlevel": ParLevel.objects.create(
            unit="4 West", asset_type=hospital["types"]["pumps"], target=2, critical=1
        ),
        "alerts.alert": alert_raise(kind=AlertKind.MISSING, subject=assets["PM-001"], message="gone")[0],
    }
    objects["custom"] = {"asset": assets["IP-001"], "checklist": current, "certificate": certificate}
    return objects


def custom_pages(everything):
    custom = everything["custom"]
    asset, checklist = custom["asset"], custom["checklist"]
    both = {"biomed", "security"}
    return [
        (reverse("admin:index"), both | {"nurse_staff", "dispatch_staff"}),
        (reverse("admin:assets_asset_import"), {"biomed"}),
        (reverse("admin:assets_asset_export"), both),
        # A transition's page opens for whoever the policy table lets run it (declarations/policy.py).
        (
            reverse("admin:assets_asset_transition", args=[asset.pk, "send_to_biomed"]),
            both | {"nurse_staff", "dispatch_staff"},
        ),
        (reverse("admin:assets_asset_tag_bind", args=[asset.pk]), {"biomed"}),
        (reverse("admin:assets_asset_tag_unbind", args=[asset.pk]), {"biomed"}),
        (reverse("admin:locations_floor_import"), {"biomed"}),
        (reverse("admin:locations_gatewaytoken_issue"), {"biomed"}),
        (reverse("admin:decommissioning_sign_off", args=[checklist.pk]), both),
        (reverse("decommissioning:certificate-detail", args=[custom["certificate"].pk]), both),
    ]


def model_pages(everything):
    """(label, list url, change url or None, add url) for every registered admin."""
    pages = []
    for model in admin.site._registry:
        meta = model._meta
        label = meta.label_lower
        obj = everything.get(label)
        change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]) if obj else None
        pages.append(
            (
                label,
                reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"),
                change,
                reverse(f"admin:{meta.app_label}_{meta.model_name}_add"),
            )
        )
    return pages


@pytest.mark.parametrize("role", ["biomed", "security", "nurse_staff", "dispatch_staff"])
def test_every_admin_page_opens_for_the_roles_that_may_see_it_and_refuses_the_others(client, everything, role, request):
    user = request.getfixturevalue({"biomed": "biomed_staff", "security": "security_staff"}.get(role, role))
    client.force_login(user)
    may_view, may_change, may_add = EXPECTED[role]
    wrong = []

    def check(url, expected_ok):
        status = client.get(url).status_code
        if status != (200 if expected_ok else 403):
            wrong.append(f"{url}: {status}, expected {200 if expected_ok else 403}")
        return status

    for label, changelist, change, add in model_pages(everything):
        if label.split(".")[0] not in OURS and role in ("biomed", "security"):
            continue  # other teams' admins decide their own access
        check(changelist, label in may_view)
        check(add, label in may_add)
        if change:
            if check(change, label in may_view) == 200:
                has_save = 'name="_save"' in client.get(change).content.decode()
                if has_save != (label in may_change):
                    wrong.append(f"{change}: save button {'shown' if has_save else 'missing'}")
    for url, roles in custom_pages(everything):
        check(url, role in roles)
    assert not wrong, "\n".join(wrong)


def test_security_can_change_nothing_but_checklists(client, everything, security_staff):
    """A POST to every change page Security may view is refused, except the decommissioning checklist."""
    client.force_login(security_staff)
    for label, _, change, _ in model_pages(everything):
        if change and label in SECURITY_VIEW - SECURITY_CHANGE:
            assert client.post(change, {}).status_code == 403, label
            meta_label = label.replace(".", "_")
            delete = change.replace("/change/", "/delete/")
            assert client.post(delete, {"post": "yes"}).status_code == 403, meta_label
    everything["assets.asset"].refresh_from_db()
    assert everything["assets.asset"].unit == "4 West"
    assert Alert.objects.filter(pk=everything["alerts.alert"].pk).exists()


def test_nurses_and_dispatch_without_staff_status_are_sent_to_the_login_page(client, everything, nurse, dispatcher):
    for user in (nurse, dispatcher):
        client.force_login(user)
        for _label, changelist, change, _ in model_pages(everything):
            for url in filter(None, (changelist, change)):
                response = client.get(url)
                assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
        for url, _ in custom_pages(everything):
            response = client.get(url)
            if url.startswith("/admin/"):
                assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
            else:
                assert response.status_code == 403, url  # the certificate page: signed in, but not allowed


def test_the_superuser_opens_everything(client, everything, superuser):
    client.force_login(superuser)
    for _label, changelist, change, _ in model_pages(everything):
        for url in filter(None, (changelist, change)):
            assert client.get(url).status_code == 200, url
    for url, _ in custom_pages(everything):
        assert client.get(url).status_code == 200, url
