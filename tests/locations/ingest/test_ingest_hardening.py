"""Ingest hardening (issue 13, defect 7): MQTT messages have a size limit, and a revoked gateway token stops
working in every process within about a second (not after the 30 s token cache)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from locations.ingest.auth import credential_for_token, gateway_token_issue
from locations.ingest.mqtt import handle_message
from tests.factories import ReceiverFactory

BASE_DIR = Path(__file__).resolve().parents[3]


def test_an_oversized_mqtt_message_is_dropped_unparsed(db, memory_queue, settings):
    settings.INGEST_MQTT_MAX_MESSAGE_BYTES = 1000
    payload = b'{"gateway": "gw-b", "sightings": [' + b" " * 2000 + b"]}"
    outcome = handle_message("rtls/gw-b/sightings", payload, prefix="rtls", queue=memory_queue)
    assert outcome.status == "malformed"
    assert outcome.detail == "message of 2,036 bytes is larger than the 1,000 allowed"
    assert memory_queue.lag().entries == 0


@pytest.mark.needs_redis
@pytest.mark.django_db(transaction=True)
def test_a_revocation_in_another_process_applies_here_within_a_second_or_two(settings):
    settings.INGEST_TOKEN_CACHE_SECONDS = 300  # the verified token would otherwise be trusted for 5 minutes
    settings.CACHES = {  # the real shared cache, as in production (this directory's tests isolate it)
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "ingest": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": settings.INGEST_STREAM_PREFIX,
        },
    }
    receiver = ReceiverFactory(gateway_id="gw-revoke")
    issued = gateway_token_issue(gateway_id=receiver.gateway_id)
    assert credential_for_token(issued.raw) is not None  # verified, and now cached in this process

    s = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}",
    }
    code = (
        "import django; django.setup();"
        "from locations.ingest.auth import gateway_token_revoke; from locations.models import GatewayToken;"
        f"print(gateway_token_revoke(token=GatewayToken.objects.get(pk={issued.token.pk})))"
    )
    revoked = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert revoked.stdout.strip() == "True", revoked.stderr
    revoked_at = time.monotonic()
    while credential_for_token(issued.raw) is not None:
        assert time.monotonic() - revoked_at < 2.5, "the revoked token still works in this process"
        time.sleep(0.05)
