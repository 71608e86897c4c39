"""The audit trail is complete (issue 13, defect 4): imports, gateway and API tokens and role membership
land in the append-only change history with who and when; security events go to the `security` log
stream as JSON lines; attacker-controlled strings are logged with their control characters escaped."""

from __future__ import annotations

import io
import json
import logging
from datetime import date

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from paho.mqtt.client import MQTTMessage

from accounts.models import ApiToken
from accounts.services import api_token_issue, api_token_revoke, api_token_rotate
from assets.models import Asset
from config.security_events import ControlCharacterFilter, JsonLinesFormatter, clean_for_log, security_event
from lifecycle.asset_import import assets_import, assets_import_text
from lifecycle.biomed.models import MaintenanceSchedule
from lifecycle.models import ChangeRecord
from lifecycle.selectors import object_change_history
from locations.ingest.auth import gateway_token_issue
from locations.ingest.mqtt import MqttIngest
from locations.ingest.queue import InMemoryQueue
from locations.models import GatewayToken
from tests.factories import AssetFactory, ReceiverFactory, UserFactory

pytestmark = pytest.mark.django_db

HEADER = "asset_tag,asset_type,tag_id,manufacturer,model,serial_number,data_bearing,last_pm_date\n"


def test_an_import_that_rewrites_assets_is_in_the_trail_with_who(biomed):
    AssetFactory(asset_tag="IP-1", manufacturer="BD", model="Alaris", serial_number="SN-1", data_bearing=False)
    assets_import_text(text=HEADER + "IP-1,Infusion pump,,BD,Alaris,SN-2,true,2026-10-01\n", user=biomed)
    asset = Asset.objects.get(asset_tag="IP-1")
    [record] = object_change_history(instance=asset)
    assert record.user == biomed and record.at is not None
    assert record.changes["serial_number"] == {"from": "SN-1", "to": "SN-2"}
    assert record.changes["data_bearing"] == {"from": False, "to": True}
    assert record.changes["source"]["to"] == "asset import"
    # last_pm_date is the PM schedule's last completion now (lifecycle.biomed): its own history says who.

    pm = MaintenanceSchedule.objects.get(asset=asset, kind="pm")
    assert pm.last_done == date(2026, 10, 1)
    [pm_record] = [r for r in object_change_history(instance=pm) if "last_done" in r.changes]
    assert pm_record.user == biomed and pm_record.changes["last_done"]["to"] == "2026-10-01"


def test_an_import_that_creates_assets_is_in_the_trail(biomed):
    assets_import_text(text=HEADER + "IP-9,Infusion pump,,BD,Alaris,SN-9,false,\n", user=biomed)
    [record] = object_change_history(instance=Asset.objects.get(asset_tag="IP-9"))
    assert record.action == "created" and record.user == biomed
    assert record.changes["serial_number"] == {"from": None, "to": "SN-9"}


def test_a_dry_run_import_leaves_no_trail(biomed):
    assets_import(stream=io.StringIO(HEADER + "IP-8,Infusion pump,,BD,Alaris,SN-8,false,\n"), user=biomed, dry_run=True)
    assert not ChangeRecord.objects.filter(content_type__model="asset").exists()


