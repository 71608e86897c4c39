"""The gateways' sightings endpoint under ASGI in one thread hop (issue 12, the HTTP front's CPU).

``POST /api/v1/rtls/sightings`` is posted once or twice a second by every gateway (~160 POST/s for a
1,000-bed hospital). Django's ASGIHandler serves a sync view behind a middleware chain that holds one
async-capable middleware (axes) by running every ``MiddlewareMixin`` hook, the request signals and the view
through ``sync_to_async`` separately, inside a ``ThreadSensitiveContext`` that starts a fresh thread for
each request: about 25 thread hand-overs and two thread starts per POST, most of the endpoint's CPU
(benchmarks/ingest_front.py, docs/benchmarks.md "HTTP ingest front: CPU per POST").

``IngestASGIHandler`` serves the same request with the same code, in one hand-over: the body is read on the
event loop as Django reads it, then one worker thread (the loop's shared pool, no thread started per
request) sends ``request_started``, runs the SAME ``settings.MIDDLEWARE`` chain in its sync mode, the same
URL resolution and the same DRF view (token authentication, per-gateway throttle, body limit, 400/401/403/
413/429/503 answers, security events), and closes the response (``request_finished``). Nothing is
skipped: every middleware runs, in the same order, with the same request; only the thread model differs.

Why one shared pool thread is safe here (Django's "thread sensitive" mode exists for code that must stay on
one thread across several hand-overs of a request): this handler makes ONE hand-over per request, so the
whole request (middleware, view, the signals' database connection handling) runs on one thread from start
to end, as under WSGI; the view closes any database connection it opened (SightingsView.dispatch), and
``request_started``/``request_finished`` apply CONN_MAX_AGE as they do for every request. The client
disconnect listener of ASGIHandler is left out: a sync view cannot be cancelled anyway, and a gateway's
answer is ready in milliseconds.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.urls import set_script_prefix

# The paths this handler serves (locations/api/urls.py); every other request goes to Django's ASGIHandler.
INGEST_PATHS = frozenset({"/api/v1/rtls/sightings", "/api/v1/rtls/sightings/"})


class IngestASGIHandler(ASGIHandler):
    def __init__(self):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)  # the whole settings.MIDDLEWARE chain, sync mode, as under WSGI

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"the ingest handler serves HTTP only, not {scope['type']}")
        await self.handle(scope, receive, send)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            set_script_prefix(get_script_prefix(scope))
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                response = error_response
                await sync_to_async(response.close, thread_sensitive=False)()
            else:
                response = await sync_to_async(self._respond, thread_sensitive=False)(request)
            await self.send_response(response, send)
        finally:
            body_file.close()

    def _respond(self, request):
        """request_started, the middleware chain and the view, request_finished: one thread, start to end."""
        signals.request_started.send(sender=self.__class__, scope=request.scope)
        response = self.get_response(request)
        response._handler_class = self.__class__
        # The content is rendered (a DRF Response is rendered by the chain); closing sends request_finished.
        response.close()
        return response


def ingest_router(default_app, ingest_app=None):
    """An ASGI app that sends the sightings POSTs to ``IngestASGIHandler`` and everything else to ``default_app``."""
    ingest_app = ingest_app or IngestASGIHandler()

    async def app(scope, receive, send):
        if scope["type"] == "http" and scope.get("path") in INGEST_PATHS:
            return await ingest_app(scope, receive, send)
        return await default_app(scope, receive, send)

    return app
