"""Tell a user's open WebSockets that their access changed: signed out, lost a role, deactivated.

The floor-map consumer (floormap/consumers.py) joins ``user_group(user.pk)`` and closes itself on
``session.ended`` (for its own session) or, on ``access.changed``, when the user may no longer use the map.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from locations import live as floor_live

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def notify_user(user_id: int | None, message: dict) -> None:
    if user_id is None:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = floor_live._server_loop  # the demo's in-process server loop (locations.live.use_server_loop)
        if loop is not None and loop.is_running() and threading.get_ident() != floor_live._server_thread_id:
            asyncio.run_coroutine_threadsafe(layer.group_send(user_group(user_id), message), loop)
            return
        try:
            running = asyncio.get_running_loop()  # called from async code (a consumer, a test): schedule it
        except RuntimeError:
            running = None
        if running is not None:
            running.create_task(layer.group_send(user_group(user_id), message))
            return
        async_to_sync(layer.group_send)(user_group(user_id), message)
    except Exception:  # a dead channel layer must never break a sign-out or a role change
        logger.exception("could not notify the WebSockets of user %s", user_id)
