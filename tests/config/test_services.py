"""The configured services really work: the database answers and the channel layer delivers."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.test import Client

from locations.live import floor_group, notify_floor


@pytest.mark.django_db
def test_health_check_and_home_page_answer():
    client = Client()
    assert client.get("/healthz").json()["status"] == "ok"
    assert "Find equipment" in client.get("/").content.decode()


@pytest.mark.django_db
def test_ci_runs_on_the_database_it_was_given():
    expected = "postgresql" if settings.DATABASE_URL.startswith("postgres") else "sqlite"
    assert connection.vendor == expected


def test_floor_notifications_reach_a_group_member():
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(floor_group(7), channel)
    notify_floor(7, {"kind": "asset.moved", "asset": "IP-0001"})
    message = async_to_sync(layer.receive)(channel)
    assert message == {"type": "floor.event", "event": {"kind": "asset.moved", "asset": "IP-0001"}}
    async_to_sync(layer.group_discard)(floor_group(7), channel)


@pytest.mark.needs_redis
def test_the_redis_channel_layer_is_used_when_redis_url_is_set():
    assert type(get_channel_layer()).__name__ == "RedisChannelLayer"
