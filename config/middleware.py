"""With DEBUG on (the embedded default), the server answers loopback clients only (issue 13 defect 6).

DEBUG pages show settings and tracebacks; a development server started on 0.0.0.0 must not show them to
the ward's network. HTTP through ``LoopbackOnlyWhenDebugMiddleware``; WebSockets through
``LoopbackOnlyWhenDebugASGI`` (config/asgi.py). With DEBUG off both do nothing.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpResponseForbidden

from config.security_events import security_event

REFUSAL = "DEBUG is on: this server answers only loopback clients (127.0.0.1, ::1). Set DEBUG=0 to serve others."


def is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


class LoopbackOnlyWhenDebugMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.DEBUG and not is_loopback(request.META.get("REMOTE_ADDR")):
            security_event("debug.non_loopback_refused", source_address=request.META.get("REMOTE_ADDR", ""))
            return HttpResponseForbidden(REFUSAL, content_type="text/plain")
        return self.get_response(request)


class LoopbackOnlyWhenDebugASGI:
    """The same rule for WebSocket handshakes: closed before accept (the browser sees HTTP 403)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        client = scope.get("client") or (None, None)
        if settings.DEBUG and scope.get("type") == "websocket" and not is_loopback(client[0]):
            security_event("debug.non_loopback_refused", source_address=client[0] or "", door="websocket")
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 4403})
            return
        return await self.app(scope, receive, send)
