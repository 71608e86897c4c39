"""Live updates to the floor map over Channels.

Each floor has a group; services call ``notify_floor`` from ``transaction.on_commit`` so that
nobody sees a change that was rolled back. Event shape: {"type": "floor.event", "event": {...}}
where event["kind"] is "asset.moved", "asset.state" or "alert".
"""

from __future__ import annotations

import asyncio
import logging
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

# The embedded demo runs the RTLS simulator in a thread of the ASGI server (`demo_serve`). The
# in-memory channel layer lives on the server's event loop, so that thread hands its events to
# that loop instead of starting a loop of its own. Unset everywhere else.
_server_loop: asyncio.AbstractEventLoop | None = None
_server_thread_id: int | None = None


def use_server_loop(loop: asyncio.AbstractEventLoop | None, *, loop_thread_id: int | None = None) -> None:
    """Send this process's floor events through ``loop``, which runs on thread ``loop_thread_id``."""
    global _server_loop, _server_thread_id
    _server_loop, _server_thread_id = loop, loop_thread_id


def floor_group(floor_id: int) -> str:
    return f"floor-{floor_id}"


def notify_floor(floor_id: int | None, event: dict) -> None:
    if floor_id is None:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "floor.event", "event": event}
    try:
        loop = _server_loop
        if loop is not None and loop.is_running() and threading.get_ident() != _server_thread_id:
            asyncio.run_coroutine_threadsafe(layer.group_send(floor_group(floor_id), message), loop)
            return
        async_to_sync(layer.group_send)(floor_group(floor_id), message)
    except Exception:  # a dead channel layer must never undo or block a committed change
        logger.exception("could not notify floor %s", floor_id)
