"""Operations pages: work orders, recalls, par levels, alerts, receivers, tags and gateway tokens."""

from datetime import timedelta

from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from lifecycle.alerts.choices import AlertKind, AlertStatus
from lifecycle.alerts.models import ParLevel
from lifecycle.alerts.services import alert_raise
from lifecycle.models import WorkOrder, WorkOrderKind, WorkOrderStatus
from lifecycle.services import work_order_open, work_order_update
from locations.ingest.auth import credential_for_token, gateway_token_issue
from locations.models import GatewayToken
from tests.factories import ReceiverFactory, TagFactory, UserFactory
from tests.lifecycle.helpers import open_recall_on


def listed(client, url_name, **params):
    response = client.get(reverse(url_name), params)
    assert response.status_code == 200, response.content.decode()[:2000]
    return response, list(response.context["cl"].result_list)


def test_my_open_work_orders_and_pm_due_this_month(client, hospital, biomed_staff):
    assets = hospital["assets"]
    colleague = UserFactory(username="colleague", roles=["Clinical engineering"])
    mine = work_order_open(asset=assets["PM-001"], kind=WorkOrderKind.PM, user=biomed_staff, technician=biomed_staff)
    work_order_open(asset=assets["IP-003"], kind=WorkOrderKind.REPAIR, user=biomed_staff, technician=colleague)
    done = work_order_open(
        asset=assets["IP-004"], kind=WorkOrderKind.REPAIR, user=biomed_staff, technician=biomed_staff
    )

    work_order_update(work_order=done, user=biomed_staff, status=WorkOrderStatus.CANCELLED)
    not_due = work_order_open(asset=assets["IP-001"], kind=WorkOrderKind.PM, user=biomed_staff)

    client.force_login(biomed_staff)
    _, rows = listed(client, "admin:lifecycle_workorder_changelist", mine="open")
    assert rows == [mine]
    response, rows = listed(client, "admin:lifecycle_workorder_changelist", pm="month")
    assert mine in rows and not_due not in rows  # PM-001's PM is overdue; IP-001 has no PM date
    html = response.content.decode()
    assert "N2-201 · North Tower · Floor 2" in html and "(overdue)" in html


def test_technicians_are_clinical_engineering_staff(client, hospital, biomed_staff, nurse):
    client.force_login(biomed_staff)
    response = client.get(reverse("admin:lifecycle_workorder_add"), {"asset": hospital["assets"]["IP-001"].pk})
    assert response.status_code == 200
    choices = {user.username for user in response.context["adminform"].form.fields["technician"].queryset}
    assert "biomed" in choices and "nurse" not in choices


def test_opening_pm_work_orders_from_the_asset_list_skips_those_open(client, hospital, biomed_staff):
    assets = hospital["assets"]
    existing = work_order_open(asset=assets["PM-001"], kind=WorkOrderKind.PM, user=biomed_staff)
    client.force_login(biomed_staff)
    response = client.post(
        reverse("admin:assets_asset_changelist"),
        {"action": "open_pm_work_orders", "_selected_action": [assets["PM-001"].pk, assets["IP-005"].pk]},
        follow=True,
    )
    assert "Opened 1 PM work order(s); 1 asset(s) already had one open." in [
        str(m) for m in get_messages(response.wsgi_request)
    ]
    assert set(WorkOrder.objects.filter(kind=WorkOrderKind.PM).values_list("asset__asset_tag", flat=True)) == {
        "PM-001",
        "IP-005",
    }
    assert WorkOrder.objects.filter(asset=assets["PM-001"]).get() == existing


def test_a_recall_page_lists_affected_assets_and_where_they_are_now(client, hospital, biomed_staff):
    recalled = hospital["assets"]["IP-003"]
    work_order = open_recall_on(recalled, reference="FSN-2026-07")
    client.force_login(biomed_staff)
    response, rows = listed(client, "admin:lifecycle_recall_changelist")
    assert rows[0].open_count == 1
    page = client.get(reverse("admin:lifecycle_recall_change", args=[work_order.recall_id])).content.decode()
    assert "affected assets in service, and where they are now" in page.lower()
    assert "IP-003" in page and "N2-201 · North Tower · Floor 2" in page and "location-located" in page
    assert f"WO-{work_order.pk}" in page


