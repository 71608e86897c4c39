"""Floor events reach a floor map's channel, also from a thread outside the server's event loop."""

import asyncio
import threading

from channels.layers import get_channel_layer

from locations.live import floor_group, notify_floor, use_server_loop


def test_an_event_from_another_thread_is_delivered_through_the_server_loop():
    """The demo's simulator thread and the ASGI server share one in-memory channel layer."""
    layer = get_channel_layer()
    loop = asyncio.new_event_loop()
    server = threading.Thread(target=loop.run_forever, daemon=True)
    server.start()
    try:
        channel = asyncio.run_coroutine_threadsafe(layer.new_channel(), loop).result(2)
        asyncio.run_coroutine_threadsafe(layer.group_add(floor_group(3), channel), loop).result(2)
        use_server_loop(loop, loop_thread_id=server.ident)

        sender = threading.Thread(target=notify_floor, args=(3, {"kind": "asset.moved", "asset_tag": "IP-1"}))
        sender.start()
        sender.join(2)
        message = asyncio.run_coroutine_threadsafe(asyncio.wait_for(layer.receive(channel), 2), loop).result(3)
        assert message == {"type": "floor.event", "event": {"kind": "asset.moved", "asset_tag": "IP-1"}}
    finally:
        use_server_loop(None)
        loop.call_soon_threadsafe(loop.stop)
        server.join(2)
