import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifecycle.alerts.choices import AlertKind, AlertStatus
from lifecycle.alerts.models import ParLevel
from lifecycle.alerts.services import alert_raise, alert_resolve
from tests.factories import AssetFactory, AssetTypeFactory, ReceiverFactory, RoomFactory
from tests.lifecycle.alerts.helpers import tracked_asset

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:alerts_alert_changelist"


@pytest.fixture
def client_admin(client, admin_user):
    client.force_login(admin_user)
    return client


def run_action(client, action, alerts):
    return client.post(reverse(CHANGELIST), {"action": action, "_selected_action": [a.pk for a in alerts]}, follow=True)


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_acknowledge_action_acknowledges_open_alerts_and_explains_refusals(client_admin, admin_user, staff):
    fresh, _ = alert_raise(kind=AlertKind.MISSING, subject=AssetFactory(), message="gone")
    done, _ = alert_raise(kind=AlertKind.SILENT_RECEIVER, subject=ReceiverFactory(), message="silent")
    alert_resolve(alert=done, user=staff)

    response = run_action(client_admin, "acknowledge_selected", [fresh, done])
    assert response.status_code == 200
    fresh.refresh_from_db()
    assert fresh.status == AlertStatus.ACKNOWLEDGED and fresh.acknowledged_by == admin_user
    messages = texts(response)
    assert "Acknowledged 1 alert(s)." in messages
    assert any(m.startswith(f"Alert #{done.pk} was already resolved by charge-nurse") for m in messages)


def test_resolve_action_resolves_as_the_signed_in_user(client_admin, admin_user):
    alerts = [alert_raise(kind=AlertKind.MISSING, subject=AssetFactory(), message="gone")[0] for _ in range(2)]
    response = run_action(client_admin, "resolve_selected", alerts)
    assert "Resolved 2 alert(s)." in texts(response)
    for alert in alerts:
        alert.refresh_from_db()
        assert (alert.status, alert.resolved_by, alert.auto_resolved) == (AlertStatus.RESOLVED, admin_user, False)


def test_alert_list_filters_by_kind_and_status(client_admin):
    alert_raise(kind=AlertKind.MISSING, subject=AssetFactory(asset_tag="IP-MISSING"), message="IP-MISSING gone")
    alert_raise(kind=AlertKind.SILENT_RECEIVER, subject=ReceiverFactory(gateway_id="gw-silent"), message="gw-silent")
    response = client_admin.get(reverse(CHANGELIST), {"kind__exact": "missing", "status__exact": "new"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "IP-MISSING gone" in body and "gw-silent" not in body


def test_alerts_cannot_be_added_deleted_or_edited_in_the_admin(client_admin):
    alert, _ = alert_raise(kind=AlertKind.MISSING, subject=AssetFactory(), message="gone")
    assert client_admin.get(reverse("admin:alerts_alert_add")).status_code == 403
    assert client_admin.post(reverse("admin:alerts_alert_delete", args=[alert.pk]), {"post": "yes"}).status_code == 403
    client_admin.post(reverse("admin:alerts_alert_change", args=[alert.pk]), {"status": "resolved", "message": "x"})
    alert.refresh_from_db()
    assert (alert.status, alert.message) == (AlertStatus.NEW, "gone")


def test_a_staff_user_without_change_permission_cannot_run_the_actions(client, staff):
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(Permission.objects.get(codename="view_alert"))
    client.force_login(staff)
    alert, _ = alert_raise(kind=AlertKind.MISSING, subject=AssetFactory(), message="gone")
    run_action(client, "resolve_selected", [alert])
    alert.refresh_from_db()
    assert alert.status == AlertStatus.NEW


def test_par_level_list_shows_live_counts_in_one_query_whatever_the_number_of_rows(client_admin, now):
    url = reverse("admin:alerts_parlevel_changelist")
    ward = RoomFactory(unit="4 North")

    def queries_for_list():
        with CaptureQueriesContext(connection) as ctx:
            response = client_admin.get(url)
        assert response.status_code == 200
        return len(ctx.captured_queries), response.content.decode()

    for i in range(2):
        kind = AssetTypeFactory(name=f"Type {i}")
        ParLevel.objects.create(unit="4 North", asset_type=kind, target=3, critical=2)
        tracked_asset(room=ward, seen=now, asset_type=kind)
    few, _ = queries_for_list()
    for i in range(2, 8):
        kind = AssetTypeFactory(name=f"Type {i}")
        ParLevel.objects.create(unit="4 North", asset_type=kind, target=1, critical=1)
        for _ in range(2):
            tracked_asset(room=ward, seen=now, asset_type=kind)
    many, body = queries_for_list()
    assert many == few
    assert body.count('<td class="field-stock">Below critical</td>') == 2  # types 0 and 1: 1 of critical 2
    assert body.count('<td class="field-stock">OK</td>') == 6
    assert '<td class="field-available_now">2</td>' in body


def test_par_level_form_refuses_critical_above_target(client_admin):
    RoomFactory(unit="4 North")
    kind = AssetTypeFactory(name="Infusion pump")
    response = client_admin.post(
        reverse("admin:alerts_parlevel_add"),
        {"unit": "4 North", "asset_type": kind.pk, "target": 2, "critical": 5},
    )
    assert response.status_code == 200
    assert "The critical threshold (5) cannot be above the target (2)." in response.content.decode()
    assert ParLevel.objects.count() == 0
