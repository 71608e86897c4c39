"""Least privilege when reading (issue 13 defect 6).

- a signed-in user with no role gets nothing from the API (403 on every read);
- security-relevant fields (firmware, networked, encryption, risk class, receiver positions) only for the
  roles the policy table gives ``READ_SECURITY_FIELDS`` (Clinical engineering, Security, superusers);
- /healthz: ok / not ok for anonymous callers, the detail with the monitoring token or a staff session;
- with DEBUG on, only loopback clients get an answer (HTTP and WebSocket).

The development SECRET_KEY with DEBUG off: tests/config/test_settings.py
``test_production_refuses_to_start_without_a_real_secret_key``.
"""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db import OperationalError, transaction
from django.test import Client

from config import views
from config.middleware import LoopbackOnlyWhenDebugASGI
from tests.api.conftest import build_api_hospital, client_for
from tests.api.test_role_matrix import MATRIX, World, matrix_client
from tests.factories import ReceiverFactory, UserFactory

SECURITY_FIELDS = {"firmware_version", "networked", "encryption_status", "risk_class"}
RECEIVER_POSITION = {"x", "y", "height_m"}


def _users():
    return {
        role: UserFactory(username=f"lp-{role}", roles=[group], password=None)
        for role, group in (
            ("nurse", "Nurse"),
            ("dispatch", "Dispatch"),
            ("clinical_engineering", "Clinical engineering"),
            ("security", "Security"),
        )
    }


@pytest.mark.django_db
@pytest.mark.parametrize("operation", sorted(op for op in MATRIX if op[0] == "get"), ids=lambda op: op[1])
def test_a_user_with_no_role_reads_nothing_from_the_api(operation):
    prepare, _ = MATRIX[operation]
    world = World(_users())
    nobody = UserFactory(username="lp-no-role", roles=[], password=None)
    with transaction.atomic():
        url, _ = prepare(world, nobody)
        answer = matrix_client(operation, nobody).get(url)
        transaction.set_rollback(True)
    assert answer.status_code == 403, (url, answer.status_code)
    assert answer.json()["code"] == "permission_denied"


@pytest.mark.django_db
def test_security_fields_only_for_the_roles_that_need_them():
    users = _users()
    superuser = UserFactory(username="lp-root", roles=[], password=None, is_superuser=True, is_staff=True)
    h = build_api_hospital()
    asset = h.place("W402", firmware_version="4.2.1", networked=True)
    receiver = ReceiverFactory(floor=h.ward.floor)
    seen = {}
    for who, user in {**users, "superuser": superuser}.items():
        detail = client_for(user).get(f"/api/v1/assets/{asset.pk}/").json()
        receivers = client_for(user).get(f"/api/v1/receivers/{receiver.pk}/").json()
        seen[who] = (SECURITY_FIELDS <= set(detail), RECEIVER_POSITION <= set(receivers))
        if not seen[who][0]:
            assert not SECURITY_FIELDS & set(detail) and "4.2.1" not in str(detail)
            assert not RECEIVER_POSITION & set(receivers) and receivers["gateway_id"] == receiver.gateway_id
    assert seen == {
        "nurse": (False, False),
        "dispatch": (False, False),
        "clinical_engineering": (True, True),
        "security": (True, True),
        "superuser": (True, True),
    }


