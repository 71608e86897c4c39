"""Live updates for the floor map: one WebSocket per floor, at ``/ws/floors/<floor_id>/``.

The consumer joins the floor's group (locations.live.floor_group) and forwards every
``{"type": "floor.event", "event": {...}}`` the services send after their commit: "asset.moved" from
the location pipeline, "asset.state" from lifecycle.services, "alert" from the alerts. Only signed-in
users whose roles the policy table lets see the map (Action.MAP_VIEW) may connect; others are refused at the handshake.

With the embedded default (no REDIS_URL) the channel layer is in memory, per process: events sent by
another process (``simulate_rtls --live``, an MQTT worker) never reach this one. The page also polls
``/api/v1/map/floors/<id>/assets/`` then; see docs/map.md.
"""

from __future__ import annotations

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.live import user_group
from accounts.sessions import session_end_reason
from config.access import check, may
from declarations.policy import Action
from locations.live import floor_group
from locations.models import Floor

# Close codes (4000-4999 are the application's): the client stops retrying on these.
CLOSE_NOT_ALLOWED = 4403
CLOSE_NO_SUCH_FLOOR = 4404
CLOSE_SIGNED_OUT = 4401  # the user signed out: the page goes to the sign-in form
CLOSE_IDLE = 4408  # the session ended after a while without activity (the sign-in form says so)
CLOSE_MAX_AGE = 4409  # the session reached its maximum age
_CLOSE_FOR_REASON = {"signout": CLOSE_SIGNED_OUT, "idle": CLOSE_IDLE, "max_age": CLOSE_MAX_AGE}


@database_sync_to_async
def _may_watch(user, floor_id: int) -> tuple[bool, bool]:
    exists = floor_id <= 2**63 - 1 and Floor.objects.filter(pk=floor_id).exists()  # a huge id is no floor
    return check(user, Action.MAP_VIEW, door="websocket", floor_id=floor_id), exists


@database_sync_to_async
def _still_allowed(user_id: int, session_key: str | None) -> tuple[str | None, bool]:
    """(why the session ended, None while it is signed in and not idle/too old; user may still use the map),
    read again."""
    user = get_user_model().objects.filter(pk=user_id).first()
    return (None if session_key is None else session_end_reason(session_key)), may(user, Action.MAP_VIEW)


class FloorConsumer(AsyncJsonWebsocketConsumer):
    group_name: str | None = None
    user_group_name: str | None = None

    async def connect(self):
        floor_id = int(self.scope["url_route"]["kwargs"]["floor_id"])
        allowed, floor_exists = await _may_watch(self.scope.get("user"), floor_id)
        if not allowed:
            await self.close(code=CLOSE_NOT_ALLOWED)  # before accept: the handshake is refused (HTTP 403)
            return
        if not floor_exists:
            await self.close(code=CLOSE_NO_SUCH_FLOOR)
            return
        self.group_name = floor_group(floor_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        # Closed when this user signs out or loses the role that let them in (accounts/signals.py).
        self.user_group_name = user_group(self.scope["user"].pk)
        await self.channel_layer.group_add(self.user_group_name, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "floor_id": floor_id, "server_time": timezone.now().isoformat()})

    async def disconnect(self, code):
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)
        if self.user_group_name:
            await self.channel_layer.group_discard(self.user_group_name, self.channel_name)

    def _session_key(self) -> str | None:
        session = self.scope.get("session")
        return getattr(session, "session_key", None) if session is not None else None

    async def session_ended(self, message):
        """The user signed out somewhere: close if it was this connection's session (or it has none)."""
        own = self._session_key()
        if own is None or not message.get("session_key") or message["session_key"] == own:
            await self.close(code=_CLOSE_FOR_REASON.get(message.get("reason"), CLOSE_SIGNED_OUT))

    async def access_changed(self, message):
        """Roles or the account changed: close unless the user may still use the map."""
        ended, allowed = await _still_allowed(self.scope["user"].pk, self._session_key())
        if ended:
            await self.close(code=_CLOSE_FOR_REASON[ended])
        elif not allowed:
            await self.close(code=CLOSE_NOT_ALLOWED)

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return json.loads(text_data)
        except ValueError:  # a garbled frame is ignored, not a crash of the connection
            return None

    async def receive_json(self, content, **kwargs):
        # The page pings to keep proxies from closing an idle connection and to measure it is alive.
        # A ping is not activity (accounts/sessions.py); it only checks the session still exists.
        if isinstance(content, dict) and content.get("type") == "ping":
            ended, allowed = await _still_allowed(self.scope["user"].pk, self._session_key())
            if ended or not allowed:
                await self.close(code=_CLOSE_FOR_REASON[ended] if ended else CLOSE_NOT_ALLOWED)
                return
            await self.send_json({"type": "pong", "server_time": timezone.now().isoformat()})

    async def floor_event(self, message):
        await self.send_json({"type": "floor.event", "event": message["event"]})
