"""The sightings POST through the ASGI application daphne serves (config/asgi.py -> config/ingest_asgi.py):
the same answers, refusals and security events as through Django's own handler."""

import gzip
import json
import logging
import time

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.urls import resolve
from django.utils import timezone

from config.asgi import application
from config.ingest_asgi import INGEST_PATHS, INGEST_URLCONF, IngestASGIHandler, ingest_middleware
from config.security_events import LOGGER_NAME
from locations.ingest import auth
from locations.ingest.auth import gateway_token_issue, gateway_token_revoke
from locations.ingest.queue import QueueUnavailable
from locations.models import GatewayToken
from locations.simulator import format_ts
from tests.factories import UserFactory
from tests.locations.sim_hospital import make_ward

URL = "/api/v1/rtls/sightings"
TAG = "C3:00:00:00:01:0A"
# The view runs on a worker thread with its own database connection: the test's rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ward():
    return make_ward()


def asgi_post(raw: bytes, token: str | None = None, *, headers=(), client_ip="127.0.0.1", host=b"testserver"):
    """One POST through config.asgi.application; (status, headers, json body)."""
    head = [(b"host", host), (b"content-type", b"application/json"), (b"content-length", b"%d" % len(raw))]
    if token:
        head.append((b"authorization", f"Bearer {token}".encode()))
    head.extend(headers)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": head,
        "client": (client_ip, 50123),
        "server": ("testserver", 80),
    }

    async def run():
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": raw, "more_body": False})
        start = await communicator.receive_output(10)
        body = await communicator.receive_output(10)
        await communicator.wait(10)
        return start, body

    start, body = async_to_sync(run)()
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    content = body.get("body") or b""
    answer = json.loads(content) if headers.get("content-type") == "application/json" else content.decode()
    return start["status"], headers, answer


def body_for(gateway="gw-b", items=None) -> bytes:
    now = time.time()
    items = items or [{"tag": TAG, "rssi": -62, "ts": format_ts(now - 1)}]
    return json.dumps({"gateway": gateway, "sent_at": format_ts(now), "sightings": items}).encode()


