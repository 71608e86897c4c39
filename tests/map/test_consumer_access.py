# ruff: noqa: F811  (fixtures imported from another test module, used as arguments)
"""A floor-map WebSocket is closed when its user signs out, loses the role that opened it, or idles out."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time

from floormap.consumers import CLOSE_IDLE, CLOSE_NOT_ALLOWED, CLOSE_SIGNED_OUT
from tests.map.test_consumers import TIMEOUT, channel_layer, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in_client(user):
    client = Client()
    client.force_login(user)
    return client


async def open_socket(client, floor_id):
    """Through the real ASGI stack (origin check, session cookie, auth), as the browser does."""
    from config.asgi import application  # noqa: PLC0415 — config.asgi gc-freezes what is loaded (config/startup.py)

    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    communicator = WebsocketCommunicator(
        application,
        f"/ws/floors/{floor_id}/",
        headers=[
            (b"origin", f"http://{settings.ALLOWED_HOSTS[0]}".encode()),
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
        ],
    )
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "hello"
    return communicator


async def closed_with(communicator) -> int:
    output = await communicator.receive_output(timeout=TIMEOUT)
    assert output["type"] == "websocket.close", output
    return output["code"]


async def test_signing_out_closes_that_sessions_socket_only(world):
    hospital, users = world
    here = await database_sync_to_async(signed_in_client)(users["nurse"])
    elsewhere = await database_sync_to_async(signed_in_client)(users["nurse"])
    socket_here = await open_socket(here, hospital.floors["floor4"].pk)
    socket_elsewhere = await open_socket(elsewhere, hospital.floors["floor4"].pk)
    await database_sync_to_async(here.post)("/map/logout/")
    assert await closed_with(socket_here) == CLOSE_SIGNED_OUT
    assert await socket_elsewhere.receive_nothing(timeout=0.5)  # the other workstation's map stays live
    await socket_elsewhere.disconnect()


async def test_losing_the_map_role_closes_the_socket(world):
    hospital, users = world
    client = await database_sync_to_async(signed_in_client)(users["dispatch"])
    socket = await open_socket(client, hospital.floors["floor4"].pk)

    def remove_role():
        users["dispatch"].groups.remove(Group.objects.get(name="Dispatch"))

    await database_sync_to_async(remove_role)()
    assert await closed_with(socket) == CLOSE_NOT_ALLOWED


async def test_keeping_another_role_keeps_the_socket_open(world):
    hospital, users = world

    def add_nurse_role():
        users["biomed"].groups.add(Group.objects.get(name="Nurse"))

    await database_sync_to_async(add_nurse_role)()
    client = await database_sync_to_async(signed_in_client)(users["biomed"])
    socket = await open_socket(client, hospital.floors["floor4"].pk)

    def remove_one_role():
        users["biomed"].groups.remove(Group.objects.get(name="Clinical engineering"))

    await database_sync_to_async(remove_one_role)()
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


async def test_an_idle_session_is_closed_at_the_next_ping_which_is_not_activity(world):
    hospital, users = world
    client = await database_sync_to_async(signed_in_client)(users["nurse"])
    socket = await open_socket(client, hospital.floors["floor4"].pk)
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from(timeout=TIMEOUT))["type"] == "pong"
    with freeze_time(timezone.now() + timedelta(minutes=16)):
        await socket.send_json_to({"type": "ping"})
        assert await closed_with(socket) == CLOSE_IDLE  # the page then says "signed out after a while idle"


async def test_a_request_that_finds_the_session_idle_closes_its_socket_saying_idle_not_signed_out(world):
    """The map's poll finds the session expired and signs it out; the socket closed by that sign-out must give
    the page the same reason as the poll's 401, whichever reaches it first (it said "signed out" before)."""
    hospital, users = world
    client = await database_sync_to_async(signed_in_client)(users["nurse"])
    socket = await open_socket(client, hospital.floors["floor4"].pk)
    with freeze_time(timezone.now() + timedelta(minutes=16)):
        response = await database_sync_to_async(client.get)(
            f"/api/v1/map/floors/{hospital.floors['floor4'].pk}/assets/", HTTP_ACCEPT="application/json"
        )
        assert response.status_code == 401 and response.json()["code"] == "session_expired"
        assert await closed_with(socket) == CLOSE_IDLE
