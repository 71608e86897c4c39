"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.ingest_asgi import ingest_router  # noqa: E402
from config.middleware import LoopbackOnlyWhenDebugASGI  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from config.startup import freeze_startup_objects  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The gateways' sightings POSTs: the same middleware and view in one thread hop (config/ingest_asgi.py).
        "http": ingest_router(django_asgi_app),
        "websocket": LoopbackOnlyWhenDebugASGI(
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
# The loaded program is long-lived: keep it out of every later full garbage collection (config/startup.py).
freeze_startup_objects()
