"""Webhooks against a real HTTP server on loopback: signed deliveries, sent only after commit, retried
with exponential backoff, every attempt in the delivery log."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from lifecycle.alerts.services import alert_acknowledge, alert_raise, alerts_resolve_cleared
from lifecycle.services import asset_reserve
from lifecycle.webhooks.models import WebhookDelivery, WebhookSubscription
from lifecycle.webhooks.services import webhook_backoff_seconds, webhook_deliver_due
from lifecycle.webhooks.signing import verify
from tests.api.conftest import build_api_hospital
from tests.factories import UserFactory

SECRET = "s3cret-for-tests"


class Receiver:
    """A subscriber: records each POST and answers with the next status in ``replies`` (then 200)."""

    def __init__(self, replies=()):
        self.replies = list(replies)
        self.received: list[dict] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = receiver.replies.pop(0) if receiver.replies else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"try later")
                receiver.arrived.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _loopback_receivers_allowed(settings):
    """These tests' subscribers listen on 127.0.0.1: an intranet receiver, allowed on purpose
    (test_webhook_addresses.py proves loopback is refused without it)."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def subscribe(url, events, **kwargs):
    return WebhookSubscription.objects.create(name="dispatch board", url=url, secret=SECRET, events=events, **kwargs)


def test_state_change_is_delivered_signed(hospital, users, receiver, settings):
    settings.WEBHOOK_DELIVERY = "worker"
    subscribe(receiver.url, ["asset.state_changed"])
    asset = hospital.place("W402", asset_tag="PUMP-7")
    asset_reserve(asset=asset, user=users["dispatch"], note="bed 3")

    report = webhook_deliver_due()

    assert len(report.succeeded) == 1 and len(receiver.received) == 1
    got = receiver.received[0]
    assert verify(secret=SECRET, body=got["body"], header=got["headers"]["X-Webhook-Signature"])
    assert not verify(secret="wrong", body=got["body"], header=got["headers"]["X-Webhook-Signature"])
    assert not verify(secret=SECRET, body=got["body"] + b" ", header=got["headers"]["X-Webhook-Signature"])
    payload = json.loads(got["body"])
    assert payload["event"] == "asset.state_changed" == got["headers"]["X-Webhook-Event"]
    assert payload["data"]["asset"]["asset_tag"] == "PUMP-7"
    assert (payload["data"]["from_state"], payload["data"]["to_state"]) == ("available", "reserved")
    assert payload["data"]["user"] == "api-dispatch"


def test_failed_deliveries_are_retried_with_exponential_backoff_then_given_up(hospital, users, settings):
    settings.WEBHOOK_DELIVERY = "worker"
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    server = Receiver(replies=[500, 503, 500])
    try:
        subscribe(server.url, ["asset.state_changed"])
        asset_reserve(asset=hospital.place("W402"), user=users["dispatch"])
        delivery = WebhookDelivery.objects.get()

        first = timezone.now()
        assert webhook_deliver_due(now=first).retrying
        delivery.refresh_from_db()
        assert delivery.attempts == 1 and delivery.last_status_code == 500
        wait_1 = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
        assert wait_1 == pytest.approx(webhook_backoff_seconds(1), abs=1)
        assert webhook_deliver_due(now=first).attempted == 0  # not due yet

        assert webhook_deliver_due(now=delivery.next_attempt_at + timedelta(seconds=1)).retrying
        delivery.refresh_from_db()
        wait_2 = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
        assert wait_2 == pytest.approx(2 * wait_1, abs=1)  # exponential

        assert webhook_deliver_due(now=delivery.next_attempt_at + timedelta(seconds=1)).failed
        delivery.refresh_from_db()
        assert delivery.status == "failed" and delivery.next_attempt_at is None
        assert list(delivery.attempt_log.values_list("number", "status_code")) == [(1, 500), (2, 503), (3, 500)]
        assert len(server.received) == 3
        ids = {r["headers"]["X-Webhook-Id"] for r in server.received}
        assert ids == {str(delivery.pk)}  # the same delivery id on every attempt: receivers can de-duplicate
    finally:
        server.close()


def test_unreachable_subscriber_is_recorded_and_retried(hospital, users, settings):
    settings.WEBHOOK_DELIVERY = "worker"
    subscribe("http://127.0.0.1:9/closed", ["asset.state_changed"])
    asset_reserve(asset=hospital.place("W402"), user=users["dispatch"])
    report = webhook_deliver_due()
    assert report.retrying
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and "refused" in delivery.last_error.lower()