def test_par_levels_show_live_counts_that_open_the_matching_assets(client, hospital, biomed_staff):
    level = ParLevel.objects.create(unit="4 West", asset_type=hospital["types"]["pumps"], target=3, critical=2)
    client.force_login(biomed_staff)
    response, rows = listed(client, "admin:alerts_parlevel_changelist")
    assert rows[0].available_count == 1 and "Below critical" in response.content.decode()
    link = response.context["cl"].model_admin.on_hand_link(rows[0])
    url = str(link).split('href="')[1].split('"')[0].replace("&amp;", "&")
    assets = client.get(url).context["cl"].result_list
    assert [a.asset_tag for a in assets] == ["IP-001"]
    assert level.pk == rows[0].pk


def test_biomed_acknowledges_and_resolves_alerts(client, hospital, biomed_staff):
    alert, _ = alert_raise(kind=AlertKind.MISSING, subject=hospital["assets"]["PM-001"], message="not heard for 3 days")
    client.force_login(biomed_staff)
    url = reverse("admin:alerts_alert_changelist")
    _, rows = listed(client, "admin:alerts_alert_changelist", open="yes")
    assert rows == [alert]
    client.post(url, {"action": "acknowledge_selected", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, biomed_staff)
    client.post(url, {"action": "resolve_selected", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    _, rows = listed(client, "admin:alerts_alert_changelist", open="yes")
    assert rows == []


def test_silent_receivers_are_highlighted_and_filterable(client, hospital, biomed_staff):
    floor = hospital["floors"]["n1"]
    now = timezone.now()
    silent = ReceiverFactory(gateway_id="gw-silent", floor=floor, last_heard=now - timedelta(hours=3))
    ReceiverFactory(gateway_id="gw-fine", floor=floor, last_heard=now - timedelta(seconds=20))
    ReceiverFactory(gateway_id="gw-new", floor=floor, last_heard=None)
    client.force_login(biomed_staff)
    response, rows = listed(client, "admin:locations_receiver_changelist")
    html = response.content.decode()
    assert html.count("receiver-silent") == 1 and "silent: 3" in html
    _, rows = listed(client, "admin:locations_receiver_changelist", heard="silent")
    assert rows == [silent]


def test_tags_show_battery_and_filter_low_ones(client, hospital, biomed_staff):
    low = TagFactory(battery_percent=7)
    TagFactory(battery_percent=80)
    client.force_login(biomed_staff)
    response, rows = listed(client, "admin:assets_tag_changelist", battery="low")
    assert rows == [low]
    assert "7% (replace)" in response.content.decode()


def test_issuing_a_gateway_token_shows_it_once(client, hospital, biomed_staff):
    receiver = ReceiverFactory(gateway_id="gw-4w-401", floor=hospital["floors"]["n1"])
    client.force_login(biomed_staff)
    assert "Issue a token" in client.get(reverse("admin:locations_gatewaytoken_changelist")).content.decode()
    url = reverse("admin:locations_gatewaytoken_issue")
    assert (
        f'value="{receiver.gateway_id}" selected' in client.get(url, {"gateway": receiver.gateway_id}).content.decode()
    )
    response = client.post(url, {"gateway": "gw-4w-401", "label": "ceiling, 401"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    raw = response.context["issued"].raw
    assert raw in response.content.decode()
    assert credential_for_token(raw).gateway_id == "gw-4w-401"
    token = GatewayToken.objects.get()
    assert token.label == "ceiling, 401" and raw not in str(token.token_hash)
    # Revoked from the list, by the ingest admin's action.
    client.post(
        reverse("admin:locations_gatewaytoken_changelist"), {"action": "revoke", "_selected_action": [token.pk]}
    )
    assert credential_for_token(raw) is None


def test_issuing_needs_a_gateway_or_a_site(client, hospital, biomed_staff):
    client.force_login(biomed_staff)
    response = client.post(reverse("admin:locations_gatewaytoken_issue"), {"label": "x"})
    assert "Choose a gateway or a site" in response.content.decode()
    assert not GatewayToken.objects.exists()


def test_security_sees_gateway_tokens_but_cannot_issue_or_revoke(client, hospital, security_staff):
    receiver = ReceiverFactory(floor=hospital["floors"]["n1"])

    issued = gateway_token_issue(gateway_id=receiver.gateway_id)
    client.force_login(security_staff)
    page = client.get(reverse("admin:locations_gatewaytoken_changelist"))
    assert page.status_code == 200 and "Issue a token" not in page.content.decode()
    assert client.get(reverse("admin:locations_gatewaytoken_issue")).status_code == 403
    client.post(
        reverse("admin:locations_gatewaytoken_changelist"), {"action": "revoke", "_selected_action": [issued.token.pk]}
    )
    assert credential_for_token(issued.raw) is not None
