"""Per-gateway throttling of the sightings endpoint."""

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from config.api import ClockAtEachCall


class GatewayRateThrottle(ClockAtEachCall, SimpleRateThrottle):
    """INGEST_THROTTLE_RATE (e.g. "300/min") per gateway id, whichever token posts for it.

    Keyed by the gateway the body is for, not by the token or the client address, so a site collector
    posting for many gateways is limited per gateway, and one misbehaving gateway cannot starve the others.
    The counters live in the ``ingest`` cache (Redis when INGEST_REDIS_URL is set), shared by every ASGI
    process.
    """

    scope = "rtls-gateway"

    def __init__(self):
        self.cache = caches["ingest"]
        super().__init__()

    def get_rate(self):
        return settings.INGEST_THROTTLE_RATE or None

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": view.throttle_gateway}