@pytest.mark.django_db
def test_healthz_says_only_ok_to_anonymous_callers(settings):
    settings.HEALTHZ_TOKEN = "monitoring-secret-0123456789"
    anonymous = Client().get("/healthz")
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    wrong = Client().get("/healthz", HTTP_AUTHORIZATION="Bearer guessed")
    assert wrong.json() == {"status": "ok"}
    monitor = Client().get("/healthz", HTTP_AUTHORIZATION="Bearer monitoring-secret-0123456789").json()
    assert monitor["database"] == "ok" and "ingest" in monitor
    staff = Client()
    staff.force_login(UserFactory(username="lp-staff", roles=[], password=None, is_staff=True))
    assert "channel_layer" in staff.get("/healthz").json()
    not_staff = Client()
    not_staff.force_login(UserFactory(username="lp-nurse", roles=["Nurse"], password=None))
    assert not_staff.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_healthz_says_not_ok_without_detail_when_the_database_is_down(monkeypatch):
    class DeadConnection:
        def cursor(self):
            raise OperationalError("connection refused to 10.20.30.40")

    monkeypatch.setattr(views, "connection", DeadConnection())
    answer = Client().get("/healthz")
    assert answer.status_code == 503 and answer.json() == {"status": "not ok"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("address", "answered"),
    [("127.0.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True), ("10.1.2.3", False), ("192.168.0.9", False)],
)
def test_with_debug_on_only_loopback_clients_get_an_answer(settings, address, answered, caplog):
    settings.DEBUG = True
    answer = Client(REMOTE_ADDR=address).get("/healthz")
    assert (answer.status_code == 200) is answered
    if not answered:
        assert answer.status_code == 403 and b"only loopback" in answer.content
        assert "debug.non_loopback_refused" in caplog.text


@pytest.mark.django_db
def test_with_debug_off_other_clients_are_served(settings):
    settings.DEBUG = False
    assert Client(REMOTE_ADDR="10.1.2.3").get("/healthz").status_code == 200


@pytest.mark.asyncio
@pytest.mark.parametrize(("address", "accepted_by_guard"), [("10.1.2.3", False), ("127.0.0.1", True)])
async def test_with_debug_on_a_websocket_from_elsewhere_is_closed(settings, address, accepted_by_guard):
    settings.DEBUG = True
    reached = []

    async def app(scope, receive, send):
        reached.append(scope["client"][0])
        await receive()
        await send({"type": "websocket.accept"})

    communicator = WebsocketCommunicator(LoopbackOnlyWhenDebugASGI(app), "/ws/floors/1/")
    communicator.scope["client"] = (address, 50000)
    communicator.scope["user"] = AnonymousUser()
    connected, code = await communicator.connect(timeout=3)
    assert connected is accepted_by_guard and bool(reached) is accepted_by_guard
    if not connected:
        assert code == 4403
    await communicator.disconnect()


@pytest.mark.django_db
def test_filters_and_ordering_on_security_fields_are_refused_to_roles_that_may_not_read_them(security_log):
    """A filter is a way to read a field: networked=true&encryption_status=unknown would list the networked
    devices with unknown encryption to a nurse. Refused (400 naming each filter), and logged."""
    users = _users()
    h = build_api_hospital()
    h.place("W402", asset_tag="EXPOSED", networked=True, encryption_status="unknown", risk_class="high")
    h.place("W402", asset_tag="QUIET", networked=False, encryption_status="encrypted", risk_class="low")
    probes = [
        {"networked": "true"},
        {"risk_class": "high"},
        {"encryption_status": "unknown"},
        {"security_inventory": "true"},
        {"networked": "true", "encryption_status": "unknown"},
    ]
    for who in ("nurse", "dispatch"):
        client = client_for(users[who])
        for probe in probes:
            answer = client.get("/api/v1/assets/", probe)
            assert answer.status_code == 400, (who, probe, answer.status_code)
            body = answer.json()
            assert body["code"] == "invalid" and set(body["field_errors"]) == set(probe), body
            assert "security field" in body["message"] and "EXPOSED" not in str(body)
        assert client.get("/api/v1/assets/", {"data_bearing": "false", "high_risk": "false"}).status_code == 200
    assert security_log("policy.refused")
    for who in ("clinical_engineering", "security"):
        listed = client_for(users[who]).get("/api/v1/assets/", {"networked": "true", "encryption_status": "unknown"})
        assert listed.status_code == 200
        assert [a["asset_tag"] for a in listed.json()["results"]] == ["EXPOSED"]

    # Ordering by a field the view does not offer (every security field among them) is an error, for everyone.
    for who in ("nurse", "clinical_engineering"):
        for field in ("firmware_version", "-risk_class", "networked", "encryption_status"):
            answer = client_for(users[who]).get("/api/v1/assets/", {"ordering": field})
            assert answer.status_code == 400, (who, field)
            assert "ordering" in answer.json()["field_errors"] and field in answer.json()["message"]
    assert client_for(users["nurse"]).get("/api/v1/assets/", {"ordering": "-last_seen,asset_tag"}).status_code == 200
