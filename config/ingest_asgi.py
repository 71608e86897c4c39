"""The gateways' sightings endpoint under ASGI in one thread hop (issue 12, the HTTP front's CPU).

``POST /api/v1/rtls/sightings`` is posted once or twice a second by every gateway (~160 POST/s for a
1,000-bed hospital). Django's ASGIHandler serves a sync view behind a middleware chain that holds one
async-capable middleware (axes) by running every ``MiddlewareMixin`` hook, the request signals and the view
through ``sync_to_async`` separately, inside a ``ThreadSensitiveContext`` that starts a fresh thread for
each request: about 25 thread hand-overs and two thread starts per POST, most of the endpoint's CPU
(benchmarks/ingest_front.py, docs/benchmarks.md "HTTP ingest front: CPU per POST").

``IngestASGIHandler`` serves the same request with the same code, in one hand-over: the body is read on the
event loop as Django reads it, then one worker thread (the loop's shared pool, no thread started per
request) sends ``request_started``, runs the site's middleware chain in its sync mode (less the session, CSRF and
sign-in middleware this token-only endpoint has no use for: INGEST_EXEMPT_MIDDLEWARE says why each is safe
to leave out), the same URL resolution and the same DRF view (token authentication, per-gateway throttle,
body limit, 400/401/403/413/429/503 answers, security events), and closes the response
(``request_finished``).

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
from django.conf import settings
from django.core import signals
from django.core.exceptions import MiddlewareNotUsed, RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.urls import set_script_prefix
from django.utils.module_loading import import_string

# The paths this handler serves (locations/api/urls.py); every other request goes to Django's ASGIHandler.
INGEST_PATHS = frozenset({"/api/v1/rtls/sightings", "/api/v1/rtls/sightings/"})
INGEST_URLCONF = "config.ingest_urls"  # the same routes, mounted the same way, and nothing else

# Middleware of settings.MIDDLEWARE that this endpoint does not run, and why that is safe. The endpoint's
# only authentication is the gateway token (SightingsView.authentication_classes): nothing here reads a
# session or a cookie, so:
INGEST_EXEMPT_MIDDLEWARE = frozenset(
    {
        # no session is read or written (a browser's session cookie never authenticated this endpoint)
        "django.contrib.sessions.middleware.SessionMiddleware",
        # CSRF protects cookie-authenticated requests; DRF views are csrf_exempt and this one takes bearer
        # tokens only (a cross-site page cannot make a browser send one)
        "django.middleware.csrf.CsrfViewMiddleware",
        # request.user from the session (anonymous for a gateway); DRF sets the GatewayPrincipal itself
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        # the admin's second factor, and the idle/maximum age of a signed-in session: there is no session
        "django_otp.middleware.OTPMiddleware",
        "accounts.sessions.SessionTimeoutMiddleware",
        # flash messages for pages
        "django.contrib.messages.middleware.MessageMiddleware",
        # axes locks out failed sign-ins (django.contrib.auth.authenticate), which a gateway token never goes
        # through; failed gateway tokens have their own limit and security events (GATEWAY_AUTH_FAILURE_RATE)
        "axes.middleware.AxesMiddleware",
    }
)
# Kept, in settings order: the DEBUG loopback rule, SecurityMiddleware (TLS redirect, HSTS, nosniff),
# LocaleMiddleware (the language of DRF's messages), CommonMiddleware (ALLOWED_HOSTS), SecurityEventMiddleware
# (every 401/403 on the security log), X-Frame-Options and CSP headers, and any middleware added later.


def ingest_middleware() -> list[str]:
    return [path for path in settings.MIDDLEWARE if path not in INGEST_EXEMPT_MIDDLEWARE]


class IngestASGIHandler(ASGIHandler):
    def __init__(self):
        BaseHandler.__init__(self)
        self.load_middleware()

    def load_middleware(self, is_async=False):
        """BaseHandler.load_middleware in its sync mode (as under WSGI), for ingest_middleware()."""
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(ingest_middleware()):
            try:
                instance = import_string(path)(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler

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
        request.urlconf = INGEST_URLCONF
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