def test_only_subscribed_events_and_active_subscriptions_get_deliveries(hospital, users, receiver, settings):
    settings.WEBHOOK_DELIVERY = "worker"
    subscribe(receiver.url, ["alert.raised"])
    subscribe(receiver.url, ["asset.state_changed"], active=False)
    asset_reserve(asset=hospital.place("W402"), user=users["dispatch"])
    assert not WebhookDelivery.objects.exists()


def test_alert_lifecycle_events(hospital, users, settings):
    settings.WEBHOOK_DELIVERY = "worker"
    subscribe("http://127.0.0.1:9/x", ["alert.raised", "alert.acknowledged", "alert.resolved"])
    asset = hospital.place("W402")
    alert, _ = alert_raise(kind="missing", subject=asset, message="not heard for 25 h")
    alert_acknowledge(alert=alert, user=users["dispatch"])
    alerts_resolve_cleared(kind="missing", still_active=[])  # the bulk auto-resolution
    events = list(WebhookDelivery.objects.order_by("created_at").values_list("event", flat=True))
    assert events == ["alert.raised", "alert.acknowledged", "alert.resolved"]
    resolved = json.loads(WebhookDelivery.objects.get(event="alert.resolved").body)["data"]
    assert resolved["auto_resolved"] is True and resolved["subject"]["id"] == asset.pk


def test_request_events_come_from_the_workflow(hospital, clients, settings):
    settings.WEBHOOK_DELIVERY = "worker"
    subscribe("http://127.0.0.1:9/x", ["equipment_request.created", "equipment_request.assigned"])
    hospital.place("W402")
    created = (
        clients["nurse"]
        .post(
            "/api/v1/equipment-requests/",
            {"asset_type": "infusion-pump", "destination_room": hospital.ward.pk},
            format="json",
        )
        .json()
    )
    clients["dispatch"].post(f"/api/v1/equipment-requests/{created['id']}/assign/", {}, format="json")
    bodies = [json.loads(b) for b in WebhookDelivery.objects.order_by("created_at").values_list("body", flat=True)]
    assert [(b["event"], b["data"]["status"]) for b in bodies] == [
        ("equipment_request.created", "open"),
        ("equipment_request.assigned", "assigned"),
    ]


@pytest.mark.django_db(transaction=True)
def test_sent_right_after_commit_and_never_for_a_rolled_back_change(receiver, settings):
    settings.WEBHOOK_DELIVERY = "on_commit"
    hospital = build_api_hospital()
    dispatcher = UserFactory(username="d", roles=["Dispatch"], password=None)
    subscribe(receiver.url, ["asset.state_changed"])
    rolled_back = hospital.place("W402", asset_tag="ROLLED-BACK")
    kept = hospital.place("W402", asset_tag="KEPT")

    with pytest.raises(RuntimeError), transaction.atomic():
        asset_reserve(asset=rolled_back, user=dispatcher)
        raise RuntimeError("something after the reserve failed")
    with transaction.atomic():
        asset_reserve(asset=kept, user=dispatcher)
        assert not receiver.received  # nothing leaves before the commit

    assert receiver.arrived.wait(timeout=10), "no delivery after commit"
    assert [json.loads(r["body"])["data"]["asset"]["asset_tag"] for r in receiver.received] == ["KEPT"]
    for _ in range(50):  # the thread records the attempt just after the answer
        if WebhookDelivery.objects.filter(status="succeeded").exists():
            break
        threading.Event().wait(0.1)
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == ["succeeded"]


def test_deliver_webhooks_command(hospital, users, receiver, settings, capsys):
    settings.WEBHOOK_DELIVERY = "worker"
    subscribe(receiver.url, ["asset.state_changed"])
    asset_reserve(asset=hospital.place("W402"), user=users["dispatch"])
    call_command("deliver_webhooks", "--once")
    assert "1 delivered" in capsys.readouterr().out
    assert len(receiver.received) == 1


def test_subscriptions_through_the_api(clients, receiver):
    created = clients["dispatch"].post(
        "/api/v1/webhooks/subscriptions/",
        {"name": "board", "url": receiver.url, "events": ["asset.state_changed"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert len(created.json()["secret"]) >= 32
    assert "secret" not in clients["dispatch"].get("/api/v1/webhooks/subscriptions/").json()["results"][0]
    assert clients["security"].get("/api/v1/webhooks/subscriptions/").json()["results"] == []  # own ones only
    assert clients["nurse"].get("/api/v1/webhooks/subscriptions/").status_code == 403
    bad = clients["dispatch"].post(
        "/api/v1/webhooks/subscriptions/", {"name": "x", "url": "ftp://x", "events": ["nope"]}, format="json"
    )
    assert bad.status_code == 400 and {"url", "events.0"} <= set(bad.json()["field_errors"])