@pytest.fixture(autouse=True)
def _security_stream_in_caplog(caplog):
    """The security logger does not propagate (its own stream): caplog listens there too."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(caplog.handler)
    yield
    logger.removeHandler(caplog.handler)


def security_kinds(caplog) -> list[str]:
    return [r.security_event["kind"] for r in caplog.records if hasattr(r, "security_event")]


def test_the_sightings_path_goes_to_the_ingest_handler(monkeypatch, ward, memory_queue):
    seen = []
    original = IngestASGIHandler._respond
    monkeypatch.setattr(IngestASGIHandler, "_respond", lambda self, request: seen.append(1) or original(self, request))
    status, _, _ = asgi_post(body_for(), gateway_token_issue(gateway_id="gw-b").raw)
    assert status == 202
    assert seen == [1]


def test_a_good_batch_gets_202_with_counts_and_reasons(ward, memory_queue):
    now = time.time()
    items = [
        {"tag": TAG, "rssi": -62, "ts": format_ts(now - 1)},
        {"tag": TAG, "rssi": -130, "ts": format_ts(now - 1)},
        {"tag": "c3:00:00:00:01:0b", "rssi": -70, "ts": int((now - 2) * 1000)},
    ]
    status, headers, answer = asgi_post(body_for(items=items), gateway_token_issue(gateway_id="gw-b").raw)
    assert status == 202
    assert headers["content-type"] == "application/json"
    assert "x-frame-options" in headers  # the site's middleware ran
    assert answer["gateway"] == "gw-b"
    assert (answer["accepted"], answer["rejected_count"], answer["duplicates"]) == (2, 1, 0)
    assert answer["rejected"][0]["index"] == 1 and "outside -120..0" in answer["rejected"][0]["reason"]
    assert memory_queue.lag().entries >= 1


def test_a_malformed_body_gets_400_with_the_reason(ward, memory_queue):
    token = gateway_token_issue(gateway_id="gw-b").raw
    status, _, answer = asgi_post(b"{not json", token)
    assert status == 400
    assert "not valid JSON" in answer["detail"]
    status, _, answer = asgi_post(json.dumps({"gateway": "gw-b", "sightings": "x"}).encode(), token)
    assert status == 400 and answer["detail"]


def test_a_bad_token_gets_401_and_is_logged(ward, memory_queue, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    status, headers, answer = asgi_post(body_for(), "gwt_0123456789ab_" + "x" * 40)
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    assert "not valid" in answer["detail"]
    kinds = security_kinds(caplog)
    assert "gateway.auth_failed" in kinds and "http.refused" in kinds
    assert memory_queue.lag().entries == 0


def test_another_gateways_token_gets_403_and_is_logged(ward, memory_queue, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    status, _, answer = asgi_post(body_for("gw-c"), gateway_token_issue(gateway_id="gw-b").raw)
    assert status == 403
    assert "may not post for gw-c" in answer["detail"]
    assert "http.refused" in security_kinds(caplog)


def test_an_oversize_body_gets_413_and_a_gzip_bomb_too(ward, memory_queue, settings):
    settings.INGEST_MAX_BODY_BYTES = 2000
    token = gateway_token_issue(gateway_id="gw-b").raw
    items = [{"tag": TAG, "rssi": -62, "ts": format_ts(time.time() - 1)}] * 100
    assert asgi_post(body_for(items=items), token)[0] == 413
    bomb = gzip.compress(b" " * 100_000)
    assert asgi_post(bomb, token, headers=[(b"content-encoding", b"gzip")])[0] == 413


def test_a_gateway_posting_too_fast_gets_429(ward, memory_queue, settings):
    settings.INGEST_THROTTLE_RATE = "2/min"
    token = gateway_token_issue(gateway_id="gw-b").raw
    assert [asgi_post(body_for(), token)[0] for _ in range(2)] == [202, 202]
    status, headers, answer = asgi_post(body_for(), token)
    assert status == 429
    assert int(headers["retry-after"]) > 0


def test_an_unavailable_queue_gets_503(ward, memory_queue, monkeypatch):
    def down(**kwargs):
        raise QueueUnavailable("redis is down")

    monkeypatch.setattr(memory_queue, "put", down)
    status, headers, _ = asgi_post(body_for(), gateway_token_issue(gateway_id="gw-b").raw)
    assert status == 503
    assert headers["retry-after"] == "5"


def test_a_revoked_token_is_refused_at_once_here_and_within_the_check_interval_elsewhere(ward, memory_queue):
    issued = gateway_token_issue(gateway_id="gw-b")
    assert asgi_post(body_for(), issued.raw)[0] == 202
    gateway_token_revoke(token=issued.token)  # in this process: the cache is cleared at once
    assert asgi_post(body_for(), issued.raw)[0] == 401

    other = gateway_token_issue(gateway_id="gw-b")
    assert asgi_post(body_for(), other.raw)[0] == 202  # verified and cached
    # Revoked by another process: the row changes and the revocation is announced through the shared cache;
    # this process sees it at its next check (at most INGEST_TOKEN_REVOCATION_CHECK_SECONDS later).
    GatewayToken.objects.filter(pk=other.token.pk).update(revoked_at=timezone.now())
    auth.announce_revocation()
    auth._revocations["next_check"] = 0.0  # the check interval has passed
    assert asgi_post(body_for(), other.raw)[0] == 401


def test_debug_answers_loopback_clients_only(ward, memory_queue, settings, caplog):
    settings.DEBUG = True
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    status, _, _ = asgi_post(body_for(), gateway_token_issue(gateway_id="gw-b").raw, client_ip="10.1.2.3")
    assert status == 403
    assert "debug.non_loopback_refused" in security_kinds(caplog)


def test_an_unknown_host_is_refused(ward, memory_queue):
    token = gateway_token_issue(gateway_id="gw-b").raw
    status, _, _ = asgi_post(body_for(), token, host=b"evil.example")
    assert status == 400


def test_the_ingest_chain_keeps_the_security_middleware():
    kept = ingest_middleware()
    for path in (
        "config.middleware.LoopbackOnlyWhenDebugMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
        "config.security_events.SecurityEventMiddleware",
    ):
        assert path in kept
    assert "django.contrib.sessions.middleware.SessionMiddleware" not in kept


def test_a_signed_in_users_session_cookie_does_not_post_sightings(ward, memory_queue, client):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    cookie = client.cookies["sessionid"].value
    status, _, _ = asgi_post(body_for(), headers=[(b"cookie", f"sessionid={cookie}".encode())])
    assert status == 401
    assert memory_queue.lag().entries == 0


def test_the_ingest_urlconf_resolves_the_sightings_view_as_the_site_does():
    for url in INGEST_PATHS:
        lean, site = resolve(url, urlconf=INGEST_URLCONF), resolve(url)
        assert lean.func.view_class is site.func.view_class
        assert (lean.view_name, lean.namespace) == (site.view_name, site.namespace)