def test_gateway_token_issue_and_revoke_in_the_admin_are_in_the_trail(admin_client, admin_user):
    receiver = ReceiverFactory(gateway_id="gw-audit")
    response = admin_client.post(
        "/admin/locations/receiver/issue-token/", {"gateway": receiver.gateway_id, "label": "ward 4"}, follow=True
    )
    assert response.status_code == 200
    token = GatewayToken.objects.get(receiver=receiver)
    response = admin_client.post(
        "/admin/locations/gatewaytoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )
    assert response.status_code == 200
    records = list(object_change_history(instance=token).order_by("at", "id"))
    assert [r.user for r in records] == [admin_user, admin_user]
    assert records[0].action == "created" and "gw-audit" in records[0].changes["scope"]["to"]
    assert records[1].changes["revoked"]["from"] is None and records[1].changes["revoked"]["to"]


def test_gateway_token_issued_from_the_command_line_is_in_the_trail_as_the_system():
    receiver = ReceiverFactory(gateway_id="gw-cli")
    issued = gateway_token_issue(gateway_id=receiver.gateway_id)
    [record] = object_change_history(instance=issued.token)
    assert record.user is None and record.action == "created"


def test_api_token_issue_and_rotate_are_in_the_trail():
    user = UserFactory(username="dispatch-board", roles=["Dispatch"], password=None)
    call_command("issue_token", "dispatch-board", stdout=io.StringIO(), stderr=io.StringIO())
    call_command("issue_token", "dispatch-board", "--rotate", stdout=io.StringIO(), stderr=io.StringIO())
    records = object_change_history(instance=user).order_by("at", "id")
    changes = [r.changes["api_token"] for r in records if "api_token" in r.changes]
    assert changes[0]["from"] is None and changes[0]["to"].startswith("issued")
    assert changes[1]["to"] == "revoked"
    assert changes[2]["to"].startswith("issued") and changes[2]["to"] != changes[0]["to"]
    assert all(r.user is None for r in records if "api_token" in r.changes)  # the command: the system


def test_api_token_issued_rotated_and_revoked_in_the_admin_is_in_the_trail_with_who(admin_user):
    bot = UserFactory(username="bot", roles=["Dispatch"], password=None)
    first = api_token_issue(user=bot, issued_by=admin_user).token
    api_token_rotate(user=bot, issued_by=admin_user)
    second = ApiToken.objects.filter(user=bot, revoked_at__isnull=True).get()
    assert api_token_revoke(token=second, by=admin_user)
    records = [r for r in object_change_history(instance=bot).order_by("at", "id") if "api_token" in r.changes]
    assert [r.changes["api_token"]["to"].split()[0] for r in records] == ["issued", "revoked", "issued", "revoked"]
    assert records[1].changes["api_token"]["from"].startswith(first.key)
    assert records[3].changes["api_token"]["from"].startswith(second.key)
    assert {r.user for r in records} == {admin_user} and all(r.at for r in records)


def test_role_membership_changed_in_the_admin_is_in_the_trail_with_who(admin_client, admin_user, security_log):
    nurse = UserFactory(username="nina", roles=["Nurse"])
    dispatch = Group.objects.get(name="Dispatch")
    page = admin_client.get(f"/admin/auth/user/{nurse.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields and k != "password"}
    data.update(
        {
            "username": "nina",
            "groups": [dispatch.pk],  # Nurse removed, Dispatch added
            "date_joined_0": "2026-01-01",
            "date_joined_1": "08:00:00",
            "is_active": "on",
        }
    )
    data.pop("date_joined", None)
    data.pop("last_login", None)
    data.pop("user_permissions", None)
    response = admin_client.post(f"/admin/auth/user/{nurse.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    roles = {
        (r.changes["role"]["from"], r.changes["role"]["to"], r.user)
        for r in object_change_history(instance=nurse)
        if "role" in r.changes
    }
    assert (None, "Nurse", None) in roles  # given by the factory, outside any request: the system
    assert ("Nurse", None, admin_user) in roles and (None, "Dispatch", admin_user) in roles
    events = security_log.events("role.added")
    assert any(e["user"] == "nina" and e["role"] == "Dispatch" and e["by"] == admin_user.username for e in events)


def test_role_membership_changed_from_the_group_side_is_in_the_trail():
    user = UserFactory(username="sam")
    security = Group.objects.get(name="Security")
    security.user_set.add(user)
    security.user_set.clear()
    changes = [r.changes["role"] for r in object_change_history(instance=user).order_by("at", "id")]
    assert changes == [{"from": None, "to": "Security"}, {"from": "Security", "to": None}]


# --------------------------------------------------------------------------- security events


def test_sign_in_and_failed_sign_in_are_security_events(security_log):
    UserFactory(username="ana", is_staff=True)
    client = Client()
    client.post("/admin/login/?next=/admin/", {"username": "ana", "password": "wrong"})
    client.post("/admin/login/?next=/admin/", {"username": "ana", "password": "correct horse battery staple"})
    [failed] = security_log.events("auth.login_failed")
    assert failed["username"] == "ana" and failed["ip"] == "127.0.0.1" and failed["path"] == "/admin/login/"
    assert failed["level"] == "WARNING" and failed["logger"] == "security" and failed["ts"]
    [login] = security_log.events("auth.login")
    assert login["user"] == "ana"


def test_401_and_403_refusals_are_security_events(security_log, nurse):
    Client().get("/api/v1/assets/")
    raw = api_token_issue(user=nurse).raw
    Client().post(
        "/api/v1/webhooks/subscriptions/",
        {"name": "x", "url": "https://93.184.216.34/", "events": ["alert.raised"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {raw}",
    )
    refusals = [(e["status"], e["path"], e["user"]) for e in security_log.events("http.refused")]
    assert (401, "/api/v1/assets/", None) in refusals
    assert (403, "/api/v1/webhooks/subscriptions/", "nurse") in refusals


def test_gateway_authentication_failures_are_security_events(security_log):
    Client().post(
        "/api/v1/rtls/sightings/",
        data="{}",
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer gwt_0123456789ab_wrongwrongwrongwrongwrong",
    )
    [event] = security_log.events("gateway.auth_failed")
    assert event["key"] == "0123456789ab" and event["ip"] == "127.0.0.1"


def test_each_event_is_one_json_line_with_control_characters_escaped():
    record = logging.LogRecord("security", logging.WARNING, __file__, 1, "%s", ("x",), None)
    record.security_event = {"kind": "test", "tag": clean_for_log('c3000000010a\n{"kind": "forged"}\x1b[31m')}
    line = JsonLinesFormatter().format(record)
    assert "\n" not in line and "\x1b" not in line
    parsed = json.loads(line)
    assert parsed["tag"] == 'c3000000010a\\x0a{"kind": "forged"}\\x1b[31m'


def test_security_event_cleans_every_field(security_log):
    security_event("mqtt.topic", topic="rtls/gw\r\nFAKE 200 OK/sightings", nested={"tag": "a\x00b"})
    [event] = security_log.events("mqtt.topic")
    assert event["topic"] == "rtls/gw\\x0d\\x0aFAKE 200 OK/sightings" and event["nested"] == {"tag": "a\\x00b"}


def test_the_console_log_escapes_control_characters_in_any_message():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ControlCharacterFilter())
    logger = logging.getLogger("tests.control")
    logger.addHandler(handler)
    try:
        logger.warning("tag %s refused", "c3\n2026-12-06 ERROR forged line\x1b]0;pwned\x07")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().count("\n") == 1 and "\x1b" not in stream.getvalue()
    assert "c3\\x0a2026-12-06 ERROR forged line\\x1b]0;pwned\\x07" in stream.getvalue()


def test_mqtt_topics_are_logged_escaped(caplog, db):
    ingest = MqttIngest(url="mqtt://127.0.0.1:1883", client_id="t", prefix="rtls", queue=InMemoryQueue(shards=1))
    msg = MQTTMessage(mid=1, topic=b"rtls/gw\n2026 CRITICAL forged/sightings")
    msg.payload = b"{oops"
    msg.qos = 1

    class Client_:
        def ack(self, mid, qos):
            pass

    with caplog.at_level(logging.WARNING, logger="locations.ingest.mqtt"):
        ingest._on_message(Client_(), None, msg)
    assert "rtls/gw\\x0a2026 CRITICAL forged/sightings" in caplog.text
    assert "gw\n2026" not in caplog.text
