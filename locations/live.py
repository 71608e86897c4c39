"""Live updates to the floor map over Channels.

Each floor has a group; services call ``notify_floor`` from ``transaction.on_commit`` so that
nobody sees a change that was rolled back. Event shape: {"type": "floor.event", "event": {...}}
where event["kind"] is "asset.moved", "asset.state" or "alert".
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def floor_group(floor_id: int) -> str:
    return f"floor-{floor_id}"


def notify_floor(floor_id: int | None, event: dict) -> None:
    if floor_id is None:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(floor_group(floor_id), {"type": "floor.event", "event": event})
    except Exception:  # a dead channel layer must never undo or block a committed change
        logger.exception("could not notify floor %s", floor_id)
