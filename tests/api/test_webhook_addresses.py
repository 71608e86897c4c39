"""Webhook SSRF: a subscriber URL may not point into the hospital's network (checked at subscribe time and
again at send time, with the connection made to the checked address), https only in production, and an
allow-list for intranet receivers on purpose."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from django.core.exceptions import ValidationError

from lifecycle.services import asset_reserve
from lifecycle.webhooks.models import WebhookDelivery, WebhookSubscription
from lifecycle.webhooks.services import webhook_deliver_due
from tests.api.test_webhooks import Receiver, subscribe

URL = "/api/v1/webhooks/subscriptions/"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def resolver(monkeypatch):
    """Names this test controls, answered like DNS would (other names go to the real resolver)."""
    real = socket.getaddrinfo
    answers: dict[str, list[list[str]]] = {}
    calls: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            calls.append(host)
            queue = answers[host]
            addresses = queue.pop(0) if len(queue) > 1 else queue[0]
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, calls


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://127.0.0.1/h", "127.0.0.1 is a loopback address"),
        ("https://localhost/h", "localhost resolves to 127.0.0.1, which is a loopback address"),
        ("https://10.20.30.40/h", "10.20.30.40 is a private (internal network) address"),
        ("https://192.168.1.1/h", "is a private"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("https://[::ffff:127.0.0.1]/h", "embeds 127.0.0.1, which is a loopback address"),
        ("https://[::ffff:10.0.0.1]/h", "embeds 10.0.0.1, which is a private"),
        ("https://[2002:7f00:1::]/h", "embeds 127.0.0.1, which is a loopback address"),  # 6to4
        ("https://[::1]/h", "is a loopback address"),
        ("https://[fd00::1]/h", "is a private"),
        ("https://[fec0::1]/h", "fec0::1 is a site-local (internal network) IPv6 address"),  # deprecated, internal
        ("https://[::ffff:0:0]/h", "embeds 0.0.0.0"),
        ("https://0.0.0.0/h", "is the unspecified address"),
        ("https://224.0.0.1/h", "is a multicast address"),
        ("https://100.64.0.1/h", "is not a public internet address"),  # carrier-grade NAT
        ("https://no-such-host.invalid/h", "does not resolve"),
    ],
)
def test_subscribing_to_an_internal_address_is_refused_with_a_clear_400(clients, url, problem):
    response = clients["dispatch"].post(URL, {"name": "probe", "url": url, "events": ["alert.raised"]}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    message = " ".join(body["field_errors"]["url"])
    assert problem in message
    assert not WebhookSubscription.objects.exists()


def test_a_name_resolving_to_an_internal_address_is_refused(clients, resolver):
    answers, _ = resolver
    answers["hooks.partner.example"] = [["93.184.216.34", "10.1.1.1"]]  # one bad answer is enough
    response = clients["dispatch"].post(
        URL, {"name": "x", "url": "https://hooks.partner.example/h", "events": ["alert.raised"]}, format="json"
    )
    assert response.status_code == 400
    assert "hooks.partner.example resolves to 10.1.1.1" in " ".join(response.json()["field_errors"]["url"])


def test_public_https_url_is_accepted(clients, resolver):
    answers, _ = resolver
    answers["hooks.partner.example"] = [["93.184.216.34"]]
    response = clients["dispatch"].post(
        URL, {"name": "x", "url": "https://hooks.partner.example/h", "events": ["alert.raised"]}, format="json"
    )
    assert response.status_code == 201, response.content


def test_plain_http_is_refused_when_https_is_required(clients, settings, resolver):
    settings.WEBHOOK_REQUIRE_HTTPS = True  # the default with DEBUG=0
    answers, _ = resolver
    answers["hooks.partner.example"] = [["93.184.216.34"]]
    response = clients["dispatch"].post(
        URL, {"name": "x", "url": "http://hooks.partner.example/h", "events": ["alert.raised"]}, format="json"
    )
    assert response.status_code == 400
    assert "use an https URL" in " ".join(response.json()["field_errors"]["url"])


def test_https_is_required_by_default_in_production(tmp_path):
    key = "k" * 20 + "abcdefghijklmnopqrstuvwxyz0123456789"
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": key, "ALLOWED_HOSTS": "a.example"}
    code = "import django; django.setup(); from django.conf import settings; print(settings.WEBHOOK_REQUIRE_HTTPS)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", "ALLOW_SQLITE_IN_PRODUCTION": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "True"


def test_the_admin_form_refuses_an_internal_address(db):
    subscription = WebhookSubscription(name="x", url="https://169.254.169.254/", events=["alert.raised"])
    with pytest.raises(ValidationError, match="link-local"):
        subscription.full_clean()


def test_allow_listed_intranet_receiver_gets_deliveries(hospital, users, clients, receiver, settings):
    settings.WEBHOOK_DELIVERY = "worker"
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    response = clients["dispatch"].post(
        URL, {"name": "board", "url": receiver.url, "events": ["asset.state_changed"]}, format="json"
    )
    assert response.status_code == 201, response.content
    asset_reserve(asset=hospital.place("W402"), user=users["dispatch"])
    assert webhook_deliver_due().succeeded
    assert len(receiver.received) == 1


def test_allow_listed_network_covers_its_addresses(hospital, clients, receiver, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.0/8"]
    response = clients["dispatch"].post(
        URL, {"name": "board", "url": receiver.url, "events": ["asset.state_changed"]}, format="json"
    )
    assert response.status_code == 201, response.content


def test_address_is_checked_again_at_send_time(hospital, users, receiver, settings):
    """Allowed when subscribed, no longer allowed when sent: nothing reaches the receiver."""
    settings.WEBHOOK_DELIVERY = "worker"
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    subscription = subscribe(receiver.url, ["asset.state_changed"])
    subscription.full_clean()
    settings.WEBHOOK_ALLOWED_HOSTS = []
    asset_reserve(asset=hospital.place("W402"), user=users["dispatch"])
    report = webhook_deliver_due()
    assert report.retrying and not receiver.received
    delivery = WebhookDelivery.objects.get()
    assert "127.0.0.1 is a loopback address" in delivery.last_error
    assert delivery.attempt_log.get().status_code is None


def test_a_site_local_ipv6_address_is_refused_on_change_and_at_send_time(
    hospital, users, clients, receiver, settings, resolver
):
    """http://[fec0::1]/ passed every check (Python counts fec0::/10 as global): refused when a subscription
    is changed to it, and a name that resolves there is not sent to."""
    settings.WEBHOOK_DELIVERY = "worker"
    answers, _ = resolver
    answers["hooks.partner.example"] = [["93.184.216.34"]]
    created = clients["dispatch"].post(
        URL, {"name": "x", "url": "http://hooks.partner.example/h", "events": ["asset.state_changed"]}, format="json"
    )
    assert created.status_code == 201, created.content
    changed = clients["dispatch"].patch(f"{URL}{created.json()['id']}/", {"url": "http://[fec0::1]/h"}, format="json")
    assert changed.status_code == 400
    assert "is a site-local" in " ".join(changed.json()["field_errors"]["url"])
    assert WebhookSubscription.objects.get().url == "http://hooks.partner.example/h"
    answers["hooks.partner.example"] = [["fec0::1"]]  # the name moved inside
    asset_reserve(asset=hospital.place("W402"), user=users["dispatch"])
    webhook_deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert "resolves to fec0::1, which is a site-local" in delivery.last_error
    assert delivery.attempt_log.get().status_code is None


def test_a_stored_url_whose_name_now_resolves_to_loopback_is_not_sent(hospital, users, receiver, settings, resolver):
    """A URL stored when it resolved publicly, whose DNS now answers loopback, is refused at send time."""
    settings.WEBHOOK_DELIVERY = "worker"
    answers, _ = resolver
    port = receiver.server.server_address[1]
    answers["hooks.partner.example"] = [["127.0.0.1"]]
    subscribe(f"http://hooks.partner.example:{port}/hooks", ["asset.state_changed"])
    asset_reserve(asset=hospital.place("W402"), user=users["dispatch"])
    webhook_deliver_due()
    assert not receiver.received
    assert "resolves to 127.0.0.1, which is a loopback address" in WebhookDelivery.objects.get().last_error


def test_no_dns_rebinding_the_connection_goes_to_the_checked_address(hospital, users, receiver, settings, resolver):
    """The name resolves to a public address when checked, then to loopback (a rebinding DNS server).
    The sender resolves once per attempt and connects to the checked address, so the loopback receiver
    is never reached."""
    settings.WEBHOOK_DELIVERY = "worker"
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    answers, calls = resolver
    port = receiver.server.server_address[1]
    answers["rebind.example"] = [["93.184.216.34"], ["127.0.0.1"]]  # public when checked, then loopback
    subscribe(f"http://rebind.example:{port}/hooks", ["asset.state_changed"])
    asset_reserve(asset=hospital.place("W402"), user=users["dispatch"])
    webhook_deliver_due()
    assert calls == ["rebind.example"]  # one resolution per attempt: the one that was checked
    assert not receiver.received
    assert WebhookDelivery.objects.get().status == "pending"


def test_host_header_carries_the_name_while_the_connection_goes_to_the_checked_address(
    hospital, users, receiver, settings, resolver
):
    settings.WEBHOOK_DELIVERY = "worker"
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.intranet.example"]
    answers, _ = resolver
    answers["hooks.intranet.example"] = [["127.0.0.1"]]
    port = receiver.server.server_address[1]
    subscribe(f"http://hooks.intranet.example:{port}/hooks?board=3", ["asset.state_changed"])
    asset_reserve(asset=hospital.place("W402"), user=users["dispatch"])
    assert webhook_deliver_due().succeeded
    assert receiver.received[0]["headers"]["Host"] == f"hooks.intranet.example:{port}"


def test_redirects_are_not_followed(hospital, users, settings):
    settings.WEBHOOK_DELIVERY = "worker"
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = Receiver(replies=[302])
    try:
        subscribe(server.url, ["asset.state_changed"])
        asset_reserve(asset=hospital.place("W402"), user=users["dispatch"])
        report = webhook_deliver_due()
        assert report.retrying and len(server.received) == 1
        assert WebhookDelivery.objects.get().last_status_code == 302
    finally:
        server.close()
