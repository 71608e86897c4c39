"""The floor map's WebSocket (/ws/floors/<id>/): who may connect, floor scoping, and what a state change sends."""

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group
from django.db import connections
from django.test import Client

from config.routing import websocket_urlpatterns
from lifecycle import services
from locations.live import notify_floor
from tests.map.conftest import build_map_hospital

# The consumer reads the database from another thread: the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 3


@pytest.fixture
async def channel_layer():
    layer = get_channel_layer()
    await layer.flush()
    yield layer
    await layer.flush()
    # The consumer's database thread keeps its connection: close it, or the test database cannot be dropped.
    await database_sync_to_async(connections.close_all)()


def user_without_password(username, roles):
    """Password hashing is slow on purpose; these users never type one (force_login or scope["user"])."""
    user = get_user_model().objects.create(username=username)
    user.set_unusable_password()
    user.save()
    user.groups.add(*Group.objects.filter(name__in=roles))
    return user


@pytest.fixture
async def world(channel_layer):
    hospital = await database_sync_to_async(build_map_hospital)()
    make = database_sync_to_async(user_without_password)
    users = {
        "nurse": await make("ws-nurse", ["Nurse"]),
        "dispatch": await make("ws-dispatch", ["Dispatch"]),
        "biomed": await make("ws-biomed", ["Clinical engineering"]),
        "security": await make("ws-security", ["Security"]),
    }
    return hospital, users


async def connect(user, floor_id):
    """A communicator on the consumer's own routes, with the user the auth middleware would have set."""
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/floors/{floor_id}/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    return communicator, connected


async def test_anonymous_and_security_only_users_are_refused_map_roles_are_let_in(world):
    hospital, users = world
    for user in (AnonymousUser(), users["security"]):
        communicator, connected = await connect(user, hospital.floors["floor4"].pk)
        assert not connected
        await communicator.disconnect()
    for role in ("nurse", "dispatch", "biomed"):
        communicator, connected = await connect(users[role], hospital.floors["floor4"].pk)
        assert connected, role
        hello = await communicator.receive_json_from(timeout=TIMEOUT)
        assert hello["type"] == "hello" and hello["floor_id"] == hospital.floors["floor4"].pk
        await communicator.disconnect()


async def test_an_unknown_floor_is_refused(world):
    _, users = world
    communicator, connected = await connect(users["nurse"], 999999)
    assert not connected
    await communicator.disconnect()


async def test_authentication_through_the_real_asgi_stack_uses_the_session_cookie(world):
    """config.asgi.application: origin check, session middleware, then the consumer's role check."""
    from config.asgi import application  # noqa: PLC0415 — config.asgi gc-freezes what is loaded (config/startup.py)

    hospital, users = world

    def session_cookie(user):
        client = Client()
        client.force_login(user)
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    origin = f"http://{settings.ALLOWED_HOSTS[0]}".encode()
    results = {}
    for role in ("nurse", "security"):
        cookie = await database_sync_to_async(session_cookie)(users[role])
        communicator = WebsocketCommunicator(
            application,
            f"/ws/floors/{hospital.floors['floor4'].pk}/",
            headers=[(b"origin", origin), (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())],
        )
        results[role], _ = await communicator.connect(timeout=TIMEOUT)
        await communicator.disconnect()
    anonymous = WebsocketCommunicator(
        application, f"/ws/floors/{hospital.floors['floor4'].pk}/", headers=[(b"origin", origin)]
    )
    results["anonymous"], _ = await anonymous.connect(timeout=TIMEOUT)
    await anonymous.disconnect()
    assert results == {"nurse": True, "security": False, "anonymous": False}


async def test_events_reach_only_the_floor_they_are_for(world):
    hospital, users = world
    floor4, _ = await connect(users["nurse"], hospital.floors["floor4"].pk)
    floor3, _ = await connect(users["dispatch"], hospital.floors["floor3"].pk)
    for communicator in (floor4, floor3):
        await communicator.receive_json_from(timeout=TIMEOUT)  # hello

    move = {"kind": "asset.moved", "floor_id": hospital.floors["floor4"].pk, "assets": [{"asset_id": 1, "room_id": 2}]}
    await database_sync_to_async(notify_floor)(hospital.floors["floor4"].pk, move)

    assert await floor4.receive_json_from(timeout=TIMEOUT) == {"type": "floor.event", "event": move}
    assert await floor3.receive_nothing(timeout=0.3)
    await floor4.disconnect()
    await floor3.disconnect()


async def test_a_state_change_made_through_lifecycle_services_is_pushed_to_its_floor(world):
    hospital, users = world
    pump = await database_sync_to_async(hospital.place)("4N-402", asset_tag="IP-LIVE")
    watching, _ = await connect(users["biomed"], hospital.floors["floor4"].pk)
    elsewhere, _ = await connect(users["nurse"], hospital.floors["floor3"].pk)
    await watching.receive_json_from(timeout=TIMEOUT)
    await elsewhere.receive_json_from(timeout=TIMEOUT)

    await database_sync_to_async(services.asset_start_use)(asset=pump, user=users["nurse"])

    message = await watching.receive_json_from(timeout=TIMEOUT)
    assert message["type"] == "floor.event"
    event = message["event"]
    assert {k: event[k] for k in ("kind", "asset_id", "asset_tag", "transition", "from_state", "state", "label")} == {
        "kind": "asset.state",
        "asset_id": pump.pk,
        "asset_tag": "IP-LIVE",
        "transition": "start_use",
        "from_state": "available",
        "state": "in_use",
        "label": "In use",
    }
    assert event["room_id"] == hospital.rooms["4N-402"].pk
    assert await elsewhere.receive_nothing(timeout=0.3)
    await watching.disconnect()
    await elsewhere.disconnect()


async def test_a_refused_transition_sends_nothing(world):
    hospital, users = world
    pump = await database_sync_to_async(hospital.place)("4N-402", asset_tag="IP-QUIET")
    watching, _ = await connect(users["nurse"], hospital.floors["floor4"].pk)
    await watching.receive_json_from(timeout=TIMEOUT)

    with pytest.raises(services.TransitionPermissionDenied):
        await database_sync_to_async(services.asset_start_use)(asset=pump, user=users["biomed"])

    assert await watching.receive_nothing(timeout=0.3)
    await watching.disconnect()


async def test_ping_gets_a_pong_and_garbage_is_ignored(world):
    hospital, users = world
    communicator, _ = await connect(users["nurse"], hospital.floors["floor4"].pk)
    await communicator.receive_json_from(timeout=TIMEOUT)
    await communicator.send_to(text_data="{not json")
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "pong"
    await communicator.disconnect()
